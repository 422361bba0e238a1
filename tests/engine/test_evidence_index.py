"""The record's indexes only make selections faster: members, verdicts and memory behaviour stay those of a scan."""

from __future__ import annotations

import copy
import gc
import json
import weakref
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cds_service.config import POLICY_KEYS, PROJECT_ROOT
from cds_service.engine import selections
from cds_service.engine.context import EvaluationContext, resource_key
from cds_service.engine.episode import derive_episode
from cds_service.engine.evaluator import evaluate
from cds_service.engine.facts import _CHILD, _EVERY, _INDEX, _compiled_walk, _walk, compile_path
from cds_service.engine.mapping import Mappings, load_mappings
from cds_service.engine.timecalc import BusinessCalendar
from cds_service.record.patient_record import PatientRecord

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
ORDER_AT = datetime.fromisoformat("2025-03-12T10:00:00-04:00")
DISCHARGE_AT = datetime.fromisoformat("2025-03-21T12:10:00-04:00")
# Moves of P5's dated resources: around the windows' edges (a day, an hour either side), undated, partial, naive.
SHIFTS = [timedelta(days=d) for d in (-400, -61, -31, -30, -29, -8, -7, -2, -1, 1, 2, 7, 30)] + [
    timedelta(hours=h) for h in (-49, -47, -25, -23, -1, 1, 23, 25)
]


@pytest.fixture(scope="module")
def mappings() -> Mappings:
    return load_mappings(PROJECT_ROOT / "mappings")


def _entries(path: Path) -> list[dict[str, Any]]:
    return [e["resource"] for e in json.loads(path.read_text(encoding="utf-8"))["entry"]]


def _shifted(value: str, by: timedelta) -> str:
    """A FHIR date or dateTime moved by ``by``, in the same precision."""
    if len(value) == 10:
        return (datetime.fromisoformat(value) + by).date().isoformat()
    return (datetime.fromisoformat(value.replace("Z", "+00:00")) + by).isoformat()


def _moved(resource: dict[str, Any], by: timedelta, suffix: str) -> dict[str, Any]:
    """A copy with a new id and every date moved by ``by`` (references to P5's encounters kept)."""
    text = json.dumps(resource)
    for key in ("start", "end", "created", "date", "authoredOn", "performedDateTime", "effectiveDateTime", "authored"):
        marker = f'"{key}": "'
        pieces = text.split(marker)
        for i in range(1, len(pieces)):
            value, rest = pieces[i].split('"', 1)
            if value[:4].isdigit():
                pieces[i] = f'{_shifted(value, by)}"{rest}'
        text = marker.join(pieces)
    out = json.loads(text)
    out["id"] = f"{out.get('id', 'x')}-{suffix}"
    return out


def messy_record() -> list[dict[str, Any]]:
    """P5's episode, three Synthea histories, and P5's evidence moved around every window edge or made undated,
    partial or zone-less."""
    episode = _entries(FIXTURES / "golden" / "P5.json")
    resources = list(episode)
    for path in sorted((FIXTURES / "synthea").glob("*.json")):
        resources += _entries(path)
    dated = [r for r in episode if r["resourceType"] not in {"Patient", "Practitioner", "Organization", "Coverage"}]
    for n, by in enumerate(SHIFTS):
        resources += [_moved(r, by, f"s{n}") for r in dated if r["id"] != "P5-prog"]
    for r in dated[:12]:
        undated = copy.deepcopy(r)
        undated["id"] += "-undated"
        for key in ("created", "date", "authoredOn", "performedDateTime", "effectiveDateTime", "period"):
            undated.pop(key, None)
        partial = copy.deepcopy(r)
        partial["id"] += "-partial"
        naive = copy.deepcopy(r)
        naive["id"] += "-naive"
        for key in ("created", "date", "authoredOn", "performedDateTime", "effectiveDateTime"):
            if isinstance(partial.get(key), str):
                partial[key] = partial[key][:7]
                naive[key] = naive[key][:19]
        resources += [undated, partial, naive]
    return resources


