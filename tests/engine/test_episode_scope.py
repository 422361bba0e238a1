"""Episode scope (DATA-PROFILE §6): duties count only this episode's evidence, states only current resources.

Each case is one change from a golden patient, evaluated through the hook pipeline, and names the policy
sentence whose verdict it asserts. The last tests check that the mapping loader rejects a duty with no scope.
"""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rules_helpers import run
from sentence_cases import Bundle, SentenceCase, add, by_id, drop, evaluate, from_golden

from cds_service.cli import main as cli_main
from cds_service.config import PROJECT_ROOT
from cds_service.engine.mapping import MappingError, load_mappings
from cds_service.engine.selections import SpecError, is_current, parse_scope

SNOMED = "http://snomed.info/sct"
P1_AT = "2025-03-03T10:00:00-06:00"  # Medica admission (catalogue §5 P1)
P4_AT = "2025-02-28T12:05:00-05:00"  # Optum discharge audit (P4)
P5_AT = "2025-03-21T12:10:00-04:00"  # Molina discharge audit (P5)

MOLINA_48H = "The program completes … an initial treatment plan … within 48 hours of admission."
OPTUM_DC_PLAN = "Develop an initial discharge plan."
MEDICA_SAFETY = "The individual has a documented safety plan developed in conjunction with the provider"


def careplan(cid: str, patient: str, category: str, created: str, **extra: object) -> dict[str, object]:
    """A CarePlan of one SNOMED category."""
    return {
        "resourceType": "CarePlan",
        "id": cid,
        "status": "active",
        "intent": "plan",
        "subject": {"reference": f"Patient/{patient}"},
        "category": [{"coding": [{"system": SNOMED, "code": category}]}],
        "created": created,
        **extra,
    }


def plan_of_2024_only(bundle: Bundle) -> None:
    """P5's own plan is gone; the only treatment plan is from an outpatient course in 2024 (still marked active)."""
    drop(bundle, lambda r: r.get("id") == "P5-tp")
    add(bundle, careplan("P5-tp-2024", "P5-patient", "718347000", "2024-05-02T10:00:00-04:00"))


def inpatient_unit_discharge_plan(bundle: Bundle) -> None:
    """The IOP's discharge plan is gone; the inpatient unit wrote one on its last day, for its own discharge."""
    drop(bundle, lambda r: r.get("id") == "P4-dcp")
    add(
        bundle,
        careplan(
            "P4-ip-dcp",
            "P4-patient",
            "736372004",
            "2025-02-02T10:00:00-05:00",
            encounter={"reference": "Encounter/P4-ip"},
        ),
    )


def safety_plan_closed_in_2022(bundle: Bundle) -> None:
    """P1's crisis plan is one that was completed and closed in 2022."""
    plan = by_id(bundle, "P1-crp")
    plan.update(
        status="completed", created="2022-01-10T10:00:00-06:00", period={"start": "2022-01-10", "end": "2022-06-30"}
    )


