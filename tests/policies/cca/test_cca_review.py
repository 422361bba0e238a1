"""CCA: a reviewer's cases read from the specification sentences alone (issue 15), with messy real-shaped data.

Each case is one change from golden patient P6 (discharge hook, or the member before admission signing the order);
it asserts the status the quoted sentence gives and a phrase of the reason. Ordered as the review was: criteria that
can give not-met first, then met from evidence that should not count, then misleading reasons."""

from __future__ import annotations

import copy
import re
from datetime import date, datetime, timedelta
from typing import Any

from sentence_cases import Bundle, SentenceCase, add, by_id, drop, from_golden, sentence_test
from test_cca_sentences import (
    AFTERCARE_DOCUMENTED,
    ATTEND,
    BPS,
    CIWA_AR,
    COUNSELING,
    CRISIS,
    DC_AFTERCARE_TP,
    DC_PROCESS,
    DISCHARGE_AT,
    ENVIRONMENT,
    FOURTEEN_DAYS,
    GIVEN,
    GOALS,
    HOURS_DAYS,
    INVOLVEMENT,
    LINKAGES,
    LOINC,
    MDT,
    MEDS_ACCESS,
    MEDS_TP,
    MSE,
    NOTES,
    OUTCOMES,
    PATIENT,
    PCP,
    PEER_TP,
    PROVISIONAL,
    SDOH,
    SEVEN_DAYS,
    SIGNATURE,
    SUBSTANCE,
    SUD,
    THERAPY,
    TP_UPDATED,
    UNIT,
    Change,
    Resource,
    admission,
    appointment,
    coding,
    condition,
    discharge,
    edit,
    plan_activities,
    plus,
    progress_note,
    score,
    session,
    without,
    without_sections,
)

SNOMED = "http://snomed.info/sct"
NUCC = "http://nucc.org/provider-taxonomy"
CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"


def practitioner(rid: str, taxonomy: str, family: str) -> Resource:
    """A Practitioner qualified only by a NUCC taxonomy code."""
    return {
        "resourceType": "Practitioner",
        "id": rid,
        "active": True,
        "name": [{"family": family}],
        "qualification": [{"code": coding(NUCC, taxonomy)}],
    }


def role(rid: str, practitioner_id: str, taxonomy: str) -> Resource:
    """A PractitionerRole whose code is a NUCC taxonomy (how many directories publish a clinician's discipline)."""
    return {
        "resourceType": "PractitionerRole",
        "id": rid,
        "active": True,
        "practitioner": {"reference": f"Practitioner/{practitioner_id}"},
        "code": [coding(NUCC, taxonomy)],
    }


def aftercare(rid: str, start: str, *actors: str, **extra: Any) -> Resource:
    """A booked appointment with the member, the named actors and the clinic, and no service type or specialty."""
    people = [{"actor": {"reference": a}, "status": "accepted"} for a in (PATIENT, *actors, "Location/P6-loc-clinic")]
    return appointment(rid, start, participant=people, **extra)


def team_of(*members: str) -> Change:
    """The IOP care team lists only these members, with no participant role (the role is on the member)."""
    return edit("P6-team", lambda r: r.update(participant=[{"member": {"reference": m}} for m in members]))


def roles_as_text(bundle: Bundle) -> None:
    """The care team's roles and its members' qualifications are free text only (no code)."""
    for participant in by_id(bundle, "P6-team")["participant"]:
        participant["role"] = [{"text": participant["role"][0]["coding"][0]["display"]}]
    for rid in ("P6-psy", "P6-licsw", "P6-rn"):
        by_id(bundle, rid)["qualification"] = [{"code": {"text": "see credentialing file"}}]


def safety_plan_note(when: str, *, status: str = "current") -> Resource:
    """A safety plan kept as a clinical note (DocumentReference typed 'mental health crisis plan')."""
    return {
        "resourceType": "DocumentReference",
        "id": "X-safety-note",
        "status": status,
        "type": coding(SNOMED, "736253002"),
        "subject": {"reference": PATIENT},
        "date": when,
        "content": [{"attachment": {"contentType": "application/pdf", "title": "Stanley-Brown safety plan"}}],
        "context": {"encounter": [{"reference": "Encounter/P6-sess-07"}]},
    }


def plan_replaced_on(day: str, rid: str = "P6-tp") -> Change:
    """The plan is closed and a new version, written with the member on ``day``, replaces it (never edited in place)."""

    def apply(bundle: Bundle) -> None:
        first = by_id(bundle, rid)
        second = copy.deepcopy(first)
        first.update(status="revoked", meta={"lastUpdated": first["created"]})
        second.update(
            id=f"X-{rid[3:]}-2",
            created=f"{day}T15:00:00-04:00",
            meta={"lastUpdated": f"{day}T15:00:00-04:00"},
            replaces=[{"reference": f"CarePlan/{rid}"}],
        )
        second["period"]["start"] = day
        add(bundle, second)

    return apply


def psychiatry_referral(status: str) -> Resource:
    """A referral for a psychiatric diagnostic evaluation with medical services (CPT 90792)."""
    return {
        "resourceType": "ServiceRequest",
        "id": "X-psych-referral",
        "status": status,
        "intent": "order",
        "subject": {"reference": PATIENT},
        "authoredOn": "2025-04-09",
        "code": coding(CPT, "90792"),
    }


def activities_by_reference(bundle: Bundle) -> None:
    """The treatment plan's activities are references to ServiceRequests carrying the codes (no activity.detail)."""
    plan = by_id(bundle, "P6-tp")
    for n, activity in enumerate(plan["activity"]):
        request = {
            "resourceType": "ServiceRequest",
            "id": f"X-tp-activity-{n}",
            "status": "active",
            "intent": "plan",
            "subject": {"reference": PATIENT},
            "authoredOn": "2025-04-07",
            "code": activity["detail"]["code"],
        }
        add(bundle, request)
    plan["activity"] = [{"reference": {"reference": f"ServiceRequest/X-tp-activity-{n}"}} for n in range(4)]


