"""Check-mappings: whatever a ``duty: true`` criterion reads is bound to this episode or a current state."""

from __future__ import annotations

from pathlib import Path

import pytest
from mini_mappings import mini_folder, mini_policy

from cds_service.cli import main as cli_main
from cds_service.config import PROJECT_ROOT
from cds_service.engine.mapping import MappingError, load_mappings

POLICY = mini_policy("""    - id: mini.instructions-given
      text: Written crisis instructions are given during the stay.
      citation: "#1"
      phase: [D]
      closed-world: true
      duty: true
      met-if: {{RULE}}
""")

NOTES = """
selections:
  mini.instructions:
    label: written crisis instructions
    from: DocumentReference
    time: documentreference.date
{EXTRA}    where: [{fact: documentreference.type, in-valueset: NOTES-DISCHARGE-INSTRUCTIONS}]
"""


def _folder(tmp_path: Path, extra: str = "", rule: str = "exists: mini.instructions", duty: bool = True) -> Path:
    """A tiny mappings folder: the shared facts and value sets, one selection of notes and one duty criterion."""
    policy = POLICY.replace("{{RULE}}", "{" + rule + "}")
    if not duty:
        policy = policy.replace("      duty: true\n", "")
    mini_folder(tmp_path, policy)
    (tmp_path / "facts" / "mini.yaml").write_text(NOTES.replace("{EXTRA}", extra))
    return tmp_path


def _problems(folder: Path) -> list[str]:
    with pytest.raises(MappingError) as caught:
        load_mappings(folder)
    return caught.value.problems


