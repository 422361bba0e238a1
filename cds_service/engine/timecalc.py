"""Time arithmetic of the criteria: FHIR dates, deadlines (hours, calendar, business and treatment days), intensity."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

import holidays

_FHIR_DATE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?P<f>\.\d+)?)?(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
END_OF_DAY = time(23, 59, 59, 999999)

# Units of FHIR Timing (UCUM subset), in hours.
_UNIT_HOURS = {"s": 1 / 3600, "min": 1 / 60, "h": 1.0, "d": 24.0, "wk": 168.0, "mo": 24 * 30.4375, "a": 24 * 365.25}


def parse_instant(value: Any, end_of_period: bool = False) -> datetime | None:
    """A FHIR date/dateTime/instant as an aware datetime (no zone: UTC); partial dates give the period's start/end."""
    if not isinstance(value, str):
        return None
    m = _FHIR_DATE.match(value.strip())
    if not m:
        return None
    try:
        year = int(m["y"])
        if m["m"] is None:
            start = datetime(year, 1, 1, tzinfo=UTC)
            return (
                start.replace(month=12, day=31, hour=23, minute=59, second=59, microsecond=999999)
                if end_of_period
                else start
            )
        month = int(m["m"])
        if m["d"] is None:
            start = datetime(year, month, 1, tzinfo=UTC)
            if not end_of_period:
                return start
            following = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
            return following - timedelta(microseconds=1)
        day = date(year, month, int(m["d"]))
        if m["H"] is None:
            return datetime.combine(day, END_OF_DAY if end_of_period else time(0), tzinfo=UTC)
        zone: timezone = UTC
        if m["tz"] and m["tz"] != "Z":
            sign = 1 if m["tz"][0] == "+" else -1
            hours, minutes = int(m["tz"][1:3]), int(m["tz"][4:6])
            zone = timezone(timedelta(minutes=sign * (hours * 60 + minutes)))
        micro = int((m["f"] or ".0")[1:7].ljust(6, "0"))
        return datetime(year, month, day.day, int(m["H"]), int(m["M"]), int(m["S"] or 0), micro, tzinfo=zone)
    except ValueError:
        return None


def end_of_day(day: date, like: datetime) -> datetime:
    """23:59:59.999999 of ``day`` in the time zone of ``like``."""
    return datetime.combine(day, END_OF_DAY, tzinfo=like.tzinfo)


def hours_deadline(base: datetime, hours: float) -> datetime:
    """``base`` plus a number of clock hours."""
    return base + timedelta(hours=hours)


def calendar_days_deadline(base: datetime, days: int) -> datetime:
    """End of the calendar day ``days`` after the day of ``base`` (the day of ``base`` is day 0)."""
    return end_of_day(base.date() + timedelta(days=days), base)


class BusinessCalendar:
    """Monday to Friday minus the public holidays of a country (and subdivision)."""

    def __init__(self, country: str | None = None, subdivision: str | None = None, extra: Iterable[date] = ()) -> None:
        self.spec = f"{country}-{subdivision}" if country and subdivision else (country or "none")
        self._holidays: Any = holidays.country_holidays(country, subdiv=subdivision) if country else {}
        self._extra = frozenset(extra)

    @classmethod
    def from_spec(cls, spec: str) -> BusinessCalendar:
        """``US-MA``, ``US`` or ``none``; an unknown country or subdivision raises ValueError."""
        text = spec.strip()
        if not text or text.lower() == "none":
            return cls()
        country, _, subdivision = (part.upper() for part in text.partition("-"))
        supported = holidays.list_supported_countries()
        if country not in supported or (subdivision and subdivision not in supported[country]):
            raise ValueError(f"unknown holiday calendar {spec!r} (e.g. US, US-MA, none)")
        return cls(country, subdivision or None)

    def is_business_day(self, day: date) -> bool:
        """True on a weekday that is not a holiday."""
        return day.weekday() < 5 and day not in self._holidays and day not in self._extra

    def business_days_deadline(self, base: datetime, days: int) -> datetime:
        """End of the ``days``-th business day after the day of ``base`` (0: that day or the next one)."""
        day = base.date()
        if days == 0:
            while not self.is_business_day(day):
                day += timedelta(days=1)
            return end_of_day(day, base)
        counted = 0
        while counted < days:
            day += timedelta(days=1)
            if self.is_business_day(day):
                counted += 1
        return end_of_day(day, base)


