"""Evaluation of policy trees: phases, deadlines, attestations, closed world, gates, mirrors, evidence."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from cds_service.config import PROJECT_ROOT
from cds_service.engine.evaluator import evaluate
from cds_service.engine.mapping import Mappings, load_mappings
from cds_service.engine.outcome import Status
from cds_service.record.patient_record import PatientRecord

HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"

TEST_POLICY = """
policy: test
title: Test policy
payer: Test Payer
url: https://payer.example/policy
tree:
  id: test
  all-of:
    - id: test.dx
      text: A mental-health diagnosis.
      citation: "#1"
      phase: [A, C]
      tier: eligibility
      closed-world: true
      met-if: {exists: mh-conditions}
    - id: test.judgement
      text: Clinical judgement.
      citation: "#2"
      phase: [A]
      attestation: true
    - id: test.proxy
      text: A proxy that needs attestation.
      citation: "#3"
      phase: [A]
      confirm: attestation
      met-if: {exists: mh-conditions}
    - id: test.tp-48h
      text: Treatment plan within 48 hours.
      citation: "#4"
      phase: [P]
      closed-world: true
      duty: true
      due: {from: T0, hours: 48}
      met-if: {deadline: {of: treatment-plans, due: {from: T0, hours: 48}}}
    - id: test.tp-duty
      text: A treatment plan, owed within 48 hours (a duty decided by a rule without a deadline of its own).
      citation: "#4c"
      phase: [C]
      closed-world: true
      duty: true
      due: {from: T0, hours: 48}
      met-if: {exists: treatment-plans}
    - id: test.tp-state
      text: Has a treatment plan (a state, not a duty with a deadline).
      citation: "#4b"
      phase: [C]
      closed-world: true
      met-if: {exists: treatment-plans}
    - id: test.risk
      text: No imminent risk.
      citation: "#5"
      phase: [A, C]
      tier: safety
      not-met-if: {exists: cssrs-imminent-7d}
      met-if: {exists: cssrs-7d}
    - id: test.child
      text: Child section
      citation: "#6"
      applies-if: {criterion: {id: test.child.gate, is: [met]}}
      all-of:
        - id: test.child.gate
          text: Under 18.
          citation: "#6.0"
          phase: [A]
          applies-if: {age: {at: T0, op: "<", than: 18}}
          met-if: always
        - id: test.child.family
          text: Family-centred.
          citation: "#6.1"
          phase: [A]
          attestation: true
    - id: test.any
      text: One of
      citation: "#7"
      any-of:
        - id: test.any.a
          text: Has an inpatient stay.
          citation: "#7a"
          phase: [A]
          closed-world: true
          met-if: {exists: inpatient-stays}
        - id: test.any.b
          text: Judgement.
          citation: "#7b"
          phase: [A]
          attestation: true
    - id: test.mirror
      text: Mirrors the diagnosis and the one-of group.
      citation: "#8"
      phase: [C]
      mirror: [test.dx, test.any]
