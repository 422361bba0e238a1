"""Order-sign for a patient without an active Coverage, over HTTP: CRD's answer for each case (DECISIONS.md,
"Coverage assertions"): nothing asserted without a Coverage on file, not-covered when the one on file is not active."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import assert_inferno_checks, call_hook, load_fixture

from cds_service.cards.coverage_info import EXT_COVERAGE_INFORMATION
from cds_service.record.hook_requests import build_hook_request

P1_AT = "2025-03-03T10:00:00-06:00"


def p1(coverage_status: str | None) -> dict[str, Any]:
    """Golden P1's order-sign; its Coverage given ``coverage_status``, or left out (None)."""
    body = build_hook_request(load_fixture("golden/P1.json"), "order-sign", at=P1_AT)
    entries = body["prefetch"]["coverage"]["entry"]
    assert [e["resource"]["resourceType"] for e in entries] == ["Coverage"]
    if coverage_status is None:
        entries.clear()
    else:
        entries[0]["resource"]["status"] = coverage_status
    return body


def coverage_information(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """Each coverage-information extension on the answer's systemActions, as {sub-extension url: value}."""
    found = []
    for action in answer.get("systemActions", []):
        for extension in action["resource"].get("extension", []):
            if extension["url"] == EXT_COVERAGE_INFORMATION:
                parts = [p for p in extension["extension"] if p["url"] != "detail"]
                found.append({p["url"]: next(v for k, v in p.items() if k.startswith("value")) for p in parts})
    return found


def no_coverage_card(answer: dict[str, Any]) -> dict[str, Any]:
    (card,) = [c for c in answer["cards"] if c["summary"] == "No active coverage found for this patient"]
    return card


@pytest.mark.parametrize("status", [None, "entered-in-error"], ids=["none-on-file", "entered-in-error"])
def test_without_a_coverage_on_file_no_coverage_information_is_returned(client: Any, status: str | None) -> None:
    answer = call_hook(client, p1(status))
    assert coverage_information(answer) == []
    assert "No coverage information is recorded on the IOP order" in no_coverage_card(answer)["detail"]
    assert answer["extension"]["iop-cds.evaluations"], "the requirements are still evaluated and carded"
    assert_inferno_checks(answer, "order-sign", coverage_expected=False)


@pytest.mark.parametrize("status", ["cancelled", "draft"])
def test_a_coverage_not_in_force_makes_the_order_not_covered(client: Any, status: str) -> None:
    answer = call_hook(client, p1(status))
    (information,) = coverage_information(answer)
    assert information["covered"] == "not-covered" and "pa-needed" not in information
    assert information["reason"]["coding"][0]["code"] == "no-active-coverage"
    assert information["coverage"]["reference"].startswith("Coverage/")
    assert "recorded as not covered" in no_coverage_card(answer)["detail"]
    assert_inferno_checks(answer, "order-sign")


def test_an_active_coverage_gets_no_no_coverage_card(client: Any) -> None:
    answer = call_hook(client, p1("active"))
    assert not [c for c in answer["cards"] if c["summary"] == "No active coverage found for this patient"]
    (information,) = coverage_information(answer)
    assert information["covered"] != "not-covered"


@pytest.mark.parametrize(
    ("status", "expected"), [(None, []), ("cancelled", ["not-covered"]), ("active", ["indeterminate"])]
)
def test_a_record_the_engine_cannot_read_follows_the_same_rule(
    client: Any, status: str | None, expected: list[str]
) -> None:
    body = p1(status)
    next(
        e["resource"] for e in body["prefetch"]["encounters"]["entry"] if e["resource"]["resourceType"] == "Encounter"
    )["class"]["system"] = ["http://terminology.hl7.org/CodeSystem/v3-ActCode"]
    answer = call_hook(client, body)
    assert answer["extension"]["iop-cds.evaluations"] == []
    assert [i["covered"] for i in coverage_information(answer)] == expected