def transport_screened_on(day: str, answer: str) -> Change:
    """Another PRAPARE transportation item (93030-5), answered on ``day`` (LA30133-5 yes / LA32-8 no)."""
    item: Resource = {
        "resourceType": "Observation",
        "id": f"X-transport-{day}",
        "status": "final",
        "code": coding(LOINC, "93030-5"),
        "subject": {"reference": PATIENT},
        "effectiveDateTime": f"{day}T10:00:00-04:00",
        "valueCodeableConcept": coding(LOINC, answer),
    }
    return plus(item)


def transport_referral_in_plan(bundle: Bundle) -> None:
    """The discharge plan's activity references a referral made for the PRAPARE transportation finding."""
    referral = {
        "resourceType": "ServiceRequest",
        "id": "X-rides",
        "status": "active",
        "intent": "order",
        "subject": {"reference": PATIENT},
        "authoredOn": "2025-04-23",
        "code": {"text": "CCA non-emergency medical transportation"},
        "reasonReference": [{"reference": "Observation/P6-prapare-transport"}],
    }
    add(bundle, referral)
    by_id(bundle, "P6-dcp")["activity"].append({"reference": {"reference": "ServiceRequest/X-rides"}})


SUD_ASSESSMENT: Resource = {  # how Synthea and many EHRs record it: a SNOMED-coded procedure at intake
    "resourceType": "Procedure",
    "id": "X-sud-assessment",
    "status": "completed",
    "code": coding(SNOMED, "428211000124100"),
    "subject": {"reference": PATIENT},
    "encounter": {"reference": "Encounter/P6-sess-04"},
    "performedDateTime": "2025-04-04T18:30:00Z",
}

INDIVIDUAL_VISIT: Resource = {  # a 45-minute psychotherapy visit filed under the program Encounter
    **session(15, "10:00", "10:45"),
    "id": "X-individual-visit",
    "type": [coding(CPT, "90834")],
}


def signed_plan(when: str, signer: str) -> Resource:
    """The treatment plan as a scanned document (LOINC 18776-5), authenticated by ``signer``, about CarePlan P6-tp."""
    return {
        "resourceType": "DocumentReference",
        "id": "X-signed-plan",
        "status": "current",
        "type": coding(LOINC, "18776-5"),
        "subject": {"reference": PATIENT},
        "date": when,
        "authenticator": {"reference": signer},
        "content": [{"attachment": {"contentType": "application/pdf", "title": "Treatment plan, signed"}}],
        "context": {"related": [{"reference": "CarePlan/P6-tp"}]},
    }


PSYCHIATRIC_EVALUATION: Resource = {  # CPT 90792 by the program psychiatrist on day 2: recorded as a service only
    "resourceType": "Procedure",
    "id": "X-psychiatric-evaluation",
    "status": "completed",
    "code": coding(CPT, "90792"),
    "subject": {"reference": PATIENT},
    "encounter": {"reference": "Encounter/P6-sess-07"},
    "performedDateTime": "2025-04-07T14:00:00-04:00",
    "performer": [{"actor": {"reference": "Practitioner/P6-psy"}}],
}

ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"


def relative_on_plan(relationship: str) -> Change:
    """A family member (v3 RoleCode ``relationship``) contributes to the discharge plan."""

    def apply(bundle: Bundle) -> None:
        person = {
            "resourceType": "RelatedPerson",
            "id": "X-relative",
            "active": True,
            "patient": {"reference": PATIENT},
            "relationship": [coding(ROLE_CODE, relationship)],
        }
        add(bundle, person)
        by_id(bundle, "P6-dcp")["contributor"].append({"reference": "RelatedPerson/X-relative"})

    return apply


def family_consent(provision: dict[str, Any]) -> Resource:
    """A privacy consent in force (given at admission) with this provision."""
    return {
        "resourceType": "Consent",
        "id": "X-family-consent",
        "status": "active",
        "scope": coding("http://terminology.hl7.org/CodeSystem/consentscope", "patient-privacy"),
        "category": [coding(LOINC, "64292-6")],
        "patient": {"reference": PATIENT},
        "dateTime": "2025-04-04",
        "provision": provision,
    }


RELATIVE_AS_RECIPIENT = [{"reference": {"reference": "RelatedPerson/X-relative"}}]
NESTED_PERMIT = {"type": "permit", "provision": [{"type": "permit", "actor": RELATIVE_AS_RECIPIENT}]}

ICD = "http://hl7.org/fhir/sid/icd-10-cm"
ALCOHOL_USE_DISORDER = condition("X-aud", ICD, "F10.20")


def sud_referral(authored: str, status: str = "active") -> Resource:
    """A referral to a structured outpatient addiction program (HCPCS H0015) at the outpatient clinic."""
    return {
        "resourceType": "ServiceRequest",
        "id": "X-soap-referral",
        "status": status,
        "intent": "order",
        "subject": {"reference": PATIENT},
        "authoredOn": authored,
        "code": coding(HCPCS, "H0015"),
        "performer": [{"reference": "Organization/P6-clinic"}],
    }


def one_week_stay(bundle: Bundle) -> None:
    """P6 discharged after its first week (Fri 04-11 16:00): the plan of Monday 04-07 never revised since."""
    for prefix in ("P6-sess-", "P6-group-", "P6-note-", "P6-ind-", "P6-fam-"):
        drop(bundle, lambda r, p=prefix: r.get("id", "").startswith(p) and int(r["id"][len(p) :][:2]) > 11)
    by_id(bundle, "P6-prog")["period"]["end"] = "2025-04-11T16:00:00-04:00"
    for rid in ("P6-tp", "P6-dcp"):
        plan = by_id(bundle, rid)
        plan["meta"] = {"lastUpdated": plan["created"]}


