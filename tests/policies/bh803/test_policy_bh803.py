"""BH803 (Optum Medicare Coverage Summary, IOP): golden patients P7 and P8, and every criterion one by one.

P7 — admission with a defective certification (a nurse practitioner orders 7.5 h/week).
P8 — continuation with a lapsed recertification (certified 2025-01-06, nothing by 2025-03-07).
The variation table at the end changes one thing in a golden record and checks one criterion, so that every
BH803 criterion id is decided both ways (met / not met, or unknown / attested for judgement rows).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_inferno_checks, assert_statuses, call_hook, load_fixture, reported_statuses

from cds_service.config import Settings
from cds_service.engine.mapping import load_mappings
from cds_service.hooks.app import create_app
from cds_service.record.hook_requests import build_hook_request

POLICY = "bh803"
P7_AT = "2025-05-02T11:00:00-05:00"  # catalogue §5: order-sign 2025-05-02T11:00 (Texas, CDT)
P8_AT = "2025-03-10T09:00:00-07:00"  # catalogue §5: order-sign 2025-03-10T09:00 (Arizona, MST)
P8_DISCHARGE_AT = "2025-03-07T12:30:00-07:00"

# Catalogue §4.3 applied to the §5 expectations: safety not-met → one critical card each; other not-met → one
# warning summary card; unknown → one documentation-needed card (info before any deadline has passed).
EXPECTED_CARDS = {
    "P7": (
        "exactly 2 cards: summary (warning) listing eligibility.1b-need-min-9h-week; documentation-needed (info, "
        "SMART link) listing eligibility.1a, eligibility.1c, eligibility.2, eligibility.3, eligibility.4, rn.1, rn.2, "
        "rn.3 (8 ids; 1a moved here by issue 15: not found is not failed); no critical card "
        "(optional pending card: doc.1, doc.2, program.2, doc.6)"
    ),
    "P8": (
        "exactly 2 cards: summary (warning) listing doc.3-recert-60d (due 2025-03-07); documentation-needed "
        "(info, SMART link) listing doc.4, doc.5, rn.3, rn.4, rn.5, eligibility.3, eligibility.4 (7 ids; doc.4 moved "
        "here by issue 15: a signer off the care team may still treat the patient); no critical card"
    ),
}

P7_EXPECTED = {
    # DATA-PROFILE §6 (issue 15): an NP's order is no physician's certification, but one may still be made: unknown
    "bh803.eligibility.1a-certified-by-physician": "unknown",
    "bh803.eligibility.1b-need-min-9h-week": "not-met",
    "bh803.eligibility.1c-cert-dx-clinical-need": "unknown",
    "bh803.eligibility.2-severe-interference-acute": "unknown",
    "bh803.eligibility.3-can-participate-tolerate": "unknown",
    "bh803.eligibility.4-between-op-and-php": "unknown",
    "bh803.rn.1-no-24h-supervision": "unknown",
    "bh803.rn.2-adequate-support-system": "unknown",
    "bh803.rn.3-not-imminent-danger": "unknown",
    "bh803.scope.covered-dx": "met",
    "bh803.rn.4-acute-onset-or-decompensation": "met",
    "bh803.excluded.1-not-inpatient": "met",
    "bh803.doc.1-initial-cert-upon-admission": "pending",
    "bh803.doc.2-plan-of-care-by-physician": "pending",
    "bh803.program.2-individualized-plan-mdt": "pending",
}

P8_EXPECTED = {
    "bh803.doc.3-recert-60d": "not-met",
    # issue 15: the signer is a physician off the care team, who may still treat the patient: unknown, not failed
    "bh803.doc.4-recert-signer-treating-physician": "unknown",
    "bh803.doc.5-recert-content": "unknown",
    "bh803.rn.3-not-imminent-danger": "unknown",
    "bh803.rn.4-acute-onset-or-decompensation": "unknown",
    "bh803.rn.5-maintenance-needs-evidence": "unknown",
    "bh803.eligibility.3-can-participate-tolerate": "unknown",
    "bh803.eligibility.4-between-op-and-php": "unknown",
    "bh803.doc.7-progress-notes": "met",
    "bh803.doc.6-tx-plan-physician-signed-goals": "met",
    "bh803.eligibility.1b-need-min-9h-week": "met",
    "bh803.excluded.1-not-inpatient": "met",
}

ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
CPT = "http://www.ama-assn.org/go/cpt"
ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


# --- helpers ------------------------------------------------------------------------------------------------


def evaluate(client: Any, bundle: dict[str, Any], hook: str = "order-sign", at: str = P7_AT, **options: Any) -> dict:
    body = build_hook_request(bundle, hook, at=at, policies=[POLICY], **options)
    return call_hook(client, body)


def statuses_of(client: Any, bundle: dict[str, Any], hook: str = "order-sign", at: str = P7_AT, **options: Any):
    return reported_statuses(evaluate(client, bundle, hook, at, **options))


def the(bundle: dict[str, Any], resource_id: str) -> dict[str, Any]:
    return next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == resource_id)


def add(bundle: dict[str, Any], *resources: dict[str, Any]) -> None:
    bundle["entry"].extend({"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources)


def drop(bundle: dict[str, Any], keep: Callable[[dict[str, Any]], bool]) -> None:
    bundle["entry"] = [e for e in bundle["entry"] if keep(e["resource"])]


def coding(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def condition(patient: str, rid: str, system: str, code: str, onset: str = "2025-01-15") -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": rid,
        "subject": {"reference": f"Patient/{patient}"},
        "clinicalStatus": coding("http://terminology.hl7.org/CodeSystem/condition-clinical", "active"),
        "category": [coding("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item")],
        "code": coding(system, code),
        "onsetDateTime": onset,
    }


def attestation(patient: str, phase: str, authored: str, answers: dict[str, bool]) -> dict[str, Any]:
    """DATA-PROFILE §3: a completed QuestionnaireResponse whose item linkIds are criterion ids."""
    return {
        "resourceType": "QuestionnaireResponse",
        "id": f"{patient}-attest-{phase}",
        "questionnaire": f"https://iop-cds.example.org/Questionnaire/iop-bh803-{phase}",
        "status": "completed",
        "subject": {"reference": f"Patient/{patient}"},
        "authored": authored,
        "author": {"reference": "Practitioner/P7-np" if patient == "P7-patient" else "Practitioner/P8-ruiz"},
        "item": [{"linkId": key, "answer": [{"valueBoolean": value}]} for key, value in answers.items()],
    }


def inpatient_stay(patient: str, start: str, end: str | None, status: str) -> dict[str, Any]:
    stay: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": f"{patient}-inpatient",
        "status": status,
        "class": {"system": ACT, "code": "IMP"},
        "subject": {"reference": f"Patient/{patient}"},
        "period": {"start": start},
    }
    if end:
        stay["period"]["end"] = end
    return stay


def procedure(patient: str, rid: str, system: str, code: str, when: str, encounter: str) -> dict[str, Any]:
    return {
        "resourceType": "Procedure",
        "id": rid,
        "status": "completed",
        "subject": {"reference": f"Patient/{patient}"},
        "code": coding(system, code),
        "encounter": {"reference": f"Encounter/{encounter}"},
        "performedDateTime": when,
    }


def cssrs(patient: str, when: str, intent: bool) -> dict[str, Any]:
    answer = "LA33-6" if intent else "LA32-8"
    return {
        "resourceType": "Observation",
        "id": f"{patient}-cssrs",
        "status": "final",
        "category": [coding("http://terminology.hl7.org/CodeSystem/observation-category", "survey")],
        "subject": {"reference": f"Patient/{patient}"},
        "code": coding(LOINC, "93373-9"),
        "effectiveDateTime": when,
        "component": [
            {"code": coding(LOINC, code), "valueCodeableConcept": coding(LOINC, answer)}
            for code in ("93247-5", "93249-1", "93250-9")
        ],
    }


def phq9(patient: str, rid: str, when: str, score: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "category": [coding("http://terminology.hl7.org/CodeSystem/observation-category", "survey")],
        "subject": {"reference": f"Patient/{patient}"},
        "code": coding(LOINC, "44261-6"),
        "effectiveDateTime": when,
        "valueQuantity": {"value": score, "unit": "{score}"},
    }


def sessions(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Encounter" and e["resource"].get("partOf")
    ]


# --- golden patients ------------------------------------------------------------------------------------------


def test_p7_admission_certified_by_a_nurse_practitioner_for_7_5_hours(client: Any) -> None:
    result = evaluate(client, load_fixture("golden/P7.json"), "order-sign", P7_AT)
    assert_inferno_checks(result, "order-sign")
    statuses = reported_statuses(result)
    assert {key: statuses.get(key) for key in P7_EXPECTED} == P7_EXPECTED
    assert_statuses(statuses, {"not-applicable": ["bh803.otp.*"]})
    evaluation = result["extension"]["iop-cds.evaluations"][0]
    assert (evaluation["policy"], evaluation["phase"], evaluation["outcome"]) == (POLICY, "admission", "not-met")
    documentation = next(c for c in result["cards"] if "documentation" in c["summary"])
    assert "program.1-provider-type" not in documentation["detail"]  # program-level: never a patient card
    assert not [c for c in result["cards"] if c["indicator"] == "critical"]


def test_p8_continuation_with_a_lapsed_recertification(client: Any) -> None:
    result = evaluate(client, load_fixture("golden/P8.json"), "order-sign", P8_AT)
    assert_inferno_checks(result, "order-sign")
    statuses = reported_statuses(result)
    assert {key: statuses.get(key) for key in P8_EXPECTED} == P8_EXPECTED
    assert_statuses(statuses, {"not-applicable": ["bh803.otp.*"]})
    assert result["extension"]["iop-cds.evaluations"][0]["phase"] == "continued-stay"
    detail = next(c for c in result["cards"] if "not met" in c["summary"])["detail"]
    assert "2025-03-07" in detail  # the recertification due date
    assert not [c for c in result["cards"] if c["indicator"] == "critical"]


def test_the_medicare_advantage_coverage_routes_to_bh803(client: Any) -> None:
    body = build_hook_request(load_fixture("golden/P7.json"), "order-sign", at=P7_AT)  # no explicit policy
    result = call_hook(client, body)
    assert [e["policy"] for e in result["extension"]["iop-cds.evaluations"]] == [POLICY]
    assert result["cards"][0]["source"]["label"] == "UnitedHealthcare Medicare Advantage"


def test_the_p8_discharge_audit(client: Any) -> None:
    bundle = load_fixture("golden/P8.json")
    the(bundle, "P8-prog")["period"]["end"] = "2025-03-07T12:00:00-07:00"
    the(bundle, "P8-prog")["status"] = "finished"
    statuses = statuses_of(client, bundle, "encounter-discharge", P8_DISCHARGE_AT, encounter_id="P8-prog")
    assert_statuses(
        statuses,
        {
            "met": [
                "bh803.program.3-not-diversionary-or-med-only",
                "bh803.doc.7-progress-notes",
                "bh803.excluded.1-not-inpatient",
            ],
            # info only, nothing to report without a discharge arrangement; discharged on day 60, before a
            # recertification was due, so there is no recertification to audit
            "not-applicable": [
                "bh803.doc.3-recert-60d",
                "bh803.discharge.1-step-down-or-up",
                "bh803.doc.4-recert-signer-treating-physician",
                "bh803.doc.5-recert-content",
                "bh803.otp.*",
            ],
        },
    )


# --- every criterion, one change at a time --------------------------------------------------------------------


def p7(change: Callable[[dict[str, Any]], None] | None = None) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        bundle = load_fixture("golden/P7.json")
        if change:
            change(bundle)
        return bundle

    return build


def p8(change: Callable[[dict[str, Any]], None] | None = None) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        bundle = load_fixture("golden/P8.json")
        if change:
            change(bundle)
        return bundle

    return build


def discharged_on(day: str) -> Callable[[dict[str, Any]], None]:
    def change(bundle: dict[str, Any]) -> None:
        program = the(bundle, "P8-prog")
        program["status"] = "finished"
        program["period"]["end"] = f"{day}T12:00:00-07:00"

    return change


def discharged(bundle: dict[str, Any]) -> None:
    discharged_on("2025-03-07")(bundle)


def otp_order(bundle: dict[str, Any]) -> None:
    order = the(bundle, "P7-order")
    order["code"] = coding(HCPCS, "G0137")
    order["occurrenceTiming"]["repeat"]["duration"] = 3


def with_oud(code: str = "F11.20", system: str = ICD10) -> Callable[[dict[str, Any]], None]:
    def change(bundle: dict[str, Any]) -> None:
        otp_order(bundle)
        add(bundle, condition("P7-patient", "P7-oud", system, code))

    return change


def otp_program(bundle: dict[str, Any]) -> None:
    the(bundle, "P8-prog")["type"] = [coding(HCPCS, "G0137")]


def otp_discharge(bundle: dict[str, Any]) -> None:
    otp_program(bundle)
    discharged(bundle)
    add(bundle, condition("P8-patient", "P8-oud", ICD10, "F11.20", "2020-01-01"))


def third_group_each_session(code_system: str = HCPCS, code: str = "G0410") -> Callable[[dict[str, Any]], None]:
    def change(bundle: dict[str, Any]) -> None:
        otp_discharge(bundle)
        for session in sessions(bundle):
            when = session["period"]["start"]
            add(bundle, procedure("P8-patient", f"{session['id']}-x", code_system, code, when, session["id"]))

    return change


def physician(bundle: dict[str, Any]) -> None:
    the(bundle, "P7-np")["qualification"][0]["code"]["coding"][0]["code"] = "MD"


def nine_hours(bundle: dict[str, Any]) -> None:
    the(bundle, "P7-order")["occurrenceTiming"]["repeat"]["duration"] = 3


def attest(patient: str, phase: str, at: str, answers: dict[str, bool]) -> Callable[[dict[str, Any]], None]:
    def change(bundle: dict[str, Any]) -> None:
        add(bundle, attestation(patient, phase, at, answers))

    return change


def signed_by_nurse_practitioner(bundle: dict[str, Any]) -> None:
    """The continuation order (the recertification) is signed by a nurse practitioner (v2-0360 NP)."""
    qualification = [{"code": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0360", "code": "NP"}]}}]
    add(bundle, {"resourceType": "Practitioner", "id": "P8-np", "qualification": qualification})
    the(bundle, "P8-order-2")["requester"] = {"reference": "Practitioner/P8-np"}


def both(*changes: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def change(bundle: dict[str, Any]) -> None:
        for c in changes:
            c(bundle)

    return change


def recode_condition(system: str, code: str) -> Callable[[dict[str, Any]], None]:
    def change(bundle: dict[str, Any]) -> None:
        the(bundle, "P7-dx")["code"] = coding(system, code)

    return change


def p7_onset_long_ago(bundle: dict[str, Any]) -> None:
    the(bundle, "P7-dx")["onsetDateTime"] = "2019-06-01"
    drop(bundle, lambda r: r.get("id") != "P7-ed")


def p7_worsening_phq9(bundle: dict[str, Any]) -> None:
    p7_onset_long_ago(bundle)
    add(bundle, phq9("P7-patient", "P7-phq9-earlier", "2025-04-10T10:00:00-05:00", 14))


def p8_phq9(first: int, last: int) -> Callable[[dict[str, Any]], None]:
    def change(bundle: dict[str, Any]) -> None:
        add(
            bundle,
            phq9("P8-patient", "P8-phq9-a", "2025-01-06T09:30:00-07:00", first),
            phq9("P8-patient", "P8-phq9-b", "2025-03-07T09:30:00-07:00", last),
        )

    return change


def p8_lower_level_tried(bundle: dict[str, Any]) -> None:
    """Outpatient psychotherapy in December, before the IOP: a less intensive option tried (rn.5's evidence; a PHP
    stay would be a step down from a higher level)."""
    add(
        bundle,
        {
            "resourceType": "Encounter",
            "id": "P8-op",
            "status": "finished",
            "class": {"system": ACT, "code": "AMB"},
            "type": [coding(CPT, "90834")],
            "subject": {"reference": "Patient/P8-patient"},
            "period": {"start": "2024-12-10T10:00:00-07:00", "end": "2024-12-10T11:00:00-07:00"},
        },
    )


def p8_medication_only(bundle: dict[str, Any]) -> None:
    discharged(bundle)
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Procedure":
            resource["code"] = coding(CPT, "99214")


def p8_session_over_inpatient(bundle: dict[str, Any]) -> None:
    discharged(bundle)
    add(bundle, inpatient_stay("P8-patient", "2025-02-14T18:00:00-07:00", "2025-02-19T11:00:00-07:00", "finished"))


def p8_no_team(bundle: dict[str, Any]) -> None:
    the(bundle, "P8-team")["participant"] = [{"member": {"reference": "Practitioner/P8-ruiz"}}]


def p8_plan_by_social_worker(bundle: dict[str, Any]) -> None:
    the(bundle, "P8-tp")["author"] = {"reference": "Practitioner/P8-licsw"}


def p8_late_plan(bundle: dict[str, Any]) -> None:
    the(bundle, "P8-tp")["created"] = "2025-01-20T10:00:00-07:00"


def p8_late_certification(bundle: dict[str, Any]) -> None:
    the(bundle, "P8-cert")["date"] = "2025-01-20T10:00:00-07:00"
    the(bundle, "P8-order-1")["requester"] = {"reference": "Practitioner/P8-licsw"}


def p8_missing_note(bundle: dict[str, Any]) -> None:
    drop(bundle, lambda r: r.get("id") != "P8-prog-sess-0212-note")


def recertification(day: str, signer: str = "P8-ruiz") -> dict[str, Any]:
    return {
        "resourceType": "DocumentReference",
        "id": f"P8-recert-{day}",
        "status": "current",
        "subject": {"reference": "Patient/P8-patient"},
        "date": f"{day}T10:00:00-07:00",
        "type": coding("urn:iop-cds:local", "iop-recertification"),
        "authenticator": {"reference": f"Practitioner/{signer}"},
        "content": [{"attachment": {"contentType": "application/pdf"}}],
    }


def p8_recertified(day: str = "2025-03-05", signer: str = "P8-ruiz") -> Callable[[dict[str, Any]], None]:
    def change(bundle: dict[str, Any]) -> None:
        add(bundle, recertification(day, signer))

    return change


def p8_continuation_signed_on(day: str, requester: str) -> Callable[[dict[str, Any]], None]:
    """The continuation order is signed on ``day`` (the evaluation happens then too)."""

    def change(bundle: dict[str, Any]) -> None:
        order = the(bundle, "P8-order-2")
        order["authoredOn"] = f"{day}T08:50:00-07:00"
        order["occurrenceTiming"]["repeat"]["boundsPeriod"]["start"] = day
        order["requester"] = {"reference": f"Practitioner/{requester}"}

    return change


def p8_aftercare(bundle: dict[str, Any]) -> None:
    discharged(bundle)
    add(
        bundle,
        {
            "resourceType": "Appointment",
            "id": "P8-aftercare",
            "status": "booked",
            # aftercare is behavioural-health (DATA-PROFILE §2): an appointment of no named service is not
            "serviceType": [{"coding": [{"system": "http://snomed.info/sct", "code": "394913002"}]}],
            "start": "2025-03-12T10:00:00-07:00",
            "end": "2025-03-12T11:00:00-07:00",
            "participant": [{"actor": {"reference": "Patient/P8-patient"}, "status": "accepted"}],
        },
    )


def p8_virtual_session(bundle: dict[str, Any]) -> None:
    otp_discharge(bundle)
    the(bundle, "P8-prog-sess-0303")["class"] = {"system": ACT, "code": "VR"}


def non_prescriber(bundle: dict[str, Any]) -> None:
    with_oud()(bundle)
    the(bundle, "P7-np")["qualification"] = [{"code": coding("http://terminology.hl7.org/CodeSystem/v2-0360", "MSW")}]


def delirium(bundle: dict[str, Any]) -> None:
    add(bundle, condition("P7-patient", "P7-delirium", ICD10, "F05", "2025-04-30"))


def refused_consent(bundle: dict[str, Any]) -> None:
    add(
        bundle,
        {
            "resourceType": "Consent",
            "id": "P7-consent",
            "status": "rejected",
            "scope": coding("http://terminology.hl7.org/CodeSystem/consentscope", "treatment"),
            "category": [coding(LOINC, "59284-0")],
            "patient": {"reference": "Patient/P7-patient"},
            "dateTime": "2025-05-01T10:00:00-05:00",
        },
    )


def in_hospital(end: str | None) -> Callable[[dict[str, Any]], None]:
    def change(bundle: dict[str, Any]) -> None:
        add(bundle, inpatient_stay("P7-patient", "2025-04-28T20:00:00-05:00", end, "in-progress"))

    return change


def support_person(bundle: dict[str, Any]) -> None:
    add(
        bundle,
        {
            "resourceType": "RelatedPerson",
            "id": "P7-spouse",
            "active": True,
            "patient": {"reference": "Patient/P7-patient"},
            "relationship": [coding("http://terminology.hl7.org/CodeSystem/v3-RoleCode", "SPS")],
        },
    )


def homeless(bundle: dict[str, Any]) -> None:
    support_person(bundle)
    add(bundle, condition("P7-patient", "P7-homeless", ICD10, "Z59.02", "2025-03-01"))


def screened(intent: bool) -> Callable[[dict[str, Any]], None]:
    def change(bundle: dict[str, Any]) -> None:
        add(bundle, cssrs("P7-patient", "2025-05-01T10:30:00-05:00", intent))

    return change


def excluded_transport(bundle: dict[str, Any]) -> None:
    add(
        bundle,
        {
            "resourceType": "ServiceRequest",
            "id": "P7-taxi",
            "status": "draft",
            "intent": "order",
            "subject": {"reference": "Patient/P7-patient"},
            "code": coding(HCPCS, "T2019"),
        },
    )


def order_hours(duration: float) -> Callable[[dict[str, Any]], None]:
    def change(bundle: dict[str, Any]) -> None:
        the(bundle, "P7-order")["occurrenceTiming"]["repeat"]["duration"] = duration

    return change


def otp_continuation(bundle: dict[str, Any]) -> None:
    otp_program(bundle)
    add(bundle, condition("P8-patient", "P8-oud", ICD10, "F11.20", "2020-01-01"))


def no_plan(bundle: dict[str, Any]) -> None:
    otp_continuation(bundle)
    drop(bundle, lambda r: r.get("id") != "P8-tp")


def locus(bundle: dict[str, Any]) -> None:
    add(
        bundle,
        {
            "resourceType": "Observation",
            "id": "P7-locus",
            "status": "final",
            "subject": {"reference": "Patient/P7-patient"},
            "code": coding("urn:iop-cds:local", "locus"),
            "valueInteger": 3,
            "effectiveDateTime": "2025-05-01T10:00:00-05:00",
        },
    )


@pytest.fixture(scope="module")
def shared_client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One app for the whole case table (building the app and loading the mappings dominates otherwise)."""
    folder = tmp_path_factory.mktemp("bh803")
    settings = Settings(
        auth=False, feedback_db=str(folder / "feedback.sqlite3"), replay_db=str(folder / "replay.sqlite3")
    )
    return create_app(settings).test_client()


