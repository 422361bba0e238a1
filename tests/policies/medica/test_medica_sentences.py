"""Medica MP9556: for every criterion, records its policy sentence makes met and not met (or not applicable).

Each case is one golden patient (P1, P2, P9a, P9b, P10) with one change, the verdict the quoted sentence gives,
and nothing else. Judgement criteria are decided by a clinician's attestation (DATA-PROFILE §3) unless structured
evidence can show the failure.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from sentence_cases import Bundle, SentenceCase, add, by_id, check, drop, from_golden, resources
from test_policy_medica import ACT, AT, CPT, HCPCS, ICD, LOINC, RXNORM, SNOMED

ATTEST_AT = {
    "P1": "2025-03-03T09:30:00-06:00",
    "P2": "2025-03-03T13:30:00-06:00",
    "P9a": "2025-03-31T09:30:00-05:00",
    "P9b": "2025-04-21T09:30:00-05:00",
    "P10": "2025-03-03T15:30:00-06:00",
}
PATIENT = {"P1": "P1-patient", "P2": "P2-patient", "P9a": "P9-patient", "P9b": "P9-patient", "P10": "P10-patient"}
Change = Callable[[Bundle], None]
_IDS = itertools.count(1)

# --- the sentences (verbatim; '…' separates fragments) ---
Q_INTENSITY = (
    "A multidisciplinary treatment program should occur three (3) days a week and provides at least nine (9) hours "
    "to 19 hours of weekly clinical services"
)
Q_RECREATIONAL = (
    "Activities that are primarily recreational or diversionary or that do not address the serious presenting "
    "symptoms/problems do not contribute towards the total hours of treatment delivered."
)
Q_A1 = (
    "The individual has been diagnosed with a moderate to severe mental health disorder, per the most recent version "
    "of the Diagnostic and Statistical Manual of Mental Disorders"
)
Q_A1_SUD = (
    "In the case of substance use related Intensive Outpatient treatment, this diagnosis is primarily characterized "
    "as a substance use disorder."
)
Q_A2A = (
    "The individual is at least mildly to moderately impaired and is not able to complete essential daily social, "
    "family, school, and/or work activities."
)
Q_A2B = "The individual is not able to employ necessary coping skills to continue with most routine daily activities."
Q_A3 = "The individual is mentally and emotionally capable of engagement in the treatment program."
Q_A4 = "The individual is able to live in the community without the restrictions of a 24-hour supervised setting."
Q_A5 = "The individual expresses willingness to engage in treatment."
Q_A6 = (
    "The individual has a documented safety plan developed in conjunction with the provider that includes being able "
    "to access emergency services so that a more intensive level of care is not required."
)
Q_A7 = "At least one of the following support system capabilities is documented"
Q_A7A = (
    "The individual has a support system that includes family or significant others who are able to actively "
    "participate in treatment."
)
Q_A7B = "The individual has the skills to develop supports and/or become involved in a selfhelp support system."
Q_A8 = "IOP is documented as necessary to provide structure for treatment, as demonstrated when at"
Q_A8A = (
    "The individual's provider(s) have submitted clinical documentation that the member requires the requested level "
    "of care secondary to adjunctive factors"
)
Q_A8A1 = Q_A8A + " … Medical comorbidity with instability that impairs overall health."
Q_A8A2 = Q_A8A + " … Concurrent substance use disorder."
Q_A8A3 = Q_A8A + " … Unstable living situation(s)."
Q_A8A4 = (
    Q_A8A + " … Current support system that engages in behaviors that undermine the goals of treatment and adversely "
    "affects outcomes."
)
Q_A8A5 = Q_A8A + " … Lack of community resources."
Q_A8B = (
    "Clinical presentation and documentation suggest that a lower level of care is not likely to be sufficient, (e.g. "
    "documented history of an inability to adhere to the clinical plan of care at an intensive lower level of care; "
    "being non-responsive to treatment"
)
Q_A8C = "A lower level of care is not available in a timely manner and risk of readmission is high."
Q_A8D = (
    "The individual is at high risk for admission to acute inpatient care secondary to multiple recent previous "
    "treatments that resulted in unsuccessful stabilization in the community post-discharge."
)
Q_C1A = (
    "The treatment provided is leading to measurable clinical improvements in the moderately severe symptoms and/or "
    "behaviors that led to this admission."
)
Q_C1B = (
    "There is progression toward discharge from the present level of care, but the individual is not sufficiently "
    "stabilized to be safely and effectively treated in a less restrictive level of care."
)
Q_C2 = (
    "There must be ongoing reassessment and modifications to the clinical plan of care that address specific barriers "
    "to achieving improvement when clinically indicated if clinical plan of care implemented is not leading to "
    "measurable clinical improvements"
)
Q_C3 = (
    "The individual has developed new symptoms and/or behaviors that require IOP treatment for safe and effective "
    "treatment."
)
Q_C4 = "documentation of … are required for continuation in IOP treatment"
Q_C4A = (
    Q_C4 + " … The individual and family are involved in the treatment and discharge planning process to the best "
    "of their ability."
)
Q_C4B = Q_C4 + " … The clinical plan of care is not primarily social, interpersonal, domiciliary, or respite care."
Q_C4C = Q_C4 + " … Continued IOP treatment is not primarily due to a lack of external supports."
Q_C4D = Q_C4 + " … There is a reasonable expectation for improvement in the severity of the current condition."
Q_C4E = Q_C4 + " … Continued stay is not primarily for the purpose of bridging care to another program."
Q_C4F = Q_C4 + " … Request for IOP is not based on a pre-determined program or preset number of days."
Q_IL = (
    "State of Illinois: Medical necessity determination for substance abuse disorders are made in accordance with "
    "the appropriate patient placement criteria established by the … Adult Continuation in IOP Treatment section 4."
)
Q_CH0 = (
    "Child and adolescent admission to and continuation of IOP treatment is medically necessary when documentation "
    "in the medical record indicates"
)
Q_CH1 = "All criteria for adult admission to and continuation of IOP treatment, above, have been met."
Q_CH2 = (
    "The facility providing IOP treatment is … A stand-alone mental facility intended for children/adolescents … "
    "A physically and programmatically distinct unit within a facility licensed for this purpose … A department "
    "within a general medical healthcare system."
)
Q_CH3 = (
    "The child/adolescent lives in the community without the restrictions of a 24-hour supervised setting, except as "
    "age-appropriate, during non-program hours for children and adolescents."
)
Q_CH4 = (
    "The program should provide for the child/adolescent's mental health, physical health, and educational needs, "
    "including access to education at the appropriate developmental level"
)
Q_CH5 = (
    "The treatment should be family-centered with the member and family included in care unless this is clinically "
    "contraindicated or would not be in compliance with existing federal or state laws."
)
Q_SUD0 = (
    "IOP treatment related to substance use disorder (alcohol and other drug abuse (AODA)) is medically necessary "
    "when documentation in the medical record indicates"
)
Q_SUD1 = (
    "All criteria for adult and child/adolescent (as applicable) admission to and continuation of IOP treatment, "
    "above, have been met."
)
Q_SUD2 = "Signs or symptoms of withdrawal requiring acute management … are manageable at the level of IOP treatment."
Q_SUD3 = (
    "The individual and/or family are made aware of the Medication Assisted Treatments available … (e.g., "
    "methadone, buprenorphine, naltrexone, disulfiram, acamprostate)."
)
Q_SUD4 = "Active substance use is a substantial contributor to the current treatment episode."
Q_SUD5A = "There is documentation of … Ongoing active medical issues secondary to the substance use disorder"
Q_SUD5B = "There is documentation of … The individual has symptomatology related to substance use disorder."
Q_SUD6 = (
    "There are documented acute psychiatric symptoms or cognitive deficits that directly relate to a high risk of "
    "relapse and require mental health treatment at an IOP treatment level of care."
)
Q_NMN = "The following services are considered not medically necessary and therefore are not covered"
Q_NMN_ITEMS = {
    "medica.nmn.1-biofeedback": "Biofeedback",
    "medica.nmn.2-custodial": "Custodial care",
    "medica.nmn.3-nonmedical-family-counseling": "Family counseling for non-medical and/or non-psychiatric reasons",
    "medica.nmn.4-halfway-house": "Halfway houses",
    "medica.nmn.5-hypnotherapy": "Hypnotherapy",
    "medica.nmn.6-convenience-incarceration-respite-housing": (
        "IOP treatment for purposes of convenience, alternative to incarceration, respite or housing"
    ),
    "medica.nmn.7-safe-environment-only": (
        "IOP treatment for the provision of a safe and structured environment due to a lack of external support or "
        "housing, when criteria above are not otherwise met"
    ),
    "medica.nmn.8-long-term-maintenance": "Long-term or maintenance therapy",
    "medica.nmn.9-marriage-counseling": "Marriage counseling",
    "medica.nmn.10-phototherapy": "Phototherapy",
    "medica.nmn.11-therapeutic-group-home": "Therapeutic group homes",
    "medica.nmn.12-camps-boarding": (
        "Wilderness camps, boot camps, boarding school, academy-vocational programs, and/or Outward-Bound programs"
    ),
}


# --- small FHIR builders ---


def ref(key: str) -> dict[str, str]:
    return {"reference": key}


def coded(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def condition(pid: str, code: str, system: str = ICD, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": extra.pop("id", f"c{next(_IDS)}"),
        "subject": ref(f"Patient/{pid}"),
        "clinicalStatus": coded("http://terminology.hl7.org/CodeSystem/condition-clinical", "active"),
        "code": coded(system, code),
        **extra,
    }


def observation(pid: str, code: str, when: str, value: float | None = None, answer: str | None = None) -> dict:
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"o{next(_IDS)}",
        "status": "final",
        "subject": ref(f"Patient/{pid}"),
        "code": coded(LOINC, code),
        "effectiveDateTime": when,
    }
    if value is not None:
        obs["valueQuantity"] = {"value": value}
    if answer is not None:
        obs["valueCodeableConcept"] = coded(LOINC, answer)
    return obs


def order(pid: str, system: str, code: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "id": extra.pop("id", f"sr{next(_IDS)}"),
        "status": extra.pop("status", "draft"),
        "intent": "order",
        "subject": ref(f"Patient/{pid}"),
        "code": coded(system, code),
        **extra,
    }


def encounter(pid: str, cls: str, start: str, end: str | None, status: str = "finished", **extra: Any) -> dict:
    period = {"start": start, **({"end": end} if end else {})}
    return {
        "resourceType": "Encounter",
        "id": f"e{next(_IDS)}",
        "status": status,
        "class": {"system": ACT, "code": cls},
        "subject": ref(f"Patient/{pid}"),
        "period": period,
        **extra,
    }


# --- changes (each one edit of a golden record) ---


def attested(golden: str, answers: dict[str, bool]) -> Change:
    """A clinician's attestation (newer than the golden one) answering the given criteria."""

    def change(b: Bundle) -> None:
        add(
            b,
            {
                "resourceType": "QuestionnaireResponse",
                "id": f"qr{next(_IDS)}",
                "status": "completed",
                "subject": ref(f"Patient/{PATIENT[golden]}"),
                "authored": ATTEST_AT[golden],
                "item": [{"linkId": k, "answer": [{"valueBoolean": v}]} for k, v in answers.items()],
            },
        )

    return change