def discharged_after_one_week(criterion: str, expect: str, quote: str, name: str) -> SentenceCase:
    """A case on P6 discharged after one week, at its discharge hook."""
    return SentenceCase(
        criterion=criterion,
        expect=expect,
        quote=quote,
        build=from_golden("P6", one_week_stay),
        hook="encounter-discharge",
        at="2025-04-11T16:05:00-04:00",
        policy="cca",
        encounter_id="P6-prog",
        name=name,
    )


def groups_of_04_09_filed(on: str | None) -> Change:
    """The two groups of Wed 04-09 filed against ``on`` (the program Encounter) or against no encounter."""

    def apply(bundle: Bundle) -> None:
        for rid in ("P6-group-09-1", "P6-group-09-2"):
            group = by_id(bundle, rid)
            if on is None:
                group.pop("encounter")
            else:
                group["encounter"] = {"reference": on}

    return apply


def plan_carried_forward(bundle: Bundle) -> None:
    """The provisional plan replaces last year's plan (carried forward at admission) and is never edited since."""
    plan = by_id(bundle, "P6-tp")
    last_year = copy.deepcopy(plan)
    last_year.update(
        id="X-tp-2024",
        created="2024-10-02T15:00:00-04:00",
        status="revoked",
        meta={"lastUpdated": "2024-10-20T15:00:00-04:00"},
        period={"start": "2024-10-02", "end": "2024-10-24"},
    )
    add(bundle, last_year)
    plan.update(replaces=[{"reference": "CarePlan/X-tp-2024"}], meta={"lastUpdated": plan["created"]})


_DATED = re.compile(r"^(\d{4}-\d{2}-\d{2})(.*)$")


def _shifted(node: Any, days: int) -> Any:
    if isinstance(node, dict):
        return {k: v if k in ("id", "reference") else _shifted(v, days) for k, v in node.items()}
    if isinstance(node, list):
        return [_shifted(v, days) for v in node]
    if isinstance(node, str) and (match := _DATED.match(node)):
        return (date.fromisoformat(match.group(1)) + timedelta(days=days)).isoformat() + match.group(2)
    return node


def two_weeks_later(*changes: Change) -> Change:
    """The whole P6 record two weeks later (admission Fri 2025-04-18; Mon 04-21 is Patriots' Day), then ``changes``."""

    def apply(bundle: Bundle) -> None:
        bundle["entry"] = [{"resource": _shifted(e["resource"], 14)} for e in bundle["entry"]]
        for change in changes:
            change(bundle)

    return apply


def discharged_two_weeks_later(criterion: str, expect: str, quote: str, *changes: Change, name: str) -> SentenceCase:
    """A case on the P6 record moved two weeks later, at its discharge hook."""
    at = (datetime.fromisoformat(DISCHARGE_AT) + timedelta(days=14)).isoformat()
    return SentenceCase(
        criterion=criterion,
        expect=expect,
        quote=quote,
        build=from_golden("P6", two_weeks_later(*changes)),
        hook="encounter-discharge",
        at=at,
        policy="cca",
        encounter_id="P6-prog",
        name=name,
    )


def activities_cancelled(rid: str, *codes: str) -> Change:
    """The plan's activities with these codes (all when none given) are cancelled."""

    def apply(plan: Resource) -> None:
        for activity in plan["activity"]:
            if not codes or activity["detail"]["code"]["coding"][0]["code"] in codes:
                activity["detail"]["status"] = "cancelled"

    return edit(rid, apply)


NO_MED_MANAGEMENT = plan_activities("P6-tp", "H0038", "G0410", "90834")
DX = "Condition/P6-dx"
PCP_NAME = "Dr. Lena Grant, Grant Family Medicine"
LMHC = practitioner("X-lmhc", "101YM0800X", "Ortiz")


def second_record(day: int, start: str, end: str) -> Resource:
    """Another session record on an attended day (a morning block beside the afternoon one): a different start."""
    return {**session(day, start, end), "id": f"X-sess-{day:02d}-{start[:2]}"}


SERVICE_START = "2025-04-04T19:00:00Z"  # the evaluation session on the day of admission, stored in UTC


