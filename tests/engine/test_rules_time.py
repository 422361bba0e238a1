"""Rules over time: deadlines, overlap, rolling windows, cadences, supply bridges and each."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from rules_helpers import plan, run

from cds_service.engine.mapping import Mappings
from cds_service.engine.rules.deadlines import computed_supply_days
from cds_service.engine.selections import SpecError


def test_deadline_met_late_missing_and_pending(mappings: Mappings) -> None:
    rule = {"deadline": {"of": "treatment-plans", "due": {"from": "T0", "hours": 48}}}
    assert run(mappings, rule, [plan("tp", "2025-03-04T10:00:00Z")]).value is True
    assert run(mappings, rule, [plan("tp", "2025-03-06T10:00:00Z")]).value is False
    assert run(mappings, rule, []).value is False
    pending = run(mappings, rule, [], now=datetime(2025, 3, 4, tzinfo=UTC))
    assert pending.value is None and pending.pending


def test_deadline_with_an_undated_member_is_unknown(mappings: Mappings) -> None:
    """DATA-PROFILE §6: not-met needs a passed deadline "with nothing recorded"; a plan in force whose time is
    unknown is recorded, so whether it was in time cannot be judged."""
    rule = {"deadline": {"of": "treatment-plans", "due": {"from": "T0", "hours": 48}}}
    for plans in (
        [plan("tp", None)],
        [plan("tp", "not-a-date")],
        [plan("tp", None), plan("late", "2025-03-06T10:00Z")],
    ):
        result = run(mappings, rule, plans)
        assert result.value is None and not result.pending
        assert "CarePlan/tp with no recorded time" in result.detail
    assert run(mappings, rule, [plan("tp", None), plan("ok", "2025-03-04T10:00:00Z")]).value is True
    closed = dict(plan("tp", None), status="completed")  # not in force, so not this episode's: nothing recorded
    assert run(mappings, rule, [closed]).value is False


def test_recurring_and_cadence_with_an_undated_member_are_unknown(mappings: Mappings) -> None:
    """The same rule for duties that recur: a missed occurrence is not-met only when nothing undated could fill it."""
    context = {"anchors": {"T0": T0_JAN6, "TD": datetime(2025, 6, 10, 16, tzinfo=UTC)}, "now": T0_JAN6.replace(month=6)}
    recert = run(mappings, RECERT_60D, [plan("r1", "2025-03-05T10:00:00-05:00"), plan("undated", None)], **context)
    assert recert.value is None and "CarePlan/undated with no recorded time" in recert.detail
    starts = [datetime(2025, 3, d, 9, tzinfo=UTC) for d in (3, 4, 5, 6, 7, 8, 9, 10)]
    cadence = {"cadence": {"of": "treatment-plans", "max-treatment-days": 5, "from": "T0", "to": "TD"}}
    for plans in ([plan("tp", "2025-03-03T10:00:00Z"), plan("undated", None)], [plan("undated", None)]):
        result = run(mappings, cadence, plans, sessions=starts)
        assert result.value is None and "CarePlan/undated with no recorded time" in result.detail
    closed = dict(plan("undated", None), status="completed")  # not in force: nothing recorded
    assert run(mappings, cadence, [plan("tp", "2025-03-03T10:00:00Z"), closed], sessions=starts).value is False


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


def test_every_window_counts_days_of_attendance_when_asked(mappings: Mappings) -> None:
    def session(day: int, hour: int) -> dict[str, Any]:
        start = f"2025-03-{day:02d}T{hour:02d}:00:00Z"
        return {"resourceType": "Encounter", "id": f"d{day}h{hour}", "period": {"start": start}}

    # A morning and an afternoon record on 03-05 (different starts, so not duplicates): 3 records, 2 days.
    two_days = [session(3, 14), session(5, 14), session(5, 18)]
    window = {"of": "sessions", "days": 7, "from": "T0", "to": "TD", "at-least": 3}
    assert run(mappings, {"every-window": window}, [], SESS=two_days).value is True
    result = run(mappings, {"every-window": {**window, "distinct-days": True}}, [], SESS=two_days)
    assert result.value is False and "2 × IOP session on distinct days" in result.detail
    six_records = [session(d, h) for d in (3, 5, 7) for h in (14, 18)]
    capped = {**window, "at-most": 5, "distinct-days": True}
    assert run(mappings, {"every-window": capped}, [], SESS=six_records).value is True  # 3 days, not 6 sessions
    with pytest.raises(SpecError):
        run(mappings, {"every-window": {**window, "distinct-days": "yes"}}, [], SESS=two_days)


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


# --- One time model (DATA-PROFILE §6): local dates in the site's zone (America/New_York here) ----------------------


def appointment(aid: str, start: str, status: str = "booked") -> dict[str, Any]:
    """A behavioural-health follow-up (aftercare is behavioural-health care: DATA-PROFILE §2)."""
    return {
        "resourceType": "Appointment",
        "id": aid,
        "status": status,
        "start": start,
        "reasonCode": [{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F33.1"}]}],
    }


def session(sid: str, start: str, end: str | None = None, program: str = "Encounter/prog") -> dict[str, Any]:
    period = {"start": start, **({"end": end} if end else {})}
    return {
        "resourceType": "Encounter",
        "id": sid,
        "status": "finished",
        "partOf": {"reference": program},
        "period": period,
    }


AFTERCARE_7D = {"deadline": {"of": "aftercare-appointments", "due": {"from": "TD", "days": 7}}}


def discharged(td: str, now: str | None = None) -> dict[str, Any]:
    """Context options for the discharge hook: TD is the program's end, "now" the hook call."""
    end = datetime.fromisoformat(td)
    return {"phase": "discharge", "anchors": {"TD": end}, "now": datetime.fromisoformat(now) if now else end}