def adding(make: Callable[[], dict[str, Any] | list[dict[str, Any]]]) -> Change:
    """Add the resource(s) the factory builds."""

    def change(b: Bundle) -> None:
        made = make()
        add(b, *(made if isinstance(made, list) else [made]))

    return change


def edit(resource_id: str, **fields: Any) -> Change:
    """Set top-level fields of one resource."""

    def change(b: Bundle) -> None:
        by_id(b, resource_id).update(fields)

    return change


def removing(*ids: str) -> Change:
    def change(b: Bundle) -> None:
        drop(b, lambda r: r.get("id") in ids)

    return change


def recode(resource_id: str, system: str, code: str) -> Change:
    return edit(resource_id, code=coded(system, code))


def weekly_hours(order_id: str, hours: float) -> Change:
    def change(b: Bundle) -> None:
        by_id(b, order_id)["occurrenceTiming"]["repeat"]["duration"] = hours

    return change


def outside_illinois(b: Bundle) -> None:
    by_id(b, "P9-patient")["address"] = [{"state": "MO"}]


def no_address(b: Bundle) -> None:
    by_id(b, "P9-patient").pop("address", None)


def adolescent(b: Bundle) -> None:
    by_id(b, "P1-patient")["birthDate"] = "2009-06-14"


def no_birth_date(b: Bundle) -> None:
    by_id(b, "P1-patient").pop("birthDate", None)


