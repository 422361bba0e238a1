"""BH803 (Optum Medicare Coverage Summary, IOP), sentence by sentence: golden patient P7 or P8 with one change."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sentence_cases import SentenceCase, check, sentence_test

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the record builders of the golden-patient tests

from test_policy_bh803 import (  # noqa: E402
    ACT,
    CPT,
    HCPCS,
    ICD10,
    LOINC,
    P7_AT,
    P8_AT,
    P8_DISCHARGE_AT,
    add,
    attestation,
    coding,
    condition,
    cssrs,
    delirium,
    discharged,
    discharged_on,
    in_hospital,
    locus,
    no_plan,
    non_prescriber,
    otp_continuation,
    otp_discharge,
    otp_order,
    p7_onset_long_ago,
    p8_aftercare,
    p8_lower_level_tried,
    p8_medication_only,
    p8_missing_note,
    p8_no_team,
    p8_phq9,
    p8_plan_by_social_worker,
    p8_recertified,
    p8_session_over_inpatient,
    p8_virtual_session,
    physician,
    screened,
    sessions,
    the,
    third_group_each_session,
    with_oud,
)

POLICY = "bh803"
Change = Callable[[dict[str, Any]], None]
ATTESTED_A = "2025-05-01T16:00:00-05:00"
ATTESTED_C = "2025-03-09T16:00:00-07:00"

# --- the sentences (verbatim from ../shared/policies/optum-medicare-bh803-iop.txt; "…" joins fragments) ---------
Q_SCOPE = (
    "Patients admitted to an IOP generally have an acute onset or decompensation of a covered Axis I mental "
    "disorder, as defined by the current edition of the Diagnostic and Statistical Manual published by the American "
    "Psychiatric Association or listed in Chapter 5, of the version of the International Classification of Diseases"
)
Q_LOC_TOOLS = (
    "If there is an absence of any applicable Medicare statutes, regulations, National or Local Coverage "
    "Determinations offering guidance, Optum utilizes adopted external criteria as follows"
)
Q_PROVIDER = (
    "IOPs may be covered under Medicare when they are provided by a hospital outpatient department, a "
    "Medicare-certified CMHC, a rural health clinic (RHC), a Federally qualified health center (FQHC), or an Opioid "
    "Treatment Program (OTP)."
)
Q_PLAN_MDT = (
    "An IOP is active treatment that incorporates an individualized treatment plan which describes a coordination "
    "of services wrapped around the particular needs of the patient and includes a multidisciplinary team approach "
    "to patient care under the direction of a physician."
)
Q_NOT_MED_ONLY = (
    "A program that only monitors the management of medication for patients whose psychiatric condition is "
    "otherwise stable, is not the combination, structure, and intensity of services which make up active treatment "
    "in an IOP."
)
Q_CERTIFIED = (
    "Patients admitted to an IOP must be under the care of a physician who certifies the need for intensive "
    "outpatient services"
)
Q_OTP_CERTIFIER = "in which a physician or non-physician practitioner must certify"
Q_9H = "including the need for a minimum of 9 hours per week of services, as evidenced by their plan of care."
Q_CERT_DX = "The certification should identify the diagnosis and clinical need for the intensive outpatient program."
Q_SEVERE = (
    "because of a mental disorder (including SUD) which severely interferes with multiple areas of daily life, "
    "including social, vocational, and/or educational functioning. Such dysfunction generally is of an acute nature."
)
Q_PARTICIPATE = (
    "IOP patients must be able to cognitively and emotionally participate in the active treatment process and be "
    "capable of tolerating the intensity of an IOP program."
)
Q_BETWEEN = (
    "Patients meeting benefit category requirements for Medicare coverage of an IOP are those who need more "
    "intensive treatment than that provided by outpatient services, but who need less intensive treatment than that "
    "provided by a PHP."
)
Q_NO_24H = "Patients admitted to an IOP do not require 24-hour per day supervision as provided in an inpatient setting"
Q_SUPPORT = "must have an adequate support system to sustain/maintain themselves outside the IOP"
Q_DANGER = "and must not be an imminent danger to themselves or others."
Q_ACUTE = (
    "Patients admitted to an IOP generally have an acute onset or decompensation of a covered Axis I mental "
    "disorder … Treatment of chronic conditions without acute exacerbation of symptoms that place the individual at "
    "risk of relapse or hospitalization."
)
Q_MAINTENANCE = (
    "Continued treatment in order to maintain a stable psychiatric condition or functional level requires evidence "
    "that less intensive treatment options (e.g., outpatient, psychosocial, day treatment, and/or other community "
    "supports) cannot provide the level of support necessary to maintain the patient and to prevent relapse or "
    "hospitalization."
)
Q_INPATIENT = (
    "The following services are excluded from the scope of intensive outpatient services defined in §1861(ff) of "
    "the Social Security Act: … Services to hospital inpatients;"
)
Q_EXCLUDED = (
    "The following services are excluded from the scope of intensive outpatient services defined in §1861(ff) of "
    "the Social Security Act: … Meals, self-administered medications, transportation; and … Vocational training."
)
Q_CERT_ON_ADMISSION = (
    "Upon admission, certification by the physician must be made that the patient admitted to the IOP requires a "
    "minimum of 9 hours of services per week."
)
Q_PLAN_BY_PHYSICIAN = (
    "Intensive outpatient services must be furnished under an individualized written plan of care, established by "
    "the physician"
)
Q_RECERT_TIMING = (
    "Recertifications are required at intervals established by the provider, but no less frequently than every 60 "
    "days following the initial IOP certification."
)
Q_RECERT_SIGNER = (
    "The physician recertification must be signed by a physician who is treating the patient and has knowledge of "
    "the patient's response to treatment."
)
Q_RECERT_CONTENT = (
    "The recertification must specify that the patient requires a minimum of 9 hours of mental health treatment "
    "services per week and describe the following"
)
Q_TX_PLAN = (
    "An intensive outpatient program is active treatment pursuant to an individualized treatment plan, prescribed "
    "and signed by a physician, which identifies treatment goals, describes a coordination of services, is "
    "structured to meet the particular needs of the patient and includes a multidisciplinary team approach to "
    "patient care."
)
Q_PROGRESS = (
    "The progress note should include a description of the nature of the treatment service, the patient's response "
    "to the therapeutic intervention and its relation to the goals indicated in the treatment plan."
)
Q_DISCHARGE = (
    "Patients in IOP may be discharged by either stepping down to a less intensive level of outpatient care … or by "
    "stepping up to a more intensive level of care."
)
Q_OTP = "For Opioid Treatment Programs (OTP) Intensive Outpatient Services, there are currently no National Coverage"
Q_OTP_OUD = "as part of a distinct and organized intensive ambulatory treatment program for the treatment of OUD"
Q_OTP_CERT = (
    "a physician or non-physician practitioner must certify that the individual has a need for a minimum of nine "
    "hours of services per week and requires a higher level of care intensity compared to other non-intensive "
    "outpatient OTP services."
)
Q_OTP_PLAN = (
    "are furnished in accordance with a physician or non-physician practitioner (as defined in section "
    "1842(b)(18)(C) of the Act) certification and plan of care"
)
Q_OTP_9 = (
    "HCPCS code G0137: Intensive outpatient services; minimum of nine services over a 7- contiguous day period … "
    "diagnostic services (not including toxicology testing)"
)
Q_OTP_TELEHEALTH = (
    "OTPs providing intensive outpatient services to Medicare beneficiaries with an OUD shall not receive payment "
    "under Medicare part B if the intensive outpatient services are furnished via audio-video or audio-only "
    "communications technology."
)


# --- when and on what ----------------------------------------------------------------------------------------
def _golden(name: str, changes: tuple[Change, ...]) -> Callable[[], dict[str, Any]]:
    from sentence_cases import from_golden

    return from_golden(name, *changes)


def admission(criterion: str, expect: str, quote: str, *changes: Change, name: str = "") -> SentenceCase:
    """P7: order-sign 2025-05-02 11:00 CDT, an S9480 order starting 2025-05-06 (3 × 2.5 h a week, by an NP)."""
    return SentenceCase(criterion, expect, quote, _golden("P7", changes), "order-sign", P7_AT, POLICY, name=name)


def continued(
    criterion: str, expect: str, quote: str, *changes: Change, name: str = "", at: str = P8_AT
) -> SentenceCase:
    """P8: continuation order signed 2025-03-10 09:00 MST, program since 2025-01-06, no recertification."""
    return SentenceCase(criterion, expect, quote, _golden("P8", changes), "order-sign", at, POLICY, name=name)


def discharge(
    criterion: str, expect: str, quote: str, *changes: Change, name: str = "", at: str = P8_DISCHARGE_AT
) -> SentenceCase:
    """P8 discharged (2025-03-07 12:00 unless a change says otherwise), judged at the discharge hook."""
    return SentenceCase(
        criterion, expect, quote, _golden("P8", (discharged, *changes) if at == P8_DISCHARGE_AT else changes),
        "encounter-discharge", at, POLICY, encounter_id="P8-prog", name=name,
    )  # fmt: skip


def attested(patient: str, when: str, criterion: str, answer: bool) -> Change:
    phase = "admission" if patient == "P7-patient" else "continued-stay"
    return lambda b: add(b, attestation(patient, phase, when, {criterion: answer}))


def a7(criterion: str, answer: bool) -> Change:
    return attested("P7-patient", ATTESTED_A, criterion, answer)


def c8(criterion: str, answer: bool) -> Change:
    return attested("P8-patient", ATTESTED_C, criterion, answer)


# --- record changes this module adds --------------------------------------------------------------------------
NUCC = "http://nucc.org/provider-taxonomy"


def signed_by_nurse_practitioner(b: dict[str, Any]) -> None:
    """The continuation order (the recertification) is signed by a nurse practitioner (v2-0360 NP)."""
    nurse = {
        "resourceType": "Practitioner",
        "id": "P8-np",
        "name": [{"family": "Okafor", "given": ["Ada"]}],
        "qualification": [{"code": {"coding": [{"system": V2_0360, "code": "NP"}]}}],
    }
    add(b, nurse)
    the(b, "P8-order-2")["requester"] = {"reference": "Practitioner/P8-np"}


def performed_by(taxonomy: str) -> Change:
    """The order names its furnishing organization, typed by NUCC provider taxonomy."""

    def change(b: dict[str, Any]) -> None:
        add(b, {"resourceType": "Organization", "id": "P7-program-org", "name": "Program",
                "type": [coding(NUCC, taxonomy)]})  # fmt: skip
        the(b, "P7-order")["performer"] = [{"reference": "Organization/P7-program-org"}]

    return change


def team_of_two_psychiatrists(b: dict[str, Any]) -> None:
    the(b, "P8-team")["participant"] = [
        {"member": {"reference": "Practitioner/P8-ruiz"}},
        {"member": {"reference": "Practitioner/P8-blake"}},
    ]


def order_timing(resource_id: str, **repeat: Any) -> Change:
    return lambda b: the(b, resource_id)["occurrenceTiming"]["repeat"].update(repeat)


def p7_plan_of_care(hours_per_session: float) -> Change:
    """A physician-authored treatment plan written before the start: group therapy 3 × a week."""

    def change(b: dict[str, Any]) -> None:
        add(b, {
            "resourceType": "CarePlan", "id": "P7-tp", "status": "active", "intent": "plan",
            "subject": {"reference": "Patient/P7-patient"}, "created": "2025-05-02T10:30:00-05:00",
            "category": [coding("http://snomed.info/sct", "718347000")],
            "addresses": [{"reference": "Condition/P7-dx"}],
            "activity": [{"detail": {"status": "scheduled", "code": coding(CPT, "90853"), "scheduledTiming": {
                "repeat": {"frequency": 3, "period": 1, "periodUnit": "wk", "duration": hours_per_session,
                           "durationUnit": "h"}}}}],
        })  # fmt: skip

    return change


def p8_plan_hours(hours_per_group: float) -> Change:
    """P8's plan: six groups a week of the given length (the golden plan has 6 × 1 h + 1 × 3 h = 9 h)."""
    return lambda b: the(b, "P8-tp")["activity"][0]["detail"]["scheduledTiming"]["repeat"].update(
        duration=hours_per_group
    )


