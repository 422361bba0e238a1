"""The attestation link names only criteria a clinician's answer can decide."""

from __future__ import annotations

import json
from typing import Any

from sentence_cases import from_golden, resources

from cds_service.config import Settings
from cds_service.hooks.invocation import HookInvoker
from cds_service.hooks.protocol import parse_hook_request
from cds_service.hooks.services import SERVICES, service_for_hook
from cds_service.record.hook_requests import build_hook_request

P2_AT = "2025-03-03T14:00:00-06:00"


def _order_sign(build: Any) -> dict[str, Any]:
    body = build_hook_request(build(), "order-sign", at=P2_AT, policies=["medica"])
    service = SERVICES[service_for_hook("order-sign")]
    return HookInvoker(Settings(auth=False)).invoke(service, parse_hook_request(body, service.hook))


def _attestation_criteria(response: dict[str, Any]) -> list[str]:
    for card in response["cards"]:
        for link in card.get("links", []):
            if link.get("type") == "smart":
                return list(json.loads(link["appContext"])["iop-cds"]["criteria"])
    return []


def test_criteria_of_a_section_that_may_not_apply_are_not_asked() -> None:
    # With no birth date, "Child and Adolescent Admission" may or may not apply: answering one of its items cannot
    # settle it, so the attestation app must not ask for them.
    response = _order_sign(from_golden("P2", lambda b: resources(b, "Patient")[0].pop("birthDate")))
    statuses = {c["id"]: c for e in response["extension"]["iop-cds.evaluations"] for c in e["criteria"]}
    child = statuses["medica.child.3-community-living"]
    assert child["status"] == "unknown" and "may not apply" in child["reason"]
    asked = _attestation_criteria(response)
    # The age gate itself is still asked: a clinician's answer on it decides whether the section applies.
    assert [c for c in asked if c.startswith("medica.child.")] == ["medica.child.0-age-gate"]
