"""Molina IOP performance specifications, sentence by sentence: each case is golden patient P5 with one change."""

from __future__ import annotations

from typing import Any

import pytest
from sentence_cases import SentenceCase, add, by_id, check, drop, duty_evidence_test, evaluate, from_golden, resources

POLICY = "molina"
DISCHARGE_AT = "2025-03-21T12:10:00-04:00"
ORDER_SIGN_AT = "2025-03-03T08:30:00-05:00"
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
CPT = "http://www.ama-assn.org/go/cpt"

Q_SCOPE = (
    "IOP services meet the special needs of Members who demonstrate symptomatology consistent with a DSM-5 diagnosis"
)
Q_CRISIS = "Development and/or updating of crisis prevention plan, and/or safety plan, as applicable"
Q_THERAPY = "Individual, group, and family therapy, as indicated"
Q_MED_ACCESS = (
    "Provision of access to medication evaluation and medication management, as indicated, directly or by referral"
)
Q_SUD = "Substance use disorder assessment and treatment services, as indicated"
Q_COUNSELING = (
    "A combination of individual, family, caregiver, and/or group counseling based on the Member's individual needs "
    "and at least one time per week"
)
Q_PEER = "The treatment plan includes the services appropriate to the particular IOP and minimally includes: … " + (
    "Peer support and recovery-oriented services"
)
Q_MED_PLAN = "Medication evaluation and medication management provided by the IOP or by referral"
Q_48H_BPS = "The program completes a bio-psychosocial evaluation … within 48 hours of admission."
Q_48H_TP = "The program completes … an initial treatment plan … within 48 hours of admission."
Q_48H_DCP = "The program completes … a preliminary discharge plan within 48 hours of admission."
Q_PCP = "With Member consent, the provider collaborates with the Member's PCP and/or Primary Care Team (PCT)."

Change = Any


def discharge(criterion: str, expect: str, quote: str, *changes: Change, name: str = "") -> SentenceCase:
    """A case judged at P5's discharge (2025-03-21 12:10, the stay ran 2025-03-03 09:00 to 2025-03-21 12:00)."""
    return SentenceCase(
        criterion, expect, quote, from_golden("P5", *changes), "encounter-discharge", DISCHARGE_AT, POLICY,
        encounter_id="P5-prog", name=name,
    )  # fmt: skip


def admission(criterion: str, expect: str, quote: str, *changes: Change, name: str = "") -> SentenceCase:
    """A case judged when the IOP order is signed, before the program starts (2025-03-03 08:30)."""
    return SentenceCase(
        criterion, expect, quote, from_golden("P5", _admission_only, *changes), "order-sign", ORDER_SIGN_AT, POLICY,
        name=name,
    )  # fmt: skip


ORDER = {
    "resourceType": "ServiceRequest",
    "id": "P5-order",
    "status": "draft",
    "intent": "order",
    "subject": {"reference": "Patient/P5-patient"},
    "authoredOn": "2025-03-03T08:00:00-05:00",
    "code": {"coding": [{"system": HCPCS, "code": "S9480"}]},
    "occurrencePeriod": {"start": "2025-03-03T09:00:00-05:00"},
    "reasonReference": [{"reference": "Condition/P5-cond-1"}],
}


def _admission_only(bundle: dict[str, Any]) -> None:
    """The record before admission: who the member is, the coverage and the diagnoses; the draft order."""
    kept = {"Patient", "Practitioner", "Coverage", "Condition", "Organization"}
    drop(bundle, lambda r: r["resourceType"] not in kept)
    add(bundle, dict(ORDER))


def _crisis_plan(created: str, *, last_updated: str | None = None, status: str = "active") -> Change:
    plan: dict[str, Any] = {
        "resourceType": "CarePlan",
        "id": "P5-crp",
        "status": status,
        "intent": "plan",
        "subject": {"reference": "Patient/P5-patient"},
        "created": created,
        "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "736253002"}]}],
    }
    if last_updated:
        plan["meta"] = {"lastUpdated": last_updated}
    return lambda b: add(b, plan)