def homicidal_ideation(onset: str, system: str = ICD10, code: str = "R45.850") -> Change:
    return lambda b: add(b, condition("P7-patient", "P7-hi", system, code, onset))


def still_inpatient(end: str | None) -> Change:
    return in_hospital(end)


def order_reason(code: str) -> Change:
    def change(b: dict[str, Any]) -> None:
        add(b, condition("P7-patient", "P7-other", ICD10, code, "2025-04-01"))
        the(b, "P7-order")["reasonReference"] = [{"reference": "Condition/P7-other"}]

    return change


def without_diagnosis(b: dict[str, Any]) -> None:
    b["entry"] = [e for e in b["entry"] if e["resource"].get("id") != "P7-dx"]


def excluded_component(code: str) -> Change:
    return lambda b: add(b, {"resourceType": "ServiceRequest", "id": f"P7-{code}", "status": "draft",
                             "intent": "order", "subject": {"reference": "Patient/P7-patient"},
                             "code": coding(HCPCS, code)})  # fmt: skip


def continuation_hours(hours: float) -> Change:
    return order_timing("P8-order-2", duration=hours)


def drug_screens_each_session(b: dict[str, Any]) -> None:
    """Two extra items a session day: drug-test specimen collection and a presumptive drug screen."""
    third_group_each_session(HCPCS, "H0048")(b)
    for session in sessions(b):
        add(b, {"resourceType": "Procedure", "id": f"{session['id']}-tox", "status": "completed",
                "subject": {"reference": "Patient/P8-patient"}, "code": coding(CPT, "80307"),
                "encounter": {"reference": f"Encounter/{session['id']}"},
                "performedDateTime": session["period"]["start"]})  # fmt: skip