def test_day_7_appointment_at_17_00_after_a_16_00_discharge_is_within_7_days(mappings: Mappings) -> None:
    context = discharged("2025-05-01T16:00:00-04:00")
    result = run(mappings, AFTERCARE_7D, [appointment("a", "2025-05-08T17:00:00-04:00")], **context)
    assert result.value is True
    assert "due by 2025-05-08 23:59 -04:00" in result.detail
    stored_in_utc = run(mappings, AFTERCARE_7D, [appointment("a", "2025-05-08T21:00:00Z")], **context)
    assert stored_in_utc.value is True and "2025-05-08 17:00 -04:00" in stored_in_utc.detail


def test_an_evening_discharge_stored_in_utc_does_not_move_the_7_day_window(mappings: Mappings) -> None:
    # Thursday 2025-05-01 20:30 in Boston is 2025-05-02T00:30Z; day 7 is Thursday 05-08, not Friday 05-09.
    context = discharged("2025-05-02T00:30:00Z")
    assert run(mappings, AFTERCARE_7D, [appointment("a", "2025-05-08T15:00:00-04:00")], **context).value is True
    late = run(mappings, AFTERCARE_7D, [appointment("a", "2025-05-09T10:00:00-04:00")], **context)
    assert late.value is False
    assert "after the due time 2025-05-08 23:59 -04:00" in late.detail


def test_nothing_scheduled_at_discharge_is_not_met_with_the_book_by_date_not_pending(mappings: Mappings) -> None:
    # The hook is called at discharge, days before the window closes: what follows discharge is judged on what is
    # scheduled now (a cancelled appointment is not scheduled).
    context = discharged("2025-05-01T16:00:00-04:00")
    result = run(mappings, AFTERCARE_7D, [appointment("a", "2025-05-05T10:00:00-04:00", "cancelled")], **context)
    assert result.value is False and not result.pending
    assert "booked for a time by 2025-05-08 23:59 -04:00" in result.detail
    assert result.due == datetime.fromisoformat("2025-05-08T23:59:59.999999-04:00")


