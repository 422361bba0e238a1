"""Evidence semantics (DATA-PROFILE §6, issue 15 items 4-6): each rule on a golden patient with one change.

Gaps and absence, newest evidence for risk and withdrawal, scores within one instrument, duplicates and stale
program Encounters. Every test asserts the status a clinician sees and the reason that explains it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from sentence_cases import Bundle, add, by_id, drop, from_golden, resources

from cds_service.config import Settings
from cds_service.hooks.invocation import HookInvoker, unreadable_types
from cds_service.hooks.protocol import parse_hook_request
from cds_service.hooks.services import SERVICES, service_for_hook
from cds_service.record.hook_requests import build_hook_request
from cds_service.record.patient_record import DataGap
from cds_service.record.prefetch import PREFETCH_TEMPLATES

UNREADABLE = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "timeout", "diagnostics": "the search timed out"}],
}
P1_AT = "2025-03-03T10:00:00-06:00"
P2_AT = "2025-03-03T14:00:00-06:00"

P8_AT = "2025-03-10T09:00:00-07:00"


_invoker = HookInvoker(Settings(auth=False))


def run(
    build: Callable[[], Bundle],
    policy: str,
    at: str,
    hook: str = "order-sign",
    unreadable: tuple[str, ...] = (),
    encounter_id: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Criterion id -> its evaluation entry; each key in ``unreadable`` answers with an OperationOutcome."""
    body = build_hook_request(build(), hook, at=at, policies=[policy], encounter_id=encounter_id)
    for key in unreadable:
        body["prefetch"][key] = UNREADABLE
    service = SERVICES[service_for_hook(hook)]
    response = _invoker.invoke(service, parse_hook_request(body, service.hook))
    found: dict[str, dict[str, Any]] = {}
    for evaluation in response["extension"]["iop-cds.evaluations"]:
        found["phase"] = {"status": evaluation["phase"]}
        for criterion in evaluation["criteria"]:
            found.setdefault(criterion["id"], criterion)
    return found


# --- gaps and absence ---------------------------------------------------------------------------------------------


def test_unreadable_conditions_leave_the_diagnosis_unknown_not_failed() -> None:
    full = run(from_golden("P1"), "medica", P1_AT)
    gap = run(from_golden("P1"), "medica", P1_AT, unreadable=("conditions",))
    dx = "medica.adult-admission.1-dx-moderate-severe"
    assert full[dx]["status"] == "met"
    assert gap[dx]["status"] == "unknown"
    assert "could not be read: conditions" in gap[dx]["reason"]
    assert not [c for c, e in gap.items() if e["status"] == "not-met" and full.get(c, {}).get("status") != "not-met"]


def test_readable_record_without_a_diagnosis_says_not_found_in_the_record() -> None:
    no_dx = from_golden("P1", lambda b: drop(b, lambda r: r.get("resourceType") == "Condition"))
    dx = run(no_dx, "medica", P1_AT)["medica.adult-admission.1-dx-moderate-severe"]
    # DATA-PROFILE §6: a state not found in structured data is unknown ("not documented"), never not-met
    assert dx["status"] == "unknown"
    assert "no active mental-health diagnosis found in the record" in dx["reason"]
    assert "could not be read" not in dx["reason"]


def test_unreadable_careplans_leave_the_safety_plan_unknown() -> None:
    plan = run(from_golden("P1"), "medica", P1_AT, unreadable=("careplans",))["medica.adult-admission.6-safety-plan"]
    assert plan["status"] == "unknown"
    assert "could not be read: careplans" in plan["reason"]


def test_unreadable_patient_leaves_the_child_criteria_unknown_not_applied() -> None:
    full = run(from_golden("P2"), "medica", P2_AT)
    gap = run(from_golden("P2"), "medica", P2_AT, unreadable=("patient",))
    assert full["medica.child.3-community-living"]["status"] == "not-applicable"
    gate = gap["medica.child.0-age-gate"]
    assert gate["status"] == "unknown"
    assert "age unknown: could not be read: patient" in gate["reason"]
    child = gap["medica.child.3-community-living"]
    assert child["status"] == "unknown"  # not "not-met" from the child rules as if the member were under 18
    assert "may not apply" in child["reason"]


