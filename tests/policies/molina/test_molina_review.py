"""Molina: a reviewer's cases read from the specification sentences alone (issue 15), messy real-shaped data."""

from __future__ import annotations

from typing import Any

import pytest
from sentence_cases import SentenceCase, add, by_id, check, drop, evaluate
from test_molina_sentences import (
    CPT,
    HCPCS,
    PCP_CONSENT,
    PCP_REFUSAL,
    PSYCHIATRY_REFERRAL,
    Q_COUNSELING,
    Q_CRISIS,
    Q_MED_ACCESS,
    Q_MED_PLAN,
    Q_PCP,
    Q_PEER,
    Q_SCOPE,
    Q_SUD,
    Q_THERAPY,
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


def _plan_activities_as_requests(*requests: tuple[str, str, str, int], resolvable: bool = True) -> Change:
    """P5's treatment plan lists its activities as references to ServiceRequests (id, system, code, per week), as
    US Core CarePlans often do, instead of inline activity.detail; the requests are in the record when resolvable."""

    def change(b: dict[str, Any]) -> None:
        by_id(b, "P5-tp")["activity"] = [{"reference": {"reference": f"ServiceRequest/{rid}"}} for rid, *_ in requests]
        if resolvable:
            add(b, *(
                {
                    "resourceType": "ServiceRequest", "id": rid, "status": "active", "intent": "order",
                    "subject": {"reference": "Patient/P5-patient"},
                    "code": {"coding": [{"system": system, "code": code}]},
                    "authoredOn": "2025-03-04T15:30:00Z",
                    "occurrenceTiming": {"repeat": {"frequency": weekly, "period": 1, "periodUnit": "wk"}},
                }
                for rid, system, code, weekly in requests
            ))  # fmt: skip

    return change


GROUP, PEER_SUPPORT, MED_VISIT = ("P5-sr-group", CPT, "90853", 3), ("P5-sr-peer", HCPCS, "H0038", 1), (
    "P5-sr-med", CPT, "99213", 1)  # fmt: skip


def _sessions_coded_snomed_only(b: dict[str, Any]) -> None:
    """The group therapy is recorded only on the session Encounters, typed by SNOMED CT 'Group psychotherapy'."""
    drop(b, lambda r: r["resourceType"] == "Procedure" and r["id"].startswith("P5-group-"))
    for session in b["entry"]:
        resource = session["resource"]
        if resource["id"].startswith("P5-sess-"):
            resource["type"] = [{"coding": [{"system": SNOMED, "code": "76168009"}]}]


def _no_sud_diagnosis_audit_c_integer(b: dict[str, Any]) -> None:
    """No SUD diagnosis and no assessment; an AUDIT-C of 6 on the first morning, stored as valueInteger."""
    drop(b, lambda r: r["id"] in {"P5-cond-2", "P5-sud-assessment"})
    add(b, {
        "resourceType": "Observation", "id": "P5-auditc", "status": "final",
        "subject": {"reference": "Patient/P5-patient"}, "code": {"coding": [{"system": LOINC, "code": "75626-2"}]},
        "effectiveDateTime": "2025-03-03T14:20:00Z", "valueInteger": 6,
    })  # fmt: skip


def _sud_assessment_snomed(b: dict[str, Any]) -> None:
    """The substance use assessment recorded as Synthea records it: SNOMED CT 428211000124100, in UTC."""
    procedure = by_id(b, "P5-sud-assessment")
    procedure["code"] = {"coding": [{"system": SNOMED, "code": "428211000124100"}]}
    procedure["performedDateTime"] = "2025-03-04T03:45:00Z"


def _only_diagnosis(**fields: Any) -> Change:
    """P5's PTSD is its only mental-health diagnosis (and not the program's stated reason), with ``fields`` set;
    ``clinical`` / ``verification`` set its status codes."""

    def change(b: dict[str, Any]) -> None:
        drop(b, lambda r: r.get("id") in {"P5-cond-2", "P5-cond-3"})
        by_id(b, "P5-prog").pop("reasonReference", None)
        condition = by_id(b, "P5-cond-1")
        rest = dict(fields)
        if "clinical" in rest:
            condition["clinicalStatus"]["coding"][0]["code"] = rest.pop("clinical")
        if "verification" in rest:
            condition["verificationStatus"]["coding"][0]["code"] = rest.pop("verification")
        condition.update(rest)

    return change


def _buprenorphine(authored: str, status: str) -> Change:
    """A buprenorphine/naloxone prescription (RxNorm 1010600) written at ``authored``."""
    prescription = {
        "resourceType": "MedicationRequest", "id": "P5-bup-stay", "status": status, "intent": "order",
        "subject": {"reference": "Patient/P5-patient"}, "authoredOn": authored,
        "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                  "code": "1010600"}]},
    }  # fmt: skip
    return lambda b: add(b, prescription)


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
    # “Provision of access to medication evaluation and medication management … directly”: buprenorphine prescribed
    # on day 3 of the stay is medication management given (was not-met with no visit coded) ...
    (
        discharge("molina.components.1h-med-eval-access", "met", Q_MED_ACCESS, _procedures("99213"),
                  _buprenorphine("2025-03-05T21:40:00Z", "active"), name="mat-prescribed-during-the-stay"),
        "P5-bup-stay",
    ),
    # ... one left as an unsigned draft is not.
    (
        discharge("molina.components.1h-med-eval-access", "not-met", Q_MED_ACCESS, _procedures("99213"),
                  _buprenorphine("2025-03-05T21:40:00Z", "draft"), name="mat-draft-never-signed"),
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
    # “A combination of individual, family, caregiver, and/or group counseling … at least one time per week”: a plan
    # whose activities point at requests (group therapy 3 a week) plans it (was not-met: "no such activity") ...
    (
        discharge(
            "molina.process.tp-1a-counseling-weekly", "met", Q_COUNSELING,
            _plan_activities_as_requests(GROUP, PEER_SUPPORT, MED_VISIT), name="activities-as-request-references",
        ),
        "sessions-per-week of treatment plan CarePlan/P5-tp: 3",
    ),
    # ... and one whose requests the record does not hold cannot be read, so it is unknown, not failed.
    (
        discharge(
            "molina.process.tp-1a-counseling-weekly", "unknown", Q_COUNSELING,
            _plan_activities_as_requests(GROUP, PEER_SUPPORT, resolvable=False), name="activity-requests-not-in-record",
        ),
        "without a readable timing",
    ),
    # “Peer support and recovery-oriented services”: likewise a peer-support request the plan points at (was not-met).
    (
        discharge(
            "molina.process.tp-1b-peer-recovery", "met", Q_PEER,
            _plan_activities_as_requests(GROUP, PEER_SUPPORT, MED_VISIT), name="activities-as-request-references",
        ),
        "CarePlan/P5-tp",
    ),
    # ... and a plan whose activities point only at requests the record does not hold cannot show it lacks them
    # (tp-1b and tp-1c were not-met).
    (
        discharge(
            "molina.process.tp-1b-peer-recovery", "unknown", Q_PEER,
            _plan_activities_as_requests(GROUP, PEER_SUPPORT, resolvable=False), name="activity-requests-not-in-record",
        ),
        "not shown",
    ),
    (
        discharge(
            "molina.process.tp-1c-med-eval-mgmt", "unknown", Q_MED_PLAN,
            _plan_activities_as_requests(GROUP, MED_VISIT, resolvable=False), name="activity-requests-not-in-record",
        ),
        "not shown",
    ),
    # “Individual, group, and family therapy, as indicated”: attended sessions whose only code is SNOMED CT group
    # psychotherapy do not show that no therapy was given (was not-met).
    (
        discharge("molina.components.1e-therapy", "unknown", Q_THERAPY, _sessions_coded_snomed_only,
                  name="sessions-coded-snomed-only"),
        "no psychotherapy during the stay found",
    ),
    # “Substance use disorder assessment and treatment services, as indicated”: an AUDIT-C of 6 stored as an integer
    # indicates it as much as one stored as a Quantity (was not-applicable; no assessment followed: not met) ...
    (
        discharge("molina.components.1j-sud-assessment", "not-met", Q_SUD, _no_sud_diagnosis_audit_c_integer,
                  name="audit-c-6-as-integer"),
        "no substance use assessment during this stay",
    ),
    # “Members who demonstrate symptomatology consistent with a DSM-5 diagnosis”: a rule-out of 2019 says nothing
    # about the member now (was not-met) ...
    (
        discharge("molina.scope.2-dsm5-dx", "unknown", Q_SCOPE,
                  _only_diagnosis(verification="refuted", onsetDateTime="2019-05-01", recordedDate="2019-05-02"),
                  name="a-2019-rule-out"),
        "not shown",
    ),
    # ... a diagnosis resolved during the stay was this stay's diagnosis (was not-met) ...
    (
        discharge("molina.scope.2-dsm5-dx", "unknown", Q_SCOPE,
                  _only_diagnosis(clinical="resolved", onsetDateTime="2024-05-01", abatementDateTime="2025-03-10"),
                  name="resolved-during-the-stay"),
        "not shown",
    ),
    # ... but one ruled out at intake for this admission is positive evidence against it.
    (
        discharge("molina.scope.2-dsm5-dx", "not-met", Q_SCOPE,
                  _only_diagnosis(verification="refuted", onsetDateTime="2019-05-01",
                                  recordedDate="2025-03-04T02:00:00Z"),
                  name="ruled-out-at-intake"),
        "ruled out or resolved for this admission",
    ),
    # ... and an assessment coded as Synthea codes it (SNOMED CT 'Assessment of substance use') is one (was not-met).
    (
        discharge("molina.components.1j-sud-assessment", "met", Q_SUD, _sud_assessment_snomed,
                  name="assessment-coded-snomed"),
        "P5-sud-assessment",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("case", "reason"), CASES, ids=lambda c: c.id if isinstance(c, SentenceCase) else "")
def test_review(case: SentenceCase, reason: str) -> None:
    """The status the sentence gives, and the reason names the evidence (or its absence)."""
    check(case)
    assert reason in evaluate(case)[case.criterion]["reason"]