"""


@pytest.fixture(scope="module")
def mappings(tmp_path_factory) -> Mappings:
    folder = tmp_path_factory.mktemp("mappings")
    for name in ("valuesets.yaml", "facts.yaml"):
        shutil.copy(PROJECT_ROOT / "mappings" / name, folder / name)
    (folder / "policies").mkdir()
    (folder / "policies" / "test.yaml").write_text(TEST_POLICY)
    (folder / "payers.yaml").write_text("routes: []\ndefault: [test]\n")
    return load_mappings(folder)


def patient(birth="1980-01-01"):
    return {"resourceType": "Patient", "id": "p1", "birthDate": birth}


def condition(cid, code, system=ICD, status="active"):
    return {
        "resourceType": "Condition",
        "id": cid,
        "subject": {"reference": "Patient/p1"},
        "clinicalStatus": {"coding": [{"code": status}]},
        "code": {"coding": [{"system": system, "code": code}]},
    }


def iop_order(start="2025-03-05", replaces=None):
    order = {
        "resourceType": "ServiceRequest",
        "id": "o1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": HCPCS, "code": "S9480"}]},
        "occurrencePeriod": {"start": start},
    }
    if replaces:
        order["replaces"] = [{"reference": replaces}]
    return order


def program(start, end=None, status="in-progress"):
    period = {"start": start, **({"end": end} if end else {})}
    return {
        "resourceType": "Encounter",
        "id": "prog",
        "status": status,
        "period": period,
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "type": [{"coding": [{"system": HCPCS, "code": "S9480"}]}],
        "subject": {"reference": "Patient/p1"},
    }


def careplan(pid, category, created):
    return {
        "resourceType": "CarePlan",
        "id": pid,
        "status": "active",
        "intent": "plan",
        "created": created,
        "subject": {"reference": "Patient/p1"},
        "category": [{"coding": [{"system": SNOMED, "code": category}]}],
    }


def attestation(link_id, value, authored="2025-03-03T09:00:00Z"):
    return {
        "resourceType": "QuestionnaireResponse",
        "id": f"qr-{link_id}",
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "authored": authored,
        "item": [{"linkId": link_id, "answer": [{"valueBoolean": value}]}],
    }


def cssrs(oid, code, answer, when="2025-03-02T10:00:00Z"):
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "effectiveDateTime": when,
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "valueCodeableConcept": {"coding": [{"system": LOINC, "code": answer}]},
    }


NOW = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)


def run(mappings, resources, hook="order-sign", now=NOW, orders=None, encounter_id=None, unreadable=None):
    record = PatientRecord(resources)
    orders = [iop_order()] if orders is None and hook == "order-sign" else (orders or [])
    results = evaluate(
        mappings,
        record,
        hook=hook,
        now=now,
        policy_keys=["test"],
        orders=orders,
        draft_orders=orders,
        encounter_id=encounter_id,
        patient_id="p1",
        unreadable=unreadable,
    )
    return results


def statuses(evaluation):
    return {c.id: c.status for c in evaluation.criteria}


def test_admission_reports_each_criterion_with_reason_and_evidence(mappings):
    [ev] = run(mappings, [patient(), condition("c1", "F33.2")])
    s = statuses(ev)
    assert ev.phase == "admission"
    assert s["test.dx"] == Status.MET
    dx = ev.by_id("test.dx")
    assert dx.evidence == ["Condition/c1"] and "Condition/c1" in dx.reason
    assert s["test.judgement"] == Status.UNKNOWN
    assert "attestation" in ev.by_id("test.judgement").reason
    # a met proxy that needs attestation stays unknown, with the proxy as evidence
    assert s["test.proxy"] == Status.UNKNOWN and ev.by_id("test.proxy").evidence == ["Condition/c1"]
    assert "test.mirror" not in s  # continued-stay only


def test_pending_duty_at_admission_carries_its_due_date(mappings):
    [ev] = run(mappings, [patient(), condition("c1", "F33.2")])
    tp = ev.by_id("test.tp-48h")
    assert tp.status == Status.PENDING
    # T0 = order start 2025-03-05 (a date: local midnight in the site's zone) + exactly 48 h
    assert tp.due == datetime(2025, 3, 7, 0, 0, tzinfo=ZoneInfo("America/New_York"))
    assert "2025-03-07 00:00 -05:00" in tp.reason
    # pending is left out of the verdict: the outcome is decided by the others (unknown here)
    assert ev.outcome == Status.UNKNOWN


def test_closed_world_absence_of_a_state_is_unknown_not_failed(mappings):
    [ev] = run(mappings, [patient(), condition("c1", "Z59.0")])
    assert statuses(ev)["test.dx"] == Status.UNKNOWN
    assert ev.outcome == Status.UNKNOWN
    reason = ev.by_id("test.dx").reason
    assert "no active mental-health diagnosis found in the record" in reason and "not documented" in reason


def test_absence_after_a_duty_deadline_is_not_met_but_the_same_absence_of_a_state_is_unknown(mappings):
    [ev] = run(mappings, [patient(), condition("c1", "F33.2"), program("2025-02-24T09:00:00Z")])
    assert ev.phase == "continued-stay"
    duty = ev.by_id("test.tp-48h")
    assert duty.status == Status.NOT_MET
    assert duty.reason == "no treatment plan by 2025-02-26 04:00 -05:00"
    state = ev.by_id("test.tp-state")
    assert state.status == Status.UNKNOWN
    assert state.reason == "no treatment plan found in the record (not documented: unknown, not a failure)"


def test_snomed_coded_diagnosis_counts(mappings):
    [ev] = run(mappings, [patient(), condition("c1", "370143000", system=SNOMED)])
    assert statuses(ev)["test.dx"] == Status.MET


def test_attestation_turns_unknown_into_met_or_not_met(mappings):
    [ev] = run(
        mappings,
        [patient(), condition("c1", "F33.2"), attestation("test.judgement", True), attestation("test.proxy", False)],
    )
    judgement = ev.by_id("test.judgement")
    assert judgement.status == Status.MET and judgement.attested
    assert judgement.evidence[0] == "QuestionnaireResponse/qr-test.judgement"
    assert ev.by_id("test.proxy").status == Status.NOT_MET


def test_stale_attestation_is_ignored(mappings):
    [ev] = run(
        mappings,
        [patient(), condition("c1", "F33.2"), attestation("test.judgement", True, authored="2025-02-20T09:00:00Z")],
    )
    assert ev.by_id("test.judgement").status == Status.UNKNOWN


def test_attestation_never_overrides_structured_not_met(mappings):
    [ev] = run(mappings, [patient(), cssrs("o1", "93249-1", "LA33-6"), attestation("test.risk", True)])
    assert ev.by_id("test.risk").status == Status.NOT_MET


def test_safety_finding_from_cssrs_intent(mappings):
    [ev] = run(mappings, [patient(), cssrs("o1", "93249-1", "LA33-6"), cssrs("o2", "93246-7", "LA32-8")])
    risk = ev.by_id("test.risk")
    assert risk.status == Status.NOT_MET and risk.evidence == ["Observation/o1"]
    [ev] = run(mappings, [patient(), cssrs("o2", "93246-7", "LA33-6")])
    assert ev.by_id("test.risk").status == Status.MET
    [ev] = run(mappings, [patient(), cssrs("o2", "93246-7", "LA33-6", when="2025-02-01T10:00:00Z")])
    assert ev.by_id("test.risk").status == Status.UNKNOWN  # only an old screening: not shown either way


def test_gate_makes_a_section_not_applicable(mappings):
    [adult] = run(mappings, [patient("1980-01-01")])
    s = statuses(adult)
    assert s["test.child"] == s["test.child.gate"] == s["test.child.family"] == Status.NOT_APPLICABLE
    [child] = run(mappings, [patient("2010-05-01")])
    s = statuses(child)
    assert s["test.child.gate"] == Status.MET
    assert s["test.child.family"] == Status.UNKNOWN and s["test.child"] == Status.UNKNOWN


def test_met_any_of_supersedes_its_other_children(mappings):
    stay = {
        "resourceType": "Encounter",
        "id": "ip1",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "period": {"start": "2025-02-18", "end": "2025-03-03T11:00:00Z"},
    }
    [ev] = run(mappings, [patient(), stay])
    assert ev.by_id("test.any").status == Status.MET
    assert ev.by_id("test.any.b").superseded and not ev.by_id("test.any.a").superseded


def test_continued_stay_from_running_program_evaluates_due_duties(mappings):
    resources = [
        patient(),
        condition("c1", "F33.2"),
        program("2025-02-24T09:00:00Z"),
        careplan("tp1", "718347000", "2025-02-27T09:00:00Z"),
    ]
    [ev] = run(mappings, resources)
    assert ev.phase == "continued-stay"
    tp = ev.by_id("test.tp-48h")
    assert tp.status == Status.NOT_MET and "after the due time" in tp.reason and tp.evidence == ["CarePlan/tp1"]
    mirror = ev.by_id("test.mirror")
    assert mirror.status == Status.UNKNOWN and "test.dx met" in mirror.reason


def test_continued_stay_by_replaces_and_in_time_plan_is_met(mappings):
    resources = [
        patient(),
        condition("c1", "F33.2"),
        program("2025-03-01T09:00:00Z", "2025-03-01T12:00:00Z", status="finished"),
        # made at intake the day before the new order starts: inside the episode's one-day grace
        careplan("tp1", "718347000", "2025-03-04T09:00:00Z"),
    ]
    [ev] = run(mappings, resources, orders=[iop_order(replaces="ServiceRequest/old")])
    assert ev.phase == "continued-stay"
    assert ev.by_id("test.tp-48h").status == Status.MET


def test_passed_deadline_over_an_unreadable_source_is_unknown_not_failed(mappings):
    resources = [patient(), condition("c1", "F33.2"), program("2025-02-24T09:00:00Z")]
    [readable] = run(mappings, resources)
    assert readable.by_id("test.tp-48h").status == Status.NOT_MET
    [ev] = run(mappings, resources, unreadable={"CarePlan": ["careplans"], "Condition": [], "*": ["careplans"]})
    tp = ev.by_id("test.tp-48h")
    assert tp.status == Status.UNKNOWN
    assert tp.reason.startswith("could not be read: careplans")
    # a gap in one source does not make the others unreadable: a diagnosis not found there is "not documented"
    [ev] = run(mappings, [patient(), condition("c1", "Z59.0")], unreadable={"CarePlan": ["careplans"], "Condition": []})
    dx = ev.by_id("test.dx")
    assert dx.status == Status.UNKNOWN
    assert "not documented" in dx.reason and "could not be read" not in dx.reason


def test_unknown_age_leaves_the_child_section_unknown(mappings):
    no_birth_date = {"resourceType": "Patient", "id": "p1"}
    [ev] = run(mappings, [no_birth_date, condition("c1", "F33.2")])
    gate = ev.by_id("test.child.gate")
    assert gate.status == Status.UNKNOWN and "age unknown: birth date missing" in gate.reason
    family = ev.by_id("test.child.family")
    assert family.status == Status.UNKNOWN and family.reason.startswith("may not apply")
    assert ev.by_id("test.child").status == Status.UNKNOWN


def test_duty_not_yet_due_at_continued_stay_stays_pending(mappings):
    resources = [patient(), program("2025-03-02T09:00:00Z")]
    [ev] = run(mappings, resources)
    assert ev.by_id("test.tp-48h").status == Status.PENDING
    # the same absence under a rule without a deadline: pending until the criterion's own due time, then not met
    duty = ev.by_id("test.tp-duty")
    assert duty.status == Status.PENDING
    assert duty.reason.startswith("not due yet (due 2025-03-04 04:00 -05:00)")
    [later] = run(mappings, [patient(), program("2025-02-24T09:00:00Z")])
    assert later.by_id("test.tp-duty").status == Status.NOT_MET


def test_discharge_of_non_iop_encounter_is_not_evaluated(mappings):
    other = {
        "resourceType": "Encounter",
        "id": "e9",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
    }
    assert run(mappings, [patient(), other], hook="encounter-discharge", encounter_id="e9") == []


def test_discharge_uses_program_end_as_td(mappings):
    resources = [
        patient(),
        condition("c1", "F33.2"),
        program("2025-02-03T09:00:00Z", "2025-02-28T12:00:00Z", status="finished"),
        careplan("tp1", "718347000", "2025-02-04T09:00:00Z"),
    ]
    [ev] = run(mappings, resources, hook="encounter-discharge", encounter_id="prog")
    assert ev.phase == "discharge"
    assert ev.episode.anchors["TD"] == datetime(2025, 2, 28, 12, 0, tzinfo=UTC)
    assert ev.by_id("test.tp-48h").status == Status.MET
    assert "test.dx" not in statuses(ev)


def test_evaluation_uses_the_index_not_a_scan_per_criterion(mappings):
    """A big record costs a bounded number of index look-ups that does not grow with its size.

    (A small record may take a few look-ups fewer: with few candidates the index is not consulted for windows.)"""

    def record_of(n):
        resources = [patient(), condition("c1", "F33.2")]
        resources += [cssrs(f"o{i}", "93246-7", "LA32-8", when="2024-01-01T00:00:00Z") for i in range(n)]
        resources += [careplan(f"cp{i}", "718347000", "2024-01-01T00:00:00Z") for i in range(n)]
        return PatientRecord(resources)

    lookups = []
    for n in (1000, 4000):
        record = record_of(n)
        evaluate(
            mappings,
            record,
            hook="order-sign",
            now=NOW,
            policy_keys=["test"],
            orders=[iop_order()],
            draft_orders=[iop_order()],
            patient_id="p1",
        )
        lookups.append(record.lookups)
    assert lookups[0] == lookups[1], lookups
    assert lookups[1] < 60


def test_to_json_matches_the_data_profile(mappings):
    [ev] = run(mappings, [patient(), condition("c1", "F33.2")])
    body = ev.to_json()
    assert set(body) >= {"policy", "phase", "outcome", "criteria"}
    assert body["policy"] == "test" and body["phase"] == "admission"
    for item in body["criteria"]:
        assert {"id", "status", "citation", "evidence", "reason"} <= set(item)
        assert item["status"] in {"met", "not-met", "unknown", "not-applicable", "pending"}
        assert item["reason"]


def test_real_mappings_load():
    mappings = load_mappings(PROJECT_ROOT / "mappings")
    assert "molina" in mappings.policies
    assert mappings.jsonpath_direct > mappings.jsonpath_parsed