def recreational_wednesdays(b: Bundle) -> None:
    """Every Wednesday session becomes a recreational activity (G0176): each week still has 9 hours in all."""
    for s in resources(b, "Encounter"):
        if s.get("id", "").startswith("P9-prog-sess-") and s["id"][-4:] in {"0402", "0409", "0416"}:
            s["type"] = [coded(HCPCS, "G0176")]


def continuation_order_ends(b: Bundle) -> None:
    by_id(b, "P9-order-2")["occurrenceTiming"]["repeat"]["boundsPeriod"]["end"] = "2025-05-16"


def preset_program_order(b: Bundle) -> None:
    o = by_id(b, "P9-order-2")
    o["instantiatesCanonical"] = ["https://iop.example/PlanDefinition/28-day"]
    o["occurrenceTiming"]["repeat"]["count"] = 12


def no_improvement(b: Bundle) -> None:
    by_id(b, "P9-gad7-2")["valueQuantity"] = {"value": 13}


def plan_revised_during_stay(b: Bundle) -> None:
    add(
        b,
        {
            "resourceType": "CarePlan",
            "id": "P9-tp",
            "status": "active",
            "intent": "plan",
            "subject": ref("Patient/P9-patient"),
            "category": [coded(SNOMED, "718347000")],
            "created": "2025-04-03T10:00:00-05:00",
            "meta": {"lastUpdated": "2025-04-19T10:00:00-05:00"},
            "contributor": [ref("Patient/P9-patient")],
        },
    )


def case(
    criterion: str,
    expect: str,
    quote: str,
    golden: str,
    *changes: Change,
    name: str = "",
    program: tuple[tuple[str, bool], ...] = (),
) -> SentenceCase:
    return SentenceCase(
        criterion=criterion,
        expect=expect,
        quote=quote,
        build=from_golden(golden, *changes),
        hook="order-sign",
        at=AT[golden],
        policy="medica",
        name=name or golden,
        program=program,
    )


ADM = "medica.adult-admission."
CONT = "medica.adult-continuation."
P1, P2, P9, P10 = "P1-patient", "P2-patient", "P9-patient", "P10-patient"
MN = outside_illinois

