"""``iop-cds audit`` end to end on a folder of patient Bundles, and the service's start-up without the audit's stack."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cds_service import cli
from cds_service.audit.parquet import read_criteria

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden"


def test_audit_of_a_bundles_folder_prints_a_summary_and_writes_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "bundles"
    folder.mkdir()
    shutil.copy(GOLDEN / "P6.json", folder / "P6.json")
    (folder / "notes.json").write_text(json.dumps({"resourceType": "Basic", "id": "x"}), encoding="utf-8")
    out = tmp_path / "out"
    code = cli.main(["audit", str(folder), "--out", str(out), "--workers", "1", "--as-of", "2025-11-01T00:00:00Z"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "2 patients read" not in printed and "1 episodes and 0 orders evaluated" in printed
    assert "1 pieces of bad input set aside" in printed
    rows = {(r["phase"], r["criterion"]): r for r in read_criteria(out).to_pylist()}
    # P6 (CCA): therapy 10 days after discharge, plan on the first business day (catalogue golden patient P6).
    assert rows[("discharge", "cca.discharge.5-aftercare-appt-7d")]["status"] == "not-met"
    assert rows[("discharge", "cca.assessment.3-provisional-tp-1bd")]["status"] == "met"
    assert {r["policy"] for r in rows.values()} == {"cca"}
    assert (out / "criteria" / "policy=cca").is_dir()
    targets = pq.read_table(out / "targets.parquet").to_pylist()
    assert [(t["episode"], t["aftercare_days"]) for t in targets] == [("P6-prog", 10)]
    assert pq.read_table(out / "bad_input.parquet").to_pylist() == [
        {"file": "notes.json", "line": 1, "reason": "not a FHIR Bundle"}
    ]


def test_a_requested_policy_replaces_the_coverage_route(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "bundles"
    folder.mkdir()
    shutil.copy(GOLDEN / "P6.json", folder / "P6.json")
    out = tmp_path / "out"
    args = ["audit", str(folder), "--out", str(out), "--workers", "1", "--policy", "molina", "--period", "2025-04/"]
    assert cli.main(args) == 2  # a month is not a date
    assert "--period" in capsys.readouterr().err
    args[-1] = "2025-04-01/2025-04-30"
    assert cli.main(args) == 0
    assert {r["policy"] for r in read_criteria(out).to_pylist()} == {"molina"}


def test_the_service_starts_without_importing_dask_pyarrow_or_matplotlib() -> None:
    probe = (
        "import sys, cds_service.hooks.app, cds_service.cli; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'dask', 'distributed', 'pyarrow', 'matplotlib'}))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