def treatment_day_deadline(session_starts: Sequence[datetime], n: int) -> datetime | None:
    """End of the n-th treatment day (the date of the n-th distinct session date); None if fewer sessions."""
    if n <= 0:
        return None
    days: list[datetime] = []
    seen: set[date] = set()
    for start in sorted(session_starts):
        if start.date() not in seen:
            seen.add(start.date())
            days.append(start)
    if len(days) < n:
        return None
    return end_of_day(days[n - 1].date(), days[n - 1])


def _repeat(timing: dict[str, Any] | None) -> dict[str, Any] | None:
    repeat = timing.get("repeat") if isinstance(timing, dict) else None
    return repeat if isinstance(repeat, dict) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return float(value)


def hours_per_session(timing: dict[str, Any] | None) -> float | None:
    """Timing ``repeat.duration`` in hours; None when absent or in an unknown unit."""
    repeat = _repeat(timing)
    if repeat is None:
        return None
    duration = _number(repeat.get("duration"))
    unit = _UNIT_HOURS.get(repeat.get("durationUnit", "h"))
    if duration is None or unit is None or unit > 24:
        return None
    return duration * unit


def sessions_per_week(timing: dict[str, Any] | None) -> float | None:
    """Sessions per week: the number of ``dayOfWeek`` entries, else frequency × 7 days ÷ period (in days)."""
    repeat = _repeat(timing)
    if repeat is None:
        return None
    days = repeat.get("dayOfWeek")
    if isinstance(days, list) and days:
        per_day = _number(repeat.get("frequency", 1)) or 1.0
        return len(set(days)) * per_day
    frequency = _number(repeat.get("frequency", 1))
    period = _number(repeat.get("period"))
    unit = _UNIT_HOURS.get(repeat.get("periodUnit", ""))
    if frequency is None or period is None or period == 0 or unit is None:
        return None
    return frequency * 168.0 / (period * unit)


def hours_per_week(timing: dict[str, Any] | None) -> float | None:
    """Hours per week of a Timing: sessions per week × hours per session."""
    sessions, hours = sessions_per_week(timing), hours_per_session(timing)
    if sessions is None or hours is None:
        return None
    return round(sessions * hours, 4)


def encounter_hours(encounter: dict[str, Any]) -> float | None:
    """Hours of an Encounter: ``length`` (a Duration), else period end − start; None when neither is readable."""
    length = encounter.get("length")
    if isinstance(length, dict):
        value = _number(length.get("value"))
        unit = _UNIT_HOURS.get(length.get("code") or length.get("unit") or "")
        if value is not None and unit is not None:
            return value * unit
    period = encounter.get("period")
    if isinstance(period, dict):
        start, end = parse_instant(period.get("start")), parse_instant(period.get("end"))
        if start is not None and end is not None and end >= start:
            return (end - start).total_seconds() / 3600
    return None


def age_at(birth_date: Any, at: datetime) -> int | None:
    """Completed years between a FHIR birthDate (year, year-month or date) and ``at``; None when malformed."""
    born = parse_instant(birth_date)
    if born is None or born.date() > at.date():
        return None
    day = at.date()
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def period_overlaps(
    a_start: datetime | None, a_end: datetime | None, b_start: datetime | None, b_end: datetime | None
) -> bool | None:
    """Whether two periods overlap (an open end runs on); None when a start is unknown."""
    if a_start is None or b_start is None:
        return None
    a_stop = a_end or datetime.max.replace(tzinfo=UTC)
    b_stop = b_end or datetime.max.replace(tzinfo=UTC)
    return a_start < b_stop and b_start < a_stop


def windows(start: datetime, end: datetime, days: int) -> list[tuple[datetime, datetime]]:
    """Consecutive full windows of ``days`` days from ``start`` that end by ``end``."""
    if days <= 0:
        return []
    spans: list[tuple[datetime, datetime]] = []
    lo = start
    while lo + timedelta(days=days) <= end:
        spans.append((lo, lo + timedelta(days=days)))
        lo += timedelta(days=days)
    return spans
