"""CCA duty criteria read evidence of THIS episode, or a state in force (issue 15, DATA-PROFILE §6): for each
selection a duty criterion reads, the quoted sentence, a case where evidence of an earlier episode or another stay
(or a state no longer in force) does not count, and one where this episode's evidence does. Each case is one change
from golden patient P6 at its discharge hook; the assertions name the status and what the reason says."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from sentence_cases import Bundle, SentenceCase, add, by_id, evaluate
from test_cca_sentences import (
    FAMILY,
    FORMULATION,
    FOURTEEN_DAYS,
    FUNCTIONING,
    GIVEN,
    ICD,
    INVOLVEMENT,
    LOINC,
    MDT,
    MEDS_ALLERGIES,
    NO_PEER,
    NOTES,
    PATIENT,
    PCP,
    PEER,
    PMH,
    SCT,
    SDOH,
    SUBSTANCE,
    SUD,
    TP_UPDATED,
    TRANSPORT_DX,
    UNIT,
    Change,
    Resource,
    coding,
    condition,
    dcp_addresses,
    discharge,
    edit,
    plus,
    progress_note,
    setting,
    without,
    without_sections,
)

from cds_service.engine.mapping import is_bound, load_mappings

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem"
ACT = f"{TERMINOLOGY}/v3-ActCode"
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
MAPPINGS = Path(__file__).resolve().parents[3] / "mappings"


@dataclass(frozen=True)
class ScopeCase:
    """A sentence case plus words its reason must contain (case-insensitive)."""

    case: SentenceCase
    reason: str

    @property
    def id(self) -> str:
        return self.case.id


def scoped(criterion: str, expect: str, quote: str, reason: str, *changes: Change, name: str) -> ScopeCase:
    return ScopeCase(discharge(criterion, expect, quote, *changes, name=name), reason)


def inpatient_stay(rid: str, start: str, end: str) -> Resource:
    """A finished psychiatric inpatient stay (another level of care than the IOP)."""
    return {
        "resourceType": "Encounter",
        "id": rid,
        "status": "finished",
        "class": {"system": ACT, "code": "IMP"},
        "subject": {"reference": PATIENT},
        "reasonReference": [{"reference": "Condition/P6-dx"}],
        "period": {"start": start, "end": end},
    }


def peer_referral(rid: str, authored: str, encounter: str | None = None) -> Resource:
    """A referral to peer support (HCPCS H0038)."""
    referral: Resource = {
        "resourceType": "ServiceRequest",
        "id": rid,
        "status": "active",
        "intent": "order",
        "subject": {"reference": PATIENT},
        "authoredOn": authored,
        "code": coding(HCPCS, "H0038"),
    }
    if encounter:
        referral["encounter"] = {"reference": f"Encounter/{encounter}"}
    return referral


def naltrexone(rid: str, status: str, authored: str, **extra: Any) -> Resource:
    """An outpatient naltrexone 50 mg order (RxNorm ingredient 7243, in VS-MAT)."""
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": coding(RXNORM, "7243"),
        "subject": {"reference": PATIENT},
        "authoredOn": authored,
        **extra,
    }


def allergy(rid: str, status: str) -> Resource:
    return {
        "resourceType": "AllergyIntolerance",
        "id": rid,
        "clinicalStatus": coding(f"{TERMINOLOGY}/allergyintolerance-clinical", status),
        "verificationStatus": coding(
            "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "confirmed"
        ),
        "code": coding(RXNORM, "7980"),  # penicillin G
        "patient": {"reference": PATIENT},
        "recordedDate": "2019-02-11",
    }


def pcp_team(status: str, end: str | None) -> Resource:
    """A care team naming the member's primary care physician (SNOMED 446050000)."""
    team: Resource = {
        "resourceType": "CareTeam",
        "id": "X-pcp-team",
        "status": status,
        "subject": {"reference": PATIENT},
        "period": {"start": "2021-03-01"},
        "participant": [
            {"role": [coding(SCT, "446050000")], "member": {"reference": "Practitioner/P6-pcp"}},
        ],
    }
    if end:
        team["period"]["end"] = end
    return team


