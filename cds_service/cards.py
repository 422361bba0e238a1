"""Outcomes to CDS cards (critical safety, unmet summary, documentation needed) and CRD coverage information."""

from __future__ import annotations

import copy
import json
import string
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from cds_service.config import Settings
from cds_service.coverage_info import coverage_information, detail, update_action
from cds_service.engine import CriterionResult, PolicyEvaluation
from cds_service.mapping import Mappings
from cds_service.outcome import Status
from cds_service.policy import Group
from cds_service.record import DataGap, PatientRecord, Resource, reference_key
from cds_service.routing import RoutingDecision

SUMMARY_LIMIT = 139
CRD_CARD_TYPE = "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp"
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
REQUIRED_TEMPLATES = {
    "safety": ("summary", "detail", "suggestion"),
    "unmet": ("summary", "intro", "item"),
    "documentation": ("summary", "intro", "item", "attestation-link", "policy-link"),
    "incomplete": ("summary", "detail"),
    "no-coverage": ("summary", "detail"),
}


class CardTemplateError(ValueError):
    """The card templates are malformed or miss a suggestion a policy names; ``problems`` lists each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("card templates: " + "; ".join(problems))
        self.problems = problems


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


def shorten(text: str, limit: int = SUMMARY_LIMIT) -> str:
    """``text`` cut to ``limit`` characters at a word boundary, with an ellipsis when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:—-")
    return cut + "…"


def _fill(template: str, **values: Any) -> str:
    return string.Formatter().vformat(template, (), _Defaults(values))


