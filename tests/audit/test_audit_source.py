"""Reading an export in blocks: every line once, with its number; bad lines become problems, never exceptions."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from cds_service.audit import source
from cds_service.audit.job import block_frame
from cds_service.audit.source import AuditInputError, Problem, patient_of, plan_input, read_block, read_shared


def _obs(i: int, patient: str = "pat-1") -> str:
    return json.dumps(
        {
            "resourceType": "Observation",
            "id": f"o{i}",
            "status": "final",
            "subject": {"reference": f"Patient/{patient}"},
        }
    )


def _read_all(folder: Path) -> tuple[list[tuple[str, int, str]], list[Problem]]:
    plan = plan_input(folder)
    rows = [(patient, line, problem) for block in plan.blocks for patient, _, line, _, problem in read_block(block)]
    return rows, plan.problems


@pytest.mark.parametrize("gz", [False, True])
def test_blocks_cover_every_line_once_with_its_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gz: bool
) -> None:
    monkeypatch.setattr(source, "BLOCK_LINES", 3)
    body = "\n".join(_obs(i, f"pat-{i % 2}") for i in range(1, 9)) + "\n"
    name = "Observation.ndjson" + (".gz" if gz else "")
    (tmp_path / name).write_bytes(gzip.compress(body.encode()) if gz else body.encode())
    plan = plan_input(tmp_path)
    assert [(b.first_line, b.lines) for b in plan.blocks] == [(1, 3), (4, 3), (7, 2)]
    rows, problems = _read_all(tmp_path)
    assert [line for _, line, _ in rows] == list(range(1, 9))
    assert [patient for patient, _, _ in rows] == [f"pat-{i % 2}" for i in range(1, 9)]
    assert problems == []


def _note(i: int, size: int) -> str:
    """A DocumentReference line of about ``size`` bytes (a long note, as real exports carry)."""
    return json.dumps(
        {
            "resourceType": "DocumentReference",
            "id": f"d{i}",
            "subject": {"reference": f"Patient/pat-{i % 3}"},
            "content": [{"attachment": {"data": "x" * size}}],
        }
    )


@pytest.mark.parametrize("gz", [False, True])
def test_blocks_hold_at_most_block_bytes_whatever_the_lines_length(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gz: bool
) -> None:
    monkeypatch.setattr(source, "BLOCK_BYTES", 5_000)
    lines = [_note(i, size) for i, size in enumerate([100, 1_500, 3_000, 400, 7_000, 200, 200, 4_500], start=1)]
    name = "DocumentReference.ndjson" + (".gz" if gz else "")
    body = ("\n".join(lines) + "\n").encode()
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / name).write_bytes(gzip.compress(body) if gz else body)
    plan = plan_input(tmp_path / "in", spool=tmp_path / "spool")
    sizes = [len(line) + 1 for line in lines]
    spans = [sizes[b.first_line - 1 : b.first_line - 1 + b.lines] for b in plan.blocks]
    assert sum(b.lines for b in plan.blocks) == 8 and [b.first_line for b in plan.blocks][0] == 1
    # No block holds more than 5,000 bytes but a single line longer than that, which makes a block of its own ...
    assert all(sum(span) <= 5_000 or len(span) == 1 for span in spans)
    assert [span for span in spans if sum(span) > 5_000] == [[sizes[4]]]
    # ... and a block ends only when the next line would not fit.
    assert all(sum(span) + nxt[0] > 5_000 for span, nxt in zip(spans, spans[1:], strict=False))
    rows = [(line, file, problem) for block in plan.blocks for _, _, line, file, problem in read_block(block)]
    assert rows == [(i, name, "") for i in range(1, 9)]
    # A gzip file is decompressed once into the spool folder: each block reads only its own bytes from there.
    assert all(b.offset is not None for b in plan.blocks)
    assert sorted(p.name for p in (tmp_path / "spool").glob("*")) == (["DocumentReference.ndjson"] if gz else [])


def test_a_gzip_that_ends_early_is_spooled_up_to_its_last_whole_line(tmp_path: Path) -> None:
    body = ("\n".join(_obs(i) for i in range(1, 200)) + "\n").encode()
    packed = gzip.compress(body)
    (tmp_path / "Observation.ndjson.gz").write_bytes(packed[: len(packed) * 2 // 3])
    plan = plan_input(tmp_path, spool=tmp_path / "spool")
    rows = [(line, file, problem) for block in plan.blocks for _, _, line, file, problem in read_block(block)]
    assert plan.problems == [Problem("Observation.ndjson.gz", len(rows) + 1, "gzip ends early")]
    assert rows == [(i, "Observation.ndjson.gz", "") for i in range(1, len(rows) + 1)] and 0 < len(rows) < 199


def test_malformed_lines_and_resources_without_a_patient_are_problems(tmp_path: Path) -> None:
    lines = [
        _obs(1),
        '{"resourceType": "Observation", "id": "cut"',
        "",
        json.dumps({"resourceType": "Observation", "id": "orphan", "status": "final"}),
        json.dumps(["not", "a", "resource"]),
        _obs(2),
    ]
    (tmp_path / "Observation.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows, _ = _read_all(tmp_path)
    assert rows == [
        ("pat-1", 1, ""),
        ("", 2, "malformed JSON"),
        ("", 4, "no patient reference (Observation/orphan)"),
        ("", 5, "not a FHIR resource"),
        ("pat-1", 6, ""),
    ]


def test_a_gzip_that_ends_early_keeps_its_whole_lines_and_is_reported(tmp_path: Path) -> None:
    body = ("\n".join(_obs(i) for i in range(1, 200)) + "\n").encode()
    packed = gzip.compress(body)
    (tmp_path / "Observation.ndjson.gz").write_bytes(packed[: len(packed) * 2 // 3])
    rows, problems = _read_all(tmp_path)
    assert len(problems) == 1 and problems[0].reason == "gzip ends early"
    assert problems[0].line == len(rows) + 1
    assert 0 < len(rows) < 199 and all(problem == "" for _, _, problem in rows)


def test_the_manifest_names_the_files_and_a_missing_one_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "Observation.ndjson").write_text(_obs(1) + "\n", encoding="utf-8")
    (tmp_path / "Ignored.ndjson").write_text(_obs(2) + "\n", encoding="utf-8")
    manifest = {"output": [{"type": "Observation", "url": "https://ehr.example/files/Observation.ndjson"}]}
    manifest["output"].append({"type": "Condition", "url": "Condition.ndjson"})
    (tmp_path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    plan = plan_input(tmp_path)
    assert [Path(b.path).name for b in plan.blocks] == ["Observation.ndjson"]
    assert plan.problems == [Problem("Condition.ndjson", None, "listed in the manifest but missing")]


def test_shared_resources_are_read_aside_by_reference(tmp_path: Path) -> None:
    practitioners = [{"resourceType": "Practitioner", "id": "dr-1"}, {"resourceType": "Practitioner", "id": "dr-2"}]
    (tmp_path / "Practitioner.ndjson").write_text(
        "\n".join(json.dumps(p) for p in practitioners) + "\n{oops\n", encoding="utf-8"
    )
    (tmp_path / "Observation.ndjson").write_text(_obs(1) + "\n", encoding="utf-8")
    plan = plan_input(tmp_path)
    assert [Path(b.path).name for b in plan.blocks] == ["Observation.ndjson"]
    shared, problems = read_shared(plan.shared_files, tmp_path / "shared.sqlite3")
    assert sorted(shared) == ["Practitioner/dr-1", "Practitioner/dr-2"]
    assert shared["Practitioner/dr-2"] == practitioners[1] and "Practitioner/dr-3" not in shared
    assert problems == [Problem("Practitioner.ndjson", 3, "malformed JSON")]


def test_an_input_that_cannot_be_read_at_all_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(AuditInputError, match="no such folder"):
        plan_input(tmp_path / "nope")
    (tmp_path / "file.ndjson").write_text("", encoding="utf-8")
    with pytest.raises(AuditInputError, match="not a folder"):
        plan_input(tmp_path / "file.ndjson")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text("{", encoding="utf-8")
    with pytest.raises(AuditInputError, match="not a readable Bulk Data manifest"):
        plan_input(tmp_path / "bad")


def test_patient_of_follows_each_types_compartment_reference() -> None:
    assert patient_of({"resourceType": "Patient", "id": "p"}) == "p"
    assert patient_of({"resourceType": "Coverage", "beneficiary": {"reference": "Patient/p"}}) == "p"
    assert patient_of({"resourceType": "Consent", "patient": {"reference": "Patient/p"}}) == "p"
    appointment = {"resourceType": "Appointment", "participant": [{"actor": {"reference": "Location/l"}}]}
    assert patient_of(appointment) is None
    appointment["participant"].append({"actor": {"reference": "Patient/p"}})
    assert patient_of(appointment) == "p"
    assert patient_of({"resourceType": "Observation", "subject": {"reference": "Group/g"}}) is None


def test_a_bundles_folder_gives_each_bundles_resources_to_its_patient(tmp_path: Path) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": {"resourceType": "Patient", "id": "p"}},
            {"resource": {"resourceType": "Practitioner", "id": "dr"}},
            {"request": {"method": "GET"}},
        ],
    }
    (tmp_path / "p.json").write_text(json.dumps(bundle), encoding="utf-8")
    (tmp_path / "q.json").write_text(json.dumps({"resourceType": "Patient", "id": "q"}), encoding="utf-8")
    rows, _ = _read_all(tmp_path)
    assert rows == [("p", 1, ""), ("p", 2, ""), ("", 3, "entry without a resource"), ("", 1, "not a FHIR Bundle")]


def test_a_block_keeps_the_resources_of_patients_to_evaluate_and_counts_the_others(tmp_path: Path) -> None:
    lines = [_obs(1, "pat-a"), _obs(2, "pat-b"), "{oops", _obs(3, "pat-b"), _obs(4, "pat-c"), _obs(5, "pat-a")]
    (tmp_path / "Observation.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "wanted.txt").write_text("pat-a\n", encoding="utf-8")
    (block,) = plan_input(tmp_path).blocks
    frame = block_frame(block, str(tmp_path / "wanted.txt"))
    rows = [(r.patient, json.loads(r.text)["id"] if r.text else None, r.line, r.problem) for r in frame.itertuples()]
    # Every resource of pat-a with its line; pat-b and pat-c once each, without text; the bad line as read.
    assert rows == [
        ("pat-a", "o1", 1, ""),
        ("pat-b", None, 0, ""),
        ("", None, 3, "malformed JSON"),
        ("pat-c", None, 0, ""),
        ("pat-a", "o5", 6, ""),
    ]
    assert len(block_frame(block)) == 6  # without a list of patients, every line is kept


def test_a_block_puts_the_audited_patients_in_partitions_of_equal_count(tmp_path: Path) -> None:
    patients = [f"pat-{i}" for i in range(7)]
    lines = [_obs(i * 2 + k, p) for i, p in enumerate(patients) for k in range(1 + i % 3)]
    (tmp_path / "Observation.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "wanted.txt").write_text("".join(f"{p}\n" for p in patients), encoding="utf-8")
    (block,) = plan_input(tmp_path).blocks
    frame = block_frame(block, str(tmp_path / "wanted.txt"), partitions=3, per_partition=3)
    parts = dict(zip(frame["patient"], frame["part"], strict=False))
    # By rank in the list: three patients a partition however many resources each has; the last takes the rest.
    assert parts == {"pat-0": 0, "pat-1": 0, "pat-2": 0, "pat-3": 1, "pat-4": 1, "pat-5": 1, "pat-6": 2}