def p7_otp_by(qualification_system: str, code: str) -> Change:
    def change(b: dict[str, Any]) -> None:
        with_oud()(b)
        the(b, "P7-np")["qualification"] = [{"code": coding(qualification_system, code)}]

    return change


def p7_only_depression_for_otp(b: dict[str, Any]) -> None:
    otp_order(b)


V2_0360 = "http://terminology.hl7.org/CodeSystem/v2-0360"

CASES: list[SentenceCase] = [
    # Reasonable and Necessary Services, bullet 2 (covered disorder)
    admission("bh803.scope.covered-dx", "met", Q_SCOPE),
    admission(
        "bh803.scope.covered-dx",
        "not-met",
        Q_SCOPE,
        without_diagnosis,
        order_reason("Z63.0"),
        name="order-for-a-relationship-problem",
    ),  # fmt: skip
    # Introduction: adopted external criteria
    admission("bh803.external.loc-tools", "met", Q_LOC_TOOLS, locus),
    admission("bh803.external.loc-tools", "not-applicable", Q_LOC_TOOLS),
    # Program Criteria, bullet 1 (provider type)
    admission("bh803.program.1-provider-type", "met", Q_PROVIDER, performed_by("261QM0801X"), name="cmhc"),
    admission("bh803.program.1-provider-type", "met", Q_PROVIDER, performed_by("282N00000X"), name="hospital"),
    admission(
        "bh803.program.1-provider-type",
        "not-met",
        Q_PROVIDER,
        performed_by("193200000X"),
        name="multi-specialty-group-practice",
    ),  # fmt: skip
    # Program Criteria, bullet 2
    continued("bh803.program.2-individualized-plan-mdt", "met", Q_PLAN_MDT),
    continued("bh803.program.2-individualized-plan-mdt", "not-met", Q_PLAN_MDT, p8_no_team, name="one-person-team"),
    continued(
        "bh803.program.2-individualized-plan-mdt",
        "not-met",
        Q_PLAN_MDT,
        team_of_two_psychiatrists,
        name="two-psychiatrists-one-discipline",
    ),  # fmt: skip
    admission("bh803.program.2-individualized-plan-mdt", "pending", Q_PLAN_MDT),
    # Program Criteria, bullet 3
    discharge("bh803.program.3-not-diversionary-or-med-only", "met", Q_NOT_MED_ONLY),
    discharge("bh803.program.3-not-diversionary-or-med-only", "not-met", Q_NOT_MED_ONLY, p8_medication_only),
    # Patient Eligibility Criteria, bullet 1: the certifier
    admission("bh803.eligibility.1a-certified-by-physician", "met", Q_CERTIFIED, physician),
    # An order by a nurse practitioner is no physician's certification, but a physician may still certify: absence is
    # unknown (DATA-PROFILE §6); a clinician's answer "no" is the evidence that makes it not met.
    admission("bh803.eligibility.1a-certified-by-physician", "unknown", Q_CERTIFIED, name="nurse-practitioner"),
    admission(
        "bh803.eligibility.1a-certified-by-physician",
        "not-met",
        Q_CERTIFIED,
        a7("bh803.eligibility.1a-certified-by-physician", False),
        name="clinician-answers-no",
    ),  # fmt: skip
    admission(
        "bh803.eligibility.1a-certified-by-physician", "met", Q_OTP_CERTIFIER, with_oud(), name="otp-nurse-practitioner"
    ),  # fmt: skip
    admission(
        "bh803.eligibility.1a-certified-by-physician",
        "met",
        Q_OTP_CERTIFIER,
        p7_otp_by(NUCC, "1041C0700X"),
        name="otp-clinical-social-worker",
    ),  # fmt: skip
    admission(
        "bh803.eligibility.1a-certified-by-physician",
        "unknown",
        Q_OTP_CERTIFIER,
        p7_otp_by(V2_0360, "RN"),
        name="otp-registered-nurse",
    ),  # fmt: skip
    # Patient Eligibility Criteria, bullet 1: 9 hours, as evidenced by the plan of care
    admission("bh803.eligibility.1b-need-min-9h-week", "met", Q_9H, order_timing("P7-order", duration=3)),
    admission("bh803.eligibility.1b-need-min-9h-week", "met", Q_9H, p7_plan_of_care(3), name="plan-of-care-9h"),
    admission("bh803.eligibility.1b-need-min-9h-week", "not-met", Q_9H, name="order-7.5h-no-plan"),
    admission(
        "bh803.eligibility.1b-need-min-9h-week", "not-met", Q_9H, p7_plan_of_care(2.5), name="order-and-plan-7.5h"
    ),  # fmt: skip
    continued("bh803.eligibility.1b-need-min-9h-week", "met", Q_9H),
    continued(
        "bh803.eligibility.1b-need-min-9h-week", "met", Q_9H, continuation_hours(2.5), name="order-7.5h-plan-9h"
    ),  # fmt: skip
    continued(
        "bh803.eligibility.1b-need-min-9h-week",
        "not-met",
        Q_9H,
        continuation_hours(2.5),
        p8_plan_hours(0.5),
        name="order-7.5h-plan-6h",
    ),  # fmt: skip
    # Documentation Requirements: Initial Psychiatric Evaluation/Certification
    admission(
        "bh803.eligibility.1c-cert-dx-clinical-need",
        "met",
        Q_CERT_DX,
        a7("bh803.eligibility.1c-cert-dx-clinical-need", True),
    ),  # fmt: skip
    admission(
        "bh803.eligibility.1c-cert-dx-clinical-need",
        "not-met",
        Q_CERT_DX,
        a7("bh803.eligibility.1c-cert-dx-clinical-need", False),
    ),  # fmt: skip
    admission(
        "bh803.eligibility.2-severe-interference-acute",
        "met",
        Q_SEVERE,
        a7("bh803.eligibility.2-severe-interference-acute", True),
    ),  # fmt: skip
    admission(
        "bh803.eligibility.2-severe-interference-acute",
        "not-met",
        Q_SEVERE,
        a7("bh803.eligibility.2-severe-interference-acute", False),
    ),  # fmt: skip
    admission(
        "bh803.eligibility.3-can-participate-tolerate",
        "met",
        Q_PARTICIPATE,
        a7("bh803.eligibility.3-can-participate-tolerate", True),
    ),  # fmt: skip
    admission("bh803.eligibility.3-can-participate-tolerate", "not-met", Q_PARTICIPATE, delirium, name="delirium"),
    admission(
        "bh803.eligibility.4-between-op-and-php", "met", Q_BETWEEN, a7("bh803.eligibility.4-between-op-and-php", True)
    ),  # fmt: skip
    admission(
        "bh803.eligibility.4-between-op-and-php",
        "not-met",
        Q_BETWEEN,
        a7("bh803.eligibility.4-between-op-and-php", False),
    ),  # fmt: skip
    # Reasonable and Necessary Services, bullet 2
    admission("bh803.rn.1-no-24h-supervision", "met", Q_NO_24H, a7("bh803.rn.1-no-24h-supervision", True)),
    admission(
        "bh803.rn.1-no-24h-supervision",
        "not-met",
        Q_NO_24H,
        still_inpatient("2025-05-09T11:00:00-05:00"),
        name="inpatient-past-the-iop-start",
    ),  # fmt: skip
    admission(
        "bh803.rn.1-no-24h-supervision",
        "unknown",
        Q_NO_24H,
        still_inpatient("2025-05-05T11:00:00-05:00"),
        name="step-down-after-discharge-is-no-finding",
    ),  # fmt: skip
    admission("bh803.rn.2-adequate-support-system", "met", Q_SUPPORT, a7("bh803.rn.2-adequate-support-system", True)),
    admission(
        "bh803.rn.2-adequate-support-system", "not-met", Q_SUPPORT, a7("bh803.rn.2-adequate-support-system", False)
    ),  # fmt: skip
    admission("bh803.rn.3-not-imminent-danger", "met", Q_DANGER, screened(False), name="c-ssrs-all-no"),
    admission("bh803.rn.3-not-imminent-danger", "not-met", Q_DANGER, screened(True), name="c-ssrs-intent-and-plan"),
    admission(
        "bh803.rn.3-not-imminent-danger",
        "not-met",
        Q_DANGER,
        screened(False),
        homicidal_ideation("2025-04-29"),
        name="homicidal-ideation-this-week",
    ),  # fmt: skip
    admission(
        "bh803.rn.3-not-imminent-danger",
        "not-met",
        Q_DANGER,
        screened(False),
        homicidal_ideation("2025-04-30", "http://snomed.info/sct", "247977009"),
        name="homicidal-thoughts-snomed",
    ),  # fmt: skip
    admission(
        "bh803.rn.3-not-imminent-danger",
        "unknown",
        Q_DANGER,
        screened(False),
        homicidal_ideation("2025-01-10"),
        name="older-homicidal-ideation-asks-to-confirm",
    ),  # fmt: skip
    admission("bh803.rn.4-acute-onset-or-decompensation", "met", Q_ACUTE, name="onset-12-days-ago"),
    admission(
        "bh803.rn.4-acute-onset-or-decompensation",
        "not-met",
        Q_ACUTE,
        p7_onset_long_ago,
        a7("bh803.rn.4-acute-onset-or-decompensation", False),
        name="chronic-attested",
    ),  # fmt: skip
    continued(
        "bh803.rn.5-maintenance-needs-evidence",
        "met",
        Q_MAINTENANCE,
        p8_phq9(15, 9),
        p8_lower_level_tried,
        c8("bh803.rn.5-maintenance-needs-evidence", True),
    ),  # fmt: skip
    continued(
        "bh803.rn.5-maintenance-needs-evidence",
        "not-met",
        Q_MAINTENANCE,
        p8_phq9(15, 9),
        c8("bh803.rn.5-maintenance-needs-evidence", False),
    ),  # fmt: skip
    continued(
        "bh803.rn.5-maintenance-needs-evidence",
        "not-applicable",
        Q_MAINTENANCE,
        p8_phq9(12, 19),
        name="worsening-is-not-maintenance",
    ),  # fmt: skip
    # Reasons for Denial: excluded services
    admission("bh803.excluded.1-not-inpatient", "met", Q_INPATIENT),
    admission(
        "bh803.excluded.1-not-inpatient",
        "not-met",
        Q_INPATIENT,
        still_inpatient("2025-05-09T11:00:00-05:00"),
        name="inpatient-past-the-iop-start",
    ),  # fmt: skip
    discharge(
        "bh803.excluded.1-not-inpatient",
        "not-met",
        Q_INPATIENT,
        p8_session_over_inpatient,
        name="sessions-during-a-hospital-stay",
    ),  # fmt: skip
    admission("bh803.excluded.2-meals-transport-vocational", "met", Q_EXCLUDED),
    admission(
        "bh803.excluded.2-meals-transport-vocational",
        "not-met",
        Q_EXCLUDED,
        excluded_component("T2019"),
        name="transport",
    ),  # fmt: skip
    admission(
        "bh803.excluded.2-meals-transport-vocational",
        "not-met",
        Q_EXCLUDED,
        excluded_component("H2024"),
        name="supported-employment",
    ),  # fmt: skip
    # Documentation Requirements and Physician Supervision
    continued("bh803.doc.1-initial-cert-upon-admission", "met", Q_CERT_ON_ADMISSION),
    continued(
        "bh803.doc.1-initial-cert-upon-admission",
        "not-met",
        Q_CERT_ON_ADMISSION,
        lambda b: the(b, "P8-cert").update(date="2025-01-20T10:00:00-07:00"),
        lambda b: the(b, "P8-order-1").update(requester={"reference": "Practitioner/P8-licsw"}),
        name="certified-on-day-15",
    ),  # fmt: skip
    admission("bh803.doc.1-initial-cert-upon-admission", "pending", Q_CERT_ON_ADMISSION),
    continued("bh803.doc.2-plan-of-care-by-physician", "met", Q_PLAN_BY_PHYSICIAN),
    continued(
        "bh803.doc.2-plan-of-care-by-physician",
        "not-met",
        Q_PLAN_BY_PHYSICIAN,
        p8_plan_by_social_worker,
        name="plan-by-a-social-worker",
    ),  # fmt: skip
    continued("bh803.doc.3-recert-60d", "met", Q_RECERT_TIMING, p8_recertified("2025-03-05"), name="day-58"),
    continued("bh803.doc.3-recert-60d", "not-met", Q_RECERT_TIMING, name="none-by-day-60"),
    discharge(
        "bh803.doc.3-recert-60d",
        "not-applicable",
        Q_RECERT_TIMING,
        discharged_on("2025-02-21"),
        at="2025-02-21T12:30:00-07:00",
        name="46-day-stay-owes-no-recertification",
    ),  # fmt: skip
    discharge(
        "bh803.doc.3-recert-60d",
        "not-met",
        Q_RECERT_TIMING,
        discharged_on("2025-03-12"),
        at="2025-03-12T12:30:00-07:00",
        name="discharged-on-day-65-without",
    ),  # fmt: skip
    continued("bh803.doc.4-recert-signer-treating-physician", "met", Q_RECERT_SIGNER, p8_recertified("2025-03-05")),
    # A physician off the care team may still treat the patient: not found is unknown; a social worker cannot sign.
    continued(
        "bh803.doc.4-recert-signer-treating-physician",
        "unknown",
        Q_RECERT_SIGNER,
        name="continuation-signed-by-a-physician-off-the-team",
    ),  # fmt: skip
    continued(
        "bh803.doc.4-recert-signer-treating-physician",
        "not-met",
        Q_RECERT_SIGNER,
        signed_by_nurse_practitioner,
        name="continuation-signed-by-a-nurse-practitioner",
    ),  # fmt: skip
    continued("bh803.doc.5-recert-content", "met", Q_RECERT_CONTENT, c8("bh803.doc.5-recert-content", True)),
    continued(
        "bh803.doc.5-recert-content",
        "not-met",
        Q_RECERT_CONTENT,
        continuation_hours(2.5),
        name="continuation-orders-7.5h",
    ),  # fmt: skip
    continued("bh803.doc.6-tx-plan-physician-signed-goals", "met", Q_TX_PLAN),
    continued(
        "bh803.doc.6-tx-plan-physician-signed-goals",
        "not-met",
        Q_TX_PLAN,
        p8_plan_by_social_worker,
        name="plan-by-a-social-worker",
    ),  # fmt: skip
    continued(
        "bh803.doc.6-tx-plan-physician-signed-goals",
        "not-met",
        Q_TX_PLAN,
        team_of_two_psychiatrists,
        name="single-discipline-team",
    ),  # fmt: skip
    continued("bh803.doc.7-progress-notes", "met", Q_PROGRESS),
    continued("bh803.doc.7-progress-notes", "not-met", Q_PROGRESS, p8_missing_note, name="session-without-a-note"),
    # Reasonable and Necessary Services, bullet 4 (discharge)
    discharge("bh803.discharge.1-step-down-or-up", "met", Q_DISCHARGE, p8_aftercare),
    discharge("bh803.discharge.1-step-down-or-up", "not-applicable", Q_DISCHARGE, name="nothing-arranged"),
    # Opioid Treatment Programs Intensive Outpatient Services (MBPM ch. 17 §20)
    admission("bh803.otp.0-gate", "met", Q_OTP, with_oud()),
    admission("bh803.otp.0-gate", "not-applicable", Q_OTP, name="s9480-order"),
    admission("bh803.otp.1-oud-dx", "met", Q_OTP_OUD, with_oud()),
    admission("bh803.otp.1-oud-dx", "not-met", Q_OTP_OUD, p7_only_depression_for_otp, name="otp-order-for-depression"),
    admission(
        "bh803.otp.2-cert-9h-higher-intensity",
        "met",
        Q_OTP_CERT,
        with_oud(),
        a7("bh803.otp.2-cert-9h-higher-intensity", True),
        name="np-9h-attested",
    ),  # fmt: skip
    admission(
        "bh803.otp.2-cert-9h-higher-intensity",
        "not-met",
        Q_OTP_CERT,
        with_oud(),
        order_timing("P7-order", duration=2.5),
        name="7.5h",
    ),  # fmt: skip
    admission(
        "bh803.otp.2-cert-9h-higher-intensity", "not-met", Q_OTP_CERT, non_prescriber, name="msw-is-no-practitioner"
    ),  # fmt: skip
    continued("bh803.otp.3-plan-of-care", "met", Q_OTP_PLAN, otp_continuation),
    continued("bh803.otp.3-plan-of-care", "not-met", Q_OTP_PLAN, no_plan, name="no-plan-after-9-weeks"),
    discharge("bh803.otp.4-9-services-7-days", "met", Q_OTP_9, third_group_each_session(), name="10-a-week"),
    discharge("bh803.otp.4-9-services-7-days", "not-met", Q_OTP_9, otp_discharge, name="7-a-week"),
    discharge(
        "bh803.otp.4-9-services-7-days", "not-met", Q_OTP_9, drug_screens_each_session, name="drug-screens-do-not-count"
    ),  # fmt: skip
    discharge("bh803.otp.5-no-telehealth", "met", Q_OTP_TELEHEALTH, otp_discharge),
    discharge("bh803.otp.5-no-telehealth", "not-met", Q_OTP_TELEHEALTH, p8_virtual_session),
]