CASES: list[tuple[SentenceCase, str]] = [
    # --- criteria that can give not-met -------------------------------------------------------------------------
    # "their biomedical condition is stable enough to be managed in an outpatient setting": a CIWA-Ar of 22 entered
    # in error is no finding of severe withdrawal (was not-met); the same score in force is.
    (
        admission(
            "cca.eligibility.stable-environment-biomedical", "unknown", ENVIRONMENT,
            plus({**score("X-ciwa", CIWA_AR, 22, "2025-04-03T11:30:00Z"), "status": "entered-in-error"}),
            name="CIWA-Ar 22 this morning, entered in error",
        ),
        "needs a clinician's attestation",
    ),
    (
        admission(
            "cca.eligibility.stable-environment-biomedical", "not-met", ENVIRONMENT,
            plus(score("X-ciwa", CIWA_AR, 22, "2025-04-03T11:30:00Z")),
            name="CIWA-Ar 22 this morning, stored in UTC",
        ),
        "current evidence of severe withdrawal: Observation/X-ciwa (2025-04-03 07:30 -04:00)",
    ),
    # "establish a provisional treatment plan within one business day of admission": local business days in the
    # Massachusetts calendar (Patriots' Day is a holiday), the plan's time read in UTC as stored. (These held.)
    (
        discharged_two_weeks_later(
            "cca.assessment.3-provisional-tp-1bd", "met", PROVISIONAL,
            edit("P6-tp", lambda r: r.update(created="2025-04-22T15:00:00-04:00")),
            name="Friday admission, Patriots' Day Monday, plan on Tuesday",
        ),
        "due by 2025-04-22 23:59 -04:00",
    ),
    (
        discharged_two_weeks_later(
            "cca.assessment.3-provisional-tp-1bd", "not-met", PROVISIONAL,
            edit("P6-tp", lambda r: r.update(created="2025-04-23T09:00:00-04:00")),
            name="Friday admission, Patriots' Day Monday, plan on Wednesday",
        ),
        "after the due time 2025-04-22 23:59 -04:00",
    ),
    (
        discharge(
            "cca.assessment.3-provisional-tp-1bd", "met", PROVISIONAL,
            edit("P6-tp", lambda r: r.update(created="2025-04-08T01:30:00Z")),
            name="plan Monday 21:30 Boston, stored in UTC as Tuesday",
        ),
        "at 2025-04-07 21:30 -04:00, due by 2025-04-07 23:59 -04:00",
    ),
    (
        discharge(
            "cca.assessment.3-provisional-tp-1bd", "not-met", PROVISIONAL,
            edit("P6-tp", lambda r: r.update(created="2025-04-08T04:30:00Z")),
            name="plan Tuesday 00:30 Boston, stored in UTC",
        ),
        "after the due time 2025-04-07 23:59 -04:00",
    ),
    # "Bio-psychosocial evaluation" within one business day: an evaluation note without a `date` is placed by the
    # service it documents (context.period; was not-met) ...
    (
        discharge(
            "cca.components.01-bps-eval", "met", BPS,
            edit("P6-assessment", lambda r: (r.pop("date"), r["context"].update(period={"start": SERVICE_START}))),
            name="evaluation note dated only by its service period",
        ),
        "at 2025-04-04 15:00 -04:00",
    ),
    # ... and one with no time at all is recorded, so whether it was in time cannot be judged (was not-met).
    (
        discharge(
            "cca.components.01-bps-eval", "unknown", BPS, edit("P6-assessment", lambda r: r.pop("date")),
            name="evaluation note with no time",
        ),
        "DocumentReference/P6-assessment with no recorded time",
    ),
    # ... a plan in force recorded with no time at all (no created, no period) is a plan: whether it was set within
    # the business day cannot be judged (was not-met, "an undated CarePlan reads as no treatment plan").
    (
        discharge(
            "cca.assessment.3-provisional-tp-1bd", "unknown", PROVISIONAL,
            edit("P6-tp", lambda r: [r.pop(k, None) for k in ("created", "period")]),
            name="plan in force with no created and no period",
        ),
        "CarePlan/P6-tp with no recorded time",
    ),
    # "Participation should attend three times per week at a minimum" / "three to five days per week": attendance
    # is counted in days; two records of one day are one day (a morning and an afternoon block).
    (
        discharge(
            "cca.intensity.2-attend-3x-week", "not-met", ATTEND,
            without("P6-sess-21"), plus(second_record(23, "09:00", "12:00")),
            name="week 3: two days, one of them recorded twice (was met)",
        ),
        "2 × IOP session on distinct days between 2025-04-18 and 2025-04-24 (at least 3 needed)",
    ),
    (
        discharge(
            "cca.intensity.1-3h-3to5-days", "met", HOURS_DAYS,
            plus(session(15), session(17), second_record(14, "09:00", "12:00")),
            name="week 2: five days, one with a morning and an afternoon block (was not-met: 6 sessions)",
        ),
        "IOP session in each of 3 windows of 7 days",
    ),
    # "IOPs must offer at least 3 hours per day" / "one unit is equal to three hours and minimum of two groups": an
    # individual psychotherapy visit filed under the program is not a program day (was not-met: a 45-minute session).
    (
        discharge(
            "cca.intensity.1-3h-3to5-days", "met", HOURS_DAYS, plus(INDIVIDUAL_VISIT),
            name="a 45-minute individual therapy visit under the program",
        ),
        "all 10 IOP session qualify",
    ),
    (
        discharge(
            "cca.intensity.3-unit-2-groups", "met", UNIT, plus(INDIVIDUAL_VISIT),
            name="a 45-minute individual therapy visit under the program",
        ),
        "all 10 IOP session qualify",
    ),
    # "minimum of two groups": the 04-09 groups filed against the program Encounter (or none) may be that session's
    # groups; the session beside its individual therapy is undecided, not short of groups (was not-met).
    (
        discharge(
            "cca.intensity.3-unit-2-groups", "unknown", UNIT, groups_of_04_09_filed("Encounter/P6-prog"),
            name="the 04-09 groups filed against the program Encounter",
        ),
        "Encounter/P6-sess-09",
    ),
    (
        discharge(
            "cca.intensity.3-unit-2-groups", "unknown", UNIT, groups_of_04_09_filed(None),
            name="the 04-09 groups filed against no encounter",
        ),
        "Encounter/P6-sess-09",
    ),
    (
        discharge(
            "cca.intensity.1-3h-3to5-days", "not-met", HOURS_DAYS,
            plus(session(12), session(15), session(17)),
            name="week 2: six days",
        ),
        "6 × IOP session on distinct days between 2025-04-11 and 2025-04-17 (at most 5)",
    ),
    # "At least one after-care appointment is scheduled within 7 days": the sentence asks for an after-care
    # appointment, not a coded service type; a counsellor's appointment on day 3 is one (was not-met).
    (
        discharge(
            "cca.discharge.5-aftercare-appt-7d", "met", SEVEN_DAYS,
            plus(LMHC, aftercare("X-counselling", "2025-04-28T10:00:00-04:00", "Practitioner/X-lmhc")),
            name="mental health counsellor on day 3, no service type",
        ),
        "at 2025-04-28 10:00 -04:00, due by 2025-05-02 23:59 -04:00",
    ),
    (
        discharge(
            "cca.discharge.5-aftercare-appt-7d", "met", SEVEN_DAYS,
            plus(aftercare("X-followup", "2025-04-29T10:00:00-04:00", reasonReference=[{"reference": DX}])),
            name="follow-up for the depression on day 4, no service type",
        ),
        "at 2025-04-29 10:00 -04:00",
    ),
    (
        discharge(
            "cca.discharge.5-aftercare-appt-7d", "met", SEVEN_DAYS,
            edit("P6-therapy-appt", lambda r: r.update(start="2025-05-03T01:30:00Z", end="2025-05-03T02:20:00Z")),
            name="day 7 at 21:30 Boston, stored in UTC as day 8",
        ),
        "at 2025-05-02 21:30 -04:00",
    ),
    (
        discharge(
            "cca.discharge.5-aftercare-appt-7d", "not-met", SEVEN_DAYS,
            edit("P6-therapy-appt", lambda r: r.update(start="2025-04-29T10:00:00-04:00", status="cancelled")),
            name="the only appointment within 7 days was cancelled",
        ),
        "after the due time 2025-05-02 23:59 -04:00",
    ),
    (
        discharge(
            "cca.discharge.5-aftercare-appt-7d", "not-met", SEVEN_DAYS,
            edit("P6-therapy-appt", lambda r: r.update(start="2025-04-29T10:00:00-04:00", status="proposed")),
            name="a proposed appointment is not scheduled",
        ),
        "after the due time",
    ),
    # "at least one psychiatric aftercare appointment must be scheduled within 14 days": the appointment may name
    # the psychiatrist's PractitionerRole rather than the Practitioner (was not-met).
    (
        discharge(
            "cca.discharge.6-psych-aftercare-14d", "met", FOURTEEN_DAYS,
            without("P6-psych-appt"),
            plus(
                role("X-psy-role", "P6-outpt-psy", "2084P0800X"),
                aftercare("X-psych", "2025-05-06T10:00:00-04:00", "PractitionerRole/X-psy-role"),
            ),
            name="psychiatrist named by a PractitionerRole on day 11",
        ),
        "psychiatric aftercare appointment at 2025-05-06 10:00 -04:00",
    ),
    # "A multi-disciplinary treatment team has been assigned to each member": disciplines may be coded on the
    # PractitionerRole the team names (was not-met); roles in free text are not evidence of a single discipline.
    (
        discharge(
            "cca.assessment.2-mdt-assigned", "met", MDT,
            plus(role("X-psy-role", "P6-psy", "2084P0800X"), role("X-sw-role", "P6-licsw", "1041C0700X")),
            team_of("PractitionerRole/X-psy-role", "PractitionerRole/X-sw-role"),
            name="team of PractitionerRoles, psychiatrist and LICSW",
        ),
        "CareTeam/P6-team",
    ),
    (
        discharge(
            "cca.assessment.2-mdt-assigned", "unknown", MDT, roles_as_text,
            name="team of three with roles in free text",
        ),
        "no care team with at least two of clinician, nurse and psychiatrist",
    ),
    (
        discharge(
            "cca.assessment.2-mdt-assigned", "not-met", MDT, without("P6-team"),
            name="no care team for this stay",
        ),
        "no care team assigned for this stay found in the record",
    ),
    # "Development and/or updating of crisis prevention plan, and/or safety plan": the plan is the document,
    # wherever the EHR keeps it; a safety-plan note of this stay develops one (was not-met).
    (
        discharge(
            "cca.components.03-crisis-safety-plan", "met", CRISIS,
            without("P6-crp"), plus(safety_plan_note("2025-04-08T01:30:00Z")),
            name="safety plan written as a note, Monday evening in UTC",
        ),
        "DocumentReference/X-safety-note",
    ),
    (
        discharge(
            "cca.components.03-crisis-safety-plan", "not-met", CRISIS,
            without("P6-crp"), plus(safety_plan_note("2024-10-08T10:00:00-04:00")),
            name="only a safety-plan note of last year's episode",
        ),
        "found in the record",
    ),
    (
        discharge(
            "cca.components.03-crisis-safety-plan", "not-met", CRISIS,
            without("P6-crp"), plus(safety_plan_note("2025-04-08T10:00:00-04:00", status="entered-in-error")),
            name="safety-plan note entered in error",
        ),
        "found in the record",
    ),
    # "emergency and crisis information is given to the Member ... at the time of discharge": this stay's safety-
    # plan note is the crisis information (was not-met).
    (
        discharge(
            "cca.discharge.4-plan-given-at-discharge", "met", GIVEN,
            without("P6-crp"), plus(safety_plan_note("2025-04-23T14:00:00-04:00")),
            name="crisis information in this stay's safety-plan note",
        ),
        "DocumentReference/X-safety-note",
    ),
    # "The discharge plan including ... appointment times and locations ... is given to the Member": appointments
    # recorded without a Location (a telehealth visit) do not show that the handout lacked them (was not-met); no
    # aftercare appointment at all, or nothing given at discharge, does.
    (
        discharge(
            "cca.discharge.4-plan-given-at-discharge", "unknown", GIVEN,
            edit("P6-therapy-appt", lambda r: r.update(participant=r["participant"][:1])),
            edit("P6-psych-appt", lambda r: r.update(participant=r["participant"][:2])),
            name="telehealth aftercare appointments with no Location",
        ),
        "no aftercare appointment with its time and location found in the record",
    ),
    (
        discharge(
            "cca.discharge.4-plan-given-at-discharge", "not-met", GIVEN, without("P6-therapy-appt", "P6-psych-appt"),
            name="no aftercare appointment to give",
        ),
        "no behavioral-health aftercare appointment found in the record",
    ),
    # "The treatment plan will be updated as clinically appropriate with the Member": a new version that replaces
    # the provisional plan, written with the member, is an update (was not-met: only in-place edits counted).
    (
        discharge(
            "cca.assessment.4-tp-updated", "met", TP_UPDATED, plan_replaced_on("2025-04-18"),
            name="new plan version replaces the provisional plan on 04-18",
        ),
        "CarePlan/X-tp-2",
    ),
    (
        discharge(
            "cca.assessment.3-provisional-tp-1bd", "met",
            "establish a provisional treatment plan within one business day of admission",
            plan_replaced_on("2025-04-18"),
            name="the provisional plan replaced later still counts for the deadline",
        ),
        "due by 2025-04-07 23:59 -04:00",
    ),
    # "Member's signature or documentation of refusal to sign the treatment plan": the plan document authenticated
    # by the member is the signature (was not-met: only a Consent counted); one signed by the clinician is not.
    (
        discharge(
            "cca.assessment.3h-member-signature-or-refusal", "met", SIGNATURE,
            without("P6-tp-consent"), plus(signed_plan("2025-04-07T20:45:00Z", PATIENT)),
            name="plan document signed by the member Monday evening (UTC)",
        ),
        "at 2025-04-07 16:45 -04:00, due by 2025-04-07 23:59 -04:00",
    ),
    (
        discharge(
            "cca.assessment.3h-member-signature-or-refusal", "not-met", SIGNATURE,
            without("P6-tp-consent"), plus(signed_plan("2025-04-07T20:45:00Z", "Practitioner/P6-licsw")),
            name="plan document signed only by the clinician",
        ),
        "no member's signature on the treatment plan, or the documented refusal by 2025-04-07 23:59 -04:00",
    ),
    # "assessments ... include ... Mental status exam": the intake's coded sections lack it, but a psychiatric
    # evaluation recorded only as a service may hold it (was not-met); without that evaluation it stays not-met.
    (
        discharge(
            "cca.assessment.5e-mse", "unknown", MSE, without_sections("10190-7"), plus(PSYCHIATRIC_EVALUATION),
            name="no MSE section, psychiatric evaluation 90792 on day 2",
        ),
        "no assessment with a mental status examination found in the record",
    ),
    # "Proper consent must be documented in the member's record": a consent naming the daughter in a nested
    # provision is documented consent (was not-met); a guardian is the member's legal representative, not a third
    # party needing the member's consent (was not-met); a consent that ended in 2024 is none.
    (
        discharge(
            "cca.planning.6-involvement-consent", "met", INVOLVEMENT,
            relative_on_plan("DAU"), plus(family_consent(NESTED_PERMIT)),
            name="daughter on the plan, consent in a nested permit",
        ),
        "RelatedPerson/X-relative",
    ),
    (
        discharge(
            "cca.planning.6-involvement-consent", "met", INVOLVEMENT, relative_on_plan("GUARD"),
            name="guardian on the plan, no privacy consent for the guardian",
        ),
        "RelatedPerson/X-relative",
    ),
    (
        discharge(
            "cca.planning.6-involvement-consent", "not-met", INVOLVEMENT, relative_on_plan("DAU"),
            plus(family_consent({"type": "permit", "period": {"end": "2024-12-31"}, "actor": RELATIVE_AS_RECIPIENT})),
            name="daughter on the plan, consent ended in 2024",
        ),
        "without a consent to share information: RelatedPerson/X-relative",
    ),
    # "The treatment plan will be updated as clinically appropriate", "continuous throughout treatment with updates
    # as necessary and clinically appropriate": a plan four days old at a one-week discharge, never revised, is no
    # evidence that an update was needed (was not-met); over three weeks it is (the sentence cases keep not-met).
    (
        discharged_after_one_week(
            "cca.assessment.4-tp-updated", "unknown", TP_UPDATED, name="one-week stay, plan never revised"
        ),
        "no treatment plan updated with the member or family found in the record",
    ),
    (
        discharged_after_one_week(
            "cca.discharge.1-planning-from-admission", "unknown", DC_PROCESS,
            name="one-week stay, discharge plan never revised",
        ),
        "no discharge plan updated during the stay found in the record",
    ),
    # "incorporate the data in treatment plans": a plan goal that names its measure (PHQ-9) only in text may be built
    # on the scores (was not-met); a plan without goals stays not-met (sentence cases).
    (
        discharge(
            "cca.quality.outcome-data-in-tp", "unknown", OUTCOMES,
            edit("P6-goal", lambda r: (r["target"][0].update(measure={"text": "PHQ-9"}), r.pop("outcomeReference"))),
            name="goal measure PHQ-9 in text only",
        ),
        "no treatment plan built on outcome data found in the record",
    ),
    # "Individual, group, and family therapy" is the program's scope; for the member the plan asks "A combination of
    # individual, group or family counseling based on the Member's needs": group and family therapy without
    # individual sessions is not a failure (was not-met); group therapy alone is.
    (
        discharge(
            "cca.components.05-therapy-ind-group-family", "unknown", THERAPY, without("P6-ind-09", "P6-ind-16"),
            name="group and family therapy, no individual sessions",
        ),
        "no individual psychotherapy during the stay found in the record",
    ),
    (
        discharge(
            "cca.components.05-therapy-ind-group-family", "not-met", THERAPY,
            without("P6-ind-09", "P6-ind-16", "P6-fam-18"),
            name="group therapy only",
        ),
        "no individual psychotherapy during the stay found in the record",
    ),
    # "daily progress notes on days of attendance": a note of that day filed against the program Encounter instead
    # of the session may be that day's note: unknown, not not-met.
    (
        discharge(
            "cca.documentation.7-daily-progress-notes", "unknown", NOTES,
            plus({**progress_note(16, "P6-sess-16"), "context": {"encounter": [{"reference": "Encounter/P6-prog"}]}}),
            name="the 04-16 note filed against the program Encounter",
        ),
        "Encounter/P6-sess-16",
    ),
    # "Goals, expected outcomes, and time frames ... should be measurable": a target with a value and a due date is
    # measurable whether its measure is coded or named in text (was not-met).
    (
        discharge(
            "cca.assessment.3a-goals-measurable", "met", GOALS,
            edit("P6-goal", lambda r: r["target"][0].update(measure={"text": "PHQ-9 total score"})),
            name="PHQ-9 below 10 by discharge, the measure in text",
        ),
        "CarePlan/P6-tp",
    ),
    # "Peer and Recovery support services", "A combination of individual, group or family counseling": the plan's
    # activities may be references to the ServiceRequests that order them (was not-met).
    (
        discharge(
            "cca.assessment.3c-peer-recovery", "met", PEER_TP, activities_by_reference,
            name="H0038 ordered by a ServiceRequest the plan references",
        ),
        "treatment plan with peer or recovery support: CarePlan/P6-tp",
    ),
    (
        discharge(
            "cca.assessment.3e-counseling-combination", "met", COUNSELING, activities_by_reference,
            name="90834 and G0410 ordered by ServiceRequests the plan references",
        ),
        "treatment plan with group counseling: CarePlan/P6-tp",
    ),
    # "a provisional treatment plan within one business day of admission that includes ... A detailed discharge and
    # after-care plan": a discharge plan written in time but not linked to the treatment plan may be its discharge
    # part (was not-met); none in time is not met.
    (
        discharge(
            "cca.assessment.3g-discharge-aftercare-plan", "unknown", DC_AFTERCARE_TP,
            edit("P6-dcp", lambda r: r.pop("partOf")),
            name="discharge plan on Monday, not linked to the treatment plan",
        ),
        "no discharge and aftercare plan that is part of the treatment plan by 2025-04-07 23:59 -04:00",
    ),
    (
        discharge(
            "cca.assessment.3g-discharge-aftercare-plan", "not-met", DC_AFTERCARE_TP,
            edit("P6-dcp", lambda r: (r.pop("partOf"), r.update(created="2025-04-14T15:30:00-04:00"))),
            name="unlinked discharge plan a week late",
        ),
        "after the due time 2025-04-07 23:59 -04:00",
    ),
    # "Discharge is a planned process ... continuous throughout treatment with updates": a new version of the
    # discharge plan that replaces the first is an update (was not-met).
    (
        discharge(
            "cca.discharge.1-planning-from-admission", "met", DC_PROCESS, plan_replaced_on("2025-04-23", "P6-dcp"),
            name="discharge plan replaced by a new version on 04-23",
        ),
        "discharge plan updated during the stay: CarePlan/X-dcp-2",
    ),
    # "Discharge plans should include ... Members' social risk factors including those related to ... transportation":
    # a risk is the member's risk now. A positive item older than a negative re-screen is contested (a clinician
    # confirms), not a risk the plan failed to include (was not-met); the newer positive still is one.
    (
        discharge(
            "cca.discharge.2-sdoh-in-plan", "unknown", SDOH,
            transport_screened_on("2025-03-10", "LA30133-5"),
            edit("P6-prapare-transport", lambda r: r.update(valueCodeableConcept=coding(LOINC, "LA32-8"))),
            name="transportation need in March, none on the 04-07 re-screen",
        ),
        "the newer assessment Observation/P6-prapare-transport (2025-04-07 14:00 -04:00) found none",
    ),
    (
        discharge(
            "cca.discharge.2-sdoh-in-plan", "not-met", SDOH, transport_screened_on("2025-03-10", "LA32-8"),
            name="no need in March, transportation need on 04-07, not in the plan",
        ),
        "current evidence of transportation need: Observation/P6-prapare-transport",
    ),
    # The plan includes the risk when it references the referral made for it (was not-met).
    (
        discharge(
            "cca.discharge.2-sdoh-in-plan", "met", SDOH, transport_referral_in_plan,
            name="transportation referral referenced by the discharge plan",
        ),
        "discharge plan addressing transportation: CarePlan/P6-dcp",
    ),
    # "Name of PCP": the PCP named only by a display (no reference) is named (was not-met).
    (
        discharge(
            "cca.assessment.5j-pcp-name", "met", PCP,
            edit("P6-patient", lambda r: r.update(generalPractitioner=[{"display": PCP_NAME}])),
            name="PCP as a display only",
        ),
        "member's primary care provider: Patient/P6-patient",
    ),
    # "Substance use assessment and treatment services" / "Current substance abuse": an assessment of substance use
    # coded in SNOMED CT on the day of admission is the assessment (components.10 was unknown, 5d not-met).
    (
        discharge(
            "cca.components.10-sud-assessment", "met", SUD,
            without("P6-auditc"), without_sections("29762-2"), plus(SUD_ASSESSMENT),
            name="SNOMED assessment of substance use on day 1, no AUDIT-C",
        ),
        "substance use screening or assessment at 2025-04-04 14:30 -04:00",
    ),
    (
        discharge(
            "cca.assessment.5d-substance-use", "met", SUBSTANCE,
            without("P6-auditc"), without_sections("29762-2"), plus(SUD_ASSESSMENT),
            name="SNOMED assessment of substance use, no social history section",
        ),
        "Procedure/X-sud-assessment",
    ),
    # "Substance use assessment and treatment services": a referral of this stay to an outpatient addiction program
    # is treatment arranged (was not-met); a 2024 referral, or a draft, is not.
    (
        discharge(
            "cca.components.10-sud-assessment", "met", SUD,
            plus(ALCOHOL_USE_DISORDER, sud_referral("2025-04-22")),
            name="alcohol use disorder, referral to a SOAP on 04-22",
        ),
        "due by 2025-04-07 23:59 -04:00",
    ),
    (
        discharge(
            "cca.components.10-sud-assessment", "not-met", SUD,
            plus(ALCOHOL_USE_DISORDER, sud_referral("2024-03-01")),
            name="alcohol use disorder, only a 2024 referral",
        ),
        "no substance use treatment delivered, planned or referred in the stay found in the record",
    ),
    (
        discharge(
            "cca.components.10-sud-assessment", "not-met", SUD,
            plus(ALCOHOL_USE_DISORDER, sud_referral("2025-04-22", status="draft")),
            name="alcohol use disorder, only a draft referral",
        ),
        "no substance use treatment delivered, planned or referred in the stay found in the record",
    ),
    # "Provision of access to medication evaluation and medication management": the IOP psychiatrist's prescription
    # written in the stay is medication management delivered (was not-met); a PCP's prescription is not.
    (
        discharge(
            "cca.components.08-med-eval-access", "met", MEDS_ACCESS, NO_MED_MANAGEMENT,
            name="sertraline prescribed by the IOP psychiatrist on 04-25, no 99214 recorded",
        ),
        "nurse practitioner in this stay: MedicationRequest/P6-sertraline",
    ),
    (
        discharge(
            "cca.components.08-med-eval-access", "not-met", MEDS_ACCESS, NO_MED_MANAGEMENT,
            edit("P6-sertraline", lambda r: r.update(requester={"reference": "Practitioner/P6-pcp"})),
            name="sertraline prescribed by the PCP, no 99214 recorded",
        ),
        "no prescription by a psychiatrist or psychiatric nurse practitioner in this stay found in the record",
    ),
    (
        discharge(
            "cca.components.08-med-eval-access", "not-met", MEDS_ACCESS, NO_MED_MANAGEMENT,
            edit("P6-sertraline", lambda r: r.update(authoredOn="2025-04-03")),
            name="sertraline prescribed by a psychiatrist the day before admission",
        ),
        "no prescription by a psychiatrist or psychiatric nurse practitioner in this stay found in the record",
    ),
    # "The provider will develop linkages to outside referrals": a referral naming only the clinic location it sends
    # the member to (no category, no performer) is one (was not-met).
    (
        discharge(
            "cca.discharge.8-linkages", "met", LINKAGES,
            edit("P6-referral", lambda r: (r.pop("category"), r.pop("performer"))),
            name="referral with only the clinic's location",
        ),
        "referral to an outside organization or agency: ServiceRequest/P6-referral",
    ),
    # A referral coded only as SNOMED "Patient referral", with no category, performer or place: a referral was made,
    # but not whether it links to an outside provider or agency (was not-met).
    (
        discharge(
            "cca.discharge.8-linkages", "unknown", LINKAGES,
            edit("P6-referral", lambda r: (
                r.pop("category"), r.pop("performer"), r.pop("locationReference"),
                r.update(code={"coding": [{"system": "http://snomed.info/sct", "code": "3457005"}]}),
            )),
            name="referral coded SNOMED only, no destination",
        ),
        "not shown: no referral to an outside organization or agency",
    ),
    # --- met from evidence that should not count ----------------------------------------------------------------
    # "Provision of access to medication evaluation and medication management" / "delivered by the IOP or via a
    # referral": a draft referral has not been made (was met).
    (
        discharge(
            "cca.components.08-med-eval-access", "not-met", MEDS_ACCESS,
            NO_MED_MANAGEMENT, without("P6-sertraline"), plus(psychiatry_referral("draft")),
            name="only a draft psychiatry referral",
        ),
        "no referral for psychiatric medication evaluation found in the record",
    ),
    (
        discharge(
            "cca.assessment.3d-med-eval-mgmt", "not-met", MEDS_TP,
            NO_MED_MANAGEMENT, plus(psychiatry_referral("draft")),
            name="only a draft psychiatry referral",
        ),
        "no referral for psychiatric medication evaluation found in the record",
    ),
    (
        discharge(
            "cca.assessment.3d-med-eval-mgmt", "met", MEDS_TP,
            NO_MED_MANAGEMENT, plus(psychiatry_referral("active")),
            name="a psychiatry referral made on day 4",
        ),
        "ServiceRequest/X-psych-referral",
    ),
    # "The treatment plan will be updated": replacing last year's plan at admission is this stay's first plan, not
    # an update of it (three weeks without one stays not-met).
    (
        discharge(
            "cca.assessment.4-tp-updated", "not-met", TP_UPDATED, plan_carried_forward,
            name="the provisional plan replaces last year's plan, never updated",
        ),
        "no treatment plan review found in the record",
    ),
    # "Peer and Recovery support services" in the plan, "planned after-care are documented": a cancelled activity
    # is not what the plan includes (was met).
    (
        discharge(
            "cca.assessment.3c-peer-recovery", "not-met", PEER_TP, activities_cancelled("P6-tp", "H0038"),
            name="peer support activity cancelled",
        ),
        "no treatment plan with peer or recovery support found in the record",
    ),
    (
        discharge(
            "cca.discharge.3-aftercare-documented", "not-met", AFTERCARE_DOCUMENTED, activities_cancelled("P6-dcp"),
            name="every aftercare activity cancelled",
        ),
        "no discharge plan with planned aftercare found in the record",
    ),
    # --- reasons that mislead --------------------------------------------------------------------------------------
    # "IOPs must offer at least 3 hours per day": at a discharge, with the last session still open (no end time), the
    # reason names that session, not a missing order (was "no IOP order in this call").
    (
        discharge(
            "cca.intensity.1-3h-3to5-days", "unknown", HOURS_DAYS,
            edit("P6-sess-25", lambda r: (r.update(status="in-progress"), r["period"].pop("end"))),
            name="the last session has no end time",
        ),
        "Encounter/P6-sess-25",
    ),
    # "Discharge plans should include ... social risk factors": a met verdict says which risks were found and which
    # were not, without a double negative (was "not (no coded housing risk found ...)").
    (
        discharge(
            "cca.discharge.2-sdoh-in-plan", "met", SDOH,
            plus(condition("X-transport", ICD, "Z59.82")), edit("P6-dcp", lambda r: r["addresses"].append(
                {"reference": "Condition/X-transport"})),
            name="transportation need addressed, the reason names the screens that found none",
        ),
        "; newest assessment Observation/P6-prapare-housing (2025-04-07 14:00 -04:00) found no housing risk;",
    ),
]  # fmt: skip


test_review = sentence_test(CASES)
