"""A date without a time is that whole local date wherever it is used as a time (DECISIONS "Dates without a time").

Real exports often write a note's service period as dates (``{"start": "2025-03-03", "end": "2025-03-03"}``). Such a
note was timed at 00:00 local on 03-03: a service on the admission date read as before an admission at 15:00, and a
service on the day an hours deadline falls read as in time. Each kind of comparison the selections and rules make is
checked here with the admission on 2025-03-03 at 15:00 in Boston and the discharge on 2025-03-21 at 15:00.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from rules_helpers import run

from cds_service.engine.context import EvaluationContext
from cds_service.engine.episode import order_times
from cds_service.engine.mapping import Mappings
from cds_service.engine.selections import PredicateCompiler, Selection, is_current, parse_scope
from cds_service.engine.timecalc import BusinessCalendar, DateOnly, date_span, parse_instant, within
from cds_service.record.patient_record import PatientRecord

BOSTON = ZoneInfo("America/New_York")
T0 = datetime(2025, 3, 3, 15, tzinfo=BOSTON)
TD = datetime(2025, 3, 21, 15, tzinfo=BOSTON)
NOW = datetime(2025, 3, 28, 10, tzinfo=BOSTON)


def note(nid: str, *, start: str | None = None, end: str | None = None, date: str | None = None) -> dict[str, Any]:
    """A progress note whose service period and ``date`` are as exported (dates or dateTimes)."""
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "id": nid,
        "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": "11506-3"}]},
    }
    if date:
        resource["date"] = date
    period = {k: v for k, v in (("start", start), ("end", end)) if v}
    if period:
        resource["context"] = {"period": period}
    return resource


def context(mappings: Mappings, resources: list[dict[str, Any]], **anchors: datetime) -> EvaluationContext:
    ctx = EvaluationContext(
        record=PatientRecord(resources),
        facts=mappings.facts,
        selections=mappings.selections,
        now=NOW,
        phase="discharge",
        calendar=BusinessCalendar.from_spec("US-MA"),
        valuesets=mappings.valuesets,
    )
    ctx.anchors.update({"T0": T0, "TD": TD, **anchors})
    return ctx


def passes(mappings: Mappings, test: dict[str, Any], resource: dict[str, Any], **anchors: datetime) -> bool:
    """Whether one resource passes one ``where`` test."""
    compiler = PredicateCompiler(mappings.facts, mappings.valuesets, set(mappings.selections))
    predicate = compiler.compile(test, str(resource["resourceType"]))
    return predicate.test(resource, context(mappings, [resource], **anchors))


ON_ADMISSION_DAY = note("n", start="2025-03-03", end="2025-03-03")


def test_a_date_only_service_period_is_the_whole_local_date(mappings: Mappings) -> None:
    ctx = context(mappings, [ON_ADMISSION_DAY])
    (value,) = ctx.values(mappings.facts["documentreference.time"], ON_ADMISSION_DAY)
    assert isinstance(value, DateOnly)
    assert date_span(value) == (datetime(2025, 3, 3, tzinfo=BOSTON), datetime(2025, 3, 3, 23, 59, 59, 999999, BOSTON))
    timed = parse_instant("2025-03-03T10:00:00-05:00")
    assert timed is not None and not isinstance(timed, DateOnly) and date_span(timed) == (timed, timed)
    assert not isinstance(parse_instant("2025-03"), DateOnly)  # a month is not a date: it keeps its start


def test_a_date_plus_hours_is_an_instant() -> None:
    """Only the value written as a date is a whole date: 48 hours after it is one instant, not a date."""
    day = parse_instant("2025-03-03")
    assert day is not None
    later = day.replace(tzinfo=BOSTON) + (datetime(2025, 3, 5, tzinfo=UTC) - datetime(2025, 3, 3, tzinfo=UTC))
    assert type(later) is datetime and later == datetime(2025, 3, 5, tzinfo=BOSTON)


@pytest.mark.parametrize(
    ("period", "inside"),
    [
        ({"start": "2025-03-03", "end": "2025-03-03"}, True),  # the admission date: was "before admission"
        ({"start": "2025-03-21", "end": "2025-03-21"}, True),  # the discharge date
        ({"start": "2025-03-02", "end": "2025-03-02"}, False),  # the day before admission
        ({"start": "2025-03-22", "end": "2025-03-22"}, False),  # the day after discharge
        ({"start": "2025-03-03T10:00:00-05:00", "end": "2025-03-03T11:00:00-05:00"}, False),  # a time: exact
    ],
)
def test_inside_the_episode_window(mappings: Mappings, period: dict[str, str], inside: bool) -> None:
    """``between: [T0, TD]`` and ``scope: episode`` take a date-only service when any part of its date is inside."""
    resource = note("n", **period)
    assert passes(mappings, {"fact": "documentreference.time", "between": ["T0", "TD"]}, resource) is inside
    ctx = context(mappings, [resource])
    when = ctx.values(mappings.facts["documentreference.time"], resource)[0]
    assert parse_scope("episode").admits(resource, when, ctx) is inside


def test_on_or_after_an_instant_and_before_discharge(mappings: Mappings) -> None:
    at_or_after_t0 = {"fact": "documentreference.time", "between": ["T0", None]}
    by_discharge = {"fact": "documentreference.time", "between": [None, "TD"]}
    day_after = {"fact": "documentreference.time", "between": ["T0", "TD+1d"]}
    assert passes(mappings, at_or_after_t0, ON_ADMISSION_DAY)
    assert passes(mappings, by_discharge, note("n", start="2025-03-21", end="2025-03-21"))
    assert passes(mappings, day_after, note("n", end="2025-03-22"))
    assert not passes(mappings, day_after, note("n", end="2025-03-23"))


def test_against_an_hour_bound_the_whole_date_must_be_inside(mappings: Mappings) -> None:
    """``[T0, T0+48h]`` (to 03-05 15:00): a note dated 03-05 may be from after 15:00, so it is not taken as inside;
    one dated 03-04 is. ``[T0+1h, TD]`` ("after admission", Medica's new conditions): a condition whose onset is
    dated on the admission date may be the admission's own, so it is not new."""
    window = {"fact": "documentreference.time", "between": ["T0", "T0+48h"]}
    assert passes(mappings, window, note("n", end="2025-03-04"))
    assert not passes(mappings, window, note("n", end="2025-03-05"))
    assert passes(mappings, window, note("n", end="2025-03-05T14:00:00-05:00"))
    after_admission = {"fact": "documentreference.time", "between": ["T0+1h", "TD"]}
    assert not passes(mappings, after_admission, ON_ADMISSION_DAY)
    assert passes(mappings, after_admission, note("n", end="2025-03-04"))


def test_a_note_exported_with_a_date_only_date(mappings: Mappings) -> None:
    """``DocumentReference.date`` is an instant by spec; an export that sends a date gets the same whole-date
    reading (no service period: the note is placed by its date)."""
    assert passes(mappings, {"fact": "documentreference.time", "between": ["T0", "TD"]}, note("n", date="2025-03-03"))
    assert passes(mappings, {"fact": "documentreference.date", "between": ["T0", "TD"]}, note("n", date="2025-03-03"))


def test_a_discharge_dated_without_a_time_runs_to_the_end_of_that_date(mappings: Mappings) -> None:
    """``Encounter.period.end`` as a date: TD (``encounter.end``) is the end of that local date, so a note of that
    date is inside the stay."""
    program = {
        "resourceType": "Encounter",
        "id": "p",
        "period": {"start": "2025-03-03T15:00:00-05:00", "end": "2025-03-21"},
    }
    ctx = context(mappings, [program])
    (end,) = ctx.values(mappings.facts["encounter.end"], program)
    assert end == datetime(2025, 3, 21, 23, 59, 59, 999999, tzinfo=BOSTON)
    assert passes(
        mappings, {"fact": "documentreference.time", "between": ["T0", "TD"]}, note("n", end="2025-03-21"), TD=end
    )


def test_an_order_for_dates_runs_from_the_start_of_its_first_to_the_end_of_its_last(mappings: Mappings) -> None:
    """``ServiceRequest.occurrencePeriod`` as dates: the order starts at 00:00 of its start date at the site and ends
    at the end of its end date (an anchor is one point: the bound it stands for)."""
    order = {"resourceType": "ServiceRequest", "occurrencePeriod": {"start": "2025-03-03", "end": "2025-04-30"}}
    start, end, _ = order_times(order)
    assert start is not None and end is not None
    ctx = context(mappings, [], **{"order-start": start, "order-end": end})
    assert ctx.anchor("order-start") == datetime(2025, 3, 3, tzinfo=BOSTON)
    assert ctx.anchor("order-end") == datetime(2025, 4, 30, 23, 59, 59, 999999, tzinfo=BOSTON)


def plan_created(pid: str, created: str) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "id": pid,
        "status": "active",
        "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "718347000"}]}],
        "created": created,
    }