def problem(rid: str, recorded: str) -> Resource:
    return condition(
        rid,
        ICD,
        "E11.9",
        category=[coding(CONDITION_CATEGORY, "problem-list-item")],
        onsetDateTime="2016-05-01",
        recordedDate=recorded,
    )


def function_score(rid: str, when: str) -> Resource:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": coding(LOINC, "47420-5"),
        "subject": {"reference": PATIENT},
        "effectiveDateTime": when,
        "valueString": "LOCUS level 3",
    }


def plan_note(rid: str, when: str) -> Resource:
    """A treatment plan review note (LOINC 18776-5) on the P6 treatment plan."""
    return {
        "resourceType": "DocumentReference",
        "id": rid,
        "status": "current",
        "type": coding(LOINC, "18776-5"),
        "subject": {"reference": PATIENT},
        "date": when,
        "relatesTo": [{"code": "appends", "target": {"reference": "CarePlan/P6-tp"}}],
        "context": {"related": [{"reference": "CarePlan/P6-tp"}]},
        "content": [{"attachment": {"contentType": "text/plain", "title": "Treatment plan review"}}],
    }


def earlier_crisis_plan(bundle: Bundle) -> None:
    """The crisis plan was written in a 2024 outpatient episode and left active, never reviewed in this stay."""
    plan = by_id(bundle, "P6-crp")
    plan["created"] = "2024-10-02T15:00:00-04:00"
    plan["period"] = {"start": "2024-10-02"}


def team_of_earlier_episode(bundle: Bundle) -> None:
    by_id(bundle, "P6-team")["period"] = {"start": "2024-10-02T13:00:00-04:00"}


def daughter_on_plan(consent_end: str | None) -> Change:
    """The member's daughter contributes to the discharge plan; a release of information names her, in force until
    ``consent_end`` (None: no end)."""

    def apply(bundle: Bundle) -> None:
        provision: Resource = {
            "type": "permit",
            "actor": [
                {
                    "role": coding(f"{TERMINOLOGY}/v3-ParticipationType", "IRCP"),
                    "reference": {"reference": "RelatedPerson/X-daughter"},
                }
            ],
        }
        if consent_end:
            provision["period"] = {"start": "2023-05-02", "end": consent_end}
        add(
            bundle,
            {
                "resourceType": "RelatedPerson",
                "id": "X-daughter",
                "active": True,
                "patient": {"reference": PATIENT},
                "relationship": [coding(f"{TERMINOLOGY}/v3-RoleCode", "DAU")],
            },
            {
                "resourceType": "Consent",
                "id": "X-daughter-consent",
                "status": "active",
                "scope": coding(f"{TERMINOLOGY}/consentscope", "patient-privacy"),
                "category": [coding(LOINC, "64292-6")],
                "patient": {"reference": PATIENT},
                "dateTime": "2023-05-02",
                "provision": provision,
            },
        )
        by_id(bundle, "P6-dcp")["contributor"].append({"reference": "RelatedPerson/X-daughter"})

    return apply


NOT_UPDATED = setting("P6-tp", meta={"lastUpdated": "2025-04-07T15:00:00-04:00"})
F10 = condition("X-aud", ICD, "F10.20", onsetDateTime="2021-06-01")
NO_PCP_ON_PATIENT = edit("P6-patient", lambda r: r.pop("generalPractitioner", None))
LISTS_ONLY = without_sections("10160-0")


