"""Selections: named, filtered sets of resources (``from`` a type or another selection, ``where`` predicates)."""

from __future__ import annotations

import operator
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, ClassVar

from cds_service.engine.context import EvaluationContext
from cds_service.engine.facts import Fact
from cds_service.engine.timecalc import (
    date_span,
    end_of_day,
    local_date,
    parse_instant,
    start_of_day,
    to_local,
    window_edges,
    within,
)
from cds_service.engine.valuesets import ValueSet
from cds_service.record.patient_record import Resource, reference_key

# ``event``: the event a look-back counts from — TD at discharge, else the order's authoring time (else now).
# ``episode-start``: T0, or the order being signed when that is earlier (an admission signed before the program starts).
EPISODE_ANCHORS = ("T0", "TD", "TDa", "episode-start")
ANCHORS = ("now", "T0", "TD", "TDa", "order-start", "order-end", "order-authored", "event", "episode-start")
# Selections the engine derives itself from the hook context and the episode (DATA-PROFILE §2).
BUILTIN_SELECTIONS = ("draft-orders", "iop-order", "PROG", "SESS")

COMPARATORS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
_ANCHOR_EXPR = re.compile(
    r"^\s*([A-Za-z][A-Za-z0-9]*(?:-[A-Za-z][A-Za-z0-9]*)*)\s*(?:([+-])\s*(\d+(?:\.\d+)?)\s*(h|d|w))?\s*$"
)
_UNIT = {"h": 1 / 24, "d": 1, "w": 7}


class SpecError(ValueError):
    """A mapping entry that cannot be compiled; the message says what is wrong."""


@dataclass(frozen=True)
class TimeBound:
    """An anchor plus an offset, e.g. ``T0-30d``."""

    anchor: str
    offset: timedelta
    calendar: bool = False
    """The offset counts local calendar days (given in ``d`` or ``w``); hours are exact."""

    def base(self, ctx: EvaluationContext) -> datetime | None:
        """The anchor's time in this evaluation."""
        if self.anchor == "event":
            return event_time(ctx)
        if self.anchor == "episode-start":
            return episode_start(ctx)
        return ctx.anchor(self.anchor)

    def resolve(self, ctx: EvaluationContext) -> datetime | None:
        """The anchor plus the offset as elapsed time (deadlines, hour windows)."""
        base = self.base(ctx)
        return None if base is None else base + self.offset

    def _local_day(self, ctx: EvaluationContext) -> tuple[date, tzinfo] | None:
        base = self.base(ctx)
        if base is None:
            return None
        zone = ctx.calendar.zone
        return local_date(base, zone) + timedelta(days=round(self.offset / timedelta(days=1))), zone

    def resolve_low(self, ctx: EvaluationContext) -> datetime | None:
        """As the opening of a window: a calendar-day bound opens at local midnight of its date (T0-30d: the whole
        30th local date before T0's counts)."""
        if not self.calendar:
            return self.resolve(ctx)
        day = self._local_day(ctx)
        return None if day is None else start_of_day(*day)

    def resolve_high(self, ctx: EvaluationContext) -> datetime | None:
        """As the close of a window: a calendar-day bound closes at the end of its local date (TD+7d: all of the
        7th local date after the discharge's)."""
        if not self.calendar:
            return self.resolve(ctx)
        day = self._local_day(ctx)
        return None if day is None else end_of_day(*day)

    @property
    def exact(self) -> bool:
        """An hour offset from an anchor (``T0+48h``): an instant within a local date, not a date boundary."""
        return not self.calendar and bool(self.offset)

    def __str__(self) -> str:
        days = self.offset.total_seconds() / 86400
        if not days:
            return self.anchor
        return f"{self.anchor}{'+' if days > 0 else '-'}{abs(days):g}d"


def event_time(ctx: EvaluationContext) -> datetime | None:
    """The event a look-back counts from: the discharge at a discharge, else the order being signed (else now)."""
    if ctx.phase == "discharge":
        return ctx.anchor("TD") or ctx.now
    return ctx.anchor("order-authored") or ctx.now


def episode_start(ctx: EvaluationContext) -> datetime | None:
    """Where this episode begins: T0, or the signing of the order when that comes first."""
    times = [t for t in (ctx.anchor("T0"), ctx.anchor("order-authored")) if t is not None]
    return min(times) if times else None


def parse_duration(text: object, what: str) -> timedelta:
    """``N(h|d|w)`` as a timedelta; raises SpecError naming ``what``."""
    m = re.match(r"^\s*(\d+(?:\.\d+)?)\s*(h|d|w)\s*$", text) if isinstance(text, str) else None
    if not m:
        raise SpecError(f"{what} must be a duration like '12h' or '1d', got {text!r}")
    return timedelta(days=float(m.group(1)) * _UNIT[m.group(2)])