def _procedures(code: str) -> Change:
    return lambda b: drop(b, lambda r: r["resourceType"] == "Procedure" and r["code"]["coding"][0]["code"] == code)


def _move_procedure(rid: str, when: str) -> Change:
    def change(b: dict[str, Any]) -> None:
        procedure = by_id(b, rid)
        procedure["performedDateTime"] = when
        procedure.pop("encounter", None)

    return change


def _diagnoses_ruled_out(b: dict[str, Any]) -> None:
    drop(b, lambda r: r.get("id") in {"P5-cond-2", "P5-cond-3"})
    by_id(b, "P5-cond-1")["verificationStatus"]["coding"][0]["code"] = "refuted"


def _plan_activity(code_system: str, code: str, **repeat: Any) -> Change:
    activity = {"detail": {"status": "scheduled", "code": {"coding": [{"system": code_system, "code": code}]}}}
    if repeat:
        activity["detail"]["scheduledTiming"] = {"repeat": repeat}
    return lambda b: by_id(b, "P5-tp")["activity"].append(activity)


def _counseling_timing(**repeat: Any) -> Change:
    return lambda b: by_id(b, "P5-tp")["activity"][0]["detail"].update(scheduledTiming={"repeat": repeat})


def _plan_without(code: str) -> Change:
    def change(b: dict[str, Any]) -> None:
        plan = by_id(b, "P5-tp")
        plan["activity"] = [a for a in plan["activity"] if a["detail"]["code"]["coding"][0]["code"] != code]

    return change


def _set(rid: str, **fields: Any) -> Change:
    return lambda b: by_id(b, rid).update(fields)


def _earlier_treatment_plan(b: dict[str, Any]) -> None:
    """A treatment plan from a 2024 outpatient stay, 'created' well inside any 48-hour count from it."""
    old = dict(by_id(b, "P5-tp"), id="P5-tp-2024", created="2024-06-03T10:00:00-04:00", status="completed")
    old.pop("encounter")
    add(b, old)


def _inpatient_discharge_plan(b: dict[str, Any]) -> None:
    """The inpatient unit wrote a discharge plan the evening before the IOP started (for its own stay)."""
    stay = {
        "resourceType": "Encounter",
        "id": "P5-inpatient",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": {"reference": "Patient/P5-patient"},
        "period": {"start": "2025-02-24T14:00:00-05:00", "end": "2025-03-02T11:00:00-05:00"},
    }
    plan = dict(by_id(b, "P5-dcp"), id="P5-inpatient-dcp", created="2025-03-02T19:00:00-05:00")
    plan["encounter"] = {"reference": "Encounter/P5-inpatient"}
    add(b, stay, plan)


PSYCHIATRY_REFERRAL = {
    "resourceType": "ServiceRequest",
    "id": "P5-psych-referral",
    "status": "active",
    "intent": "order",
    "subject": {"reference": "Patient/P5-patient"},
    "authoredOn": "2025-03-04T09:00:00-05:00",
    "code": {"coding": [{"system": CPT, "code": "90792", "display": "Psychiatric diagnostic evaluation with medical"}]},
}
PCP_CONSENT = {
    "resourceType": "Consent",
    "id": "P5-consent",
    "status": "active",
    "patient": {"reference": "Patient/P5-patient"},
    "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
    "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
    "dateTime": "2025-03-03",
    "provision": {"type": "permit", "actor": [{"reference": {"reference": "Practitioner/P5-pcp"}}]},
}
PCP_REFUSAL = dict(PCP_CONSENT, id="P5-consent-deny", provision={**PCP_CONSENT["provision"], "type": "deny"})


def _attested(criterion: str, answer: bool) -> Change:
    response = {
        "resourceType": "QuestionnaireResponse",
        "id": f"P5-qr-{criterion}",
        "status": "completed",
        "subject": {"reference": "Patient/P5-patient"},
        "authored": "2025-03-20T09:00:00-04:00",
        "item": [{"linkId": criterion, "answer": [{"valueBoolean": answer}]}],
    }
    return lambda b: add(b, response)


