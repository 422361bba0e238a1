"""Prometheus metrics of the service: calls, latency, FHIR gathering, data gaps, evaluations and cards.

Under gunicorn, ``iop-cds serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder before any worker starts,
so ``/metrics`` adds up every worker; otherwise the process's own registry is shown.
"""

from __future__ import annotations

import os
from collections import Counter as Tally
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter("iop_cds_http_requests_total", "HTTP requests answered", ["route", "status"])
REQUEST_SECONDS = Histogram("iop_cds_http_request_seconds", "HTTP request latency", ["route"], buckets=LATENCY_BUCKETS)
FHIR_SECONDS = Histogram(
    "iop_cds_fhir_query_seconds", "Slowest FHIR query of a hook call (0 with full prefetch)", buckets=LATENCY_BUCKETS
)
DATA_GAPS = Counter("iop_cds_data_gaps_total", "Data sources that could not be read", ["key"])
EVALUATIONS = Counter("iop_cds_evaluations_total", "Policy evaluations by outcome", ["policy", "phase", "outcome"])
CARDS = Counter("iop_cds_cards_total", "Cards returned, by CRD card type and indicator", ["card_type", "indicator"])


def observe_request(route: str, status: int, seconds: float) -> None:
    """Count one answered request under its route template (never the raw path: bounded labels)."""
    REQUESTS.labels(route, str(status)).inc()
    REQUEST_SECONDS.labels(route).observe(seconds)


def observe_call(slowest_fhir_seconds: float, gap_keys: list[str], response: dict[str, Any]) -> None:
    """Count one hook call's FHIR time, gaps, evaluation outcomes and cards."""
    FHIR_SECONDS.observe(slowest_fhir_seconds)
    for key in gap_keys:
        DATA_GAPS.labels(key).inc()
    for evaluation in response.get("extension", {}).get("iop-cds.evaluations", []):
        EVALUATIONS.labels(evaluation["policy"], evaluation["phase"], evaluation["outcome"]).inc()
    for (card_type, indicator), count in card_kinds(response).items():
        CARDS.labels(card_type, indicator).inc(count)


def card_kinds(response: dict[str, Any]) -> Tally[tuple[str, str]]:
    """How many cards of each (CRD card type, indicator) a response holds."""
    return Tally((c["source"]["topic"]["code"], c["indicator"]) for c in response.get("cards", []))


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus text format, summed over gunicorn's workers when they share a folder."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