def parse_time_bound(text: object) -> TimeBound:
    """Parse ``ANCHOR[+-]N(h|d|w)``; raises SpecError for an unknown anchor or bad syntax."""
    if not isinstance(text, str):
        raise SpecError(f"time bound {text!r} must be a string like 'T0-30d'")
    m = _ANCHOR_EXPR.match(text)
    if not m:
        raise SpecError(f"time bound {text!r} is not of the form ANCHOR[+-]N(h|d|w)")
    anchor, sign, amount, unit = m.groups()
    if anchor not in ANCHORS:
        raise SpecError(f"unknown time anchor {anchor!r} (one of {', '.join(ANCHORS)})")
    days = float(amount) * _UNIT[unit] if amount else 0.0
    calendar = unit in ("d", "w") and days > 0 and days == int(days)
    return TimeBound(anchor, timedelta(days=-days if sign == "-" else days), calendar)


class Predicate(ABC):
    """A test on one resource."""

    @abstractmethod
    def test(self, resource: Resource, ctx: EvaluationContext) -> bool:
        """Whether the resource passes."""


@dataclass
class FactIn(Predicate):
    fact: Fact
    values: frozenset[Any]

    def test(self, resource: Resource, ctx: EvaluationContext) -> bool:
        wanted = self.values
        for v in ctx.values(self.fact, resource):  # loops, not any(generator): these tests are the engine's inner loop
            if v in wanted:
                return True
        return False


@dataclass
class FactInValueSet(Predicate):
    fact: Fact
    valueset: ValueSet

    def test(self, resource: Resource, ctx: EvaluationContext) -> bool:
        contains = self.valueset.contains_coding
        for v in ctx.values(self.fact, resource):
            if contains(v):
                return True
        return False


@dataclass
class FactExists(Predicate):
    fact: Fact
    expected: bool

    def test(self, resource: Resource, ctx: EvaluationContext) -> bool:
        return bool(ctx.values(self.fact, resource)) == self.expected


@dataclass
class FactCompare(Predicate):
    fact: Fact
    op: str
    value: Any

    def test(self, resource: Resource, ctx: EvaluationContext) -> bool:
        compare = COMPARATORS[self.op]
        return any(compare(v, self.value) for v in ctx.values(self.fact, resource))


@dataclass
class FactBetween(Predicate):
    """The fact's time lies in [low, high]; a bound whose anchor is unknown makes the test false."""

    fact: Fact
    low: TimeBound | None
    high: TimeBound | None

    def test(self, resource: Resource, ctx: EvaluationContext) -> bool:
        low = self.low.resolve_low(ctx) if self.low else None
        high = self.high.resolve_high(ctx) if self.high else None
        if (self.low and low is None) or (self.high and high is None):
            return False
        exact_low, exact_high = bool(self.low and self.low.exact), bool(self.high and self.high.exact)
        return any(within(t, low, high, exact_low, exact_high) for t in ctx.values(self.fact, resource))


@dataclass
class RefersTo(Predicate):
    """A reference fact points to a member of another selection."""

    fact: Fact
    selection: str

    def test(self, resource: Resource, ctx: EvaluationContext) -> bool:
        targets = ctx.selection_keys(self.selection)
        return any(v in targets for v in ctx.values(self.fact, resource))


@dataclass
class RefersOutside(Predicate):
    """Some value of a reference fact points to no member of another selection: one of a team's members, or of an
    encounter's clinicians, is not among those identified (a reference the record does not hold counts)."""

    fact: Fact
    selection: str
    negative: ClassVar[bool] = True
    """Chosen for what the other selection lacks: its members rest on absence there, like a ``not``."""

    def test(self, resource: Resource, ctx: EvaluationContext) -> bool:
        targets = ctx.selection_keys(self.selection)
        return any(v not in targets for v in ctx.values(self.fact, resource))


@dataclass
class ReferencedBy(Predicate):
    """At least ``at_least`` members of another selection point to this resource through a reference fact."""

    selection: str
    fact: Fact
    at_least: int = 1

    def test(self, resource: Resource, ctx: EvaluationContext) -> bool:
        key = f"{resource.get('resourceType')}/{resource.get('id')}"
        # A note or service linked to a duplicate record of this session counts for the session kept.
        keys = {key, *ctx.twins.get(key, ())}
        if keys.isdisjoint(ctx.referenced_keys(self.selection, self.fact)):
            return False
        if self.at_least <= 1:
            return True
        count = sum(1 for r in ctx.select(self.selection) if not keys.isdisjoint(ctx.values(self.fact, r)))
        return count >= self.at_least


@dataclass
class FactAfter(Predicate):
    """A time fact is later than another time fact of the same resource by more than ``by`` (e.g. an update)."""

    fact: Fact
    other: Fact
    by: timedelta

    def test(self, resource: Resource, ctx: EvaluationContext) -> bool:
        others = ctx.values(self.other, resource)
        if not others:
            return False
        # Later beyond doubt: a date without a time counts as its end on the earlier side, its start on the later.
        latest = max(date_span(o)[1] for o in others) + self.by
        return any(date_span(t)[0] > latest for t in ctx.values(self.fact, resource))