CASES: list[SentenceCase] = [
    # --- Description ---
    case("medica.description.intensity-3d-9to19h", "met", Q_INTENSITY, "P1"),
    case("medica.description.intensity-3d-9to19h", "not-met", Q_INTENSITY, "P2"),
    case(
        "medica.description.intensity-3d-9to19h",
        "not-met",
        Q_INTENSITY,
        "P1",
        weekly_hours("P1-order", 7),
        name="21-hours",
    ),
    case("medica.description.non-recreational-hours", "met", Q_RECREATIONAL, "P9b"),
    case("medica.description.non-recreational-hours", "not-met", Q_RECREATIONAL, "P9b", recreational_wednesdays),
    # --- Adult admission ---
    case(ADM + "1-dx-moderate-severe", "met", Q_A1, "P1"),
    case(ADM + "1-dx-moderate-severe", "met", Q_A1_SUD, "P9a"),
    case(
        ADM + "1-dx-moderate-severe",
        "met",
        Q_A1,
        "P10",
        removing("P10-dx"),
        edit("P10-order", reasonReference=[], reasonCode=[coded(ICD, "F32.1")]),
        name="order-reason-code-only",
    ),
    case(ADM + "1-dx-moderate-severe", "not-met", Q_A1, "P2"),
    case(
        ADM + "1-dx-moderate-severe",
        "not-met",
        Q_A1_SUD,
        "P9a",
        recode("P9-oud", ICD, "F11.10"),
        name="mild-opioid-use",
    ),
    case(ADM + "2a-impaired-daily-activities", "met", Q_A2A, "P1"),
    case(
        ADM + "2a-impaired-daily-activities",
        "not-met",
        Q_A2A,
        "P1",
        attested("P1", {ADM + "2a-impaired-daily-activities": False}),
    ),
    case(ADM + "2b-coping-insufficient", "met", Q_A2B, "P1"),
    case(
        ADM + "2b-coping-insufficient", "not-met", Q_A2B, "P1", attested("P1", {ADM + "2b-coping-insufficient": False})
    ),
    case(ADM + "3-capable-of-engagement", "met", Q_A3, "P1"),
    case(
        ADM + "3-capable-of-engagement",
        "not-met",
        Q_A3,
        "P1",
        adding(lambda: condition(P1, "F05", onsetDateTime="2025-03-01")),
        name="delirium",
    ),
    case(ADM + "4-community-living-no-24h", "met", Q_A4, "P1"),
    case(
        ADM + "4-community-living-no-24h",
        "met",
        Q_A4,
        "P1",
        adding(
            lambda: encounter(
                P1,
                "IMP",
                "2025-02-26",
                "2025-03-04",
                status="in-progress",
                diagnosis=[{"condition": ref("Condition/P1-dx")}],
            )
        ),
        name="step-down-ends-before-start",
    ),
    case(
        ADM + "4-community-living-no-24h",
        "met",
        Q_A4,
        "P1",
        adding(
            lambda: encounter(P1, "IMP", "2025-03-01", None, status="in-progress", reasonCode=[coded(ICD, "K35.80")])
        ),
        name="medical-stay-in-progress",
    ),
    case(ADM + "4-community-living-no-24h", "not-met", Q_A4, "P2"),
    case(
        ADM + "4-community-living-no-24h",
        "unknown",
        Q_A4,
        "P2",
        adding(
            lambda: [
                observation(P2, code, "2025-03-02T10:00:00-06:00", answer="LA32-8")
                for code in ("93247-5", "93249-1", "93250-9")
            ]
        ),
        name="newer-c-ssrs-finds-no-intent",
    ),
    case(
        ADM + "4-community-living-no-24h",
        "not-met",
        Q_A4,
        "P1",
        adding(
            lambda: encounter(
                P1, "IMP", "2025-02-26", None, status="in-progress", diagnosis=[{"condition": ref("Condition/P1-dx")}]
            )
        ),
        name="still-inpatient",
    ),
    case(
        ADM + "4-community-living-no-24h",
        "not-met",
        Q_A4,
        "P1",
        adding(lambda: observation(P1, "75632-6", "2025-03-02T10:00:00-06:00", value=22)),
        name="ciwa-22-no-sud-coded",
    ),
    case(ADM + "5-willing-to-engage", "met", Q_A5, "P1"),
    case(ADM + "5-willing-to-engage", "not-met", Q_A5, "P1", edit("P1-consent", status="rejected"), name="refused"),
    case(ADM + "6-safety-plan", "met", Q_A6, "P1"),
    # DATA-PROFILE §6: a state not found in structured data is unknown ("not documented"); a clinician's "no" fails it.
    case(ADM + "6-safety-plan", "unknown", Q_A6, "P2"),
    case(ADM + "6-safety-plan", "not-met", Q_A6, "P2", attested("P2", {ADM + "6-safety-plan": False})),
    case(
        ADM + "6-safety-plan",
        "unknown",
        Q_A6,
        "P1",
        edit("P1-crp", status="completed", created="2022-01-10T10:00:00-06:00", period={"end": "2022-06-30"}),
        name="plan-ended-2022",
    ),
    case(ADM + "7-support-system", "met", Q_A7, "P1"),
    case(
        ADM + "7-support-system",
        "not-met",
        Q_A7,
        "P1",
        edit("P1-crp", contributor=[ref("Patient/P1-patient")]),
        attested("P1", {ADM + "7a-family-support": False, ADM + "7b-can-develop-supports": False}),
    ),
    case(ADM + "7a-family-support", "met", Q_A7A, "P1"),
    case(
        ADM + "7a-family-support",
        "not-met",
        Q_A7A,
        "P1",
        edit("P1-crp", contributor=[ref("Patient/P1-patient")]),
        attested("P1", {ADM + "7a-family-support": False}),
    ),
    case(ADM + "7b-can-develop-supports", "met", Q_A7B, "P2", attested("P2", {ADM + "7b-can-develop-supports": True})),
    case(
        ADM + "7b-can-develop-supports",
        "not-met",
        Q_A7B,
        "P2",
        attested("P2", {ADM + "7b-can-develop-supports": False}),
    ),
    case(ADM + "8-structure-needed", "met", Q_A8, "P1"),
    case(
        ADM + "8-structure-needed",
        "not-met",
        Q_A8,
        "P2",
        attested(
            "P2",
            {
                ADM + "8a1-unstable-medical-comorbidity": False,
                ADM + "8a2-concurrent-sud": False,
                ADM + "8a3-unstable-living": False,
                ADM + "8a4-undermining-supports": False,
                ADM + "8a5-lack-community-resources": False,
                ADM + "8b-lower-loc-insufficient": False,
                ADM + "8c-lower-loc-unavailable": False,
                ADM + "8d-high-readmission-risk": False,
            },
        ),
    ),
    case(
        ADM + "8a1-unstable-medical-comorbidity",
        "met",
        Q_A8A1,
        "P2",
        adding(lambda: condition(P2, "I50.23", severity=coded(SNOMED, "24484000"), onsetDateTime="2025-02-01")),
        attested("P2", {ADM + "8a1-unstable-medical-comorbidity": True}),
    ),
    case(ADM + "8a1-unstable-medical-comorbidity", "unknown", Q_A8A1, "P2"),
    case(
        ADM + "8a1-unstable-medical-comorbidity",
        "not-met",
        Q_A8A1,
        "P2",
        attested("P2", {ADM + "8a1-unstable-medical-comorbidity": False}),
    ),
    case(ADM + "8a2-concurrent-sud", "met", Q_A8A2, "P2", adding(lambda: condition(P2, "F10.20"))),
    case(ADM + "8a2-concurrent-sud", "unknown", Q_A8A2, "P2"),
    case(ADM + "8a2-concurrent-sud", "not-met", Q_A8A2, "P2", attested("P2", {ADM + "8a2-concurrent-sud": False})),
    case(ADM + "8a3-unstable-living", "met", Q_A8A3, "P2", adding(lambda: condition(P2, "Z59.01"))),
    case(
        ADM + "8a3-unstable-living",
        "not-met",
        Q_A8A3,
        "P2",
        adding(lambda: observation(P2, "71802-3", "2025-02-28T10:00:00-06:00", answer="LA30189-7")),
        name="has-housing",
    ),
    case(
        ADM + "8a4-undermining-supports",
        "met",
        Q_A8A4,
        "P2",
        adding(lambda: condition(P2, "Z63.72")),
        attested("P2", {ADM + "8a4-undermining-supports": True}),
    ),
    case(
        ADM + "8a4-undermining-supports",
        "not-met",
        Q_A8A4,
        "P2",
        attested("P2", {ADM + "8a4-undermining-supports": False}),
    ),
    case(
        ADM + "8a5-lack-community-resources",
        "met",
        Q_A8A5,
        "P2",
        adding(lambda: condition(P2, "Z75.3")),
        attested("P2", {ADM + "8a5-lack-community-resources": True}),
    ),
    case(
        ADM + "8a5-lack-community-resources",
        "not-met",
        Q_A8A5,
        "P2",
        attested("P2", {ADM + "8a5-lack-community-resources": False}),
    ),
    case(ADM + "8b-lower-loc-insufficient", "met", Q_A8B, "P9a"),
    case(
        ADM + "8b-lower-loc-insufficient",
        "not-met",
        Q_A8B,
        "P9a",
        attested("P9a", {ADM + "8b-lower-loc-insufficient": False}),
    ),
    case(
        ADM + "8c-lower-loc-unavailable", "met", Q_A8C, "P2", attested("P2", {ADM + "8c-lower-loc-unavailable": True})
    ),
    case(
        ADM + "8c-lower-loc-unavailable",
        "not-met",
        Q_A8C,
        "P2",
        attested("P2", {ADM + "8c-lower-loc-unavailable": False}),
    ),
    case(ADM + "8d-high-readmission-risk", "met", Q_A8D, "P1"),
    case(ADM + "8d-high-readmission-risk", "unknown", Q_A8D, "P2"),
    case(
        ADM + "8d-high-readmission-risk",
        "not-met",
        Q_A8D,
        "P2",
        attested("P2", {ADM + "8d-high-readmission-risk": False}),
    ),
    case(
        ADM + "8d-high-readmission-risk",
        "unknown",
        Q_A8D,
        "P2",
        adding(
            lambda: [
                encounter(P2, "EMER", day, day, reasonCode=[coded(ICD, "J45.901")])
                for day in ("2024-10-01", "2025-01-10")
            ]
        ),
        name="two-asthma-ed-visits",
    ),
    # --- Adult continuation (P9b: Illinois SUD, so #4a–#4f are read for a member outside Illinois) ---
    case(CONT + "1a-measurable-improvement", "met", Q_C1A, "P9b"),
    case(CONT + "1a-measurable-improvement", "not-met", Q_C1A, "P9b", no_improvement),
    case(
        CONT + "1b-progressing-not-stable",
        "met",
        Q_C1B,
        "P9b",
        attested("P9b", {CONT + "1b-progressing-not-stable": True}),
    ),
    case(
        CONT + "1b-progressing-not-stable",
        "not-met",
        Q_C1B,
        "P9b",
        attested("P9b", {CONT + "1b-progressing-not-stable": False}),
    ),
    case(CONT + "2-reassessment-plan-modified", "met", Q_C2, "P9b", no_improvement, plan_revised_during_stay),
    case(CONT + "2-reassessment-plan-modified", "unknown", Q_C2, "P9b", no_improvement),
    case(
        CONT + "2-reassessment-plan-modified",
        "not-met",
        Q_C2,
        "P9b",
        no_improvement,
        attested("P9b", {CONT + "2-reassessment-plan-modified": False}),
        name="clinician-answers-no",
    ),
    case(CONT + "2-reassessment-plan-modified", "not-applicable", Q_C2, "P9b", name="improving"),
    case(
        CONT + "3-new-symptoms",
        "met",
        Q_C3,
        "P9b",
        adding(lambda: condition(P9, "F43.10", onsetDateTime="2025-04-10T10:00:00-05:00")),
        attested("P9b", {CONT + "3-new-symptoms": True}),
    ),
    case(CONT + "3-new-symptoms", "not-met", Q_C3, "P9b", attested("P9b", {CONT + "3-new-symptoms": False})),
    case(CONT + "4a-family-involved", "met", Q_C4A, "P9b", MN, plan_revised_during_stay),
    case(
        CONT + "4a-family-involved", "not-met", Q_C4A, "P9b", MN, attested("P9b", {CONT + "4a-family-involved": False})
    ),
    case(
        CONT + "4b-not-social-custodial",
        "met",
        Q_C4B,
        "P9b",
        MN,
        attested("P9b", {CONT + "4b-not-social-custodial": True}),
    ),
    case(
        CONT + "4b-not-social-custodial",
        "not-met",
        Q_C4B,
        "P9b",
        MN,
        adding(lambda: order(P9, HCPCS, "S5150", status="active")),
        name="respite-ordered",
    ),
    case(
        CONT + "4c-not-lack-of-supports",
        "met",
        Q_C4C,
        "P9b",
        MN,
        attested("P9b", {CONT + "4c-not-lack-of-supports": True}),
    ),
    case(
        CONT + "4c-not-lack-of-supports",
        "not-met",
        Q_C4C,
        "P9b",
        MN,
        attested("P9b", {CONT + "4c-not-lack-of-supports": False}),
    ),
    case(
        CONT + "4d-expected-improvement",
        "met",
        Q_C4D,
        "P9b",
        MN,
        attested("P9b", {CONT + "4d-expected-improvement": True}),
    ),
    case(
        CONT + "4d-expected-improvement",
        "not-met",
        Q_C4D,
        "P9b",
        MN,
        attested("P9b", {CONT + "4d-expected-improvement": False}),
    ),
    case(CONT + "4e-not-bridging", "met", Q_C4E, "P9b", MN, attested("P9b", {CONT + "4e-not-bridging": True})),
    case(
        CONT + "4e-not-bridging",
        "not-met",
        Q_C4E,
        "P9b",
        MN,
        continuation_order_ends,
        adding(lambda: order(P9, HCPCS, "H0035", status="active", occurrencePeriod={"start": "2025-05-19"})),
        name="php-starts-at-the-end",
    ),
    case(CONT + "4f-not-preset-days", "met", Q_C4F, "P9b", MN, attested("P9b", {CONT + "4f-not-preset-days": True})),
    case(CONT + "4f-not-preset-days", "not-met", Q_C4F, "P9b", MN, preset_program_order, name="28-day-template"),
    case("medica.state.il-asam-replaces-continuation-4", "met", Q_IL, "P9b"),
    case("medica.state.il-asam-replaces-continuation-4", "not-applicable", Q_IL, "P9b", MN, name="missouri"),
    case("medica.state.il-asam-replaces-continuation-4", "unknown", Q_IL, "P9b", no_address, name="no-state-on-file"),
    case(
        "medica.state.il-asam-replaces-continuation-4",
        "not-applicable",
        Q_IL,
        "P9b",
        edit("P9-patient", address=[{"use": "old", "state": "IL"}, {"use": "home", "state": "MO"}]),
        name="moved-from-illinois",
    ),
    # --- Child and adolescent ---
    case("medica.child.0-age-gate", "met", Q_CH0, "P10"),
    case("medica.child.0-age-gate", "not-applicable", Q_CH0, "P1"),
    case("medica.child.0-age-gate", "unknown", Q_CH0, "P1", no_birth_date, name="no-birth-date"),
    case("medica.child.1-adult-criteria", "met", Q_CH1, "P1", adolescent),
    case("medica.child.1-adult-criteria", "unknown", Q_CH1, "P10"),
    case(
        "medica.child.1-adult-criteria",
        "not-met",
        Q_CH1,
        "P10",
        attested("P10", {ADM + "6-safety-plan": False}),
        name="no-safety-plan",
    ),
    case("medica.child.2-facility-type", "met", Q_CH2, "P10", program=(("medica.child.2-facility-type", True),)),
    case("medica.child.2-facility-type", "not-met", Q_CH2, "P10", program=(("medica.child.2-facility-type", False),)),
    case(
        "medica.child.3-community-living",
        "met",
        Q_CH3,
        "P1",
        adolescent,
        attested("P1", {"medica.child.3-community-living": True}),
    ),
    case(
        "medica.child.3-community-living",
        "not-met",
        Q_CH3,
        "P10",
        adding(lambda: observation(P10, "93249-1", "2025-03-02T10:00:00-06:00", answer="LA33-6")),
        name="cssrs-intent",
    ),
    case(
        "medica.child.4-educational-needs",
        "met",
        Q_CH4,
        "P10",
        adding(
            lambda: {
                "resourceType": "CarePlan",
                "id": "P10-tp",
                "status": "active",
                "intent": "plan",
                "subject": ref("Patient/P10-patient"),
                "category": [coded(SNOMED, "718347000")],
                "activity": [{"detail": {"status": "scheduled", "code": coded(SNOMED, "409073007")}}],
            }
        ),
        attested("P10", {"medica.child.4-educational-needs": True}),
    ),
    case(
        "medica.child.4-educational-needs",
        "not-met",
        Q_CH4,
        "P10",
        attested("P10", {"medica.child.4-educational-needs": False}),
    ),
    case(
        "medica.child.5-family-centered",
        "met",
        Q_CH5,
        "P10",
        adding(lambda: order(P10, CPT, "90847", reasonReference=[ref("Condition/P10-dx")])),
        name="family-therapy-ordered",
    ),
    case(
        "medica.child.5-family-centered",
        "not-met",
        Q_CH5,
        "P10",
        attested("P10", {"medica.child.5-family-centered": False}),
    ),
    # --- Substance use disorder ---
    case("medica.sud.0-gate", "met", Q_SUD0, "P9a"),
    case(
        "medica.sud.0-gate",
        "met",
        Q_SUD0,
        "P1",
        edit("P1-order", reasonReference=[], reasonCode=[coded(ICD, "F10.20")]),
        name="reason-code-alcohol-use-disorder",
    ),
    case("medica.sud.0-gate", "not-applicable", Q_SUD0, "P1"),
    case("medica.sud.1-adult-child-criteria", "met", Q_SUD1, "P9a"),
    case("medica.sud.1-adult-child-criteria", "unknown", Q_SUD1, "P9a", removing("P9-crp"), name="no-safety-plan"),
    case(
        "medica.sud.1-adult-child-criteria",
        "not-met",
        Q_SUD1,
        "P9a",
        removing("P9-crp"),
        attested("P9a", {ADM + "6-safety-plan": False}),
        name="no-safety-plan-confirmed",
    ),
    case("medica.sud.2-withdrawal-manageable", "met", Q_SUD2, "P9a"),
    case(
        "medica.sud.2-withdrawal-manageable",
        "met",
        Q_SUD2,
        "P9a",
        adding(lambda: observation(P9, "89498-0", "2025-03-29T10:00:00-05:00", value=27)),
        name="older-high-cows-newer-low",
    ),
    case(
        "medica.sud.2-withdrawal-manageable",
        "not-met",
        Q_SUD2,
        "P9a",
        edit("P9-cows-1", valueQuantity={"value": 26}),
        name="cows-26",
    ),
    case(
        "medica.sud.2-withdrawal-manageable",
        "not-met",
        Q_SUD2,
        "P9a",
        adding(lambda: condition(P9, "F10.231", onsetDateTime="2025-03-29T10:00:00-05:00")),
        name="delirium-tremens-not-outweighed-by-a-cows",
    ),
    case(  # conflicting current evidence: a clinician confirms (DATA-PROFILE §6)
        "medica.sud.2-withdrawal-manageable",
        "unknown",
        Q_SUD2,
        "P9a",
        adding(
            lambda: [
                condition(P9, "F10.231", onsetDateTime="2025-03-27T10:00:00-05:00"),
                observation(P9, "75632-6", "2025-03-30T11:00:00-05:00", value=4),
            ]
        ),
        name="older-delirium-newer-low-ciwa",
    ),
    case(
        "medica.sud.2-withdrawal-manageable",
        "unknown",
        Q_SUD2,
        "P9a",
        adding(lambda: condition(P9, "F10.231")),
        name="undated-delirium-code-to-confirm",
    ),
    case(
        "medica.sud.3-mat-awareness",
        "met",
        Q_SUD3,
        "P9a",
        adding(
            lambda: {
                "resourceType": "MedicationRequest",
                "id": "P9-bup",
                "status": "active",
                "intent": "order",
                "subject": ref("Patient/P9-patient"),
                "medicationCodeableConcept": coded(RXNORM, "1819"),
                "authoredOn": "2025-03-30",
            }
        ),
    ),
    case(
        "medica.sud.3-mat-awareness",
        "not-applicable",
        Q_SUD3,
        "P9a",
        recode("P9-oud", ICD, "F12.20"),
        name="cannabis",
    ),
    case(
        "medica.sud.3-mat-awareness", "not-met", Q_SUD3, "P9a", attested("P9a", {"medica.sud.3-mat-awareness": False})
    ),
    case("medica.sud.4-active-use-contributor", "met", Q_SUD4, "P9a"),
    case(
        "medica.sud.4-active-use-contributor",
        "not-met",
        Q_SUD4,
        "P9a",
        recode("P9-oud", ICD, "F11.21"),
        removing("P9-uds", "P9-attest"),  # no positive screen in 30 days, no clinician's "yes"
        name="in-remission",
    ),
    case(
        "medica.sud.5a-medical-issues-secondary",
        "met",
        Q_SUD5A,
        "P9a",
        adding(lambda: condition(P9, "K70.30")),
        attested("P9a", {"medica.sud.5a-medical-issues-secondary": True}),
    ),
    case(
        "medica.sud.5a-medical-issues-secondary",
        "not-met",
        Q_SUD5A,
        "P9a",
        attested("P9a", {"medica.sud.5a-medical-issues-secondary": False}),
    ),
    case("medica.sud.5b-sud-symptomatology", "met", Q_SUD5B, "P9a"),
    case(
        "medica.sud.5b-sud-symptomatology",
        "not-met",
        Q_SUD5B,
        "P9a",
        recode("P9-oud", ICD, "F11.21"),
        removing("P9-uds"),  # no positive screen in 30 days
        name="in-remission",
    ),
    case("medica.sud.6-psych-symptoms-relapse-risk", "met", Q_SUD6, "P9a"),
    case(
        "medica.sud.6-psych-symptoms-relapse-risk",
        "not-met",
        Q_SUD6,
        "P9a",
        attested("P9a", {"medica.sud.6-psych-symptoms-relapse-risk": False}),
    ),
]

