"""Fetch mode: hooks called without prefetch against the real FHIR server of the integration tests."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from benchmarks.latency import DISCHARGE_AT, IOP_ORDER, ORDER_AT
from benchmarks.records import build_bundle
from cds_service.config import Settings
from cds_service.hooks.app import create_app
from cds_service.record.hook_requests import build_hook_request
from tests.integration.sekmet import FhirServer, running_sekmet

RUNS = 5


class EventLog(logging.Handler):
    """Keeps the structured fields of the service's log events."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            self.events.append(fields)


def as_transaction(bundle: dict[str, Any]) -> dict[str, Any]:
    """A collection Bundle as a transaction of PUTs (ids kept)."""
    entries = [
        {
            "resource": e["resource"],
            "request": {"method": "PUT", "url": f"{e['resource']['resourceType']}/{e['resource']['id']}"},
        }
        for e in bundle["entry"]
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def without_prefetch(body: dict[str, Any], server: FhirServer) -> dict[str, Any]:
    """The hook request with no prefetch, pointing at the FHIR server with its bearer token."""
    stripped = {k: v for k, v in body.items() if k != "prefetch"}
    stripped["fhirServer"] = server.base_url
    stripped["fhirAuthorization"] = {
        "access_token": server.token,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "iop-cds",
    }
    return stripped


def run(sizes: list[int], scratch: str) -> list[dict[str, Any]]:
    """Per size and hook: median wall time, FHIR requests, slowest single query and evaluation time."""
    events = EventLog()
    logging.getLogger("iop_cds").addHandler(events)
    rows = []
    try:
        with running_sekmet(Path(scratch) / "sekmet") as server:
            settings = Settings(
                auth=False,
                log_level="WARNING",
                feedback_db=f"{scratch}/fetch-f.sqlite3",
                replay_db=f"{scratch}/fetch-r.sqlite3",
                fhir_time_budget_seconds=30.0,
            )
            client = create_app(settings).test_client()
            service_log = logging.getLogger("iop_cds")
            for handler in service_log.handlers:
                if handler is not events:
                    handler.setLevel(logging.WARNING)  # keep the console quiet; the events are captured above
            service_log.setLevel(logging.INFO)
            for size in sorted(sizes):
                bundle = build_bundle(size)
                server.transaction(as_transaction(bundle))
                bundle["entry"].append({"resource": IOP_ORDER})
                bodies = {
                    "order-sign": build_hook_request(bundle, "order-sign", at=ORDER_AT),
                    "encounter-discharge": build_hook_request(
                        bundle, "encounter-discharge", at=DISCHARGE_AT, encounter_id="P5-prog"
                    ),
                }
                for hook, body in bodies.items():
                    path = (
                        "/cds-services/iop-order-sign"
                        if hook == "order-sign"
                        else "/cds-services/iop-encounter-discharge"
                    )
                    raw = json.dumps(without_prefetch(body, server))
                    samples = []
                    for _ in range(RUNS):
                        events.events.clear()
                        started = time.perf_counter()
                        response = client.post(path, data=raw, content_type="application/json")
                        wall = (time.perf_counter() - started) * 1000
                        assert response.status_code == 200, response.get_data(as_text=True)[:300]
                        record = next(e for e in events.events if e.get("event") == "hook.record")
                        evaluated = next(e for e in events.events if e.get("event") == "hook.evaluated")
                        assert not record["gaps"], record["gaps"]
                        samples.append((wall, record, evaluated["duration_ms"] - record["duration_ms"]))
                    samples.sort(key=lambda s: s[0])
                    wall, record, evaluation_ms = samples[len(samples) // 2]
                    rows.append(
                        {
                            "hook": hook,
                            "size": size,
                            "resources": record["resources"],
                            "wall_ms": round(wall, 1),
                            "fhir_requests": record["fhir_requests"],
                            "slowest_request_ms": record["slowest_fhir_ms"],
                            "slowest_query_ms": record["slowest_query_ms"],
                            "evaluation_ms": round(evaluation_ms, 1),
                            "ratio_to_slowest": round(wall / max(record["slowest_query_ms"], 0.001), 2),
                            "ratio_to_slowest_plus_evaluation": round(
                                wall / max(record["slowest_query_ms"] + evaluation_ms, 0.001), 2
                            ),
                        }
                    )
    finally:
        logging.getLogger("iop_cds").removeHandler(events)
    return rows
