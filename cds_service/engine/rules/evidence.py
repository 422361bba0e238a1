"""Operators over what the record holds: existence and counts, the newest score, score change, age, each member."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, ClassVar

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
from cds_service.engine.selections import (
    COMPARATORS,
    Selection,
    TimeBound,
)
from cds_service.engine.timecalc import age_at, date_span, local_date
from cds_service.engine.valuesets import instrument_of as declared_instrument
from cds_service.record.patient_record import Resource


@dataclass
class Exists(Rule):
    """True when the selection (optionally narrowed) has at least ``at_least`` members; false otherwise.

    An answer that rests on absence (too few members, or few enough for ``at_most``) is unknown when a source of
    the selection could not be read; an answer that rests on members found stands.
    """

    selection: Selection
    extra: list[Any] = field(default_factory=list)
    at_least: int = 1
    at_most: int | None = None
    negate: bool = False
    gap_aware: ClassVar[bool] = True

    def evaluate(self, ctx: EvaluationContext) -> RuleResult:
        candidates = ctx.select(self.selection.name)
        members = [r for r in candidates if all(p.test(r, ctx) for p in self.extra)] if self.extra else candidates
        too_few = len(members) < self.at_least
        ok = not too_few and (self.at_most is None or len(members) <= self.at_most)
        title = self.selection.title
        value: bool | None = (not ok) if self.negate else ok
        if members and not too_few:
            detail = f"{len(members)} × {title}: {', '.join(evidence_keys(members, 5))}"
            if self.at_most is not None and not ok:
                detail += f" (at most {self.at_most} allowed)"
            evidence = evidence_keys(members)
        elif members:
            listed = ", ".join(evidence_keys(members, 5))
            detail = f"found {len(members)} × {title} ({listed}), fewer than the {self.at_least} required"
            evidence = evidence_keys(members)
        elif candidates:
            # Show what was looked at: the plan exists, but not with what the criterion asks of it.
            detail = (
                f"found {len(candidates)} × {title} ({', '.join(evidence_keys(candidates, 5))}), "
                "which fail what the criterion requires"
            )
            evidence = evidence_keys(candidates)
        else:
            detail, evidence = f"no {title} found in the record", []
        if too_few:
            detail += set_aside_detail(ctx, self.selection)
        from_absence = too_few or (self.at_most is not None and ok)
        if from_absence:
            gaps = ctx.gaps_of([self.selection.name])
        else:  # members chosen for lacking something (a session without a note) are found only from absence too
            gaps = ctx.gaps_of(ctx.negated_sources(self.selection.name)) if ctx.unreadable else []
        if gaps:
            return RuleResult(None, evidence, unreadable_detail(gaps, detail), gaps=tuple(gaps))
        # Members found that fail the narrowing are evidence ("found X, which fails Y"), not an absence.
        failing_found = bool(self.extra) and bool(candidates) and not members
        absence = from_absence and not failing_found
        return RuleResult(value, evidence, detail, absence=absence)


def instrument_of(ctx: EvaluationContext, resource: Resource) -> str | None:
    """The instrument a score belongs to: the mappings' ``instrument:`` value set holding its code (the one source of
    instrument codes and their variants), else its own first code (None without a code)."""
    code_fact = ctx.facts.get(f"{str(resource.get('resourceType', '')).lower()}.code")
    codings = [c for c in ctx.values(code_fact, resource) if isinstance(c, dict)] if code_fact else []
    declared = declared_instrument(ctx.valuesets, codings) if ctx.valuesets else None
    if declared:
        return declared
    for coding in codings:
        if coding.get("code"):
            return f"{coding.get('system', '')}|{coding['code']}"
    return None


def _dated_by_instrument(
    ctx: EvaluationContext, selection: Selection, value_fact: Fact, time_fact: Fact | None
) -> dict[str | None, list[tuple[datetime, Resource, float]]]:
    """Dated values of a selection, oldest first, grouped by instrument."""
    groups: dict[str | None, list[tuple[datetime, Resource, float]]] = {}
    for r in ctx.select(selection.name):
        t = ctx.time_of(selection.name, r, time_fact)
        values = ctx.values(value_fact, r)
        if t is not None and values:
            groups.setdefault(instrument_of(ctx, r), []).append((t, r, values[0]))
    for dated in groups.values():
        dated.sort(key=lambda item: item[0])
    return groups


def _label(instrument: str | None, title: str) -> str:
    return instrument if instrument and "|" not in instrument else title


@dataclass
class Latest(Rule):
    """Compares the newest value of each instrument in the selection; true when one of them passes.

    Unknown when the selection has no dated value.
    """

    selection: Selection
    value_fact: Fact
    time_fact: Fact | None
    op: str
    than: float

    def evaluate(self, ctx: EvaluationContext) -> RuleResult:
        groups = _dated_by_instrument(ctx, self.selection, self.value_fact, self.time_fact)
        if not groups:
            return RuleResult(None, detail=f"no dated {self.selection.title} with a value found in the record")
        newest = sorted((dated[-1] for dated in groups.values()), key=lambda item: item[0], reverse=True)
        passing = [item for item in newest if COMPARATORS[self.op](item[2], self.than)]
        shown = passing or newest
        title, zone = self.selection.title, ctx.calendar.zone
        detail = "; ".join(
            f"latest {_label(instrument_of(ctx, r), title)} {v:g} on {format_time(t, zone)}" for t, r, v in shown
        )
        return RuleResult(bool(passing), [resource_key(r) for _, r, _ in shown], detail)


@dataclass
class Change(Rule):
    """Compares last minus first value within one instrument; true when one instrument's change passes.

    A PHQ-9 followed by a GAD-7 is no change at all: unknown while no instrument has two dated values.
    """

    selection: Selection
    value_fact: Fact
    time_fact: Fact | None
    op: str
    than: float
    relative: bool = False

    def evaluate(self, ctx: EvaluationContext) -> RuleResult:
        groups = _dated_by_instrument(ctx, self.selection, self.value_fact, self.time_fact)
        series = {k: v for k, v in groups.items() if len(v) >= 2}
        if not series:
            found = [r for dated in groups.values() for _, r, _ in dated]
            return RuleResult(
                None, evidence_keys(found), f"fewer than two dated {self.selection.title} of one instrument"
            )
        unit = "%" if self.relative else ""
        results = []
        for instrument, dated in series.items():
            (t1, r1, v1), (t2, r2, v2) = dated[0], dated[-1]
            delta = (v2 - v1) / v1 * 100 if self.relative and v1 else v2 - v1
            detail = (
                f"{_label(instrument, self.selection.title)} {v1:g} ({format_time(t1, ctx.calendar.zone)}) → {v2:g} "
                f"({format_time(t2, ctx.calendar.zone)}): change {delta:+g}{unit}"
            )
            results.append((COMPARATORS[self.op](delta, self.than), [resource_key(r1), resource_key(r2)], detail))
        passing = [r for r in results if r[0]]
        shown = passing or results
        evidence = [key for _, keys, _ in shown for key in keys]
        return RuleResult(bool(passing), evidence, "; ".join(d for _, _, d in shown))


@dataclass
class Age(Rule):
    """Compares the patient's age at an anchor; unknown without a birth date."""

    at: TimeBound
    op: str
    than: float

    def evaluate(self, ctx: EvaluationContext) -> RuleResult:
        patients = ctx.record.of_type("Patient")
        at = self.at.resolve(ctx)
        if at is None:
            return RuleResult(None, detail=f"age unknown: no {self.at.anchor} time")
        if not patients:
            gaps = ctx.gaps_of(["Patient"])
            if gaps:
                return RuleResult(None, detail=f"age unknown: {unreadable_detail(gaps, '')}", gaps=tuple(gaps))
            return RuleResult(None, detail="age unknown: no patient in the record")
        age = age_at(patients[0].get("birthDate"), at, ctx.calendar.zone)
        if age is None:
            return RuleResult(None, [resource_key(patients[0])], "age unknown: birth date missing or malformed")
        return RuleResult(
            COMPARATORS[self.op](age, self.than),
            [resource_key(patients[0])],
            f"age {age} on {local_date(at, ctx.calendar.zone):%Y-%m-%d}",
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


@dataclass
class CurrentState(Rule):
    """Whether a state (risk, withdrawal) is present now, the newest evidence first (DATA-PROFILE §6).

    ``findings`` are positive evidence (a C-SSRS with intent, a CIWA-Ar at threshold, a withdrawal delirium);
    ``assessments`` are structured assessments of the state whatever they found; ``diagnoses`` are coded diagnoses.
    True when a finding is at least as new as the newest assessment that found nothing. A newer negative assessment
    outweighs older diagnoses (false); it conflicts with an older finding, and a diagnosis newer than it (or with no
    assessment at all) stands unconfirmed: unknown, asking a clinician to confirm.
    """

    label: str
    assessments: list[Selection]
    findings: list[Selection]
    diagnoses: list[Selection]

    def reads(self) -> list[str]:
        return [s.name for s in (*self.assessments, *self.findings, *self.diagnoses)]

    def _dated(self, ctx: EvaluationContext, selections: list[Selection]) -> list[tuple[datetime | None, Resource]]:
        seen: set[int] = set()
        dated = []
        for selection in selections:
            for r in ctx.select(selection.name):
                if id(r) not in seen:
                    seen.add(id(r))
                    dated.append((ctx.time_of(selection.name, r), r))
        return dated

    def evaluate(self, ctx: EvaluationContext) -> RuleResult:
        findings = self._dated(ctx, self.findings)
        found = {id(r) for _, r in findings}
        negatives = [(t, r) for t, r in self._dated(ctx, self.assessments) if id(r) not in found and t is not None]
        diagnoses = [(t, r) for t, r in self._dated(ctx, self.diagnoses) if id(r) not in found]
        newest = max(negatives, key=lambda item: item[0]) if negatives else None
        since = newest[0] if newest else None
        zone = ctx.calendar.zone
        current = [(t, r) for t, r in findings if since is None or (t is not None and t >= since)]
        if current:
            return RuleResult(True, _keys(current), f"current evidence of {self.label}: {_describe(current, zone)}")
        if newest is not None and findings:
            found_then, none_now = _describe(findings, zone), _describe([newest], zone)
            detail = f"{self.label}: {found_then} found, but the newer assessment {none_now} found none"
            return RuleResult(
                None, _keys([*findings, newest]), f"{detail}; a clinician needs to confirm", contested=True
            )
        # A diagnosis dated without a time on the assessment's date may be the newer one (its whole date counts).
        unconfirmed = [(t, r) for t, r in diagnoses if since is None or t is None or date_span(t)[1] > since]
        if unconfirmed:
            if newest is None:
                detail = f"{self.label}: diagnosis {_describe(unconfirmed, zone)} with no structured assessment"
            else:
                detail = (
                    f"{self.label}: diagnosis {_describe(unconfirmed, zone)} is newer than the assessment "
                    f"{_describe([newest], zone)} that found none"
                )
            return RuleResult(None, _keys(unconfirmed), f"{detail}; a clinician needs to confirm", contested=True)
        if newest is None:  # unknown instead when a source could not be read (Rule.check)
            return RuleResult(False, detail=f"no evidence of {self.label} found in the record", absence=True)
        detail = f"newest assessment {_describe([newest], zone)} found no {self.label}"
        note = f"{detail}; it outweighs the older diagnosis {_describe(diagnoses, zone)}" if diagnoses else ""
        return RuleResult(False, _keys([newest]), note or detail, note=note)


def _keys(items: list[tuple[datetime | None, Resource]]) -> list[str]:
    return [resource_key(r) for _, r in items]


def _describe(items: list[tuple[datetime | None, Resource]], zone: tzinfo | None) -> str:
    return ", ".join(f"{resource_key(r)} ({format_time(t, zone) if t else 'undated'})" for t, r in items[:5])