@dataclass
class Among(Predicate):
    """A reference fact points where members of a selection (or type) point through another reference fact."""

    fact: Fact
    selection: str
    via: Fact

    def test(self, resource: Resource, ctx: EvaluationContext) -> bool:
        targets = ctx.referenced_keys(self.selection, self.via)
        return any(v in targets for v in ctx.values(self.fact, resource))


@dataclass
class Resolve(Predicate):
    """A reference fact resolves (within the record) to a resource passing every nested predicate."""

    fact: Fact
    predicates: list[Predicate]

    def test(self, resource: Resource, ctx: EvaluationContext) -> bool:
        for ref in ctx.values(self.fact, resource):
            target = ctx.record.resolve(ref)
            if target is not None and all(p.test(target, ctx) for p in self.predicates):
                return True
        return False


@dataclass
class Not(Predicate):
    inner: Predicate

    def test(self, resource: Resource, ctx: EvaluationContext) -> bool:
        return not self.inner.test(resource, ctx)


@dataclass
class AnyOf(Predicate):
    inner: list[Predicate]

    def test(self, resource: Resource, ctx: EvaluationContext) -> bool:
        for p in self.inner:
            if p.test(resource, ctx):
                return True
        return False


@dataclass
class AllOf(Predicate):
    inner: list[Predicate]

    def test(self, resource: Resource, ctx: EvaluationContext) -> bool:
        for p in self.inner:
            if not p.test(resource, ctx):
                return False
        return True


def specialize(predicate: Predicate, resource_type: str) -> Predicate | bool:
    """A predicate simplified for resources of one type: tests of another type's facts become constants."""
    fact = getattr(predicate, "fact", None)
    if isinstance(fact, Fact) and not isinstance(predicate, Resolve | ReferencedBy) and fact.resource != resource_type:
        return (not predicate.expected) if isinstance(predicate, FactExists) else False
    if isinstance(predicate, Not):
        inner = specialize(predicate.inner, resource_type)
        return (not inner) if isinstance(inner, bool) else Not(inner)
    if isinstance(predicate, AnyOf | AllOf):
        parts = [specialize(p, resource_type) for p in predicate.inner]
        decisive, neutral = (True, False) if isinstance(predicate, AnyOf) else (False, True)
        if any(p is decisive for p in parts):
            return decisive
        kept = [p for p in parts if p is not neutral]
        if not kept:
            return neutral
        return kept[0] if len(kept) == 1 else type(predicate)(kept)  # type: ignore[arg-type]
    return predicate


def _window(
    source: str,
    facts: tuple[Fact, ...],
    first: bool,
    low_bound: TimeBound | None,
    high_bound: TimeBound | None,
    ctx: EvaluationContext,
    build: bool = True,
) -> set[int] | None:
    """Positions of a type's resources dated about within the bounds (see ``EvaluationContext.timed_positions``)."""
    low = low_bound.resolve_low(ctx) if low_bound else None
    high = high_bound.resolve_high(ctx) if high_bound else None
    if (low_bound and low is None) or (high_bound and high is None):
        # An unknown anchor: no dated resource passes; an undated one may still be in scope (in force).
        return ctx.undated_positions(source, facts, build) if first else set()
    return ctx.timed_positions(source, facts, first, low, high, build)


FEW_CANDIDATES = 64
"""Below this many candidates a selection tests them directly rather than narrowing them by time."""


def _narrowing(
    predicate: Predicate, source: str, ctx: EvaluationContext, timed: bool, build: bool = True
) -> set[int] | frozenset[int] | None:
    """Positions of a type's resources that can pass a predicate, from the code indexes (and the time indexes when
    ``timed``; only those already built unless ``build``); None when they cannot tell."""
    if isinstance(predicate, FactInValueSet):
        return ctx.coded_positions(source, predicate.fact, predicate.valueset)
    if isinstance(predicate, FactBetween):
        return _window(source, (predicate.fact,), False, predicate.low, predicate.high, ctx, build) if timed else None
    if isinstance(predicate, AllOf):
        found: set[int] | None = None
        for inner in predicate.inner:
            narrowed = _narrowing(inner, source, ctx, timed, build)
            if narrowed is not None:
                found = set(narrowed) if found is None else found & narrowed
        return found
    if isinstance(predicate, AnyOf):
        union: set[int] = set()
        for inner in predicate.inner:
            narrowed = _narrowing(inner, source, ctx, timed, build)
            if narrowed is None:
                return None
            union |= narrowed
        return union
    return None


