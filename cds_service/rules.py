"""Rules: the closed set of criterion-level operators; each yields true, false or unknown with evidence."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cds_service.evaluation_context import EvaluationContext, resource_key
from cds_service.facts import Fact
from cds_service.outcome import Status
from cds_service.selections import (
    COMPARATORS,
    PredicateCompiler,
    Selection,
    SpecError,
    TimeBound,
    parse_time_bound,
)
from cds_service.timecalc import (
    age_at,
    calendar_days_deadline,
    encounter_hours,
    hours_deadline,
    hours_per_session,
    hours_per_week,
    period_overlaps,
    sessions_per_week,
    treatment_day_deadline,
    windows,
)


def _fmt_time(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M") if t else "unknown"


@dataclass
class RuleResult:
    """A rule's three-valued answer (None = unknown), the resources behind it and a one-line detail."""

    value: bool | None
    evidence: list[str] = field(default_factory=list)
    detail: str = ""
    due: datetime | None = None
    pending: bool = False


class Rule(ABC):
    """A criterion-level operator."""

    @abstractmethod
    def evaluate(self, ctx: EvaluationContext) -> RuleResult:
        """The rule's answer for one evaluation."""

    def criteria(self) -> set[str]:
        """Criterion ids this rule reads (for load-time validation)."""
        return set()


def _keys(resources: list[dict[str, Any]], limit: int = 20) -> list[str]:
    return [resource_key(r) for r in resources[:limit]]


@dataclass
class Always(Rule):
    value: bool

    def evaluate(self, ctx: EvaluationContext) -> RuleResult:
        return RuleResult(self.value, detail="always" if self.value else "never")


@dataclass
class Exists(Rule):
    """True when the selection (optionally narrowed) has at least ``at_least`` members; false otherwise."""

    selection: Selection
    extra: list[Any] = field(default_factory=list)
    at_least: int = 1
    at_most: int | None = None
    negate: bool = False

    def evaluate(self, ctx: EvaluationContext) -> RuleResult:
        candidates = ctx.select(self.selection.name)
        members = [r for r in candidates if all(p.test(r, ctx) for p in self.extra)] if self.extra else candidates
        ok = len(members) >= self.at_least and (self.at_most is None or len(members) <= self.at_most)
        title = self.selection.title
        value = (not ok) if self.negate else ok
        if members:
            return RuleResult(value, _keys(members), f"{len(members)} × {title}: {', '.join(_keys(members, 5))}")
        if candidates:
            # Show what was looked at: the plan exists, but not with what the criterion asks of it.
            detail = f"{len(candidates)} × {title} ({', '.join(_keys(candidates, 5))}), none with what is required"
            return RuleResult(value, _keys(candidates), detail)
        return RuleResult(value, [], f"no {title} found")


@dataclass
class Latest(Rule):
    """Compares the most recent member's value; unknown when the selection is empty."""

    selection: Selection
    value_fact: Fact
    time_fact: Fact | None
    op: str
    than: float

    def evaluate(self, ctx: EvaluationContext) -> RuleResult:
        dated = []
        for r in ctx.select(self.selection.name):
            t = ctx.time_of(self.selection.name, r, self.time_fact)
            values = ctx.values(self.value_fact, r)
            if t is not None and values:
                dated.append((t, r, values[0]))
        if not dated:
            return RuleResult(None, detail=f"no dated {self.selection.title} with a value")
        t, r, v = max(dated, key=lambda item: item[0])
        ok = COMPARATORS[self.op](v, self.than)
        return RuleResult(ok, [resource_key(r)], f"latest {self.selection.title} {v:g} on {_fmt_time(t)}")


@dataclass
class Change(Rule):
    """Compares last minus first value of a dated selection; unknown with fewer than two values."""

    selection: Selection
    value_fact: Fact
    time_fact: Fact | None
    op: str
    than: float
    relative: bool = False

    def evaluate(self, ctx: EvaluationContext) -> RuleResult:
        dated = []
        for r in ctx.select(self.selection.name):
            t = ctx.time_of(self.selection.name, r, self.time_fact)
            values = ctx.values(self.value_fact, r)
            if t is not None and values:
                dated.append((t, r, values[0]))
        if len(dated) < 2:
            return RuleResult(None, _keys([d[1] for d in dated]), f"fewer than two dated {self.selection.title}")
        dated.sort(key=lambda item: item[0])
        (t1, r1, v1), (t2, r2, v2) = dated[0], dated[-1]
        delta = (v2 - v1) / v1 * 100 if self.relative and v1 else v2 - v1
        ok = COMPARATORS[self.op](delta, self.than)
        unit = "%" if self.relative else ""
        return RuleResult(
            ok,
            [resource_key(r1), resource_key(r2)],
            f"{self.selection.title} {v1:g} ({_fmt_time(t1)}) → {v2:g} ({_fmt_time(t2)}): change {delta:+g}{unit}",
        )


