"""CCA IOP performance specifications, sentence by sentence: for each criterion a record the quoted sentence makes
met and one it makes not met (or not applicable), each one change from golden patient P6 (discharge), or from the
P6 member before admission with a draft IOP order (admission)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sentence_cases import Bundle, SentenceCase, add, by_id, check, drop, from_golden, pro_and_con

Resource = dict[str, Any]
Change = Callable[[Bundle], None]

LOINC, SCT, ICD = "http://loinc.org", "http://snomed.info/sct", "http://hl7.org/fhir/sid/icd-10-cm"
CPT, HCPCS = "http://www.ama-assn.org/go/cpt", "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
PATIENT = "Patient/P6-patient"
CIWA_AR = "75632-6"  # CIWA-Ar total score
# Golden P6: the program runs Fri 2025-04-04 13:00 to Fri 2025-04-25 16:00 (Boston); discharge hook at 16:05.
DISCHARGE_AT = "2025-04-25T16:05:00-04:00"
# The P6 member the day before the program starts, signing the IOP order.
ADMISSION_AT = "2025-04-03T10:30:00-04:00"
# Day 12 of the P6 stay, signing an extension order.
CONTINUED_AT = "2025-04-16T10:00:00-04:00"


def coding(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def discharge(criterion: str, expect: str, quote: str, *changes: Change, name: str = "") -> SentenceCase:
    """A case on golden P6 at its discharge hook, after ``changes``."""
    return SentenceCase(
        criterion=criterion,
        expect=expect,
        quote=quote,
        build=from_golden("P6", *changes),
        hook="encounter-discharge",
        at=DISCHARGE_AT,
        policy="cca",
        encounter_id="P6-prog",
        name=name,
    )


def _before_admission_order(bundle: Bundle, rid: str, authored: str, start: str) -> None:
    """Add a draft IOP order for 3 hours a day, 3 days a week, starting on ``start``."""
    add(
        bundle,
        {
            "resourceType": "ServiceRequest",
            "id": rid,
            "status": "draft",
            "intent": "order",
            "code": coding(HCPCS, "S9480"),
            "subject": {"reference": PATIENT},
            "requester": {"reference": "Practitioner/P6-psy"},
            "reasonReference": [{"reference": "Condition/P6-dx"}],
            "authoredOn": authored,
            "occurrenceTiming": {
                "repeat": {
                    "boundsPeriod": {"start": start},
                    "frequency": 3,
                    "period": 1,
                    "periodUnit": "wk",
                    "duration": 3,
                    "durationUnit": "h",
                }
            },
        },
    )


def _before_admission(bundle: Bundle) -> None:
    """The P6 member before the stay: demographics, team and diagnosis, plus a draft order for 3 h, 3 days a week."""
    keep = {"Patient", "Organization", "Coverage", "Practitioner", "Location", "CareTeam", "Condition"}
    drop(bundle, lambda r: r["resourceType"] not in keep)
    _before_admission_order(bundle, "CA-order", "2025-04-03T10:00:00-04:00", "2025-04-04")


def admission(criterion: str, expect: str, quote: str, *changes: Change, name: str = "") -> SentenceCase:
    """A case at order-sign for the P6 member before admission, after ``changes``."""
    return SentenceCase(
        criterion=criterion,
        expect=expect,
        quote=quote,
        build=from_golden("P6", _before_admission, *changes),
        hook="order-sign",
        at=ADMISSION_AT,
        policy="cca",
        name=name,
    )


def _day(rid: str) -> int:
    """The April day of a session-linked P6 resource (P6-sess-16, P6-group-16-1, P6-note-16, ...), else 0."""
    for prefix in ("P6-sess-", "P6-group-", "P6-note-", "P6-ind-", "P6-fam-"):
        if rid.startswith(prefix):
            return int(rid[len(prefix) :][:2])
    return 0


def _mid_stay(bundle: Bundle) -> None:
    """The P6 member on day 12 (Wed 2025-04-16 10:00) with a draft extension order: only what existed by then."""
    drop(bundle, lambda r: _day(r.get("id", "")) >= 16)
    gone = {"P6-phq9-2", "P6-sertraline", "P6-therapy-appt", "P6-psych-appt", "P6-referral", "P6-instructions"}
    drop(bundle, lambda r: r.get("id") in gone)
    del by_id(bundle, "P6-prog")["period"]["end"]
    by_id(bundle, "P6-tp")["meta"]["lastUpdated"] = "2025-04-14T15:00:00-04:00"
    by_id(bundle, "P6-dcp")["meta"]["lastUpdated"] = "2025-04-14T15:30:00-04:00"
    del by_id(bundle, "P6-goal")["outcomeReference"]
    _before_admission_order(bundle, "CC-order-2", "2025-04-16T09:30:00-04:00", "2025-04-17")


def continued(criterion: str, expect: str, quote: str, *changes: Change, name: str = "") -> SentenceCase:
    """A case at order-sign of an extension order on day 12 of the P6 stay, after ``changes``."""
    return SentenceCase(
        criterion=criterion,
        expect=expect,
        quote=quote,
        build=from_golden("P6", _mid_stay, *changes),
        hook="order-sign",
        at=CONTINUED_AT,
        policy="cca",
        name=name,
    )


# --- changes ---------------------------------------------------------------------------------------------------


def edit(rid: str, change: Callable[[Resource], None]) -> Change:
    return lambda bundle: change(by_id(bundle, rid))


def setting(rid: str, **fields: Any) -> Change:
    return edit(rid, lambda r: r.update(fields))


def without(*ids: str) -> Change:
    return lambda bundle: drop(bundle, lambda r: r.get("id") in ids)


def plus(*new: Resource) -> Change:
    return lambda bundle: add(bundle, *new)


def peer_referral(authored: str) -> Resource:
    """A completed referral to peer support (HCPCS H0038) authored at ``authored``."""
    return {
        "resourceType": "ServiceRequest",
        "id": f"peer-{authored[:10]}",
        "status": "completed",
        "intent": "order",
        "subject": {"reference": PATIENT},
        "authoredOn": authored,
        "code": coding(HCPCS, "H0038"),
    }


def attested(criterion: str, value: bool, at: str = DISCHARGE_AT) -> Change:
    """A clinician attestation (DATA-PROFILE §3) answering the criterion, authored the morning of ``at``."""
    return plus(
        {
            "resourceType": "QuestionnaireResponse",
            "id": f"att-{criterion}",
            "status": "completed",
            "questionnaire": "urn:iop-cds:questionnaire:iop-cca",
            "subject": {"reference": PATIENT},
            "authored": at[:10] + "T09:00:00-04:00",
            "author": {"reference": "Practitioner/P6-licsw"},
            "item": [{"linkId": criterion, "answer": [{"valueBoolean": value}]}],
        }
    )


def without_sections(*codes: str) -> Change:
    """The structured assessment without these LOINC section codes."""
    return edit(
        "P6-assessment",
        lambda r: r.update(category=[c for c in r["category"] if c["coding"][0]["code"] not in codes]),
    )


def plan_activities(rid: str, *kept: str) -> Change:
    """Keep only the plan activities with these codes."""
    return edit(
        rid, lambda r: r.update(activity=[a for a in r["activity"] if a["detail"]["code"]["coding"][0]["code"] in kept])
    )


def condition(rid: str, system: str, code: str, **extra: Any) -> Resource:
    return {
        "resourceType": "Condition",
        "id": rid,
        "clinicalStatus": coding("http://terminology.hl7.org/CodeSystem/condition-clinical", "active"),
        "verificationStatus": coding("http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed"),
        "code": coding(system, code),
        "subject": {"reference": PATIENT},
        **extra,
    }


def score(rid: str, code: str, value: int, when: str) -> Resource:
    """A withdrawal score (LOINC total score Observation)."""
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "category": [coding("http://terminology.hl7.org/CodeSystem/observation-category", "survey")],
        "code": coding(LOINC, code),
        "subject": {"reference": PATIENT},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": "{score}"},
    }


def session(day: int, start: str = "13:00", end: str = "16:00") -> Resource:
    return {
        "resourceType": "Encounter",
        "id": f"X-sess-{day:02d}",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "type": [coding(HCPCS, "S9480")],
        "subject": {"reference": PATIENT},
        "partOf": {"reference": "Encounter/P6-prog"},
        "period": {"start": f"2025-04-{day:02d}T{start}:00-04:00", "end": f"2025-04-{day:02d}T{end}:00-04:00"},
    }


def group(rid: str, day: int, encounter: str) -> Resource:
    return {
        "resourceType": "Procedure",
        "id": rid,
        "status": "completed",
        "code": coding(HCPCS, "G0410"),
        "subject": {"reference": PATIENT},
        "encounter": {"reference": f"Encounter/{encounter}"},
        "performedDateTime": f"2025-04-{day:02d}T13:30:00-04:00",
    }


def appointment(rid: str, start: str, **extra: Any) -> Resource:
    return {
        "resourceType": "Appointment",
        "id": rid,
        "status": "booked",
        "start": start,
        "participant": [
            {"actor": {"reference": PATIENT}, "status": "accepted"},
            {"actor": {"reference": "Location/P6-loc-clinic"}, "status": "accepted"},
        ],
        **extra,
    }


def progress_note(day: int, session_id: str) -> Resource:
    return {
        "resourceType": "DocumentReference",
        "id": f"X-note-{day:02d}",
        "status": "current",
        "type": coding(LOINC, "34904-3"),
        "subject": {"reference": PATIENT},
        "date": f"2025-04-{day:02d}T16:30:00-04:00",
        "content": [{"attachment": {"contentType": "text/plain", "title": "IOP progress note"}}],
        "context": {"encounter": [{"reference": f"Encounter/{session_id}"}]},
    }


def only_team_roles(*codes: str) -> Change:
    """The care team keeps only the participants with these role codes."""
    return edit(
        "P6-team",
        lambda r: r.update(participant=[p for p in r["participant"] if p["role"][0]["coding"][0]["code"] in codes]),
    )


def dcp_addresses(*condition_ids: str) -> Change:
    refs = [{"reference": "Condition/P6-dx"}] + [{"reference": f"Condition/{c}"} for c in condition_ids]
    return setting("P6-dcp", addresses=refs)


def housing_unstable(bundle: Bundle) -> None:
    """PRAPARE housing item answered 'I do not have housing' (LA30190-5... coded as the at-risk answer LA33-6)."""
    by_id(bundle, "P6-prapare-housing")["valueCodeableConcept"] = coding(LOINC, "LA33-6")


def inpatient_stay(end: str | None) -> Resource:
    """A psychiatric inpatient stay in progress at order-sign, with its planned end (or none recorded)."""
    stay: Resource = {
        "resourceType": "Encounter",
        "id": "X-imp",
        "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": {"reference": PATIENT},
        "reasonReference": [{"reference": "Condition/P6-dx"}],
        "period": {"start": "2025-03-27T20:00:00-04:00"},
    }
    if end:
        stay["period"]["end"] = end
    return stay


def previous_episode(rid: str) -> Change:
    """The plan belongs to an earlier IOP episode: created, updated and ended months before this admission."""

    def apply(bundle: Bundle) -> None:
        plan = by_id(bundle, rid)
        plan["created"] = "2024-10-02T15:00:00-04:00"
        plan["meta"] = {"lastUpdated": "2024-10-20T15:00:00-04:00"}
        plan["period"] = {"start": "2024-10-02", "end": "2024-10-24"}
        plan["status"] = "completed"

    return apply


# --- the sentences ---------------------------------------------------------------------------------------------

DSM5 = "IOP services meet the special needs of Members who demonstrate symptomatology consistent with a DSM-5 diagnosis"
ENVIRONMENT = (
    "Treatment in an IOP setting requires that the Member's living environment, however compromised, offers enough "
    "psychosocial stability to warrant intensive outpatient treatment, and their biomedical condition is stable "
    "enough to be managed in an outpatient setting."
)
HOURS_DAYS = "IOPs must offer at least 3 hours per day, three to five days per week"
ATTEND = "Participation should attend three times per week at a minimum"
UNIT = "one unit is equal to three hours and minimum of two groups"
UNIT_DAYS = "three to five days per week (one unit is equal to three hours and minimum of two groups)"
LOS = "Length of stay is generally 1 to 3 weeks"
BPS = (
    "Bio-psychosocial evaluation … Assessments are completed … review the assessment and establish a provisional "
    "treatment plan within one business day of admission"
)
CRISIS = "Development and/or updating of crisis prevention plan, and/or safety plan as part of Crisis Planning"
THERAPY = "Individual, group, and family therapy"
PEER = "Peer support and recovery-oriented services"
MEDS_ACCESS = "Provision of access to medication evaluation and medication management"
SUD = "Substance use assessment and treatment services"
INTEGRATED = (
    "A multidisciplinary team, with the consent of the member, coordinates with the member's providers to develop an "
    "integrated treatment and discharge plan."
)
MDT = "A multi-disciplinary treatment team has been assigned to each member"
PROVISIONAL = (
    "Treatment team has met to review the assessment and establish a provisional treatment plan within one business "
    "day of admission"
)
GOALS = (
    "Goals, expected outcomes, and time frames for achieving the goals. Goals should be in behavioral terms and should "
    "be measurable, and solution focused."
)
STRENGTHS_TP = "Indication of the strengths of the individual and their family as identified in the assessment."
PEER_TP = "Peer and Recovery support services"
MEDS_TP = "Medication evaluation and medication management delivered by the IOP or via a referral."
COUNSELING = "A combination of individual, group or family counseling based on the Member's needs."
AGENCY = "When appropriate, involvement of a state agency or need for involvement with a state agency"
DC_AFTERCARE_TP = "within one business day of admission that includes … A detailed discharge and after-care plan"
SIGNATURE = "Member's signature or documentation of refusal to sign the treatment plan."
TP_UPDATED = (
    "The treatment plan will be updated as clinically appropriate with the Member and if appropriate, with the "
    "Members family, guardian or natural supports"
)
HPI = "History of presenting problem, chief complaints, and symptoms"
PMH = "Past medical history"
FAMILY = "Family, social history and linguistic cultural background"
SUBSTANCE = "Current substance abuse"
MSE = "Mental status exam"
MEDS_ALLERGIES = "Previous medication trials, current medications, and any allergies"
FORMULATION = "Diagnosis and clinical formulation"
FUNCTIONING = "Level of functioning"
STRENGTHS_ASSESSMENT = "The individual's strengths, and for children and adolescents, family strengths"
PCP = "Name of PCP"
INVOLVEMENT = (
    "The provider ensures that treatment and discharge plans show significant involvement of member, family/guardian, "
    "providers, and other entities and agencies that are significant to the member's aftercare, unless clinically or "
    "legally contraindicated. Proper consent must be documented in the member's record."
)
NOTES = "The Member records must show evidence of daily progress notes on days of attendance at the program."
DC_PROCESS = (
    "Discharge is a planned process that begins upon admission and development of a treatment plan and is continuous "
    "throughout treatment with updates as necessary and clinically appropriate."
)
SDOH = (
    "Discharge plans should include Members' concerns and Members' social risk factors including those related to "
    "housing, food security, recovery and relapse services, finances, health care, transportation, occupational and "
    "education concerns as well as social supports."
)
AFTERCARE_DOCUMENTED = (
    "The treatment team implementing the Members discharge plan ensures that the above concerns and planned "
    "after-care are documented in the Members record."
)
GIVEN = (
    "The discharge plan including referral to any agency, appointment times and locations, transportation, medication "
    "information, emergency and crisis information is given to the Member and/or the Member's family or guardian at "
    "the time of discharge."
)
SEVEN_DAYS = "At least one after-care appointment is scheduled within 7 days of the Members discharge from the IOP."
FOURTEEN_DAYS = (
    "If a member is discharged on medication, then at least one psychiatric aftercare appointment must be scheduled "
    "within 14 days of discharge from the IOP."
)
TRANSPORT = (
    "The provider contacts Commonwealth Care Alliances (CCA's) Clinical Team for support with arranging needed "
    "aftercare transportation."
)
LINKAGES = (
    "The provider will develop linkages to outside referrals and state agencies that ensure a smooth transition from "
    "the IOP to other services."
)
OUTCOMES = (
    "Providers are required to collect and measure outcome data and incorporate the data in treatment plans in the "
    "medical records."
)

TRANSPORT_DX = condition("X-transport", ICD, "Z59.82")
HOUSING_DX = condition("X-housing", ICD, "Z59.01")
NO_PEER = plan_activities("P6-tp", "99214", "G0410", "90834")

CASES: list[SentenceCase] = [
    # --- service description ---
    admission("cca.scope.dsm5-dx", "met", DSM5, name="major depressive disorder F33.1"),
    # No DSM-5 disorder coded is "not documented" (DATA-PROFILE §6), not a failure; a clinician's "no" is.
    admission(
        "cca.scope.dsm5-dx",
        "unknown",
        DSM5,
        setting("P6-dx", code=coding(ICD, "Z63.0")),
        name="only a relationship problem Z63.0",
    ),
    admission(
        "cca.scope.dsm5-dx",
        "not-met",
        DSM5,
        setting("P6-dx", code=coding(ICD, "Z63.0")),
        attested("cca.scope.dsm5-dx", False, at=ADMISSION_AT),
        name="clinician answers no",
    ),
    admission(
        "cca.eligibility.stable-environment-biomedical",
        "met",
        ENVIRONMENT,
        attested("cca.eligibility.stable-environment-biomedical", True, ADMISSION_AT),
        name="clinician attests",
    ),
    admission(
        "cca.eligibility.stable-environment-biomedical",
        "not-met",
        ENVIRONMENT,
        plus(condition("X-dt", ICD, "F10.231", onsetDateTime="2025-03-31")),
        name="alcohol withdrawal delirium this week",
    ),
    admission(
        "cca.eligibility.stable-environment-biomedical",
        "met",
        ENVIRONMENT,
        plus(inpatient_stay("2025-04-03T16:00:00-04:00")),
        attested("cca.eligibility.stable-environment-biomedical", True, ADMISSION_AT),
        name="step-down: the inpatient stay ends the day before the IOP starts",
    ),
    admission(
        "cca.eligibility.stable-environment-biomedical",
        "not-met",
        ENVIRONMENT,
        plus(inpatient_stay("2025-04-08T12:00:00-04:00")),
        name="inpatient stay planned to run into the IOP's first week",
    ),
    admission(
        "cca.eligibility.stable-environment-biomedical",
        "unknown",
        ENVIRONMENT,
        plus(inpatient_stay(None)),
        name="order signed on the inpatient unit for an IOP after discharge: a judgement, not a finding",
    ),
    admission(
        "cca.eligibility.stable-environment-biomedical",
        "not-met",
        ENVIRONMENT,
        plus(score("X-ciwa", CIWA_AR, 22, "2025-04-03T08:00:00-04:00")),
        name="CIWA-Ar 22 this morning, no substance use disorder coded",
    ),
    admission(
        "cca.eligibility.stable-environment-biomedical",
        "met",
        ENVIRONMENT,
        plus(
            condition("X-dt", ICD, "F10.231", onsetDateTime="2025-03-31"),
            score("X-ciwa", CIWA_AR, 3, "2025-04-02T09:00:00-04:00"),
        ),
        attested("cca.eligibility.stable-environment-biomedical", True, ADMISSION_AT),
        name="delirium on 03-31 outweighed by CIWA-Ar 3 on 04-02, clinician attests",
    ),
    admission(
        "cca.eligibility.stable-environment-biomedical",
        "not-met",
        ENVIRONMENT,
        attested("cca.eligibility.stable-environment-biomedical", False, ADMISSION_AT),
        name="clinician attests no",
    ),
    admission("cca.intensity.1-3h-3to5-days", "met", HOURS_DAYS, name="order 3 h, 3 days a week"),
    admission(
        "cca.intensity.1-3h-3to5-days",
        "not-met",
        HOURS_DAYS,
        edit("CA-order", lambda r: r["occurrenceTiming"]["repeat"].update(frequency=6)),
        name="order 6 days a week",
    ),
    admission(
        "cca.intensity.1-3h-3to5-days",
        "not-met",
        HOURS_DAYS,
        edit("CA-order", lambda r: r["occurrenceTiming"]["repeat"].update(duration=2)),
        name="order 2 h a day",
    ),
    continued("cca.intensity.1-3h-3to5-days", "met", HOURS_DAYS, name="extension order 3 h, 3 days a week"),
    continued(
        "cca.intensity.1-3h-3to5-days",
        "not-met",
        UNIT_DAYS,
        edit("CC-order-2", lambda r: r["occurrenceTiming"]["repeat"].update(frequency=6)),
        name="extension order 6 days a week",
    ),
    discharge("cca.intensity.1-3h-3to5-days", "met", HOURS_DAYS, name="3 sessions of 3 h each week"),
    discharge(
        "cca.intensity.1-3h-3to5-days",
        "not-met",
        UNIT_DAYS,
        plus(session(12), session(13), session(15)),
        name="six days in the second week",
    ),
    discharge(
        "cca.intensity.1-3h-3to5-days",
        "not-met",
        HOURS_DAYS,
        edit("P6-sess-11", lambda r: r["period"].update(end="2025-04-11T15:00:00-04:00")),
        name="a 2-hour day",
    ),
    discharge("cca.intensity.2-attend-3x-week", "met", ATTEND, name="three days every full week"),
    discharge(
        "cca.intensity.2-attend-3x-week", "not-met", ATTEND, without("P6-sess-21"), name="two days in the third week"
    ),
    discharge("cca.intensity.3-unit-2-groups", "met", UNIT, name="3 h with two groups every day"),
    discharge("cca.intensity.3-unit-2-groups", "not-met", UNIT, without("P6-group-11-2"), name="one group on 04-11"),
    discharge(
        "cca.intensity.3-unit-2-groups",
        "not-met",
        UNIT,
        edit("P6-sess-14", lambda r: r["period"].update(end="2025-04-14T15:00:00-04:00")),
        name="two groups in 2 hours",
    ),
    discharge("cca.los.1-3-weeks", "met", LOS, name="21 days"),
    discharge(
        "cca.los.1-3-weeks",
        "not-met",
        LOS,
        edit("P6-prog", lambda r: r["period"].update(start="2025-03-28T13:00:00-04:00")),
        name="four weeks",
    ),
    # --- components of services ---
    discharge("cca.components.01-bps-eval", "met", BPS, name="assessment on the day of admission"),
    discharge(
        "cca.components.01-bps-eval",
        "not-met",
        BPS,
        setting("P6-assessment", date="2025-04-09T15:00:00-04:00"),
        name="assessment on the fourth day",
    ),
    discharge("cca.components.03-crisis-safety-plan", "met", CRISIS, name="safety plan made in the stay"),
    discharge(
        "cca.components.03-crisis-safety-plan",
        "not-met",
        CRISIS,
        previous_episode("P6-crp"),
        name="only last year's plan",
    ),
    discharge("cca.components.05-therapy-ind-group-family", "met", THERAPY, name="all three delivered"),
    discharge(
        "cca.components.05-therapy-ind-group-family",
        "not-met",
        THERAPY,
        without("P6-ind-09", "P6-ind-16", "P6-fam-18"),
        name="group therapy only in the stay",
    ),
    discharge("cca.components.07-peer-recovery", "met", PEER, name="peer services in the plan"),
    discharge("cca.components.07-peer-recovery", "not-met", PEER, NO_PEER, name="no peer service"),
    discharge(
        "cca.components.07-peer-recovery",
        "not-met",
        PEER,
        edit("P6-tp", lambda r: r["activity"][0]["detail"].update(code=coding(HCPCS, "H2027"))),
        name="psycho-education is not peer support",
    ),
    # issue 15 episode scope: a peer referral completed in 2022 is not this stay's service; one made at intake is
    discharge(
        "cca.components.07-peer-recovery",
        "not-met",
        PEER,
        NO_PEER,
        plus(peer_referral("2022-05-10T10:00:00-04:00")),
        name="only a peer referral of 2022",
    ),
    discharge(
        "cca.components.07-peer-recovery",
        "met",
        PEER,
        NO_PEER,
        plus(peer_referral("2025-04-04T14:00:00-04:00")),
        name="a peer referral at intake",
    ),
    discharge("cca.components.08-med-eval-access", "met", MEDS_ACCESS, name="medication management in the plan"),
    discharge(
        "cca.components.08-med-eval-access",
        "not-met",
        MEDS_ACCESS,
        plan_activities("P6-tp", "H0038", "G0410", "90834"),
        plan_activities("P6-dcp", "90834"),
        without("P6-sertraline"),
        name="no medication evaluation, prescription or referral",
    ),
    discharge("cca.components.10-sud-assessment", "met", SUD, name="AUDIT-C on admission"),
    discharge(
        "cca.components.10-sud-assessment",
        "not-met",
        SUD,
        setting("P6-auditc", effectiveDateTime="2025-04-11T14:00:00-04:00"),
        without_sections("29762-2"),
        name="first screen a week in",
    ),
    discharge(
        "cca.components.10-sud-assessment",
        "not-met",
        SUD,
        plus(condition("X-aud", ICD, "F10.20")),
        name="alcohol use disorder, no substance use treatment in the stay",
    ),
    discharge(
        "cca.components.10-sud-assessment",
        "met",
        SUD,
        plus(condition("X-aud", ICD, "F10.20")),
        edit("P6-dcp", lambda r: r["addresses"].append({"reference": "Condition/X-aud"})),
        name="alcohol use disorder addressed by the plan",
    ),
    discharge("cca.components.11-integrated-plan-consent", "met", INTEGRATED, name="PCP consent and team plan"),
    discharge(
        "cca.components.11-integrated-plan-consent",
        "not-met",
        INTEGRATED,
        without("P6-pcp-consent"),
        attested("cca.components.11-integrated-plan-consent", False),
        name="clinician attests no",
    ),
    # --- assessment, treatment planning and documentation ---
    discharge("cca.assessment.2-mdt-assigned", "met", MDT, name="LICSW, RN and psychiatrist"),
    discharge(
        "cca.assessment.2-mdt-assigned",
        "not-met",
        MDT,
        only_team_roles("224535009"),
        name="a nurse only",
    ),
    discharge(
        "cca.assessment.2-mdt-assigned",
        "not-met",
        MDT,
        edit(
            "P6-team",
            lambda r: r.update(
                participant=[
                    {"role": [coding(SCT, "106328005")], "member": {"reference": "Practitioner/P6-licsw"}},
                    {"role": [coding(SCT, "106328005")], "member": {"reference": "Practitioner/X-msw"}},
                ]
            ),
        ),
        plus(
            {
                "resourceType": "Practitioner",
                "id": "X-msw",
                "active": True,
                "name": [{"family": "Baptiste", "given": ["Rose"]}],
                "qualification": [{"code": coding("http://nucc.org/provider-taxonomy", "1041C0700X")}],
            }
        ),
        name="two social workers",
    ),
    discharge("cca.assessment.3-provisional-tp-1bd", "met", PROVISIONAL, name="plan on the next business day"),
    discharge(
        "cca.assessment.3-provisional-tp-1bd",
        "met",
        PROVISIONAL,
        setting("P6-tp", created="2025-04-07T20:30:00-04:00"),
        name="Monday evening after a Friday admission",
    ),
    discharge(
        "cca.assessment.3-provisional-tp-1bd",
        "not-met",
        PROVISIONAL,
        setting("P6-tp", created="2025-04-08T15:00:00-04:00"),
        name="plan on the second business day",
    ),
    discharge(
        "cca.assessment.3-provisional-tp-1bd",
        "not-met",
        PROVISIONAL,
        previous_episode("P6-tp"),
        name="only the plan of last year's episode",
    ),
    discharge("cca.assessment.3a-goals-measurable", "met", GOALS, name="PHQ-9 below 10 by discharge"),
    discharge(
        "cca.assessment.3a-goals-measurable",
        "not-met",
        GOALS,
        edit("P6-goal", lambda r: r.pop("target")),
        name="goal without a measure or date",
    ),
    discharge(
        "cca.assessment.3b-strengths",
        "met",
        STRENGTHS_TP,
        attested("cca.assessment.3b-strengths", True),
        name="clinician attests",
    ),
    discharge(
        "cca.assessment.3b-strengths",
        "not-met",
        STRENGTHS_TP,
        attested("cca.assessment.3b-strengths", False),
        name="clinician attests no",
    ),
    discharge("cca.assessment.3c-peer-recovery", "met", PEER_TP, name="H0038 in the plan"),
    discharge("cca.assessment.3c-peer-recovery", "not-met", PEER_TP, NO_PEER, name="no peer service in the plan"),
    discharge("cca.assessment.3d-med-eval-mgmt", "met", MEDS_TP, name="99214 in the plan"),
    discharge(
        "cca.assessment.3d-med-eval-mgmt",
        "not-met",
        MEDS_TP,
        plan_activities("P6-tp", "H0038", "G0410", "90834"),
        name="neither in the plan nor referred",
    ),
    discharge("cca.assessment.3e-counseling-combination", "met", COUNSELING, name="group and individual"),
    discharge(
        "cca.assessment.3e-counseling-combination",
        "not-met",
        COUNSELING,
        plan_activities("P6-tp", "H0038", "99214", "G0410"),
        name="group only",
    ),
    discharge(
        "cca.assessment.3f-state-agency",
        "met",
        AGENCY,
        plus(condition("X-agency", ICD, "Z65.3")),
        attested("cca.assessment.3f-state-agency", True),
        name="legal involvement, agency in the plan",
    ),
    discharge("cca.assessment.3f-state-agency", "not-applicable", AGENCY, name="no agency involvement"),
    discharge("cca.assessment.3g-discharge-aftercare-plan", "met", DC_AFTERCARE_TP, name="discharge plan part of TP"),
    discharge(
        "cca.assessment.3g-discharge-aftercare-plan",
        "not-met",
        DC_AFTERCARE_TP,
        setting("P6-dcp", created="2025-04-14T15:30:00-04:00"),
        name="discharge plan a week late",
    ),
    discharge(
        "cca.assessment.3g-discharge-aftercare-plan",
        "not-met",
        DC_AFTERCARE_TP,
        previous_episode("P6-dcp"),
        name="only the discharge plan of last year's episode",
    ),
    discharge("cca.assessment.3h-member-signature-or-refusal", "met", SIGNATURE, name="refusal documented"),
    discharge(
        "cca.assessment.3h-member-signature-or-refusal",
        "not-met",
        SIGNATURE,
        without("P6-tp-consent"),
        name="neither signed nor refused by the deadline",
    ),
    discharge("cca.assessment.4-tp-updated", "met", TP_UPDATED, name="reviewed with the member on 04-18"),
    discharge(
        "cca.assessment.4-tp-updated",
        "not-met",
        TP_UPDATED,
        setting("P6-tp", meta={"lastUpdated": "2025-04-07T15:00:00-04:00"}),
        name="never updated in three weeks",
    ),
    discharge("cca.assessment.5a-hpi", "met", HPI, name="HPI section"),
    discharge("cca.assessment.5a-hpi", "not-met", HPI, without_sections("10164-2", "10154-3"), name="no HPI section"),
    discharge("cca.assessment.5b-pmh", "met", PMH, name="past history section"),
    discharge("cca.assessment.5b-pmh", "not-met", PMH, without_sections("11348-0"), name="no past history"),
    discharge("cca.assessment.5c-family-social-cultural", "met", FAMILY, name="family and social sections, language"),
    discharge(
        "cca.assessment.5c-family-social-cultural",
        "not-met",
        FAMILY,
        without_sections("10157-6"),
        name="no family history",
    ),
    discharge("cca.assessment.5d-substance-use", "met", SUBSTANCE, name="social history and AUDIT-C"),
    discharge(
        "cca.assessment.5d-substance-use",
        "not-met",
        SUBSTANCE,
        without_sections("29762-2"),
        without("P6-auditc"),
        name="no substance use reviewed",
    ),
    discharge("cca.assessment.5e-mse", "met", MSE, name="mental status section"),
    discharge("cca.assessment.5e-mse", "not-met", MSE, without_sections("10190-7"), name="no mental status exam"),
    discharge("cca.assessment.5f-meds-allergies", "met", MEDS_ALLERGIES, name="medication and allergy sections"),
    discharge(
        "cca.assessment.5f-meds-allergies",
        "not-met",
        MEDS_ALLERGIES,
        without_sections("10160-0"),
        name="no medication history",
    ),
    discharge("cca.assessment.5g-dx-formulation", "met", FORMULATION, name="diagnosis and evaluation section"),
    discharge(
        "cca.assessment.5g-dx-formulation",
        "not-met",
        FORMULATION,
        without_sections("51848-0"),
        name="no formulation",
    ),
    discharge("cca.assessment.5h-functioning", "met", FUNCTIONING, name="functional status section"),
    discharge(
        "cca.assessment.5h-functioning", "not-met", FUNCTIONING, without_sections("47420-5"), name="no functioning"
    ),
    discharge(
        "cca.assessment.5i-strengths",
        "met",
        STRENGTHS_ASSESSMENT,
        attested("cca.assessment.5i-strengths", True),
        name="clinician attests",
    ),
    discharge(
        "cca.assessment.5i-strengths",
        "not-met",
        STRENGTHS_ASSESSMENT,
        attested("cca.assessment.5i-strengths", False),
        name="clinician attests no",
    ),
    discharge("cca.assessment.5j-pcp-name", "met", PCP, name="general practitioner recorded"),
    discharge(
        "cca.assessment.5j-pcp-name",
        "not-met",
        PCP,
        edit("P6-patient", lambda r: r.pop("generalPractitioner", None)),
        name="no PCP named",
    ),
    discharge("cca.planning.6-involvement-consent", "met", INVOLVEMENT, name="member and PCP, consent to the PCP"),
    discharge(
        "cca.planning.6-involvement-consent",
        "not-met",
        INVOLVEMENT,
        plus(
            {
                "resourceType": "RelatedPerson",
                "id": "X-daughter",
                "active": True,
                "patient": {"reference": PATIENT},
                "relationship": [coding("http://terminology.hl7.org/CodeSystem/v3-RoleCode", "DAU")],
            }
        ),
        edit("P6-dcp", lambda r: r["contributor"].append({"reference": "RelatedPerson/X-daughter"})),
        name="family on the plan without consent",
    ),
    discharge(
        "cca.documentation.7-daily-progress-notes",
        "met",
        NOTES,
        plus(progress_note(16, "P6-sess-16")),
        name="a note for every day",
    ),
    discharge("cca.documentation.7-daily-progress-notes", "not-met", NOTES, name="no note for 04-16"),
    discharge(
        "cca.documentation.7-daily-progress-notes",
        "unknown",
        NOTES,
        plus({**progress_note(16, "P6-sess-16"), "context": {}}),
        name="a note dated 04-16 linked to no session",
    ),
    # --- discharge planning, community and collateral linkages ---
    discharge("cca.discharge.1-planning-from-admission", "met", DC_PROCESS, name="from day 1, updated 04-23"),
    discharge(
        "cca.discharge.1-planning-from-admission",
        "not-met",
        DC_PROCESS,
        setting("P6-dcp", created="2025-04-23T15:00:00-04:00"),
        name="first discharge plan two days before discharge",
    ),
    discharge(
        "cca.discharge.2-sdoh-in-plan",
        "met",
        SDOH,
        plus(TRANSPORT_DX),
        dcp_addresses("X-transport"),
        name="transportation need addressed",
    ),
    discharge("cca.discharge.2-sdoh-in-plan", "not-met", SDOH, name="transportation need left out"),
    discharge(
        "cca.discharge.2-sdoh-in-plan",
        "not-met",
        SDOH,
        plus(HOUSING_DX),
        dcp_addresses("X-housing"),
        name="housing addressed, transportation left out",
    ),
    discharge(
        "cca.discharge.2-sdoh-in-plan",
        "not-met",
        SDOH,
        plus(TRANSPORT_DX, condition("X-aud", ICD, "F10.20")),
        dcp_addresses("X-transport"),
        name="alcohol use disorder without recovery or relapse services in the plan",
    ),
    discharge(
        "cca.discharge.2-sdoh-in-plan",
        "met",
        SDOH,
        plus(TRANSPORT_DX, condition("X-aud", ICD, "F10.20")),
        dcp_addresses("X-transport", "X-aud"),
        name="transportation and recovery services both in the plan",
    ),
    discharge("cca.discharge.3-aftercare-documented", "met", AFTERCARE_DOCUMENTED, name="aftercare in the plan"),
    discharge(
        "cca.discharge.3-aftercare-documented",
        "not-met",
        AFTERCARE_DOCUMENTED,
        setting("P6-dcp", activity=[]),
        name="plan without aftercare",
    ),
    discharge("cca.discharge.4-plan-given-at-discharge", "met", GIVEN, name="member copy on 04-25"),
    discharge(
        "cca.discharge.4-plan-given-at-discharge",
        "not-met",
        GIVEN,
        setting("P6-instructions", date="2025-04-11T15:45:00-04:00"),
        name="instructions only mid-stay",
    ),
    discharge(
        "cca.discharge.4-plan-given-at-discharge",
        "not-met",
        GIVEN,
        previous_episode("P6-crp"),
        name="crisis information only in last year's plan",
    ),
    discharge(
        "cca.discharge.5-aftercare-appt-7d",
        "met",
        SEVEN_DAYS,
        setting("P6-therapy-appt", start="2025-05-02T17:00:00-04:00", end="2025-05-02T18:00:00-04:00"),
        name="day 7 at 17:00 after a 16:00 discharge",
    ),
    discharge("cca.discharge.5-aftercare-appt-7d", "not-met", SEVEN_DAYS, name="first appointment on day 10"),
    discharge("cca.discharge.6-psych-aftercare-14d", "met", FOURTEEN_DAYS, name="psychiatry on day 12"),
    discharge(
        "cca.discharge.5-aftercare-appt-7d",
        "not-met",
        SEVEN_DAYS,
        plus(
            appointment(
                "X-pcp-appt",
                "2025-04-28T09:00:00-04:00",
                participant=[
                    {"actor": {"reference": PATIENT}, "status": "accepted"},
                    {"actor": {"reference": "Practitioner/P6-pcp"}, "status": "accepted"},
                    {"actor": {"reference": "Location/P6-loc-clinic"}, "status": "accepted"},
                ],
            )
        ),
        name="only a primary-care visit within 7 days",
    ),
    discharge(
        "cca.discharge.6-psych-aftercare-14d",
        "met",
        FOURTEEN_DAYS,
        without("P6-psych-appt"),
        plus(
            {
                "resourceType": "Practitioner",
                "id": "X-pmhnp",
                "active": True,
                "name": [{"family": "Lindqvist", "given": ["Eva"]}],
                "qualification": [{"code": coding("http://nucc.org/provider-taxonomy", "363LP0808X")}],
            },
            appointment(
                "X-np-appt",
                "2025-05-06T11:00:00-04:00",
                participant=[
                    {"actor": {"reference": PATIENT}, "status": "accepted"},
                    {"actor": {"reference": "Practitioner/X-pmhnp"}, "status": "accepted"},
                    {"actor": {"reference": "Location/P6-loc-clinic"}, "status": "accepted"},
                ],
            ),
        ),
        name="psychiatric nurse practitioner on day 11",
    ),
    discharge(
        "cca.discharge.6-psych-aftercare-14d",
        "not-met",
        FOURTEEN_DAYS,
        setting("P6-psych-appt", start="2025-05-12T09:00:00-04:00", end="2025-05-12T09:30:00-04:00"),
        name="psychiatry on day 17",
    ),
    discharge(
        "cca.discharge.6-psych-aftercare-14d",
        "not-met",
        FOURTEEN_DAYS,
        edit("P6-sertraline", lambda r: r.pop("category")),
        without("P6-psych-appt"),
        name="on an uncategorised prescription, no psychiatric appointment",
    ),
    discharge(
        "cca.discharge.6-psych-aftercare-14d",
        "not-applicable",
        FOURTEEN_DAYS,
        without("P6-sertraline"),
        name="not discharged on medication",
    ),
    discharge(
        "cca.discharge.7-transport-cca",
        "met",
        TRANSPORT,
        attested("cca.discharge.7-transport-cca", True),
        name="CCA team contacted",
    ),
    discharge(
        "cca.discharge.7-transport-cca",
        "not-met",
        TRANSPORT,
        attested("cca.discharge.7-transport-cca", False),
        name="clinician attests no",
    ),
    discharge(
        "cca.discharge.7-transport-cca",
        "not-applicable",
        TRANSPORT,
        edit("P6-prapare-transport", lambda r: r.update(valueCodeableConcept=coding(LOINC, "LA32-8"))),
        name="no transportation need",
    ),
    discharge("cca.discharge.8-linkages", "met", LINKAGES, name="referral to an outpatient clinic"),
    discharge(
        "cca.discharge.8-linkages",
        "not-met",
        LINKAGES,
        setting("P6-referral", authoredOn="2025-03-01"),
        name="only a referral from before the stay",
    ),
    # --- expected outcomes and quality management ---
    discharge("cca.quality.outcome-data-in-tp", "met", OUTCOMES, name="PHQ-9 goal in the plan"),
    discharge(
        "cca.quality.outcome-data-in-tp",
        "not-met",
        OUTCOMES,
        edit("P6-tp", lambda r: r.pop("goal")),
        name="scores the plan does not use",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_sentence(case: SentenceCase) -> None:
    check(case)


def test_every_cca_criterion_has_a_pro_and_a_con_case() -> None:
    """All 45 CCA ids have a case the sentence makes met and one it makes not met / not applicable."""
    pro, con = pro_and_con(CASES)
    assert len(pro & con) == 45, sorted((pro | con) - (pro & con))
