"""Operators over time: deadlines, overlap with a stay, rolling windows, cadences and supply bridges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cds_service.engine.context import EvaluationContext, resource_key
from cds_service.engine.facts import Fact
from cds_service.engine.rules.base import (
    Rule,
    RuleResult,
    evidence_keys,
    format_time,
    set_aside_detail,
    unreadable_detail,
)
from cds_service.engine.rules.days import dated_members, day_tallies
from cds_service.engine.selections import (
    Selection,
    SpecError,
    TimeBound,
    parse_time_bound,
)
from cds_service.engine.timecalc import (
    calendar_days_deadline,
    date_span,
    hours_deadline,
    local_date,
    period_overlaps,
    to_local,
    treatment_day_deadline,
    windows,
)
from cds_service.record.patient_record import Resource


@dataclass
class DueSpec:
    """When a duty falls due: an anchor plus exact hours, local calendar days, business days or treatment days."""

    anchor: str
    hours: float | None = None
    days: int | None = None
    business_days: int | None = None
    treatment_days: int | None = None
    fallback_days: int | None = None

    def resolve(self, ctx: EvaluationContext) -> datetime | None:
        """The due time in the site's zone (calendar and business days end at local midnight)."""
        base = ctx.anchor(self.anchor)
        if base is None:
            return None
        zone = ctx.calendar.zone
        if self.hours is not None:
            return hours_deadline(base, self.hours, zone)
        if self.days is not None:
            return calendar_days_deadline(base, self.days, zone)
        if self.business_days is not None:
            return ctx.calendar.business_days_deadline(base, self.business_days)
        if self.treatment_days is not None:
            due = treatment_day_deadline(ctx.session_starts, self.treatment_days, zone)
            if due is None and self.fallback_days is not None:
                due = calendar_days_deadline(base, self.fallback_days, zone)
            if due is None and ctx.phase == "admission":
                # At admission no session exists yet: the nth treatment day is at the earliest day n-1.
                due = calendar_days_deadline(base, self.treatment_days - 1, zone)
            return due
        return hours_deadline(base, 0, zone)

    @property
    def of_the_stay(self) -> bool:
        """A duty of the stay (anchored anywhere but discharge), as opposed to one about what follows discharge."""
        return self.anchor != "TD"

    def describe(self) -> str:
        for amount, unit in (
            (self.hours, "h"),
            (self.days, " calendar days"),
            (self.business_days, " business days"),
            (self.treatment_days, " treatment days"),
        ):
            if amount is not None:
                return f"{self.anchor} + {amount:g}{unit}"
        return self.anchor


def parse_due(spec: object) -> DueSpec:
    """``{from: T0, hours|days|business-days|treatment-days: N, fallback-days?: N}``."""
    if not isinstance(spec, dict):
        raise SpecError(f"'due' must be a mapping, got {spec!r}")
    anchor = parse_time_bound(spec.get("from", "T0")).anchor
    kinds = [k for k in ("hours", "days", "business-days", "treatment-days") if k in spec]
    if len(kinds) != 1:
        raise SpecError("'due' needs exactly one of hours, days, business-days, treatment-days")
    amount = spec[kinds[0]]
    if isinstance(amount, bool) or not isinstance(amount, int | float) or amount < 0:
        raise SpecError(f"'due' {kinds[0]} must be a non-negative number")
    return DueSpec(
        anchor=anchor,
        hours=float(amount) if kinds[0] == "hours" else None,
        days=int(amount) if kinds[0] == "days" else None,
        business_days=int(amount) if kinds[0] == "business-days" else None,
        treatment_days=int(amount) if kinds[0] == "treatment-days" else None,
        fallback_days=spec.get("fallback-days"),
    )


def _dated(ctx: EvaluationContext, selection: Selection, fact: Fact | None) -> list[tuple[datetime, Resource]]:
    """Members of a selection with their time in the site's zone (a date reads as local midnight), earliest first."""
    zone = ctx.calendar.zone
    dated = [
        (to_local(t, zone), r)
        for r in ctx.select(selection.name)
        if (t := ctx.time_of(selection.name, r, fact)) is not None
    ]
    return sorted(dated, key=lambda item: item[0])  # members at the same instant must not be compared as dicts


def _undated(ctx: EvaluationContext, selection: Selection, fact: Fact | None) -> list[Resource]:
    """Members of a selection that carry no time at all (kept because they are in force)."""
    return [r for r in ctx.select(selection.name) if ctx.time_of(selection.name, r, fact) is None]


