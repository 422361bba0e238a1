"""Days of attendance: a local date's sessions taken together ("3 hours per day" when a day is recorded in blocks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from cds_service.engine.context import EvaluationContext
from cds_service.engine.facts import Fact
from cds_service.engine.rules.base import Rule, RuleResult, evidence_keys
from cds_service.engine.selections import Selection
from cds_service.engine.timecalc import distinct_sessions, encounter_hours, to_local, union_hours
from cds_service.record.patient_record import Resource


def plural(n: int, title: str) -> str:
    """``1 IOP session`` / ``2 IOP sessions``."""
    return f"{n} {title}" if n == 1 or title.endswith("s") else f"{n} {title}s"


@dataclass
class DayTally:
    """One local date's members: the hours their delivered spans cover together, and those whose hours are unknown."""

    day: date
    members: list[Resource] = field(default_factory=list)
    spans: list[tuple[datetime, datetime]] = field(default_factory=list)
    unreadable: list[Resource] = field(default_factory=list)

    @property
    def hours(self) -> float:
        """Hours covered by the day's readable spans (a duplicate or an overlapping block counts once)."""
        return union_hours(self.spans)

    def reaches(self, hours: float) -> bool | None:
        """Whether the day holds ``hours``; None when it falls short only for want of a member's end or length."""
        if self.hours >= hours - 1e-9:
            return True
        return None if self.unreadable else False

    def describe(self, title: str) -> str:
        """``2025-04-14: 2.0 h over 1 IOP session (Encounter/x)``, naming a member whose hours are unknown."""
        keys = ", ".join(evidence_keys(self.members, 3))
        text = f"{self.day:%Y-%m-%d}: {self.hours:.1f} h over {plural(len(self.members), title)} ({keys})"
        if self.unreadable:
            text += f"; {', '.join(evidence_keys(self.unreadable, 3))} without an end time or length"
        return text


def dated_members(
    ctx: EvaluationContext, selection: Selection, fact: Fact | None
) -> tuple[list[tuple[datetime, Resource]], list[Resource]]:
    """The selection's members (a session recorded twice counts once) with their local time, and those with none."""
    zone = ctx.calendar.zone
    dated, undated = [], []
    for r in distinct_sessions(ctx.select(selection.name)):
        t = ctx.time_of(selection.name, r, fact)
        if t is None:
            undated.append(r)
        else:
            dated.append((to_local(t, zone), r))
    return sorted(dated, key=lambda item: item[0]), undated


def day_tallies(dated: list[tuple[datetime, Resource]]) -> list[DayTally]:
    """Members grouped by the local date they start on, earliest date first."""
    tallies: dict[date, DayTally] = {}
    for t, r in dated:
        tally = tallies.setdefault(t.date(), DayTally(t.date()))
        tally.members.append(r)
        hours = encounter_hours(r) if r.get("resourceType") == "Encounter" else None
        if hours is None:
            tally.unreadable.append(r)
        else:
            tally.spans.append((t, t + timedelta(hours=hours)))
    return [tallies[d] for d in sorted(tallies)]


@dataclass
class Services:
    """At least ``at_least`` members of ``selection`` point (``via``) at one of a day's sessions; with ``recorded``,
    a day none of whose sessions a ``recorded`` member points at is undecided, not short."""

    selection: Selection
    via: Fact
    at_least: int
    recorded: Selection | None = None

    def _linked(self, ctx: EvaluationContext, selection: Selection, members: list[Resource]) -> list[Resource]:
        keys: set[str] = set()
        for r in members:
            key = f"{r.get('resourceType')}/{r.get('id')}"
            # A service filed against a duplicate record of a session counts for the session kept.
            keys |= {key, *ctx.twins.get(key, ())}
        return [s for s in distinct_sessions(ctx.select(selection.name)) if keys & set(ctx.values(self.via, s))]

    def judge(self, ctx: EvaluationContext, members: list[Resource]) -> tuple[bool | None, str]:
        """Whether the members have enough linked services, and the count as a reason names it."""
        found = len(self._linked(ctx, self.selection, members))
        text = f"{plural(found, self.selection.title)} (at least {self.at_least} needed)"
        if found >= self.at_least:
            return True, text
        if self.recorded is not None and not self._linked(ctx, self.recorded, members):
            return None, f"its services are not recorded (no {self.recorded.title})"
        return False, text