def test_missing_birth_date_is_not_under_18() -> None:
    no_birth = from_golden("P2", lambda b: resources(b, "Patient")[0].pop("birthDate"))
    got = run(no_birth, "medica", P2_AT)
    assert got["medica.child.0-age-gate"]["status"] == "unknown"
    assert "birth date missing" in got["medica.child.0-age-gate"]["reason"]
    assert got["medica.child.3-community-living"]["status"] == "unknown"


def test_sessions_without_notes_are_not_found_when_documents_are_unreadable() -> None:
    full = run(from_golden("P8"), "bh803", P8_AT)
    gap = run(from_golden("P8"), "bh803", P8_AT, unreadable=("documents",))
    notes = "bh803.doc.7-progress-notes"
    assert full[notes]["status"] == "met"
    assert gap[notes]["status"] == "unknown"
    assert "could not be read: documents" in gap[notes]["reason"]


def test_includes_of_a_failed_search_are_unreadable_too() -> None:
    # Practitioners travel as includes of the encounters search: with it lost, "no physician's plan" is not shown.
    gap = run(from_golden("P8"), "bh803", P8_AT, unreadable=("encounters",))
    plan = gap["bh803.doc.6-tx-plan-physician-signed-goals"]
    assert plan["status"] == "unknown"
    assert "could not be read: encounters" in plan["reason"]


# --- duplicates and stale status ----------------------------------------------------------------------------------

HOSPITAL = "urn:oid:2.16.840.1.113883.19.5"
P4_AT = "2025-02-28T12:05:00-05:00"


def _readmitted_twice_on_paper(bundle: Bundle) -> None:
    """P1's November stay arrives twice (an interface resend under a new id), the June stay is gone."""
    drop(bundle, lambda r: r.get("id") == "P1-ip1")
    stay = by_id(bundle, "P1-ip2")
    stay["identifier"] = [{"system": HOSPITAL, "value": "ADM-20241120"}]
    stay["meta"] = {"lastUpdated": "2024-11-28T18:00:00Z"}
    resend = {**copy.deepcopy(stay), "id": "P1-ip2-resend", "meta": {"lastUpdated": "2024-11-29T08:00:00Z"}}
    add(bundle, resend)


def test_duplicate_identifiers_count_once() -> None:
    got = run(from_golden("P1", _readmitted_twice_on_paper), "medica", P1_AT)
    readmission = got["medica.adult-admission.8d-high-readmission-risk"]
    # one admission where the sentence needs "multiple": the second is not found, which is unknown, not a failure
    assert readmission["status"] == "unknown"
    assert "found 1 × psychiatric inpatient or emergency admission in the last 12 months" in readmission["reason"]
    assert readmission["evidence"] == ["Encounter/P1-ip2-resend"]  # the copy updated last


def _one_session_recorded_twice(bundle: Bundle) -> None:
    """In the week of 10 February only the Monday session took place, and it was recorded twice."""
    drop(bundle, lambda r: r.get("id") in ("P4-sess-12", "P4-sess-14"))
    add(bundle, {**copy.deepcopy(by_id(bundle, "P4-sess-10")), "id": "P4-sess-10-copy"})


def test_sessions_of_one_program_with_the_same_start_count_once() -> None:
    got = run(
        from_golden("P4", _one_session_recorded_twice),
        "optum-locg",
        P4_AT,
        hook="encounter-discharge",
        encounter_id="P4-prog",
    )
    intensity = got["optum-locg.def.intensity-3h-2d"]
    assert intensity["status"] == "not-met"
    assert "2025-02-10" in intensity["reason"]


P6_AT = "2025-04-25T16:05:00-04:00"
P6_DUTIES = ("cca.documentation.7-daily-progress-notes", "cca.intensity.3-unit-2-groups")


def _session_resent_after_its_notes(bundle: Bundle) -> None:
    """The 4 April session arrives again under a new id, updated later; its note and groups cite the first record."""
    first = by_id(bundle, "P6-sess-04")
    first["meta"] = {"lastUpdated": "2025-04-04T18:00:00Z"}
    add(bundle, {**copy.deepcopy(first), "id": "P6-sess-04-resend", "meta": {"lastUpdated": "2025-04-05T08:00:00Z"}})


