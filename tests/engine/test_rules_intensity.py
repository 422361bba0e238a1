"""The order-intensity rule: sessions and hours per week from the order's Timing."""

from __future__ import annotations

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
