"""Rules over time: deadlines, overlap, rolling windows, cadences, supply bridges and each."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from rules_helpers import plan, run

from cds_service.engine.mapping import Mappings
from cds_service.engine.selections import SpecError


def test_deadline_met_late_missing_and_pending(mappings: Mappings) -> None:
    rule = {"deadline": {"of": "treatment-plans", "due": {"from": "T0", "hours": 48}}}
    assert run(mappings, rule, [plan("tp", "2025-03-04T10:00:00Z")]).value is True
    assert run(mappings, rule, [plan("tp", "2025-03-06T10:00:00Z")]).value is False
    assert run(mappings, rule, []).value is False
    pending = run(mappings, rule, [], now=datetime(2025, 3, 4, tzinfo=UTC))
    assert pending.value is None and pending.pending
    assert run(mappings, rule, [plan("tp", "not-a-date")]).value is False  # an undated plan proves nothing


def test_deadline_in_business_and_treatment_days(mappings: Mappings) -> None:
    # Friday 2025-04-18; Monday 04-21 is Patriots' Day in Massachusetts, so one business day ends Tuesday.
    # TD is the evaluation time: plans are scoped to the episode T0..TD.
    later = datetime(2025, 4, 25, tzinfo=UTC)
    friday = {"anchors": {"T0": datetime(2025, 4, 18, 13, tzinfo=UTC), "TD": later}, "now": later}
    business = {"deadline": {"of": "treatment-plans", "due": {"from": "T0", "business-days": 1}}}
    assert run(mappings, business, [plan("tp", "2025-04-22T10:00:00Z")], **friday).value is True
    assert run(mappings, business, [plan("tp", "2025-04-23T10:00:00Z")], **friday).value is False
    treatment = {"deadline": {"of": "treatment-plans", "due": {"from": "T0", "treatment-days": 3}}}
    sessions = [datetime(2025, 3, d, 9, tzinfo=UTC) for d in (3, 5, 7, 10)]
    assert run(mappings, treatment, [plan("tp", "2025-03-07T15:00:00Z")], sessions=sessions).value is True
    assert run(mappings, treatment, [plan("tp", "2025-03-08T15:00:00Z")], sessions=sessions).value is False


def test_overlap_of_sessions_with_an_inpatient_stay(mappings: Mappings) -> None:
    stay = {
        "resourceType": "Encounter",
        "id": "ip",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "period": {"start": "2025-03-04T00:00:00Z", "end": "2025-03-06T00:00:00Z"},
    }
    session = {
        "resourceType": "Encounter",
        "id": "s1",
        "status": "finished",
        "period": {"start": "2025-03-05T09:00:00Z", "end": "2025-03-05T12:00:00Z"},
    }
    rule = {
        "overlap": {"of": "sessions", "with": "inpatient-stays", "start": "encounter.start", "end": "encounter.end"}
    }
    assert run(mappings, rule, [stay], SESS=[session]).value is True
    later = {**session, "period": {"start": "2025-03-07T09:00:00Z"}}
    assert run(mappings, rule, [stay], SESS=[later]).value is False


def test_every_window_and_cadence(mappings: Mappings) -> None:
    sessions = [
        {"resourceType": "Encounter", "id": f"s{d}", "period": {"start": f"2025-03-{d:02d}T09:00:00Z"}}
        for d in (3, 5, 7, 10, 12)
    ]
    window = {"every-window": {"of": "sessions", "days": 7, "from": "T0", "to": "TD", "at-least": 3}}
    assert run(mappings, window, [], SESS=sessions).value is True
    assert run(mappings, window, [], SESS=sessions[1:]).value is False
    starts = [datetime(2025, 3, d, 9, tzinfo=UTC) for d in (3, 4, 5, 6, 7, 8, 9, 10)]
    cadence = {"cadence": {"of": "treatment-plans", "max-treatment-days": 5, "from": "T0", "to": "TD"}}
    assert run(mappings, cadence, [plan("tp", "2025-03-03T10:00:00Z")], sessions=starts).value is False
    assert (
        run(
            mappings, cadence, [plan("a", "2025-03-03T10:00:00Z"), plan("b", "2025-03-07T10:00:00Z")], sessions=starts
        ).value
        is True
    )


def test_bridge_and_each(mappings: Mappings) -> None:
    med = {
        "resourceType": "MedicationRequest",
        "id": "m1",
        "status": "active",
        "authoredOn": "2025-03-10",
        "category": [
            {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category", "code": "discharge"}
                ]
            }
        ],
        "dispenseRequest": {"expectedSupplyDuration": {"value": 14}},
    }
    appointment = {
        "resourceType": "Appointment",
        "id": "a1",
        "status": "booked",
        "start": "2025-03-30T10:00:00Z",
        "specialty": [{"coding": [{"system": "http://snomed.info/sct", "code": "394587001"}]}],
    }
    rule = {
        "bridge": {
            "of": "discharge-medications",
            "supply-days": "medicationrequest.supply-days",
            "until": "psychiatric-aftercare-appointments",
            "from": "TD",
        }
    }
    assert run(mappings, rule, [med, appointment]).value is False
    assert (
        run(mappings, rule, [{**med, "dispenseRequest": {"expectedSupplyDuration": {"value": 30}}}, appointment]).value
        is True
    )
    assert run(mappings, rule, [med]).value is False  # nothing to bridge to
    each = {"each": {"of": "discharge-medications", "where": [{"fact": "medicationrequest.dose", "exists": True}]}}
    assert run(mappings, each, [med]).value is False and run(mappings, each, []).value is None


def test_every_window_sums_session_hours_between_bounds(mappings: Mappings) -> None:
    def session(day: int, hours: float | None, length: bool = False) -> dict[str, Any]:
        enc: dict[str, Any] = {
            "resourceType": "Encounter",
            "id": f"h{day}",
            "period": {"start": f"2025-03-{day:02d}T09:00:00Z"},
        }
        if hours is not None and length:
            enc["length"] = {"value": hours * 60, "unit": "min"}
        elif hours is not None:
            enc["period"]["end"] = f"2025-03-{day:02d}T{9 + int(hours):02d}:00:00Z"
        return enc

    rule = {
        "every-window": {
            "of": "sessions",
            "days": 7,
            "from": "T0",
            "to": "TD",
            "at-least": 3,
            "hours-at-least": 9,
            "hours-at-most": 19,
        }
    }
    three_by_three = [session(3, 3), session(5, 3, length=True), session(7, 3)]
    assert run(mappings, rule, [], SESS=three_by_three).value is True
    short = [session(3, 2), session(5, 2), session(7, 2)]
    result = run(mappings, rule, [], SESS=short)
    assert result.value is False and "6 h" in result.detail
    long = [session(d, 5) for d in (3, 4, 5, 6)]
    assert run(mappings, rule, [], SESS=long).value is False  # 20 h > 19
    assert run(mappings, rule, [], SESS=[session(3, 3), session(5, None), session(7, 3)]).value is None
    with pytest.raises(SpecError):
        run(mappings, {"every-window": {**rule["every-window"], "hours-at-least": "nine"}}, [], SESS=short)


def test_deadline_without_waiting_is_judged_now(mappings: Mappings) -> None:
    rule = {"deadline": {"of": "treatment-plans", "due": {"from": "T0", "hours": 48}, "pending": False}}
    early = {"now": datetime(2025, 3, 4, tzinfo=UTC)}
    assert run(mappings, rule, [], **early).value is False and not run(mappings, rule, [], **early).pending
    assert run(mappings, rule, [plan("tp", "2025-03-06T10:00:00Z")], **early).value is False
    assert run(mappings, rule, [plan("tp", "2025-03-04T10:00:00Z")], **early).value is True
    with pytest.raises(SpecError, match="pending"):
        run(mappings, {"deadline": {**rule["deadline"], "pending": "no"}}, [])


def test_every_window_at_most(mappings: Mappings) -> None:
    sessions = [
        {"resourceType": "Encounter", "id": f"s{d}", "period": {"start": f"2025-03-{d:02d}T09:00:00Z"}}
        for d in (3, 4, 5, 6, 7, 8)
    ]
    rule = {"every-window": {"of": "sessions", "days": 7, "from": "T0", "to": "TD", "at-least": 3, "at-most": 5}}
    result = run(mappings, rule, [], SESS=sessions)
    assert result.value is False and "at most 5" in result.detail
    assert run(mappings, rule, [], SESS=sessions[:5]).value is True


def test_cadence_and_bridge_accept_members_at_the_same_instant(mappings: Mappings) -> None:
    """Two plan reviews (or two appointments) at the same time used to crash the sort (dicts compared)."""
    starts = [datetime(2025, 3, d, 9, tzinfo=UTC) for d in (3, 4, 5, 6, 7)]
    cadence = {"cadence": {"of": "treatment-plans", "max-treatment-days": 5, "from": "T0", "to": "TD"}}
    twins = [plan("a", "2025-03-03T10:00:00Z"), plan("b", "2025-03-03T10:00:00Z")]
    assert run(mappings, cadence, twins, sessions=starts).value is True
    med = {
        "resourceType": "MedicationRequest",
        "id": "m1",
        "status": "active",
        "category": [
            {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category", "code": "discharge"}
                ]
            }
        ],
        "dispenseRequest": {"expectedSupplyDuration": {"value": 30}},
    }
    appointments = [
        {
            "resourceType": "Appointment",
            "id": f"a{i}",
            "status": "booked",
            "start": "2025-03-30T10:00:00Z",
            "specialty": [{"coding": [{"system": "http://snomed.info/sct", "code": "394587001"}]}],
        }
        for i in (1, 2)
    ]
    bridge = {
        "bridge": {
            "of": "discharge-medications",
            "supply-days": "medicationrequest.supply-days",
            "until": "psychiatric-aftercare-appointments",
            "from": "TD",
        }
    }
    assert run(mappings, bridge, [med, *appointments]).value is True