def certified_only_in_2024(b: dict[str, Any]) -> None:
    """The certification on record is of a 2024 stay; this stay's first order was signed by a social worker."""
    the(b, "P8-cert")["date"] = "2024-06-03T10:00:00-07:00"
    the(b, "P8-order-1")["requester"] = {"reference": "Practitioner/P8-licsw"}


def plan_only_from_2024(b: dict[str, Any]) -> None:
    plan = the(b, "P8-tp")
    plan["created"] = "2024-06-04T10:00:00-07:00"
    plan["status"] = "completed"


def recertified_in_2024(b: dict[str, Any]) -> None:
    p8_recertified("2024-08-01")(b)


def physician_certified_in_2023(b: dict[str, Any]) -> None:
    """A psychiatrist certified an IOP stay in 2023; this order is by the nurse practitioner."""
    add(b, {"resourceType": "Practitioner", "id": "P7-md", "qualification": [{"code": coding(V2_0360, "MD")}]})
    add(b, {"resourceType": "DocumentReference", "id": "P7-cert-2023", "status": "current",
            "subject": {"reference": "Patient/P7-patient"}, "type": coding("urn:iop-cds:local", "iop-certification"),
            "date": "2023-09-12T10:00:00-05:00", "authenticator": {"reference": "Practitioner/P7-md"},
            "content": [{"attachment": {"contentType": "application/pdf"}}]})  # fmt: skip