# --- Services considered not medically necessary: a service signed alongside (or a clinician's "no") raises them;
# a clinician's "yes" rules them out. ---
NMN_ORDERS: dict[str, tuple[str, str, str | None]] = {
    "medica.nmn.1-biofeedback": (CPT, "90901", None),
    "medica.nmn.2-custodial": (HCPCS, "T1019", None),
    "medica.nmn.3-nonmedical-family-counseling": (CPT, "90846", "Z63.8"),
    "medica.nmn.4-halfway-house": (HCPCS, "H2034", None),
    "medica.nmn.5-hypnotherapy": (CPT, "90880", None),
    "medica.nmn.6-convenience-incarceration-respite-housing": (HCPCS, "S5150", None),
    "medica.nmn.9-marriage-counseling": (CPT, "90847", "Z63.0"),
    "medica.nmn.10-phototherapy": (CPT, "96900", None),
    "medica.nmn.12-camps-boarding": (HCPCS, "T2036", None),
}


def signed_alongside(system: str, code: str, reason: str | None) -> Change:
    extra = {"reasonCode": [coded(ICD, reason)]} if reason else {}
    return adding(lambda: order(P1, system, code, **extra))


for nmn_id, item in Q_NMN_ITEMS.items():
    quote = f"{Q_NMN} … {item}"
    CASES.append(case(nmn_id, "met", quote, "P1", attested("P1", {nmn_id: True}), name="ruled-out"))
    if nmn_id in NMN_ORDERS:
        CASES.append(case(nmn_id, "not-met", quote, "P1", signed_alongside(*NMN_ORDERS[nmn_id]), name="ordered"))
    else:
        CASES.append(case(nmn_id, "not-met", quote, "P1", attested("P1", {nmn_id: False}), name="attested"))
