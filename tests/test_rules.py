"""One test per rule operator, on the shipped facts and selections, with missing and malformed data."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cds_service.config import PROJECT_ROOT
from cds_service.evaluation_context import EvaluationContext
from cds_service.mapping import Mappings, load_mappings
from cds_service.record import PatientRecord
from cds_service.rules import RuleCompiler
from cds_service.selections import PredicateCompiler, SpecError
from cds_service.timecalc import BusinessCalendar

NOW = datetime(2025, 3, 10, 12, tzinfo=UTC)
T0 = datetime(2025, 3, 3, 9, tzinfo=UTC)
LOINC = "http://loinc.org"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"


@pytest.fixture(scope="module")
def mappings() -> Mappings:
    return load_mappings(PROJECT_ROOT / "mappings")


def run(mappings: Mappings, spec: Any, resources: list[dict[str, Any]], **ctx_options: Any) -> Any:
    """Compile one rule and evaluate it on a record; returns the RuleResult."""
    compiler = RuleCompiler(
        PredicateCompiler(mappings.facts, mappings.valuesets, set(mappings.selections)),
        mappings.selections,
        {"x.known"},
    )
    ctx = EvaluationContext(
        record=PatientRecord(resources),
        facts=mappings.facts,
        selections=mappings.selections,
        now=ctx_options.pop("now", NOW),
        phase=ctx_options.pop("phase", "continued-stay"),
        calendar=BusinessCalendar.from_spec("US-MA"),
    )
    ctx.anchors.update({"T0": T0, "TD": NOW, **ctx_options.pop("anchors", {})})
    ctx.session_starts = ctx_options.pop("sessions", [])
    ctx.builtins.update(ctx_options)
    return compiler.compile(spec).evaluate(ctx)


def score(oid: str, code: str, value: Any, when: str | None = "2025-03-05T10:00:00Z") -> dict[str, Any]:
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "valueQuantity": {"value": value},
    }
    if when:
        obs["effectiveDateTime"] = when
    return obs


def condition(cid: str, code: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "code": {"coding": [{"system": ICD, "code": code}]},
    }


def plan(pid: str, created: str | None) -> dict[str, Any]:
    careplan: dict[str, Any] = {
        "resourceType": "CarePlan",
        "id": pid,
        "status": "active",
        "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "718347000"}]}],
    }
    if created:
        careplan["created"] = created
    return careplan


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


def test_deadline_met_late_missing_and_pending(mappings: Mappings) -> None:
    rule = {"deadline": {"of": "treatment-plans", "due": {"from": "T0", "hours": 48}}}
    assert run(mappings, rule, [plan("tp", "2025-03-04T10:00:00Z")]).value is True
    assert run(mappings, rule, [plan("tp", "2025-03-06T10:00:00Z")]).value is False
    assert run(mappings, rule, []).value is False
    pending = run(mappings, rule, [], now=datetime(2025, 3, 4, tzinfo=UTC))
    assert pending.value is None and pending.pending
    assert run(mappings, rule, [plan("tp", "not-a-date")]).value is False  # an undated plan proves nothing


def test_deadline_in_business_and_treatment_days(mappings: Mappings) -> None:
    # Friday 2025-04-18; Monday 04-21 is Patriots' Day in Massachusetts, so one business day ends Tuesday.
    friday = {"anchors": {"T0": datetime(2025, 4, 18, 13, tzinfo=UTC)}, "now": datetime(2025, 4, 25, tzinfo=UTC)}
    business = {"deadline": {"of": "treatment-plans", "due": {"from": "T0", "business-days": 1}}}
    assert run(mappings, business, [plan("tp", "2025-04-22T10:00:00Z")], **friday).value is True
    assert run(mappings, business, [plan("tp", "2025-04-23T10:00:00Z")], **friday).value is False
    treatment = {"deadline": {"of": "treatment-plans", "due": {"from": "T0", "treatment-days": 3}}}
    sessions = [datetime(2025, 3, d, 9, tzinfo=UTC) for d in (3, 5, 7, 10)]
    assert run(mappings, treatment, [plan("tp", "2025-03-07T15:00:00Z")], sessions=sessions).value is True
    assert run(mappings, treatment, [plan("tp", "2025-03-08T15:00:00Z")], sessions=sessions).value is False


def test_order_intensity(mappings: Mappings) -> None:
    order = {
        "resourceType": "ServiceRequest",
        "id": "o1",
        "code": {"coding": [{"system": HCPCS, "code": "S9480"}]},
        "occurrenceTiming": {
            "repeat": {"frequency": 3, "period": 1, "periodUnit": "wk", "duration": 2.5, "durationUnit": "h"}
        },
    }
    rule = {"order": {"measure": "hours-per-week", "op": ">=", "than": 9}}
    result = run(mappings, rule, [], **{"iop-order": [order]})
    assert result.value is False and "7.5" in result.detail
    assert run(mappings, rule, [], **{"iop-order": [{**order, "occurrenceTiming": {}}]}).value is None
    assert run(mappings, rule, []).value is None  # no IOP order in the call


def test_age_at_an_anchor(mappings: Mappings) -> None:
    rule = {"age": {"at": "T0", "op": "<", "than": 18}}
    assert run(mappings, rule, [{"resourceType": "Patient", "id": "p", "birthDate": "2008-09-09"}]).value is True
    assert run(mappings, rule, [{"resourceType": "Patient", "id": "p", "birthDate": "1990"}]).value is False
    assert run(mappings, rule, [{"resourceType": "Patient", "id": "p", "birthDate": "soon"}]).value is None


def test_overlap_of_sessions_with_an_inpatient_stay(mappings: Mappings) -> None:
    stay = {
        "resourceType": "Encounter",
        "id": "ip",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "period": {"start": "2025-03-04T00:00:00Z", "end": "2025-03-06T00:00:00Z"},
    }
    session = {
        "resourceType": "Encounter",
        "id": "s1",
        "status": "finished",
        "period": {"start": "2025-03-05T09:00:00Z", "end": "2025-03-05T12:00:00Z"},
    }
    rule = {
        "overlap": {"of": "sessions", "with": "inpatient-stays", "start": "encounter.start", "end": "encounter.end"}
    }
    assert run(mappings, rule, [stay], SESS=[session]).value is True
    later = {**session, "period": {"start": "2025-03-07T09:00:00Z"}}
    assert run(mappings, rule, [stay], SESS=[later]).value is False


def test_every_window_and_cadence(mappings: Mappings) -> None:
    sessions = [
        {"resourceType": "Encounter", "id": f"s{d}", "period": {"start": f"2025-03-{d:02d}T09:00:00Z"}}
        for d in (3, 5, 7, 10, 12)
    ]
    window = {"every-window": {"of": "sessions", "days": 7, "from": "T0", "to": "TD", "at-least": 3}}
    assert run(mappings, window, [], SESS=sessions).value is True
    assert run(mappings, window, [], SESS=sessions[1:]).value is False
    starts = [datetime(2025, 3, d, 9, tzinfo=UTC) for d in (3, 4, 5, 6, 7, 8, 9, 10)]
    cadence = {"cadence": {"of": "treatment-plans", "max-treatment-days": 5, "from": "T0", "to": "TD"}}
    assert run(mappings, cadence, [plan("tp", "2025-03-03T10:00:00Z")], sessions=starts).value is False
    assert (
        run(
            mappings, cadence, [plan("a", "2025-03-03T10:00:00Z"), plan("b", "2025-03-07T10:00:00Z")], sessions=starts
        ).value
        is True
    )


def test_bridge_and_each(mappings: Mappings) -> None:
    med = {
        "resourceType": "MedicationRequest",
        "id": "m1",
        "status": "active",
        "authoredOn": "2025-03-10",
        "category": [
            {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category", "code": "discharge"}
                ]
            }
        ],
        "dispenseRequest": {"expectedSupplyDuration": {"value": 14}},
    }
    appointment = {
        "resourceType": "Appointment",
        "id": "a1",
        "status": "booked",
        "start": "2025-03-30T10:00:00Z",
        "specialty": [{"coding": [{"system": "http://snomed.info/sct", "code": "394587001"}]}],
    }
    rule = {
        "bridge": {
            "of": "discharge-medications",
            "supply-days": "medicationrequest.supply-days",
            "until": "psychiatric-aftercare-appointments",
            "from": "TD",
        }
    }
    assert run(mappings, rule, [med, appointment]).value is False
    assert (
        run(mappings, rule, [{**med, "dispenseRequest": {"expectedSupplyDuration": {"value": 30}}}, appointment]).value
        is True
    )
    assert run(mappings, rule, [med]).value is False  # nothing to bridge to
    each = {"each": {"of": "discharge-medications", "where": [{"fact": "medicationrequest.dose", "exists": True}]}}
    assert run(mappings, each, [med]).value is False and run(mappings, each, []).value is None


def test_logic_and_criterion(mappings: Mappings) -> None:
    record = [condition("c1", "F33.1")]
    assert run(mappings, {"all": [{"exists": "mh-conditions"}, {"absent": "sud-conditions"}]}, record).value is True
    assert run(mappings, {"any": [{"exists": "sud-conditions"}, "never"]}, record).value is False
    assert run(mappings, {"not": {"exists": "sud-conditions"}}, record).value is True
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


def test_every_window_sums_session_hours_between_bounds(mappings: Mappings) -> None:
    def session(day: int, hours: float | None, length: bool = False) -> dict[str, Any]:
        enc: dict[str, Any] = {
            "resourceType": "Encounter",
            "id": f"h{day}",
            "period": {"start": f"2025-03-{day:02d}T09:00:00Z"},
        }
        if hours is not None and length:
            enc["length"] = {"value": hours * 60, "unit": "min"}
        elif hours is not None:
            enc["period"]["end"] = f"2025-03-{day:02d}T{9 + int(hours):02d}:00:00Z"
        return enc

    rule = {
        "every-window": {
            "of": "sessions",
            "days": 7,
            "from": "T0",
            "to": "TD",
            "at-least": 3,
            "hours-at-least": 9,
            "hours-at-most": 19,
        }
    }
    three_by_three = [session(3, 3), session(5, 3, length=True), session(7, 3)]
    assert run(mappings, rule, [], SESS=three_by_three).value is True
    short = [session(3, 2), session(5, 2), session(7, 2)]
    result = run(mappings, rule, [], SESS=short)
    assert result.value is False and "6 h" in result.detail
    long = [session(d, 5) for d in (3, 4, 5, 6)]
    assert run(mappings, rule, [], SESS=long).value is False  # 20 h > 19
    assert run(mappings, rule, [], SESS=[session(3, 3), session(5, None), session(7, 3)]).value is None
    with pytest.raises(SpecError):
        run(mappings, {"every-window": {**rule["every-window"], "hours-at-least": "nine"}}, [], SESS=short)


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


def test_deadline_without_waiting_is_judged_now(mappings: Mappings) -> None:
    rule = {"deadline": {"of": "treatment-plans", "due": {"from": "T0", "hours": 48}, "pending": False}}
    early = {"now": datetime(2025, 3, 4, tzinfo=UTC)}
    assert run(mappings, rule, [], **early).value is False and not run(mappings, rule, [], **early).pending
    assert run(mappings, rule, [plan("tp", "2025-03-06T10:00:00Z")], **early).value is False
    assert run(mappings, rule, [plan("tp", "2025-03-04T10:00:00Z")], **early).value is True
    with pytest.raises(SpecError, match="pending"):
        run(mappings, {"deadline": {**rule["deadline"], "pending": "no"}}, [])


def test_every_window_at_most(mappings: Mappings) -> None:
    sessions = [
        {"resourceType": "Encounter", "id": f"s{d}", "period": {"start": f"2025-03-{d:02d}T09:00:00Z"}}
        for d in (3, 4, 5, 6, 7, 8)
    ]
    rule = {"every-window": {"of": "sessions", "days": 7, "from": "T0", "to": "TD", "at-least": 3, "at-most": 5}}
    result = run(mappings, rule, [], SESS=sessions)
    assert result.value is False and "at most 5" in result.detail
    assert run(mappings, rule, [], SESS=sessions[:5]).value is True


def test_hours_facts_read_a_duration_or_a_period() -> None:
    from cds_service.facts import build_fact

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


def test_cadence_and_bridge_accept_members_at_the_same_instant(mappings: Mappings) -> None:
    """Two plan reviews (or two appointments) at the same time used to crash the sort (dicts compared)."""
    starts = [datetime(2025, 3, d, 9, tzinfo=UTC) for d in (3, 4, 5, 6, 7)]
    cadence = {"cadence": {"of": "treatment-plans", "max-treatment-days": 5, "from": "T0", "to": "TD"}}
    twins = [plan("a", "2025-03-03T10:00:00Z"), plan("b", "2025-03-03T10:00:00Z")]
    assert run(mappings, cadence, twins, sessions=starts).value is True
    med = {
        "resourceType": "MedicationRequest",
        "id": "m1",
        "status": "active",
        "category": [
            {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category", "code": "discharge"}
                ]
            }
        ],
        "dispenseRequest": {"expectedSupplyDuration": {"value": 30}},
    }
    appointments = [
        {
            "resourceType": "Appointment",
            "id": f"a{i}",
            "status": "booked",
            "start": "2025-03-30T10:00:00Z",
            "specialty": [{"coding": [{"system": "http://snomed.info/sct", "code": "394587001"}]}],
        }
        for i in (1, 2)
    ]
    bridge = {
        "bridge": {
            "of": "discharge-medications",
            "supply-days": "medicationrequest.supply-days",
            "until": "psychiatric-aftercare-appointments",
            "from": "TD",
        }
    }
    assert run(mappings, bridge, [med, *appointments]).value is True
