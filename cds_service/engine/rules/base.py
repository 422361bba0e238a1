"""The rule contract (a three-valued answer with evidence) and the operators that combine other rules."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cds_service.engine.context import EvaluationContext, resource_key


def format_time(t: datetime | None) -> str:
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


def evidence_keys(resources: list[dict[str, Any]], limit: int = 20) -> list[str]:
    return [resource_key(r) for r in resources[:limit]]


@dataclass
class Always(Rule):
    value: bool

    def evaluate(self, ctx: EvaluationContext) -> RuleResult:
        return RuleResult(self.value, detail="always" if self.value else "never")


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
class Attested(Rule):
    """True when a clinician's valid attestation answers yes for the criterion (a judgement branch of an OR)."""

    criterion: str

    def evaluate(self, ctx: EvaluationContext) -> RuleResult:
        found = ctx.attestation_of(self.criterion) if ctx.attestation_of else None
        if found is None:
            return RuleResult(False, detail="no clinician's attestation")
        value, source, authored = found
        return RuleResult(value, [source], f"attested {'yes' if value else 'no'} on {authored:%Y-%m-%d} ({source})")

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
