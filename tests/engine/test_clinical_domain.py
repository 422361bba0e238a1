"""Clinical domain (DATA-PROFILE §6): history that stands for behavioural-health care must be behavioural-health.

Stays, visits and aftercare are read through the named ``bh-*`` selections of mappings/facts.yaml: a reason or a
principal diagnosis in the mental-health or substance-use value sets, or a behavioural-health service type,
location or practitioner role. Each case is one change from a golden patient, through the hook pipeline.
"""

from __future__ import annotations

from typing import Any

import pytest
from rules_helpers import run
from sentence_cases import Bundle, SentenceCase, add, by_id, drop, evaluate, from_golden

from cds_service.engine.mapping import Mappings

ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
P1_AT = "2025-03-03T10:00:00-06:00"
P3_AT = "2025-03-03T09:30:00-05:00"
P4_AT = "2025-02-28T12:05:00-05:00"

MEDICA_8D = (
    "The individual is at high risk for admission to acute inpatient care secondary to multiple recent previous "
    "treatments that resulted in unsuccessful stabilization in the community post-discharge."
)
OPTUM_STEP_DOWN = (
    "The member has completed inpatient, residential treatment or a partial hospital/day treatment program"
)
OPTUM_7_DAYS = "The first appointment should be within 7 days of discharge"


def condition(cid: str, patient: str, code: str, status: str = "active") -> dict[str, object]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "subject": {"reference": f"Patient/{patient}"},
        "clinicalStatus": {"coding": [{"code": status}]},
        "code": {"coding": [{"system": ICD, "code": code}]},
    }


def asthma_emergency_visits(bundle: Bundle) -> None:
    """P1's two psychiatric stays are gone; instead two asthma ED visits, each listing her depression as rank 2."""
    drop(bundle, lambda r: r.get("id") in ("P1-ip1", "P1-ip2"))
    add(bundle, condition("P1-asthma", "P1-patient", "J45.41"))
    for n, day in enumerate(["2024-09-03", "2025-01-15"]):
        add(
            bundle,
            {
                "resourceType": "Encounter",
                "id": f"P1-ed-asthma-{n}",
                "status": "finished",
                "class": {"system": ACT, "code": "EMER"},
                "subject": {"reference": "Patient/P1-patient"},
                "period": {"start": f"{day}T20:10:00-06:00", "end": f"{day}T23:40:00-06:00"},
                "reasonCode": [
                    {"coding": [{"system": ICD, "code": "J45.41", "display": "Moderate persistent asthma"}]}
                ],
                "diagnosis": [
                    {"condition": {"reference": "Condition/P1-asthma"}, "rank": 1},
                    {"condition": {"reference": "Condition/P1-dx"}, "rank": 2},
                ],
            },
        )


def appendectomy_stay(bundle: Bundle) -> None:
    """P3's inpatient stay was a surgical one: appendicitis first, his bipolar and alcohol diagnoses listed after."""
    stay = by_id(bundle, "P3-ip")
    stay.pop("serviceType", None)
    stay["reasonCode"] = [{"coding": [{"system": ICD, "code": "K35.80", "display": "Acute appendicitis"}]}]
    stay["diagnosis"] = [
        {"condition": {"reference": "Condition/P3-appendicitis"}, "rank": 1},
        {"condition": {"reference": "Condition/P3-bipolar"}, "rank": 2},
        {"condition": {"reference": "Condition/P3-alcohol"}, "rank": 3},
    ]
    stay["hospitalization"]["admitSource"] = {"coding": [{"system": ACT, "code": "hosp-trans"}]}
    add(bundle, condition("P3-appendicitis", "P3-patient", "K35.80", status="resolved"))


def dental_aftercare(bundle: Bundle) -> None:
    """P4's therapy appointment three days after discharge is a dental check-up instead."""
    appointment = by_id(bundle, "P4-therapy")
    appointment["serviceType"] = [{"coding": [{"system": SNOMED, "code": "394812008", "display": "Dental medicine"}]}]
    appointment["participant"] = [p for p in appointment["participant"] if "P4-osei" not in p["actor"]["reference"]]