@dataclass
class DueSpec:
    """When a duty falls due: an anchor plus hours, calendar days, business days or treatment days."""

    anchor: str
    hours: float | None = None
    days: int | None = None
    business_days: int | None = None
    treatment_days: int | None = None
    fallback_days: int | None = None

    def resolve(self, ctx: EvaluationContext) -> datetime | None:
        base = ctx.anchor(self.anchor)
        if base is None:
            return None
        if self.hours is not None:
            return hours_deadline(base, self.hours)
        if self.days is not None:
            return calendar_days_deadline(base, self.days)
        if self.business_days is not None:
            return ctx.calendar.business_days_deadline(base, self.business_days)
        if self.treatment_days is not None:
            due = treatment_day_deadline(ctx.session_starts, self.treatment_days)
            if due is None and self.fallback_days is not None:
                due = calendar_days_deadline(base, self.fallback_days)
            if due is None and ctx.phase == "admission":
                # At admission no session exists yet: the nth treatment day is at the earliest day n-1.
                due = calendar_days_deadline(base, self.treatment_days - 1)
            return due
        return base

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


@dataclass
class Deadline(Rule):
    """The earliest member's time is at or before the due time; pending while not due; false when late."""

    selection: Selection
    time_fact: Fact | None
    due: DueSpec
    wait: bool = True
    """False: judge now, never pending (e.g. an aftercare appointment must already be booked at discharge)."""

    def evaluate(self, ctx: EvaluationContext) -> RuleResult:
        due = self.due.resolve(ctx)
        dated = [
            (t, r)
            for r in ctx.select(self.selection.name)
            if (t := ctx.time_of(self.selection.name, r, self.time_fact)) is not None
        ]
        if due is None:
            return RuleResult(
                None, _keys([r for _, r in dated]), f"due time ({self.due.describe()}) cannot be computed"
            )
        if dated:
            t, r = min(dated, key=lambda item: item[0])
            if t <= due:
                return RuleResult(
                    True, [resource_key(r)], f"{self.selection.title} at {_fmt_time(t)}, due by {_fmt_time(due)}", due
                )
            if ctx.now < due and self.wait:
                return RuleResult(None, [resource_key(r)], f"due by {_fmt_time(due)}", due, pending=True)
            return RuleResult(
                False,
                [resource_key(r)],
                f"{self.selection.title} at {_fmt_time(t)}, after the due time {_fmt_time(due)}",
                due,
            )
        if ctx.now <= due and self.wait:
            return RuleResult(None, [], f"{self.selection.title} due by {_fmt_time(due)}", due, pending=True)
        return RuleResult(False, [], f"no {self.selection.title} by {_fmt_time(due)}", due)


def _order_timing(ctx: EvaluationContext) -> tuple[dict[str, Any] | None, str | None]:
    orders = ctx.builtins.get("iop-order") or []
    if not orders:
        return None, None
    order = orders[0]
    timing = order.get("occurrenceTiming")
    return (timing if isinstance(timing, dict) else None), resource_key(order)


@dataclass
class OrderIntensity(Rule):
    """Compares the IOP order's hours per week, sessions per week or hours per session; unknown if unreadable."""

    measure: str
    op: str
    than: float

    def evaluate(self, ctx: EvaluationContext) -> RuleResult:
        timing, key = _order_timing(ctx)
        if key is None:
            return RuleResult(None, detail="no IOP order in this call")
        measure = {
            "hours-per-week": hours_per_week,
            "sessions-per-week": sessions_per_week,
            "hours-per-session": hours_per_session,
        }[self.measure]
        value = measure(timing) if timing else None
        if value is None:
            return RuleResult(None, [key], f"the order's occurrenceTiming gives no {self.measure}")
        return RuleResult(COMPARATORS[self.op](value, self.than), [key], f"order {self.measure} {value:g}")