A7 = {"hook": "order-sign", "at": P7_AT}
C8 = {"hook": "order-sign", "at": P8_AT}
D8 = {"hook": "encounter-discharge", "at": P8_DISCHARGE_AT, "encounter_id": "P8-prog"}
ATTESTED_A = "2025-05-01T16:00:00-05:00"
ATTESTED_C = "2025-03-09T16:00:00-07:00"

# (criterion, how the record differs from the golden patient, when, expected status)
CASES: list[tuple[str, str, Callable[[], dict[str, Any]], dict[str, Any], str]] = [
    # scope
    ("bh803.scope.covered-dx", "F33.2", p7(), A7, "met"),
    ("bh803.scope.covered-dx", "SNOMED major depression", p7(recode_condition(SNOMED, "36923009")), A7, "met"),
    ("bh803.scope.covered-dx", "only a social problem", p7(recode_condition(ICD10, "Z63.0")), A7, "not-met"),
    ("bh803.external.loc-tools", "LOCUS on record", p7(locus), A7, "met"),
    ("bh803.external.loc-tools", "no LOCUS", p7(), A7, "not-applicable"),
    # program
    ("bh803.program.1-provider-type", "no deployment file", p7(), A7, "unknown"),
    (
        "bh803.program.1-provider-type",
        "a patient-level answer does not count",
        p7(attest("P7-patient", "admission", ATTESTED_A, {"bh803.program.1-provider-type": True})),
        A7,
        "unknown",
    ),
    ("bh803.program.2-individualized-plan-mdt", "at admission", p7(), A7, "pending"),
    ("bh803.program.2-individualized-plan-mdt", "physician plan, team", p8(), C8, "met"),
    ("bh803.program.2-individualized-plan-mdt", "a one-person team", p8(p8_no_team), C8, "not-met"),
    ("bh803.program.3-not-diversionary-or-med-only", "group therapy", p8(discharged), D8, "met"),
    ("bh803.program.3-not-diversionary-or-med-only", "E/M visits only", p8(p8_medication_only), D8, "not-met"),
    # eligibility
    ("bh803.eligibility.1a-certified-by-physician", "nurse practitioner", p7(), A7, "unknown"),
    (
        "bh803.eligibility.1a-certified-by-physician",
        "nurse practitioner, and the clinician answers no",
        p7(attest("P7-patient", "admission", ATTESTED_A, {"bh803.eligibility.1a-certified-by-physician": False})),
        A7,
        "not-met",
    ),
    ("bh803.eligibility.1a-certified-by-physician", "physician", p7(physician), A7, "met"),
    ("bh803.eligibility.1a-certified-by-physician", "NPP may certify OTP", p7(with_oud()), A7, "met"),
    ("bh803.eligibility.1b-need-min-9h-week", "3 x 2.5 h", p7(), A7, "not-met"),
    ("bh803.eligibility.1b-need-min-9h-week", "3 x 3 h", p7(nine_hours), A7, "met"),
    ("bh803.eligibility.1b-need-min-9h-week", "continuation 3 x 3 h", p8(), C8, "met"),
    ("bh803.eligibility.1c-cert-dx-clinical-need", "diagnosis, no need narrative", p7(), A7, "unknown"),
    (
        "bh803.eligibility.1c-cert-dx-clinical-need",
        "attested",
        p7(attest("P7-patient", "admission", ATTESTED_A, {"bh803.eligibility.1c-cert-dx-clinical-need": True})),
        A7,
        "met",
    ),
    ("bh803.eligibility.2-severe-interference-acute", "severe, recent: proxy only", p7(), A7, "unknown"),
    (
        "bh803.eligibility.2-severe-interference-acute",
        "attested",
        p7(attest("P7-patient", "admission", ATTESTED_A, {"bh803.eligibility.2-severe-interference-acute": True})),
        A7,
        "met",
    ),
    ("bh803.eligibility.3-can-participate-tolerate", "no evidence", p7(), A7, "unknown"),
    ("bh803.eligibility.3-can-participate-tolerate", "delirium", p7(delirium), A7, "not-met"),
    ("bh803.eligibility.3-can-participate-tolerate", "refused treatment", p7(refused_consent), A7, "not-met"),
    (
        "bh803.eligibility.3-can-participate-tolerate",
        "attested at continuation",
        p8(attest("P8-patient", "continued-stay", ATTESTED_C, {"bh803.eligibility.3-can-participate-tolerate": True})),
        C8,
        "met",
    ),
    ("bh803.eligibility.4-between-op-and-php", "judgement", p7(), A7, "unknown"),
    (
        "bh803.eligibility.4-between-op-and-php",
        "attested no",
        p7(attest("P7-patient", "admission", ATTESTED_A, {"bh803.eligibility.4-between-op-and-php": False})),
        A7,
        "not-met",
    ),
    # reasonable and necessary
    ("bh803.rn.1-no-24h-supervision", "no inpatient stay", p7(), A7, "unknown"),
    # DECISIONS.md (bh803): an open stay with no planned end is no finding by itself; one planned past the start is
    ("bh803.rn.1-no-24h-supervision", "in hospital, no planned end", p7(in_hospital(None)), A7, "unknown"),
    (
        "bh803.rn.1-no-24h-supervision",
        "in hospital past the IOP start",
        p7(in_hospital("2025-05-09T11:00:00-05:00")),
        A7,
        "not-met",
    ),
    (
        "bh803.rn.1-no-24h-supervision",
        "discharged before the IOP starts",
        p7(in_hospital("2025-05-05T11:00:00-05:00")),
        A7,
        "unknown",
    ),
    ("bh803.rn.2-adequate-support-system", "no support person", p7(), A7, "unknown"),
    ("bh803.rn.2-adequate-support-system", "spouse: proxy only", p7(support_person), A7, "unknown"),
    (
        "bh803.rn.2-adequate-support-system",
        "spouse, attested",
        p7(
            both(
                support_person,
                attest("P7-patient", "admission", ATTESTED_A, {"bh803.rn.2-adequate-support-system": True}),
            )
        ),
        A7,
        "met",
    ),
    (
        "bh803.rn.2-adequate-support-system",
        "homeless, attested no",
        p7(
            both(homeless, attest("P7-patient", "admission", ATTESTED_A, {"bh803.rn.2-adequate-support-system": False}))
        ),
        A7,
        "not-met",
    ),
    ("bh803.rn.3-not-imminent-danger", "no C-SSRS", p7(), A7, "unknown"),
    ("bh803.rn.3-not-imminent-danger", "C-SSRS all no", p7(screened(False)), A7, "met"),
    ("bh803.rn.3-not-imminent-danger", "C-SSRS intent and plan", p7(screened(True)), A7, "not-met"),
    ("bh803.rn.4-acute-onset-or-decompensation", "onset 12 days ago", p7(), A7, "met"),
    ("bh803.rn.4-acute-onset-or-decompensation", "chronic, no acute visit", p7(p7_onset_long_ago), A7, "unknown"),
    ("bh803.rn.4-acute-onset-or-decompensation", "PHQ-9 14 -> 21", p7(p7_worsening_phq9), A7, "met"),
    ("bh803.rn.5-maintenance-needs-evidence", "no scores", p8(), C8, "unknown"),
    (
        "bh803.rn.5-maintenance-needs-evidence",
        "PHQ-9 12 -> 19: not maintenance",
        p8(p8_phq9(12, 19)),
        C8,
        "not-applicable",
    ),
    (
        "bh803.rn.5-maintenance-needs-evidence",
        "PHQ-9 15 -> 9, outpatient therapy tried",
        p8(both(p8_phq9(15, 9), p8_lower_level_tried)),
        C8,
        "unknown",
    ),
    (
        "bh803.rn.5-maintenance-needs-evidence",
        "attested",
        p8(attest("P8-patient", "continued-stay", ATTESTED_C, {"bh803.rn.5-maintenance-needs-evidence": True})),
        C8,
        "met",
    ),
    # exclusions
    ("bh803.excluded.1-not-inpatient", "no inpatient stay", p7(), A7, "met"),
    ("bh803.excluded.1-not-inpatient", "in hospital, no planned end", p7(in_hospital(None)), A7, "unknown"),
    (
        "bh803.excluded.1-not-inpatient",
        "in hospital past the IOP start",
        p7(in_hospital("2025-05-09T11:00:00-05:00")),
        A7,
        "not-met",
    ),
    ("bh803.excluded.1-not-inpatient", "sessions during a hospital stay", p8(p8_session_over_inpatient), D8, "not-met"),
    (
        "bh803.excluded.2-meals-transport-vocational",
        "transport ordered with IOP",
        p7(excluded_transport),
        A7,
        "not-met",
    ),
    ("bh803.excluded.2-meals-transport-vocational", "IOP order only", p7(), A7, "met"),
    # documentation
    ("bh803.doc.1-initial-cert-upon-admission", "at admission", p7(), A7, "pending"),
    ("bh803.doc.1-initial-cert-upon-admission", "certified on day 1", p8(), C8, "met"),
    ("bh803.doc.1-initial-cert-upon-admission", "certified on day 15", p8(p8_late_certification), C8, "not-met"),
    ("bh803.doc.2-plan-of-care-by-physician", "at admission", p7(), A7, "pending"),
    ("bh803.doc.2-plan-of-care-by-physician", "plan on day 2", p8(), C8, "met"),
    ("bh803.doc.2-plan-of-care-by-physician", "plan after treatment day 3", p8(p8_late_plan), C8, "not-met"),
    ("bh803.doc.3-recert-60d", "no recertification by day 60", p8(), C8, "not-met"),
    ("bh803.doc.3-recert-60d", "recertified on day 58", p8(p8_recertified()), C8, "met"),
    (
        "bh803.doc.3-recert-60d",
        "continuation signed on day 30",
        p8(p8_continuation_signed_on("2025-02-05", "P8-ruiz")),
        {"hook": "order-sign", "at": "2025-02-05T09:00:00-07:00"},
        "met",
    ),
    (
        "bh803.doc.3-recert-60d",
        "recertified on day 14, then nothing for 64 days",
        p8(both(p8_recertified("2025-01-20"), p8_continuation_signed_on("2025-03-25", "P8-ruiz"))),
        {"hook": "order-sign", "at": "2025-03-25T09:00:00-07:00"},
        "not-met",
    ),
    (
        "bh803.doc.3-recert-60d",
        "discharged on day 65 without a recertification",
        p8(discharged_on("2025-03-12")),
        {"hook": "encounter-discharge", "at": "2025-03-12T12:30:00-07:00", "encounter_id": "P8-prog"},
        "not-met",
    ),
    ("bh803.doc.3-recert-60d", "discharged on day 60", p8(discharged), D8, "not-applicable"),
    ("bh803.doc.4-recert-signer-treating-physician", "signed by a physician off the team", p8(), C8, "unknown"),
    (
        "bh803.doc.4-recert-signer-treating-physician",
        "signed by a nurse practitioner",
        p8(signed_by_nurse_practitioner),
        C8,
        "not-met",
    ),
    (
        "bh803.doc.4-recert-signer-treating-physician",
        "recertified by the treating psychiatrist",
        p8(p8_recertified()),
        C8,
        "met",
    ),
    (
        "bh803.doc.4-recert-signer-treating-physician",
        "continuation signed by the treating psychiatrist",
        p8(p8_continuation_signed_on("2025-03-05", "P8-ruiz")),
        {"hook": "order-sign", "at": "2025-03-05T09:00:00-07:00"},
        "met",
    ),
    (
        "bh803.doc.4-recert-signer-treating-physician",
        "discharge, nothing to audit",
        p8(discharged),
        D8,
        "not-applicable",
    ),
    ("bh803.doc.5-recert-content", "narrative only", p8(), C8, "unknown"),
    (
        "bh803.doc.5-recert-content",
        "attested",
        p8(attest("P8-patient", "continued-stay", ATTESTED_C, {"bh803.doc.5-recert-content": True})),
        C8,
        "met",
    ),
    ("bh803.doc.6-tx-plan-physician-signed-goals", "at admission", p7(), A7, "pending"),
    ("bh803.doc.6-tx-plan-physician-signed-goals", "psychiatrist's plan", p8(), C8, "met"),
    (
        "bh803.doc.6-tx-plan-physician-signed-goals",
        "plan by a social worker",
        p8(p8_plan_by_social_worker),
        C8,
        "not-met",
    ),
    ("bh803.doc.7-progress-notes", "a note for every session", p8(), C8, "met"),
    ("bh803.doc.7-progress-notes", "one session without a note", p8(p8_missing_note), C8, "not-met"),
    # discharge
    ("bh803.discharge.1-step-down-or-up", "aftercare booked", p8(p8_aftercare), D8, "met"),
    ("bh803.discharge.1-step-down-or-up", "nothing arranged", p8(discharged), D8, "not-applicable"),
    # OTP
    ("bh803.otp.0-gate", "S9480", p7(), A7, "not-applicable"),
    ("bh803.otp.0-gate", "G0137", p7(with_oud()), A7, "met"),
    ("bh803.otp.1-oud-dx", "F11.20", p7(with_oud()), A7, "met"),
    ("bh803.otp.1-oud-dx", "F11.21 on maintenance", p7(with_oud("F11.21")), A7, "met"),
    ("bh803.otp.1-oud-dx", "SNOMED opioid dependence", p7(with_oud("75544000", SNOMED)), A7, "met"),
    ("bh803.otp.1-oud-dx", "depression only", p7(otp_order), A7, "not-met"),
    ("bh803.otp.2-cert-9h-higher-intensity", "NP, 9 h: intensity judged", p7(with_oud()), A7, "unknown"),
    (
        "bh803.otp.2-cert-9h-higher-intensity",
        "NP, 9 h, attested",
        p7(
            both(
                with_oud(),
                attest("P7-patient", "admission", ATTESTED_A, {"bh803.otp.2-cert-9h-higher-intensity": True}),
            )
        ),
        A7,
        "met",
    ),
    ("bh803.otp.2-cert-9h-higher-intensity", "7.5 h", p7(both(with_oud(), order_hours(2.5))), A7, "not-met"),
    ("bh803.otp.2-cert-9h-higher-intensity", "social worker may not certify", p7(non_prescriber), A7, "not-met"),
    ("bh803.otp.3-plan-of-care", "at admission", p7(with_oud()), A7, "pending"),
    ("bh803.otp.3-plan-of-care", "plan on record", p8(otp_continuation), C8, "met"),
    ("bh803.otp.3-plan-of-care", "no plan", p8(no_plan), C8, "not-met"),
    ("bh803.otp.4-9-services-7-days", "7 services a week", p8(otp_discharge), D8, "not-met"),
    ("bh803.otp.4-9-services-7-days", "10 services a week", p8(third_group_each_session()), D8, "met"),
    (
        "bh803.otp.4-9-services-7-days",
        "drug tests do not count",
        p8(third_group_each_session(CPT, "80305")),
        D8,
        "not-met",
    ),
    ("bh803.otp.5-no-telehealth", "in person", p8(otp_discharge), D8, "met"),
    ("bh803.otp.5-no-telehealth", "one video session", p8(p8_virtual_session), D8, "not-met"),
]


