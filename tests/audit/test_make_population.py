"""The known-truth generator: exact deviation counts, disjoint, reproducible, written as a Bulk Data export."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import make_population  # noqa: E402

from cds_service.audit.source import SHARED_TYPES, patient_of  # noqa: E402

SYNTHEA = ROOT / "tests" / "fixtures" / "synthea"


def _generate(out: Path, *extra: str, seed: str = "7", size: str = "20") -> dict:
    args = [
        "--patients",
        size,
        "--episodes",
        size,
        "--out",
        str(out),
        "--synthea-bundles",
        str(SYNTHEA),
        "--seed",
        seed,
    ]
    assert make_population.main([*args, *extra]) == 0
    return json.loads((out / "truth.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twenty patients, each with an episode, gzip NDJSON."""
    out = tmp_path_factory.mktemp("population")
    _generate(out, "--gzip")
    return out


def test_each_deviation_is_injected_into_exactly_its_share_of_episodes(export: Path) -> None:
    truth = json.loads((export / "truth.json").read_text(encoding="utf-8"))
    assert truth["counts"] == {"tp-late": 4, "aftercare-late": 6, "duplicate-sessions": 2, "snomed-only-dx": 1}
    assert truth["rates"] == make_population.RATES
    assert all(len(e["deviations"]) <= 1 for e in truth["episodes"])  # disjoint: each effect is attributable
    assert len({e["patient"] for e in truth["episodes"]}) == 20


def test_the_same_seed_gives_the_same_export_and_another_seed_another_assignment(tmp_path: Path) -> None:
    first = _generate(tmp_path / "a", size="10")
    again = _generate(tmp_path / "b", size="10")
    other = _generate(tmp_path / "c", seed="8", size="10")
    assert first == again
    assert (tmp_path / "a" / "Encounter.ndjson").read_bytes() == (tmp_path / "b" / "Encounter.ndjson").read_bytes()
    assert [e["deviations"] for e in other["episodes"]] != [e["deviations"] for e in first["episodes"]]


def test_the_export_has_a_manifest_and_every_patient_resource_names_its_patient(export: Path) -> None:
    tmp_path = export
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    files = {item["url"] for item in manifest["output"]}
    assert files == {p.name for p in tmp_path.glob("*.ndjson.gz")}
    patients = set()
    for path in tmp_path.glob("*.ndjson.gz"):
        for line in gzip.decompress(path.read_bytes()).decode().splitlines():
            resource = json.loads(line)
            if resource["resourceType"] in SHARED_TYPES:
                continue
            assert patient_of(resource), (path.name, resource["id"])
            patients.add(patient_of(resource))
    assert len(patients) == 20  # pool patients reused under fresh ids are distinct patients


def test_the_duplicate_sessions_deviation_records_two_sessions_twice(tmp_path: Path) -> None:
    episode = make_population.iop_episode("p", "iop00001", 0, "duplicate-sessions")
    first_week = sorted(
        (e["period"]["start"], e["id"])
        for e in episode
        if e["resourceType"] == "Encounter" and e.get("partOf") and e["period"]["start"] < "2025-04-11"
    )
    assert [start for start, _ in first_week] == [
        "2025-04-04T13:00:00-04:00",
        "2025-04-04T13:00:00-04:00",
        "2025-04-07T13:00:00-04:00",
        "2025-04-07T13:00:00-04:00",
    ]


def test_rates_over_one_hundred_percent_are_refused() -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(make_population, "RATES", {"a": 0.7, "b": 0.5})
        with pytest.raises(SystemExit):
            make_population.assign_deviations(10, make_population.random.Random(1))