def _unless_undated(
    ctx: EvaluationContext, selection: Selection, fact: Fact | None, result: RuleResult, due: datetime | None = None
) -> RuleResult:
    """A failing result, unless a member kept in force carries no time: whether it was in time cannot be judged.

    DATA-PROFILE §6: not-met needs a duty whose deadline has passed with *nothing recorded*."""
    due = due or result.due
    if result.value is not False or due is None:
        return result
    undated = _undated(ctx, selection, fact)
    if not undated:
        return result
    names = ", ".join(resource_key(r) for r in undated[:3])
    return RuleResult(
        None,
        evidence_keys(undated) + result.evidence,
        f"found {selection.title} {names} with no recorded time: whether it was made by "
        f"{format_time(due, ctx.calendar.zone)} cannot be judged",
        due,
    )


def _stay_ended(ctx: EvaluationContext) -> datetime | None:
    """TD when the stay has ended (the discharge phase), else None (TD is only "now")."""
    return ctx.anchor("TD") if ctx.phase == "discharge" else None


@dataclass
class Deadline(Rule):
    """The earliest member's time is at or before the due time; pending while not due; false when late.

    A duty of the stay that falls due after the stay ended is not due at all (true, ``not_due``). A duty about
    what follows discharge (due from TD) is judged at discharge on what is scheduled: never pending there."""

    selection: Selection
    time_fact: Fact | None
    due: DueSpec
    wait: bool = True
    """False: judge now, never pending (e.g. an aftercare appointment must already be booked at discharge)."""

    def evaluate(self, ctx: EvaluationContext) -> RuleResult:
        return _unless_undated(ctx, self.selection, self.time_fact, self._evaluate(ctx))

    def _evaluate(self, ctx: EvaluationContext) -> RuleResult:
        zone = ctx.calendar.zone
        due = self.due.resolve(ctx)
        dated = _dated(ctx, self.selection, self.time_fact)
        if due is None:
            return RuleResult(
                None, evidence_keys([r for _, r in dated]), f"due time ({self.due.describe()}) cannot be computed"
            )
        ended = _stay_ended(ctx)
        never_owed = self.due.of_the_stay and ended is not None and due > ended
        wait = self.wait and not (ended is not None and not self.due.of_the_stay)
        # A date without a time is met by its due time only when its whole date is (DATA-PROFILE §6, "Dates without
        # a time" in DECISIONS): the first member that surely was in time.
        in_time = next(((t, r) for t, r in dated if date_span(t)[1] <= due), None)
        if in_time is not None:
            t, r = in_time
            return RuleResult(
                True,
                [resource_key(r)],
                f"{self.selection.title} at {format_time(t, zone)}, due by {format_time(due, zone)}",
                due,
            )
        if never_owed:
            return RuleResult(
                True,
                [],
                f"not due: the stay ended at {format_time(ended, zone)}, before the {self.selection.title} "
                f"fell due ({format_time(due, zone)})",
                due,
                not_due=True,
            )
        if dated:
            t, r = dated[0]
            if ctx.now < due and wait:
                return RuleResult(None, [resource_key(r)], f"due by {format_time(due, zone)}", due, pending=True)
            if date_span(t)[0] <= due:  # dated on the due time's own date, with no time: either side of it
                return RuleResult(
                    None,
                    [resource_key(r)],
                    f"{self.selection.title} dated {local_date(t, zone):%Y-%m-%d} without a time: whether it was by "
                    f"{format_time(due, zone)} cannot be judged",
                    due,
                )
            return RuleResult(
                False,
                [resource_key(r)],
                f"{self.selection.title} at {format_time(t, zone)}, after the due time {format_time(due, zone)}",
                due,
            )
        if ctx.now <= due and wait:
            return RuleResult(None, [], f"{self.selection.title} due by {format_time(due, zone)}", due, pending=True)
        if not self.due.of_the_stay:
            return RuleResult(
                False,
                [],
                f"no {self.selection.title} scheduled within {self.due.describe()}: it must be booked for a time "
                f"by {format_time(due, zone)}",
                due,
                absence=True,
                overdue=True,
            )
        detail = f"no {self.selection.title} by {format_time(due, zone)}{set_aside_detail(ctx, self.selection)}"
        return RuleResult(False, [], detail, due, absence=True, overdue=True)


