"""Per-record indexes that turn code tests and time windows into look-ups instead of scans.

Every index holds *positions* (a resource's place in ``PatientRecord.of_type``), so candidates keep arrival order and
indexes combine by set intersection. An index only narrows the candidates: the predicates and the scope are still
tested on every candidate, so what a selection means is decided in one place (``engine.selections``).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cds_service.record.patient_record import Resource

SLACK = timedelta(days=2)
"""Windows are widened by this much before the look-up: the exact test (instants or local dates, any UTC offset)
then decides at the edges, so the index never drops a resource the test would keep."""


@dataclass
class TimeIndex:
    """Positions of the resources of one type sorted by a time, plus the positions that have no such time."""

    times: list[datetime] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    undated: list[int] = field(default_factory=list)

    def between(self, low: datetime | None, high: datetime | None) -> set[int]:
        """Positions with a time in ``[low - SLACK, high + SLACK]`` (an open end is unbounded)."""
        start = 0 if low is None else bisect_left(self.times, low - SLACK)
        stop = len(self.times) if high is None else bisect_right(self.times, high + SLACK)
        return set(self.positions[start:stop])


def build_time_index(resources: Iterable[Resource], times_of: Callable[[Resource], list[datetime]]) -> TimeIndex | None:
    """Index every time ``times_of`` gives for each resource; None when the times cannot be ordered."""
    pairs: list[tuple[datetime, int]] = []
    undated: list[int] = []
    for position, resource in enumerate(resources):
        times = times_of(resource)
        if not times:
            undated.append(position)
        pairs.extend((t, position) for t in times)
    try:
        pairs.sort(key=lambda pair: pair[0])
    except TypeError:  # naive and aware instants mixed: leave it to the exact test
        return None
    return TimeIndex([t for t, _ in pairs], [p for _, p in pairs], undated)


def coded_positions(index: dict[tuple[Any, Any], list[int]], contains: Callable[[Any, Any], bool]) -> set[int]:
    """Positions whose (system, code) a value set contains."""
    return {position for (system, code), positions in index.items() if contains(system, code) for position in positions}
