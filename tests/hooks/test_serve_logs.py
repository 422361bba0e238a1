"""`iop-cds serve` as a real process: every line it writes to stderr is one JSON object, gunicorn's own included."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

SECRET = "eyJhbGciOiJFUzM4NCJ9.secret-token.sig"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(tmp_path: Path, **env_overrides: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``iop-cds serve`` (auth off, one worker) on a free loopback port; wait for /healthz."""
    port = free_port()
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "IOP_CDS_AUTH": "false",
        "IOP_CDS_FEEDBACK_DB": str(tmp_path / "feedback.sqlite3"),
        "IOP_CDS_REPLAY_DB": str(tmp_path / "replay.sqlite3"),
        **env_overrides,
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    cli = Path(sys.executable).with_name("iop-cds")
    process = subprocess.Popen(
        [str(cli), "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base
        except requests.RequestException:
            time.sleep(0.2)
    process.kill()
    raise AssertionError("serve did not answer /healthz within 60 s")


def stop(process: subprocess.Popen[bytes]) -> tuple[str, str]:
    """Stop the server gracefully; its stdout and stderr."""
    process.send_signal(signal.SIGTERM)
    try:
        out, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
    return out.decode(), err.decode()


def test_gunicorn_and_service_logs_are_all_json_lines_without_the_token(tmp_path: Path) -> None:
    process, base = serve(tmp_path)
    try:
        auth = {"Authorization": f"Bearer {SECRET}"}
        assert requests.get(f"{base}/healthz?token={SECRET}", headers=auth, timeout=10).status_code == 200
        assert requests.get(f"{base}/cds-services", timeout=10).status_code == 200
        assert (
            requests.post(f"{base}/cds-services/iop-order-sign", data="{", headers=auth, timeout=10).status_code == 400
        )
        with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), timeout=10) as raw:
            raw.sendall(b"NOT A REQUEST LINE\r\n\r\n")  # gunicorn answers this itself, and logs it
            raw.recv(4096)
    finally:
        out, err = stop(process)

    lines = [line for line in err.splitlines() if line.strip()]
    records: list[dict[str, Any]] = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"stderr line is not JSON: {line[:300]!r}") from None
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert out == ""
    assert SECRET not in err and "secret-token" not in err

    error_log = [r for r in records if r["logger"] == "gunicorn.error"]
    assert any(r["message"].startswith("Starting gunicorn") for r in error_log)
    assert any("DeadlineThreadWorker" in r["message"] for r in error_log)
    assert any(r["level"] == "info" and "Shutting down" in r["message"] for r in error_log)

    access = [r for r in records if r["logger"] == "gunicorn.access"]
    seen = {(r["method"], r["path"], r["status"]) for r in access}
    assert {
        ("GET", "/healthz", 200),
        ("GET", "/cds-services", 200),
        ("POST", "/cds-services/iop-order-sign", 400),
    } <= seen
    assert all(r["event"] == "http.access" and isinstance(r["duration_ms"], int) for r in access)

    assert any(r["logger"] == "iop_cds" and r.get("event") == "http.request" for r in records)
    assert not (tmp_path / ".gunicorn").exists()  # no control socket any local process could drive