@dataclass
class Recurring(Rule):
    """A duty every N calendar days, each occurrence due N days after the previous one (the first after ``start``
    or the earliest member of ``initial``); every occurrence that fell due by TD is checked."""

    selection: Selection
    time_fact: Fact | None
    days: int
    start: TimeBound
    initial: Selection | None = None

    def evaluate(self, ctx: EvaluationContext) -> RuleResult:
        result = _unless_undated(ctx, self.selection, self.time_fact, self._evaluate(ctx))
        if self.initial is None or result.value is False or _dated(ctx, self.initial, None):
            return result
        # An unreadable initial occurrence may precede ``start``: only an overdue answer holds whatever it was.
        gaps = ctx.gaps_of([self.initial.name])
        if not gaps:
            return result
        detail = f"{result.detail}, counted from the start as no {self.initial.title} could be read"
        return RuleResult(None, result.evidence, unreadable_detail(gaps, detail), result.due, gaps=tuple(gaps))

    def _evaluate(self, ctx: EvaluationContext) -> RuleResult:
        zone = ctx.calendar.zone
        first = _dated(ctx, self.initial, None) if self.initial is not None else []
        start = first[0][0] if first else self.start.resolve(ctx)
        end = ctx.anchor("TD")
        if start is None or end is None:
            return RuleResult(None, detail=f"the start of the stay or its end is unknown ({self.selection.title})")
        times = [(t, r) for t, r in _dated(ctx, self.selection, self.time_fact) if t > start]
        previous, done = start, []
        while True:
            due = calendar_days_deadline(previous, self.days, zone)
            inside = [(t, r) for t, r in times if previous < t <= min(due, end)]
            if inside:
                previous = inside[-1][0]
                done.append(inside[-1])
                continue
            if due <= end:
                return RuleResult(
                    False,
                    evidence_keys([r for _, r in done]),
                    f"no {self.selection.title} between {format_time(previous, zone)} and {format_time(due, zone)} "
                    f"(occurrence {len(done) + 1}, every {self.days} days)",
                    due,
                    absence=True,
                    overdue=True,
                )
            break
        ended = _stay_ended(ctx)
        evidence = evidence_keys([r for _, r in done])
        if done:
            listed = ", ".join(f"{format_time(t, zone)}" for t, _ in done)
            after = "" if ended else f"; next due by {format_time(due, zone)}"
            return RuleResult(True, evidence, f"{self.selection.title} at {listed}{after}", due)
        if ended is not None:
            return RuleResult(
                True,
                [],
                f"not due: the stay ended at {format_time(ended, zone)}, before the first {self.selection.title} "
                f"fell due ({format_time(due, zone)})",
                due,
                not_due=True,
            )
        return RuleResult(None, [], f"{self.selection.title} due by {format_time(due, zone)}", due, pending=True)


@dataclass
class Overlap(Rule):
    """True when a member of one selection overlaps a member of the other in time."""

    a: Selection
    b: Selection
    start: Fact
    end: Fact

    def evaluate(self, ctx: EvaluationContext) -> RuleResult:
        def first(fact: Fact, resource: dict[str, Any]) -> datetime | None:
            values = ctx.values(fact, resource)
            return values[0] if values else None

        unknown = False
        for ra in ctx.select(self.a.name):
            for rb in ctx.select(self.b.name):
                if ra is rb:
                    continue
                overlap = period_overlaps(
                    first(self.start, ra), first(self.end, ra), first(self.start, rb), first(self.end, rb)
                )
                if overlap:
                    return RuleResult(
                        True, [resource_key(ra), resource_key(rb)], f"{resource_key(ra)} overlaps {resource_key(rb)}"
                    )
                unknown = unknown or overlap is None
        if unknown:
            return RuleResult(None, detail=f"a {self.a.title} or {self.b.title} has no start time")
        return RuleResult(False, detail=f"no {self.a.title} overlaps a {self.b.title}")


