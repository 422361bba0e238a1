"""The card that lists what needs documentation or a clinician's attestation, with the attestation link."""

from __future__ import annotations

import json
from typing import Any

from cds_service.cards.kit import CARD_TYPE, CardKit, ResponseInput
from cds_service.cards.templates import fill
from cds_service.engine.evaluator import CriterionResult, PolicyEvaluation
from cds_service.record.patient_record import Resource


def documentation_card(
    kit: CardKit,
    evaluation: PolicyEvaluation,
    results: list[CriterionResult],
    data: ResponseInput,
    order: Resource | None,
    common: dict[str, str],
) -> dict[str, Any]:
    """The card listing undecided requirements with the attestation link; a warning at discharge or once overdue."""
    t = kit.templates["documentation"]
    lines = [fill(t["intro"], **common), ""]
    lines += [
        fill(
            t["item"],
            text=r.text or "a policy requirement",
            citation=r.citation,
            reason=kit.reason(r, evaluation, data),
        )
        for r in results
    ]
    overdue = evaluation.phase == "discharge" or any(r.due is not None and r.due <= data.now for r in results)
    app_context = {
        "policy": evaluation.policy.key,
        "phase": evaluation.phase,
        "criterionIds": [r.id for r in results],
        "encounterId": data.encounter_id,
        "draftOrderIds": [o.get("id") for o in ([order] if order is not None else data.orders) if o.get("id")],
    }
    links = [
        {
            "label": fill(t["attestation-link"], count=len(results), **common),
            "url": kit.settings.attestation_app_url,
            "type": "smart",
            "appContext": json.dumps(app_context),
        },
        kit.policy_link(evaluation),
    ]
    return kit.card(
        "documentation",
        "warning" if overdue else "info",
        fill(t["summary"], count=len(results), **common),
        "\n".join(lines),
        kit.source(data, evaluation, CARD_TYPE["documentation"]),
        order,
        links=links,
    )