CASES = [
    SentenceCase(
        "molina.process.2b-initial-tp-48h",
        "not-met",
        MOLINA_48H,
        from_golden("P5", plan_of_2024_only),
        "encounter-discharge",
        P5_AT,
        "molina",
        "P5-prog",
        name="a 2024 plan for a 2025 admission",
    ),
    SentenceCase(
        "optum-locg.process.6b3-initial-dc-plan-3d",
        "not-met",
        OPTUM_DC_PLAN,
        from_golden("P4", inpatient_unit_discharge_plan),
        "encounter-discharge",
        P4_AT,
        "optum-locg",
        "P4-prog",
        name="the inpatient unit's discharge plan",
    ),
    SentenceCase(
        "medica.adult-admission.6-safety-plan",
        "unknown",  # no current plan found: not documented (a state with no deadline), never met by the 2022 plan
        MEDICA_SAFETY,
        from_golden("P1", safety_plan_closed_in_2022),
        "order-sign",
        P1_AT,
        "medica",
        name="a safety plan closed in 2022",
    ),
    # The same records without the change keep their verdicts: the scope takes away only other episodes' evidence.
    SentenceCase(
        "molina.process.2b-initial-tp-48h",
        "not-met",
        MOLINA_48H,
        from_golden("P5"),
        "encounter-discharge",
        P5_AT,
        "molina",
        "P5-prog",
        name="the program's own plan at 73 hours",
    ),
    SentenceCase(
        "optum-locg.process.6b3-initial-dc-plan-3d",
        "met",
        OPTUM_DC_PLAN,
        from_golden("P4"),
        "encounter-discharge",
        P4_AT,
        "optum-locg",
        "P4-prog",
        name="the program's own discharge plan",
    ),
    SentenceCase(
        "medica.adult-admission.6-safety-plan",
        "met",
        MEDICA_SAFETY,
        from_golden("P1"),
        "order-sign",
        P1_AT,
        "medica",
        name="an active safety plan made before admission",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_duties_count_this_episode_and_states_need_a_current_resource(case: SentenceCase) -> None:
    got = evaluate(case)[case.criterion]
    assert got["status"] == case.expect, f"“{case.quote}” — {got['reason']}"


def test_a_plan_of_an_earlier_stay_is_not_shown_as_evidence() -> None:
    got = evaluate(CASES[0])["molina.process.2b-initial-tp-48h"]
    assert "CarePlan/P5-tp-2024" not in got["evidence"]
    assert re.match(r"no treatment plan( of this stay)? by 2025-03-05", got["reason"]), got["reason"]


def test_evidence_left_out_by_the_scope_is_named_in_the_reason_not_silently_dropped() -> None:
    # issue 15 #6: the reason says what was found and why it does not count
    earlier = evaluate(CASES[0])["molina.process.2b-initial-tp-48h"]
    assert earlier["reason"].endswith(
        "; found CarePlan/P5-tp-2024 (of 2024-05-02, from before this episode), not counted"
    ), earlier["reason"]
    inpatient = evaluate(CASES[1])["optum-locg.process.6b3-initial-dc-plan-3d"]
    assert inpatient["reason"].endswith(
        "; found CarePlan/P4-ip-dcp (of 2025-02-02, made in another stay or program), not counted"
    ), inpatient["reason"]
    assert "CarePlan/P4-ip-dcp" not in inpatient["evidence"]


AT = datetime(2025, 3, 3, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("resource", "current"),
    [
        ({"resourceType": "CarePlan", "status": "active"}, True),
        ({"resourceType": "CarePlan", "status": "active", "period": {"end": "2025-03-01"}}, False),
        ({"resourceType": "CarePlan", "status": "completed", "period": {"end": "2022-06-30"}}, False),
        ({"resourceType": "CarePlan", "status": "completed"}, False),
        # closed since, but still in force at the time judged (a retrospective review at discharge)
        ({"resourceType": "CarePlan", "status": "completed", "period": {"end": "2025-03-03T15:00:00Z"}}, True),
        ({"resourceType": "CarePlan", "status": "on-hold"}, False),
        ({"resourceType": "CarePlan", "status": "entered-in-error"}, False),
        ({"resourceType": "Condition", "clinicalStatus": {"coding": [{"code": "active"}]}}, True),
        ({"resourceType": "Condition", "clinicalStatus": {"coding": [{"code": "resolved"}]}}, False),
        ({"resourceType": "RelatedPerson", "active": False}, False),
        ({"resourceType": "Consent", "status": "active", "provision": {"period": {"end": "2024-12-31"}}}, False),
    ],
)
def test_a_state_is_current_when_in_force_at_the_time_judged(resource: dict[str, object], current: bool) -> None:
    assert is_current(resource, AT) is current


def test_scope_forms_and_their_errors() -> None:
    episode = parse_scope("episode", {"before": "1d"})
    assert episode.episode and episode.low is not None and episode.low.offset == -timedelta(days=1)
    assert episode.high is not None and episode.high.anchor == "TD" and episode.high.offset == timedelta(0)
    window = parse_scope({"from": "event-30d"})
    assert window.low is not None and window.low.anchor == "event" and window.high is None
    for bad, grace in [("always", None), ({"from": "T0", "until": "TD"}, None), ({"from": "T0"}, "1d"), ({}, None)]:
        with pytest.raises(SpecError):
            parse_scope(bad, grace)


@pytest.fixture
def copied_mappings(tmp_path: Path) -> Path:
    folder = tmp_path / "mappings"
    shutil.copytree(PROJECT_ROOT / "mappings", folder)
    return folder


def _unscope(folder: Path, text: str, by: str = "") -> None:
    path = folder / "facts.yaml"
    content = path.read_text(encoding="utf-8")
    assert text in content
    path.write_text(content.replace(text, by, 1), encoding="utf-8")


def test_check_mappings_rejects_a_deadline_read_selection_without_scope(copied_mappings: Path, capsys) -> None:
    # the first one is treatment-plans; without its marker it is still a duty, because Molina's deadline reads it
    _unscope(copied_mappings, "    scope: episode\n    grace: 1d\n    duty: true\n")
    with pytest.raises(MappingError) as caught:
        load_mappings(copied_mappings)
    [problem] = [p for p in caught.value.problems if "selection treatment-plans:" in p]
    assert problem.startswith("facts.yaml: selection treatment-plans: evidence of a program duty (read by a deadline")
    assert "has no scope" in problem
    assert cli_main(["check-mappings", str(copied_mappings)]) != 0
    captured = capsys.readouterr()
    assert "selection treatment-plans" in captured.out + captured.err


def test_check_mappings_rejects_a_selection_marked_duty_without_scope(copied_mappings: Path) -> None:
    _unscope(
        copied_mappings,
        "  audit-c-scores:\n",
        "  unscoped-duty:\n    label: x\n    from: CarePlan\n    duty: true\n  audit-c-scores:\n",
    )
    with pytest.raises(MappingError) as caught:
        load_mappings(copied_mappings)
    assert any(
        p.startswith("facts.yaml: selection unscoped-duty: evidence of a program duty (marked duty: true)")
        for p in caught.value.problems
    ), caught.value.problems


def test_a_duty_taken_from_a_scoped_selection_is_scoped(copied_mappings: Path) -> None:
    _unscope(
        copied_mappings,
        "  audit-c-scores:\n",
        "  derived-duty:\n    label: x\n    from: treatment-plans\n    duty: true\n  audit-c-scores:\n",
    )
    assert "derived-duty" in load_mappings(copied_mappings).selections


def test_scope_needs_a_time_fact(copied_mappings: Path) -> None:
    _unscope(
        copied_mappings,
        "  audit-c-scores:\n",
        "  undated:\n    label: x\n    from: Goal\n    scope: episode\n  audit-c-scores:\n",
    )
    with pytest.raises(MappingError) as caught:
        load_mappings(copied_mappings)
    assert "facts.yaml: selection undated: 'scope' needs a 'time' fact that dates each member" in caught.value.problems


def test_a_look_back_counts_from_the_order_not_the_evaluation_time() -> None:
    """P2's PHQ-9 of 15 on 02-28, the order signed 03-03, reviewed on 04-10: "in the last 30 days" of the order."""

    def phq9_of_15(bundle: Bundle) -> None:
        by_id(bundle, "P2-phq9")["valueQuantity"]["value"] = 15

    case = SentenceCase(
        "medica.adult-admission.1-dx-moderate-severe",
        "met",
        "A moderate to severe DSM mental health disorder",
        from_golden("P2", phq9_of_15),
        "order-sign",
        "2025-04-10T14:00:00-05:00",
        "medica",
        name="a retrospective review",
    )
    got = evaluate(case)[case.criterion]
    assert got["status"] == "met" and "Observation/P2-phq9" in got["evidence"], got["reason"]


HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


def encounter(eid: str, klass: str, **extra: object) -> dict[str, object]:
    return {
        "resourceType": "Encounter",
        "id": eid,
        "status": "finished",
        "class": {"system": ACT, "code": klass},
        **extra,
    }


THIS_PROGRAM = encounter("prog", "AMB", type=[{"coding": [{"system": HCPCS, "code": "S9480"}]}])
THIS_SESSION = encounter("sess", "AMB", partOf={"reference": "Encounter/prog"})
LINKS = [
    ("this program", "prog", [], True),
    ("a session of this program", "sess", [], True),
    ("the intake visit of this admission", "intake", [encounter("intake", "AMB")], True),
    ("an encounter not in the record", "elsewhere", [], True),
    ("the inpatient unit", "ip", [encounter("ip", "IMP")], False),
    ("the emergency department", "ed", [encounter("ed", "EMER")], False),
    (
        "an earlier IOP program",
        "old",
        [encounter("old", "AMB", type=[{"coding": [{"system": HCPCS, "code": "S9480"}]}])],
        False,
    ),
    (
        "a session of an earlier program",
        "old-s",
        [encounter("old-s", "AMB", partOf={"reference": "Encounter/old"})],
        False,
    ),
]


@pytest.mark.parametrize(("what", "link", "others", "counts"), LINKS, ids=[item[0] for item in LINKS])
def test_a_plan_made_in_another_stay_or_program_is_not_this_episodes(
    mappings, what: str, link: str, others: list[dict[str, object]], counts: bool
) -> None:
    plan = careplan("tp", "p", "718347000", "2025-03-04T10:00:00Z", encounter={"reference": f"Encounter/{link}"})
    result = run(
        mappings,
        {"exists": "treatment-plans"},
        [plan, THIS_PROGRAM, THIS_SESSION, *others],
        PROG=[THIS_PROGRAM],
        SESS=[THIS_SESSION],
    )
    assert result.value is counts, what
