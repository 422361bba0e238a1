"""The plan operator reads an activity given as a reference to a ServiceRequest from that request (issue 15)."""

from __future__ import annotations

from typing import Any

from sentence_cases import add, by_id, from_golden
from test_evidence_semantics import run

DISCHARGE_AT = "2025-03-21T12:10:00-04:00"
WEEKLY = "molina.process.tp-1a-counseling-weekly"


def _group_therapy_by_reference(*, in_record: bool, status: str = "active") -> Any:
    """P5's plan lists group therapy as a reference to a ServiceRequest for 90853 three times a week."""

    def change(b: dict[str, Any]) -> None:
        by_id(b, "P5-tp")["activity"] = [{"reference": {"reference": "ServiceRequest/P5-sr-group"}}]
        if in_record:
            add(
                b,
                {
                    "resourceType": "ServiceRequest",
                    "id": "P5-sr-group",
                    "status": status,
                    "intent": "order",
                    "subject": {"reference": "Patient/P5-patient"},
                    "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "90853"}]},
                    "occurrenceTiming": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "wk"}},
                },
            )

    return change


def _weekly(**kwargs: Any) -> dict[str, Any]:
    found = run(
        from_golden("P5", _group_therapy_by_reference(**kwargs)),
        "molina",
        DISCHARGE_AT,
        hook="encounter-discharge",
        encounter_id="P5-prog",
    )
    return found[WEEKLY]


def test_a_referenced_request_gives_the_activity_its_code_and_timing() -> None:
    got = _weekly(in_record=True)
    assert got["status"] == "met"
    assert "sessions-per-week of treatment plan CarePlan/P5-tp: 3" in got["reason"]


def test_a_reference_the_record_does_not_hold_is_unreadable_not_absent() -> None:
    got = _weekly(in_record=False)
    assert got["status"] == "unknown"
    assert "1 without a readable timing" in got["reason"]


def test_a_revoked_request_is_no_planned_activity() -> None:
    got = _weekly(in_record=True, status="revoked")
    assert got["status"] == "not-met"
    assert "no such activity planned" in got["reason"]