# Where a resource names the encounter it was made in (raw FHIR paths: these are fixed by the resource types).
_ENCOUNTER_LINK = {
    "CarePlan": ("encounter",),
    "Procedure": ("encounter",),
    "Observation": ("encounter",),
    "ServiceRequest": ("encounter",),
    "QuestionnaireResponse": ("encounter",),
    "MedicationRequest": ("encounter",),
    "Communication": ("encounter",),
    "Condition": ("encounter",),
    "DocumentReference": ("context", "encounter"),
}


def encounter_links(resource: Resource) -> list[str]:
    """``Encounter/id`` of every encounter a resource says it was made in."""
    node: Any = resource
    for step in _ENCOUNTER_LINK.get(str(resource.get("resourceType")), ()):
        node = node.get(step) if isinstance(node, dict) else None
    refs = node if isinstance(node, list) else [node]
    keys = [reference_key(r.get("reference")) for r in refs if isinstance(r, dict)]
    return [k for k in keys if k and k.startswith("Encounter/")]


def _whole_days(span: timedelta) -> bool:
    """A grace of whole days counts local calendar days ("the day before admission"); hours stay exact."""
    return span > timedelta(0) and span % timedelta(days=1) == timedelta(0)


def _grace(spec: object) -> tuple[timedelta, timedelta]:
    """``grace: 1d`` (both ends) or ``grace: {before: 1d, after: 12h}``."""
    if spec is None:
        return timedelta(0), timedelta(0)
    if isinstance(spec, dict):
        unknown = set(spec) - {"before", "after"}
        if unknown:
            raise SpecError(f"'grace' takes before and after, not {', '.join(sorted(unknown))}")
        return (
            parse_duration(spec.get("before", "0h"), "'grace' before"),
            parse_duration(spec.get("after", "0h"), "'grace' after"),
        )
    both = parse_duration(spec, "'grace'")
    return both, both


@dataclass(frozen=True)
class Scope:
    """The window a selection's evidence must fall in, by the member's ``time``: ``[low, high]`` around anchors.

    ``episode`` is this program episode, episode-start - grace to TD + grace; it also rules out evidence that names
    another encounter than this program or its sessions (an inpatient unit's discharge plan is not the IOP's).
    """

    low: TimeBound | None
    high: TimeBound | None
    episode: bool = False

    def __str__(self) -> str:
        return f"{self.low or 'open'} to {self.high or 'open'}" + (" (this episode)" if self.episode else "")

    @property
    def reads_episode(self) -> bool:
        """Whether the window hangs on the episode's dates, which come from the program Encounter."""
        return self.episode or any(b is not None and b.anchor in EPISODE_ANCHORS for b in (self.low, self.high))

    def bounds(self, ctx: EvaluationContext) -> tuple[bool, datetime | None, datetime | None]:
        """(known, low, high) of the window in this evaluation; not known when an anchor of a bound is unknown."""
        low = self.low.resolve_low(ctx) if self.low else None
        high = self.high.resolve_high(ctx) if self.high else None
        return not ((self.low and low is None) or (self.high and high is None)), low, high

    def admits(
        self,
        resource: Resource,
        when: datetime | None,
        ctx: EvaluationContext,
        bounds: tuple[bool, datetime | None, datetime | None] | None = None,
    ) -> bool:
        """Whether a member dated ``when`` belongs to the window; an undated one only while it is in force.

        ``bounds``: ``self.bounds(ctx)`` when the caller tests many members (resolving them is most of the test)."""
        if when is None:
            # No date to place it by: a resource still in force is this episode's; a closed one proves nothing.
            return is_current(resource, state_time(ctx), ctx.calendar.zone) and not (
                self.episode and _made_in_another_encounter(resource, ctx)
            )
        known, low, high = bounds if bounds is not None else self.bounds(ctx)
        if not known:
            return False
        if not within(when, low, high, bool(self.low and self.low.exact), bool(self.high and self.high.exact)):
            return False
        return not self.episode or not _made_in_another_encounter(resource, ctx)


# Encounter classes of another level of care (v3 ActCode): a plan written there belongs to that stay.
OTHER_LEVEL_CLASSES = frozenset({"IMP", "ACUTE", "NONAC", "EMER", "OBSENC", "SS"})


def _made_in_another_encounter(resource: Resource, ctx: EvaluationContext) -> bool:
    """The resource names another stay or program: an inpatient, residential or emergency encounter, another IOP
    program, or a session of one; an intake visit of this admission does not count against it."""
    episode = {f"Encounter/{e.get('id')}" for e in ctx.builtins.get("PROG", []) + ctx.builtins.get("SESS", [])}
    episode.update(twin for key in list(episode) for twin in ctx.twins.get(key, ()))  # duplicates of its sessions
    for key in encounter_links(resource):
        target = None if key in episode else ctx.record.resolve(key)
        if target is None:
            continue  # this program, or an encounter we cannot see: no evidence of another episode
        klass = target.get("class")
        part_of = reference_key((target.get("partOf") or {}).get("reference"))
        if (
            (isinstance(klass, dict) and klass.get("code") in OTHER_LEVEL_CLASSES)
            or (part_of is not None and part_of not in episode)
            or key in ctx.selection_keys("iop-programs")
        ):
            return True
    return False