HOURS_48 = {"deadline": {"of": "treatment-plans", "due": {"from": "T0", "hours": 48}}}
DAYS_2 = {"deadline": {"of": "treatment-plans", "due": {"from": "T0", "days": 2}}}
AT = {"now": NOW, "anchors": {"T0": T0, "TD": TD}, "phase": "discharge"}


def test_by_an_hours_deadline(mappings: Mappings) -> None:
    """Due 48 hours after T0 (03-05 15:00): a plan dated 03-04 was surely in time, one dated 03-06 surely late, and
    one dated 03-05 either side of 15:00: unknown, not a guess."""
    assert run(mappings, HOURS_48, [plan_created("tp", "2025-03-04")], **AT).value is True
    assert run(mappings, HOURS_48, [plan_created("tp", "2025-03-06")], **AT).value is False
    on_the_day = run(mappings, HOURS_48, [plan_created("tp", "2025-03-05")], **AT)
    assert on_the_day.value is None and not on_the_day.pending
    assert "dated 2025-03-05 without a time" in on_the_day.detail and "cannot be judged" in on_the_day.detail
    timed = [plan_created("tp", "2025-03-05"), plan_created("ok", "2025-03-05T09:00:00-05:00")]
    assert run(mappings, HOURS_48, timed, **AT).value is True  # another plan with a time in time settles it