CASES += [
    case(
        "medica.nmn.6-convenience-incarceration-respite-housing",
        "not-met",
        f"{Q_NMN} … {Q_NMN_ITEMS['medica.nmn.6-convenience-incarceration-respite-housing']}",
        "P1",
        edit("P1-order", reasonReference=[], reasonCode=[coded(ICD, "Z59.01")]),
        name="iop-ordered-for-housing",
    ),
    case(
        "medica.nmn.6-convenience-incarceration-respite-housing",
        "not-applicable",
        f"{Q_NMN} … {Q_NMN_ITEMS['medica.nmn.6-convenience-incarceration-respite-housing']}",
        "P1",
        edit("P1-order", reasonCode=[coded(ICD, "Z65.3")]),
        name="legal-reason-beside-depression",
    ),
    case(
        "medica.nmn.3-nonmedical-family-counseling",
        "not-applicable",
        f"{Q_NMN} … {Q_NMN_ITEMS['medica.nmn.3-nonmedical-family-counseling']}",
        "P1",
        adding(lambda: order(P1, CPT, "90847")),
        name="no-reason-given",
    ),
    case(
        "medica.nmn.3-nonmedical-family-counseling",
        "not-applicable",
        f"{Q_NMN} … {Q_NMN_ITEMS['medica.nmn.3-nonmedical-family-counseling']}",
        "P1",
        adding(lambda: order(P1, CPT, "90847", reasonCode=[coded(ICD, "F33.2")])),
        name="psychiatric-reason-code",
    ),
    case(
        "medica.nmn.3-nonmedical-family-counseling",
        "not-applicable",
        f"{Q_NMN} … {Q_NMN_ITEMS['medica.nmn.3-nonmedical-family-counseling']}",
        "P1",
        adding(lambda: order(P1, CPT, "90847", reasonReference=[ref("Condition/not-in-record")])),
        name="unreadable-reason-reference",
    ),
    case(
        "medica.nmn.3-nonmedical-family-counseling",
        "not-met",
        f"{Q_NMN} … {Q_NMN_ITEMS['medica.nmn.3-nonmedical-family-counseling']}",
        "P1",
        adding(
            lambda: [
                condition(P1, "Z62.820", id="P1-z62"),
                order(P1, CPT, "90846", reasonReference=[ref("Condition/P1-z62")]),
            ]
        ),
        name="psychosocial-reason-reference",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_sentence(case: SentenceCase) -> None:
    check(case)
