"""A note's time: the service it documents (``context.period``), else its ``date`` — the ``A || B`` fact fallback."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from cds_service.config import PROJECT_ROOT
from cds_service.engine.facts import build_fact
from cds_service.engine.mapping import load_mappings

EST = timezone(timedelta(hours=-5))


def note(**fields: object) -> dict[str, object]:
    return {"resourceType": "DocumentReference", "id": "n", "status": "current", **fields}


def test_a_fallback_path_takes_the_first_alternative_that_has_values() -> None:
    path = "$.context.period.end || $.context.period.start || $.date"
    fact = build_fact("x.t", "DocumentReference", path, "datetime")
    signed_late = note(date="2025-03-24T09:00:00-05:00", context={"period": {"end": "2025-03-03T11:00:00-05:00"}})
    begun_only = note(date="2025-03-24T09:00:00-05:00", context={"period": {"start": "2025-03-03T10:00:00-05:00"}})
    dated_only = note(date="2025-03-24T09:00:00-05:00")
    assert fact.values(signed_late) == [datetime(2025, 3, 3, 11, tzinfo=EST)]
    assert fact.values(begun_only) == [datetime(2025, 3, 3, 10, tzinfo=EST)]
    assert fact.values(dated_only) == [datetime(2025, 3, 24, 9, tzinfo=EST)]
    assert fact.values(note()) == []


def test_a_fallback_of_simple_paths_is_a_direct_walk() -> None:
    assert build_fact("x.t", "DocumentReference", "$.context.period.end || $.date", "datetime").direct


def test_a_fallback_with_a_broken_alternative_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid JSONPath"):
        build_fact("x.t", "DocumentReference", "$.date || $.context[?(", "datetime")


# Documents whose making is the act keep their own `date`: a certification's context.period is the period it
# certifies, an advance directive's date is when it was made, a signature's when the member signed.
MADE_BY_DATE = {
    "certifications",
    "recertifications",
    "advance-directives",
    "optum-locg.advance-directives-this-stay",
    "optum-locg.communication-plans",
    "cca.plan-documents",
    "cca.plan-signatures",
    "cca.member-signed-plan-documents",
}


def test_every_note_selection_is_placed_by_the_service_it_documents() -> None:
    """Selections of notes date them by ``documentreference.time``; only documents whose making is the act (and
    BH803's certifications) use the reference's own ``date``."""
    mappings = load_mappings(PROJECT_ROOT / "mappings")
    by_date = {
        name
        for name, selection in mappings.selections.items()
        if any(f.name == "documentreference.date" for f in selection.time)
    }
    assert by_date - MADE_BY_DATE == {n for n in by_date if n.startswith("bh803.") and "cert" in n}