@dataclass
class EveryWindow(Rule):
    """Every window of N days from one anchor to another holds at least ``at_least`` members of the selection."""

    selection: Selection
    time_fact: Fact | None
    days: int
    start: TimeBound
    end: TimeBound
    at_least: int = 1
    at_most: int | None = None
    hours_at_least: float | None = None
    """With hours bounds, the hours the window's members cover (overlapping or duplicate records once) are compared."""
    hours_at_most: float | None = None
    distinct_days: bool = False
    """Count the local dates with a member ("days of attendance"), not the members: two records of one day are one."""
    day_hours_at_least: float | None = None
    """Count only the local dates whose members together cover this many hours ("3 hours per day, 2 days a week")."""

    def evaluate(self, ctx: EvaluationContext) -> RuleResult:
        result = self._evaluate(ctx)
        if result.value is not False or not result.absence:
            return result
        # A member with no time could fall in the week that looks short (DATA-PROFILE §6).
        undated = dated_members(ctx, self.selection, self.time_fact)[1]
        if not undated:
            return result
        names = ", ".join(evidence_keys(undated, 3))
        return RuleResult(
            None,
            evidence_keys(undated) + result.evidence,
            f"found {self.selection.title} {names} with no recorded time, which may fall in the week that looks "
            f"short: {result.detail}",
            result.due,
        )

    def _evaluate(self, ctx: EvaluationContext) -> RuleResult:
        start, end = self.start.resolve(ctx), self.end.resolve(ctx)
        if start is None or end is None:
            return RuleResult(None, detail="the stay's start or end is unknown")
        times = dated_members(ctx, self.selection, self.time_fact)[0]
        spans = windows(start, end, self.days, ctx.calendar.zone)
        if not spans:
            return RuleResult(None, detail=f"the stay is shorter than {self.days} days")
        evidence = []
        undecided = ""
        per_day = self.distinct_days or self.day_hours_at_least is not None
        unit = " on distinct days" if per_day else ""
        title = self.selection.title
        if self.day_hours_at_least is not None:
            title = f"day with at least {self.day_hours_at_least:g} h of {title}"
        for lo, hi in spans:
            inside = [(t, r) for t, r in times if lo <= t < hi]
            members = [r for _, r in inside]
            tallies = day_tallies(inside)
            span = f"between {lo:%Y-%m-%d} and {hi - timedelta(days=1):%Y-%m-%d}"
            count = len(tallies) if per_day else len(members)
            possible = count
            short_days = ""
            if self.day_hours_at_least is not None:
                verdicts = [(tally, tally.reaches(self.day_hours_at_least)) for tally in tallies]
                count = sum(1 for _, v in verdicts if v is True)
                possible = sum(1 for _, v in verdicts if v is not False)
                short = [tally.describe(self.selection.title) for tally, v in verdicts if v is False]
                short_days = f"; short: {' | '.join(short[:3])}" if short else ""
            if possible < self.at_least:
                return RuleResult(
                    False,
                    evidence_keys(evidence + members),
                    f"{count} × {title}{unit} {span} (at least {self.at_least} needed){short_days}",
                    min(hi, end),
                    absence=True,
                    overdue=True,
                )
            if self.at_most is not None and count > self.at_most:
                return RuleResult(
                    False,
                    evidence_keys(members),
                    f"{count} × {title}{unit} {span} (at most {self.at_most})",
                )
            if count < self.at_least:
                undecided = undecided or f"a {self.selection.title} {span} has no end time or length"
                continue
            if self.hours_at_least is not None or self.hours_at_most is not None:
                verdict = self._hours(inside, span)
                if verdict is not None and verdict.value is False:
                    return verdict
                if verdict is not None:
                    undecided = undecided or verdict.detail
                    continue
            evidence.extend(members[: self.at_least])
        if undecided:
            return RuleResult(None, evidence_keys(evidence), undecided)
        return RuleResult(True, evidence_keys(evidence), f"{title} in each of {len(spans)} windows of {self.days} days")

    def _hours(self, inside: list[tuple[datetime, Resource]], span: str) -> RuleResult | None:
        """None when the window's hours are within bounds; false when outside; unknown when a member's hours are
        missing and the readable ones do not settle it."""
        tallies = day_tallies(inside)
        total = sum(t.hours for t in tallies)
        unreadable = any(t.unreadable for t in tallies)
        low, high = self.hours_at_least, self.hours_at_most
        bounds = f"{low or 0:g} to {'no limit' if high is None else f'{high:g}'} h"
        members = [r for _, r in inside]
        if high is not None and total > high + 1e-9:
            return RuleResult(False, evidence_keys(members), f"{total:g} h of {self.selection.title} {span} ({bounds})")
        if low is not None and total < low - 1e-9:
            if unreadable:
                return RuleResult(None, detail=f"a {self.selection.title} {span} has no end time or length")
            return RuleResult(False, evidence_keys(members), f"{total:g} h of {self.selection.title} {span} ({bounds})")
        if unreadable and high is not None:
            return RuleResult(None, detail=f"a {self.selection.title} {span} has no end time or length")
        return None


