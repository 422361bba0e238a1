"""The critical card for one unmet safety requirement: the finding and its evidence, with a safer-care suggestion."""

from __future__ import annotations

import re
from typing import Any

from cds_service.cards.kit import CARD_TYPE, CardKit, ResponseInput
from cds_service.cards.templates import SUMMARY_LIMIT, fill, shorten
from cds_service.cards.wording import brief
from cds_service.engine.evaluator import CriterionResult, PolicyEvaluation
from cds_service.record.patient_record import Resource

# The engine's safety reasons read "current evidence of <finding>: <evidence>"; the finding is the head.
_FINDING_PREFIX = re.compile(r"^(?:current |recent )?(?:evidence of |found )", re.IGNORECASE)


def finding_of(result: CriterionResult) -> str:
    """What was found, as a short capitalised label taken from the engine's reason (never the requirement text)."""
    head = result.reason.split(":", 1)[0].strip() if ":" in result.reason else result.reason.strip()
    head = _FINDING_PREFIX.sub("", head).strip() or "Safety finding"
    return head[0].upper() + head[1:]


def safety_summary(template: str, finding: str, evidence: str, values: dict[str, str]) -> str:
    """The summary with the evidence cut first, so the finding and the advice always fit in 139 characters."""
    room = SUMMARY_LIMIT - len(fill(template, **values, finding=finding, evidence=""))
    if evidence and room < 12:
        evidence = ""
    elif len(evidence) > room:
        evidence = shorten(evidence, room)
    summary = fill(template, **values, finding=finding, evidence=evidence)
    return summary if evidence else summary.replace(":  —", " —")


def safety_card(
    kit: CardKit,
    evaluation: PolicyEvaluation,
    result: CriterionResult,
    data: ResponseInput,
    order: Resource | None,
    common: dict[str, str],
) -> dict[str, Any]:
    """The critical card for one unmet safety requirement, stating the finding rather than the requirement."""
    t = kit.templates["safety"]
    first = result.evidence[0] if result.evidence else None
    evidence = brief(data.record.resolve(first), first, kit.zone(evaluation)) if first else ""
    if len(result.evidence) > 1:
        evidence += f" (+{len(result.evidence) - 1} more)"
    values = {
        **common,
        "criterion": result.text or "the policy's safety requirement",
        "citation": result.citation,
        "reason": kit.reason(result, evaluation, data),
        "evidence": kit.evidence(result.evidence, data, evaluation),
    }
    finding = finding_of(result)
    suggestion = kit.suggestion(t["suggestion"], data, result)
    return kit.card(
        "safety",
        "critical",
        safety_summary(t["summary"], finding, evidence, common),
        fill(t["detail"], **values, finding=finding),
        kit.source(data, evaluation, CARD_TYPE["safety"]),
        order,
        suggestions=[suggestion],
        selectionBehavior="at-most-one",
        overrideReasons=kit.override_reasons("safety"),
    )
