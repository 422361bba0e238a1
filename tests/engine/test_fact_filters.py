"""Filter paths run by the engine's own walk find exactly what jsonpath-ng finds, on real and awkward resources."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonpath_ng.ext import parse as parse_jsonpath

from cds_service.engine.facts import compile_path
from cds_service.engine.mapping import load_mappings

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"

EXTRA_PATHS = [
    "$.component[?(@.code.coding[-1].code != '93269-9')].valueQuantity.value",
    "$.participant[?(@.required == true)].actor",
    "$.participant[?(@.actor.display == null)].actor",
    "$.diagnosis[?(@.rank >= 2)].condition.reference",
    "$.code.coding[?(@.system =~ 'snomed' && @.code)].code",
    "$.extension[?(@.valueBoolean)].url",
    "$.contained[*].code.coding[?(@.code == '1')]",
]

AWKWARD: list[dict[str, Any]] = [
    {"resourceType": "Appointment", "participant": {"a": {"actor": {"reference": "Location/1"}}}},
    {"resourceType": "Appointment", "participant": [None, {"actor": None}, {"actor": {"reference": None}}]},
    {
        "resourceType": "Appointment",
        "participant": [{"actor": {"reference": 7}}, {"actor": [{"reference": "Location/x"}]}],
    },
    {"resourceType": "Appointment", "participant": [{"actor": {"reference": "Location/2"}, "required": True}]},
    {"resourceType": "Appointment", "participant": [{"required": 1, "actor": {"display": None}}]},
    {"resourceType": "Encounter", "diagnosis": [{"rank": True, "condition": {}}, {"rank": 1.0, "condition": None}]},
    {"resourceType": "Encounter", "diagnosis": [{"rank": "1", "condition": {"reference": "Condition/a"}}, {"rank": 3}]},
    {"resourceType": "Observation", "component": [{"code": {"coding": []}}, {"code": {"coding": "x"}}]},
    {"resourceType": "Observation", "component": [{"code": {"coding": [{"code": "93269-9"}, {"code": "1"}]}}]},
    {
        "resourceType": "CarePlan",
        "activity": [{"detail": {"scheduledTiming": None, "code": {"coding": [{"code": 1}]}}}],
    },
    {"resourceType": "CarePlan", "activity": [{"detail": {"scheduledTiming": {}, "code": {"coding": {"a": 1}}}}]},
    {
        "resourceType": "Patient",
        "address": [{"use": "old", "state": "MA"}, {"state": "NH"}, {"use": None, "state": "VT"}],
    },
    {"resourceType": "Patient", "address": {"use": "home", "state": "ME"}},
    {"resourceType": "Condition", "code": {"coding": [{"system": "http://snomed.info/sct", "code": "1"}]}},
    {
        "resourceType": "Condition",
        "extension": [{"url": "u", "valueBoolean": False}, {"url": "v", "valueBoolean": True}],
    },
    {"resourceType": "Condition", "contained": {"x": {"code": {"coding": [{"code": "1"}]}}}},
]


def resources() -> list[Any]:
    """Every resource of the fixtures (golden patients, Synthea, CRD) and the awkward ones above."""
    found: list[Any] = list(AWKWARD)
    for path in sorted(FIXTURES.rglob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            continue
        stack = [doc]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                if "resourceType" in node:
                    found.append(node)
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
    return found


def filter_paths() -> list[str]:
    mappings = load_mappings(ROOT / "mappings")
    return sorted({f.path for f in mappings.facts.values() if "[?(" in f.path} | set(EXTRA_PATHS))


@pytest.fixture(scope="module")
def corpus() -> list[Any]:
    return resources()


@pytest.mark.parametrize("path", filter_paths())
def test_a_filter_path_finds_what_jsonpath_ng_finds(path: str, corpus: list[Any]) -> None:
    accessor, _ = compile_path(path)
    expression = parse_jsonpath(path)
    for resource in corpus:
        expected = [m.value for m in expression.find(resource) if m.value is not None]
        assert accessor(resource) == expected, (path, resource)


def test_the_mappings_filter_paths_take_the_fast_walk() -> None:
    for path in filter_paths():
        accessor, direct = compile_path(path)
        assert not direct
        assert accessor.__qualname__.startswith("_interpreted"), path


def test_a_union_of_simple_paths_finds_what_either_finds() -> None:
    accessor, direct = compile_path("$.valueQuantity.value | $.valueInteger")
    assert direct
    assert accessor({"resourceType": "Observation", "valueInteger": 21}) == [21]
    assert accessor({"resourceType": "Observation", "valueQuantity": {"value": 3}}) == [3]
    assert accessor({"resourceType": "Observation", "valueString": "21"}) == []