def parse_scope(spec: object, grace: object = None) -> Scope:
    """``scope: episode`` (with ``grace``) or ``scope: {from: BOUND, to: BOUND}`` (null or absent: open)."""
    if spec == "episode":
        before, after = _grace(grace)
        return Scope(
            TimeBound("episode-start", -before, _whole_days(before)),
            TimeBound("TD", after, _whole_days(after)),
            episode=True,
        )
    if grace is not None:
        raise SpecError("'grace' goes with 'scope: episode'; with from/to put the offset in the bounds")
    if not isinstance(spec, dict) or not spec or set(spec) - {"from", "to"}:
        raise SpecError(f"'scope' is 'episode' or {{from: BOUND, to: BOUND}}, got {spec!r}")
    low, high = (parse_time_bound(spec[k]) if spec.get(k) is not None else None for k in ("from", "to"))
    if low is None and high is None:
        raise SpecError("'scope' needs at least one of from, to")
    return Scope(low, high)


# A state needs a current resource (DATA-PROFILE §6): per resource type, where its status and its end are.
_STATUS_PATH = {
    "Condition": ("clinicalStatus", "coding", "code"),
    "Goal": ("lifecycleStatus",),
    "AllergyIntolerance": ("clinicalStatus", "coding", "code"),
}
_END_PATH = {
    "CarePlan": ("period", "end"),
    "CareTeam": ("period", "end"),
    "Encounter": ("period", "end"),
    "Consent": ("provision", "period", "end"),
    "Condition": ("abatementDateTime",),
    "MedicationRequest": ("dispenseRequest", "validityPeriod", "end"),
    "Coverage": ("period", "end"),
    "Flag": ("period", "end"),
}
IN_FORCE = frozenset({"active", "current", "in-progress", "recurrence", "relapse", "accepted", "booked", "arrived"})
CLOSED = frozenset({"completed", "finished", "resolved", "remission", "inactive", "stopped", "superseded", "achieved"})


def _path(resource: Resource, path: tuple[str, ...]) -> list[Any]:
    nodes: list[Any] = [resource]
    for step in path:
        nxt: list[Any] = []
        for node in nodes:
            value = node.get(step) if isinstance(node, dict) else None
            nxt.extend(value if isinstance(value, list) else [value] if value is not None else [])
        nodes = nxt
    return nodes


def is_current(resource: Resource, at: datetime, zone: tzinfo | None = None) -> bool:
    """In force at ``at``: an active status and not ended; a closed one only if it ended at or after ``at``.

    An end written as a date ends with that date in ``zone`` (the site's), not at 23:59 UTC."""
    rtype = str(resource.get("resourceType"))
    if rtype == "RelatedPerson" or ("active" in resource and "status" not in resource):
        return resource.get("active") is not False
    statuses = {str(s) for s in _path(resource, _STATUS_PATH.get(rtype, ("status",)))}
    ends = [
        to_local(t, zone)
        for v in _path(resource, _END_PATH.get(rtype, ("period", "end")))
        if (t := parse_instant(v, True))
    ]
    ended = bool(ends) and max(ends) < at
    if statuses & IN_FORCE:
        return not ended
    if statuses & CLOSED:
        return bool(ends) and not ended
    return not statuses and not ended


def state_time(ctx: EvaluationContext) -> datetime:
    """When a state is judged: at discharge the discharge (TD), else the evaluation time."""
    if ctx.phase == "discharge":
        return ctx.anchor("TD") or ctx.now
    return ctx.now


