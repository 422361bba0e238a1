"""Service vs floor latency in one process: same app stack, same request bodies, records of several sizes."""

from __future__ import annotations

import gc
import json
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from flask import Flask, jsonify, request

from benchmarks.records import PATIENT_ID
from benchmarks.shapes import SHAPES
from cds_service.config import POLICY_KEYS, Settings
from cds_service.hooks.app import create_app
from cds_service.record.hook_requests import build_hook_request

ORDER_AT = "2025-03-12T10:00:00-04:00"
DISCHARGE_AT = "2025-03-21T12:10:00-04:00"
IOP_ORDER = {
    "resourceType": "ServiceRequest",
    "id": "bench-order",
    "status": "draft",
    "intent": "order",
    "subject": {"reference": f"Patient/{PATIENT_ID}"},
    "authoredOn": "2025-03-12T09:00:00-04:00",
    "code": {"coding": [{"system": "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "code": "S9480"}]},
    "occurrenceTiming": {
        "repeat": {
            "frequency": 3,
            "period": 1,
            "periodUnit": "wk",
            "duration": 3,
            "durationUnit": "h",
            "boundsPeriod": {"start": "2025-03-13"},
        }
    },
}


def with_floor(app: Flask) -> Flask:
    """Add the floor endpoint to the same app: parse the request JSON, answer an empty card list."""

    @app.post("/floor")
    def floor() -> Any:
        request.get_json()
        return jsonify({"cards": []})

    return app


def requests_for(size: int, policies: list[str], shape: str = "synthea-shifted") -> dict[str, dict[str, Any]]:
    """The order-sign and encounter-discharge bodies (full prefetch, the given policies) for a record size."""
    bundle = SHAPES[shape](size)
    bundle["entry"].append({"resource": IOP_ORDER})
    return {
        "order-sign": build_hook_request(bundle, "order-sign", at=ORDER_AT, policies=policies),
        "encounter-discharge": build_hook_request(
            bundle, "encounter-discharge", at=DISCHARGE_AT, encounter_id="P5-prog", policies=policies
        ),
    }


def timed(call: Callable[[], Any], runs: int, warmup: int = 3) -> list[float]:
    """Wall times in milliseconds of ``runs`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(samples: list[float]) -> dict[str, float]:
    """Median, p90 and p99 in milliseconds, and p90 / median."""
    ordered = sorted(samples)
    median = statistics.median(ordered)
    return {
        "median_ms": round(median, 3),
        "p90_ms": round(_quantile(ordered, 0.9), 3),
        "p99_ms": round(_quantile(ordered, 0.99), 3),
        "p90_to_median": round(_quantile(ordered, 0.9) / median, 2),
        "runs": len(ordered),
    }


# name -> (path, body); bodies "<hook>" carry every policy, "<hook>-1" one policy.
ENDPOINTS = {
    "floor": ("/floor", "order-sign"),
    "order-sign": ("/cds-services/iop-order-sign", "order-sign"),
    "encounter-discharge": ("/cds-services/iop-encounter-discharge", "encounter-discharge"),
    "order-sign-1": ("/cds-services/iop-order-sign", "order-sign-1"),
    "encounter-discharge-1": ("/cds-services/iop-encounter-discharge", "encounter-discharge-1"),
}
SERVICE_ENDPOINTS = [name for name in ENDPOINTS if name != "floor"]
ONE_POLICY = "molina"
"""The single policy of the one-policy rows (P5, the episode every shape is built around, is a Molina patient)."""


def record_size(body: dict[str, Any]) -> int:
    """Resources in a request's prefetch."""
    return sum(
        len(v.get("entry", [])) if v.get("resourceType") == "Bundle" else 1
        for v in body["prefetch"].values()
        if isinstance(v, dict)
    )


def run(sizes: list[int], runs: dict[int, int], scratch: str, shapes: list[str] | None = None) -> list[dict[str, Any]]:
    """For each shape and size: floor, order-sign and encounter-discharge (all policies, one policy), interleaved per
    round so drift hits all alike."""
    settings = Settings(
        auth=False, log_level="ERROR", feedback_db=f"{scratch}/f.sqlite3", replay_db=f"{scratch}/r.sqlite3"
    )
    app = with_floor(create_app(settings))
    client = app.test_client()
    policies = app.extensions["iop_cds"]["invoker"].policy_keys()
    missing = sorted(set(POLICY_KEYS) - set(policies))
    results = []
    for shape, size in [(shape, size) for shape in shapes or ["synthea-shifted"] for size in sizes]:
        bodies = requests_for(size, policies, shape)
        one = ONE_POLICY if ONE_POLICY in policies else policies[0]
        bodies |= {f"{hook}-1": body for hook, body in requests_for(size, [one], shape).items()}
        resources = record_size(bodies["order-sign"])
        # Bodies are serialised once: the client's own JSON encoding must not be timed.
        raw = {hook: json.dumps(body).encode() for hook, body in bodies.items()}
        del bodies  # the harness's own object graph must not slow the garbage collector during timing
        gc.collect()
        for name, (path, hook) in ENDPOINTS.items():
            response = client.post(path, data=raw[hook], content_type="application/json")
            assert response.status_code == 200, f"{name}: {response.get_data(as_text=True)[:300]}"
        samples: dict[str, list[float]] = {name: [] for name in ENDPOINTS}
        for _ in range(runs[size]):
            for name, (path, hook) in ENDPOINTS.items():
                call = partial(client.post, path, data=raw[hook], content_type="application/json")
                samples[name] += timed(call, 1, warmup=0)
        floor = summary(samples["floor"])
        row: dict[str, Any] = {
            "shape": shape,
            "size": size,
            "resources": resources,
            "body_bytes": len(raw["order-sign"]),
            "policies": policies,
            "one_policy": one,
            "floor": floor,
        }
        if missing:
            row["policies_missing"] = missing
        for hook in SERVICE_ENDPOINTS:
            stats = summary(samples[hook])
            stats["ratio_to_floor"] = round(stats["median_ms"] / floor["median_ms"], 2)
            row[hook] = stats
        results.append(row)
    return results
