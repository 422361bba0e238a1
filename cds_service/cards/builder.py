"""Outcomes to the CDS Hooks response: each policy's cards, service notes, and CRD coverage information."""

from __future__ import annotations

from typing import Any

from cds_service.cards.coverage import coverage_actions, coverage_target
from cds_service.cards.documentation import documentation_card
from cds_service.cards.findings import notice_cards, unmet_card
from cds_service.cards.kit import CARD_TYPE, INDICATOR_RANK, CardKit, ResponseInput, payer_label
from cds_service.cards.safety import safety_card
from cds_service.cards.service_notes import incomplete_card, no_coverage_card
from cds_service.config import Settings
from cds_service.engine.evaluator import CriterionResult, PolicyEvaluation
from cds_service.engine.mapping import Mappings
from cds_service.engine.outcome import Status
from cds_service.engine.policy import Group
from cds_service.record.patient_record import Resource


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
        self.kit = CardKit(settings, mappings)

    def build(self, data: ResponseInput) -> dict[str, Any]:
        """The response body: cards (critical first, at most max-cards) and coverage-information systemActions."""
        enabled, limit = card_options(data.configuration, self.settings.max_cards)
        several_orders = len(data.orders) > 1
        cards: list[dict[str, Any]] = []
        if data.gaps:
            cards.append(incomplete_card(self.kit, data.gaps))
        for evaluation in data.evaluations:
            order = _order_for(evaluation, data.orders) if several_orders else None
            cards.extend(self._policy_cards(evaluation, data, order))
        target = coverage_target(data)
        coverage_key, in_force = target
        coverage_unread = any(gap.key == "coverage" for gap in data.gaps)
        if not in_force and data.evaluations and not coverage_unread:
            # when the query failed, the data-gap card says so
            cards.append(no_coverage_card(self.kit, data, on_file=coverage_key is not None))
        cards = [c for c in cards if enabled.get(c.pop("_type"), True)]
        cards.sort(key=lambda c: INDICATOR_RANK[c["indicator"]])
        response: dict[str, Any] = {"cards": cards[:limit]}
        actions = coverage_actions(data, target)
        if actions:
            response["systemActions"] = actions
        return response

    def _policy_cards(
        self, evaluation: PolicyEvaluation, data: ResponseInput, order: Resource | None
    ) -> list[dict[str, Any]]:
        not_met, unknown = reportable(evaluation)
        phase = self.kit.templates.get("phases", {}).get(evaluation.phase, evaluation.phase)
        order_note = f" for order ServiceRequest/{order['id']}" if order is not None else ""
        common = {
            "payer": payer_label(data, evaluation),  # the patient's insurer, or said to be unknown
            "policy": evaluation.policy.title,
            "phase": phase,
            "order": order_note,
        }
        # One card per finding: a safety finding has its own critical card and is not repeated on the summary.
        safety = [c for c in not_met if c.tier == "safety"]
        others = [c for c in not_met if c.tier != "safety"]
        cards = [safety_card(self.kit, evaluation, c, data, order, common) for c in safety]
        cards += notice_cards(self.kit, data, evaluation, order)
        if others:
            cards.append(unmet_card(self.kit, evaluation, others, data, order, common))
        if unknown:
            cards.append(documentation_card(self.kit, evaluation, unknown, data, order, common))
        return cards


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
