"""Criterion statuses and the Kleene three-valued combination of groups."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Status(StrEnum):
    """Outcome of a criterion or group; the last two are gates, left out of group verdicts."""

    MET = "met"
    NOT_MET = "not-met"
    UNKNOWN = "unknown"
    NOT_APPLICABLE = "not-applicable"
    PENDING = "pending"


_COUNTED = (Status.MET, Status.NOT_MET, Status.UNKNOWN)


def _counted(children: Iterable[Status]) -> list[Status]:
    return [c for c in children if c in _COUNTED]


def all_of(children: Iterable[Status]) -> Status:
    """Not-met if any child is not-met, else unknown if any is unknown, else met; N/A when nothing counts."""
    counted = _counted(children)
    if not counted:
        return Status.NOT_APPLICABLE
    if Status.NOT_MET in counted:
        return Status.NOT_MET
    if Status.UNKNOWN in counted:
        return Status.UNKNOWN
    return Status.MET


def any_of(children: Iterable[Status]) -> Status:
    """Met if any child is met, else unknown if any is unknown, else not-met; N/A when nothing counts."""
    counted = _counted(children)
    if not counted:
        return Status.NOT_APPLICABLE
    if Status.MET in counted:
        return Status.MET
    if Status.UNKNOWN in counted:
        return Status.UNKNOWN
    return Status.NOT_MET


def n_of(children: Iterable[Status], n: int) -> Status:
    """Met if at least n children are met, not-met if even every unknown turning met could not reach n."""
    counted = _counted(children)
    if not counted:
        return Status.NOT_APPLICABLE
    met = counted.count(Status.MET)
    unknown = counted.count(Status.UNKNOWN)
    if met >= n:
        return Status.MET
    if met + unknown < n:
        return Status.NOT_MET
    return Status.UNKNOWN


def combine(kind: str, children: Iterable[Status], n: int = 1) -> Status:
    """Combine child statuses by group kind ``all-of`` | ``any-of`` | ``n-of``."""
    if kind == "all-of":
        return all_of(children)
    if kind == "any-of":
        return any_of(children)
    if kind == "n-of":
        return n_of(children, n)
    raise ValueError(f"unknown group kind {kind!r}")