CASES: list[ScopeCase] = [
    # crisis-plans → cca.discharge-crisis-plans: "emergency and crisis information is given ... at the time of
    # discharge" is what THIS discharge gave: a plan of this episode, in force at discharge.
    scoped(
        "cca.discharge.4-plan-given-at-discharge",
        "met",
        GIVEN,
        "crisis or safety plan of this stay in force at discharge: CarePlan/P6-crp",
        name="crisis plan written on 04-07 of this stay",
    ),
    scoped(
        "cca.discharge.4-plan-given-at-discharge",
        "not-met",
        GIVEN,
        "from before this episode",
        earlier_crisis_plan,
        name="only a 2024 crisis plan still marked active",
    ),
    scoped(
        "cca.discharge.4-plan-given-at-discharge",
        "met",
        GIVEN,
        "CarePlan/P6-crp",
        earlier_crisis_plan,
        edit("P6-crp", lambda r: r.update(meta={"lastUpdated": "2025-04-24T11:00:00-04:00"})),
        name="the 2024 crisis plan reviewed and updated on 04-24",
    ),
    # cca.sud-treatment: "Substance use assessment and treatment services" — treatment in this stay.
    scoped(
        "cca.components.10-sud-assessment",
        "not-met",
        SUD,
        "from before this episode",
        plus(F10, naltrexone("X-ntx", "completed", "2022-05-01")),
        name="alcohol use disorder, only a 2022 naltrexone course",
    ),
    scoped(
        "cca.components.10-sud-assessment",
        "met",
        SUD,
        "substance use screening or assessment at",
        plus(F10, naltrexone("X-ntx", "active", "2025-04-10")),
        name="alcohol use disorder, naltrexone started on 04-10",
    ),
    scoped(
        "cca.components.10-sud-assessment",
        "met",
        SUD,
        "substance use screening or assessment at",
        plus(F10, naltrexone("X-ntx", "active", "2024-11-02")),
        name="alcohol use disorder, naltrexone since 2024 still in force",
    ),
    scoped(
        "cca.components.10-sud-assessment",
        "not-met",
        SUD,
        "made in another stay or program",
        plus(
            F10, naltrexone("X-ntx", "active", "2025-04-03T09:00:00-04:00", encounter={"reference": "Encounter/X-imp"})
        ),
        plus(inpatient_stay("X-imp", "2025-03-27T20:00:00-04:00", "2025-04-03T11:00:00-04:00")),
        edit("X-ntx", lambda r: r.update(dispenseRequest={"validityPeriod": {"end": "2025-04-09"}})),
        name="a week of naltrexone ordered by the inpatient unit, ended before the first week was out",
    ),
    # cca.group-services: "one unit is equal to three hours and minimum of two groups" — groups of this stay.
    scoped(
        "cca.intensity.3-unit-2-groups",
        "not-met",
        UNIT,
        "2025-04-16: 3.0 h over 1 IOP session (Encounter/P6-sess-16): 1 group service (at least 2 needed)",
        edit("P6-group-16-2", lambda r: r.update(performedDateTime="2024-10-16T14:30:00-04:00")),
        name="a 2024 group misfiled against the 04-16 session",
    ),
    scoped(
        "cca.intensity.3-unit-2-groups",
        "met",
        UNIT,
        "all 10 IOP session qualify",
        edit("P6-group-16-2", lambda r: r.update(performedDateTime="2025-04-16T18:30:00Z")),
        name="the second 04-16 group recorded in UTC",
    ),
    # cca.peer-services: "Peer support and recovery-oriented services" — the program's, in this stay.
    scoped(
        "cca.components.07-peer-recovery",
        "not-met",
        PEER,
        "made in another stay or program",
        NO_PEER,
        plus(
            inpatient_stay("X-imp", "2025-03-27T20:00:00-04:00", "2025-04-03T11:00:00-04:00"),
            peer_referral("X-peer", "2025-04-03T09:00:00-04:00", encounter="X-imp"),
        ),
        name="only the inpatient unit's peer referral on the day before admission",
    ),
    scoped(
        "cca.components.07-peer-recovery",
        "met",
        PEER,
        "ServiceRequest/X-peer",
        NO_PEER,
        plus(peer_referral("X-peer", "2025-04-10T11:00:00-04:00")),
        name="peer referral by the IOP on 04-10",
    ),
    # cca.mdt-teams: "A multi-disciplinary treatment team has been assigned to each member" — for this stay.
    scoped("cca.assessment.2-mdt-assigned", "met", MDT, "CareTeam/P6-team", name="team assigned on the first day"),
    scoped(
        "cca.assessment.2-mdt-assigned",
        "not-met",
        MDT,
        "from before this episode",
        team_of_earlier_episode,
        name="only the team of a 2024 episode left active",
    ),
    scoped(
        "cca.assessment.2-mdt-assigned",
        "met",
        MDT,
        "CareTeam/P6-team",
        setting("P6-team", status="inactive"),
        edit("P6-team", lambda r: r["period"].update(end="2025-04-25T16:00:00-04:00")),
        name="this stay's team closed at discharge",
    ),
    # pcp-care-team-members → cca.pcp-care-team-members: "Name of PCP" is a state: a PCP on record now.
    scoped(
        "cca.assessment.5j-pcp-name",
        "not-met",
        PCP,
        "primary care",
        NO_PCP_ON_PATIENT,
        plus(pcp_team("inactive", "2023-01-31")),
        name="only a primary care team that ended in 2023",
    ),
    scoped(
        "cca.assessment.5j-pcp-name",
        "met",
        PCP,
        "CareTeam/X-pcp-team",
        NO_PCP_ON_PATIENT,
        plus(pcp_team("active", None)),
        name="PCP on an active care team",
    ),
    # cca.encounter-diagnoses: "Diagnosis and clinical formulation" — the diagnosis recorded for this assessment.
    scoped(
        "cca.assessment.5g-dx-formulation",
        "unknown",
        FORMULATION,
        "from before the window",
        setting("P6-dx", recordedDate="2022-06-01T10:00:00-04:00"),
        name="only a diagnosis recorded for a 2022 stay",
    ),
    scoped(
        "cca.assessment.5g-dx-formulation",
        "met",
        FORMULATION,
        "Condition/P6-dx",
        setting("P6-dx", recordedDate="2025-03-20T10:00:00-04:00"),
        name="diagnosis recorded at the intake evaluation two weeks before admission",
    ),
    # cca.problem-list: "Past medical history" — a problem list recorded for this assessment.
    scoped(
        "cca.assessment.5b-pmh",
        "not-met",
        PMH,
        "problem list",
        without_sections("11348-0"),
        plus(problem("X-dm", "2019-03-04")),
        name="no past history section, only a 2019 problem-list entry",
    ),
    scoped(
        "cca.assessment.5b-pmh",
        "met",
        PMH,
        "Condition/X-dm",
        without_sections("11348-0"),
        plus(problem("X-dm", "2025-04-04T14:30:00-04:00")),
        name="no past history section, problem list recorded at intake",
    ),
    # cca.medication-lists / cca.allergy-lists: "current medications, and any allergies" — lists in force.
    scoped(
        "cca.assessment.5f-meds-allergies",
        "not-met",
        MEDS_ALLERGIES,
        "medication",
        LISTS_ONLY,
        without("P6-sertraline"),
        plus(
            allergy("X-pcn", "active"),
            {**naltrexone("X-old", "stopped", "2019-01-10"), "medicationCodeableConcept": coding(RXNORM, "36437")},
        ),
        name="no medication section, only a sertraline order stopped in 2019",
    ),
    scoped(
        "cca.assessment.5f-meds-allergies",
        "met",
        MEDS_ALLERGIES,
        "MedicationRequest/P6-sertraline",
        LISTS_ONLY,
        plus(allergy("X-pcn", "active")),
        name="no medication section, current sertraline and allergy lists",
    ),
    # cca.discharge-medications (a state, kept): "If a member is discharged on medication" — in force at discharge.
    scoped(
        "cca.discharge.6-psych-aftercare-14d",
        "not-met",
        FOURTEEN_DAYS,
        "psychiatric",
        setting("P6-sertraline", authoredOn="2024-11-02"),
        edit("P6-sertraline", lambda r: r.pop("category")),
        without("P6-psych-appt"),
        name="on sertraline since 2024, still in force at discharge, no psychiatric appointment",
    ),
    scoped(
        "cca.discharge.6-psych-aftercare-14d",
        "not-applicable",
        FOURTEEN_DAYS,
        "no longer in force",
        setting("P6-sertraline", status="stopped", authoredOn="2025-04-04"),
        edit("P6-sertraline", lambda r: r.update(dispenseRequest={"validityPeriod": {"end": "2025-04-20"}})),
        without("P6-psych-appt"),
        name="sertraline stopped on 04-20",
    ),
    # cca.sdoh-*: "Discharge plans should include ... Members' social risk factors" — screens of the assessment
    # window and social-need diagnoses in force.
    scoped(
        "cca.discharge.2-sdoh-in-plan",
        "met",
        SDOH,
        "Condition/X-housing-2023",
        plus(
            TRANSPORT_DX,
            condition("X-housing-2023", ICD, "Z59.01", onsetDateTime="2023-02-01", abatementDateTime="2024-06-30"),
        ),
        dcp_addresses("X-transport"),
        name="transportation addressed; homelessness of 2023 ended in 2024",
    ),
    scoped(
        "cca.discharge.2-sdoh-in-plan",
        "not-met",
        SDOH,
        "housing",
        plus(TRANSPORT_DX, condition("X-housing", ICD, "Z59.01", onsetDateTime="2025-03-01")),
        dcp_addresses("X-transport"),
        name="transportation addressed, current homelessness left out",
    ),
    scoped(
        "cca.discharge.2-sdoh-in-plan",
        "met",
        SDOH,
        "no evidence of housing risk found",
        plus(TRANSPORT_DX),
        dcp_addresses("X-transport"),
        edit("P6-prapare-housing", lambda r: r.update(effectiveDateTime="2024-09-01T10:00:00-04:00")),
        edit("P6-prapare-housing", lambda r: r.update(valueCodeableConcept=coding(LOINC, "LA33-6"))),
        name="a housing risk screened in 2024 is not this discharge's risk",
    ),
    # cca.plan-reviews: "The treatment plan will be updated as clinically appropriate" — reviews in this stay.
    scoped(
        "cca.assessment.4-tp-updated",
        "not-met",
        TP_UPDATED,
        "treatment plan review",
        NOT_UPDATED,
        plus(plan_note("X-review", "2024-10-20T15:00:00-04:00")),
        name="only a review note of 2024",
    ),
    scoped(
        "cca.assessment.4-tp-updated",
        "unknown",
        TP_UPDATED,
        "no treatment plan updated with the member",
        NOT_UPDATED,
        plus(plan_note("X-review", "2025-04-14T15:00:00-04:00")),
        name="a review note on 04-14, member's part not recorded",
    ),
    # cca.unlinked-progress-notes: "daily progress notes on days of attendance" — notes of this stay.
    scoped(
        "cca.documentation.7-daily-progress-notes",
        "not-met",
        NOTES,
        "session without a progress note",
        plus({**progress_note(16, "P6-sess-16"), "context": {}, "date": "2024-04-16T16:30:00-04:00"}),
        name="an unlinked note of 2024-04-16",
    ),
    scoped(
        "cca.documentation.7-daily-progress-notes",
        "unknown",
        NOTES,
        "session without a progress note",
        plus({**progress_note(16, "P6-sess-16"), "context": {}}),
        name="an unlinked note of 2025-04-16",
    ),
    # cca.function-observations / cca.substance-use-observations: the assessment window.
    scoped(
        "cca.assessment.5h-functioning",
        "not-met",
        FUNCTIONING,
        "level-of-functioning",
        without_sections("47420-5"),
        plus(function_score("X-locus", "2024-10-03T10:00:00-04:00")),
        name="no functioning section, only a 2024 LOCUS",
    ),
    scoped(
        "cca.assessment.5h-functioning",
        "met",
        FUNCTIONING,
        "Observation/X-locus",
        without_sections("47420-5"),
        plus(function_score("X-locus", "2025-03-28T10:00:00-04:00")),
        name="no functioning section, LOCUS at the intake visit a week before admission",
    ),
    scoped(
        "cca.assessment.5d-substance-use",
        "not-met",
        SUBSTANCE,
        "substance",
        without_sections("29762-2"),
        setting("P6-auditc", effectiveDateTime="2024-10-03T10:00:00-04:00"),
        name="no social history section, only a 2024 AUDIT-C",
    ),
    scoped(
        "cca.assessment.5d-substance-use",
        "met",
        SUBSTANCE,
        "Observation/P6-auditc",
        without_sections("29762-2"),
        name="no social history section, AUDIT-C on the first day",
    ),
    # cca.sud-diagnoses (a state): a substance use disorder in force at discharge needs treatment in the stay.
    scoped(
        "cca.components.10-sud-assessment",
        "met",
        SUD,
        "substance use screening or assessment at",
        plus(condition("X-aud", ICD, "F10.20", onsetDateTime="2019-06-01", abatementDateTime="2022-01-15")),
        name="an alcohol use disorder abated in 2022, no treatment in the stay",
    ),
    # cca.family-privacy-consents (a state): "Proper consent must be documented" — a consent in force.
    scoped(
        "cca.planning.6-involvement-consent",
        "not-met",
        INVOLVEMENT,
        "RelatedPerson/X-daughter",
        daughter_on_plan("2024-05-01"),
        name="daughter on the plan, her release of information expired in 2024",
    ),
    scoped(
        "cca.planning.6-involvement-consent",
        "met",
        INVOLVEMENT,
        "RelatedPerson/X-daughter",
        daughter_on_plan(None),
        name="daughter on the plan with a release of information in force",
    ),
    # cca.patients-with-language: a state of the Patient resource.
    scoped(
        "cca.assessment.5c-family-social-cultural",
        "met",
        FAMILY,
        "member's language: Patient/P6-patient",
        name="language on the Patient resource",
    ),
]


