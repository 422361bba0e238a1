"""The card that lists what needs documentation or a clinician's attestation, with the attestation link.

The link is a SMART launch (``type: smart``) of the attestation app. Its ``appContext`` follows Da Vinci DTR's
CRD launch context where it fits: ``questionnaire`` (canonical ``url|version`` of the policy-and-phase
Questionnaire), ``order`` (the draft IOP order as JSON, since it is not stored before signing) and ``coverage``
(local reference); the ``iop-cds`` member names the hook, policy, phase and encounter, the items the card names
(``named``: criterion or composite-group ids) and the open criterion ids behind them (``criteria``: the
Questionnaire linkIds to answer).
"""

from __future__ import annotations

import json
from typing import Any

from cds_service.cards.kit import CARD_TYPE, CardKit, ResponseInput
from cds_service.cards.templates import fill
from cds_service.config import Settings
from cds_service.engine.evaluator import CriterionResult, PolicyEvaluation
from cds_service.engine.outcome import Status
from cds_service.engine.policy import Criterion, Group, Node
from cds_service.record.patient_record import Resource

APP_CONTEXT_KEY = "iop-cds"


def questionnaire_id(policy_key: str, phase: str) -> str:
    """The id of the Questionnaire holding a policy's attestable criteria of one phase."""
    return f"iop-cds-{policy_key}-{phase}"


def questionnaire_url(settings: Settings, policy_key: str, phase: str) -> str:
    """The Questionnaire's canonical URL, on the service's public base URL."""
    return f"{settings.public_base()}/fhir/Questionnaire/{questionnaire_id(policy_key, phase)}"


def canonical_reference(url: str, version: str) -> str:
    """``url|version`` (FHIR canonical), or the bare url when the version has whitespace (a canonical has none)."""
    return f"{url}|{version}" if version and not any(ch.isspace() for ch in version) else url


def attestable_ids(evaluation: PolicyEvaluation, results: list[CriterionResult]) -> list[str]:
    """The criterion ids a clinician's answer can decide for the named items: a group stands for its open leaves."""
    ids: list[str] = []

    def leaves(node: Node) -> list[str]:
        if isinstance(node, Criterion):
            return [node.id]
        return [leaf for child in node.children for leaf in leaves(child)]

    for result in results:
        node = evaluation.policy.nodes.get(result.id)
        candidates = leaves(node) if isinstance(node, Group) else [result.id]
        for key in candidates:
            found = evaluation.by_id(key)
            if (
                found is not None
                and found.status is Status.UNKNOWN
                and not found.superseded
                and not found.gated
                and found.tier != "program"
                and key not in ids
            ):
                ids.append(key)
    return ids


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
    canonical = questionnaire_url(kit.settings, evaluation.policy.key, evaluation.phase)
    app_context: dict[str, Any] = {
        "questionnaire": [canonical_reference(canonical, evaluation.policy.version)],
        "order": [json.dumps(o, separators=(",", ":")) for o in ([order] if order is not None else data.orders)],
    }
    coverage = data.routing.coverage
    if coverage and coverage.get("id"):
        app_context["coverage"] = [f"Coverage/{coverage['id']}"]
    app_context[APP_CONTEXT_KEY] = {
        "policy": evaluation.policy.key,
        "phase": evaluation.phase,
        "hook": data.hook,
        "encounter": data.encounter_id,
        "named": [r.id for r in results],
        "criteria": attestable_ids(evaluation, results),
    }
    links = [
        {
            "label": fill(t["attestation-link"], count=len(results), **common),
            "url": kit.settings.attestation_launch_url(),
            "type": "smart",
            "appContext": json.dumps(app_context, separators=(",", ":")),
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