def test_a_monday_evening_plan_meets_one_business_day_from_a_friday_admission(mappings: Mappings) -> None:
    rule = {"deadline": {"of": "treatment-plans", "due": {"from": "T0", "business-days": 1}}}
    # Admission Friday 2025-04-04 13:00 Boston, stored in UTC; Monday ends at midnight in Boston, not at 19:59.
    context = {"anchors": {"T0": datetime(2025, 4, 4, 17, tzinfo=UTC)}, "now": datetime(2025, 4, 10, tzinfo=UTC)}
    at_19_59 = run(mappings, rule, [plan("tp", "2025-04-07T23:59:00Z")], **context)
    assert at_19_59.value is True and "2025-04-07 19:59 -04:00" in at_19_59.detail
    at_21_00 = run(mappings, rule, [plan("tp", "2025-04-08T01:00:00Z")], **context)
    assert at_21_00.value is True and "due by 2025-04-07 23:59 -04:00" in at_21_00.detail
    assert run(mappings, rule, [plan("tp", "2025-04-08T04:30:00Z")], **context).value is False  # Tuesday 00:30


def test_patriots_day_after_an_evening_admission_stored_in_utc(mappings: Mappings) -> None:
    # Friday 2025-04-18 21:30 in Boston is Saturday 01:30Z. One business day skips the weekend and Patriots' Day
    # (Monday 04-21): Tuesday 04-22 until midnight in Boston.
    rule = {"deadline": {"of": "treatment-plans", "due": {"from": "T0", "business-days": 1}}}
    context = {"anchors": {"T0": datetime(2025, 4, 19, 1, 30, tzinfo=UTC)}, "now": datetime(2025, 4, 30, tzinfo=UTC)}
    tuesday_evening = run(mappings, rule, [plan("tp", "2025-04-22T21:00:00-04:00")], **context)
    assert tuesday_evening.value is True and "due by 2025-04-22 23:59 -04:00" in tuesday_evening.detail
    assert run(mappings, rule, [plan("tp", "2025-04-23T09:00:00-04:00")], **context).value is False


def test_an_observed_federal_holiday_is_not_a_business_day(mappings: Mappings) -> None:
    # Independence Day 2026 is a Saturday, observed Friday 07-03: one business day from Thursday ends Monday 07-06.
    rule = {"deadline": {"of": "treatment-plans", "due": {"from": "T0", "business-days": 1}}}
    context = {"anchors": {"T0": datetime(2026, 7, 2, 14, tzinfo=UTC)}, "now": datetime(2026, 7, 10, tzinfo=UTC)}
    monday = run(mappings, rule, [plan("tp", "2026-07-06T10:00:00-04:00")], **context)
    assert monday.value is True and "due by 2026-07-06 23:59 -04:00" in monday.detail


def test_within_n_hours_is_exact(mappings: Mappings) -> None:
    rule = {"deadline": {"of": "treatment-plans", "due": {"from": "T0", "hours": 48}}}
    context = {"anchors": {"T0": datetime(2025, 3, 3, 14, tzinfo=UTC)}, "now": datetime(2025, 3, 10, tzinfo=UTC)}
    assert run(mappings, rule, [plan("tp", "2025-03-05T09:00:00-05:00")], **context).value is True
    late = run(mappings, rule, [plan("tp", "2025-03-05T09:01:00-05:00")], **context)
    assert late.value is False and "after the due time 2025-03-05 09:00 -05:00" in late.detail


def test_a_46_day_stay_owes_no_day_60_duty(mappings: Mappings) -> None:
    rule = {"deadline": {"of": "treatment-plans", "due": {"from": "T0", "days": 60}}}
    # Discharged on day 46, reviewed on day 70: the day-60 duty never fell due.
    context = {
        "phase": "discharge",
        "anchors": {"T0": datetime(2025, 1, 6, 14, tzinfo=UTC), "TD": datetime(2025, 2, 21, 17, tzinfo=UTC)},
        "now": datetime(2025, 3, 17, 14, tzinfo=UTC),
    }
    result = run(mappings, rule, [], **context)
    assert result.value is True and result.not_due
    assert result.detail.startswith("not due: the stay ended at 2025-02-21 12:00 -05:00")
    # the same stay still running on day 70 did owe it
    running = {**context, "phase": "continued-stay", "anchors": {**context["anchors"], "TD": context["now"]}}
    assert run(mappings, rule, [], **running).value is False