@dataclass
class Age(Rule):
    """Compares the patient's age at an anchor; unknown without a birth date."""

    at: TimeBound
    op: str
    than: float

    def evaluate(self, ctx: EvaluationContext) -> RuleResult:
        patients = ctx.record.of_type("Patient")
        at = self.at.resolve(ctx)
        if not patients or at is None:
            return RuleResult(None, detail="no patient birth date or anchor time")
        age = age_at(patients[0].get("birthDate"), at)
        if age is None:
            return RuleResult(None, [resource_key(patients[0])], "birth date missing or malformed")
        return RuleResult(
            COMPARATORS[self.op](age, self.than), [resource_key(patients[0])], f"age {age} at {at:%Y-%m-%d}"
        )


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
    """With hours bounds, members' hours (Encounter.length, else period end − start) are summed per window."""
    hours_at_most: float | None = None

    def evaluate(self, ctx: EvaluationContext) -> RuleResult:
        start, end = self.start.resolve(ctx), self.end.resolve(ctx)
        if start is None or end is None:
            return RuleResult(None, detail="the stay's start or end is unknown")
        times = [
            (t, r)
            for r in ctx.select(self.selection.name)
            if (t := ctx.time_of(self.selection.name, r, self.time_fact)) is not None
        ]
        spans = windows(start, end, self.days)
        if not spans:
            return RuleResult(None, detail=f"the stay is shorter than {self.days} days")
        evidence = []
        undecided = ""
        for lo, hi in spans:
            inside = [r for t, r in times if lo <= t < hi]
            if len(inside) < self.at_least:
                return RuleResult(
                    False,
                    _keys(evidence + inside),
                    f"{len(inside)} × {self.selection.title} between {lo:%Y-%m-%d} and {hi:%Y-%m-%d} "
                    f"(at least {self.at_least} needed)",
                )
            if self.at_most is not None and len(inside) > self.at_most:
                return RuleResult(
                    False,
                    _keys(inside),
                    f"{len(inside)} × {self.selection.title} between {lo:%Y-%m-%d} and {hi:%Y-%m-%d} "
                    f"(at most {self.at_most})",
                )
            if self.hours_at_least is not None or self.hours_at_most is not None:
                hours = [encounter_hours(r) for r in inside]
                span = f"between {lo:%Y-%m-%d} and {hi:%Y-%m-%d}"
                if any(h is None for h in hours):
                    undecided = undecided or f"a {self.selection.title} {span} has no duration"
                    continue
                total = sum(h for h in hours if h is not None)
                low, high = self.hours_at_least, self.hours_at_most
                if (low is not None and total < low) or (high is not None and total > high):
                    bounds = f"{low or 0:g} to {'no limit' if high is None else f'{high:g}'} h"
                    return RuleResult(False, _keys(inside), f"{total:g} h of {self.selection.title} {span} ({bounds})")
            evidence.extend(inside[: self.at_least])
        if undecided:
            return RuleResult(None, _keys(evidence), undecided)
        return RuleResult(
            True, _keys(evidence), f"{self.selection.title} in each of {len(spans)} windows of {self.days} days"
        )


@dataclass
class Each(Rule):
    """Every member of one selection passes the predicates (vacuously unknown when it is empty)."""

    selection: Selection
    predicates: list[Any]

    def evaluate(self, ctx: EvaluationContext) -> RuleResult:
        members = ctx.select(self.selection.name)
        if not members:
            return RuleResult(None, detail=f"no {self.selection.title}")
        failing = [r for r in members if not all(p.test(r, ctx) for p in self.predicates)]
        if failing:
            return RuleResult(
                False,
                _keys(failing),
                f"{len(failing)} of {len(members)} {self.selection.title} fall short: {', '.join(_keys(failing, 5))}",
            )
        return RuleResult(True, _keys(members), f"all {len(members)} {self.selection.title} qualify")


