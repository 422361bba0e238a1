"""Optum LOCG 2021 IOP, sentence by sentence: for every criterion a record the policy text makes met and one it
makes not met (or not applicable), each one change from golden patient P3 (admission) or P4 (discharge, or P4
still running with a renewal order for the continued-stay items)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sentence_cases import (
    Bundle,
    SentenceCase,
    add,
    by_id,
    check,
    drop,
    duty_evidence_test,
    from_golden,
    resources,
)

POLICY = "optum-locg"
P = POLICY + "."
P3_AT = "2025-03-03T09:30:00-05:00"  # P3: the IOP order is signed on the inpatient unit; the IOP starts 03-04
P4_AT = "2025-02-28T12:05:00-05:00"  # P4: discharge from the IOP
C_AT = "2025-02-20T10:00:00-05:00"  # P4 still in the program: a renewal order is signed

ICD = "http://hl7.org/fhir/sid/icd-10-cm"
SCT = "http://snomed.info/sct"
LOINC = "http://loinc.org"
CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
NUCC = "http://nucc.org/provider-taxonomy"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"

Change = Callable[[Bundle], None]


def coding(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def condition(cid: str, system: str, code: str, onset: str, patient: str = "P3-patient") -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "subject": {"reference": f"Patient/{patient}"},
        "clinicalStatus": coding(CLINICAL, "active"),
        "code": coding(system, code),
        "onsetDateTime": onset,
    }


def score(oid: str, loinc: str, when: str, value: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "subject": {"reference": "Patient/P3-patient"},
        "code": coding(LOINC, loinc),
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": "{score}"},
    }


def attest(patient: str, authored: str, **answers: bool) -> Change:
    """A clinician's completed QuestionnaireResponse answering criterion ids (short ids, ``__`` for ``.``)."""

    def change(bundle: Bundle) -> None:
        add(
            bundle,
            {
                "resourceType": "QuestionnaireResponse",
                "id": "attestation",
                "status": "completed",
                "subject": {"reference": f"Patient/{patient}"},
                "authored": authored,
                "item": [
                    {"linkId": P + k.replace("__", ".").replace("_", "-"), "answer": [{"valueBoolean": v}]}
                    for k, v in answers.items()
                ],
            },
        )

    return change


def attest_a(**answers: bool) -> Change:
    return attest("P3-patient", "2025-03-03T08:00:00-05:00", **answers)


def attest_d(**answers: bool) -> Change:
    return attest("P4-patient", "2025-02-28T11:00:00-05:00", **answers)


def attest_c(**answers: bool) -> Change:
    return attest("P4-patient", "2025-02-20T08:00:00-05:00", **answers)


def edit(rid: str, change: Callable[[dict[str, Any]], Any]) -> Change:
    return lambda bundle: change(by_id(bundle, rid))


def remove(*ids: str) -> Change:
    return lambda bundle: drop(bundle, lambda r: r.get("id") in ids)


