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
    """The warning card naming a policy's decisive unmet requirements other than safety findings (those have own cards).

    Each item says what the record shows (the engine's reason, references in words); evidence the reason does not
    already name follows it. Criterion ids stay in the response extension.
    """
    t = kit.templates["unmet"]
    lines = [fill(t["intro"], **common), ""]
    for r in results:
        unnamed = [k for k in r.evidence if k not in r.reason]
        evidence = fill(t["evidence"], evidence=kit.evidence(unnamed, data, evaluation)) if unnamed else ""
        reason = kit.reason(r, evaluation, data)
        lines.append(
            fill(
                t["item"], text=r.text or "a policy requirement", citation=r.citation, reason=reason, evidence=evidence
            )
        )
    suggestions = []
    # The result with a deadline ahead goes first, so a proposal's requested period ends at that deadline.
    for r in sorted(results, key=lambda r: (r.due is None or r.due <= data.now, r.due or data.now)):
        if not r.suggest:
            continue
        for name in [r.suggest, *kit.templates["suggestions"][r.suggest].get("alternatives", [])]:
            if all(s["label"] != kit.templates["suggestions"][name]["label"] for s in suggestions):
                suggestions.append(kit.suggestion(name, data, r))
    extra: dict[str, Any] = {}
    if suggestions:
        extra = {"suggestions": suggestions, "selectionBehavior": "any"}
    ahead = any(r.due is not None and r.due > data.now for r in results)
    extra["overrideReasons"] = kit.override_reasons("unmet", deadline_ahead=ahead)
    extra["links"] = [kit.policy_link(evaluation)]
    return kit.card(
        "unmet",
        "warning",
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
            reason = kit.reason(result, evaluation, data)
            detail = f"{notice.get('detail', '')}\n\n{result.text} ({result.citation}): {reason}"
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
