"""/metrics in Prometheus format: calls by route and status, latency, FHIR time, gaps, outcomes and cards."""

from __future__ import annotations

import re
from typing import Any

from conftest import call_hook, load_fixture

from cds_service.record.hook_requests import build_hook_request


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and ",".join(sorted(match.group(1).split(","))) == wanted:
            return float(match.group(2))
    return 0.0


def test_metrics_count_calls_outcomes_and_cards(client: Any) -> None:
    before = client.get("/metrics").get_data(as_text=True)
    body = build_hook_request(load_fixture("golden/P2.json"), "order-sign", at="2025-03-03T14:00:00-06:00")
    answer = call_hook(client, body)
    client.post("/cds-services/iop-order-sign", json={"hook": "order-sign"})  # a 400
    response = client.get("/metrics")
    assert response.status_code == 200 and response.content_type.startswith("text/plain")
    after = response.get_data(as_text=True)

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    route = "/cds-services/<service_id>"
    assert grew("iop_cds_http_requests_total", route=route, status="200") == 1
    assert grew("iop_cds_http_requests_total", route=route, status="400") == 1
    assert grew("iop_cds_http_request_seconds_count", route=route) == 2
    (evaluation,) = answer["extension"]["iop-cds.evaluations"]
    labels = {"policy": evaluation["policy"], "phase": evaluation["phase"], "outcome": evaluation["outcome"]}
    assert grew("iop_cds_evaluations_total", **labels) == 1
    shown = sum(
        grew("iop_cds_cards_total", card_type=t, indicator=i)
        for t in ("coverage-info", "guideline", "clinical-reminder")
        for i in ("info", "warning", "critical")
    )
    assert shown == len(answer["cards"]) > 0
    assert "hookInstance" not in after and "P2-patient" not in after  # no identifiers in the labels