def test_a_note_or_group_citing_a_duplicate_session_record_counts_for_the_session() -> None:
    def discharge(change: Callable[[Bundle], None] | None = None) -> dict[str, dict[str, Any]]:
        build = from_golden("P6", *([change] if change else []))
        return run(build, "cca", P6_AT, hook="encounter-discharge", encounter_id="P6-prog")

    plain, resent = discharge(), discharge(_session_resent_after_its_notes)
    for criterion in P6_DUTIES:
        assert (resent[criterion]["status"], resent[criterion]["reason"]) == (
            plain[criterion]["status"],
            plain[criterion]["reason"],
        )
    assert "2025-04-04" not in resent["cca.documentation.7-daily-progress-notes"]["reason"]


def _program_left_open_in_2024(ended: bool) -> Callable[[Bundle], None]:
    def change(bundle: Bundle) -> None:
        iop = {"system": "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "code": "S9480"}
        period = {"start": "2024-04-01T09:00:00-05:00"}
        if ended:
            period["end"] = "2024-05-10T12:00:00-05:00"
        program = {
            "resourceType": "Encounter",
            "id": "P1-iop-2024",
            "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "type": [{"coding": [iop]}],
            "subject": {"reference": "Patient/P1-patient"},
            "period": period,
        }
        session = {
            **copy.deepcopy(program),
            "id": "P1-iop-2024-s1",
            "status": "finished",
            "partOf": {"reference": "Encounter/P1-iop-2024"},
            "period": {"start": "2024-05-10T09:00:00-05:00", "end": "2024-05-10T12:00:00-05:00"},
        }
        add(bundle, program, session)

    return change


def test_in_progress_program_whose_period_ended_is_not_the_current_episode() -> None:
    got = run(from_golden("P1", _program_left_open_in_2024(ended=True)), "medica", P1_AT)
    assert got["phase"]["status"] == "admission"
    assert got["medica.adult-admission.1-dx-moderate-severe"]["status"] == "met"


def test_in_progress_program_without_a_session_for_30_days_is_not_the_current_episode() -> None:
    got = run(from_golden("P1", _program_left_open_in_2024(ended=False)), "medica", P1_AT)
    assert got["phase"]["status"] == "admission"
    assert got["medica.adult-admission.6-safety-plan"]["status"] == "met"  # admission criteria, not continuation


# --- newest evidence for risk and withdrawal ----------------------------------------------------------------------

P3_AT = "2025-03-03T09:30:00-05:00"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
RISK = "optum-locg.admission.all.1-no-imminent-risk"
WITHDRAWAL = "optum-locg.admission.all.4-no-severe-withdrawal-dt-risk"


def _condition(cid: str, code: str, onset: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "code": {"coding": [{"system": ICD, "code": code}]},
        "subject": {"reference": "Patient/P3-patient"},
        "onsetDateTime": onset,
    }


def _score(oid: str, code: str, value: int, when: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": "Patient/P3-patient"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value},
    }


def _low_risk_cssrs(bundle: Bundle) -> None:
    """P3's C-SSRS of 2025-03-02 (all answers no) gets its risk level: low."""
    add(
        bundle,
        {
            "resourceType": "Observation",
            "id": "P3-cssrs-risk",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "93374-7"}]},
            "subject": {"reference": "Patient/P3-patient"},
            "effectiveDateTime": "2025-03-02T10:00:00-05:00",
            "valueCodeableConcept": {"coding": [{"system": LOINC, "code": "LA9194-7", "display": "Low risk"}]},
        },
    )


def test_low_risk_cssrs_this_week_outweighs_an_older_si_code() -> None:
    older_si = from_golden("P3", _low_risk_cssrs, lambda b: add(b, _condition("si", "R45.851", "2025-03-01")))
    risk = run(older_si, "optum-locg", P3_AT)[RISK]
    assert risk["status"] == "met"
    assert "outweighs the older diagnosis Condition/si (2025-03-01 00:00 -05:00)" in risk["reason"]


def test_si_code_newer_than_the_cssrs_asks_the_clinician_to_confirm() -> None:
    newer_si = from_golden(
        "P3", _low_risk_cssrs, lambda b: add(b, _condition("si", "R45.851", "2025-03-02T18:00:00-05:00"))
    )
    risk = run(newer_si, "optum-locg", P3_AT)[RISK]
    assert risk["status"] == "unknown"
    assert "is newer than the assessment" in risk["reason"]
    assert "a clinician needs to confirm" in risk["reason"]