def test_by_a_calendar_day_deadline(mappings: Mappings) -> None:
    """Within 2 days of T0 runs to the end of 03-05: a plan dated 03-05 is on or before the due date, so met."""
    assert run(mappings, DAYS_2, [plan_created("tp", "2025-03-05")], **AT).value is True
    assert run(mappings, DAYS_2, [plan_created("tp", "2025-03-06")], **AT).value is False


def test_within_is_the_overlap_of_the_date_with_the_window() -> None:
    day = DateOnly(2025, 3, 3, tzinfo=BOSTON)
    assert within(day, T0, None) and within(day, None, datetime(2025, 3, 3, 0, 30, tzinfo=BOSTON))
    assert not within(day, datetime(2025, 3, 4, tzinfo=BOSTON), None)
    assert not within(day, T0, None, exact_low=True) and not within(day, None, T0, exact_high=True)
    assert within(day, datetime(2025, 3, 2, 15, tzinfo=BOSTON), datetime(2025, 3, 4, tzinfo=BOSTON), True, True)
    assert within(T0, T0, T0) and not within(T0, None, datetime(2025, 3, 3, 14, tzinfo=BOSTON))


def test_a_plan_whose_period_ends_on_a_date_is_in_force_all_that_local_date() -> None:
    """``CarePlan.period.end`` as a date: the plan is in force until that date ends at the site. It used to end at
    23:59 UTC (18:59 in Boston), so a discharge at 21:00 on the end date found it no longer in force."""
    careplan = {"resourceType": "CarePlan", "status": "active", "period": {"start": "2025-03-03", "end": "2025-03-21"}}
    evening = datetime(2025, 3, 21, 21, tzinfo=BOSTON)
    assert is_current(careplan, evening, BOSTON)
    assert not is_current(careplan, datetime(2025, 3, 22, 0, 30, tzinfo=BOSTON), BOSTON)


def test_a_service_performed_over_dates(mappings: Mappings) -> None:
    """``Procedure.performedPeriod.start`` as a date, in Optum's "within 48 hours" contact window [T0-1d, T0+48h]:
    a contact dated the day before admission, on it or on 03-04 is inside; one dated 03-05 (the due date, either
    side of 15:00) or later is not."""
    window = {"fact": "procedure.performed-start", "between": ["T0-1d", "T0+48h"]}

    def contact(day: str) -> dict[str, Any]:
        return {"resourceType": "Procedure", "id": "c", "status": "completed", "performedPeriod": {"start": day}}

    assert all(passes(mappings, window, contact(day)) for day in ("2025-03-02", "2025-03-03", "2025-03-04"))
    assert not passes(mappings, window, contact("2025-03-05"))
    assert not passes(mappings, window, contact("2025-03-01"))