RECERT_60D = {"recurring": {"of": "treatment-plans", "days": 60, "from": "T0"}}
T0_JAN6 = datetime(2025, 1, 6, 15, tzinfo=UTC)


def test_recurring_duty_checks_every_occurrence_from_the_previous_one(mappings: Mappings) -> None:
    plans = [plan("r1", "2025-03-05T10:00:00-05:00"), plan("r3", "2025-06-05T10:00:00-04:00")]
    # the 2nd recertification was due 60 days after 03-05 (05-04) and is missing; a later one does not cure it
    context = {"anchors": {"T0": T0_JAN6, "TD": datetime(2025, 6, 10, 16, tzinfo=UTC)}}
    missed = run(mappings, RECERT_60D, plans, now=datetime(2025, 6, 10, 16, tzinfo=UTC), **context)
    assert missed.value is False
    assert "between 2025-03-05 10:00 -05:00 and 2025-05-04 23:59 -04:00 (occurrence 2" in missed.detail
    every = [*plans, plan("r2", "2025-05-01T10:00:00-04:00")]
    kept = run(mappings, RECERT_60D, every, now=datetime(2025, 6, 10, 16, tzinfo=UTC), **context)
    assert kept.value is True and "next due by 2025-08-04 23:59 -04:00" in kept.detail


def test_recurring_duty_not_yet_due_is_pending_and_after_a_short_stay_not_owed(mappings: Mappings) -> None:
    running = {
        "anchors": {"T0": T0_JAN6, "TD": datetime(2025, 2, 1, tzinfo=UTC)},
        "now": datetime(2025, 2, 1, tzinfo=UTC),
    }
    pending = run(mappings, RECERT_60D, [], **running)
    assert pending.value is None and pending.pending and "due by 2025-03-07 23:59 -05:00" in pending.detail
    ended = {**running, "phase": "discharge", "now": datetime(2025, 4, 1, tzinfo=UTC)}
    short_stay = run(mappings, RECERT_60D, [], **ended)
    assert short_stay.value is True and short_stay.not_due


def test_windows_run_on_local_dates_and_duplicated_sessions_count_once(mappings: Mappings) -> None:
    rule = {"every-window": {"of": "sessions", "days": 7, "from": "T0", "to": "TD", "at-least": 3}}
    context = {"anchors": {"T0": datetime(2025, 3, 3, 18, tzinfo=UTC)}, "now": datetime(2025, 3, 10, 12, tzinfo=UTC)}
    # Monday 09:00 (before T0's hour, same local date), Wednesday, and Friday 21:00 Boston (Saturday in UTC)
    week = [
        session("mon", "2025-03-03T09:00:00-05:00", "2025-03-03T12:00:00-05:00"),
        session("wed", "2025-03-05T09:00:00-05:00", "2025-03-05T12:00:00-05:00"),
        session("fri", "2025-03-08T02:00:00Z", "2025-03-08T05:00:00Z"),
    ]
    assert run(mappings, rule, [], SESS=week, **context).value is True
    # the Friday session is missed, but Monday was recorded twice (same program, same start): 2 sessions, not 3
    duplicate = {**week[0], "id": "mon-copy"}
    result = run(mappings, rule, [], SESS=[week[0], duplicate, week[1]], **context)
    assert result.value is False and "2 × " in result.detail and "2025-03-03 and 2025-03-09" in result.detail