def _context(mappings: Mappings, resources: list[dict[str, Any]], hook: str) -> EvaluationContext:
    ctx = EvaluationContext(
        record=PatientRecord(resources),
        facts=mappings.facts,
        selections=mappings.selections,
        now=DISCHARGE_AT if hook == "encounter-discharge" else ORDER_AT,
        phase="admission",
        calendar=BusinessCalendar.from_spec("US-MA"),
        valuesets=mappings.valuesets,
    )
    order = next(r for r in _entries(FIXTURES / "golden" / "P5.json") if r["resourceType"] == "Encounter")
    order = {
        "resourceType": "ServiceRequest",
        "id": "draft",
        "status": "draft",
        "intent": "order",
        "authoredOn": "2025-03-12T09:00:00-04:00",
        "code": {"coding": [{"system": "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "code": "S9480"}]},
        "subject": order["subject"],
    }
    ctx.builtins["draft-orders"] = [order]
    ctx.builtins["iop-order"] = [order] if hook == "order-sign" else []
    assert derive_episode(ctx, hook, order if hook == "order-sign" else None, "P5-prog") is not None
    return ctx


@pytest.mark.parametrize("hook", ["order-sign", "encounter-discharge"])
def test_every_selection_has_the_members_a_scan_finds_in_the_same_order(mappings, hook, monkeypatch) -> None:
    resources = messy_record()
    indexed = _context(mappings, resources, hook)
    found = {name: [resource_key(r) for r in indexed.select(name)] for name in sorted(mappings.selections)}
    assert indexed.record.memo, "the indexes were not used"

    monkeypatch.setattr(selections.Selection, "_indexed", lambda self, source, predicates, ctx: None)
    monkeypatch.setattr(selections.Selection, "_narrowed", lambda self, members, ctx, timed=True: members)
    scanned = _context(mappings, resources, hook)
    expected = {name: [resource_key(r) for r in scanned.select(name)] for name in sorted(mappings.selections)}
    assert found == expected
    assert sum(1 for members in found.values() if members) > 40  # the record exercises most selections


def test_verdicts_reasons_and_due_times_do_not_depend_on_the_indexes(mappings, monkeypatch) -> None:
    resources = messy_record()

    def verdicts() -> list[tuple[Any, ...]]:
        out = []
        for hook, now in (("order-sign", ORDER_AT), ("encounter-discharge", DISCHARGE_AT)):
            order = {**_context(mappings, resources, "order-sign").builtins["iop-order"][0]}
            for evaluation in evaluate(
                mappings,
                PatientRecord(resources),
                hook=hook,
                now=now,
                policy_keys=list(POLICY_KEYS),
                orders=[order],
                draft_orders=[order],
                encounter_id="P5-prog",
                patient_id="P5-patient",
                calendar=BusinessCalendar.from_spec("US-MA"),
            ):
                out += [(hook, c.id, c.status, c.reason, c.due, tuple(c.evidence)) for c in evaluation.criteria]
        return out

    indexed = verdicts()
    monkeypatch.setattr(selections.Selection, "_indexed", lambda self, source, predicates, ctx: None)
    monkeypatch.setattr(selections.Selection, "_narrowed", lambda self, members, ctx, timed=True: members)
    assert indexed == verdicts()
    assert len(indexed) > 200


def test_policies_of_one_time_zone_share_each_selection(mappings, monkeypatch) -> None:
    evaluated: list[str] = []
    original = selections.Selection.evaluate

    def counting(self: selections.Selection, ctx: EvaluationContext) -> list[dict[str, Any]]:
        evaluated.append(self.name)
        return original(self, ctx)

    monkeypatch.setattr(selections.Selection, "evaluate", counting)
    resources = _entries(FIXTURES / "golden" / "P5.json")
    evaluate(
        mappings,
        PatientRecord(resources),
        hook="encounter-discharge",
        now=DISCHARGE_AT,
        policy_keys=list(POLICY_KEYS),
        encounter_id="P5-prog",
        patient_id="P5-patient",
        calendar=BusinessCalendar.from_spec("US-MA"),
    )
    zones = {mappings.policies[k].timezone for k in POLICY_KEYS}
    counts = {name: evaluated.count(name) for name in set(evaluated)}
    # Episode derivation computes a few selections before the anchors are final; after that, once per zone.
    assert max(counts.values()) <= len(zones) + 2
    assert counts["iop-programs"] >= 1


def test_a_record_is_freed_when_its_call_ends_without_waiting_for_the_collector(mappings) -> None:
    resources = _entries(FIXTURES / "golden" / "P5.json")
    record = PatientRecord(resources)
    alive = weakref.ref(record)
    gc.disable()
    try:
        results = evaluate(
            mappings,
            record,
            hook="encounter-discharge",
            now=DISCHARGE_AT,
            policy_keys=list(POLICY_KEYS),
            encounter_id="P5-prog",
            patient_id="P5-patient",
            calendar=BusinessCalendar.from_spec("US-MA"),
        )
        assert results
        del record, results
        assert alive() is None, "a reference cycle keeps the record (and its indexes) until a full collection"
    finally:
        gc.enable()


MESSY_VALUES: list[Any] = [
    None,
    1,
    "x",
    [],
    {},
    [None, {"a": None}],
    {"code": {"coding": [None, {"code": "1", "system": "s"}, "s", {"code": None}]}},
    {"code": [{"coding": [{"code": "2"}]}], "a": [[1, 2], None, {"b": [3, None]}]},
    {"a": {"b": [{"c": [1, None, 2]}, {"c": 3}, None, {"c": None}]}},
    {"a": [{"b": {"c": [4]}}, {"b": [{"c": 5}]}], "coding": [{"code": "3"}]},
]


@pytest.mark.parametrize(
    "path",
    ["$.a", "$.a.b", "$.a[*]", "$.a[*].b", "$.a.b[*].c", "$.a.b[*].c[*]", "$.a[0].b", "$.code.coding[*]", "$.a.b[1]"],
)
def test_a_compiled_path_finds_what_the_generic_walk_finds_in_the_same_order(path) -> None:
    accessor, direct = compile_path(path)
    assert direct
    steps = tuple(
        (_CHILD, part)
        if not part.startswith("[")
        else (_EVERY, None)
        if part == "[*]"
        else (_INDEX, int(part.strip("[]")))
        for part in path[1:].replace("[", ".[").strip(".").split(".")
        if part
    )
    for value in MESSY_VALUES:
        assert accessor(value) == _walk(value, steps) == _compiled_walk(steps)(value)
    assert compile_path("$.a.b[*].c")[0](MESSY_VALUES[8]) == [[1, None, 2], 3]  # lists are flattened by Fact.values


def test_a_filter_path_skips_resources_without_its_first_field_and_matches_the_others() -> None:
    principal, direct = compile_path("$.diagnosis[?(@.rank == 1)].condition")
    assert not direct
    assert principal({"resourceType": "Encounter"}) == [] and principal({"diagnosis": None}) == []
    encounter = {
        "diagnosis": [
            {"rank": 2, "condition": {"reference": "Condition/b"}},
            {"rank": 1, "condition": {"reference": "Condition/a"}},
        ]
    }
    assert principal(encounter) == [{"reference": "Condition/a"}]
