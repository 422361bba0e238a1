"""The audit of a known-truth population: rates as injected, rows as `iop-cds evaluate`, bad input counted."""

from __future__ import annotations

import gzip
import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cds_service import cli
from cds_service.audit import job
from cds_service.audit.job import WORK_DIR, _client, run_audit
from cds_service.audit.parquet import read_criteria

from .audit_population import POPULATION, SHARED, AuditRun, audit_settings, export_resources, truth

DISCHARGE = "discharge"


@pytest.fixture(scope="module")
def two_worker_run(tmp_path_factory: pytest.TempPathFactory) -> AuditRun:
    """The committed population audited on a LocalCluster of two (thread) workers."""
    tmp = tmp_path_factory.mktemp("audit-2")
    out = tmp / "out"
    summary = run_audit(
        POPULATION,
        out,
        settings=audit_settings(tmp),
        workers=2,
        processes=False,
        as_of=datetime(2025, 11, 1, tzinfo=UTC),
    )
    return AuditRun(out, summary)


def summary_rates(out: Path) -> dict[tuple[str, str, str], dict]:
    data = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return {(r["policy"], r["phase"], r["criterion"]): r for r in data["rates"]}


def test_every_injected_episode_and_order_is_evaluated(two_worker_run: AuditRun) -> None:
    known = truth()
    assert two_worker_run.summary.input_patients == known["patients"]
    assert two_worker_run.summary.episodes == len(known["episodes"])
    assert two_worker_run.summary.orders == len(known["episodes"])
    targets = pq.read_table(two_worker_run.out / "targets.parquet").to_pylist()
    assert {(t["patient"], t["episode"]) for t in targets if t["kind"] == "episode"} == {
        (e["patient"], e["program"]) for e in known["episodes"]
    }
    assert {t["discharge"] for t in targets if t["kind"] == "episode"} == {
        datetime.fromisoformat(e["discharge"]).isoformat() for e in known["episodes"]
    }


def test_the_report_rates_equal_the_injected_rates_exactly(two_worker_run: AuditRun) -> None:
    known = truth()
    rates = summary_rates(two_worker_run.out)
    for deviation, effects in known["effects"].items():
        for criterion, status in effects.items():
            rate = rates[("cca", DISCHARGE, criterion)]
            assert rate["evaluated"] == len(known["episodes"])
            if status == "not-met":
                assert rate["share"]["not met"] == known["rates"][deviation], (deviation, criterion)
            else:  # a deviation the engine must see through: the criterion holds for every episode
                assert rate["share"]["met"] == 1.0, (deviation, criterion)
    assert known["rates"] == {"tp-late": 0.2, "aftercare-late": 0.3, "duplicate-sessions": 0.1, "snomed-only-dx": 0.05}


def test_the_failing_episodes_are_exactly_the_injected_ones(two_worker_run: AuditRun) -> None:
    known = truth()
    rows = read_criteria(two_worker_run.out).to_pylist()
    for deviation, effects in known["effects"].items():
        injected = {e["program"] for e in known["episodes"] if deviation in e["deviations"]}
        for criterion, status in effects.items():
            found = {
                r["episode"]
                for r in rows
                if r["criterion"] == criterion and r["phase"] == DISCHARGE and r["status"] == status
            }
            if status == "not-met":
                assert found == injected, deviation
            else:
                assert injected <= found, deviation


def test_the_html_report_shows_the_rates_and_is_self_contained(two_worker_run: AuditRun) -> None:
    page = (two_worker_run.out / "report.html").read_text(encoding="utf-8")
    assert "<script" not in page and "<link" not in page and "<img" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", page)
    row = re.search(r"<td>cca\.discharge\.5-aftercare-appt-7d</td>(.*?)</tr>", page)
    assert row and "30.0%" in row.group(1)
    assert page.count("<svg") >= 3  # criteria bars, monthly trend, aftercare histogram
    assert "Days to first aftercare" in page and "The ten most failed criteria" in page


def test_bad_input_is_counted_and_listed_not_fatal(two_worker_run: AuditRun) -> None:
    listed = pq.read_table(two_worker_run.out / "bad_input.parquet").to_pylist()
    expected = truth()["bad_input"]
    assert len(listed) == len(expected) == 4
    for want in expected:
        match = [p for p in listed if p["file"] == want["file"] and p["reason"].startswith(want["reason"])]
        assert match, want
        if want["line"] is not None:
            assert match[0]["line"] == want["line"]
    page = (two_worker_run.out / "report.html").read_text(encoding="utf-8")
    assert "Goal.truncated.ndjson.gz" in page and "gzip ends early" in page