@dataclass
class Selection:
    """A named set of resources: the members of ``source`` that pass every predicate, in scope, current if asked."""

    name: str
    sources: list[str]
    predicates: list[Predicate] = field(default_factory=list)
    label: str = ""
    time: list[Fact] = field(default_factory=list)
    """Facts that date a member, first applicable one wins (ordering, ``latest``, deadlines, windows)."""
    scope: Scope | None = None
    """The window every member's time must fall in (duties of the program: this episode)."""
    current: bool = False
    """A state: only resources in force at the evaluation time (discharge: at TD)."""
    duty: bool = False
    """Evidence of a duty of the program: the mappings are rejected unless it (or each source) has a scope."""
    undecided: str | None = None
    """A selection of resources that may be members but do not say so (a plan whose category does not tell which
    plan it is): in the context's ``undecided_view`` those in this selection's scope and currency are members too."""

    def evaluate(self, ctx: EvaluationContext) -> list[Resource]:
        members = self._kept(self._members(ctx), ctx)
        if self.undecided is None or ctx.undecided_added is None or self.undecided not in ctx.selections:
            return members
        known = {id(r) for r in members}
        extra = [r for r in self._kept(ctx.select(self.undecided), ctx) if id(r) not in known]
        label = getattr(ctx.selections[self.undecided], "title", self.undecided)
        for r in extra:
            ctx.undecided_added.setdefault(f"{r.get('resourceType')}/{r.get('id', '')}", (label, self._time(r, ctx)))
        return members + extra

    def _kept(self, members: list[Resource], ctx: EvaluationContext) -> list[Resource]:
        """The members in this selection's scope and, for a state, in force."""
        if self.scope is not None:
            scope, bounds = self.scope, self.scope.bounds(ctx)
            members = [r for r in members if scope.admits(r, self._time(r, ctx), ctx, bounds)]
        if self.current:
            at = state_time(ctx)
            members = [r for r in members if is_current(r, at, ctx.calendar.zone)]
        return members

    def set_aside(self, ctx: EvaluationContext) -> list[tuple[Resource, str]]:
        """Resources this selection would hold but for its own or its sources' scope or currency, each with why."""
        cached = ctx.set_aside_cache.get(self.name)
        if cached is not None:
            return cached
        found: list[tuple[Resource, str]] = []
        if self.scope is not None or self.current:
            bounds = self.scope.bounds(ctx) if self.scope is not None else None
            for r in self._scanned_members(ctx):
                why = self._why_set_aside(r, ctx, bounds)
                if why:
                    found.append((r, why))
        for source in self.sources:
            if source in ctx.selections and source != self.name:
                parent = ctx.selections[source].set_aside(ctx)
                kept = {id(r) for r in self._narrowed([r for r, _ in parent], ctx, timed=False)}
                found.extend(
                    (r, why) for r, why in parent if id(r) in kept and all(p.test(r, ctx) for p in self.predicates)
                )
        ctx.set_aside_cache[self.name] = found
        return found

    def _scanned_members(self, ctx: EvaluationContext) -> list[Resource]:
        """The resources that pass the tests, whatever their time: the code indexes narrow the candidates, the time
        indexes never do (they narrow by the scope too, and what a reason names must not depend on them)."""
        out: list[Resource] = []
        for source in self.sources:
            if source in ctx.selections or source in ctx.builtins:
                out.extend(_passing(ctx.source(source), self.predicates, ctx))
                continue
            predicates = self._for_type(source)
            if predicates is None:
                continue
            positions = _code_positions(source, predicates, ctx)
            if positions is None:
                candidates, rest = ctx.source(source), predicates
            else:  # the index by code answers the top-level code tests exactly (as in _members)
                candidates = ctx.at_positions(source, positions)
                rest = [p for p in predicates if not isinstance(p, FactInValueSet)]
            out.extend(_passing(candidates, rest, ctx))
        return out

    def _why_set_aside(
        self,
        resource: Resource,
        ctx: EvaluationContext,
        bounds: tuple[bool, datetime | None, datetime | None] | None = None,
    ) -> str:
        """Why a resource that passes the tests is not a member: outside the window, another stay, not in force."""
        when = self._time(resource, ctx)
        if self.scope is not None and not self.scope.admits(resource, when, ctx, bounds):
            if when is None:
                # in force: set aside for naming another stay
                if is_current(resource, state_time(ctx), ctx.calendar.zone):
                    return "undated, made in another stay or program"
                return "undated and not in force"
            day = f"{local_date(when, ctx.calendar.zone):%Y-%m-%d}"
            _, low, high = bounds if bounds is not None else self.scope.bounds(ctx)
            exact_low = self.scope.low is not None and self.scope.low.exact
            low_edge, high_edge = window_edges(when, exact_low, self.scope.high is not None and self.scope.high.exact)
            if low is not None and low_edge < low:
                return f"of {day}, from before {'this episode' if self.scope.episode else 'the window'}"
            if high is not None and high_edge > high:
                return f"of {day}, from after {'this episode' if self.scope.episode else 'the window'}"
            return f"of {day}, made in another stay or program"
        if self.current and not is_current(resource, state_time(ctx), ctx.calendar.zone):
            return "no longer in force"
        return ""

    def _time(self, resource: Resource, ctx: EvaluationContext) -> datetime | None:
        """The member's time by this selection's ``time`` facts, first applicable one, earliest value."""
        for fact in self.time:
            times = [t for t in ctx.values(fact, resource) if isinstance(t, datetime)]
            if times:
                return min(times)
        return None

    def _members(self, ctx: EvaluationContext) -> list[Resource]:
        out: list[Resource] = []
        for source in self.sources:
            if source in ctx.selections or source in ctx.builtins:
                out.extend(_passing(self._narrowed(ctx.source(source), ctx), self.predicates, ctx))
                continue
            predicates = self._for_type(source)
            if predicates is None:
                continue  # a test on another resource type rules this source out entirely
            # Code tests and time windows narrow the candidates through the record's indexes (engine.evidence_index)
            # instead of a scan; every other predicate is still tested on each candidate.
            positions = self._indexed(source, predicates, ctx)
            if positions is None:
                candidates, rest = ctx.source(source), predicates
            else:  # the index by code answers the top-level code tests exactly
                candidates = ctx.at_positions(source, positions)
                rest = [p for p in predicates if not isinstance(p, FactInValueSet)]
            out.extend(_passing(candidates, rest, ctx))
        if len(self.sources) > 1:  # a union of selections (plans made or updated in the stay) holds a resource once
            seen: set[int] = set()
            out = [r for r in out if not (id(r) in seen or seen.add(id(r)))]
        return out

    def _narrowed(self, members: list[Resource], ctx: EvaluationContext, timed: bool = True) -> list[Resource]:
        """Members of a source selection that the indexes of their type cannot rule out (order kept); with
        ``timed=False`` only the code indexes narrow (what a reason names must not depend on the time windows)."""
        if len(members) <= FEW_CANDIDATES:
            return members
        allowed: dict[str, set[int] | None] = {}
        kept = []
        for resource in members:
            rtype = str(resource.get("resourceType"))
            if rtype not in allowed:
                index = self._indexed if timed else _code_positions
                allowed[rtype] = index(rtype, self.predicates, ctx)
            positions = allowed[rtype]
            position = ctx.position_of(resource) if positions is not None else None
            if position is None or position in positions:  # a resource outside the record (a draft order): test it
                kept.append(resource)
        return kept

    def _indexed(self, source: str, predicates: list[Predicate], ctx: EvaluationContext) -> set[int] | None:
        """Positions of a type's resources that can pass the predicates' code tests and ``between`` windows and the
        scope window (a superset of the members); None when no index applies.

        Code tests narrow first; time windows (whose index dates every resource of the type) only while many
        candidates remain, since testing a few candidates directly is cheaper than dating them all."""
        found: set[int] | None = None
        for timed in (False, True):
            if timed and found is not None and len(found) <= FEW_CANDIDATES:
                break
            # Dating every resource of the type pays only while the candidates are a good part of it (or it is done).
            build = found is None or 4 * len(found) >= len(ctx.record.indexed(source))
            for predicate in predicates:
                narrowed = _narrowing(predicate, source, ctx, timed, build)
                if narrowed is not None:
                    found = set(narrowed) if found is None else found & narrowed
                if found is not None and not found:
                    return found
        if self.scope is not None and self.time and (found is None or len(found) > FEW_CANDIDATES):
            build = found is None or 4 * len(found) >= len(ctx.record.indexed(source))
            window = _window(source, tuple(self.time), True, self.scope.low, self.scope.high, ctx, build)
            if window is not None:
                found = set(window) if found is None else found & window
        return found

    def _for_type(self, resource_type: str) -> list[Predicate] | None:
        """The predicates simplified for one resource type (None: nothing of that type can pass)."""
        cache = self.__dict__.setdefault("_specialized", {})
        if resource_type not in cache:
            simplified = [specialize(p, resource_type) for p in self.predicates]
            cache[resource_type] = (
                None if any(p is False for p in simplified) else [p for p in simplified if isinstance(p, Predicate)]
            )
        return cache[resource_type]

    @property
    def title(self) -> str:
        return self.label or self.name


