"""Rules over what the record holds: exists, absent, count, latest, change, age, and selection predicates."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from rules_helpers import HCPCS, condition, plan, run, score

from cds_service.engine.mapping import Mappings
from cds_service.engine.selections import SpecError


def test_exists_absent_and_count(mappings: Mappings) -> None:
    record = [condition("c1", "F33.1"), condition("c2", "F41.1"), condition("c3", "E11.9")]
    assert run(mappings, {"exists": "mh-conditions"}, record).value is True
    assert run(mappings, {"absent": "sud-conditions"}, record).value is True
    assert run(mappings, {"count": {"of": "mh-conditions", "at-least": 3}}, record).value is False
    assert run(mappings, {"count": {"of": "mh-conditions", "at-least": 2}}, record).evidence == [
        "Condition/c1",
        "Condition/c2",
    ]


def test_latest_compares_the_newest_score_and_is_unknown_without_one(mappings: Mappings) -> None:
    record = [score("o1", "44261-6", 19, "2025-03-01T10:00:00Z"), score("o2", "44261-6", 8, "2025-03-08T10:00:00Z")]
    rule = {"latest": {"of": "symptom-scores", "value": "observation.value", "op": ">=", "than": 10}}
    assert run(mappings, rule, record).value is False
    assert run(mappings, rule, []).value is None
    assert run(mappings, rule, [score("o3", "44261-6", 12, when=None)]).value is None  # undated: not usable


def test_change_needs_two_scores(mappings: Mappings) -> None:
    rule = {"change": {"of": "symptom-scores", "value": "observation.value", "op": "<=", "than": -5}}
    record = [score("o1", "70274-6", 14, "2025-03-01T10:00:00Z"), score("o2", "70274-6", 9, "2025-03-08T10:00:00Z")]
    assert run(mappings, rule, record).value is True
    assert run(mappings, rule, record[:1]).value is None


def test_change_compares_scores_of_one_instrument_only(mappings: Mappings) -> None:
    rule = {"change": {"of": "symptom-scores", "value": "observation.value", "op": "<=", "than": -5}}
    phq9_then_gad7 = [
        score("o1", "44261-6", 17, "2025-03-01T10:00:00Z"),
        score("o2", "70274-6", 6, "2025-03-08T10:00:00Z"),
    ]
    result = run(mappings, rule, phq9_then_gad7)
    assert result.value is None  # not an 11-point improvement: two instruments, one score each
    assert "fewer than two dated PHQ-9 or GAD-7 total score of one instrument" in result.detail
    later_phq9 = score("o3", "44261-6", 12, "2025-03-09T10:00:00Z")
    result = run(mappings, rule, [*phq9_then_gad7, later_phq9])
    assert result.value is True
    assert result.evidence == ["Observation/o1", "Observation/o3"]
    assert "PHQ-9 17 (2025-03-01 05:00 -05:00) → 12 (2025-03-09 06:00 -04:00): change -5" in result.detail


def test_latest_reads_the_newest_score_of_each_instrument(mappings: Mappings) -> None:
    rule = {"latest": {"of": "symptom-scores", "value": "observation.value", "op": ">=", "than": 10}}
    record = [score("o1", "44261-6", 17, "2025-03-01T10:00:00Z"), score("o2", "70274-6", 6, "2025-03-08T10:00:00Z")]
    result = run(mappings, rule, record)
    assert result.value is True  # the newest PHQ-9 is 17; a later GAD-7 of 6 does not replace it
    assert result.evidence == ["Observation/o1"]
    assert "latest PHQ-9 17" in result.detail


def test_absence_over_an_unreadable_source_is_unknown_presence_stands(mappings: Mappings) -> None:
    gap = {"unreadable": {"Condition": ("conditions",), "Observation": ()}}
    absent = run(mappings, {"exists": "mh-conditions"}, [], **gap)
    assert absent.value is None
    assert absent.detail == "could not be read: conditions (no active mental-health diagnosis found in the record)"
    present = run(mappings, {"exists": "mh-conditions"}, [condition("c1", "F33.1")], **gap)
    assert present.value is True
    assert run(mappings, {"absent": "mh-conditions"}, [condition("c1", "F33.1")], **gap).value is False
    assert run(mappings, {"absent": "mh-conditions"}, [], **gap).value is None
    assert run(mappings, {"exists": "symptom-scores"}, [], **gap).value is False  # observations were read


def test_age_at_an_anchor(mappings: Mappings) -> None:
    rule = {"age": {"at": "T0", "op": "<", "than": 18}}
    assert run(mappings, rule, [{"resourceType": "Patient", "id": "p", "birthDate": "2008-09-09"}]).value is True
    assert run(mappings, rule, [{"resourceType": "Patient", "id": "p", "birthDate": "1990"}]).value is False
    assert run(mappings, rule, [{"resourceType": "Patient", "id": "p", "birthDate": "soon"}]).value is None


def test_referenced_by_at_least_counts_the_pointers(mappings: Mappings) -> None:
    def group(pid: str, session: str) -> dict[str, Any]:
        return {
            "resourceType": "Procedure",
            "id": pid,
            "status": "completed",
            "code": {"coding": [{"system": HCPCS, "code": "G0410"}]},
            "encounter": {"reference": f"Encounter/{session}"},
        }

    sessions = [{"resourceType": "Encounter", "id": s} for s in ("s1", "s2")]
    twice = {"referenced-by": "Procedure", "via": "procedure.encounter", "at-least": 2}
    rule = {"each": {"of": "sessions", "where": [twice]}}
    record = [group("p1", "s1"), group("p2", "s1"), group("p3", "s2")]
    result = run(mappings, rule, record, SESS=sessions)
    assert result.value is False and result.evidence == ["Encounter/s2"]
    assert run(mappings, rule, [*record, group("p4", "s2")], SESS=sessions).value is True
    with pytest.raises(SpecError, match="at-least"):
        run(mappings, {"each": {"of": "sessions", "where": [{**twice, "at-least": 0}]}}, [])


def test_after_compares_two_times_of_one_resource(mappings: Mappings) -> None:
    updated = {"fact": "careplan.last-updated", "after": "careplan.created", "by": "1d"}
    rule = {"exists": {"of": "treatment-plans", "where": [updated]}}
    reviewed = {**plan("tp", "2025-03-03T10:00:00Z"), "meta": {"lastUpdated": "2025-03-07T10:00:00Z"}}
    assert run(mappings, rule, [reviewed]).value is True
    saved = {**plan("tp", "2025-03-03T10:00:00Z"), "meta": {"lastUpdated": "2025-03-03T10:00:04Z"}}
    assert run(mappings, rule, [saved]).value is False  # stamped when created: not an update
    assert run(mappings, rule, [{**reviewed, "created": None}]).value is False  # nothing to compare with
    with pytest.raises(SpecError, match="duration"):
        run(mappings, {"exists": {"of": "treatment-plans", "where": [{**updated, "by": "soon"}]}}, [])
    with pytest.raises(SpecError, match="datetime"):
        run(mappings, {"exists": {"of": "treatment-plans", "where": [{**updated, "after": "careplan.status"}]}}, [])


def test_hours_facts_read_a_duration_or_a_period() -> None:
    from cds_service.engine.facts import build_fact

    period = build_fact("p", "Encounter", "$.period", "hours")
    length = build_fact("l", "Encounter", "$.length", "hours")
    session = {
        "resourceType": "Encounter",
        "period": {"start": "2025-03-03T13:00:00-05:00", "end": "2025-03-03T16:00:00-05:00"},
    }
    assert period.values(session) == [3.0]
    assert length.values({**session, "length": {"value": 150, "unit": "min"}}) == [2.5]
    assert length.values({**session, "length": {"value": 2, "code": "h"}}) == [2.0]
    assert length.values({**session, "length": {"value": 2, "unit": "furlongs"}}) == []
    assert period.values({**session, "period": {"start": "2025-03-03T13:00:00Z"}}) == []  # open period


def test_instruments_come_from_the_value_sets_alone(mappings: Mappings) -> None:
    # PHQ-9 44261-6 and its variant 89204-2 are one instrument because PHQ9-TOTAL says `instrument: PHQ-9`, not
    # because of a second table in the engine: without that declaration they are two instruments with one score each.
    rule = {"change": {"of": "symptom-scores", "value": "observation.value", "op": "<=", "than": -5}}
    record = [score("o1", "44261-6", 17, "2025-03-01T10:00:00Z"), score("o2", "89204-2", 9, "2025-03-08T10:00:00Z")]
    result = run(mappings, rule, record)
    assert result.value is True and "PHQ-9 17 (2025-03-01 05:00 -05:00) → 9" in result.detail
    undeclared = {
        **mappings.valuesets,
        "PHQ9-TOTAL": dataclasses.replace(mappings.valuesets["PHQ9-TOTAL"], instrument=None),
    }
    result = run(dataclasses.replace(mappings, valuesets=undeclared), rule, record)
    assert result.value is None
    assert "fewer than two dated PHQ-9 or GAD-7 total score of one instrument" in result.detail


def test_answers_say_whether_they_rest_on_absence(mappings: Mappings) -> None:
    # issue 15: the evaluator turns only answers resting on nothing found into "not documented"
    nothing = run(mappings, {"exists": "mh-conditions"}, [condition("c1", "Z59.0")])
    assert nothing.value is False and nothing.absence
    assert nothing.detail == "no active mental-health diagnosis found in the record"
    found = run(mappings, {"absent": "mh-conditions"}, [condition("c1", "F33.1")])
    assert found.value is False and not found.absence  # a diagnosis was found: evidence
    order = {
        "resourceType": "ServiceRequest",
        "id": "o1",
        "code": {"coding": [{"system": HCPCS, "code": "S9480"}]},
        "occurrenceTiming": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "wk", "duration": 2.5}},
    }
    # 7.5 h a week on the order is evidence, even with no plan of care found beside it
    both = {"any": [{"order": {"measure": "hours-per-week", "op": ">=", "than": 9}}, {"exists": "treatment-plans"}]}
    mixed = run(mappings, both, [], **{"iop-order": [order]})
    assert mixed.value is False and not mixed.absence
    # two absences stay an absence, and "not" keeps it
    neither = run(mappings, {"any": [{"exists": "mh-conditions"}, {"exists": "treatment-plans"}]}, [])
    assert neither.value is False and neither.absence
    assert run(mappings, {"not": {"exists": "mh-conditions"}}, []).absence
