"""The card that names every decisive unmet requirement of a policy, and the notices a policy asks for."""

from __future__ import annotations

from typing import Any

from cds_service.cards.kit import CARD_TYPE, CardKit, ResponseInput
from cds_service.cards.templates import fill
from cds_service.engine.evaluator import CriterionResult, PolicyEvaluation
from cds_service.record.patient_record import Resource


def unmet_card(
    kit: CardKit,
    evaluation: PolicyEvaluation,
    results: list[CriterionResult],
    data: ResponseInput,
    order: Resource | None,
    common: dict[str, str],
) -> dict[str, Any]:
    """The card naming a policy's decisive unmet requirements, as severe as the worst of them."""
    t = kit.templates["unmet"]
    lines = [fill(t["intro"], **common), ""]
    for r in results:
        evidence = f" (evidence: {', '.join(r.evidence)})" if r.evidence else ""
        lines.append(
            fill(t["item"], text=r.text or r.id, citation=r.citation, reason=r.reason, evidence=evidence) + f" `{r.id}`"
        )
    suggestions = []
    for r in results:
        if r.suggest and all(s["label"] != kit.templates["suggestions"][r.suggest]["label"] for s in suggestions):
            suggestions.append(kit.suggestion(r.suggest, data, r))
    extra: dict[str, Any] = {}
    if suggestions:
        extra = {"suggestions": suggestions, "selectionBehavior": "any"}
    extra["overrideReasons"] = kit.override_reasons()
    extra["links"] = [kit.policy_link(evaluation)]
    # The summary is as severe as the worst finding it lists (catalogue §4.3).
    indicator = "critical" if any(r.tier == "safety" for r in results) else "warning"
    return kit.card(
        "unmet",
        indicator,
        fill(t["summary"], count=len(results), **common),
        "\n".join(lines),
        kit.source(data, evaluation, CARD_TYPE["unmet"]),
        order,
        **extra,
    )


def notice_cards(
    kit: CardKit, data: ResponseInput, evaluation: PolicyEvaluation, order: Resource | None
) -> list[dict[str, Any]]:
    """Info cards the policy asks for when a criterion ends a certain way (a gate closed, a state rule)."""
    cards = []
    for result in evaluation.criteria:
        node = evaluation.policy.nodes.get(result.id)
        notice = getattr(node, "notice", None)
        if notice and result.status.value in notice["when"]:
            detail = f"{notice.get('detail', '')}\n\n{result.text} ({result.citation}): {result.reason} `{result.id}`"
            cards.append(
                kit.card(
                    "notice",
                    "info",
                    notice["summary"],
                    detail.strip(),
                    kit.source(data, evaluation, CARD_TYPE["notice"]),
                    order,
                    links=[kit.policy_link(evaluation)],
                )
            )
    return cards