def _code_positions(rtype: str, predicates: list[Predicate], ctx: EvaluationContext) -> set[int] | None:
    """Positions of ``rtype``'s resources that the predicates' code tests admit (time windows play no part); None
    when no code index applies."""
    positions: set[int] | None = None
    for predicate in predicates:
        narrowed = _narrowing(predicate, rtype, ctx, timed=False)
        if narrowed is not None:
            positions = set(narrowed) if positions is None else positions & narrowed
    return positions


def _passing(candidates: list[Resource], predicates: list[Predicate], ctx: EvaluationContext) -> list[Resource]:
    """The candidates that pass every predicate, in order (plain loops: this is the engine's innermost loop)."""
    if not predicates:
        return list(candidates)
    if len(predicates) == 1:
        test = predicates[0].test
        return [r for r in candidates if test(r, ctx)]
    kept = []
    for r in candidates:
        for p in predicates:
            if not p.test(r, ctx):
                break
        else:
            kept.append(r)
    return kept


class PredicateCompiler:
    """Turns ``where`` entries into Predicates, naming unknown facts, value sets and selections."""

    def __init__(self, facts: dict[str, Fact], valuesets: dict[str, ValueSet], selection_names: set[str]) -> None:
        self.facts = facts
        self.valuesets = valuesets
        self.selection_names = selection_names | set(BUILTIN_SELECTIONS)

    def fact(self, name: object, resource_type: str | None = None) -> Fact:
        if not isinstance(name, str) or name not in self.facts:
            raise SpecError(f"unknown fact {name!r}")
        fact = self.facts[name]
        if resource_type and fact.resource != resource_type:
            raise SpecError(f"fact {name!r} reads {fact.resource}, not {resource_type}")
        return fact

    def selection(self, name: object) -> str:
        """A selection name, a built-in, or a resource type (capitalised)."""
        if isinstance(name, str) and name[:1].isupper() and name not in BUILTIN_SELECTIONS:
            return name
        if not isinstance(name, str) or name not in self.selection_names:
            raise SpecError(f"unknown selection {name!r}")
        return name

    def compile_all(self, specs: object, resource_type: str | None) -> list[Predicate]:
        if specs is None:
            return []
        if not isinstance(specs, list):
            specs = [specs]
        return [self.compile(spec, resource_type) for spec in specs]

    def compile(self, spec: object, resource_type: str | None) -> Predicate:
        """One predicate from its YAML form; ``resource_type`` (when known) is checked against each fact."""
        if not isinstance(spec, dict):
            raise SpecError(f"a 'where' entry must be a mapping, got {spec!r}")
        if "not" in spec:
            return Not(self.compile(spec["not"], resource_type))
        if "any" in spec:
            return AnyOf(self.compile_all(spec["any"], resource_type))
        if "all" in spec:
            return AllOf(self.compile_all(spec["all"], resource_type))
        if "referenced-by" in spec:
            at_least = spec.get("at-least", 1)
            if isinstance(at_least, bool) or not isinstance(at_least, int) or at_least < 1:
                raise SpecError(f"'referenced-by' at-least must be a positive integer, got {at_least!r}")
            return ReferencedBy(self.selection(spec["referenced-by"]), self.fact(spec.get("via")), at_least)
        if "resolve" in spec:
            fact = self.fact(spec["resolve"], resource_type)
            return Resolve(fact, self.compile_all(spec.get("where"), None))
        if "fact" not in spec:
            raise SpecError(
                f"a 'where' entry needs 'fact', 'not', 'any', 'all', 'resolve' or 'referenced-by': {spec!r}"
            )
        fact = self.fact(spec["fact"], resource_type)
        if "in-valueset" in spec:
            vs = spec["in-valueset"]
            if vs not in self.valuesets:
                raise SpecError(f"unknown value set {vs!r}")
            if fact.type != "coding":
                raise SpecError(f"'in-valueset' needs a coding fact; {fact.name!r} is {fact.type}")
            return FactInValueSet(fact, self.valuesets[vs])
        if "in" in spec:
            values = spec["in"]
            if not isinstance(values, list) or not values:
                raise SpecError(f"'in' must be a non-empty list for fact {fact.name!r}")
            return FactIn(fact, frozenset(values))
        if "exists" in spec:
            return FactExists(fact, bool(spec["exists"]))
        if "op" in spec:
            if spec["op"] not in COMPARATORS:
                raise SpecError(f"unknown comparison {spec['op']!r}")
            if "value" not in spec:
                raise SpecError(f"comparison on {fact.name!r} needs 'value'")
            return FactCompare(fact, spec["op"], spec["value"])
        if "between" in spec:
            bounds = spec["between"]
            if not isinstance(bounds, list) or len(bounds) != 2:
                raise SpecError(f"'between' on {fact.name!r} needs [low, high] (null for open)")
            if fact.type not in {"datetime", "datetime-end"}:
                raise SpecError(f"'between' needs a datetime fact; {fact.name!r} is {fact.type}")
            low, high = (parse_time_bound(b) if b is not None else None for b in bounds)
            return FactBetween(fact, low, high)
        if "after" in spec:
            other = self.fact(spec["after"], fact.resource)
            if {fact.type, other.type} - {"datetime", "datetime-end"}:
                raise SpecError(f"'after' compares two datetime facts; {fact.name!r} and {other.name!r} are not")
            return FactAfter(fact, other, parse_duration(spec.get("by", "0h"), "'after' by"))
        if "among" in spec:
            among = spec["among"]
            if not isinstance(among, dict) or "from" not in among or "via" not in among:
                raise SpecError(f"'among' on {fact.name!r} needs {{from: SELECTION, via: FACT}}")
            return Among(fact, self.selection(among["from"]), self.fact(among["via"]))
        if "refers-to" in spec:
            if fact.type != "reference":
                raise SpecError(f"'refers-to' needs a reference fact; {fact.name!r} is {fact.type}")
            return RefersTo(fact, self.selection(spec["refers-to"]))
        if "refers-outside" in spec:
            if fact.type != "reference":
                raise SpecError(f"'refers-outside' needs a reference fact; {fact.name!r} is {fact.type}")
            return RefersOutside(fact, self.selection(spec["refers-outside"]))
        raise SpecError(
            f"no test given for fact {fact.name!r} (in-valueset, in, exists, op, between, after, refers-to, "
            "refers-outside, among)"
        )