@dataclass
class Cadence(Rule):
    """No stretch between consecutive members (and from the last one to the end) spans more than N treatment days."""

    selection: Selection
    time_fact: Fact | None
    max_treatment_days: int
    start: TimeBound
    end: TimeBound

    def evaluate(self, ctx: EvaluationContext) -> RuleResult:
        return _unless_undated(ctx, self.selection, self.time_fact, self._evaluate(ctx), self.end.resolve(ctx))

    def _evaluate(self, ctx: EvaluationContext) -> RuleResult:
        start, end = self.start.resolve(ctx), self.end.resolve(ctx)
        if start is None or end is None:
            return RuleResult(None, detail="the stay's start or end is unknown")
        zone = ctx.calendar.zone
        days = sorted({local_date(t, zone) for t in ctx.session_starts if start <= t <= end})
        dated = [(t, r) for t, r in _dated(ctx, self.selection, self.time_fact) if t <= end]
        if not dated:
            return RuleResult(
                None if not days else False,
                [],
                f"no {self.selection.title} during the stay",
                absence=True,
                overdue=True,
            )
        marks = [local_date(t, zone) for t, _ in dated] + [local_date(end, zone)]
        for lo, hi in zip(marks, marks[1:], strict=False):
            span = [d for d in days if lo < d <= hi]
            if len(span) > self.max_treatment_days:
                return RuleResult(
                    False,
                    evidence_keys([r for _, r in dated]),
                    f"{len(span)} treatment days between {lo:%Y-%m-%d} and {hi:%Y-%m-%d} "
                    f"without a {self.selection.title} (at most {self.max_treatment_days})",
                    absence=True,
                    overdue=True,
                )
        return RuleResult(
            True,
            evidence_keys([r for _, r in dated]),
            f"{self.selection.title} at most every {self.max_treatment_days} treatment days",
        )


# UCUM codes and spelled-out units of expectedSupplyDuration, in days (a month as 30 days, the pharmacy convention).
_SUPPLY_UNIT_DAYS = {"d": 1.0, "day": 1.0, "days": 1.0, "wk": 7.0, "week": 7.0, "weeks": 7.0, "mo": 30.0}
_SUPPLY_UNIT_DAYS |= {"month": 30.0, "months": 30.0}
# Timing.repeat.periodUnit -> periods per day; Timing.code (v3 GTSAbbreviation) -> administrations per day.
_PERIODS_PER_DAY = {"h": 24.0, "d": 1.0, "wk": 1 / 7, "mo": 1 / 30}
_GTS_PER_DAY = {"QD": 1.0, "AM": 1.0, "PM": 1.0, "BID": 2.0, "TID": 3.0, "QID": 4.0, "QOD": 0.5, "Q4H": 6.0}
_GTS_PER_DAY |= {"Q6H": 4.0, "Q8H": 3.0, "Q12H": 2.0}
_DOSE_UNITS = {"tab": "tablet", "tabs": "tablet", "tablets": "tablet", "tbl": "tablet", "cap": "capsule"}
_DOSE_UNITS |= {"caps": "capsule", "capsules": "capsule", "milligram": "mg", "milligrams": "mg", "ml": "ml"}


def _dose_units(quantity: dict[str, Any]) -> set[str]:
    """A quantity's unit as its code and its spelled unit say, lower-cased without braces, common spellings merged."""
    units = set()
    for raw in (quantity.get("code"), quantity.get("unit")):
        if isinstance(raw, str) and raw.strip():
            unit = raw.strip().strip("{}").lower()
            units.add(_DOSE_UNITS.get(unit, unit))
    return units


def _doses_per_day(timing: Any) -> float | None:
    """Administrations per day a Timing states (frequency per period, the times of day, or its code); None if not."""
    if not isinstance(timing, dict):
        return None
    repeat = timing.get("repeat")
    if isinstance(repeat, dict) and not repeat.get("dayOfWeek"):
        if "frequency" in repeat or "period" in repeat:
            per_day = _PERIODS_PER_DAY.get(str(repeat.get("periodUnit")))
            frequency, period = repeat.get("frequency", 1), repeat.get("period")
            if per_day and isinstance(period, int | float) and period > 0 and isinstance(frequency, int | float):
                return frequency * per_day / period
            return None
        times = repeat.get("timeOfDay") or repeat.get("when")
        return float(len(times)) if isinstance(times, list) and times else None
    if repeat is None:
        codes = [c.get("code") for c in (timing.get("code") or {}).get("coding", []) if isinstance(c, dict)]
        return next((_GTS_PER_DAY[c] for c in codes if c in _GTS_PER_DAY), None)
    return None