def test_a_duty_criterion_reading_an_unbound_selection_is_rejected(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    assert _problems(folder) == [
        "facts/mini.yaml: selection mini.instructions: read by the duty criterion mini.instructions-given in "
        "policies/mini.yaml, but neither scoped nor a current state: an earlier episode's evidence would count; "
        "if it is evidence of this episode give it 'scope: episode' (with 'grace') or 'scope: {from: BOUND, to: "
        "BOUND}', or take it from a scoped selection; if it is a state the patient is in now give it "
        "'current: true', or take it from a current selection"
    ]


def test_a_scoped_selection_read_by_a_duty_criterion_loads(tmp_path: Path) -> None:
    mappings = load_mappings(_folder(tmp_path, "    scope: episode\n    grace: 1d\n"))
    assert mappings.selections["mini.instructions"].scope is not None


def test_a_window_scope_binds_the_selection_too(tmp_path: Path) -> None:
    assert "mini" in load_mappings(_folder(tmp_path, "    scope: {from: T0, to: TD}\n")).policies


def test_a_current_state_read_by_a_duty_criterion_loads(tmp_path: Path) -> None:
    assert load_mappings(_folder(tmp_path, "    current: true\n")).selections["mini.instructions"].current


def test_a_selection_taken_from_a_current_state_is_current(tmp_path: Path) -> None:
    # crisis-plans (facts.yaml) says current: true; a selection of it holds only plans in force as well
    folder = _folder(tmp_path, rule="exists: mini.own-plans")
    with (folder / "facts" / "mini.yaml").open("a") as notes:
        notes.write("  mini.own-plans:\n    label: crisis plan\n    from: crisis-plans\n")
    assert "mini.own-plans" in load_mappings(folder).selections


def test_a_criterion_that_is_no_duty_may_read_any_selection(tmp_path: Path) -> None:
    assert "mini" in load_mappings(_folder(tmp_path, duty=False)).policies


@pytest.mark.parametrize(
    "rule",
    [
        "any: [{exists: treatment-plans}, {not: {absent: mini.instructions}}]",
        "count: {of: mini.instructions, at-least: 2}",
        "exists: {of: mini.instructions, where: [{fact: documentreference.status, in: [current]}]}",
    ],
)
def test_reads_inside_logic_counts_and_filters_are_checked(tmp_path: Path, rule: str) -> None:
    [problem] = _problems(_folder(tmp_path, rule=rule))
    assert problem.startswith("facts/mini.yaml: selection mini.instructions: read by the duty criterion")


def test_the_gate_of_a_duty_is_checked_too(tmp_path: Path) -> None:
    # an earlier stay's evidence must not make the duty apply (and its absence not-met) either
    folder = _folder(tmp_path, rule="exists: treatment-plans")
    path = folder / "policies" / "mini.yaml"
    path.write_text(
        path.read_text().replace("      met-if:", "      applies-if: {exists: mini.instructions}\n      met-if:")
    )
    [problem] = _problems(folder)
    assert "selection mini.instructions: read by the duty criterion mini.instructions-given" in problem


def test_a_selection_a_where_clause_refers_to_is_not_evidence_itself(tmp_path: Path) -> None:
    # the note is bound to the episode; the selection it must point to only qualifies it (which encounter, whom)
    folder = _folder(tmp_path, "    scope: episode\n")
    with (folder / "facts" / "mini.yaml").open("a") as notes:
        notes.write(
            "  mini.linked-instructions:\n    label: instructions of an encounter\n    from: mini.instructions\n"
            "    where: [{fact: documentreference.encounter, refers-to: mini.any-encounters}]\n"
            "  mini.any-encounters:\n    label: encounter\n    from: Encounter\n"
        )
    path = folder / "policies" / "mini.yaml"
    path.write_text(path.read_text().replace("exists: mini.instructions", "exists: mini.linked-instructions"))
    assert "mini.linked-instructions" in load_mappings(folder).selections


def test_check_mappings_names_the_unbound_selection(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["check-mappings", str(_folder(tmp_path))]) != 0
    captured = capsys.readouterr()
    assert "selection mini.instructions: read by the duty criterion mini.instructions-given" in (
        captured.out + captured.err
    )


def test_the_shipped_duty_criteria_read_only_bound_selections() -> None:
    # start-up runs the check: every policy's duty criteria, CCA's included, read bound selections
    mappings = load_mappings(PROJECT_ROOT / "mappings")
    assert {"bh803", "cca", "medica", "molina", "optum-locg"} <= set(mappings.policies)


def test_what_a_bound_selection_refers_to_is_bound_through_it(tmp_path: Path) -> None:
    # the goals this episode's treatment plan lists are this episode's, though a Goal carries no date of its own
    folder = _folder(tmp_path, rule="exists: mini.plan-goals")
    with (folder / "facts" / "mini.yaml").open("a") as notes:
        notes.write(
            "  mini.plan-goals:\n    label: goal of this plan\n    from: Goal\n"
            "    where: [{referenced-by: treatment-plans, via: careplan.goal}]\n"
        )
    assert "mini.plan-goals" in load_mappings(folder).selections


def test_referring_to_a_bound_selection_only_in_one_alternative_does_not_bind(tmp_path: Path) -> None:
    folder = _folder(tmp_path, rule="exists: mini.some-goals")
    with (folder / "facts" / "mini.yaml").open("a") as notes:
        notes.write(
            "  mini.some-goals:\n    label: goal\n    from: Goal\n    where:\n      - any:\n"
            "          - {referenced-by: treatment-plans, via: careplan.goal}\n"
            "          - {fact: goal.lifecycle-status, in: [active]}\n"
        )
    [problem] = _problems(folder)
    assert problem.startswith("facts/mini.yaml: selection mini.some-goals: read by the duty criterion")


DEADLINE = "deadline: {of: SELECTION, due: {from: T0, hours: 48}}"
NO_SCOPE = "evidence of a program duty (read by a deadline in policies/mini.yaml) has no scope"
# How a selection may be bound without a window of its own: each satisfies a duty criterion that tests it, none a
# duty operator (deadline, recurring, every-window), which needs this episode's timed evidence.
NOT_WINDOWED = [
    ("current", "mini.instructions", "    current: true\n", ""),
    ("from-current", "mini.own-plans", "", "  mini.own-plans:\n    label: crisis plan\n    from: crisis-plans\n"),
    (
        "referenced-by-bound",
        "mini.plan-sessions",
        "",
        "  mini.plan-sessions:\n    label: session of this plan\n    from: Procedure\n    time: procedure.performed\n"
        "    where: [{referenced-by: treatment-plans, via: careplan.activity-reference}]\n",
    ),
]


def _bound_elsewhere(tmp_path: Path, rule: str, extra: str, more: str) -> Path:
    folder = _folder(tmp_path, extra, rule=rule)
    with (folder / "facts" / "mini.yaml").open("a") as notes:
        notes.write(more)
    return folder


@pytest.mark.parametrize(("name", "selection", "extra", "more"), NOT_WINDOWED, ids=[c[0] for c in NOT_WINDOWED])
def test_a_state_or_a_referred_member_satisfies_a_duty_criterion(
    tmp_path: Path, name: str, selection: str, extra: str, more: str
) -> None:
    assert selection in load_mappings(_bound_elsewhere(tmp_path, f"exists: {selection}", extra, more)).selections


@pytest.mark.parametrize(("name", "selection", "extra", "more"), NOT_WINDOWED, ids=[c[0] for c in NOT_WINDOWED])
def test_but_a_deadline_on_it_still_needs_a_scope(
    tmp_path: Path, name: str, selection: str, extra: str, more: str
) -> None:
    rule = DEADLINE.replace("SELECTION", selection)
    problems = _problems(_bound_elsewhere(tmp_path, rule, extra, more))
    assert f"facts/mini.yaml: selection {selection}: {NO_SCOPE}" in [p.split("; give it")[0] for p in problems]


def test_a_deadline_on_a_scoped_selection_loads(tmp_path: Path) -> None:
    rule = DEADLINE.replace("SELECTION", "mini.instructions")
    assert "mini" in load_mappings(_folder(tmp_path, "    scope: episode\n", rule=rule)).policies
