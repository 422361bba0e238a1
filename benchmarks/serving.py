"""``iop-cds serve`` as a child process: start-up time to the first 200 on /healthz, and throughput under load."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def served(
    workers: int, scratch: str, env: dict[str, str] | None = None, threads: int | None = None
) -> Iterator[tuple[str, float, int]]:
    """Run ``iop-cds serve`` (auth off); yield its base URL, the seconds from spawn to the first healthy answer and
    the gunicorn master's pid."""
    port = free_port()
    env = {
        **os.environ,
        "IOP_CDS_AUTH": "false",
        "IOP_CDS_LOG_LEVEL": "WARNING",
        "IOP_CDS_FEEDBACK_DB": f"{scratch}/feedback.sqlite3",
        "IOP_CDS_REPLAY_DB": f"{scratch}/replay.sqlite3",
        **({"IOP_CDS_THREADS": str(threads)} if threads else {}),
        **(env or {}),
    }
    command = [
        sys.executable,
        "-m",
        "cds_service.cli",
        "serve",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
    ]
    started = time.perf_counter()
    # The logs go to a file: an undrained pipe fills after a few hundred access-log lines and then blocks the server.
    log_path = Path(scratch) / f"serve-{port}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"iop-cds serve exited: {log_path.read_text(errors='replace')[-2000:]}")
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.perf_counter() - started > 60:
                raise RuntimeError("iop-cds serve did not answer /healthz within 60 s")
            time.sleep(0.01)
        yield base, time.perf_counter() - started, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def load(url: str, body: bytes, seconds: float, concurrency: int) -> dict[str, Any]:
    """Drive ``url`` from a second process (benchmarks.load) for ``seconds``; its JSON summary."""
    command = [sys.executable, "-m", "benchmarks.load", url, str(seconds), str(concurrency)]
    done = subprocess.run(command, input=body, capture_output=True, cwd=ROOT, timeout=seconds + 120, check=True)
    return json.loads(done.stdout)