def asthma_emergency_visit(b: dict[str, Any]) -> None:
    """A chronic depression (onset 2019) and an emergency visit for asthma 10 days ago."""
    p7_onset_long_ago(b)
    add(b, condition("P7-patient", "P7-asthma", ICD10, "J45.41", "2010-01-01"))
    visit = {
        "resourceType": "Encounter",
        "id": "P7-ed-asthma",
        "status": "finished",
        "class": {"system": ACT, "code": "EMER"},
        "subject": {"reference": "Patient/P7-patient"},
        "period": {"start": "2025-04-22T20:00:00-05:00", "end": "2025-04-23T02:00:00-05:00"},
        "diagnosis": [{"condition": {"reference": "Condition/P7-asthma"}}],
    }
    add(b, visit)


# Episode scope and clinical domain (DATA-PROFILE §6): evidence of another stay or another domain does not count.
CASES += [
    continued("bh803.doc.1-initial-cert-upon-admission", "not-met", Q_CERT_ON_ADMISSION, certified_only_in_2024,
              name="a-2024-certification-does-not-count"),
    continued("bh803.doc.2-plan-of-care-by-physician", "not-met", Q_PLAN_BY_PHYSICIAN, plan_only_from_2024,
              name="a-2024-plan-does-not-count"),
    continued("bh803.doc.3-recert-60d", "not-met", Q_RECERT_TIMING, recertified_in_2024,
              name="a-2024-recertification-does-not-count"),
    admission("bh803.eligibility.1a-certified-by-physician", "unknown", Q_CERTIFIED, physician_certified_in_2023,
              name="a-2023-physician-certification-does-not-count"),
    admission("bh803.rn.4-acute-onset-or-decompensation", "unknown", Q_ACUTE, asthma_emergency_visit,
              name="an-asthma-visit-is-no-decompensation"),
]  # fmt: skip


