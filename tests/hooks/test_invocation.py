"""The pipeline tells the engine which resource types could not be read, including reference lookups."""

from __future__ import annotations

from cds_service.hooks.invocation import unreadable_types
from cds_service.record.patient_record import DataGap
from cds_service.record.prefetch import PREFETCH_TEMPLATES


def test_a_failed_reference_lookup_makes_its_type_unreadable() -> None:
    found = unreadable_types([DataGap("referenced Practitioner", "500")], PREFETCH_TEMPLATES["order-sign"])
    assert found["Practitioner"] == ["referenced Practitioner"]
    assert found["Condition"] == []


def test_a_failed_search_makes_its_type_and_the_included_types_unreadable() -> None:
    found = unreadable_types([DataGap("conditions", "timeout")], PREFETCH_TEMPLATES["order-sign"])
    assert found["Condition"] == ["conditions"] and found["*"] == ["conditions"]
    assert unreadable_types([], PREFETCH_TEMPLATES["order-sign"]) == {}
