"""The order-intensity rule: sessions and hours per week from the order's Timing."""

from __future__ import annotations

from typing import Any

from rules_helpers import HCPCS, run

from cds_service.engine.mapping import Mappings


def test_order_intensity(mappings: Mappings) -> None:
    order = {
        "resourceType": "ServiceRequest",
        "id": "o1",
        "code": {"coding": [{"system": HCPCS, "code": "S9480"}]},
        "occurrenceTiming": {
            "repeat": {"frequency": 3, "period": 1, "periodUnit": "wk", "duration": 2.5, "durationUnit": "h"}
        },
    }
    rule = {"order": {"measure": "hours-per-week", "op": ">=", "than": 9}}
    result = run(mappings, rule, [], **{"iop-order": [order]})
    assert result.value is False and "7.5" in result.detail
    assert run(mappings, rule, [], **{"iop-order": [{**order, "occurrenceTiming": {}}]}).value is None
    assert run(mappings, rule, []).value is None  # no IOP order in the call


def _plan(pid: str, created: str, *activities: tuple[str, dict[str, Any] | None]) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "id": pid,
        "status": "active",
        "intent": "plan",
        "created": created,
        "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "718347000"}]}],
        "activity": [
            {
                "detail": {
                    "status": "scheduled",
                    "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": code}]},
                    **({"scheduledTiming": {"repeat": repeat}} if repeat else {}),
                }
            }
            for code, repeat in activities
        ],
    }


WEEKLY_3H = {"frequency": 1, "period": 1, "periodUnit": "wk", "duration": 3, "durationUnit": "h"}


def test_plan_intensity_sums_the_newest_plans_activities(mappings: Mappings) -> None:
    rule = {"plan": {"of": "treatment-plans", "measure": "hours-per-week", "op": ">=", "than": 9}}
    nine = _plan("tp2", "2025-03-04", ("90853", {**WEEKLY_3H, "frequency": 2}), ("90834", WEEKLY_3H))
    six = _plan("tp1", "2025-03-03", ("90853", {**WEEKLY_3H, "frequency": 2}))
    result = run(mappings, rule, [six, nine])
    assert result.value is True and result.evidence == ["CarePlan/tp2"] and "9" in result.detail
    assert run(mappings, rule, [nine, {**six, "created": "2025-03-05"}]).value is False  # the newer plan decides
    assert run(mappings, rule, []).value is None  # no plan: nothing to read


def test_plan_intensity_reads_only_activities_in_the_value_set_and_says_unknown_when_timing_is_missing(
    mappings: Mappings,
) -> None:
    rule = {
        "plan": {
            "of": "treatment-plans",
            "measure": "sessions-per-week",
            "activity-in": "VS-THER",
            "op": ">=",
            "than": 1,
        }
    }
    monthly = {"frequency": 2, "period": 1, "periodUnit": "mo"}
    assert run(mappings, rule, [_plan("tp", "2025-03-04", ("90853", monthly), ("99213", WEEKLY_3H))]).value is False
    assert run(mappings, rule, [_plan("tp", "2025-03-04", ("90853", monthly), ("90834", None))]).value is None
    assert run(mappings, rule, [_plan("tp", "2025-03-04", ("90853", WEEKLY_3H), ("90834", None))]).value is True


def test_three_a_week_on_mon_wed_fri_is_three_sessions_not_nine(mappings: Mappings) -> None:
    order = {
        "resourceType": "ServiceRequest",
        "id": "o2",
        "code": {"coding": [{"system": HCPCS, "code": "S9480"}]},
        "occurrenceTiming": {
            "repeat": {
                "boundsPeriod": {"start": "2025-03-03", "end": "2025-04-25"},
                "frequency": 3,
                "period": 1,
                "periodUnit": "wk",
                "dayOfWeek": ["mon", "wed", "fri"],
                "duration": 3,
                "durationUnit": "h",
            }
        },
    }
    context = {"iop-order": [order]}
    at_most_five = run(mappings, {"order": {"measure": "sessions-per-week", "op": "<=", "than": 5}}, [], **context)
    assert at_most_five.value is True
    assert at_most_five.detail == "order sessions-per-week 3 (3 per 1 wk, on mon, wed, fri, 3 h each)"
    hours = run(mappings, {"order": {"measure": "hours-per-week", "op": "<=", "than": 19}}, [], **context)
    assert hours.value is True and hours.detail.startswith("order hours-per-week 9 ")


def _bounded_order(repeat: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "id": "o-bounded",
        "code": {"coding": [{"system": HCPCS, "code": "S9480"}]},
        "occurrenceTiming": {"repeat": repeat},
    }


MON_WED_FRI_3H = {
    "frequency": 3,
    "period": 1,
    "periodUnit": "wk",
    "dayOfWeek": ["mon", "wed", "fri"],
    "duration": 3,
    "durationUnit": "h",
}


def test_order_intensity_counts_only_the_weekdays_inside_a_bounds_period_shorter_than_a_week(
    mappings: Mappings,
) -> None:
    # "3 per 1 wk on Mon, Wed, Fri, 3 h" bounded to Tuesday 03-04 .. Thursday 03-06: only Wednesday is scheduled.
    order = _bounded_order({**MON_WED_FRI_3H, "boundsPeriod": {"start": "2025-03-04", "end": "2025-03-06"}})
    hours = {"order": {"measure": "hours-per-week", "op": ">=", "than": 9}}
    result = run(mappings, hours, [], **{"iop-order": [order]})
    assert result.value is False
    assert result.detail == (
        "order hours-per-week 3 (3 per 1 wk, on mon, wed, fri, 3 h each, only from 2025-03-04 to 2025-03-06)"
    )
    sessions = {"order": {"measure": "sessions-per-week", "op": ">=", "than": 3}}
    assert run(mappings, sessions, [], **{"iop-order": [order]}).value is False


def test_order_intensity_bounds_of_a_week_or_more_and_bounds_read_on_local_dates(mappings: Mappings) -> None:
    hours = {"order": {"measure": "hours-per-week", "op": ">=", "than": 9}}
    weeks = _bounded_order({**MON_WED_FRI_3H, "boundsPeriod": {"start": "2025-03-03", "end": "2025-04-25"}})
    assert run(mappings, hours, [], **{"iop-order": [weeks]}).value is True
    # Monday 03-03 .. Friday 03-07 given in UTC, the end at 03:00Z is still Thursday evening in New York: Mon + Wed.
    utc = _bounded_order(
        {**MON_WED_FRI_3H, "boundsPeriod": {"start": "2025-03-03T14:00:00Z", "end": "2025-03-07T03:00:00Z"}}
    )
    result = run(mappings, hours, [], **{"iop-order": [utc]})
    assert result.value is False and result.detail.startswith("order hours-per-week 6 ")
    # Without dayOfWeek a short bound holds at most one period's sessions: "3 per 1 wk" over 3 days stays 3.
    three_days = _bounded_order(
        {"frequency": 3, "period": 1, "periodUnit": "wk", "duration": 3, "durationUnit": "h",
         "boundsPeriod": {"start": "2025-03-04", "end": "2025-03-06"}}
    )  # fmt: skip
    assert run(mappings, hours, [], **{"iop-order": [three_days]}).value is True
