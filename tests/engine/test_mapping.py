"""Loading mappings: every reference resolved at start-up, one message per problem naming file, id and reason."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from mini_mappings import mini_folder, mini_policy

from cds_service.config import PROJECT_ROOT
from cds_service.engine.mapping import MappingError, load_mappings

GOOD_POLICY = mini_policy("""    - id: mini.dx
      text: A diagnosis.
      citation: "#1"
      phase: [A]
      closed-world: true
      met-if: {exists: mh-conditions}
""")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return mini_folder(tmp_path, GOOD_POLICY)


def test_the_shipped_mappings_load() -> None:
    mappings = load_mappings(PROJECT_ROOT / "mappings")
    assert "molina" in mappings.policies and mappings.routes is not None


def test_a_good_folder_loads(folder: Path) -> None:
    assert list(load_mappings(folder).policies) == ["mini"]


def _policy(replace: str, by: str) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        path = folder / "policies" / "mini.yaml"
        text = path.read_text()
        assert replace in text
        path.write_text(text.replace(replace, by))

    return change


def _write(name: str, text: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).write_text(text)


BROKEN = [
    ("yaml syntax", _policy("title: Mini policy", "title: [unclosed"), "mini.yaml: not valid YAML"),
    (
        "unknown selection",
        _policy("exists: mh-conditions", "exists: unicorns"),
        "mini.dx: unknown selection 'unicorns'",
    ),
    ("unknown operator", _policy("{exists: mh-conditions}", "{sometimes: mh-conditions}"), "mini.dx"),
    ("unknown phase", _policy("phase: [A]", "phase: [Q]"), "mini.dx"),
    ("unknown tier", _policy("closed-world: true", "tier: vital"), "unknown tier 'vital'"),
    ("missing citation", _policy('      citation: "#1"\n', ""), "mini.dx"),
    (
        "duplicate id",
        _policy("  all-of:\n", "  all-of:\n    - {id: mini.dx, text: T, citation: c, phase: [A], attestation: true}\n"),
        "mini.dx",
    ),
    ("key differs from file", _policy("policy: mini", "policy: maxi"), "differs from the file name"),
    (
        "bad jsonpath",
        _write("facts/extra.yaml", "facts:\n  extra.bad: {resource: Condition, path: '$.code[?(', type: coding}\n"),
        "facts/extra.yaml: extra.bad: invalid JSONPath",
    ),
    (
        "unknown fact type",
        _write("facts/extra.yaml", "facts:\n  extra.t: {resource: Condition, path: $.code, type: colour}\n"),
        "extra.t",
    ),
    (
        "unknown value set",
        _write(
            "facts/extra.yaml",
            "selections:\n  extra-sel:\n    from: Condition\n    where: "
            "[{fact: condition.code, in-valueset: VS-NOPE}]\n",
        ),
        "unknown value set 'VS-NOPE'",
    ),
    (
        "unknown fact",
        _write(
            "facts/extra.yaml",
            "selections:\n  extra-sel:\n    from: Condition\n    where: [{fact: condition.colour, in: [red]}]\n",
        ),
        "facts/extra.yaml: selection extra-sel: unknown fact 'condition.colour'",
    ),
    (
        "selection cycle",
        _write("facts/extra.yaml", "selections:\n  s-one: {from: s-two}\n  s-two: {from: s-one}\n"),
        "facts/extra.yaml: selection s-one: depends on itself",
    ),
    (
        "duty read by a deadline without scope",
        lambda folder: (
            _write(
                "facts/extra.yaml", "selections:\n  old-plans: {label: plan, from: CarePlan, time: careplan.created}\n"
            )(folder),
            _policy(
                "met-if: {exists: mh-conditions}", "met-if: {deadline: {of: old-plans, due: {from: T0, hours: 48}}}"
            )(folder),
        ),
        "facts/extra.yaml: selection old-plans: evidence of a program duty (read by a deadline in policies/mini.yaml)"
        " has no scope",
    ),
    (
        "duty read by a recurring duty without scope",
        lambda folder: (
            _write(
                "facts/extra.yaml",
                "selections:\n  any-recerts: {label: recert, from: DocumentReference, time: documentreference.date}\n",
            )(folder),
            _policy("met-if: {exists: mh-conditions}", "met-if: {recurring: {of: any-recerts, days: 60, from: T0}}")(
                folder
            ),
        ),
        "facts/extra.yaml: selection any-recerts: evidence of a program duty (read by a recurring duty in "
        "policies/mini.yaml) has no scope",
    ),
    (
        "duty read by every window of the stay without scope",
        lambda folder: (
            _write(
                "facts/extra.yaml",
                "selections:\n  all-visits: {label: visit, from: Encounter, time: encounter.start}\n",
            )(folder),
            _policy(
                "met-if: {exists: mh-conditions}",
                "met-if: {every-window: {of: all-visits, days: 7, from: T0, to: TD, at-least: 3}}",
            )(folder),
        ),
        "facts/extra.yaml: selection all-visits: evidence of a program duty (read by every-window in "
        "policies/mini.yaml) has no scope",
    ),
    (
        "duty read by a recurring duty from a current state without scope",
        lambda folder: (
            _write(
                "facts/extra.yaml",
                "selections:\n  plan-reviews: {label: review, from: CarePlan, time: careplan.created, current: true}\n",
            )(folder),
            _policy("met-if: {exists: mh-conditions}", "met-if: {recurring: {of: plan-reviews, days: 60, from: T0}}")(
                folder
            ),
        ),
        "facts/extra.yaml: selection plan-reviews: evidence of a program duty (read by a recurring duty in "
        "policies/mini.yaml) has no scope",
    ),
    (
        "scope without a time fact",
        _write("facts/extra.yaml", "selections:\n  s-undated: {from: Goal, scope: episode}\n"),
        "facts/extra.yaml: selection s-undated: 'scope' needs a 'time' fact",
    ),
    (
        "grace without an episode scope",
        _write(
            "facts/extra.yaml",
            "selections:\n  s-grace: {from: CarePlan, time: careplan.created, scope: {from: T0}, grace: 1d}\n",
        ),
        "facts/extra.yaml: selection s-grace: 'grace' goes with 'scope: episode'",
    ),
    (
        "scope with an unknown anchor",
        _write(
            "facts/extra.yaml", "selections:\n  s-anchor: {from: CarePlan, time: careplan.created, scope: {from: T9}}\n"
        ),
        "facts/extra.yaml: selection s-anchor: unknown time anchor 'T9'",
    ),
    (
        "unknown selection key",
        _write("facts/extra.yaml", "selections:\n  s-typo: {from: CarePlan, curent: true}\n"),
        "facts/extra.yaml: selection s-typo: unknown key 'curent'",
    ),
    (
        "unknown policy in payers",
        _write(
            "payers.yaml", "routes:\n  - name: X\n    match: {payor-name: [x]}\n    policies: [nope]\ndefault: [mini]\n"
        ),
        "payers.yaml",
    ),
    (
        "bad value set",
        _write("valuesets/extra.yaml", "valuesets:\n  EXTRA: [{system: nowhere, codes: [a]}]\n"),
        "unknown system alias 'nowhere'",
    ),
]


@pytest.mark.parametrize(("name", "breaker", "message"), BROKEN, ids=[b[0] for b in BROKEN])
def test_each_broken_mapping_stops_loading_with_its_own_message(
    folder: Path, name: str, breaker: Callable[[Path], None], message: str
) -> None:
    (folder / "valuesets").mkdir(exist_ok=True)
    breaker(folder)
    with pytest.raises(MappingError) as error:
        load_mappings(folder)
    assert any(message in problem for problem in error.value.problems), error.value.problems


def test_all_problems_are_reported_at_once(folder: Path) -> None:
    _policy("exists: mh-conditions", "exists: unicorns")(folder)
    _write("payers.yaml", "routes: []\ndefault: [nope]\n")(folder)
    with pytest.raises(MappingError) as error:
        load_mappings(folder)
    assert len(error.value.problems) >= 2
