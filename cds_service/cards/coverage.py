"""Which CRD coverage assertion each IOP order or discharged program gets, as update systemActions.

`covered` is asserted only for an IOP order, only under a coverage policy (a provider performance
specification sets standards of care, not medical-necessity criteria), and only when every criterion of the
order's phase is met on positive evidence (DATA-PROFILE §6). A discharge never asserts `covered`: the
admission criteria are not evaluated there.
"""

from __future__ import annotations

from typing import Any

from cds_service.cards.coverage_info import coverage_information, detail, update_action
from cds_service.cards.kit import ResponseInput
from cds_service.engine.evaluator import PolicyEvaluation
from cds_service.engine.outcome import Status
from cds_service.engine.policy import COVERAGE_POLICY

NOT_ASSESSED = (
    "{policies}: a provider performance specification sets standards of care, not coverage criteria; "
    "coverage is not determined here."
)


def coverage_actions(data: ResponseInput, coverage_key: str | None) -> list[dict[str, Any]]:
    """An update systemAction with coverage information per IOP order, or for the discharged IOP program."""
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
        if not evaluations:
            continue  # not an IOP program (or no policy applied): nothing to assert
        information = coverage_for(data, coverage_key, evaluations)
        if information is None:
            continue
        kind = resource.get("resourceType", "resource")
        actions.append(
            update_action(resource, information, f"Record the payer's IOP coverage information on the {kind}")
        )
    return actions


def unevaluated_actions(data: ResponseInput, coverage_key: str | None) -> list[dict[str, Any]]:
    """Order-sign whose record could not be evaluated: each IOP order's coverage is indeterminate (technical)."""
    if data.hook != "order-sign":
        return []
    return [
        update_action(
            order,
            coverage_information(
                coverage_ref=coverage_key,
                covered="indeterminate",
                date=data.now,
                reason="technical",
                reason_text="The patient's record holds data the service could not evaluate; requirements were not "
                "evaluated.",
            ),
            f"Record the payer's IOP coverage information on the {order.get('resourceType', 'order')}",
        )
        for order in data.orders
    ]


def coverage_for(
    data: ResponseInput, coverage_key: str | None, evaluations: list[PolicyEvaluation]
) -> dict[str, Any] | None:
    """The coverage-information extension for one resource, or None when there is nothing to assert."""
    links = [detail("policy-link", e.policy.url) for e in evaluations]
    if data.gaps:
        return coverage_information(
            coverage_ref=coverage_key,
            covered="indeterminate",
            date=data.now,
            reason="technical",
            reason_text="Some of the patient's data could not be read; requirements were not fully evaluated.",
            details=links,
        )
    if coverage_key is None:
        if data.hook != "order-sign":
            return None
        # CRD resp-45: no active coverage is answered as not covered, with the reason.
        return coverage_information(
            coverage_ref=None,
            covered="not-covered",
            date=data.now,
            reason="no-active-coverage",
            reason_text="No active Coverage was found for the patient.",
            details=links,
        )
    assessed = [e for e in evaluations if e.policy.kind == COVERAGE_POLICY]
    if not assessed:
        if data.hook != "order-sign":
            return None
        # CRD asks for coverage information on every order-sign; a performance specification cannot give one.
        titles = ", ".join(dict.fromkeys(e.policy.title for e in evaluations))
        return coverage_information(
            coverage_ref=coverage_key,
            covered="indeterminate",
            date=data.now,
            reason_text=NOT_ASSESSED.format(policies=titles),
            details=links,
        )
    leaves = [c for e in assessed for c in e.criteria if not c.group and not c.superseded and c.tier != "program"]
    not_met = [c.id for c in leaves if c.status is Status.NOT_MET]
    unknown = [c.id for c in leaves if c.status is Status.UNKNOWN]
    if not not_met and not unknown:
        if data.hook != "order-sign":
            return None
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