def test_delivered_hours_come_from_the_sessions_actual_periods(mappings: Mappings) -> None:
    rule = {"every-window": {"of": "sessions", "days": 7, "from": "T0", "to": "TD", "at-least": 3, "hours-at-least": 9}}
    context = {"anchors": {"T0": datetime(2025, 3, 3, 14, tzinfo=UTC)}, "now": datetime(2025, 3, 10, 12, tzinfo=UTC)}
    # scheduled as 3 h (length), but each session actually ran 2 h: 6 h delivered
    ran_short = [
        {
            **session(f"s{d}", f"2025-03-0{d}T09:00:00-05:00", f"2025-03-0{d}T11:00:00-05:00"),
            "length": {"value": 3, "unit": "h"},
        }
        for d in (3, 5, 7)
    ]
    result = run(mappings, rule, [], SESS=ran_short, **context)
    assert result.value is False and "6 h" in result.detail
    # a session whose period.end is missing (and no length) leaves the week undecided, it does not count as 0 h
    open_ended = [session(f"s{d}", f"2025-03-0{d}T09:00:00-05:00", f"2025-03-0{d}T13:00:00-05:00") for d in (3, 5)]
    open_ended.append(session("s7", "2025-03-07T09:00:00-05:00"))
    undecided = run(mappings, rule, [], SESS=open_ended, **context)
    assert undecided.value is None and "has no end time or length" in undecided.detail


def test_a_plan_dated_without_a_time_is_on_its_local_date(mappings: Mappings) -> None:
    # One business day from Friday 2025-04-04 ends Monday 04-07 at midnight in Boston. A plan dated "2025-04-08"
    # (no time, no zone) is Tuesday, a day late, even though 2025-04-08T00:00Z is still Monday evening in Boston.
    rule = {"deadline": {"of": "treatment-plans", "due": {"from": "T0", "business-days": 1}}}
    context = {"anchors": {"T0": datetime(2025, 4, 4, 17, tzinfo=UTC)}, "now": datetime(2025, 4, 10, tzinfo=UTC)}
    assert run(mappings, rule, [plan("tp", "2025-04-07")], **context).value is True
    late = run(mappings, rule, [plan("tp", "2025-04-08")], **context)
    assert late.value is False and "treatment plan at 2025-04-08 00:00 -04:00" in late.detail


def _dose(value: float, unit: str, timing: dict[str, Any] | None = None, **more: Any) -> dict[str, Any]:
    """One dosageInstruction: a dose quantity and its timing."""
    return {"doseAndRate": [{"doseQuantity": {"value": value, "unit": unit}}], "timing": timing or {}} | more


DAILY = {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}}
TABLETS_30 = {"value": 30, "unit": "tablet"}


@pytest.mark.parametrize(
    ("quantity", "instructions", "days"),
    [
        # 30 tablets, one a day: 30 days; twice a day (the GTS code BID, units spelled differently): 15 days
        (TABLETS_30, [_dose(1, "tablet", DAILY)], 30),
        ({"value": 30, "code": "{tbl}"}, [_dose(1, "TAB", {"code": {"coding": [{"code": "BID"}]}})], 15),
        ({"value": 30, "code": "1", "unit": "tablet"}, [_dose(1, "tablets", DAILY)], 30),  # UCUM "1", unit spelled
        # 2 mg every 12 hours from 60 mg; two concurrent instructions (morning 1, bedtime 2): 3 a day
        (
            {"value": 60, "unit": "mg"},
            [_dose(2, "mg", {"repeat": {"frequency": 1, "period": 12, "periodUnit": "h"}})],
            15,
        ),
        (
            {"value": 90, "unit": "capsule"},
            [_dose(1, "cap", {"repeat": {"when": ["MORN"]}}), _dose(2, "capsules", {"repeat": {"when": ["HS"]}})],
            30,
        ),
        # not computable: a dose in mg against tablets, as needed, text only, a taper in sequence, no quantity
        ({"value": 14, "unit": "tablet"}, [_dose(100, "mg", DAILY)], None),
        (TABLETS_30, [_dose(1, "tablet", DAILY, asNeededBoolean=True)], None),
        (TABLETS_30, [{"text": "1 tablet daily"}], None),
        (TABLETS_30, [_dose(2, "tablet", DAILY, sequence=1), _dose(1, "tablet", DAILY, sequence=2)], None),
        (None, [_dose(1, "tablet", DAILY)], None),
    ],
)
def test_supply_days_from_quantity_and_daily_dose(
    quantity: dict[str, Any] | None, instructions: list[dict[str, Any]], days: float | None
) -> None:
    assert computed_supply_days(quantity, instructions) == days
