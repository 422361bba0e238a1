"""The critical card for one unmet safety requirement, with a safer-care suggestion."""

from __future__ import annotations

from typing import Any

from cds_service.cards.kit import CARD_TYPE, CardKit, ResponseInput
from cds_service.cards.templates import fill
from cds_service.engine.evaluator import CriterionResult, PolicyEvaluation
from cds_service.record.patient_record import Resource


def safety_card(
    kit: CardKit,
    evaluation: PolicyEvaluation,
    result: CriterionResult,
    data: ResponseInput,
    order: Resource | None,
    common: dict[str, str],
) -> dict[str, Any]:
    """The critical card for one unmet safety requirement."""
    t = kit.templates["safety"]
    values = {
        **common,
        "criterion": result.text or result.id,
        "citation": result.citation,
        "reason": result.reason,
        "evidence": ", ".join(result.evidence) or "none",
    }
    suggestion = kit.suggestion(t["suggestion"], data, result)
    return kit.card(
        "safety",
        "critical",
        fill(t["summary"], **values),
        fill(t["detail"], **values) + f"\n\n`{result.id}`",
        kit.source(data, evaluation, CARD_TYPE["safety"], result.id),
        order,
        suggestions=[suggestion],
        selectionBehavior="at-most-one",
        overrideReasons=kit.override_reasons(),
    )
