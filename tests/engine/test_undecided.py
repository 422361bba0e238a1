"""The selection key ``undecided`` (resources that may be members but do not say so): checked at load, and an answer
resting on absence that such a resource would change is unknown."""

from __future__ import annotations

from pathlib import Path

import pytest
from mini_mappings import mini_folder, mini_policy
from rules_helpers import run

from cds_service.engine.mapping import MappingError, Mappings, load_mappings

POLICY = mini_policy("""    - id: mini.plan
      text: A treatment plan.
      citation: "#1"
      phase: [A]
      closed-world: true
      met-if: {exists: kind-plans}
""")


def _folder(tmp_path: Path, undecided: str) -> Path:
    folder = mini_folder(tmp_path, POLICY)
    (folder / "facts" / "extra.yaml").write_text(
        "selections:\n"
        "  untold-plans: {label: plan that does not say which, from: CarePlan, time: careplan.created}\n"
        f"  kind-plans: {{label: plan, from: CarePlan, time: careplan.created, undecided: {undecided}}}\n"
    )
    return folder


def test_an_undecided_selection_that_exists_loads(tmp_path: Path) -> None:
    mappings = load_mappings(_folder(tmp_path, "untold-plans"))
    assert mappings.selections["kind-plans"].undecided == "untold-plans"


@pytest.mark.parametrize("name", ["no-such-plans", "kind-plans"])
def test_an_unknown_or_own_undecided_selection_stops_loading(tmp_path: Path, name: str) -> None:
    with pytest.raises(MappingError) as error:
        load_mappings(_folder(tmp_path, name))
    assert any(f"'undecided' names unknown selection {name!r}" in p for p in error.value.problems), error.value.problems


# --- the undecided view over the shipped mappings: a plan that does not say which plan it is -------------------------

US_CORE = "http://hl7.org/fhir/us/core/CodeSystem/careplan-category"
SNOMED = "http://snomed.info/sct"
PROG = {
    "resourceType": "Encounter",
    "id": "prog",
    "status": "in-progress",
    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
    "period": {"start": "2025-03-03T09:00:00Z"},
}


def plan(created: str, *codings: dict[str, str], status: str = "active", end: str | None = None) -> dict[str, object]:
    resource: dict[str, object] = {
        "resourceType": "CarePlan",
        "id": "plan",
        "status": status,
        "intent": "plan",
        "category": [{"coding": list(codings)}],
        "created": created,
    }
    if end:
        resource["period"] = {"start": created[:10], "end": end}
    return resource


ASSESS = {"system": US_CORE, "code": "assess-plan"}
TREATMENT = {"system": SNOMED, "code": "718347000"}
DEADLINE = {"deadline": {"of": "treatment-plans", "due": {"from": "T0", "hours": 48}}}


def _run(mappings: Mappings, spec: object, *resources: dict[str, object]) -> object:
    return run(mappings, spec, [PROG, *resources], PROG=[PROG], SESS=[])


def test_an_assess_plan_only_plan_of_this_episode_leaves_a_plan_duty_unknown(mappings: Mappings) -> None:
    result = _run(mappings, DEADLINE, plan("2025-03-04T10:00:00Z", ASSESS))
    assert result.value is None
    assert "found CarePlan/plan (of 2025-03-04" in result.detail
    assert "a plan with no category that says which plan it is" in result.detail
    assert "no treatment plan by" in result.detail and result.evidence == ["CarePlan/plan"]


@pytest.mark.parametrize(
    ("name", "resource", "value"),
    [
        ("both codes", plan("2025-03-04T10:00:00Z", ASSESS, TREATMENT), True),
        ("no plan", None, False),
        ("of an earlier episode", plan("2024-06-04T10:00:00Z", ASSESS, status="completed", end="2024-07-19"), False),
        ("made after the deadline", plan("2025-03-08T10:00:00Z", ASSESS), False),
    ],
)
def test_what_the_undecided_view_does_not_change_stands(
    mappings: Mappings, name: str, resource: dict[str, object] | None, value: bool
) -> None:
    result = _run(mappings, DEADLINE, *([resource] if resource else []))
    assert result.value is value, f"{name}: {result.detail}"


def test_a_state_reads_only_undecided_plans_in_force(mappings: Mappings) -> None:
    in_force = _run(mappings, {"exists": "crisis-plans"}, plan("2025-03-04T10:00:00Z", ASSESS))
    ended = _run(
        mappings, {"exists": "crisis-plans"}, plan("2024-06-04T10:00:00Z", ASSESS, status="completed", end="2024-07-19")
    )
    assert in_force.value is None and "CarePlan/plan" in in_force.detail
    assert ended.value is False
