"""The iop-cds command: check-mappings, evaluate, demo, and its errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cds_service.cli import main
from cds_service.config import PROJECT_ROOT

P5 = str(PROJECT_ROOT / "tests" / "fixtures" / "golden" / "P5.json")


def test_check_mappings_accepts_the_shipped_folder(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-mappings"]) == 0
    assert "OK" in capsys.readouterr().out


def test_check_mappings_reports_each_problem_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "mappings"
    shutil.copytree(PROJECT_ROOT / "mappings", folder)
    policy = folder / "policies" / "molina.yaml"
    policy.write_text(policy.read_text().replace("of: crisis-plans", "of: unicorns", 1))
    assert main(["check-mappings", str(folder)]) == 1
    assert "unknown selection 'unicorns'" in capsys.readouterr().err


def test_evaluate_prints_every_criterion_with_reason_and_evidence(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            ["evaluate", P5, "--hook", "encounter-discharge", "--policy", "molina", "--at", "2025-03-21T12:10:00-04:00"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "molina · discharge" in out and "not-met        molina.process.2b-initial-tp-48h" in out
    assert "CarePlan/P5-tp" in out


def test_evaluate_json_is_the_service_response(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["evaluate", P5, "--hook", "encounter-discharge", "--at", "2025-03-21T12:10:00-04:00", "--format", "json"])
        == 0
    )
    response = json.loads(capsys.readouterr().out)
    assert response["extension"]["iop-cds.evaluations"][0]["policy"] == "molina"  # routed by the Coverage


@pytest.mark.parametrize(("content", "message"), [("{nope", "Expecting"), ('{"resourceType": "Patient"}', "Bundle")])
def test_evaluate_explains_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    path = tmp_path / "in.json"
    path.write_text(content)
    assert main(["evaluate", str(path)]) == 2
    assert message in capsys.readouterr().err


def test_demo_runs_offline_and_prints_cards(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "service running at http://127.0.0.1:" in out and "Chris Moore" in out and "[WARNING ]" in out


def test_serve_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["serve", "--help"])
    assert done.value.code == 0 and "--workers" in capsys.readouterr().out


def test_a_bad_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("IOP_CDS_MAX_CARDS", "many")
    assert main(["check-mappings"]) == 2
    assert "IOP_CDS_MAX_CARDS" in capsys.readouterr().err
