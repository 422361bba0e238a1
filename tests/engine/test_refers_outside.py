"""`refers-outside`: some reference of a fact points to no member of another selection (task AUTHORS)."""

from __future__ import annotations

from typing import Any

import pytest

from cds_service.engine.context import _looked_into
from cds_service.engine.selections import RefersOutside, RefersTo


class _Ctx:
    """The two lookups the reference predicates make: a selection's member keys and a fact's values."""

    def __init__(self, members: set[str]) -> None:
        self.members = members

    def selection_keys(self, name: str) -> set[str]:
        return self.members

    def values(self, fact: Any, resource: dict[str, Any]) -> list[str]:
        return [p["member"]["reference"] for p in resource.get("participant", [])]


def _team(*members: str) -> dict[str, Any]:
    return {"resourceType": "CareTeam", "participant": [{"member": {"reference": m}} for m in members]}


IDENTIFIED = {"Practitioner/licsw", "Practitioner/rn"}


@pytest.mark.parametrize(
    ("members", "outside", "to"),
    [
        (("Practitioner/licsw", "Practitioner/rn"), False, True),
        # one member the record does not hold: outside, though another member is identified
        (("Practitioner/licsw", "PractitionerRole/gone"), True, True),
        (("PractitionerRole/gone",), True, False),
        ((), False, False),
    ],
)
def test_some_reference_outside_the_selection(members: tuple[str, ...], outside: bool, to: bool) -> None:
    ctx = _Ctx(IDENTIFIED)
    assert RefersOutside(None, "identified").test(_team(*members), ctx) is outside  # type: ignore[arg-type]
    assert RefersTo(None, "identified").test(_team(*members), ctx) is to  # type: ignore[arg-type]


def test_refers_outside_reads_its_selection_as_a_negative_test() -> None:
    """Members chosen for what the other selection lacks rest on absence there, as under a ``not``."""
    assert _looked_into([RefersOutside(None, "identified")]) == [("identified", True)]  # type: ignore[arg-type]
    assert _looked_into([RefersTo(None, "identified")]) == [("identified", False)]  # type: ignore[arg-type]