def test_cssrs_with_intent_is_current_positive_evidence() -> None:
    def intent(bundle: Bundle) -> None:
        by_id(bundle, "P3-cssrs-93249-1")["valueCodeableConcept"]["coding"][0]["code"] = "LA33-6"

    risk = run(from_golden("P3", intent), "optum-locg", P3_AT)[RISK]
    assert risk["status"] == "not-met"
    assert "current evidence of imminent risk of harm to self or others: Observation/P3-cssrs-93249-1" in risk["reason"]


def test_ciwa_ar_22_is_severe_withdrawal_without_a_substance_use_diagnosis() -> None:
    no_sud = from_golden(
        "P3",
        lambda b: drop(b, lambda r: r.get("id") == "P3-alcohol"),
        lambda b: add(b, _score("ciwa", "75632-6", 22, "2025-03-02T20:00:00-05:00")),
    )
    withdrawal = run(no_sud, "optum-locg", P3_AT)[WITHDRAWAL]
    assert withdrawal["status"] == "not-met"
    assert "current evidence of severe withdrawal: Observation/ciwa (2025-03-02 20:00 -05:00)" in withdrawal["reason"]


def test_a_lone_withdrawal_code_asks_the_clinician_to_confirm() -> None:
    lone_code = from_golden(
        "P3",
        lambda b: drop(b, lambda r: r.get("id") == "P3-alcohol"),
        lambda b: add(b, _condition("wd", "F10.230", "2025-02-27")),
    )
    withdrawal = run(lone_code, "optum-locg", P3_AT)[WITHDRAWAL]
    assert withdrawal["status"] == "unknown"
    assert "diagnosis Condition/wd (2025-02-27 00:00 -05:00) with no structured assessment" in withdrawal["reason"]


def test_a_low_ciwa_ar_after_the_withdrawal_code_outweighs_it() -> None:
    assessed = from_golden(
        "P3",
        lambda b: drop(b, lambda r: r.get("id") == "P3-alcohol"),
        lambda b: add(
            b, _condition("wd", "F10.230", "2025-02-27"), _score("ciwa", "75632-6", 6, "2025-03-02T20:00:00-05:00")
        ),
    )
    withdrawal = run(assessed, "optum-locg", P3_AT)[WITHDRAWAL]
    assert withdrawal["status"] == "met"
    assert "outweighs the older diagnosis Condition/wd" in withdrawal["reason"]


def test_a_severe_score_then_a_low_one_conflict() -> None:
    two_scores = from_golden(
        "P3",
        lambda b: drop(b, lambda r: r.get("id") == "P3-alcohol"),
        lambda b: add(
            b,
            _score("ciwa-1", "75632-6", 22, "2025-03-01T20:00:00-05:00"),
            _score("ciwa-2", "75632-6", 5, "2025-03-02T20:00:00-05:00"),
        ),
    )
    withdrawal = run(two_scores, "optum-locg", P3_AT)[WITHDRAWAL]
    assert withdrawal["status"] == "unknown"
    assert "but the newer assessment Observation/ciwa-2" in withdrawal["reason"]


def test_each_failed_key_makes_its_types_unreadable() -> None:
    gaps = [DataGap("conditions", "timed out"), DataGap("referenced Practitioner", "403")]
    unreadable = unreadable_types(gaps, PREFETCH_TEMPLATES["order-sign"])
    assert unreadable["Condition"] == ["conditions"]
    assert unreadable["CarePlan"] == []  # read in full
    # a type without its own key may have come with the failed search
    assert unreadable["*"] == ["conditions", "referenced Practitioner"]
    assert unreadable["Practitioner"] == ["referenced Practitioner"]
    assert unreadable_types([], PREFETCH_TEMPLATES["order-sign"]) == {}


def test_a_service_citing_a_duplicate_session_record_is_of_this_episode() -> None:
    # The group services of 4 April cite the record that the resend stands in for: still this episode's services.
    resent = run(
        from_golden("P6", _session_resent_after_its_notes),
        "cca",
        P6_AT,
        hook="encounter-discharge",
        encounter_id="P6-prog",
    )
    therapy = resent["cca.components.05-therapy-ind-group-family"]
    assert therapy["status"] == "met"
    assert "Procedure/P6-group-04-1" in therapy["evidence"]
    assert "made in another stay or program" not in therapy["reason"]