@pytest.mark.parametrize("scope_case", CASES, ids=lambda c: c.id)
def test_episode_scope(scope_case: ScopeCase) -> None:
    case = scope_case.case
    got = evaluate(case).get(case.criterion)
    status = got["status"] if got else "absent"
    reason = (got or {}).get("reason", "")
    assert status == case.expect, f"{case.criterion}: “{case.quote}” expects {case.expect!r}, got {status!r}: {reason}"
    assert scope_case.reason.lower() in reason.lower(), (
        f"{case.criterion}: reason lacks {scope_case.reason!r}: {reason}"
    )


def _names(node: object) -> set[str]:
    """Every string in a criterion's YAML (selection names among them)."""
    if isinstance(node, str):
        return {node}
    if isinstance(node, dict):
        return set().union(*(_names(k) | _names(v) for k, v in node.items())) if node else set()
    if isinstance(node, list):
        return set().union(*(_names(v) for v in node)) if node else set()
    return set()


def _duty_criteria(node: object) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if node.get("duty") is True:
            found.append(node)
        for value in node.values():
            found.extend(_duty_criteria(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_duty_criteria(value))
    return found


def _current(name: str, selections: dict[str, Any], seen: frozenset[str] = frozenset()) -> bool:
    selection = selections.get(name)
    if selection is None or name in seen:
        return False
    return selection.current or any(_current(s, selections, seen | {name}) for s in selection.sources)


def test_every_cca_duty_selection_is_scoped_or_current() -> None:
    """No CCA duty criterion reads a selection that is neither bound to a window nor a state in force."""
    mappings = load_mappings(MAPPINGS)
    tree = yaml.safe_load((MAPPINGS / "policies" / "cca.yaml").read_text(encoding="utf-8"))
    open_ = sorted(
        f"{name} ({criterion['id']})"
        for criterion in _duty_criteria(tree)
        for name in _names({k: v for k, v in criterion.items() if k in ("met-if", "not-met-if", "applies-if")})
        if name in mappings.selections
        and not is_bound(name, mappings.selections, window_only=True)
        and not _current(name, mappings.selections)
    )
    assert not open_, open_