def _sud_assessment_only_in(year: str) -> Change:
    return _move_procedure("P5-sud-assessment", f"{year}-05-04T10:00:00-04:00")


def _no_sud(b: dict[str, Any]) -> None:
    drop(b, lambda r: r.get("id") == "P5-cond-2")


CASES: list[SentenceCase] = [
    # Components of Service #2
    discharge("molina.scope.2-dsm5-dx", "met", Q_SCOPE),
    discharge("molina.scope.2-dsm5-dx", "not-met", Q_SCOPE, _diagnoses_ruled_out, name="only-diagnosis-refuted"),
    # Components of Service #1c
    discharge("molina.components.1c-crisis-safety-plan", "met", Q_CRISIS, _crisis_plan("2025-03-04T10:00:00-05:00")),
    discharge(
        "molina.components.1c-crisis-safety-plan",
        "met",
        Q_CRISIS,
        _crisis_plan("2022-05-01T10:00:00-04:00", last_updated="2025-03-10T15:00:00-04:00"),
        name="2022-plan-updated",
    ),  # fmt: skip
    discharge(
        "molina.components.1c-crisis-safety-plan",
        "not-met",
        Q_CRISIS,
        _crisis_plan("2022-05-01T10:00:00-04:00", status="completed"),
        name="only-a-2022-plan",
    ),  # fmt: skip
    # Components of Service #1e
    discharge("molina.components.1e-therapy", "met", Q_THERAPY),
    # Nine attended per-diem IOP sessions (S9480) with no therapy coded of their own: not shown, not failed.
    discharge("molina.components.1e-therapy", "unknown", Q_THERAPY, _procedures("90853"), name="no-therapy-coded"),
    discharge(
        "molina.components.1e-therapy",
        "not-met",
        Q_THERAPY,
        _procedures("90853"),
        lambda b: drop(b, lambda r: r["id"].startswith("P5-sess-")),
        name="no-therapy-and-no-session-in-stay",
    ),
    # Components of Service #1h
    discharge("molina.components.1h-med-eval-access", "met", Q_MED_ACCESS),
    discharge(
        "molina.components.1h-med-eval-access",
        "met",
        Q_MED_ACCESS,
        _procedures("99213"),
        lambda b: add(b, PSYCHIATRY_REFERRAL),
        name="by-referral",
    ),  # fmt: skip
    discharge("molina.components.1h-med-eval-access", "not-met", Q_MED_ACCESS, _procedures("99213")),
    # Components of Service #1j
    discharge("molina.components.1j-sud-assessment", "met", Q_SUD),
    discharge(
        "molina.components.1j-sud-assessment",
        "not-met",
        Q_SUD,
        _sud_assessment_only_in("2023"),
        name="assessment-from-2023-only",
    ),  # fmt: skip
    discharge("molina.components.1j-sud-assessment", "not-applicable", Q_SUD, _no_sud, name="no-substance-use"),
    # Process Specifications #1a
    discharge("molina.process.tp-1a-counseling-weekly", "met", Q_COUNSELING),
    discharge(
        "molina.process.tp-1a-counseling-weekly",
        "met",
        Q_COUNSELING,
        _counseling_timing(frequency=1, period=1, periodUnit="wk"),
        name="once-a-week",
    ),  # fmt: skip
    discharge(
        "molina.process.tp-1a-counseling-weekly",
        "not-met",
        Q_COUNSELING,
        _counseling_timing(frequency=2, period=1, periodUnit="mo"),
        name="twice-a-month",
    ),  # fmt: skip
    discharge(
        "molina.process.tp-1a-counseling-weekly",
        "not-met",
        Q_COUNSELING,
        _plan_without("90853"),
        name="no-counseling-in-plan",
    ),  # fmt: skip
    admission("molina.process.tp-1a-counseling-weekly", "pending", Q_COUNSELING),
    # Process Specifications #1b
    discharge(
        "molina.process.tp-1b-peer-recovery",
        "met",
        Q_PEER,
        _plan_activity(HCPCS, "H0038", frequency=1, period=1, periodUnit="wk"),
    ),  # fmt: skip
    discharge("molina.process.tp-1b-peer-recovery", "not-met", Q_PEER),
    discharge(
        "molina.process.tp-1b-peer-recovery",
        "not-met",
        Q_PEER,
        _plan_activity(HCPCS, "H2027", frequency=1, period=1, periodUnit="wk"),
        name="psycho-education-is-not-peer",
    ),  # fmt: skip
    # Process Specifications #1c
    discharge("molina.process.tp-1c-med-eval-mgmt", "met", Q_MED_PLAN),
    discharge(
        "molina.process.tp-1c-med-eval-mgmt",
        "met",
        Q_MED_PLAN,
        _plan_without("99213"),
        lambda b: add(b, PSYCHIATRY_REFERRAL),
        name="by-referral",
    ),  # fmt: skip
    discharge("molina.process.tp-1c-med-eval-mgmt", "not-met", Q_MED_PLAN, _plan_without("99213")),
    # Process Specifications #2
    discharge("molina.process.2a-bps-eval-48h", "met", Q_48H_BPS),
    discharge(
        "molina.process.2a-bps-eval-48h",
        "not-met",
        Q_48H_BPS,
        _set("P5-bps", date="2025-03-06T11:00:00-05:00"),
        _procedures("H0001"),
        name="evaluation-on-day-4",
    ),  # fmt: skip
    admission("molina.process.2a-bps-eval-48h", "pending", Q_48H_BPS),
    discharge("molina.process.2b-initial-tp-48h", "met", Q_48H_TP, _set("P5-tp", created="2025-03-04T10:00:00-05:00")),
    discharge("molina.process.2b-initial-tp-48h", "not-met", Q_48H_TP, name="plan-at-73-hours"),
    discharge(
        "molina.process.2b-initial-tp-48h",
        "not-met",
        Q_48H_TP,
        _earlier_treatment_plan,
        name="a-2024-plan-does-not-count",
    ),  # fmt: skip
    admission("molina.process.2b-initial-tp-48h", "pending", Q_48H_TP),
    discharge(
        "molina.process.2c-prelim-dc-plan-48h", "met", Q_48H_DCP, _set("P5-dcp", created="2025-03-05T08:00:00-05:00")
    ),
    discharge("molina.process.2c-prelim-dc-plan-48h", "not-met", Q_48H_DCP, name="plan-on-day-17"),
    admission("molina.process.2c-prelim-dc-plan-48h", "pending", Q_48H_DCP),
    discharge(
        "molina.process.2c-prelim-dc-plan-48h",
        "not-met",
        Q_48H_DCP,
        _inpatient_discharge_plan,
        name="the-inpatient-units-discharge-plan-is-not-the-iops",
    ),  # fmt: skip
    # Service, Community and Collateral Linkage #3
    discharge(
        "molina.linkage.3-pcp-collaboration",
        "met",
        Q_PCP,
        lambda b: add(b, PCP_CONSENT),
        _attested("molina.linkage.3-pcp-collaboration", True),
    ),  # fmt: skip
    discharge(
        "molina.linkage.3-pcp-collaboration",
        "not-met",
        Q_PCP,
        lambda b: add(b, PCP_CONSENT),
        _attested("molina.linkage.3-pcp-collaboration", False),
    ),  # fmt: skip
    discharge(
        "molina.linkage.3-pcp-collaboration",
        "not-applicable",
        Q_PCP,
        lambda b: add(b, PCP_REFUSAL),
        name="member-refused-consent",
    ),  # fmt: skip
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_sentence(case: SentenceCase) -> None:
    check(case)


def test_48_hour_duties_show_their_due_time_at_order_sign() -> None:
    """“… within 48 hours of admission”: at order-sign each duty is pending, due 48 h after the program starts."""
    found = evaluate(admission("molina.process.2b-initial-tp-48h", "pending", Q_48H_TP))
    for criterion in (
        "molina.process.2a-bps-eval-48h",
        "molina.process.2b-initial-tp-48h",
        "molina.process.2c-prelim-dc-plan-48h",
        "molina.process.tp-1a-counseling-weekly",
    ):
        assert found[criterion]["status"] == "pending"
        assert found[criterion]["due"].startswith("2025-03-05T09:00:00")
    assert len(resources(from_golden("P5", _admission_only)(), "ServiceRequest")) == 1


# --- Episode scope of what the duties read (issue 15): an earlier stay's evidence no longer counts ---------------


def _audit_c(when: str, score: int) -> Change:
    screen = {
        "resourceType": "Observation",
        "id": f"P5-audit-c-{when[:4]}",
        "status": "final",
        "subject": {"reference": "Patient/P5-patient"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "75626-2", "display": "AUDIT-C total score"}]},
        "effectiveDateTime": when,
        "valueQuantity": {"value": score, "unit": "{score}"},
    }
    return lambda b: add(b, screen)