@dataclass
class EachDay(Rule):
    """Every local date with a member reaches ``hours_at_least`` hours over its members together and, with
    ``services``, has enough services linked to its members; unknown where a member's end, length or time is missing.

    A session recorded twice, or blocks that overlap, count their time once; a member with no time at all could
    belong to any day, so a day that falls short is then unknown (DATA-PROFILE §6)."""

    selection: Selection
    time_fact: Fact | None
    hours_at_least: float | None = None
    services: Services | None = None

    def reads(self) -> list[str]:
        names = [self.selection.name]
        if self.services is not None:
            names.append(self.services.selection.name)
            if self.services.recorded is not None:
                names.append(self.services.recorded.name)
        return names

    def _judge(self, ctx: EvaluationContext, tally: DayTally) -> tuple[bool | None, str]:
        verdicts: list[tuple[bool | None, str]] = []
        if self.hours_at_least is not None:
            verdicts.append((tally.reaches(self.hours_at_least), f"at least {self.hours_at_least:g} h needed"))
        if self.services is not None:
            verdicts.append(self.services.judge(ctx, tally.members))
        for wanted in (False, None):
            failing = [why for value, why in verdicts if value is wanted]
            if failing:
                return wanted, f"{tally.describe(self.selection.title)}: {'; '.join(failing)}"
        return True, tally.describe(self.selection.title)

    def evaluate(self, ctx: EvaluationContext) -> RuleResult:
        title = self.selection.title
        dated, undated = dated_members(ctx, self.selection, self.time_fact)
        if not dated and not undated:
            return RuleResult(None, detail=f"no {title}")
        judged = [(tally, *self._judge(ctx, tally)) for tally in day_tallies(dated)]
        # A member with no time is a day of its own whose date is unknown: judged on its own hours and services.
        judged += [(DayTally(date.min, [r]), *self._undated(ctx, r)) for r in undated]
        short = [(t, why) for t, value, why in judged if value is False]
        open_ = [(t, why) for t, value, why in judged if value is None]
        days = len(judged)
        shown = " | ".join(why for _, why in short[:3])
        if short and undated:
            names = ", ".join(evidence_keys(undated, 3))
            return RuleResult(
                None,
                evidence_keys(undated + [r for t, _ in short for r in t.members]),
                f"found {title} {names} with no recorded time, which may belong to a day that falls short: {shown}",
            )
        if short:
            return RuleResult(
                False,
                evidence_keys([r for t, _ in short for r in t.members]),
                f"{len(short)} of {days} days of {title} fall short: {shown}",
            )
        if open_:
            return RuleResult(
                None,
                evidence_keys([r for t, _ in open_ for r in t.members]),
                f"{len(open_)} of {days} days of {title} undecided: {' | '.join(why for _, why in open_[:3])}",
            )
        members = [r for _, r in dated] + undated
        wants = [f"{self.hours_at_least:g} h"] if self.hours_at_least is not None else []
        if self.services is not None:
            wants.append(f"at least {plural(self.services.at_least, self.services.selection.title)}")
        what = " and ".join(wants)
        return RuleResult(
            True,
            evidence_keys(members),
            f"all {len(members)} {title} qualify: each of {plural(days, 'day')} holds {what}",
        )

    def _undated(self, ctx: EvaluationContext, r: Resource) -> tuple[bool | None, str]:
        """A member with no time passes on its own (a 3-hour length, its own services); otherwise it is undecided."""
        key = evidence_keys([r])[0]
        hours = encounter_hours(r) if r.get("resourceType") == "Encounter" else None
        if self.hours_at_least is not None and (hours is None or hours < self.hours_at_least - 1e-9):
            return None, f"{key} has no recorded time: the day it belongs to cannot be judged"
        if self.services is not None and self.services.judge(ctx, [r])[0] is not True:
            return None, f"{key} has no recorded time: the day it belongs to cannot be judged"
        return True, f"{key}: {hours or 0:.1f} h"
