"""Evaluation time of the engine alone: one policy at a time, records of several sizes (no HTTP, no JSON)."""

from __future__ import annotations

import statistics
import time
from datetime import datetime
from typing import Any

from benchmarks.latency import DISCHARGE_AT, IOP_ORDER, requests_for
from cds_service.engine.evaluator import evaluate
from cds_service.engine.mapping import load_mappings
from cds_service.engine.timecalc import BusinessCalendar
from cds_service.hooks.gc_tuning import tune_garbage_collector
from cds_service.record.gather import accept_prefetch
from cds_service.record.patient_record import PatientRecord


def record_of(body: dict[str, Any]) -> PatientRecord:
    """The PatientRecord a hook request's prefetch holds."""
    resources = []
    for value in body["prefetch"].values():
        resources.extend(accept_prefetch(value, "")[0] if value else [])
    return PatientRecord(resources)


def run(sizes: list[int], runs: int, shapes: list[str] | None = None) -> list[dict[str, Any]]:
    """Median milliseconds per shape, size and policy for encounter-discharge (the phase with the most criteria)."""
    tune_garbage_collector()  # as the service does at start-up
    mappings = load_mappings("mappings")
    calendar = BusinessCalendar.from_spec("US-MA")
    now = datetime.fromisoformat(DISCHARGE_AT)
    rows = []
    for shape, size in [(shape, size) for shape in shapes or ["synthea-shifted"] for size in sizes]:
        body = requests_for(size, sorted(mappings.policies), shape)["encounter-discharge"]
        row: dict[str, Any] = {"shape": shape, "size": size}
        for key in sorted(mappings.policies):
            samples = []
            for _ in range(runs):
                record = record_of(body)  # a fresh record: no index survives from the previous run
                started = time.perf_counter()
                evaluate(
                    mappings,
                    record,
                    hook="encounter-discharge",
                    now=now,
                    policy_keys=[key],
                    encounter_id="P5-prog",
                    patient_id="P5-patient",
                    calendar=calendar,
                    draft_orders=[IOP_ORDER],
                )
                samples.append((time.perf_counter() - started) * 1000)
            row[key] = round(statistics.median(samples), 2)
        rows.append(row)
    return rows