def test_a_goal_due_date_is_a_date(mappings: Mappings) -> None:
    """``Goal.target.dueDate`` is a FHIR date: read as the whole date (the mappings only ask that it exists)."""
    goal = {"resourceType": "Goal", "id": "g", "lifecycleStatus": "active", "target": [{"dueDate": "2025-04-15"}]}
    ctx = context(mappings, [goal])
    (due,) = ctx.values(mappings.facts["goal.target-due"], goal)
    assert isinstance(due, DateOnly) and date_span(due)[1] == datetime(2025, 4, 15, 23, 59, 59, 999999, tzinfo=BOSTON)


def test_a_date_set_aside_is_named_by_the_side_it_fell_on(mappings: Mappings) -> None:
    """The reason that names evidence left out says which side of the window a date-only time fell on, by the same
    edges the window used (after an hour bound, a note of that date is "from before the window")."""
    fact = mappings.facts["documentreference.time"]
    after_admission = Selection("x.after", ["DocumentReference"], time=[fact], scope=parse_scope({"from": "T0+1h"}))
    by_discharge = Selection("x.by", ["DocumentReference"], time=[fact], scope=parse_scope({"to": "TD"}))
    resources = [ON_ADMISSION_DAY, note("late", end="2025-03-22")]
    ctx = context(mappings, resources)
    ctx.selections = {**ctx.selections, "x.after": after_admission, "x.by": by_discharge}
    assert [(r["id"], why) for r, why in after_admission.set_aside(ctx)] == [
        ("n", "of 2025-03-03, from before the window")
    ]
    assert [(r["id"], why) for r, why in by_discharge.set_aside(ctx)] == [
        ("late", "of 2025-03-22, from after the window")
    ]


def test_later_than_a_date_means_after_that_whole_date(mappings: Mappings) -> None:
    """``{fact: careplan.last-updated, after: careplan.created, by: 12h}`` (a plan revised, not just saved): a plan
    created on 03-03 with no time and stored again at 15:00 that day may have been written at 14:00, so it is not
    shown to be revised; stored again on 03-04 at 13:00 it is (more than 12 hours after the end of 03-03)."""
    revised = {"fact": "careplan.last-updated", "after": "careplan.created", "by": "12h"}

    def saved(created: str, updated: str) -> dict[str, Any]:
        return {**plan_created("tp", created), "meta": {"lastUpdated": updated}}

    assert not passes(mappings, revised, saved("2025-03-03", "2025-03-03T15:00:00-05:00"))
    assert passes(mappings, revised, saved("2025-03-03", "2025-03-04T13:00:00-05:00"))
    assert passes(mappings, revised, saved("2025-03-03T01:00:00-05:00", "2025-03-03T15:00:00-05:00"))


def test_a_date_takes_the_zone_of_the_policy_judging_it(mappings: Mappings) -> None:
    """Medica judges in Chicago, the other policies in New York, on one shared context: a date-only value is that
    date in each one's zone. It kept the first policy's zone, so under Medica 03-03 began at 23:00 on 03-02."""
    ctx = context(mappings, [ON_ADMISSION_DAY])
    fact = mappings.facts["documentreference.time"]
    assert ctx.values(fact, ON_ADMISSION_DAY) == [datetime(2025, 3, 3, tzinfo=BOSTON)]
    ctx.switch_zone(ctx.calendar.zone_name, "America/Chicago")
    ctx.calendar = ctx.calendar.in_zone("America/Chicago")
    chicago = ZoneInfo("America/Chicago")
    (value,) = ctx.values(fact, ON_ADMISSION_DAY)
    assert value == datetime(2025, 3, 3, tzinfo=chicago) and date_span(value)[1].tzinfo == chicago
    coded = ctx.values(mappings.facts["documentreference.type"], ON_ADMISSION_DAY)
    ctx.switch_zone("America/Chicago", "America/New_York")
    ctx.calendar = ctx.calendar.in_zone("America/New_York")
    assert ctx.values(fact, ON_ADMISSION_DAY) == [datetime(2025, 3, 3, tzinfo=BOSTON)]
    assert ctx.values(mappings.facts["documentreference.type"], ON_ADMISSION_DAY) is coded  # other facts: shared
