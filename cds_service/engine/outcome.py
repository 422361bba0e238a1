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


def _undecided(children: list[Status]) -> Status | None:
    """Unknown if a member is unknown, else pending if one is pending: what keeps a group from its verdict."""
    if Status.UNKNOWN in children:
        return Status.UNKNOWN
    if Status.PENDING in children:
        return Status.PENDING
    return None


def all_of(children: Iterable[Status]) -> Status:
    """Not-met if any child is not-met, else unknown / pending while any child is, else met; N/A when nothing counts.

    A group is never met while a member is still pending or unknown, and a group whose members are all pending is
    pending, not "not applicable"."""
    children = list(children)
    if Status.NOT_MET in children:
        return Status.NOT_MET
    undecided = _undecided(children)
    if undecided is not None:
        return undecided
    return Status.MET if Status.MET in children else Status.NOT_APPLICABLE


def any_of(children: Iterable[Status]) -> Status:
    """Met if any child is met, else unknown / pending while any child is, else not-met; N/A when nothing counts."""
    children = list(children)
    if Status.MET in children:
        return Status.MET
    undecided = _undecided(children)
    if undecided is not None:
        return undecided
    return Status.NOT_MET if Status.NOT_MET in children else Status.NOT_APPLICABLE


def n_of(children: Iterable[Status], n: int) -> Status:
    """Met if at least n children are met, not-met if even every undecided one turning met could not reach n."""
    children = list(children)
    counted = _counted(children)
    pending = children.count(Status.PENDING)
    if not counted and not pending:
        return Status.NOT_APPLICABLE
    met = counted.count(Status.MET)
    unknown = counted.count(Status.UNKNOWN)
    if met >= n:
        return Status.MET
    if met + unknown + pending < n:
        return Status.NOT_MET
    return Status.UNKNOWN if unknown else Status.PENDING


def combine(kind: str, children: Iterable[Status], n: int = 1) -> Status:
    """Combine child statuses by group kind ``all-of`` | ``any-of`` | ``n-of``."""
    if kind == "all-of":
        return all_of(children)
    if kind == "any-of":
        return any_of(children)
    if kind == "n-of":
        return n_of(children, n)
    raise ValueError(f"unknown group kind {kind!r}")