@dataclass
class Cadence(Rule):
    """No stretch between consecutive members (and from the last one to the end) spans more than N treatment days."""

    selection: Selection
    time_fact: Fact | None
    max_treatment_days: int
    start: TimeBound
    end: TimeBound

    def evaluate(self, ctx: EvaluationContext) -> RuleResult:
        start, end = self.start.resolve(ctx), self.end.resolve(ctx)
        if start is None or end is None:
            return RuleResult(None, detail="the stay's start or end is unknown")
        days = sorted({t.date() for t in ctx.session_starts if start <= t <= end})
        dated = sorted(
            (
                (t, r)
                for r in ctx.select(self.selection.name)
                if (t := ctx.time_of(self.selection.name, r, self.time_fact)) is not None and t <= end
            ),
            key=lambda item: item[0],  # members at the same instant must not be compared as dicts
        )
        if not dated:
            return RuleResult(None if not days else False, [], f"no {self.selection.title} during the stay")
        marks = [t.date() for t, _ in dated] + [end.date()]
        for lo, hi in zip(marks, marks[1:], strict=False):
            span = [d for d in days if lo < d <= hi]
            if len(span) > self.max_treatment_days:
                return RuleResult(
                    False,
                    _keys([r for _, r in dated]),
                    f"{len(span)} treatment days between {lo:%Y-%m-%d} and {hi:%Y-%m-%d} "
                    f"without a {self.selection.title} (at most {self.max_treatment_days})",
                )
        return RuleResult(
            True,
            _keys([r for _, r in dated]),
            f"{self.selection.title} at most every {self.max_treatment_days} treatment days",
        )


@dataclass
class SupplyBridge(Rule):
    """Each medication's supply from the anchor reaches the first follow-up appointment."""

    medications: Selection
    supply_days: Fact
    appointments: Selection
    appointment_time: Fact | None
    start: TimeBound

    def evaluate(self, ctx: EvaluationContext) -> RuleResult:
        start = self.start.resolve(ctx)
        meds = ctx.select(self.medications.name)
        times = sorted(
            (
                (t, r)
                for r in ctx.select(self.appointments.name)
                if (t := ctx.time_of(self.appointments.name, r, self.appointment_time)) is not None
            ),
            key=lambda item: item[0],  # appointments at the same instant must not be compared as dicts
        )
        if start is None or not meds:
            return RuleResult(None, _keys(meds), f"no {self.medications.title} or no discharge time")
        if not times:
            return RuleResult(False, _keys(meds), f"no {self.appointments.title} to bridge to")
        first, appointment = times[0]
        short, unknown = [], []
        for med in meds:
            values = ctx.values(self.supply_days, med)
            if not values:
                unknown.append(med)
            elif start + timedelta(days=values[0]) < first:
                short.append(med)
        evidence = _keys([*meds, appointment])
        if short:
            return RuleResult(
                False,
                evidence,
                f"supply of {', '.join(_keys(short))} ends before the {self.appointments.title} on {first:%Y-%m-%d}",
            )
        if unknown:
            return RuleResult(None, evidence, f"no supply duration on {', '.join(_keys(unknown))}")
        return RuleResult(True, evidence, f"supply lasts until the {self.appointments.title} on {first:%Y-%m-%d}")


@dataclass
class CriterionIs(Rule):
    """True when another criterion has one of the given statuses; unknown while it is undecided."""

    criterion: str
    statuses: frozenset[str]

    def evaluate(self, ctx: EvaluationContext) -> RuleResult:
        status = ctx.criterion_status(self.criterion) if ctx.criterion_status else None
        if status is None:
            return RuleResult(None, detail=f"{self.criterion} is not evaluated in this phase")
        return RuleResult(status.value in self.statuses, detail=f"{self.criterion} is {status.value}")

    def criteria(self) -> set[str]:
        return {self.criterion}


@dataclass
class Logic(Rule):
    """Kleene ``all`` / ``any`` over rules, or ``not``."""

    kind: str
    rules: list[Rule]

    def evaluate(self, ctx: EvaluationContext) -> RuleResult:
        results = [r.evaluate(ctx) for r in self.rules]
        if self.kind == "not":
            inner = results[0]
            return RuleResult(
                None if inner.value is None else not inner.value,
                inner.evidence,
                f"not ({inner.detail})",
                inner.due,
                inner.pending,
            )
        decisive = False if self.kind == "all" else True
        hits = [r for r in results if r.value is decisive]
        if hits:
            chosen = hits
            value: bool | None = decisive
        elif any(r.value is None for r in results):
            chosen = [r for r in results if r.value is None]
            value = None
        else:
            chosen = results
            value = not decisive
        evidence: list[str] = []
        for r in chosen:
            evidence.extend(e for e in r.evidence if e not in evidence)
        pending = value is None and any(r.pending for r in chosen)
        due = next((r.due for r in chosen if r.due), None)
        return RuleResult(value, evidence, "; ".join(dict.fromkeys(r.detail for r in chosen if r.detail)), due, pending)

    def criteria(self) -> set[str]:
        return set().union(*(r.criteria() for r in self.rules)) if self.rules else set()