def computed_supply_days(quantity: Any, instructions: list[Any]) -> float | None:
    """Days one fill lasts: the dispensed quantity over the structured daily dose, in the same unit; None when a dose
    is as needed, a range, only in text, of another unit than the quantity, or the instructions are sequential."""
    if not isinstance(quantity, dict) or not isinstance(quantity.get("value"), int | float) or not instructions:
        return None
    units = _dose_units(quantity)
    if not units or len({str(i.get("sequence")) for i in instructions if isinstance(i, dict)}) > 1:
        return None
    daily = 0.0
    for instruction in instructions:
        as_needed = isinstance(instruction, dict) and (
            instruction.get("asNeededBoolean") or "asNeededCodeableConcept" in instruction
        )
        if not isinstance(instruction, dict) or as_needed:
            return None
        doses = [d.get("doseQuantity") for d in instruction.get("doseAndRate") or [] if isinstance(d, dict)]
        dose = doses[0] if len(doses) == 1 else None
        per_day = _doses_per_day(instruction.get("timing"))
        if not isinstance(dose, dict) or not isinstance(dose.get("value"), int | float) or per_day is None:
            return None
        if not _dose_units(dose) & units:
            return None
        daily += dose["value"] * per_day
    return quantity["value"] / daily if daily > 0 else None


@dataclass
class SupplyBridge(Rule):
    """Each medication's supply from the anchor (one fill times 1 + refills, in the fill's unit) reaches the first
    follow-up appointment."""

    medications: Selection
    supply_days: Fact
    appointments: Selection
    appointment_time: Fact | None
    start: TimeBound
    refills: Fact | None = None
    supply_unit: Fact | None = None
    quantity: Fact | None = None
    dosage: Fact | None = None

    def _fill_days(self, ctx: EvaluationContext, med: Resource) -> float | None:
        """Days one fill lasts: its stated duration in its unit, else its quantity over the structured daily dose."""
        values = ctx.values(self.supply_days, med)
        if not values:
            if self.quantity is None or self.dosage is None:
                return None
            quantities = ctx.values(self.quantity, med)
            return computed_supply_days(quantities[0] if quantities else None, ctx.values(self.dosage, med))
        per_day = 1.0
        if self.supply_unit is not None:
            units = ctx.values(self.supply_unit, med)
            if units:
                per_day = _SUPPLY_UNIT_DAYS.get(str(units[0]).strip().lower(), 0.0)
                if not per_day:
                    return None
        return float(values[0]) * per_day

    def _days(self, ctx: EvaluationContext, med: Resource) -> float | None:
        """Days of supply the prescription covers, refills included; None when the supply cannot be read."""
        fill = self._fill_days(ctx, med)
        if fill is None:
            return None
        repeats = ctx.values(self.refills, med) if self.refills is not None else []
        return fill * (1 + max(0, int(repeats[0]) if repeats else 0))

    def evaluate(self, ctx: EvaluationContext) -> RuleResult:
        zone = ctx.calendar.zone
        start = self.start.resolve(ctx)
        meds = ctx.select(self.medications.name)
        times = _dated(ctx, self.appointments, self.appointment_time)
        if start is None or not meds:
            return RuleResult(None, evidence_keys(meds), f"no {self.medications.title} or no discharge time")
        if not times:
            return RuleResult(False, evidence_keys(meds), f"no {self.appointments.title} to bridge to", absence=True)
        first, appointment = times[0]
        short, unknown = [], []
        for med in meds:
            days = self._days(ctx, med)
            if days is None:
                unknown.append(med)
            elif local_date(start, zone) + timedelta(days=days) < local_date(first, zone):
                short.append((med, days))
        evidence = evidence_keys([*meds, appointment])
        if short:
            listed = ", ".join(f"{resource_key(m)} ({d:g} days)" for m, d in short)
            return RuleResult(
                False,
                evidence,
                f"supply of {listed} ends before the {self.appointments.title} on {local_date(first, zone):%Y-%m-%d}",
            )
        if unknown:
            how = ", nor a quantity and a structured daily dose to compute it from" if self.quantity else ""
            return RuleResult(None, evidence, f"no supply duration on {', '.join(evidence_keys(unknown))}{how}")
        day = local_date(first, zone)
        return RuleResult(True, evidence, f"supply lasts until the {self.appointments.title} on {day:%Y-%m-%d}")