def suicidal_ideation_code(onset: str) -> Change:
    return lambda b: add(b, condition("P7-patient", "P7-si", ICD10, "R45.851", onset))


def cssrs_behaviour_in_3_months(b: dict[str, Any]) -> None:
    """A C-SSRS screen with no ideation items answered yes, but suicidal behaviour in the past 3 months."""
    screen = cssrs("P7-patient", "2025-05-01T10:30:00-05:00", False)
    screen["component"].append({"code": coding(LOINC, "93269-9"), "valueCodeableConcept": coding(LOINC, "LA33-6")})
    add(b, screen)


def sessions_until(last: str) -> Change:
    """The program goes on: a session every Monday, Wednesday and Friday from 2025-03-10 to ``last``."""

    def change(b: dict[str, Any]) -> None:
        day = date(2025, 3, 10)
        while day <= date.fromisoformat(last):
            if day.weekday() in (0, 2, 4):
                sid = f"P8-prog-sess-{day:%m%d}"
                add(b, {"resourceType": "Encounter", "id": sid, "status": "finished", "class": {"system": ACT,
                        "code": "AMB"}, "subject": {"reference": "Patient/P8-patient"},
                        "type": [coding(HCPCS, "S9480")], "partOf": {"reference": "Encounter/P8-prog"},
                        "period": {"start": f"{day}T09:00:00-07:00", "end": f"{day}T12:00:00-07:00"}})  # fmt: skip
            day += timedelta(days=1)

    return change