def put(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda resource: resource.__setitem__(key, value)


def unset(*path: str) -> Callable[[dict[str, Any]], None]:
    def change(resource: dict[str, Any]) -> None:
        for step in path[:-1]:
            resource = resource[step]
        resource.pop(path[-1], None)

    return change


def with_(*new: dict[str, Any]) -> Change:
    return lambda bundle: add(bundle, *new)


def continued_stay(bundle: Bundle) -> None:
    """P4 on 2025-02-20, still in the program, with a renewal order being signed."""
    del by_id(bundle, "P4-prog")["period"]["end"]
    later = {r["id"] for r in resources(bundle) if r.get("id", "").startswith("P4-sess-") and r["id"] >= "P4-sess-21"}
    gone = later | {"P4-review-26", "P4-mm-28", "P4-instructions", "P4-sertraline", "P4-therapy"}
    gone |= {"P4-psychiatry", "P4-referral"}
    drop(bundle, lambda r: r.get("id") in gone)
    add(
        bundle,
        {
            "resourceType": "ServiceRequest",
            "id": "P4-renewal",
            "status": "draft",
            "intent": "order",
            "subject": {"reference": "Patient/P4-patient"},
            "authoredOn": "2025-02-20T09:00:00-05:00",
            "code": coding(HCPCS, "S9480"),
            "replaces": [{"reference": "ServiceRequest/P4-original"}],
            "occurrenceTiming": {
                "repeat": {"frequency": 3, "period": 1, "periodUnit": "wk", "duration": 3, "durationUnit": "h"}
            },
        },
    )


def a(criterion: str, expect: str, quote: str, *changes: Change, name: str = "") -> SentenceCase:
    """A case at P3's admission (order-sign)."""
    build = from_golden("P3", *changes)
    return SentenceCase(P + criterion, expect, quote, build, "order-sign", P3_AT, POLICY, None, name)


def d(criterion: str, expect: str, quote: str, *changes: Change, name: str = "") -> SentenceCase:
    """A case at P4's discharge from the IOP (encounter-discharge)."""
    build = from_golden("P4", *changes)
    return SentenceCase(P + criterion, expect, quote, build, "encounter-discharge", P4_AT, POLICY, "P4-prog", name)


def c(criterion: str, expect: str, quote: str, *changes: Change, name: str = "") -> SentenceCase:
    """A case during P4's program: a continued-stay order on 2025-02-20."""
    build = from_golden("P4", continued_stay, *changes)
    return SentenceCase(P + criterion, expect, quote, build, "order-sign", C_AT, POLICY, None, name)


# --- records one change from a golden patient ------------------------------------------------------------------

SUD_ONLY = (  # P3b: the bipolar diagnosis gone, the order is for the alcohol use disorder
    remove("P3-bipolar"),
    edit("P3-order", put("reasonReference", [{"reference": "Condition/P3-alcohol"}])),
)
BIPOLAR_ONLY_ON_THE_ORDER = (  # no bipolar Condition resource: the order names it in reasonCode
    remove("P3-bipolar"),
    edit("P3-order", unset("reasonReference")),
    edit("P3-order", put("reasonCode", [{"coding": [{"system": ICD, "code": "F31.4"}]}])),
)
STILL_ON_THE_UNIT = edit(  # the stay the order steps down from is still in progress when the order is signed
    "P3-ip", lambda r: (r.__setitem__("status", "in-progress"), r["period"].pop("end"))
)
APPENDECTOMY_STAY = (
    remove("P3-ip"),
    with_(
        condition("appendicitis", ICD, "K35.80", "2025-02-20"),
        {
            "resourceType": "Encounter",
            "id": "surgery",
            "status": "finished",
            "class": {"system": ACT, "code": "IMP"},
            "subject": {"reference": "Patient/P3-patient"},
            "period": {"start": "2025-02-20T08:00:00-05:00", "end": "2025-02-24T11:00:00-05:00"},
            "reasonCode": [coding(SCT, "74400008")],
            "diagnosis": [
                {"condition": {"reference": "Condition/appendicitis"}, "rank": 1},
                {"condition": {"reference": "Condition/P3-bipolar"}, "rank": 2},
            ],
        },
    ),
)
UNRANKED_APPENDECTOMY_STAY = (  # no reason code, no ranks: the first diagnosis listed is the principal one
    *APPENDECTOMY_STAY,
    edit("surgery", lambda r: (r.pop("reasonCode"), [d.pop("rank") for d in r["diagnosis"]])),
)
OLD_STAY = edit("P3-ip", put("period", {"start": "2025-01-10T10:00:00-05:00", "end": "2025-01-25T11:00:00-05:00"}))
ONLY_MILD = (
    remove("P3-bipolar", "P3-alcohol"),
    with_(condition("mild-depression", ICD, "F32.0", "2025-02-01")),
    edit("P3-phq9", lambda r: r["valueQuantity"].update(value=6)),
)
CSSRS_BEHAVIOUR_YES = edit("P3-cssrs-93269-9", lambda r: r["valueCodeableConcept"]["coding"][0].update(code="LA33-6"))
CSSRS_INTENT_YES = edit("P3-cssrs-93249-1", lambda r: r["valueCodeableConcept"]["coding"][0].update(code="LA33-6"))
CSSRS_BEHAVIOUR_YES_C = {
    "resourceType": "Observation",
    "id": "cssrs-behaviour",
    "status": "final",
    "subject": {"reference": "Patient/P4-patient"},
    "code": coding(LOINC, "93269-9"),
    "effectiveDateTime": "2025-02-19T10:00:00-05:00",
    "valueCodeableConcept": coding(LOINC, "LA33-6"),
}
SI_CODE_BEFORE_THE_C_SSRS = with_(condition("si", ICD, "R45.851", "2025-03-01"))
SI_CODE_AFTER_THE_C_SSRS = with_(condition("si", ICD, "R45.851", "2025-03-03"))
NEWER_LOW_CIWA = with_(score("ciwa", "75632-6", "2025-03-02T20:00:00-05:00", 6))
WITHDRAWAL_CODE_THEN_CIWA_6 = (
    remove("P3-alcohol"),
    with_(condition("wd", ICD, "F10.230", "2025-02-27"), score("ciwa", "75632-6", "2025-03-02T20:00:00-05:00", 6)),
)
CIWA_22_THEN_6 = (
    remove("P3-alcohol"),
    with_(
        score("ciwa-1", "75632-6", "2025-03-01T20:00:00-05:00", 22),
        score("ciwa-2", "75632-6", "2025-03-02T20:00:00-05:00", 6),
    ),
)
CIWA_6_THEN_22 = (
    remove("P3-alcohol"),
    with_(
        score("ciwa-1", "75632-6", "2025-03-01T20:00:00-05:00", 6),
        score("ciwa-2", "75632-6", "2025-03-02T20:00:00-05:00", 22),
    ),
)
HOMICIDAL_IDEATION = with_(condition("hi", ICD, "R45.850", "2025-03-03"))
SEVERE_DIABETES = with_(
    {**condition("dm", ICD, "E11.65", "2024-01-10"), "severity": coding(SCT, "24484000")},
)
NO_SUD_CODE_CIWA_22 = (remove("P3-alcohol"), with_(score("ciwa", "75632-6", "2025-03-02T20:00:00-05:00", 22)))
NO_SUD_CODE_CIWA_6 = (remove("P3-alcohol"), with_(score("ciwa", "75632-6", "2025-03-02T20:00:00-05:00", 6)))
AUD_IN_SUSTAINED_USE_CIWA_8 = (
    remove("P3-alcohol"),
    with_(condition("aud", ICD, "F10.20", "2024-06-01"), score("ciwa", "75632-6", "2025-03-02T20:00:00-05:00", 8)),
)
NO_DIRECT_IP = (
    edit("P4-prog", lambda r: r["hospitalization"].pop("admitSource")),
    edit("P4-ip", put("period", {"start": "2025-01-10", "end": "2025-01-20"})),
)
READMISSION_AFTER_THE_IOP = {
    "resourceType": "Encounter",
    "id": "readmission",
    "status": "in-progress",
    "class": {"system": ACT, "code": "IMP"},
    "subject": {"reference": "Patient/P4-patient"},
    "period": {"start": "2025-02-28T12:02:00-05:00"},  # after TD 12:00, before the hook at 12:05
    "serviceType": coding(SCT, "394587001"),
    "diagnosis": [{"condition": {"reference": "Condition/P4-dx"}}],
}
PSYCHIATRIST_ON_19 = with_(
    {
        "resourceType": "Procedure",
        "id": "psy-19",
        "status": "completed",
        "subject": {"reference": "Patient/P4-patient"},
        "code": coding(CPT, "99214"),
        "performedDateTime": "2025-02-19T11:00:00-05:00",
        "performer": [{"actor": {"reference": "Practitioner/P4-psy"}}],
    }
)
PLAN_REVIEW_ON_19 = lambda bundle: add(  # noqa: E731 - a change like the others
    bundle, {**by_id(bundle, "P4-review-12"), "id": "review-19", "date": "2025-02-19T14:00:00-05:00"}
)
PSYCHIATRIC_NP = {
    "resourceType": "Practitioner",
    "id": "pmhnp",
    "name": [{"family": "Lindqvist", "given": ["Ana"], "suffix": ["PMHNP-BC"]}],
    "qualification": [
        {"code": coding("http://terminology.hl7.org/CodeSystem/v2-0360", "NP")},
        {"code": coding(NUCC, "363LP0808X")},
    ],
}
NP_FOLLOW_UP = (
    with_(PSYCHIATRIC_NP),
    edit("P4-psychiatry", unset("specialty")),
    edit("P4-psychiatry", lambda r: r["participant"].__setitem__(1, {"actor": {"reference": "Practitioner/pmhnp"}})),
)
PROBATION = with_(condition("probation", ICD, "Z65.3", "2024-11-01", patient="P4-patient"))
ALCOHOL_USE_DISORDER_C = with_(condition("aud", ICD, "F10.20", "2024-06-01", patient="P4-patient"))
AA_REFERRAL = with_(
    {
        "resourceType": "ServiceRequest",
        "id": "aa",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/P4-patient"},
        "code": coding(HCPCS, "H0038"),
        "authoredOn": "2025-02-14",
    }
)
SPONSOR_IN_THE_PLAN = edit(
    "P4-tp",
    lambda r: r.setdefault("activity", []).append(
        {"detail": {"status": "scheduled", "code": coding("urn:iop-cds:local", "sponsor")}}
    ),
)
ADVANCE_DIRECTIVE = with_(
    {
        "resourceType": "DocumentReference",
        "id": "ad",
        "status": "current",
        "subject": {"reference": "Patient/P4-patient"},
        "type": coding(LOINC, "42348-3"),
        "date": "2025-02-10",
    }
)
DENTIST = {
    "resourceType": "Practitioner",
    "id": "dentist",
    "name": [{"family": "Moreau", "given": ["Luc"], "prefix": ["Dr"]}],
    "qualification": [{"code": coding(NUCC, "1223G0001X")}],
}
DENTAL_CHECK_UP_FIRST = (  # the only appointment within 7 days is the dentist's; psychiatry follows on 03-18
    with_(DENTIST),
    edit(
        "P4-therapy",
        lambda r: r.update(
            serviceType=[coding(SCT, "394812008")],
            participant=[
                {"actor": {"reference": "Patient/P4-patient"}},
                {"actor": {"reference": "Practitioner/dentist"}},
            ],
        ),
    ),
)
PSYCHOEDUCATION_ACTIVITY = edit(
    "P4-dcp", lambda r: r["activity"].append({"detail": {"status": "scheduled", "code": coding(HCPCS, "H2027")}})
)
PEER_ACTIVITY = edit(
    "P4-dcp", lambda r: r["activity"].append({"detail": {"status": "scheduled", "code": coding(HCPCS, "H0038")}})
)

# --- the sentences ---------------------------------------------------------------------------------------------

SCOPE = (
    "These criteria are used for mental health and co-occurring mental health disorders. However, ASAM Criteria are "
    "used for substance use disorders."
)
INTENSITY = "maintains hours of service for at least 3 hours per day, 2 or more days per week"
ANY_1 = (
    "The member's psychosocial functioning has become impaired by moderate-severe symptoms of a mental health "
    "condition, and treatment cannot be adequately managed in a lower level of care"
)
ANY_2 = (
    "The member's mood, affect or cognition has deteriorated to the extent that a higher level of care will likely "
    "be needed if intensive outpatient treatment is not provided"
)
ANY_3 = (
    "The member has completed inpatient, residential treatment or a partial hospital/day treatment program, and "
    "requires the structure and monitoring available in an intensive outpatient program"
)
ANY_4 = (
    "The member has a non-supportive living situation creating an environment in which the member's mental health "
    "condition is likely to worsen without the structure and support of the intensive outpatient program."
)
ALL_1 = "The member is not at imminent risk of serious harm to self or others."
ALL_2 = "Co-occurring medical conditions, if present, can be safely managed in an outpatient setting."
ALL_3 = (
    "Co-occurring substance use disorders, if present, can be treated in a dual diagnosis program, or can be safely "
    "managed at this level of care."
)
ALL_4 = "The member is not at risk for severe withdrawal or delirium tremens."
ALL_5 = (
    "The member and/or his/her family/social support system understand and can comply with the requirements of an "
    "IOP, or the member is likely to participate in treatment with the structure and supervision afforded by an IOP."
)
FIRST_3_DAYS = "Within the first 3 days of treatment, the following should occur: … "
SIX_A = FIRST_3_DAYS + (
    "A psychiatrist completes a comprehensive evaluation of the member when the member has been directly admitted "
    "to the intensive outpatient program from an inpatient setting."
)
SIX_B = FIRST_3_DAYS + "The provider and, whenever possible, the member does the following: … "
SIX_C = "The provider does the following within 48 hours of admission with the member's documented consent: … "
SEVEN_A = (
    "After admission, the program shall ensure that: … A psychiatrist continues to see the member at least weekly "
    "when the member has been directly admitted from an inpatient setting."
)
SEVEN_B = (
    "Services are coordinated with other behavioral health or medical providers who are providing concurrent care, "
    "as well as with agencies and programs such as the school or court system"
)
EIGHT = (
    "collaborate to update the treatment plan every 3 to 5 treatment days in response to changes in the member's "
    "condition, or provide compelling evidence that continued treatment in the current level of care is required to "
    "prevent acute deterioration or exacerbation of the member's current condition."
)
NINE_A = (
    "collaborate to update the initial discharge plan in response to changes in the member's condition so that an "
    "appropriate discharge plan is in place prior to discharge."
)
NINE_B = (
    "Whenever possible, the provider should review the discharge plan with the provider at the next level of care "
    "prior to discharge."
)
NINE_C = (
    "The final discharge plan should be provided to the Care Advocate at least 24 hours prior to the anticipated "
    "date of discharge."
)
TEN = "The discharge plan must include ALL of the following: … "
CS = "Continuation of Stay … ALL of the following criteria must be met. … "

CASES: list[SentenceCase] = [
    # Introduction: mental health and co-occurring disorders; substance use disorders alone go to ASAM
    a("scope.mh-or-cooccurring", "met", SCOPE),
    a("scope.mh-or-cooccurring", "met", SCOPE, *BIPOLAR_ONLY_ON_THE_ORDER, name="reason-code-on-the-order"),
    a("scope.mh-or-cooccurring", "not-applicable", SCOPE, *SUD_ONLY, name="substance-use-only"),
    # Definition: at least 3 hours a day, 2 or more days a week
    a("def.intensity-3h-2d", "met", INTENSITY),
    a(
        "def.intensity-3h-2d",
        "not-met",
        INTENSITY,
        edit("P3-order", lambda r: r["occurrenceTiming"]["repeat"].update(duration=2.5)),
        name="two-and-a-half-hours",
    ),
    a(
        "def.intensity-3h-2d",
        "met",
        "When supported by the benefit plan, coverage may be available for intensive outpatient programs that are "
        "provided with less intensity to members who are recovering from severe and persistent mental health "
        "conditions.",
        edit("P3-order", lambda r: r["occurrenceTiming"]["repeat"].update(duration=2.5)),
        attest_a(def__intensity_3h_2d=True),
        name="less-intensity-accepted-by-attestation",
    ),
    # Any ONE of the following #1-#4
    a("admission.any.1-impaired-functioning", "met", ANY_1, attest_a(admission__any__1_impaired_functioning=True)),
    a("admission.any.1-impaired-functioning", "not-met", ANY_1, *ONLY_MILD, name="mild-diagnosis-phq9-6"),
    a(
        "admission.any.1-impaired-functioning",
        "unknown",
        ANY_1,
        *ONLY_MILD,
        edit("P3-order", put("reasonCode", [coding(ICD, "F33.2")])),
        name="order-for-severe-depression-needs-the-clinician",
    ),
    a(
        "admission.any.2-deterioration-higher-loc",
        "met",
        ANY_2,
        attest_a(admission__any__2_deterioration_higher_loc=True),
    ),
    a(
        "admission.any.2-deterioration-higher-loc",
        "not-met",
        ANY_2,
        attest_a(admission__any__2_deterioration_higher_loc=False),
    ),
    a("admission.any.3-step-down", "met", ANY_3, name="psychiatric-stay-ended-this-morning"),
    a("admission.any.3-step-down", "met", ANY_3, STILL_ON_THE_UNIT, name="order-signed-on-the-unit"),
    # No behavioural-health stay found is "not documented", not a failure (DATA-PROFILE §6); a clinician's "no" is.
    a("admission.any.3-step-down", "unknown", ANY_3, *APPENDECTOMY_STAY, name="appendectomy-stay"),
    a("admission.any.3-step-down", "unknown", ANY_3, *UNRANKED_APPENDECTOMY_STAY, name="unranked-appendectomy-stay"),
    a("admission.any.3-step-down", "unknown", ANY_3, OLD_STAY, name="stay-ended-37-days-before"),
    a(
        "admission.any.3-step-down",
        "not-met",
        ANY_3,
        OLD_STAY,
        attest_a(admission__any__3_step_down=False),
        name="stay-ended-37-days-before-clinician-answers-no",
    ),
    a("admission.any.4-nonsupportive-living", "met", ANY_4, attest_a(admission__any__4_nonsupportive_living=True)),
    a("admission.any.4-nonsupportive-living", "not-met", ANY_4, attest_a(admission__any__4_nonsupportive_living=False)),
    # And all of the following #1: imminent risk (safety)
    a("admission.all.1-no-imminent-risk", "met", ALL_1, name="c-ssrs-all-no-low-risk"),
    a("admission.all.1-no-imminent-risk", "met", ALL_1, STILL_ON_THE_UNIT, name="signed-on-the-inpatient-unit"),
    a("admission.all.1-no-imminent-risk", "not-met", ALL_1, CSSRS_BEHAVIOUR_YES, name="suicidal-behaviour-3-months"),
    a("admission.all.1-no-imminent-risk", "not-met", ALL_1, CSSRS_INTENT_YES, name="intent-to-act"),
    a("admission.all.1-no-imminent-risk", "not-met", ALL_1, HOMICIDAL_IDEATION, name="homicidal-ideation"),
    a(
        "admission.all.1-no-imminent-risk",
        "met",
        ALL_1,
        SI_CODE_BEFORE_THE_C_SSRS,
        name="ideation-code-outweighed-by-a-newer-c-ssrs",
    ),
    a(
        "admission.all.1-no-imminent-risk",
        "unknown",
        ALL_1,
        SI_CODE_AFTER_THE_C_SSRS,
        name="ideation-code-newer-than-the-c-ssrs-asks-to-confirm",
    ),
    # #2 and #3: co-occurring conditions "if present"
    a(
        "admission.all.2-medical-comorbidity-manageable",
        "met",
        ALL_2,
        SEVERE_DIABETES,
        attest_a(admission__all__2_medical_comorbidity_manageable=True),
    ),
    a("admission.all.2-medical-comorbidity-manageable", "not-applicable", ALL_2, name="no-medical-condition"),
    a(
        "admission.all.2-medical-comorbidity-manageable",
        "not-met",
        ALL_2,
        SEVERE_DIABETES,
        attest_a(admission__all__2_medical_comorbidity_manageable=False),
    ),
    a("admission.all.3-sud-manageable", "met", ALL_3, attest_a(admission__all__3_sud_manageable=True)),
    a("admission.all.3-sud-manageable", "not-met", ALL_3, attest_a(admission__all__3_sud_manageable=False)),
    a("admission.all.3-sud-manageable", "not-applicable", ALL_3, remove("P3-alcohol"), name="no-substance-use"),
    a(
        "admission.all.3-sud-manageable",
        "met",
        ALL_3,
        remove("P3-alcohol"),
        edit("P3-order", put("reasonCode", [coding(ICD, "F10.20")])),
        attest_a(admission__all__3_sud_manageable=True),
        name="substance-use-named-on-the-order",
    ),
    # #4: severe withdrawal or delirium tremens (safety), whether or not a substance use disorder is coded
    a("admission.all.4-no-severe-withdrawal-dt-risk", "not-met", ALL_4, name="withdrawal-delirium-11-days-ago"),
    a("admission.all.4-no-severe-withdrawal-dt-risk", "not-met", ALL_4, *NO_SUD_CODE_CIWA_22, name="ciwa-22-no-sud"),
    a("admission.all.4-no-severe-withdrawal-dt-risk", "met", ALL_4, *NO_SUD_CODE_CIWA_6, name="ciwa-6-no-sud"),
    a("admission.all.4-no-severe-withdrawal-dt-risk", "met", ALL_4, *AUD_IN_SUSTAINED_USE_CIWA_8, name="aud-ciwa-8"),
    a(
        "admission.all.4-no-severe-withdrawal-dt-risk",
        "unknown",
        ALL_4,
        NEWER_LOW_CIWA,
        name="withdrawal-delirium-then-ciwa-6-asks-to-confirm",
    ),
    a(
        "admission.all.4-no-severe-withdrawal-dt-risk",
        "met",
        ALL_4,
        *WITHDRAWAL_CODE_THEN_CIWA_6,
        name="withdrawal-code-outweighed-by-a-newer-ciwa-6",
    ),
    a("admission.all.4-no-severe-withdrawal-dt-risk", "unknown", ALL_4, *CIWA_22_THEN_6, name="ciwa-22-then-6"),
    a("admission.all.4-no-severe-withdrawal-dt-risk", "not-met", ALL_4, *CIWA_6_THEN_22, name="ciwa-6-then-22"),
    # #5: understands and can comply, or likely to participate (judgement)
    a("admission.all.5-can-comply", "met", ALL_5, attest_a(admission__all__5_can_comply=True)),
    a("admission.all.5-can-comply", "not-met", ALL_5, attest_a(admission__all__5_can_comply=False)),
    # #6 within the first 3 days
    d("process.6a-psychiatrist-eval-3d", "met", SIX_A),
    d(
        "process.6a-psychiatrist-eval-3d",
        "not-met",
        SIX_A,
        edit("P4-eval", put("performedDateTime", "2025-02-12T11:00:00-05:00")),
        name="evaluation-on-day-6",
    ),
    d("process.6a-psychiatrist-eval-3d", "not-applicable", SIX_A, *NO_DIRECT_IP, name="not-directly-from-inpatient"),
    d(
        "process.6a-psychiatrist-eval-3d",
        "not-applicable",
        SIX_A,
        *NO_DIRECT_IP,
        with_(READMISSION_AFTER_THE_IOP),
        name="a-readmission-after-the-iop-is-not-where-it-came-from",
    ),
    d("process.6b1-treatment-plan-3d", "met", SIX_B + "Develop a treatment plan;"),
    d(
        "process.6b1-treatment-plan-3d",
        "not-met",
        SIX_B + "Develop a treatment plan;",
        edit("P4-tp", put("created", "2025-02-10T14:00:00-05:00")),
        name="plan-on-day-4",
    ),
    d("process.6b2-projected-dc-date-3d", "met", SIX_B + "Project a discharge date; and"),
    d(
        "process.6b2-projected-dc-date-3d",
        "not-met",
        SIX_B + "Project a discharge date; and",
        edit("P4-tp", unset("period", "end")),
        edit("P4-dcp", unset("period", "end")),
        name="no-projected-date",
    ),
    d("process.6b3-initial-dc-plan-3d", "met", SIX_B + "Develop an initial discharge plan."),
    d(
        "process.6b3-initial-dc-plan-3d",
        "not-met",
        SIX_B + "Develop an initial discharge plan.",
        edit("P4-dcp", put("created", "2025-02-12T15:00:00-05:00")),
        name="discharge-plan-on-day-5",
    ),
    d(
        "process.6c1-family-contact-48h",
        "met",
        SIX_C + "Contacts the member's family/social supports to discuss participating in treatment and discharge "
        "planning when such participation is essential and clinically appropriate.",
        attest_d(process__6c1_family_contact_48h=True),
    ),
    d(
        "process.6c1-family-contact-48h",
        "not-met",
        SIX_C + "Contacts the member's family/social supports",
        attest_d(process__6c1_family_contact_48h=False),
    ),
    d(
        "process.6c2-prior-provider-contact-48h",
        "met",
        SIX_C + "Contacts the member's most recent provider to obtain information about the member's presenting "
        "condition and response to treatment.",
        attest_d(process__6c2_prior_provider_contact_48h=True),
    ),
    d(
        "process.6c2-prior-provider-contact-48h",
        "not-met",
        SIX_C + "Contacts the member's most recent provider",
        attest_d(process__6c2_prior_provider_contact_48h=False),
    ),
    # #7 and #8 after admission
    d("continued.7a-psychiatrist-weekly", "met", SEVEN_A, PSYCHIATRIST_ON_19, name="seen-on-the-19th"),
    d("continued.7a-psychiatrist-weekly", "not-met", SEVEN_A, name="no-psychiatrist-17-to-23"),
    d("continued.7b-care-coordination", "met", SEVEN_B, attest_d(continued__7b_care_coordination=True)),
    d("continued.7b-care-coordination", "not-met", SEVEN_B, attest_d(continued__7b_care_coordination=False)),
    d("continued.8-tx-plan-update-3to5-days", "met", EIGHT, PLAN_REVIEW_ON_19, name="reviewed-on-the-19th"),
    d(
        "continued.8-tx-plan-update-3to5-days",
        "met",
        EIGHT,
        attest_d(continued__8_tx_plan_update_3to5_days=True),
        name="compelling-evidence-attested",
    ),
    d("continued.8-tx-plan-update-3to5-days", "not-met", EIGHT, name="six-treatment-days-without-review"),
    d(
        "continued.8-tx-plan-update-3to5-days",
        "not-met",
        EIGHT,
        attest_d(continued__8_tx_plan_update_3to5_days=False),
        name="compelling-evidence-denied",
    ),
    # #9 discharge plan updated, reviewed, sent to the Care Advocate
    d("discharge.9a-dc-plan-updated", "met", NINE_A),
    d(
        "discharge.9a-dc-plan-updated",
        "not-met",
        NINE_A,
        edit("P4-dcp", put("meta", {"lastUpdated": "2025-02-05T15:00:00-05:00"})),
        name="never-updated",
    ),
    d(
        "discharge.9b-reviewed-with-next-provider",
        "met",
        NINE_B,
        attest_d(discharge__9b_reviewed_with_next_provider=True),
    ),
    d(
        "discharge.9b-reviewed-with-next-provider",
        "not-met",
        NINE_B,
        attest_d(discharge__9b_reviewed_with_next_provider=False),
    ),
    d(
        "discharge.9c-final-plan-to-care-advocate-24h",
        "met",
        NINE_C,
        attest_d(discharge__9c_final_plan_to_care_advocate_24h=True),
    ),
    d(
        "discharge.9c-final-plan-to-care-advocate-24h",
        "not-met",
        NINE_C,
        attest_d(discharge__9c_final_plan_to_care_advocate_24h=False),
    ),
    # #10 the discharge plan's content
    d("discharge.10a-anticipated-dc-date", "met", TEN + "The anticipated discharge date."),
    d(
        "discharge.10a-anticipated-dc-date",
        "not-met",
        TEN + "The anticipated discharge date.",
        edit("P4-dcp", unset("period", "end")),
    ),
    d(
        "discharge.10b1-next-loc-provider-location",
        "met",
        TEN + "The next level of care, its location, and the name(s) of the provider(s) who will deliver treatment;",
    ),
    d(
        "discharge.10b1-next-loc-provider-location",
        "not-met",
        TEN + "The next level of care, its location,",
        edit("P4-referral", unset("locationReference")),
        edit("P4-therapy", lambda r: r["participant"].pop()),
        name="no-location",
    ),
    d("discharge.10b2-referral-rationale", "met", TEN + "The rationale for the referral;"),
    d(
        "discharge.10b2-referral-rationale",
        "met",
        TEN + "The rationale for the referral;",
        edit("P4-referral", unset("reasonReference")),
        edit("P4-referral", put("reasonCode", [coding(ICD, "F33.1")])),
        name="reason-code",
    ),
    d(
        "discharge.10b2-referral-rationale",
        "not-met",
        TEN + "The rationale for the referral;",
        edit("P4-referral", unset("reasonReference")),
        name="no-reason",
    ),
    d(
        "discharge.10b3-first-appts-datetime",
        "met",
        TEN + "The date and time of the first appointment for treatment as … well as the first follow-up "
        "psychiatric assessment;",
    ),
    d(
        "discharge.10b3-first-appts-datetime",
        "met",
        TEN + "the first follow-up psychiatric assessment;",
        *NP_FOLLOW_UP,
        name="psychiatric-nurse-practitioner",
    ),
    d(
        "discharge.10b3-first-appts-datetime",
        "not-met",
        TEN + "the first follow-up psychiatric assessment;",
        remove("P4-psychiatry"),
        name="no-psychiatric-follow-up",
    ),
    d("discharge.10b3a-first-appt-within-7d", "met", "The first appointment should be within 7 days of discharge;"),
    d(
        "discharge.10b3a-first-appt-within-7d",
        "not-met",
        "The first appointment should be within 7 days of discharge;",
        edit("P4-therapy", put("start", "2025-03-10T10:00:00-04:00")),
        name="ten-days-after",
    ),
    d(
        "discharge.10b3a-first-appt-within-7d",
        "not-met",
        "The first appointment should be within 7 days of discharge;",
        *DENTAL_CHECK_UP_FIRST,
        name="a-dental-check-up-is-not-treatment",
    ),
    d(
        "discharge.10b4-modalities-frequency",
        "met",
        TEN + "The recommended modalities of post-discharge care and the frequency of each modality;",
    ),
    d(
        "discharge.10b4-modalities-frequency",
        "not-met",
        TEN + "the frequency of each modality;",
        edit("P4-dcp", lambda r: [act["detail"].pop("scheduledTiming") for act in r["activity"]]),
        name="no-frequency",
    ),
    d(
        "discharge.10b5-meds-dose-labs",
        "met",
        TEN + "The names, dosages and frequencies of each medication and a schedule for appropriate lab tests if "
        "pharmacotherapy is a modality of post-discharge care.",
    ),
    d(
        "discharge.10b5-meds-dose-labs",
        "not-met",
        TEN + "The names, dosages and frequencies of each medication",
        edit("P4-sertraline", lambda r: [r["dosageInstruction"][0].pop(k) for k in ("doseAndRate", "text")]),
        name="no-dose",
    ),
    d(
        "discharge.10b6-peer-community-linkage",
        "met",
        TEN + "Linkages with peer services and other community resources.",
        PEER_ACTIVITY,
    ),
    d(
        "discharge.10b6-peer-community-linkage",
        "not-met",
        TEN + "Linkages with peer services and other community resources.",
        name="no-linkage-at-discharge",
    ),
    d(
        "discharge.10b6-peer-community-linkage",
        "not-met",
        TEN + "Linkages with peer services",
        PSYCHOEDUCATION_ACTIVITY,
        name="psycho-education-is-not-a-peer-service",
    ),
    d(
        "discharge.10b7-crisis-plan",
        "met",
        TEN + "A crisis plan to help the member address re-emergence of referral symptoms or the emergence of new "
        "symptoms that require services.",
    ),
    d("discharge.10b7-crisis-plan", "not-met", TEN + "A crisis plan", remove("P4-crp"), name="no-crisis-plan"),
    d(
        "discharge.10c-communication-plan",
        "met",
        TEN + "The plan to communicate all pertinent clinical information to the provider(s) responsible for "
        "post-discharge care, as well as to the member's primary care provider as appropriate.",
        attest_d(discharge__10c_communication_plan=True),
    ),
    d(
        "discharge.10c-communication-plan",
        "not-met",
        TEN + "The plan to communicate all pertinent clinical information",
        attest_d(discharge__10c_communication_plan=False),
    ),
    d(
        "discharge.10d-agency-coordination",
        "met",
        TEN + "The plan to coordinate discharge with agencies and programs such as the school or court system with "
        "which the member has been involved when appropriate and with the member's documented consent.",
        PROBATION,
        attest_d(discharge__10d_agency_coordination=True),
    ),
    d(
        "discharge.10d-agency-coordination",
        "not-applicable",
        TEN + "with which the member has been involved when appropriate",
        name="no-school-or-court",
    ),
    d(
        "discharge.10e-bridge-med-supply",
        "met",
        TEN + "A prescription for a supply of medication sufficient to bridge the time between discharge and the "
        "scheduled follow-up psychiatric assessment.",
        edit("P4-sertraline", lambda r: r["dispenseRequest"]["expectedSupplyDuration"].update(value=21)),
        name="21-days",
    ),
    d(
        "discharge.10e-bridge-med-supply",
        "met",
        TEN + "the scheduled follow-up psychiatric assessment.",
        *NP_FOLLOW_UP,
        edit("P4-sertraline", lambda r: r["dispenseRequest"]["expectedSupplyDuration"].update(value=21)),
        name="21-days-to-the-nurse-practitioner",
    ),
    d(
        "discharge.10e-bridge-med-supply",
        "not-met",
        TEN + "A prescription for a supply of medication sufficient to bridge the time",
        name="14-days-runs-out-before-03-18",
    ),
    d(
        "discharge.10f-member-understands-plan",
        "met",
        TEN + "Confirmation that the member or authorized representative understands the discharge plan.",
        attest_d(discharge__10f_member_understands_plan=True),
    ),
    d(
        "discharge.10f-member-understands-plan",
        "not-met",
        TEN + "Confirmation that the member or authorized representative understands the discharge plan.",
        attest_d(discharge__10f_member_understands_plan=False),
    ),
    d(
        "discharge.10g-written-crisis-instructions",
        "met",
        TEN + "Confirmation that the member was provided with written instruction for what to do in the event that "
        "a crisis arises prior to the first follow-up appointment.",
    ),
    d(
        "discharge.10g-written-crisis-instructions",
        "not-met",
        TEN + "written instruction for what to do in the event that a crisis arises",
        remove("P4-instructions"),
    ),
    # Continuation of Stay #1-#6
    c(
        "continued.cs1-loc-criteria-still-met",
        "met",
        CS + "The criteria for the current level of care continue to be met.",
        attest_c(admission__all__1_no_imminent_risk=True, admission__all__5_can_comply=True),
    ),
    c(
        "continued.cs1-loc-criteria-still-met",
        "not-met",
        CS + "The criteria for the current level of care continue to be met.",
        with_({**CSSRS_BEHAVIOUR_YES_C}),
        name="suicidal-behaviour-on-yesterdays-c-ssrs",
    ),
    c(
        "continued.cs2a-ebt-goals-intensity",
        "met",
        CS + "The treatment plan continues to include evidence-based treatments which are aimed at achieving specific "
        "and realistic goals",
        attest_c(continued__cs2a_ebt_goals_intensity=True),
    ),
    c(
        "continued.cs2a-ebt-goals-intensity",
        "not-met",
        CS + "The treatment plan continues to include evidence-based treatments",
        attest_c(continued__cs2a_ebt_goals_intensity=False),
    ),
    c(
        "continued.cs2b-sud-mutual-help-sponsor",
        "met",
        "When the diagnosis is a substance use disorder, referral to an age-appropriate sobriety support group and use "
        "of an accountability partner such as a sponsor have been considered.",
        ALCOHOL_USE_DISORDER_C,
        AA_REFERRAL,
        SPONSOR_IN_THE_PLAN,
    ),
    c(
        "continued.cs2b-sud-mutual-help-sponsor",
        "unknown",
        "referral to an age-appropriate sobriety support group and use of an accountability partner such as a "
        "sponsor have been considered.",
        ALCOHOL_USE_DISORDER_C,
        AA_REFERRAL,
        name="group-without-an-accountability-partner-asks-the-clinician",
    ),
    c(
        "continued.cs2b-sud-mutual-help-sponsor",
        "not-applicable",
        "When the diagnosis is a substance use disorder",
        name="no-substance-use",
    ),
    c(
        "continued.cs3-advance-directive",
        "met",
        "When clinically indicated, the provider and the member assess the need to create or update the member's "
        "advance directive.",
        ADVANCE_DIRECTIVE,
    ),
    c(
        "continued.cs3-advance-directive",
        "not-met",
        "When clinically indicated, the provider and the member assess the need to create or update the member's "
        "advance directive.",
        attest_c(continued__cs3_advance_directive=False),
    ),
    c(
        "continued.cs4-family-participation",
        "met",
        "When clinically indicated, the member's family/social supports actively participate in the member's "
        "treatment.",
        attest_c(continued__cs4_family_participation=True),
    ),
    c(
        "continued.cs4-family-participation",
        "not-met",
        "When clinically indicated, the member's family/social supports actively participate in the member's "
        "treatment.",
        attest_c(continued__cs4_family_participation=False),
    ),
    c(
        "continued.cs5-active-tx-progress",
        "met",
        "There continues to be evidence that the member is receiving active treatment, and there continues to be a "
        "reasonable expectation that the member's condition will improve further.",
        attest_c(continued__cs5_active_tx_progress=True),
    ),
    c(
        "continued.cs5-active-tx-progress",
        "not-met",
        "there continues to be a reasonable expectation that the member's condition will improve further.",
        attest_c(continued__cs5_active_tx_progress=False),
    ),
    c(
        "continued.cs6-relapse-if-stepdown",
        "met",
        "The member's current symptoms and/or history provide evidence that relapse or a significant deterioration in "
        "functioning would be imminent if the member was transitioned to a lower level of care",
        attest_c(continued__cs6_relapse_if_stepdown=True),
    ),
    c(
        "continued.cs6-relapse-if-stepdown",
        "not-met",
        "relapse or a significant deterioration in functioning would be imminent if the member was transitioned to a "
        "lower level of care",
        attest_c(continued__cs6_relapse_if_stepdown=False),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_sentence(case: SentenceCase) -> None:
    check(case)


# --- Episode scope of what the duties read (issue 15): another stay's evidence no longer counts ------------------

ED_VISIT_DURING_THE_STAY = {
    "resourceType": "Encounter",
    "id": "ed-0215",
    "status": "finished",
    "class": {"system": ACT, "code": "EMER"},
    "subject": {"reference": "Patient/P4-patient"},
    "period": {"start": "2025-02-15T21:00:00-05:00", "end": "2025-02-16T02:00:00-05:00"},
}


def ed_instructions_only(bundle: Bundle) -> None:
    """The only written instructions are the emergency department's, from a visit during the stay."""
    instructions = {**by_id(bundle, "P4-instructions"), "id": "ed-instructions", "date": "2025-02-16T02:00:00-05:00"}
    instructions["context"] = {"encounter": [{"reference": "Encounter/ed-0215"}]}
    drop(bundle, lambda r: r.get("id") == "P4-instructions")
    add(bundle, ED_VISIT_DURING_THE_STAY, instructions)


def discharge_plan_review(encounter: str) -> Change:
    """The discharge plan is never revised itself; a plan-of-care note of 02-20 reviews it, written at ENCOUNTER."""

    def change(bundle: Bundle) -> None:
        by_id(bundle, "P4-dcp")["meta"] = {"lastUpdated": "2025-02-05T15:00:00-05:00"}
        note = {**by_id(bundle, "P4-review-12"), "id": "dcp-review", "date": "2025-02-20T14:00:00-05:00"}
        note["context"] = {"related": [{"reference": "CarePlan/P4-dcp"}], "encounter": [{"reference": encounter}]}
        add(bundle, note)

    return change


def undated_peer_referral(encounter: str | None) -> Change:
    """A peer-support referral with no authored date, still active, made at ENCOUNTER (None: not said)."""
    referral = {
        "resourceType": "ServiceRequest",
        "id": "peer-referral",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/P4-patient"},
        "code": coding(HCPCS, "H0038"),
    }
    if encounter:
        referral["encounter"] = {"reference": encounter}
    return with_(referral)


def stay_in_progress_since(start: str) -> Change:
    """A psychiatric inpatient stay with no end, still marked in progress, begun on START."""
    return lambda bundle: add(
        bundle, {**by_id(bundle, "P4-ip"), "id": "ip-open", "status": "in-progress", "period": {"start": start}}
    )


Q_10B6 = TEN + "Linkages with peer services and other community resources."
Q_10G = TEN + "Confirmation that the member was provided with written instruction for what to do in the event that "
Q_10G += "a crisis arises prior to the first follow-up appointment."

EPISODE_CASES: list[tuple[SentenceCase, str]] = [
    (d("discharge.10g-written-crisis-instructions", "met", Q_10G, name="the-iops-instructions"), "P4-instructions"),
    (
        d("discharge.10g-written-crisis-instructions", "not-met", Q_10G, ed_instructions_only,
          name="an-emergency-visits-instructions-are-not-the-iops"),
        "made in another stay or program",
    ),
    (
        d("discharge.9a-dc-plan-updated", "met", NINE_A, discharge_plan_review("Encounter/P4-prog"),
          name="reviewed-in-a-program-note"),
        "dcp-review",
    ),
    (
        d("discharge.9a-dc-plan-updated", "not-met", NINE_A, discharge_plan_review("Encounter/P4-ip"),
          name="a-note-written-at-the-inpatient-stay-is-not-the-iops-review"),
        "made in another stay or program",
    ),
    (d("discharge.10b6-peer-community-linkage", "met", Q_10B6, AA_REFERRAL, name="referral-of-this-stay"), "aa"),
    (
        d("discharge.10b6-peer-community-linkage", "met", Q_10B6, undated_peer_referral(None),
          name="undated-referral-in-force"),
        "peer-referral",
    ),
    (
        d("discharge.10b7-crisis-plan", "not-met", TEN + "A crisis plan",
          edit("P4-crp", lambda r: r.update(status="completed", created="2022-01-10T10:00:00-05:00",
                                            period={"start": "2022-01-10", "end": "2022-06-01"})),
          name="a-crisis-plan-closed-in-2022-is-not-in-force"),
        "no longer in force",
    ),
    (
        d("discharge.10b6-peer-community-linkage", "not-met", Q_10B6, undated_peer_referral("Encounter/P4-ip"),
          name="the-inpatient-units-referral-is-not-the-iops-linkage"),
        "found ServiceRequest/peer-referral (undated, made in another stay or program)",
    ),
    (
        d("process.6a-psychiatrist-eval-3d", "met", SIX_A, *NO_DIRECT_IP, stay_in_progress_since("2025-01-25"),
          name="order-signed-on-a-unit-still-in-progress"),
        "",
    ),
    (
        d("process.6a-psychiatrist-eval-3d", "not-applicable", SIX_A, *NO_DIRECT_IP,
          stay_in_progress_since("2019-03-01"), name="a-stay-left-in-progress-since-2019-is-stale"),
        "",
    ),
]  # fmt: skip


test_duty_evidence_is_this_episodes = duty_evidence_test(EPISODE_CASES)