# Visits outside the domain leave nothing found: a history state not found is unknown ("not documented"), not met
# only were they counted (DATA-PROFILE §6: absence is not failure).
CASES = [
    SentenceCase(
        "medica.adult-admission.8d-high-readmission-risk", "unknown", MEDICA_8D,
        from_golden("P1", asthma_emergency_visits), "order-sign", P1_AT, "medica", name="two asthma ED visits",
    ),
    SentenceCase(
        "optum-locg.admission.any.3-step-down", "unknown", OPTUM_STEP_DOWN,
        from_golden("P3", appendectomy_stay), "order-sign", P3_AT, "optum-locg", name="an appendectomy stay",
    ),
    SentenceCase(
        "optum-locg.discharge.10b3a-first-appt-within-7d", "not-met", OPTUM_7_DAYS,
        from_golden("P4", dental_aftercare), "encounter-discharge", P4_AT, "optum-locg", "P4-prog",
        name="a dental appointment is not aftercare",
    ),
    # behavioural-health history still counts, however it is coded
    SentenceCase(
        "medica.adult-admission.8d-high-readmission-risk", "met", MEDICA_8D,
        from_golden("P1"), "order-sign", P1_AT, "medica", name="two psychiatric stays",
    ),
    SentenceCase(
        "optum-locg.admission.any.3-step-down", "met", OPTUM_STEP_DOWN,
        from_golden("P3"), "order-sign", P3_AT, "optum-locg", name="a psychiatric stay",
    ),
    SentenceCase(
        "optum-locg.discharge.10b3a-first-appt-within-7d", "met", OPTUM_7_DAYS,
        from_golden("P4"), "encounter-discharge", P4_AT, "optum-locg", "P4-prog", name="a psychotherapy appointment",
    ),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_history_that_stands_for_behavioural_health_care_is_behavioural_health(case: SentenceCase) -> None:
    got = evaluate(case)[case.criterion]
    assert got["status"] == case.expect, f"“{case.quote}” — {got['reason']}"


def test_the_asthma_visits_are_not_named_as_evidence() -> None:
    got = evaluate(CASES[0])[CASES[0].criterion]
    assert not [e for e in got["evidence"] if "asthma" in e]
    assert "no psychiatric inpatient or emergency admission in the last 12 months found" in got["reason"]


@pytest.mark.parametrize(
    "name",
    ["bh-encounters", "bh-stays", "bh-emergency-visits", "bh-services", "bh-appointments", "bh-practitioner-roles"],
)
def test_the_domain_selections_are_named_and_labelled(mappings: Mappings, name: str) -> None:
    assert mappings.selections[name].label


@pytest.mark.parametrize(
    ("selection", "source"),
    [
        ("medica.psychiatric-admissions-12m", "bh-encounters"),
        ("optum-locg.mh-stays", "bh-encounters"),
        ("optum-locg.emergency-mh-visits-30d", "bh-encounters"),
        ("bh803.recent-acute-visits-30d", "bh-encounters"),
        ("aftercare-appointments", "bh-appointments"),
        ("step-down-stays-30d", "bh-stays"),
        ("emergency-visits-30d", "bh-emergency-visits"),
    ],
)
def test_history_selections_start_from_the_domain(mappings: Mappings, selection: str, source: str) -> None:
    assert mappings.selections[selection].sources == [source]


def encounter(eid: str, klass: str, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Encounter", "id": eid, "status": "finished", "class": {"system": ACT, "code": klass},
            "period": {"start": "2025-02-01T10:00:00Z", "end": "2025-02-03T10:00:00Z"}, **extra}  # fmt: skip


def dx(cid: str, code: str, **extra: Any) -> dict[str, Any]:
    return {**condition(cid, "p", code), **extra}


def coded(system: str, code: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": system, "code": code}]}]


PSYCHIATRIST = {
    "resourceType": "Practitioner",
    "id": "psy",
    "qualification": [{"code": {"coding": [{"system": "http://nucc.org/provider-taxonomy", "code": "2084P0800X"}]}}],
}
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"


def ref(key: str) -> dict[str, str]:
    return {"reference": key}


def ranked(*conditions: str) -> list[dict[str, Any]]:
    """Encounter.diagnosis entries ranked in the order given."""
    return [{"condition": ref(f"Condition/{c}"), "rank": n} for n, c in enumerate(conditions, 1)]


PSYCH_UNIT = {"resourceType": "Location", "id": "u", "type": coded(ROLE_CODE, "PSYCHF")}
DOMAIN = [
    (
        "psychiatric stay, unranked diagnoses",
        [encounter("e", "IMP", diagnosis=[{"condition": ref("Condition/d")}]), dx("d", "F33.2")],
        True,
    ),
    ("ED visit for suicidal ideation, reason only", [encounter("e", "EMER", reasonCode=coded(ICD, "R45.851"))], True),
    (
        "stay named only by the diagnosis recorded in it",
        [encounter("e", "IMP"), dx("d", "F31.4", encounter=ref("Encounter/e"))],
        True,
    ),
    (
        "stay on a psychiatric unit, nothing coded",
        [encounter("e", "IMP", location=[{"location": ref("Location/u")}]), PSYCH_UNIT],
        True,
    ),
    ("SNOMED-coded psychiatry service type", [encounter("e", "IMP", serviceType=coded(SNOMED, "394587001")[0])], True),
    (
        "asthma ED visit listing depression second",
        [encounter("e", "EMER", diagnosis=ranked("a", "d")), dx("a", "J45.41"), dx("d", "F33.2")],
        False,
    ),
    (
        "appendectomy stay seen by a psychiatry consult",
        [
            encounter(
                "e", "IMP", reasonCode=coded(ICD, "K35.80"), participant=[{"individual": ref("Practitioner/psy")}]
            ),
            PSYCHIATRIST,
        ],
        False,
    ),
    ("medical stay, nothing behavioural", [encounter("e", "IMP", reasonCode=coded(ICD, "I21.4"))], False),
    (
        "cancelled psychiatric admission",
        [encounter("e", "IMP", status="cancelled", reasonCode=coded(ICD, "F33.2"))],
        False,
    ),
]


@pytest.mark.parametrize(("what", "resources", "member"), DOMAIN, ids=[d[0] for d in DOMAIN])
def test_what_makes_a_stay_or_visit_behavioural_health(
    mappings: Mappings, what: str, resources: list[dict[str, Any]], member: bool
) -> None:
    assert run(mappings, {"exists": "bh-encounters"}, resources).value is member, what


APPOINTMENTS = [
    ("psychotherapy service type", {"serviceType": coded(SNOMED, "394913002")}, [], True),
    ("reason depression", {"reasonCode": coded(ICD, "F33.1")}, [], True),
    ("with a psychiatrist", {"participant": [{"actor": {"reference": "Practitioner/psy"}}]}, [PSYCHIATRIST], True),
    (
        "with a practitioner in a psychiatry role",
        {"participant": [{"actor": {"reference": "PractitionerRole/r"}}]},
        [{"resourceType": "PractitionerRole", "id": "r", "specialty": coded(SNOMED, "394587001")}],
        True,
    ),
    ("dental check-up", {"serviceType": coded(SNOMED, "394812008")}, [], False),
    ("nothing said", {}, [], False),
]


@pytest.mark.parametrize(("what", "fields", "others", "member"), APPOINTMENTS, ids=[a[0] for a in APPOINTMENTS])
def test_what_makes_an_appointment_behavioural_health(
    mappings: Mappings, what: str, fields: dict[str, Any], others: list[dict[str, Any]], member: bool
) -> None:
    appointment = {"resourceType": "Appointment", "id": "a", "status": "booked", "start": "2025-03-12T10:00:00Z"}
    assert run(mappings, {"exists": "bh-appointments"}, [{**appointment, **fields}, *others]).value is member, what