class _Defaults(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def load_templates(folder: str | Path, mappings: Mappings) -> dict[str, Any]:
    """Read ``cards/templates.yaml`` and check it holds every template and every suggestion the policies name."""
    path = Path(folder) / "templates.yaml"
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CardTemplateError([f"{path}: {exc}"]) from None
    problems: list[str] = []
    if not isinstance(doc, dict):
        raise CardTemplateError([f"{path}: expected a mapping"])
    for section, keys in REQUIRED_TEMPLATES.items():
        block = doc.get(section)
        for key in keys:
            if not isinstance(block, dict) or not isinstance(block.get(key), str):
                problems.append(f"{path}: {section}.{key} is missing")
    suggestions = doc.get("suggestions") or {}
    for name, spec in suggestions.items():
        if not (
            isinstance(spec, dict)
            and isinstance(spec.get("resource"), dict)
            and isinstance(spec.get("label"), str)
            and isinstance(spec.get("description"), str)
        ):
            problems.append(f"{path}: suggestions.{name} needs label, description and resource")
    safety = doc.get("safety") or {}
    if isinstance(safety, dict) and safety.get("suggestion") not in suggestions:
        problems.append(f"{path}: safety.suggestion {safety.get('suggestion')!r} is not a defined suggestion")
    for policy in mappings.policies.values():
        for criterion in policy.criteria():
            if criterion.suggest and criterion.suggest not in suggestions:
                known = ", ".join(sorted(suggestions))
                problems.append(
                    f"{policy.file or policy.key}: {criterion.id}: unknown suggestion "
                    f"{criterion.suggest!r} (defined in {path.name}: {known})"
                )
    reasons = doc.get("override-reasons")
    if not isinstance(reasons, list) or not all(
        isinstance(r, dict) and r.get("code") and r.get("display") for r in reasons
    ):
        problems.append(f"{path}: override-reasons must list {{code, display}} entries")
    if problems:
        raise CardTemplateError(problems)
    return doc


def card_options(configuration: Any, default_max: int) -> tuple[dict[str, bool], int]:
    """The CRD ``davinci-crd.configuration`` switches (card type → enabled) and max-cards; bad values are ignored."""
    enabled = {code: True for code in set(CARD_TYPE.values())}
    limit = default_max
    if isinstance(configuration, dict):
        for code in enabled:
            if isinstance(configuration.get(code), bool):
                enabled[code] = configuration[code]
        requested = configuration.get("max-cards")
        if isinstance(requested, int) and not isinstance(requested, bool) and requested >= 0:
            limit = requested
    return enabled, limit


class CardBuilder:
    """Builds the CDS Hooks response (cards + systemActions) from evaluations."""

    def __init__(self, settings: Settings, mappings: Mappings) -> None:
        self.settings = settings
        self.mappings = mappings
        self.templates = load_templates(settings.cards_dir, mappings)

    def build(self, data: ResponseInput) -> dict[str, Any]:
        """The response body: cards (critical first, at most max-cards) and coverage-information systemActions."""
        enabled, limit = card_options(data.configuration, self.settings.max_cards)
        several_orders = len(data.orders) > 1
        cards: list[dict[str, Any]] = []
        if data.gaps:
            cards.append(self._incomplete_card(data.gaps))
        for evaluation in data.evaluations:
            order = _order_for(evaluation, data.orders) if several_orders else None
            cards.extend(self._policy_cards(evaluation, data, order))
        coverage = data.routing.coverage
        coverage_key = reference_key(f"Coverage/{coverage['id']}") if coverage and coverage.get("id") else None
        if coverage_key is None and data.evaluations:
            cards.append(self._no_coverage_card(data))
        cards = [c for c in cards if enabled.get(c.pop("_type"), True)]
        cards.sort(key=lambda c: INDICATOR_RANK[c["indicator"]])
        response: dict[str, Any] = {"cards": cards[:limit]}
        if coverage_key is not None:
            actions = self._coverage_actions(data, coverage_key)
            if actions:
                response["systemActions"] = actions
        return response

    # Cards -------------------------------------------------------------------------------------------------

    def _source(self, evaluation: PolicyEvaluation, card_type: str, criterion: str | None = None) -> dict[str, Any]:
        policy = evaluation.policy
        source: dict[str, Any] = {
            "label": policy.payer,
            "url": policy.url,
            "topic": {"system": CRD_CARD_TYPE, "code": card_type},
        }
        if criterion:
            source["topic"]["display"] = criterion
        return source

    def _card(
        self,
        kind: str,
        indicator: str,
        summary: str,
        detail_text: str,
        source: dict[str, Any],
        order: Resource | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
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

    def _override_reasons(self) -> list[dict[str, Any]]:
        return [
            {"code": r["code"], "system": OVERRIDE_SYSTEM, "display": r["display"]}
            for r in self.templates["override-reasons"]
        ]

    def _policy_cards(
        self, evaluation: PolicyEvaluation, data: ResponseInput, order: Resource | None
    ) -> list[dict[str, Any]]:
        not_met, unknown = reportable(evaluation)
        phase = self.templates.get("phases", {}).get(evaluation.phase, evaluation.phase)
        order_note = f" for order ServiceRequest/{order['id']}" if order is not None else ""
        common = {
            "payer": evaluation.policy.payer,
            "policy": evaluation.policy.title,
            "phase": phase,
            "order": order_note,
        }
        cards = [self._safety_card(evaluation, c, data, order, common) for c in not_met if c.tier == "safety"]
        cards += self._notice_cards(evaluation, order)
        if not_met:
            cards.append(self._unmet_card(evaluation, not_met, data, order, common))
        if unknown:
            cards.append(self._documentation_card(evaluation, unknown, data, order, common))
        return cards

    def _safety_card(
        self,
        evaluation: PolicyEvaluation,
        result: CriterionResult,
        data: ResponseInput,
        order: Resource | None,
        common: dict[str, str],
    ) -> dict[str, Any]:
        t = self.templates["safety"]
        values = {
            **common,
            "criterion": result.text or result.id,
            "citation": result.citation,
            "reason": result.reason,
            "evidence": ", ".join(result.evidence) or "none",
        }
        suggestion = self._suggestion(t["suggestion"], data, result)
        return self._card(
            "safety",
            "critical",
            _fill(t["summary"], **values),
            _fill(t["detail"], **values) + f"\n\n`{result.id}`",
            self._source(evaluation, CARD_TYPE["safety"], result.id),
            order,
            suggestions=[suggestion],
            selectionBehavior="at-most-one",
            overrideReasons=self._override_reasons(),
        )

    def _unmet_card(
        self,
        evaluation: PolicyEvaluation,
        results: list[CriterionResult],
        data: ResponseInput,
        order: Resource | None,
        common: dict[str, str],
    ) -> dict[str, Any]:
        t = self.templates["unmet"]
        lines = [_fill(t["intro"], **common), ""]
        for r in results:
            evidence = f" (evidence: {', '.join(r.evidence)})" if r.evidence else ""
            lines.append(
                _fill(t["item"], text=r.text or r.id, citation=r.citation, reason=r.reason, evidence=evidence)
                + f" `{r.id}`"
            )
        suggestions = []
        for r in results:
            if r.suggest and all(s["label"] != self.templates["suggestions"][r.suggest]["label"] for s in suggestions):
                suggestions.append(self._suggestion(r.suggest, data, r))
        extra: dict[str, Any] = {}
        if suggestions:
            extra = {"suggestions": suggestions, "selectionBehavior": "any"}
        extra["overrideReasons"] = self._override_reasons()
        extra["links"] = [self._policy_link(evaluation)]
        # The summary is as severe as the worst finding it lists (catalogue §4.3).
        indicator = "critical" if any(r.tier == "safety" for r in results) else "warning"
        return self._card(
            "unmet",
            indicator,
            _fill(t["summary"], count=len(results), **common),
            "\n".join(lines),
            self._source(evaluation, CARD_TYPE["unmet"]),
            order,
            **extra,
        )

    def _documentation_card(
        self,
        evaluation: PolicyEvaluation,
        results: list[CriterionResult],
        data: ResponseInput,
        order: Resource | None,
        common: dict[str, str],
    ) -> dict[str, Any]:
        t = self.templates["documentation"]
        lines = [_fill(t["intro"], **common), ""]
        lines += [
            _fill(t["item"], text=r.text or r.id, citation=r.citation, reason=r.reason) + f" `{r.id}`" for r in results
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
                "label": _fill(t["attestation-link"], count=len(results), **common),
                "url": self.settings.attestation_app_url,
                "type": "smart",
                "appContext": json.dumps(app_context),
            },
            self._policy_link(evaluation),
        ]
        return self._card(
            "documentation",
            "warning" if overdue else "info",
            _fill(t["summary"], count=len(results), **common),
            "\n".join(lines),
            self._source(evaluation, CARD_TYPE["documentation"]),
            order,
            links=links,
        )

    def _notice_cards(self, evaluation: PolicyEvaluation, order: Resource | None) -> list[dict[str, Any]]:
        """Info cards the policy asks for when a criterion ends a certain way (a gate closed, a state rule)."""
        cards = []
        for result in evaluation.criteria:
            node = evaluation.policy.nodes.get(result.id)
            notice = getattr(node, "notice", None)
            if notice and result.status.value in notice["when"]:
                detail = (
                    f"{notice.get('detail', '')}\n\n{result.text} ({result.citation}): {result.reason} `{result.id}`"
                )
                cards.append(
                    self._card(
                        "notice",
                        "info",
                        notice["summary"],
                        detail.strip(),
                        self._source(evaluation, CARD_TYPE["notice"]),
                        order,
                        links=[self._policy_link(evaluation)],
                    )
                )
        return cards

    def _policy_link(self, evaluation: PolicyEvaluation) -> dict[str, Any]:
        label = _fill(self.templates["documentation"]["policy-link"], policy=evaluation.policy.title)
        return {"label": label, "url": evaluation.policy.url, "type": "absolute"}

    def _incomplete_card(self, gaps: list[DataGap]) -> dict[str, Any]:
        t = self.templates["incomplete"]
        keys = ", ".join(g.key for g in gaps)
        listing = "\n".join(f"- `{g.key}`: {g.reason}" for g in gaps)
        source = {"label": "IOP requirements service", "topic": {"system": CRD_CARD_TYPE, "code": "coverage-info"}}
        return self._card(
            "incomplete", "warning", _fill(t["summary"], keys=keys), _fill(t["detail"], gaps=listing), source
        )

    def _no_coverage_card(self, data: ResponseInput) -> dict[str, Any]:
        t = self.templates["no-coverage"]
        stay = "IOP order" if data.hook == "order-sign" else "IOP encounter"
        first = data.evaluations[0]
        values = {"stay": stay, "policy": ", ".join(dict.fromkeys(e.policy.title for e in data.evaluations))}
        return self._card(
            "no-coverage",
            "info",
            _fill(t["summary"], **values),
            _fill(t["detail"], **values),
            self._source(first, CARD_TYPE["no-coverage"]),
        )

    def _suggestion(self, name: str, data: ResponseInput, result: CriterionResult) -> dict[str, Any]:
        spec = self.templates["suggestions"][name]
        resource = copy.deepcopy(spec["resource"])
        patient = (
            {"reference": f"Patient/{data.record.of_type('Patient')[0]['id']}"}
            if data.record.of_type("Patient") and data.record.of_type("Patient")[0].get("id")
            else None
        )
        if resource["resourceType"] == "Appointment":
            if patient:
                resource["participant"] = [{"actor": patient, "status": "needs-action"}]
            if result.due is not None:
                resource["requestedPeriod"] = [{"start": data.now.isoformat(), "end": result.due.isoformat()}]
        elif patient:
            resource["subject"] = patient
        if resource["resourceType"] == "CarePlan":
            resource["created"] = data.now.isoformat()
        return {
            "label": spec["label"],
            "uuid": str(uuid.uuid4()),
            "actions": [{"type": "create", "description": spec["description"], "resource": resource}],
        }

    # Coverage information ----------------------------------------------------------------------------------

    def _coverage_actions(self, data: ResponseInput, coverage_key: str) -> list[dict[str, Any]]:
        if data.hook == "order-sign":
            targets = [
                (o, [e for e in data.evaluations if e.order in (None, f"ServiceRequest/{o.get('id')}")])
                for o in data.orders
            ]
        else:
            encounter = data.record.resolve(f"Encounter/{data.encounter_id}") if data.encounter_id else None
            targets = [(encounter, data.evaluations)] if encounter is not None else []
        actions = []
        for resource, evaluations in targets:
            information = self._coverage_information(data, coverage_key, evaluations)
            kind = resource.get("resourceType", "resource")
            actions.append(
                update_action(resource, information, f"Record the payer's IOP coverage information on the {kind}")
            )
        return actions

    def _coverage_information(
        self, data: ResponseInput, coverage_key: str, evaluations: list[PolicyEvaluation]
    ) -> dict[str, Any]:
        links = [detail("policy-link", "Policy", e.policy.url) for e in evaluations]
        if data.gaps:
            return coverage_information(
                coverage_ref=coverage_key,
                covered="indeterminate",
                date=data.now,
                reason=("technical", "Technical issue"),
                reason_text="Some of the patient's data could not be read; requirements were not fully evaluated.",
                details=links,
            )
        leaves = [
            c for e in evaluations for c in e.criteria if not c.group and not c.superseded and c.tier != "program"
        ]
        not_met = [c.id for c in leaves if c.status is Status.NOT_MET]
        unknown = [c.id for c in leaves if c.status is Status.UNKNOWN]
        if not not_met and not unknown:
            return coverage_information(coverage_ref=coverage_key, covered="covered", date=data.now, details=links)
        parts = []
        if not_met:
            parts.append(f"{len(not_met)} requirement(s) not met: {', '.join(not_met)}")
        if unknown:
            parts.append(f"{len(unknown)} requirement(s) need documentation: {', '.join(unknown)}")
        # CRD hook-19: coverage information on encounter-discharge never requests documentation.
        documentation = ["clinical"] if unknown and data.hook == "order-sign" else None
        return coverage_information(
            coverage_ref=coverage_key,
            covered="conditional",
            date=data.now,
            reason_text="; ".join(parts),
            doc_needed=documentation,
            info_needed=["OTH"],
            details=links,
        )


def _parents(group: Group, into: dict[int, Group]) -> dict[int, Group]:
    for child in group.children:
        into[id(child)] = group
        if isinstance(child, Group):
            _parents(child, into)
    return into


def reportable(evaluation: PolicyEvaluation) -> tuple[list[CriterionResult], list[CriterionResult]]:
    """The not-met requirements and the undecided items a card should name.

    A not-met leaf counts only when its failure decides something: every one-of group above it has failed too
    (an alternative may still satisfy the group otherwise). Undecided leaves under an undecided group that has
    a catalogue id of its own (e.g. Medica Adult Admission #7) are named once, by that group.
    """
    by_id = {r.id: r for r in evaluation.criteria}
    parents = _parents(evaluation.policy.tree, {})
    nodes = evaluation.policy.nodes

    def ancestors(result: CriterionResult) -> list[CriterionResult]:
        chain, node = [], nodes.get(result.id)
        while node is not None and (parent := parents.get(id(node))) is not None:
            if parent.id in by_id:
                chain.append(by_id[parent.id])
            node = parent
        return chain

    not_met, unknown, named = [], [], set()
    for result in evaluation.criteria:
        if result.group or result.superseded or result.tier == "program":
            continue
        chain = ancestors(result)
        if result.status is Status.NOT_MET:
            alternatives = [g for g in chain if isinstance(nodes.get(g.id), Group) and nodes[g.id].kind != "all-of"]
            if all(g.status is Status.NOT_MET for g in alternatives):
                not_met.append(result)
        elif result.status is Status.UNKNOWN:
            composite = next((g for g in reversed(chain) if "." in g.id and g.status is Status.UNKNOWN), None)
            item = composite or result
            if item.id not in named:
                named.add(item.id)
                unknown.append(item)
    return not_met, unknown


def _order_for(evaluation: PolicyEvaluation, orders: list[Resource]) -> Resource | None:
    """The draft order an evaluation concerns, when the call signed several."""
    for order in orders:
        if evaluation.order == f"ServiceRequest/{order.get('id')}":
            return order
    return None