@pytest.mark.parametrize(
    ("criterion", "case", "record", "when", "expected"),
    CASES,
    ids=[f"{c[0].removeprefix('bh803.')}: {c[1]}" for c in CASES],
)
def test_each_criterion(
    shared_client: Any, criterion: str, case: str, record: Callable[[], dict], when: dict[str, Any], expected: str
) -> None:
    options = dict(when)
    statuses = statuses_of(shared_client, record(), options.pop("hook"), options.pop("at"), **options)
    assert statuses.get(criterion) == expected, f"{case}: {criterion} is {statuses.get(criterion)}"


def test_every_bh803_criterion_is_decided_both_ways(app: Any) -> None:
    """Each id has a case table entry, and (program.1 aside) cases with two different statuses."""
    policy = load_mappings(app.config["SETTINGS"].mappings_dir).policies[POLICY]
    seen: dict[str, set[str]] = {}
    for criterion, _, _, _, expected in CASES:
        seen.setdefault(criterion, set()).add(expected)
    ids = {c.id for c in policy.criteria()}
    assert ids == set(seen)
    assert [i for i in ids if len(seen[i]) < 2 and i != "bh803.program.1-provider-type"] == []


def test_a_program_attestation_file_decides_the_provider_type(tmp_path: Path, settings: Any) -> None:
    path = tmp_path / "program.yaml"
    path.write_text(
        "program: Example IOP\nattested-by: Program director\ndate: 2025-01-02\n"
        "criteria:\n  bh803.program.1-provider-type: true\n",
        encoding="utf-8",
    )
    app = create_app(dataclasses.replace(settings, program_attestations_file=str(path)))
    statuses = statuses_of(app.test_client(), load_fixture("golden/P7.json"))
    assert statuses["bh803.program.1-provider-type"] == "met"
