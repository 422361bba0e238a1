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
