"""Which CRD coverage assertion each IOP order or discharged program gets, as update systemActions.

`covered` is asserted only for an IOP order, only under a coverage policy (a provider performance
specification sets standards of care, not medical-necessity criteria), and only when every criterion of the
order's phase is met on positive evidence (DATA-PROFILE §6). A discharge never asserts `covered`: the
admission criteria are not evaluated there.

Every order-sign answer carries coverage information (CRD hook-16, issue 11). With only a Coverage that is not in
force, an order is `not-covered` / `no-active-coverage` pointing to it; with no Coverage on file, `not-covered` /
`coverage-not-found` (CRD resp-45), or `indeterminate` / `technical` when the Coverage query failed (resp-43)
(mappings/DECISIONS.md, "Coverage assertions").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cds_service.cards.coverage_info import coverage_information, detail, update_action
from cds_service.cards.kit import ResponseInput
from cds_service.engine.evaluator import PolicyEvaluation
from cds_service.engine.outcome import Status
from cds_service.engine.policy import COVERAGE_POLICY
from cds_service.engine.routing import coverage_rank, in_force
from cds_service.record.patient_record import Resource, reference_key

# A Coverage on file that is not in force; entered-in-error is no Coverage at all.
LAPSED_STATUSES = ("cancelled", "draft")
NOT_ACTIVE = "The patient's Coverage on file is not active."
NOT_FOUND = "No Coverage is on file for the patient."

NOT_ASSESSED = (
    "{policies}: a provider performance specification sets standards of care, not coverage criteria; "
    "coverage is not determined here."
)


def coverage_target(data: ResponseInput) -> tuple[str | None, bool]:
    """The Coverage the assertions point to and whether it is in force: the primary one in force, else one on file
    that is cancelled, still a draft, or active outside its period (lowest ``order`` first); ``(None, False)`` when
    the patient has none."""
    coverage = data.routing.coverage
    if coverage is not None and coverage.get("id"):
        return reference_key(f"Coverage/{coverage['id']}"), True
    lapsed = [
        c
        for c in data.record.of_type("Coverage")
        if c.get("id") and (c.get("status") in LAPSED_STATUSES or _lapsed_period(c, data.now))
    ]
    if not lapsed:
        return None, False
    first = min(lapsed, key=coverage_rank)
    return reference_key(f"Coverage/{first['id']}"), False


def _lapsed_period(coverage: Resource, now: datetime) -> bool:
    """An active Coverage whose period has ended before, or starts after, the time of the call."""
    return coverage.get("status", "active") == "active" and not in_force(coverage, now)


def coverage_actions(data: ResponseInput, target: tuple[str | None, bool]) -> list[dict[str, Any]]:
    """An update systemAction with coverage information per IOP order, or for the discharged IOP program (a
    discharge only with a Coverage on file); ``target`` is ``coverage_target(data)``."""
    coverage_key, current = target
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
        information = coverage_for(data, coverage_key, evaluations, current)
        if information is None:
            continue
        kind = resource.get("resourceType", "resource")
        actions.append(
            update_action(resource, information, f"Record the payer's IOP coverage information on the {kind}")
        )
    return actions


def unevaluated_actions(data: ResponseInput) -> list[dict[str, Any]]:
    """Order-sign whose record could not be evaluated: each IOP order's coverage is indeterminate (technical), or
    not covered when the only Coverage on file is not in force."""
    coverage_key, current = coverage_target(data)
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
            )
            if current or coverage_key is None
            else _not_in_force(data, coverage_key, []),
            f"Record the payer's IOP coverage information on the {order.get('resourceType', 'order')}",
        )
        for order in data.orders
    ]


def _not_in_force(data: ResponseInput, coverage_key: str | None, links: list[dict[str, Any]]) -> dict[str, Any]:
    """CRD resp-45: the patient has no Coverage in force, so the order is not covered; the reason says whether one
    is on file."""
    return coverage_information(
        coverage_ref=coverage_key,
        covered="not-covered",
        date=data.now,
        reason="no-active-coverage" if coverage_key else "coverage-not-found",
        reason_text=NOT_ACTIVE if coverage_key else NOT_FOUND,
        details=links,
    )


def coverage_for(
    data: ResponseInput, coverage_key: str | None, evaluations: list[PolicyEvaluation], current: bool = True
) -> dict[str, Any] | None:
    """The coverage-information extension for one resource, or None when there is nothing to assert."""
    links = [detail("policy-link", e.policy.url) for e in evaluations]
    if not current and data.hook != "order-sign":
        return None
    if not current and not (coverage_key is None and data.gaps):
        return _not_in_force(data, coverage_key, links)
    if data.gaps:
        return coverage_information(
            coverage_ref=coverage_key,
            covered="indeterminate",
            date=data.now,
            reason="technical",
            reason_text="Some of the patient's data could not be read; requirements were not fully evaluated.",
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
