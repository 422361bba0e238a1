"""Molina: a reviewer's cases read from the specification sentences alone (issue 15), messy real-shaped data."""

from __future__ import annotations

from typing import Any

import pytest
from sentence_cases import SentenceCase, add, by_id, check, drop, evaluate
from test_molina_sentences import (
    HCPCS,
    PCP_CONSENT,
    PCP_REFUSAL,
    PSYCHIATRY_REFERRAL,
    Q_CRISIS,
    Q_MED_ACCESS,
    Q_PCP,
    Q_SCOPE,
    Change,
    _attested,
    _inpatient_discharge_plan,
    _procedures,
    discharge,
)

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"


def _safety_plan_note(when: str, *, status: str = "current", encounter: str | None = "P5-prog") -> Change:
    """A safety plan written as a clinical note (DocumentReference typed 'safety plan'), as many EHRs store it."""
    note: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "id": "P5-safety-note",
        "status": status,
        "subject": {"reference": "Patient/P5-patient"},
        "type": {"coding": [{"system": SNOMED, "code": "736253002", "display": "Mental health crisis plan"}]},
        "date": when,
        "content": [{"attachment": {"contentType": "text/plain", "title": "Safety plan"}}],
    }
    if encounter:
        note["context"] = {"encounter": [{"reference": f"Encounter/{encounter}"}]}
    return lambda b: add(b, note)


def _safety_planning_service(when: str) -> Change:
    """A safety planning intervention billed during the stay (HCPCS G0560), performed late in the evening UTC."""
    procedure = {
        "resourceType": "Procedure",
        "id": "P5-safety-planning",
        "status": "completed",
        "subject": {"reference": "Patient/P5-patient"},
        "encounter": {"reference": "Encounter/P5-sess-05"},
        "code": {"coding": [{"system": HCPCS, "code": "G0560"}]},
        "performedDateTime": when,
    }
    return lambda b: add(b, procedure)


def _referral(status: str) -> Change:
    return lambda b: add(b, dict(PSYCHIATRY_REFERRAL, status=status))


def _only_refuted_condition_and_order_reason(b: dict[str, Any]) -> None:
    """The problem list holds one refuted diagnosis; the program's diagnosis is on the encounter reason code only."""
    drop(b, lambda r: r.get("id") in {"P5-cond-2", "P5-cond-3"})
    cond = by_id(b, "P5-cond-1")
    cond["verificationStatus"]["coding"][0]["code"] = "refuted"
    cond["code"] = {"coding": [{"system": ICD, "code": "F32.9"}]}
    prog = by_id(b, "P5-prog")
    prog.pop("reasonReference", None)
    prog["reasonCode"] = [{"coding": [{"system": ICD, "code": "F4310"}]}]


CASES: list[tuple[SentenceCase, str]] = [
    # “Development and/or updating of crisis prevention plan, and/or safety plan”: the plan is the document, in
    # whatever resource the EHR stores it; a safety plan note of this stay is a development of one.
    (
        discharge(
            "molina.components.1c-crisis-safety-plan", "met", Q_CRISIS,
            _safety_plan_note("2025-03-05T23:30:00Z"), name="safety-plan-as-a-note",
        ),
        "P5-safety-note",
    ),
    (
        discharge(
            "molina.components.1c-crisis-safety-plan", "met", Q_CRISIS,
            _safety_planning_service("2025-03-06T02:15:00Z"), name="safety-planning-intervention-g0560",
        ),
        "P5-safety-planning",
    ),
    (
        discharge(
            "molina.components.1c-crisis-safety-plan", "not-met", Q_CRISIS,
            _safety_plan_note("2022-05-01T10:00:00-04:00", encounter=None), name="a-2022-note-is-not-this-stays",
        ),
        "found in the record",
    ),
    (
        discharge(
            "molina.components.1c-crisis-safety-plan", "not-met", Q_CRISIS,
            _safety_plan_note("2025-03-05T10:00:00-05:00", status="entered-in-error"), name="note-entered-in-error",
        ),
        "found in the record",
    ),
    (
        discharge(
            "molina.components.1c-crisis-safety-plan", "not-met", Q_CRISIS, _inpatient_discharge_plan,
            _safety_plan_note("2025-03-02T19:00:00-05:00", encounter="P5-inpatient"),
            name="the-inpatient-units-safety-note-is-not-the-iops",
        ),
        "made in another stay or program",
    ),
    # “Provision of access to medication evaluation and medication management … directly or by referral”: a draft
    # or withdrawn referral gives no access.
    (
        discharge(
            "molina.components.1h-med-eval-access", "not-met", Q_MED_ACCESS,
            _procedures("99213"), _referral("draft"), name="draft-referral-is-not-a-referral",
        ),
        "found in the record",
    ),
    (
        discharge(
            "molina.components.1h-med-eval-access", "not-met", Q_MED_ACCESS,
            _procedures("99213"), _referral("revoked"), name="revoked-referral",
        ),
        "found in the record",
    ),
    # “Members who demonstrate symptomatology consistent with a DSM-5 diagnosis”: a refuted old diagnosis is not
    # positive evidence of no diagnosis when the stay's encounter gives one (dotless ICD-10-CM).
    (
        discharge(
            "molina.scope.2-dsm5-dx", "met", Q_SCOPE, _only_refuted_condition_and_order_reason,
            name="diagnosis-on-the-encounter-only",
        ),
        "",
    ),
    # “With Member consent, the provider collaborates with the Member's PCP”: a consent given for this stay outranks
    # a refusal of 2019; a refusal given during the stay lifts the duty whatever was consented before.
    (
        discharge(
            "molina.linkage.3-pcp-collaboration", "met", Q_PCP,
            lambda b: add(b, dict(PCP_REFUSAL, dateTime="2019-04-02"), PCP_CONSENT),
            _attested("molina.linkage.3-pcp-collaboration", True), name="re-consented-after-a-2019-refusal",
        ),
        "attested yes",
    ),
    (
        discharge(
            "molina.linkage.3-pcp-collaboration", "not-applicable", Q_PCP,
            lambda b: add(b, dict(PCP_CONSENT, dateTime="2019-04-02"), dict(PCP_REFUSAL, dateTime="2025-03-10")),
            name="refused-during-the-stay",
        ),
        "refusal to share information with the PCP",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("case", "reason"), CASES, ids=lambda c: c.id if isinstance(c, SentenceCase) else "")
def test_review(case: SentenceCase, reason: str) -> None:
    """The status the sentence gives, and the reason names the evidence (or its absence)."""
    check(case)
    assert reason in evaluate(case)[case.criterion]["reason"]
