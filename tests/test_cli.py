"""The iop-cds command: check-mappings, evaluate, demo, and its errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

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
    policy.write_text(policy.read_text().replace("exists: molina.crisis-plans", "exists: unicorns", 1))
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


def _capture_gunicorn(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Replace gunicorn's run loop with one that records the configuration and the WSGI app it would serve."""
    from gunicorn.app.base import BaseApplication

    seen: dict[str, Any] = {}

    def run(self: BaseApplication) -> None:
        names = ("bind", "workers", "preload_app", "accesslog", "worker_class", "threads", "max_requests")
        seen.update({name: self.cfg.settings[name].get() for name in names})
        seen["timeout"] = self.cfg.timeout
        seen["app"] = self.load()

    monkeypatch.setattr(BaseApplication, "run", run)
    return seen


def _serve_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IOP_CDS_AUTH", "false")
    monkeypatch.setenv("IOP_CDS_FEEDBACK_DB", str(tmp_path / "f.sqlite3"))
    monkeypatch.setenv("IOP_CDS_REPLAY_DB", str(tmp_path / "r.sqlite3"))
    (tmp_path / "metrics").mkdir(exist_ok=True)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))


def test_serve_runs_the_preloaded_app_under_gunicorn_with_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _serve_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("IOP_CDS_BIND", "0.0.0.0:9090")
    monkeypatch.setenv("IOP_CDS_WORKERS", "3")
    seen = _capture_gunicorn(monkeypatch)
    assert main(["serve"]) == 0
    assert seen["bind"] == ["0.0.0.0:9090"] and seen["workers"] == 3
    assert seen["preload_app"] is True and seen["accesslog"] is None and seen["timeout"] == 30
    assert seen["app"].test_client().get("/healthz").status_code == 200


def test_serve_options_override_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _serve_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("IOP_CDS_BIND", "0.0.0.0:9090")
    seen = _capture_gunicorn(monkeypatch)
    assert main(["serve", "--bind", "127.0.0.1:7000", "--workers", "1", "--timeout", "5"]) == 0
    assert seen["bind"] == ["127.0.0.1:7000"] and seen["workers"] == 1 and seen["timeout"] == 5


def test_serve_without_trusted_issuers_explains_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _serve_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("IOP_CDS_AUTH", "true")
    monkeypatch.delenv("IOP_CDS_TRUSTED_ISSUERS_FILE", raising=False)
    seen = _capture_gunicorn(monkeypatch)
    assert main(["serve"]) == 2 and not seen
    assert "IOP_CDS_TRUSTED_ISSUERS_FILE" in capsys.readouterr().err


def test_serve_with_auth_and_no_public_base_url_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _serve_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("IOP_CDS_AUTH", "true")
    monkeypatch.setenv("IOP_CDS_TRUSTED_ISSUERS_FILE", str(PROJECT_ROOT / "examples" / "trusted-issuers.sandbox.json"))
    monkeypatch.delenv("IOP_CDS_PUBLIC_BASE_URL", raising=False)
    seen = _capture_gunicorn(monkeypatch)
    assert main(["serve"]) == 2 and not seen
    assert "IOP_CDS_PUBLIC_BASE_URL" in capsys.readouterr().err
    monkeypatch.setenv("IOP_CDS_PUBLIC_BASE_URL", "https://cds.example.org")
    assert main(["serve"]) == 0
    # Threads (gthread, with deadlines on reading requests), so that a stalled EHR or a slow client holds a
    # thread, and recycled workers, so that memory stays flat.
    assert (seen["worker_class"], seen["threads"], seen["max_requests"]) == (
        "cds_service.hooks.gunicorn_worker.DeadlineThreadWorker",
        8,
        2000,
    )
    from gunicorn.workers.gthread import ThreadWorker

    from cds_service.hooks.gunicorn_worker import DeadlineThreadWorker

    assert issubclass(DeadlineThreadWorker, ThreadWorker)


def test_check_mappings_on_a_missing_folder_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-mappings", str(tmp_path / "nowhere")]) == 1
    assert "not a folder" in capsys.readouterr().err


def test_check_mappings_summary_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-mappings", str(PROJECT_ROOT / "mappings")]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "5 policies" in out and " criteria" in out


def test_a_command_is_required_and_listed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([])
    assert done.value.code == 2
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert all(command in out for command in ("serve", "demo", "evaluate", "check-mappings"))