def test_one_worker_on_plain_ndjson_without_manifest_gives_the_same_result(
    two_worker_run: AuditRun, tmp_path: Path
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    for path in POPULATION.glob("*.ndjson.gz"):
        target = plain / path.name.removesuffix(".gz")
        if "truncated" in path.name:
            shutil.copy(path, plain / path.name)  # still gzip: the cut must be found the same way
            continue
        target.write_bytes(gzip.decompress(path.read_bytes()))
    run = run_audit(
        plain,
        tmp_path / "out",
        settings=audit_settings(tmp_path),
        workers=1,
        processes=False,
        as_of=datetime(2025, 11, 1, tzinfo=UTC),
    )
    assert read_criteria(tmp_path / "out").to_pylist() == read_criteria(two_worker_run.out).to_pylist()
    assert run.targets == two_worker_run.summary.targets
    assert [(p.file, p.line, p.reason) for p in run.problems] == [
        (p.file.removesuffix(".gz") if "truncated" not in p.file else p.file, p.line, p.reason)
        for p in two_worker_run.summary.problems
    ]


def test_the_work_folder_is_removed_and_only_results_stay_in_out(two_worker_run: AuditRun) -> None:
    assert sorted(p.name for p in two_worker_run.out.iterdir()) == [
        "bad_input.parquet",
        "criteria",
        "report.html",
        "summary.json",
        "targets.parquet",
    ]
    assert not (two_worker_run.out / WORK_DIR).exists()


def test_a_run_that_fails_while_evaluating_leaves_no_half_results(
    two_worker_run: AuditRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    shutil.copytree(two_worker_run.out, out)  # an earlier run's results in the same folder
    failing = sorted(t["patient"] for t in two_worker_run.summary.targets)[-1]
    evaluate = job.audit_patient

    def audit_or_fail(patient: str, *args: object, **kwargs: object) -> object:
        if patient == failing:
            raise RuntimeError(f"evaluation of {patient} failed")
        return evaluate(patient, *args, **kwargs)

    monkeypatch.setattr(job, "audit_patient", audit_or_fail)
    with pytest.raises(RuntimeError, match=f"evaluation of {failing} failed"):
        run_audit(POPULATION, out, settings=audit_settings(tmp_path), workers=1, processes=False)
    # Other partitions were evaluated before the failure, but none of their rows, and nothing of the earlier run, is
    # left to be mistaken for the audit of this export.
    assert list(out.iterdir()) == []


def test_the_console_shows_dasks_progress_for_both_stages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(
        ["audit", str(POPULATION), "--out", str(tmp_path / "out"), "--workers", "1", "--as-of", "2025-11-01"]
    )
    printed = capsys.readouterr().out
    assert code == 0
    shuffle, evaluate = printed.index("1/2 reading and shuffling"), printed.index("2/2 evaluating")
    assert shuffle < evaluate
    assert "100% Completed" in printed[shuffle:evaluate] and "100% Completed" in printed[evaluate:]
    assert "24 patients read, 20 episodes and 20 orders evaluated" in printed


def _worker_allocators() -> tuple[str, str | None]:
    import os

    import pyarrow as pa

    return pa.default_memory_pool().backend_name, os.environ.get("MALLOC_ARENA_MAX")


def test_workers_allocate_arrow_buffers_with_malloc_so_freed_memory_goes_back(
    two_worker_run: AuditRun, tmp_path: Path
) -> None:
    # Arrow's default pool (mimalloc) kept the pages of every shuffled partition read: a worker's memory grew with
    # the number of partitions. Worker processes start on the system pool; a worker in this process switches to it.
    assert _worker_allocators()[0] == "system"
    client, cluster = _client(1, None, True, tmp_path)
    try:
        assert list(client.run(_worker_allocators).values()) == [("system", "2")]
    finally:
        client.close()
        cluster.close()


def _bundle_of(patient: str) -> dict:
    """The patient's Bundle as an EHR would send it: their resources plus the practitioners and organisations."""
    resources = []
    for _, resource in export_resources():
        if resource["resourceType"] in SHARED:
            resources.append(resource)
        elif resource.get("id") == patient or f'"Patient/{patient}"' in json.dumps(resource):
            resources.append(resource)
    resources.sort(key=lambda r: r["resourceType"] != "Patient")
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}


@pytest.mark.parametrize("pick", ["tp-late", "aftercare-late", "order"])
def test_parquet_rows_equal_iop_cds_evaluate_on_the_patients_bundle(
    two_worker_run: AuditRun, tmp_path: Path, capsys: pytest.CaptureFixture[str], pick: str
) -> None:
    known = truth()
    episode = next(e for e in known["episodes"] if pick in e["deviations"] or pick == "order")
    bundle = _bundle_of(episode["patient"])
    targets = {t["episode"]: t for t in two_worker_run.summary.targets}
    if pick == "order":
        target = targets[episode["order"]]
        for entry in bundle["entry"]:
            if entry["resource"].get("id") == episode["order"]:
                entry["resource"]["status"] = "draft"  # the order as it stood when it was signed
        hook = "order-sign"
    else:
        target = targets[episode["program"]]
        hook = "encounter-discharge"
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    capsys.readouterr()
    assert cli.main(["evaluate", str(path), "--hook", hook, "--at", target["evaluated_at"], "--format", "json"]) == 0
    response = json.loads(capsys.readouterr().out)
    expected = sorted(
        (e["policy"], e["phase"], c["id"], c["status"], c["reason"], tuple(c["evidence"]), c.get("due"))
        for e in response["extension"]["iop-cds.evaluations"]
        for c in e["criteria"]
        if "." in c["id"]
    )
    rows = read_criteria(two_worker_run.out).to_pylist()
    found = sorted(
        (r["policy"], r["phase"], r["criterion"], r["status"], r["reason"], tuple(r["evidence"]), r["due"])
        for r in rows
        if r["episode"] == target["episode"]
    )
    assert found == expected
    assert len(found) > 20


def test_an_unreadable_input_or_unwritable_output_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["audit", str(tmp_path / "missing"), "--out", str(tmp_path / "out")]) == 2
    assert "no such folder" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["audit", str(empty), "--out", str(tmp_path / "out")]) == 2
    assert "no .ndjson" in capsys.readouterr().err
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    assert cli.main(["audit", str(POPULATION), "--out", str(blocker / "out")]) == 2
    assert "cannot write the results there" in capsys.readouterr().err
    assert cli.main(["audit", str(POPULATION), "--out", str(tmp_path / "o"), "--period", "2025-06-01"]) == 2
    assert "START/END" in capsys.readouterr().err
    assert cli.main(["audit", str(POPULATION), "--out", str(tmp_path / "o"), "--policy", "aetna"]) == 2
    assert "unknown policy 'aetna'" in capsys.readouterr().err