def _sud_diagnosis_abated_in_2021(b: dict[str, Any]) -> None:
    """The opioid dependence is still flagged active, but its abatement was recorded in 2021."""
    by_id(b, "P5-cond-2")["abatementDateTime"] = "2021-08-01"


def _inpatient_safety_plan(b: dict[str, Any]) -> None:
    """The inpatient unit wrote the safety plan the evening before the IOP started, for its own stay."""
    _inpatient_discharge_plan(b)
    _crisis_plan("2025-03-02T18:00:00-05:00")(b)
    by_id(b, "P5-crp")["encounter"] = {"reference": "Encounter/P5-inpatient"}


EPISODE_CASES: list[tuple[SentenceCase, str]] = [
    (
        discharge(
            "molina.components.1c-crisis-safety-plan", "not-met", Q_CRISIS, _inpatient_safety_plan,
            name="the-inpatient-units-safety-plan-is-not-the-iops",
        ),
        "made in another stay or program",
    ),
    (
        discharge(
            "molina.components.1c-crisis-safety-plan", "met", Q_CRISIS, _inpatient_safety_plan,
            _set("P5-crp", meta={"lastUpdated": "2025-03-12T11:00:00-04:00"}), name="updated-during-the-stay",
        ),
        "P5-crp",
    ),
    (
        discharge(
            "molina.components.1c-crisis-safety-plan", "met", Q_CRISIS,
            _crisis_plan("2025-03-04T10:00:00-05:00", last_updated="2025-03-12T10:00:00-04:00"),
            name="made-and-updated-in-the-stay-counts-once",
        ),
        "1 × crisis prevention or safety plan developed or updated during this stay: CarePlan/P5-crp",
    ),
    (
        discharge(
            "molina.components.1j-sud-assessment", "not-applicable", Q_SUD, _no_sud, _sud_assessment_only_in("2023"),
            _audit_c("2019-06-01T10:00:00-04:00", 6), name="a-2019-audit-c-indicates-nothing-now",
        ),
        "",
    ),
    (
        discharge(
            "molina.components.1j-sud-assessment", "not-met", Q_SUD, _no_sud, _sud_assessment_only_in("2023"),
            _audit_c("2025-02-20T10:00:00-05:00", 6), name="this-admissions-audit-c-indicates-it",
        ),
        "substance use assessment",
    ),
    (
        discharge(
            "molina.components.1j-sud-assessment", "not-applicable", Q_SUD, _sud_diagnosis_abated_in_2021,
            _sud_assessment_only_in("2023"), name="a-disorder-abated-in-2021-is-not-in-force",
        ),
        "",
    ),
]  # fmt: skip


test_duty_evidence_is_this_episodes = duty_evidence_test(EPISODE_CASES)
