"""Operators over what the record holds: existence and counts, the newest score, score change, age, each member."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cds_service.engine.context import EvaluationContext, resource_key
from cds_service.engine.facts import Fact
from cds_service.engine.rules.base import Rule, RuleResult, evidence_keys, format_time
from cds_service.engine.selections import (
    COMPARATORS,
    Selection,
    TimeBound,
)
from cds_service.engine.timecalc import (
    age_at,
)


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
            return RuleResult(
                value, evidence_keys(members), f"{len(members)} × {title}: {', '.join(evidence_keys(members, 5))}"
            )
        if candidates:
            # Show what was looked at: the plan exists, but not with what the criterion asks of it.
            detail = (
                f"{len(candidates)} × {title} ({', '.join(evidence_keys(candidates, 5))}), none with what is required"
            )
            return RuleResult(value, evidence_keys(candidates), detail)
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
        return RuleResult(
            ok, [resource_key(r)], f"latest {self.selection.title} {v:g} on {format_time(t, ctx.calendar.zone)}"
        )


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
            return RuleResult(
                None, evidence_keys([d[1] for d in dated]), f"fewer than two dated {self.selection.title}"
            )
        dated.sort(key=lambda item: item[0])
        (t1, r1, v1), (t2, r2, v2) = dated[0], dated[-1]
        delta = (v2 - v1) / v1 * 100 if self.relative and v1 else v2 - v1
        ok = COMPARATORS[self.op](delta, self.than)
        unit = "%" if self.relative else ""
        zone = ctx.calendar.zone
        return RuleResult(
            ok,
            [resource_key(r1), resource_key(r2)],
            f"{self.selection.title} {v1:g} ({format_time(t1, zone)}) → {v2:g} ({format_time(t2, zone)}): "
            f"change {delta:+g}{unit}",
        )


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
        age = age_at(patients[0].get("birthDate"), at, ctx.calendar.zone)
        if age is None:
            return RuleResult(None, [resource_key(patients[0])], "birth date missing or malformed")
        return RuleResult(
            COMPARATORS[self.op](age, self.than), [resource_key(patients[0])], f"age {age} at {at:%Y-%m-%d}"
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
                evidence_keys(failing),
                f"{len(failing)} of {len(members)} {self.selection.title} fall short: "
                f"{', '.join(evidence_keys(failing, 5))}",
            )
        return RuleResult(True, evidence_keys(members), f"all {len(members)} {self.selection.title} qualify")