class RuleCompiler:
    """Turns a rule's YAML form into a Rule, raising SpecError naming what is wrong."""

    def __init__(self, predicates: PredicateCompiler, selections: dict[str, Selection], known_ids: set[str]) -> None:
        self.predicates = predicates
        self.selections = selections
        self.known_ids = known_ids
        self.operators: dict[str, Callable[[Any], Rule]] = {
            "exists": self._exists,
            "absent": self._absent,
            "count": self._count,
            "latest": self._latest,
            "change": self._change,
            "deadline": self._deadline,
            "cadence": self._cadence,
            "bridge": self._bridge,
            "order": self._order,
            "age": self._age,
            "overlap": self._overlap,
            "every-window": self._every_window,
            "each": self._each,
            "criterion": self._criterion,
            "all": self._all,
            "any": self._any,
            "not": self._not,
        }

    def compile(self, spec: object) -> Rule:
        if spec in ("always", True):
            return Always(True)
        if spec in ("never", False):
            return Always(False)
        if not isinstance(spec, dict) or len(spec) != 1:
            raise SpecError(
                f"a rule is a mapping with exactly one operator ({', '.join(self.operators)}); got {spec!r}"
            )
        ((name, args),) = spec.items()
        if name not in self.operators:
            raise SpecError(f"unknown operator {name!r} (one of {', '.join(self.operators)})")
        return self.operators[name](args)

    def _selection(self, name: object) -> Selection:
        if isinstance(name, str) and name in self.selections:
            return self.selections[name]
        raise SpecError(f"unknown selection {name!r}")

    def _args(self, args: object, op: str, required: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(args, dict):
            raise SpecError(f"'{op}' takes a mapping")
        missing = [k for k in required if k not in args]
        if missing:
            raise SpecError(f"'{op}' needs {', '.join(missing)}")
        return args

    def _comparison(self, args: dict[str, Any], op: str) -> tuple[str, float]:
        if args.get("op") not in COMPARATORS:
            raise SpecError(f"'{op}' needs op (one of {', '.join(COMPARATORS)})")
        than = args.get("than")
        if isinstance(than, bool) or not isinstance(than, int | float):
            raise SpecError(f"'{op}' needs a numeric 'than'")
        return args["op"], float(than)

    def _time_fact(self, args: dict[str, Any], selection: Selection) -> Fact | None:
        if "time" in args:
            return self.predicates.fact(args["time"])
        if not selection.time and selection.name not in ("PROG", "SESS"):
            raise SpecError(f"selection {selection.name!r} has no 'time' fact; give 'time'")
        return None

    def _exists(self, args: object) -> Rule:
        if isinstance(args, str):
            return Exists(self._selection(args))
        a = self._args(args, "exists", ("of",))
        sel = self._selection(a["of"])
        return Exists(sel, self.predicates.compile_all(a.get("where"), None))

    def _absent(self, args: object) -> Rule:
        rule = self._exists(args)
        assert isinstance(rule, Exists)
        rule.negate = True
        return rule

    def _count(self, args: object) -> Rule:
        a = self._args(args, "count", ("of",))
        if "at-least" not in a and "at-most" not in a:
            raise SpecError("'count' needs at-least and/or at-most")
        sel = self._selection(a["of"])
        return Exists(
            sel,
            self.predicates.compile_all(a.get("where"), None),
            at_least=int(a.get("at-least", 0)),
            at_most=a.get("at-most"),
        )

    def _latest(self, args: object) -> Rule:
        a = self._args(args, "latest", ("of", "value", "op", "than"))
        sel = self._selection(a["of"])
        op, than = self._comparison(a, "latest")
        return Latest(sel, self.predicates.fact(a["value"]), self._time_fact(a, sel), op, than)

    def _change(self, args: object) -> Rule:
        a = self._args(args, "change", ("of", "value", "op", "than"))
        sel = self._selection(a["of"])
        op, than = self._comparison(a, "change")
        return Change(
            sel,
            self.predicates.fact(a["value"]),
            self._time_fact(a, sel),
            op,
            than,
            relative=bool(a.get("relative", False)),
        )

    def _deadline(self, args: object) -> Rule:
        a = self._args(args, "deadline", ("of", "due"))
        sel = self._selection(a["of"])
        if not isinstance(a.get("pending", True), bool):
            raise SpecError("'deadline' pending must be true or false")
        return Deadline(sel, self._time_fact(a, sel), parse_due(a["due"]), wait=a.get("pending", True))

    def _order(self, args: object) -> Rule:
        a = self._args(args, "order", ("measure", "op", "than"))
        if a["measure"] not in ("hours-per-week", "sessions-per-week", "hours-per-session"):
            raise SpecError("'order' measure is hours-per-week, sessions-per-week or hours-per-session")
        op, than = self._comparison(a, "order")
        return OrderIntensity(a["measure"], op, than)

    def _age(self, args: object) -> Rule:
        a = self._args(args, "age", ("at", "op", "than"))
        op, than = self._comparison(a, "age")
        return Age(parse_time_bound(a["at"]), op, than)

    def _overlap(self, args: object) -> Rule:
        a = self._args(args, "overlap", ("of", "with", "start", "end"))
        return Overlap(
            self._selection(a["of"]),
            self._selection(a["with"]),
            self.predicates.fact(a["start"]),
            self.predicates.fact(a["end"]),
        )

    def _every_window(self, args: object) -> Rule:
        a = self._args(args, "every-window", ("of", "days", "from", "to"))
        sel = self._selection(a["of"])
        return EveryWindow(
            sel,
            self._time_fact(a, sel),
            int(a["days"]),
            parse_time_bound(a["from"]),
            parse_time_bound(a["to"]),
            int(a.get("at-least", 1)),
            int(a["at-most"]) if "at-most" in a else None,
            hours_at_least=self._hours_bound(a, "hours-at-least"),
            hours_at_most=self._hours_bound(a, "hours-at-most"),
        )

    @staticmethod
    def _hours_bound(args: dict[str, Any], key: str) -> float | None:
        value = args.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise SpecError(f"'every-window' {key} must be a non-negative number")
        return float(value)

    def _cadence(self, args: object) -> Rule:
        a = self._args(args, "cadence", ("of", "max-treatment-days", "from", "to"))
        sel = self._selection(a["of"])
        return Cadence(
            sel,
            self._time_fact(a, sel),
            int(a["max-treatment-days"]),
            parse_time_bound(a["from"]),
            parse_time_bound(a["to"]),
        )

    def _bridge(self, args: object) -> Rule:
        a = self._args(args, "bridge", ("of", "supply-days", "until", "from"))
        until = self._selection(a["until"])
        return SupplyBridge(
            self._selection(a["of"]),
            self.predicates.fact(a["supply-days"]),
            until,
            self._time_fact({}, until),
            parse_time_bound(a["from"]),
        )

    def _each(self, args: object) -> Rule:
        a = self._args(args, "each", ("of", "where"))
        return Each(self._selection(a["of"]), self.predicates.compile_all(a["where"], None))

    def _criterion(self, args: object) -> Rule:
        if isinstance(args, str):
            args = {"id": args, "is": ["met"]}
        a = self._args(args, "criterion", ("id",))
        if a["id"] not in self.known_ids:
            raise SpecError(f"unknown criterion {a['id']!r}")
        statuses = a.get("is", ["met"])
        statuses = [statuses] if isinstance(statuses, str) else statuses
        valid = {s.value for s in Status}
        if not statuses or any(s not in valid for s in statuses):
            raise SpecError(f"'criterion' is must be statuses among {', '.join(sorted(valid))}")
        return CriterionIs(a["id"], frozenset(statuses))

    def _logic(self, kind: str, args: object) -> Rule:
        if not isinstance(args, list) or not args:
            raise SpecError(f"'{kind}' takes a non-empty list of rules")
        return Logic(kind, [self.compile(a) for a in args])

    def _all(self, args: object) -> Rule:
        return self._logic("all", args)

    def _any(self, args: object) -> Rule:
        return self._logic("any", args)

    def _not(self, args: object) -> Rule:
        return Logic("not", [self.compile(args)])
