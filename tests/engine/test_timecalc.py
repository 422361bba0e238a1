"""Dates and deadlines: FHIR date parsing, calendar / business / treatment days, order intensity, age, overlap."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cds_service.engine.timecalc import (
    END_OF_DAY,
    BusinessCalendar,
    age_at,
    calendar_days_deadline,
    distinct_sessions,
    encounter_hours,
    format_local,
    hours_deadline,
    hours_per_session,
    hours_per_week,
    local_date,
    parse_instant,
    period_overlaps,
    sessions_per_week,
    timing_bounds,
    timing_in_force,
    treatment_day_deadline,
    windows,
    zone_named,
)

EST = timezone(timedelta(hours=-5))


@pytest.mark.parametrize(
    ("text", "end", "expected"),
    [
        ("2025-03-03T10:00:00Z", False, datetime(2025, 3, 3, 10, tzinfo=UTC)),
        ("2025-03-03T10:00:00-05:00", False, datetime(2025, 3, 3, 10, tzinfo=EST)),
        ("2025-03-03T10:00:00.5+00:00", False, datetime(2025, 3, 3, 10, 0, 0, 500000, tzinfo=UTC)),
        ("2025-03-03", False, datetime(2025, 3, 3, tzinfo=UTC)),
        ("2025-03-03", True, datetime(2025, 3, 3, 23, 59, 59, 999999, tzinfo=UTC)),
        ("2025-02", True, datetime(2025, 2, 28, 23, 59, 59, 999999, tzinfo=UTC)),
        ("2024-12", True, datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        ("2025", False, datetime(2025, 1, 1, tzinfo=UTC)),
    ],
)
def test_fhir_dates_parse_to_aware_datetimes(text: str, end: bool, expected: datetime) -> None:
    assert parse_instant(text, end_of_period=end) == expected


@pytest.mark.parametrize("bad", [None, 20250303, "", "yesterday", "2025-02-30", "2025-13-01", "2025-03-03T25:00:00Z"])
def test_missing_and_malformed_dates_are_none_never_an_exception(bad: object) -> None:
    assert parse_instant(bad) is None


def test_hours_and_calendar_day_deadlines() -> None:
    t0 = datetime(2025, 3, 3, 9, tzinfo=EST)
    assert hours_deadline(t0, 48) == datetime(2025, 3, 5, 9, tzinfo=EST)
    # "within 7 days" counts calendar days from the date, the day itself being day 0; ends at local midnight.
    assert calendar_days_deadline(t0, 7) == datetime(2025, 3, 10, 23, 59, 59, 999999, tzinfo=EST)


def test_business_days_skip_the_weekend() -> None:
    calendar = BusinessCalendar.from_spec("US-MA")
    friday = datetime(2025, 4, 4, 13, tzinfo=EST)
    assert calendar.business_days_deadline(friday, 1).date() == date(2025, 4, 7)  # Monday
    assert calendar.business_days_deadline(friday, 0).date() == date(2025, 4, 4)


def test_business_days_skip_a_state_holiday() -> None:
    massachusetts = BusinessCalendar.from_spec("US-MA")
    federal = BusinessCalendar.from_spec("US")
    # Patriots' Day (third Monday of April) is a Massachusetts holiday, not a federal one.
    friday = datetime(2025, 4, 18, 13, tzinfo=EST)
    assert massachusetts.business_days_deadline(friday, 1).date() == date(2025, 4, 22)
    assert federal.business_days_deadline(friday, 1).date() == date(2025, 4, 21)
    assert not massachusetts.is_business_day(date(2025, 7, 4))


def test_business_calendar_none_counts_weekdays_only_and_unknown_calendars_fail() -> None:
    assert BusinessCalendar.from_spec("none").is_business_day(date(2025, 7, 4))
    with pytest.raises(ValueError, match="unknown holiday calendar"):
        BusinessCalendar.from_spec("XX-YY")


def test_treatment_days_count_distinct_session_dates() -> None:
    starts = [datetime(2025, 3, d, h, tzinfo=UTC) for d, h in ((3, 9), (3, 14), (5, 9), (7, 9))]
    assert treatment_day_deadline(starts, 3) == datetime(2025, 3, 7, 23, 59, 59, 999999, tzinfo=UTC)
    assert treatment_day_deadline(starts, 2).date() == date(2025, 3, 5)
    assert treatment_day_deadline(starts, 4) is None
    assert treatment_day_deadline([], 1) is None


@pytest.mark.parametrize(
    ("repeat", "per_week", "sessions", "per_session"),
    [
        ({"frequency": 3, "period": 1, "periodUnit": "wk", "duration": 3, "durationUnit": "h"}, 9, 3, 3),
        ({"frequency": 1, "period": 1, "periodUnit": "d", "duration": 180, "durationUnit": "min"}, 21, 7, 3),
        ({"dayOfWeek": ["mon", "wed", "fri"], "duration": 3, "durationUnit": "h"}, 9, 3, 3),
        ({"frequency": 5, "period": 2, "periodUnit": "wk", "duration": 4, "durationUnit": "h"}, 10, 2.5, 4),
        ({"frequency": 3, "period": 1, "periodUnit": "wk"}, None, 3, None),
        ({"duration": 3, "durationUnit": "h"}, None, None, 3),
        ({"frequency": 3, "period": 0, "periodUnit": "wk", "duration": 3, "durationUnit": "h"}, None, None, 3),
        ({"frequency": "three", "period": 1, "periodUnit": "wk", "duration": 3, "durationUnit": "h"}, None, None, 3),
        ({"frequency": 3, "period": 1, "periodUnit": "fortnight", "duration": 3, "durationUnit": "h"}, None, None, 3),
    ],
)
def test_order_intensity_from_occurrence_timing(
    repeat: dict, per_week: float | None, sessions: float | None, per_session: float | None
) -> None:
    timing = {"repeat": repeat}
    assert hours_per_week(timing) == per_week
    assert sessions_per_week(timing) == sessions
    assert hours_per_session(timing) == per_session


def test_intensity_without_a_timing_is_none() -> None:
    assert hours_per_week(None) is None and hours_per_week({}) is None and hours_per_week({"repeat": []}) is None


def test_age_in_completed_years() -> None:
    at = datetime(2025, 3, 3, tzinfo=UTC)
    assert age_at("2008-09-09", at) == 16
    assert age_at("2007-03-03", at) == 18
    assert age_at("2007-03-04", at) == 17
    assert age_at("1990", at) == 35
    assert age_at("not a date", at) is None and age_at(None, at) is None and age_at("2030-01-01", at) is None


def test_period_overlap_with_open_ends_and_unknown_starts() -> None:
    d = lambda day: datetime(2025, 3, day, tzinfo=UTC)  # noqa: E731
    assert period_overlaps(d(1), d(5), d(4), d(9)) is True
    assert period_overlaps(d(1), d(5), d(5), d(9)) is False
    assert period_overlaps(d(1), None, d(20), d(21)) is True
    assert period_overlaps(None, d(5), d(4), d(9)) is None


def test_windows_are_full_consecutive_spans() -> None:
    start = datetime(2025, 2, 3, 9, tzinfo=UTC)
    spans = windows(start, datetime(2025, 2, 28, 12, tzinfo=UTC), 7)
    assert [s.date() for s, _ in spans] == [date(2025, 2, 3), date(2025, 2, 10), date(2025, 2, 17)]
    assert windows(start, start + timedelta(days=3), 7) == []


# --- One time model: local dates in the site's zone, offsets shown, FHIR Timing per the spec ----------------------

BOSTON = ZoneInfo("America/New_York")


def test_unknown_time_zones_are_rejected_by_name() -> None:
    assert zone_named("America/Chicago") == ZoneInfo("America/Chicago")
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        zone_named("Mars/Olympus")


def test_local_dates_around_midnight() -> None:
    evening = parse_instant("2025-05-02T00:30:00Z")  # Thursday 20:30 in Boston
    assert evening is not None and local_date(evening, BOSTON) == date(2025, 5, 1)
    # a date (no time, no zone) is the date written, wherever the site is
    written = parse_instant("2025-03-05")
    assert written is not None and local_date(written, BOSTON) == date(2025, 3, 5)
    assert local_date(written, ZoneInfo("Pacific/Auckland")) == date(2025, 3, 5)
    # "within 7 days" ends at midnight of the local date + 7, in the site's zone
    assert calendar_days_deadline(evening, 7, BOSTON) == datetime(2025, 5, 8, 23, 59, 59, 999999, tzinfo=BOSTON)


def test_times_are_shown_with_their_local_offset() -> None:
    due = datetime(2025, 5, 3, 3, 59, tzinfo=UTC)
    assert format_local(due, BOSTON) == "2025-05-02 23:59 -04:00"
    assert format_local(datetime(2025, 1, 7, 4, 59, tzinfo=UTC), BOSTON) == "2025-01-06 23:59 -05:00"
    assert format_local(datetime(2025, 1, 7, 4, 59, tzinfo=UTC)) == "2025-01-07 04:59 +00:00"
    assert format_local(None) == "unknown"


def test_business_days_count_local_dates_and_observed_holidays() -> None:
    massachusetts = BusinessCalendar.from_spec("US-MA")
    assert massachusetts.zone == BOSTON
    # Independence Day 2026 falls on a Saturday: the federal holiday is observed on Friday 07-03
    assert not massachusetts.is_business_day(date(2026, 7, 3))
    # Christmas 2022 on a Sunday: observed Monday 12-26
    assert not massachusetts.is_business_day(date(2022, 12, 26))
    assert massachusetts.holiday(date(2025, 4, 21)) == "Patriots' Day"
    # Monday 19:59 in Boston is stored as 23:59Z: still Monday, so 1 business day ends Tuesday at local midnight
    monday_evening = datetime(2025, 4, 7, 23, 59, tzinfo=UTC)
    assert massachusetts.business_days_deadline(monday_evening, 1) == datetime(
        2025, 4, 8, 23, 59, 59, 999999, tzinfo=BOSTON
    )
    # a policy in another zone: the same holidays, its own local dates
    pacific = massachusetts.in_zone("America/Los_Angeles")
    assert pacific.business_days_deadline(datetime(2025, 4, 8, 5, tzinfo=UTC), 0).date() == date(2025, 4, 7)


def test_age_counts_the_local_date_of_the_anchor() -> None:
    # 21:00 in Boston on the day before the 18th birthday is already the birthday in UTC: still 17 there
    evening = datetime(2025, 3, 4, 2, tzinfo=UTC)
    assert age_at("2007-03-04", evening, BOSTON) == 17
    assert age_at("2007-03-04", evening + timedelta(hours=5), BOSTON) == 18


def test_hours_are_elapsed_hours_across_a_daylight_saving_change() -> None:
    # Saturday 2025-03-08 10:00 EST + 48 h is Monday 11:00 EDT: 48 real hours, not 47
    due = hours_deadline(datetime(2025, 3, 8, 15, tzinfo=UTC), 48, BOSTON)
    assert due == datetime(2025, 3, 10, 15, tzinfo=UTC) and format_local(due) == "2025-03-10 11:00 -04:00"


def test_treatment_days_are_local_dates() -> None:
    # 21:00 in Boston on 03-03 is 02:00Z on 03-04: still the 03-03 treatment day
    starts = [
        datetime(2025, 3, 4, 2, tzinfo=UTC),
        datetime(2025, 3, 3, 14, tzinfo=UTC),
        datetime(2025, 3, 5, 14, tzinfo=UTC),
    ]
    assert treatment_day_deadline(starts, 2, BOSTON) == datetime(2025, 3, 5, 23, 59, 59, 999999, tzinfo=BOSTON)


@pytest.mark.parametrize(
    ("repeat", "sessions", "hours"),
    [
        # "3 per week on Mon, Wed, Fri" is 3 sessions a week, not 9
        ({"frequency": 3, "period": 1, "periodUnit": "wk", "dayOfWeek": ["mon", "wed", "fri"], "duration": 3}, 3, 9),
        # twice a day on the days listed
        ({"frequency": 2, "period": 1, "periodUnit": "d", "dayOfWeek": ["mon", "wed", "fri"], "duration": 1.5}, 6, 9),
        ({"dayOfWeek": ["tue", "thu", "tue"], "duration": 240, "durationUnit": "min"}, 2, 8),
        ({"frequency": 1, "period": 2, "periodUnit": "d", "duration": 3, "durationUnit": "h"}, 3.5, 10.5),
    ],
)
def test_sessions_per_week_follow_fhir_timing(repeat: dict, sessions: float, hours: float) -> None:
    timing = {"repeat": repeat}
    assert sessions_per_week(timing) == sessions
    assert hours_per_week(timing) == hours


def test_timing_bounds_period() -> None:
    timing = {"repeat": {"boundsPeriod": {"start": "2025-03-03T09:00:00-05:00", "end": "2025-03-31"}}}
    start, end = timing_bounds(timing)
    assert start == datetime(2025, 3, 3, 14, tzinfo=UTC) and end is not None and end.date() == date(2025, 3, 31)
    assert timing_in_force(timing, datetime(2025, 3, 31, 20, tzinfo=UTC))
    assert not timing_in_force(timing, datetime(2025, 3, 2, tzinfo=UTC))
    assert timing_bounds({"repeat": {}}) == (None, None) and timing_in_force(None, datetime(2025, 1, 1, tzinfo=UTC))


def test_session_hours_prefer_the_actual_period_and_a_missing_end_is_unknown() -> None:
    ran = {
        "period": {"start": "2025-03-03T09:00:00-05:00", "end": "2025-03-03T11:30:00-05:00"},
        "length": {"value": 3, "unit": "h"},
    }
    assert encounter_hours(ran) == 2.5
    assert (
        encounter_hours({"period": {"start": "2025-03-03T09:00:00-05:00"}, "length": {"value": 180, "unit": "min"}})
        == 3
    )
    assert encounter_hours({"period": {"start": "2025-03-03T09:00:00-05:00"}}) is None


def test_a_duplicated_session_record_counts_once() -> None:
    def record(rid: str, start: str, program: str = "Encounter/prog") -> dict:
        return {"resourceType": "Encounter", "id": rid, "partOf": {"reference": program}, "period": {"start": start}}

    one = record("a", "2025-03-03T14:00:00Z")
    same_instant = record("b", "2025-03-03T09:00:00-05:00")  # the same start, written in local time
    other_program = record("c", "2025-03-03T14:00:00Z", "Encounter/other")
    assert distinct_sessions([one, same_instant, other_program]) == [one, other_program]


def test_a_resent_service_record_counts_once() -> None:
    def service(rid: str, when: str, code: str = "G0410", encounter: str = "Encounter/s1") -> dict:
        return {"resourceType": "Procedure", "id": rid, "encounter": {"reference": encounter},
                "code": {"coding": [{"system": "hcpcs", "code": code}]}, "performedDateTime": when}  # fmt: skip

    first = service("g0", "2025-03-03T15:00:00Z")
    resent = service("g0-resent", "2025-03-03T10:00:00-05:00")  # the same service, written in local time
    next_hour = service("g1", "2025-03-03T16:00:00Z")  # a second group unit of the session
    other_code = service("p1", "2025-03-03T15:00:00Z", "90834")
    other_session = service("g9", "2025-03-03T15:00:00Z", encounter="Encounter/s2")
    undated = [service("u1", "not-a-date"), service("u2", "not-a-date")]
    kept = distinct_sessions([first, resent, next_hour, other_code, other_session, *undated])
    assert kept == [first, next_hour, other_code, other_session, *undated]


def test_calendar_windows_start_at_local_midnight() -> None:
    start = datetime(2025, 2, 3, 19, tzinfo=UTC)  # 14:00 in Boston
    spans = windows(start, datetime(2025, 2, 17, 6, tzinfo=UTC), 7, BOSTON)
    assert spans == [
        (datetime(2025, 2, 3, tzinfo=BOSTON), datetime(2025, 2, 10, tzinfo=BOSTON)),
        (datetime(2025, 2, 10, tzinfo=BOSTON), datetime(2025, 2, 17, tzinfo=BOSTON)),
    ]


ZONES = st.sampled_from(["America/New_York", "America/Los_Angeles", "America/Phoenix", "Pacific/Honolulu", "UTC"])
INSTANTS = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC))


@given(t=INSTANTS, days=st.integers(min_value=0, max_value=90), zone_name=ZONES)
def test_calendar_days_end_at_local_midnight_of_the_local_date_plus_n(t: datetime, days: int, zone_name: str) -> None:
    zone = ZoneInfo(zone_name)
    due = calendar_days_deadline(t, days, zone)
    assert due >= t
    assert local_date(due, zone) == local_date(t, zone) + timedelta(days=days)
    assert local_date(due + timedelta(microseconds=1), zone) == local_date(t, zone) + timedelta(days=days + 1)


@given(t=INSTANTS, days=st.integers(min_value=0, max_value=15))
def test_business_days_end_on_a_business_day_at_local_midnight(t: datetime, days: int) -> None:
    calendar = BusinessCalendar.from_spec("US-MA")
    due = calendar.business_days_deadline(t, days)
    day = local_date(due, calendar.zone)
    assert calendar.is_business_day(day) and due.time() == END_OF_DAY
    between = [
        local_date(t, calendar.zone) + timedelta(days=i)
        for i in range(1, (day - local_date(t, calendar.zone)).days + 1)
    ]
    assert sum(calendar.is_business_day(d) for d in between) == days or days == 0
