"""CRD coverage assertions follow DATA-PROFILE §6: `covered` only for an IOP order under a coverage policy whose
every criterion is met; performance specifications and non-IOP encounters never assert it."""

from __future__ import annotations

from typing import Any

from conftest import call_hook, load_fixture

from cds_service.cards.coverage_info import EXT_COVERAGE_INFORMATION
from cds_service.record.hook_requests import build_hook_request

P1_AT = "2025-03-03T10:00:00-06:00"
P4_AT = "2025-02-28T12:05:00-05:00"


def covered_values(body: dict[str, Any]) -> list[str]:
    """The `covered` code of every coverage-information extension in the response's systemActions."""
    return [
        part["valueCode"]
        for action in body.get("systemActions", [])
        for extension in action["resource"].get("extension", [])
        if extension.get("url") == EXT_COVERAGE_INFORMATION
        for part in extension["extension"]
        if part["url"] == "covered"
    ]


def reason_text(body: dict[str, Any]) -> str:
    (action,) = body["systemActions"]
    information = next(e for e in action["resource"]["extension"] if e["url"] == EXT_COVERAGE_INFORMATION)
    return next(p["valueCodeableConcept"]["text"] for p in information["extension"] if p["url"] == "reason")


def test_a_coverage_policy_with_every_admission_criterion_met_asserts_covered(client: Any) -> None:
    body = call_hook(client, build_hook_request(load_fixture("golden/P1.json"), "order-sign", at=P1_AT))
    assert covered_values(body) == ["covered"]


def test_a_performance_specification_never_asserts_covered_at_order_sign(client: Any) -> None:
    # The same IOP order judged against Molina's performance specification: standards of care, not coverage.
    request = build_hook_request(load_fixture("golden/P1.json"), "order-sign", at=P1_AT, policies=["molina"])
    body = call_hook(client, request)
    assert covered_values(body) == ["indeterminate"]
    assert "performance specification" in reason_text(body)


def test_a_performance_specification_asserts_nothing_at_discharge(client: Any) -> None:
    request = build_hook_request(
        load_fixture("golden/P4.json"), "encounter-discharge", at=P4_AT, encounter_id="P4-prog", policies=["cca"]
    )
    assert covered_values(call_hook(client, request)) == []


def test_discharging_an_encounter_that_is_not_an_iop_program_asserts_nothing(client: Any) -> None:
    # P4-ip is the inpatient stay before the program: no IOP evaluation, so no coverage information either.
    request = build_hook_request(
        load_fixture("golden/P4.json"), "encounter-discharge", at=P4_AT, encounter_id="P4-ip", policies=["optum-locg"]
    )
    body = call_hook(client, request)
    assert body["extension"]["iop-cds.evaluations"] == []
    assert covered_values(body) == []


def test_details_carry_their_category_as_a_code_as_crd_2_2_requires(client: Any) -> None:
    body = call_hook(client, build_hook_request(load_fixture("golden/P1.json"), "order-sign", at=P1_AT))
    (action,) = body["systemActions"]
    information = next(e for e in action["resource"]["extension"] if e["url"] == EXT_COVERAGE_INFORMATION)
    details = [p for p in information["extension"] if p["url"] == "detail"]
    assert details
    for detail in details:
        category = next(p for p in detail["extension"] if p["url"] == "category")
        assert category == {"url": "category", "valueCode": "cat-other"}


def test_discovery_declares_the_crd_version(client: Any) -> None:
    for service in client.get("/cds-services").get_json()["services"]:
        assert service["extension"]["davinci-crd.version"] == ["2.2"]
