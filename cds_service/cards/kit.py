"""What every card kind shares: the call's data, card skeletons, sources, links, override reasons, suggestions."""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from cds_service.cards.templates import fill, load_templates, shorten
from cds_service.cards.wording import evidence_in_words, group_reason, in_words, unreadable_in_words
from cds_service.config import Settings
from cds_service.engine.evaluator import CriterionResult, PolicyEvaluation
from cds_service.engine.mapping import Mappings
from cds_service.engine.routing import RoutingDecision
from cds_service.engine.timecalc import zone_named
from cds_service.record.patient_record import DataGap, PatientRecord, Resource

# CRD 2.2 card types (2.0.1 used http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp).
CRD_CARD_TYPE = "http://terminology.hl7.org/CodeSystem/cdshooks-card-type"
OVERRIDE_SYSTEM = "urn:iop-cds:override"
CRITERION_SYSTEM = "urn:iop-cds:criterion"
ASSOCIATED_RESOURCE = "davinci-crd.associated-resource"
INDICATOR_RANK = {"critical": 0, "warning": 1, "info": 2}
# Card type (CRD cardType code) of each card, as offered in discovery's configuration options.
CARD_TYPE = {
    "safety": "guideline",
    "unmet": "coverage-info",
    "documentation": "clinical-reminder",
    "incomplete": "coverage-info",
    "no-coverage": "coverage-info",
    "notice": "coverage-info",
}


@dataclass
class ResponseInput:
    """Everything the card layer needs from one hook call."""

    hook: str
    evaluations: list[PolicyEvaluation]
    routing: RoutingDecision
    gaps: list[DataGap]
    now: datetime
    orders: list[Resource]
    record: PatientRecord
    encounter_id: str | None = None
    configuration: Any = None


UNKNOWN_PAYER = "Payer not identified"


def payer_label(data: ResponseInput, evaluation: PolicyEvaluation) -> str:
    """The insurer the patient knows (CRD resp-4): the Coverage's payor; said to be unknown when no route matched."""
    if data.routing.payer_name:
        return data.routing.payer_name
    if data.routing.source == "default":
        return UNKNOWN_PAYER  # the default policy was applied: its payer is not the patient's
    return evaluation.policy.payer


class CardKit:
    """Templates and settings, and the parts every card is built from."""

    def __init__(self, settings: Settings, mappings: Mappings) -> None:
        self.settings = settings
        self.templates = load_templates(settings.cards_dir, mappings)

    def source(
        self, data: ResponseInput, evaluation: PolicyEvaluation, card_type: str, criterion: str | None = None
    ) -> dict[str, Any]:
        """A card's source: the patient's payer as label, the policy's URL, and the CRD card type as topic."""
        policy = evaluation.policy
        source: dict[str, Any] = {
            "label": payer_label(data, evaluation),
            "url": policy.url,
            "topic": {"system": CRD_CARD_TYPE, "code": card_type},
        }
        if criterion:
            source["topic"]["display"] = criterion
        return source

    def card(
        self,
        kind: str,
        indicator: str,
        summary: str,
        detail_text: str,
        source: dict[str, Any],
        order: Resource | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """A card skeleton with uuid, shortened summary and CRD card type; linked to the order when one is given."""
        card: dict[str, Any] = {
            "uuid": str(uuid.uuid4()),
            "summary": shorten(summary),
            "indicator": indicator,
            "detail": detail_text,
            "source": source,
            **extra,
            "_type": CARD_TYPE[kind],
        }
        if order is not None and order.get("id"):
            card["extension"] = {ASSOCIATED_RESOURCE: [f"ServiceRequest/{order['id']}"]}
        return card

    def override_reasons(self, kind: str, deadline_ahead: bool = False) -> list[dict[str, Any]]:
        """The override reasons that fit a card kind, as Codings; the deadline ones only while a deadline is ahead."""
        reasons = self.templates["override-reasons"]
        chosen = list(reasons[kind]) + (list(reasons.get("deadline-ahead") or []) if deadline_ahead else [])
        return [{"code": r["code"], "system": OVERRIDE_SYSTEM, "display": r["display"]} for r in chosen]

    def reason(self, result: CriterionResult, evaluation: PolicyEvaluation, data: ResponseInput) -> str:
        """The engine's reason for a card: group parts named by their text, references as resources in words."""
        nodes = evaluation.policy.nodes
        texts = {key: getattr(node, "text", "") or "" for key, node in nodes.items()}
        reason = group_reason(result.reason, texts) or result.reason
        for key in sorted((k for k in nodes if k in reason), key=len, reverse=True):
            reason = reason.replace(key, texts[key].rstrip(".") or "a further requirement")  # never an id in text
        return in_words(unreadable_in_words(reason), data.record, data.orders, self.zone(evaluation))

    def zone(self, evaluation: PolicyEvaluation) -> tzinfo:
        """The zone the policy's reasons state times in: the policy's own, else the site's."""
        return zone_named(evaluation.policy.timezone or self.settings.timezone)

    def evidence(self, keys: list[str], data: ResponseInput, evaluation: PolicyEvaluation) -> str:
        """Evidence references in words, times in the policy's zone like the reasons."""
        return evidence_in_words(keys, data.record, data.orders, self.zone(evaluation))

    def policy_link(self, evaluation: PolicyEvaluation) -> dict[str, Any]:
        """A link to the policy's text."""
        label = fill(self.templates["documentation"]["policy-link"], policy=evaluation.policy.title)
        return {"label": label, "url": evaluation.policy.url, "type": "absolute"}

    def suggestion(self, name: str, data: ResponseInput, result: CriterionResult) -> dict[str, Any]:
        """A suggestion that creates the resource a template names, filled in for this patient and due time."""
        spec = self.templates["suggestions"][name]
        resource = copy.deepcopy(spec["resource"])
        patient = (
            {"reference": f"Patient/{data.record.of_type('Patient')[0]['id']}"}
            if data.record.of_type("Patient") and data.record.of_type("Patient")[0].get("id")
            else None
        )
        kind = resource["resourceType"]
        if kind == "Appointment":
            if patient:
                resource["participant"] = [{"actor": patient, "status": "needs-action"}]
            period = {"start": data.now.isoformat()}
            if result.due is not None and result.due > data.now:
                period["end"] = result.due.isoformat()  # a passed deadline: as soon as possible, no end before start
            resource["requestedPeriod"] = [period]
        elif kind == "Task":
            if patient:
                resource["for"] = patient
            resource["authoredOn"] = data.now.isoformat()
            focus = next((k for k in result.evidence if k.startswith("MedicationRequest/")), None)
            if focus:
                resource["focus"] = {"reference": focus}
            if result.due is not None and result.due > data.now:
                resource["restriction"] = {"period": {"end": result.due.isoformat()}}
        elif patient:
            resource["subject"] = patient
        if kind == "ServiceRequest":
            resource["authoredOn"] = data.now.isoformat()
        if resource["resourceType"] == "CarePlan":
            resource["created"] = data.now.isoformat()
        return {
            "label": spec["label"],
            "uuid": str(uuid.uuid4()),
            "actions": [{"type": "create", "description": spec["description"], "resource": resource}],
        }
