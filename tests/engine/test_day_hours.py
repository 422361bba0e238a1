"""Hours per day: a local date's session blocks taken together (``each-day``, ``every-window`` day-hours-at-least).

"At least 3 hours per day" is a day's programming, which sites record as one Encounter or as a morning and an
afternoon block; the site's zone (America/New_York here) decides the date, not the UTC date the times are written in.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from rules_helpers import run

from cds_service.engine.mapping import Mappings
from cds_service.engine.selections import SpecError
from cds_service.engine.timecalc import encounter_hours, union_hours

PROGRAM = "Encounter/prog"


def block(rid: str, start: str, end: str | None = None, **extra: Any) -> dict[str, Any]:
    """A session Encounter of the program from ``start`` to ``end`` (ISO instants as a site's feed writes them)."""
    period = {"start": start} if end is None else {"start": start, "end": end}
    return {"resourceType": "Encounter", "id": rid, "partOf": {"reference": PROGRAM}, "period": period, **extra}


# Wed 2025-03-05 in Boston (-05:00): 09:00-10:30 and 19:00-20:30 local, the second written in UTC on 03-06.
MORNING = block("am", "2025-03-05T14:00:00Z", "2025-03-05T15:30:00Z")
EVENING = block("pm", "2025-03-06T00:00:00Z", "2025-03-06T01:30:00Z")
DAY = {"each-day": {"of": "sessions", "hours-at-least": 3}}


def test_union_hours_counts_an_overlap_once_and_session_hours_take_the_shorter_of_period_and_length() -> None:
    def t(hour: int, minute: int = 0) -> datetime:
        return datetime(2025, 3, 5, hour, minute, tzinfo=UTC)

    assert union_hours([(t(13), t(15)), (t(14), t(15)), (t(13), t(15))]) == 2
    assert union_hours([(t(9), t(10, 30)), (t(19), t(20, 30))]) == 3
    absent = {"period": {"start": "2025-03-05T13:00:00Z", "end": "2025-03-05T16:00:00Z"}, "length": {"value": 150}}
    absent["length"]["unit"] = "min"
    assert encounter_hours(absent) == 2.5  # "less time absent": the 30 minutes away were not delivered


def test_a_day_recorded_as_a_morning_and_an_evening_block_is_one_day_of_three_hours(mappings: Mappings) -> None:
    result = run(mappings, DAY, [], SESS=[MORNING, EVENING])
    assert result.value is True, result.detail
    assert "each of 1 day holds 3 h" in result.detail


def test_a_genuinely_short_day_is_false_and_the_reason_names_the_day(mappings: Mappings) -> None:
    two_hours = block("short", "2025-03-05T18:00:00Z", "2025-03-05T20:00:00Z")
    full = block("full", "2025-03-03T14:00:00Z", "2025-03-03T17:00:00Z")
    result = run(mappings, DAY, [], SESS=[full, two_hours])
    assert result.value is False
    assert "2025-03-05: 2.0 h over 1 IOP session (Encounter/short)" in result.detail
    assert result.evidence == ["Encounter/short"]


def test_a_resent_block_and_an_overlapping_block_count_their_hours_once(mappings: Mappings) -> None:
    resent = {
        **MORNING,
        "id": "am-resent",
        "period": {"start": "2025-03-05T09:00:00-05:00", "end": "2025-03-05T10:30:00-05:00"},
    }
    result = run(mappings, DAY, [], SESS=[MORNING, resent])
    assert result.value is False and "2025-03-05: 1.5 h over 1 IOP session" in result.detail
    group = block("group", "2025-03-05T18:00:00Z", "2025-03-05T20:00:00Z")
    inside = block("individual", "2025-03-05T19:00:00Z", "2025-03-05T20:00:00Z")  # pulled out of the group
    result = run(mappings, DAY, [], SESS=[group, inside])
    assert result.value is False and "2025-03-05: 2.0 h over 2 IOP sessions" in result.detail


def test_a_block_without_end_or_length_leaves_its_day_open_unless_the_rest_already_reach_it(
    mappings: Mappings,
) -> None:
    open_block = block("open", "2025-03-05T18:00:00Z")
    result = run(mappings, DAY, [], SESS=[MORNING, open_block])
    assert result.value is None and "Encounter/open without an end time or length" in result.detail
    full = block("full", "2025-03-05T14:00:00Z", "2025-03-05T17:00:00Z")
    assert run(mappings, DAY, [], SESS=[full, open_block]).value is True


def test_a_session_with_no_time_may_belong_to_the_short_day(mappings: Mappings) -> None:
    """DATA-PROFILE §6: with a session recorded whose time is unknown, a short day cannot be judged not-met."""
    undated = {"resourceType": "Encounter", "id": "undated", "partOf": {"reference": PROGRAM}}
    result = run(mappings, DAY, [], SESS=[MORNING, undated])
    assert result.value is None
    assert "found IOP session Encounter/undated with no recorded time" in result.detail
    assert "2025-03-05: 1.5 h" in result.detail
    three_hours = {**undated, "length": {"value": 3, "unit": "h"}}
    full = block("full", "2025-03-05T14:00:00Z", "2025-03-05T17:00:00Z")
    assert run(mappings, DAY, [], SESS=[full, three_hours]).value is True
    assert run(mappings, DAY, [], SESS=[full, undated]).value is None


def test_each_day_needs_hours_or_services(mappings: Mappings) -> None:
    with pytest.raises(SpecError, match="each-day"):
        run(mappings, {"each-day": {"of": "sessions"}}, [], SESS=[MORNING])
    with pytest.raises(SpecError, match="hours-at-least"):
        run(mappings, {"each-day": {"of": "sessions", "hours-at-least": "three"}}, [], SESS=[MORNING])
    services = {"of": "sessions", "via": "procedure.encounter", "at-least": 0}
    with pytest.raises(SpecError, match="services at-least"):
        run(mappings, {"each-day": {"of": "sessions", "services": services}}, [], SESS=[MORNING])


WEEK = {"of": "sessions", "days": 7, "from": "T0", "to": "TD", "at-least": 2, "day-hours-at-least": 3}


def test_every_window_counts_only_days_that_reach_their_hours(mappings: Mappings) -> None:
    monday = block("mon", "2025-03-03T14:00:00Z", "2025-03-03T17:00:00Z")
    result = run(mappings, {"every-window": WEEK}, [], SESS=[monday, MORNING, EVENING])
    assert result.value is True, result.detail
    two_hours = block("wed", "2025-03-05T14:00:00Z", "2025-03-05T16:00:00Z")
    result = run(mappings, {"every-window": WEEK}, [], SESS=[monday, two_hours])
    assert result.value is False
    assert "1 × day with at least 3 h of IOP session on distinct days between 2025-03-03 and 2025-03-09" in (
        result.detail
    )
    assert "short: 2025-03-05: 2.0 h over 1 IOP session" in result.detail
    open_block = block("wed", "2025-03-05T14:00:00Z")
    assert run(mappings, {"every-window": WEEK}, [], SESS=[monday, open_block]).value is None


def test_every_window_hours_count_overlapping_blocks_once(mappings: Mappings) -> None:
    def day(d: int, start: int, end: int, rid: str) -> dict[str, Any]:
        return block(rid, f"2025-03-{d:02d}T{start:02d}:00:00Z", f"2025-03-{d:02d}T{end:02d}:00:00Z")

    # Three 6-hour days, each with a 1-hour individual visit inside the day's block: 18 h, not 21 h.
    sessions = [s for d in (3, 5, 7) for s in (day(d, 13, 19, f"d{d}"), day(d, 15, 16, f"i{d}"))]
    rule = {"of": "sessions", "days": 7, "from": "T0", "to": "TD", "at-least": 3, "distinct-days": True}
    result = run(mappings, {"every-window": {**rule, "hours-at-least": 9, "hours-at-most": 19}}, [], SESS=sessions)
    assert result.value is True, result.detail


def test_every_window_with_an_undated_member_in_a_short_week_is_unknown(mappings: Mappings) -> None:
    """DATA-PROFILE §6: a session recorded with no time could be the week's missing day."""
    days = [block(f"s{d}", f"2025-03-{d:02d}T14:00:00Z", f"2025-03-{d:02d}T17:00:00Z") for d in (3, 5)]
    undated = {"resourceType": "Encounter", "id": "undated", "partOf": {"reference": PROGRAM}}
    rule = {"every-window": {"of": "sessions", "days": 7, "from": "T0", "to": "TD", "at-least": 3}}
    assert run(mappings, rule, [], SESS=days).value is False
    result = run(mappings, rule, [], SESS=[*days, undated])
    assert result.value is None
    assert "found IOP session Encounter/undated with no recorded time" in result.detail
    assert "2 × IOP session between 2025-03-03 and 2025-03-09 (at least 3 needed)" in result.detail
    too_many = [block(f"s{d}", f"2025-03-{d:02d}T14:00:00Z") for d in (3, 4, 5, 6, 7, 8)]
    capped = {"every-window": {**rule["every-window"], "at-most": 5}}
    assert run(mappings, capped, [], SESS=[*too_many, undated]).value is False  # more only adds to too many
