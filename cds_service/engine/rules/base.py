"""The rule contract (a three-valued answer with evidence) and the operators that combine other rules."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime, tzinfo
from typing import Any, ClassVar

from cds_service.engine.context import EvaluationContext, resource_key
from cds_service.engine.timecalc import format_local, local_date


def format_time(t: datetime | None, zone: tzinfo | None = None) -> str:
    """A time as shown in reasons: ``2025-05-02 23:59 -04:00``, in the site's zone when given, with its offset."""
    return format_local(t, zone)


@dataclass
class RuleResult:
    """A rule's three-valued answer (None = unknown), the resources behind it and a one-line detail."""

    value: bool | None
    evidence: list[str] = field(default_factory=list)
    detail: str = ""
    due: datetime | None = None
    pending: bool = False
    _: KW_ONLY  # the flags below are named at every call: positional flags were mixed up once
    not_due: bool = False
    """True only with a True value: a duty of the stay that fell due after the stay ended is not owed at all."""
    gaps: tuple[str, ...] = ()
    """Prefetch keys that could not be read and made the answer unknown."""
    contested: bool = False
    """Unknown because evidence conflicts (e.g. a diagnosis newer than the assessment): a clinician must confirm."""
    note: str = ""
    """Evidence set aside that the reason should still name (e.g. an older diagnosis a newer assessment outweighs)."""
    absence: bool = False
    """The answer rests on something *not* being found (no member, too few), not on evidence that was found."""
    overdue: bool = False
    """With a false answer: a duty whose due time has passed with nothing (or too little) recorded by then."""


class Rule(ABC):
    """A criterion-level operator."""

    gap_aware: ClassVar[bool] = False
    """The operator itself tells absence from an unreadable source; otherwise ``check`` does it conservatively."""
    combines: ClassVar[bool] = False
    """The operator combines other rules' checked answers (which already weighed undecided resources)."""

    @abstractmethod
    def evaluate(self, ctx: EvaluationContext) -> RuleResult:
        """The rule's answer for one evaluation."""

    def check(self, ctx: EvaluationContext) -> RuleResult:
        """The answer, except that a false one is unknown when a source the operator reads could not be read, and
        one resting on absence is unknown when a resource that does not say what it is would change it."""
        result = self.evaluate(ctx)
        undecided = result.value is None and not (result.pending or result.gaps or result.contested)
        if not self.combines and (result.absence or result.value is False or undecided):
            result = self._unless_undecided(ctx, result)
        if self.gap_aware or result.value is not False or not ctx.unreadable:
            return result
        gaps = ctx.gaps_of(self.reads())
        if not gaps:
            return result
        return RuleResult(
            None, result.evidence, unreadable_detail(gaps, result.detail), result.due, result.pending, gaps=tuple(gaps)
        )

    def _unless_undecided(self, ctx: EvaluationContext, result: RuleResult) -> RuleResult:
        """Unknown when the answer would differ if the resources that may be members of what the rule reads (a plan
        whose category does not say which plan it is) were: something is recorded whose kind we cannot tell, and
        not-met needs nothing recorded (DATA-PROFILE §6); an answer already unknown ("no treatment plan") then names
        the plan to confirm. An answer the view leaves as it is stands: a plan made after the deadline, or of an
        earlier episode (out of the selection's scope), changes nothing."""
        view = ctx.undecided_view()
        if view is None or not any(ctx.touches_undecided(name) for name in _selections_read(self)):
            return result
        other = self.evaluate(view)
        if other.value == result.value or not view.undecided_added:
            return result
        added, zone = view.undecided_added, ctx.calendar.zone
        named = [key for key in other.evidence if key in added] or list(added)
        why = added[named[0]][0]
        times = {key: added[key][1] for key in named[:3]}
        listed = ", ".join(f"{k} (of {format_time(t, zone)})" if t else f"{k} (undated)" for k, t in times.items())
        listed += f" and {len(named) - 3} more" if len(named) > 3 else ""
        detail = f"found {listed}, {'a ' if len(named) == 1 else 'each a '}{why}: confirm whether it is the one needed"
        detail += f" ({result.detail})" if result.detail else ""
        evidence = [*named, *(e for e in result.evidence if e not in named)]
        # A clinician confirms what the plan is: like conflicting evidence, it is named in the criterion's reason.
        return RuleResult(None, evidence, detail, result.due, contested=True)

    def reads(self) -> list[str]:
        """Names of the selections the operator reads (its Selection-valued fields)."""
        fields = vars(self).values()
        return [v.name for v in fields if hasattr(v, "sources") and isinstance(getattr(v, "name", None), str)]

    def criteria(self) -> set[str]:
        """Criterion ids this rule reads (for load-time validation)."""
        return set()


def _selections_read(node: Any) -> list[str]:
    """Names of the selections a rule's fields hold or its predicates look into (``refers-to``, ``among``, ...)."""
    names: list[str] = []
    for value in vars(node).values() if hasattr(node, "__dict__") else ():
        items = value if isinstance(value, list) else [value]
        for item in items:
            if hasattr(item, "sources") and isinstance(getattr(item, "name", None), str):
                names.append(item.name)
            elif hasattr(item, "test") and hasattr(item, "__dict__"):  # a predicate of an operator's narrowing
                if isinstance(getattr(item, "selection", None), str):
                    names.append(item.selection)
                names.extend(_selections_read(item))
    return names


