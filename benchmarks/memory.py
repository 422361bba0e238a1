"""Worker memory under load: RSS of one gunicorn worker over 2,000 calls, and its peak for one large call."""

from __future__ import annotations

import http.client
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchmarks import serving
from benchmarks.latency import requests_for
from cds_service.config import POLICY_KEYS


def _rss_kb(pid: int, field: str = "VmRSS") -> int:
    """A memory figure of a process from /proc (kB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not reported for {pid}")


def _worker_pid(master: int) -> int:
    """The one worker gunicorn forked."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.05)
    raise RuntimeError("gunicorn started no worker")


def _post(connection: http.client.HTTPConnection, path: str, body: bytes) -> None:
    connection.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    response.read()
    if response.status != 200:
        raise RuntimeError(f"{path}: {response.status}")


def run(scratch: str, calls: int, checkpoint: int, size: int, large: int, shape: str) -> dict[str, Any]:
    """RSS after ``checkpoint`` and after ``calls`` order-sign calls at ``size`` resources (one worker, no recycling),
    then the worker's peak RSS once it has served one call at ``large`` resources."""
    policies = list(POLICY_KEYS)
    path = "/cds-services/iop-order-sign"
    body = json.dumps(requests_for(size, policies, shape)["order-sign"]).encode()
    big = json.dumps(requests_for(large, policies, shape)["order-sign"]).encode()
    env = {"IOP_CDS_MAX_REQUESTS": "0"}  # no recycling: the worker must stay flat on its own
    with serving.served(1, scratch, env=env, threads=1) as (base, _startup, master):
        worker = _worker_pid(master)
        target = urlsplit(base)
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
        rss: dict[int, int] = {}
        started = time.perf_counter()
        for call in range(1, calls + 1):
            _post(connection, path, body)
            if call in (checkpoint, calls) or call % 500 == 0:
                rss[call] = _rss_kb(worker)
        seconds = time.perf_counter() - started
        before_large = _rss_kb(worker, "VmHWM")
        _post(connection, path, big)
        peak = _rss_kb(worker, "VmHWM")
        after_large = _rss_kb(worker)
        connection.close()
    return {
        "shape": shape,
        "size": size,
        "calls": calls,
        "seconds": round(seconds, 1),
        "rss_mb": {str(k): round(v / 1024, 1) for k, v in sorted(rss.items())},
        "growth_after_checkpoint": round(rss[calls] / rss[checkpoint] - 1, 3),
        "checkpoint": checkpoint,
        "large_size": large,
        "peak_rss_mb_before_large": round(before_large / 1024, 1),
        "peak_rss_mb_large_call": round(peak / 1024, 1),
        "rss_mb_after_large_call": round(after_large / 1024, 1),
    }
