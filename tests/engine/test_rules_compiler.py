"""Logic and criterion references, and malformed rules that must name their problem."""

from __future__ import annotations

from typing import Any

import pytest
from rules_helpers import condition, run

from cds_service.engine.mapping import Mappings
from cds_service.engine.selections import SpecError


def test_logic_and_criterion(mappings: Mappings) -> None:
    record = [condition("c1", "F33.1")]
    assert run(mappings, {"all": [{"exists": "mh-conditions"}, {"absent": "sud-conditions"}]}, record).value is True
    assert run(mappings, {"any": [{"exists": "sud-conditions"}, "never"]}, record).value is False
    negated = run(mappings, {"not": {"exists": "sud-conditions"}}, record)
    assert negated.value is True
    # The reason is the inner one: why "not X" holds is that no X was found (not "not (no X found)").
    assert negated.detail.startswith("no ") and "not (" not in negated.detail
    assert run(mappings, "always", []).value is True


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"sometimes": "x"}, "unknown operator"),
        ({"exists": "unicorns"}, "unknown selection"),
        ({"count": {"of": "mh-conditions"}}, "at-least"),
        ({"deadline": {"of": "treatment-plans", "due": {"from": "T0"}}}, "exactly one of"),
        ({"order": {"measure": "furlongs", "op": ">", "than": 1}}, "measure"),
        ({"criterion": {"id": "x.unknown"}}, "unknown criterion"),
        ({"age": {"at": "T7", "op": "<", "than": 18}}, "unknown time anchor"),
    ],
)
def test_malformed_rules_name_the_problem(mappings: Mappings, spec: Any, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        run(mappings, spec, [])