def recertified_on(*days: str) -> Change:
    def change(b: dict[str, Any]) -> None:
        for day in days:
            p8_recertified(day)(b)

    return change


# Safety: the newest evidence decides (DATA-PROFILE §6); recertification recurs every 60 days.
CASES += [
    admission("bh803.rn.3-not-imminent-danger", "met", Q_DANGER, suicidal_ideation_code("2025-04-28"),
              screened(False), name="newer-negative-c-ssrs-outweighs-older-si-code"),
    admission("bh803.rn.3-not-imminent-danger", "unknown", Q_DANGER, screened(False),
              suicidal_ideation_code("2025-05-02"), name="si-code-newer-than-the-c-ssrs-asks-to-confirm"),
    admission("bh803.rn.3-not-imminent-danger", "unknown", Q_DANGER, suicidal_ideation_code("2025-04-30"),
              name="lone-si-code-asks-to-confirm"),
    admission("bh803.rn.3-not-imminent-danger", "not-met", Q_DANGER, cssrs_behaviour_in_3_months,
              name="c-ssrs-suicidal-behaviour-in-3-months"),
    discharge("bh803.doc.3-recert-60d", "met", Q_RECERT_TIMING, recertified_on("2025-02-20", "2025-04-15"),
              sessions_until("2025-05-02"), discharged_on("2025-05-02"), at="2025-05-02T12:30:00-07:00",
              name="second-recertification-within-60-days-of-the-first"),
    discharge("bh803.doc.3-recert-60d", "not-met", Q_RECERT_TIMING, recertified_on("2025-02-20"),
              sessions_until("2025-05-02"), discharged_on("2025-05-02"), at="2025-05-02T12:30:00-07:00",
              name="second-recertification-missed"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_sentence(case: SentenceCase) -> None:
    check(case)


# --- Episode scope of what the duties read (issue 15): an earlier stay's evidence no longer counts ---------------


def goal_only_on_a_2019_plan(b: dict[str, Any]) -> None:
    """This stay's plan lists no goal; the measurable goal is the one of a plan from a 2019 outpatient episode."""
    plan = the(b, "P8-tp")
    plan.pop("goal")
    old = {**plan, "id": "P8-tp-2019", "status": "completed", "created": "2019-04-01T10:00:00-06:00",
           "goal": [{"reference": "Goal/P8-goal"}]}  # fmt: skip
    add(b, old)


EPISODE_CASES: list[tuple[SentenceCase, str]] = [
    (continued("bh803.doc.6-tx-plan-physician-signed-goals", "met", Q_TX_PLAN, name="this-plans-goal"), "P8-goal"),
    (
        continued("bh803.doc.6-tx-plan-physician-signed-goals", "not-met", Q_TX_PLAN, goal_only_on_a_2019_plan,
                  name="a-2019-plans-goal-is-not-this-plans"),
        "measurable goal of this stay's treatment plan",
    ),
    (
        continued("bh803.program.2-individualized-plan-mdt", "not-met", Q_PLAN_MDT, goal_only_on_a_2019_plan,
                  name="a-2019-plans-goal-is-not-this-plans"),
        "measurable goal of this stay's treatment plan",
    ),
]  # fmt: skip


test_duty_evidence_is_this_episodes = sentence_test(EPISODE_CASES)