def set_aside_detail(ctx: EvaluationContext, selection: Any, limit: int = 3) -> str:
    """What the selection's scope or currency left out, so a reason never hides it: "; found CarePlan/x (of
    2024-03-02, from before this episode), not counted" ('' when nothing was left out)."""
    if not hasattr(selection, "set_aside"):
        return ""
    found: dict[str, str] = {}
    for resource, why in selection.set_aside(ctx):
        found.setdefault(resource_key(resource), why)
    if not found:
        return ""
    listed = ", ".join(f"{key} ({why})" for key, why in list(found.items())[:limit])
    more = f" and {len(found) - limit} more" if len(found) > limit else ""
    return f"; found {listed}{more}, not counted"


def unreadable_detail(gaps: list[str] | tuple[str, ...], detail: str) -> str:
    """The reason for an answer left open because a source could not be read."""
    return f"could not be read: {', '.join(gaps)}" + (f" ({detail})" if detail else "")


def evidence_keys(resources: list[dict[str, Any]], limit: int = 20) -> list[str]:
    return [resource_key(r) for r in resources[:limit]]


@dataclass
class Always(Rule):
    value: bool
    gap_aware: ClassVar[bool] = True

    def evaluate(self, ctx: EvaluationContext) -> RuleResult:
        return RuleResult(self.value, detail="always" if self.value else "never")


@dataclass
class CriterionIs(Rule):
    """True when another criterion has one of the given statuses; unknown while it is undecided."""

    criterion: str
    statuses: frozenset[str]
    gap_aware: ClassVar[bool] = True

    def evaluate(self, ctx: EvaluationContext) -> RuleResult:
        status = ctx.criterion_status(self.criterion) if ctx.criterion_status else None
        if status is None:
            return RuleResult(None, detail=f"{self.criterion} is not evaluated in this phase")
        if status.value == "unknown" and status.value not in self.statuses:
            # Undecided is not a "no": a gate on an unknown criterion leaves what it guards unknown.
            return RuleResult(None, detail=f"{self.criterion} is unknown")
        return RuleResult(status.value in self.statuses, detail=f"{self.criterion} is {status.value}")

    def criteria(self) -> set[str]:
        return {self.criterion}


@dataclass
class Attested(Rule):
    """True when a clinician's valid attestation answers yes for the criterion (a judgement branch of an OR)."""

    criterion: str
    gap_aware: ClassVar[bool] = True

    def evaluate(self, ctx: EvaluationContext) -> RuleResult:
        found = ctx.attestation_of(self.criterion) if ctx.attestation_of else None
        if found is None:
            gaps = ctx.gaps_of(["QuestionnaireResponse"])
            if gaps:  # the attestations could not be read: their absence proves nothing
                return RuleResult(None, detail=unreadable_detail(gaps, "no clinician's attestation"), gaps=tuple(gaps))
            return RuleResult(False, detail="no clinician's attestation")
        value, source, authored = found
        day = local_date(authored, ctx.calendar.zone)
        return RuleResult(value, [source], f"attested {'yes' if value else 'no'} on {day:%Y-%m-%d} ({source})")

    def criteria(self) -> set[str]:
        return {self.criterion}


@dataclass
class Logic(Rule):
    """Kleene ``all`` / ``any`` over rules, or ``not``."""

    kind: str
    rules: list[Rule]
    gap_aware: ClassVar[bool] = True
    combines: ClassVar[bool] = True

    def evaluate(self, ctx: EvaluationContext) -> RuleResult:
        results = [r.check(ctx) for r in self.rules]
        if self.kind == "not":
            # The inner detail already says why the negation holds or fails ("newest assessment found no X" is why
            # "not X" holds); wrapping it as "not (no X found)" reads as the opposite.
            inner = results[0]
            return RuleResult(
                None if inner.value is None else not inner.value,
                inner.evidence,
                inner.detail,
                inner.due,
                inner.pending,
                gaps=inner.gaps,
                contested=inner.contested,
                note=inner.note,
                absence=inner.absence,
                overdue=inner.overdue,
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
        # "all" of a duty that was never owed and other true rules is not owed either; "any" only if no hit was owed
        not_due = value is True and (
            any(r.not_due for r in chosen) if self.kind == "all" else all(r.not_due for r in chosen)
        )
        gaps = tuple(dict.fromkeys(g for r in chosen for g in r.gaps)) if value is None else ()
        contested = value is None and any(r.contested for r in chosen)
        detail = "; ".join(dict.fromkeys(r.detail for r in chosen if r.detail))
        note = "; ".join(dict.fromkeys(r.note for r in results if r.note))
        # Positive evidence behind a deciding child grounds the answer; the absent rest only found nothing contrary.
        absence = value is not None and all(r.absence for r in chosen)
        overdue = value is False and any(r.overdue for r in chosen)
        return RuleResult(
            value,
            evidence,
            detail,
            due,
            pending,
            not_due=not_due,
            gaps=gaps,
            contested=contested,
            note=note,
            absence=absence,
            overdue=overdue,
        )

    def criteria(self) -> set[str]:
        return set().union(*(r.criteria() for r in self.rules)) if self.rules else set()
