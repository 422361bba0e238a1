"""The selection key ``undecided`` (resources that may be members but do not say so) is checked at load."""

from __future__ import annotations

from pathlib import Path

import pytest
from mini_mappings import mini_folder, mini_policy

from cds_service.engine.mapping import MappingError, load_mappings

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
