"""Time model of the criteria: FHIR dates, local dates in the site's zone, deadlines (hours, calendar, business and
treatment days), recurring due times, FHIR Timing intensity and session hours."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

DEFAULT_TIMEZONE = "America/New_York"
FLOATING = timezone(timedelta(0), "floating")
"""Zone of a FHIR value written without an offset (a date, or a dateTime missing its zone): its wall-clock time
is read in the site's zone when local dates are compared, and as UTC elsewhere."""

_FHIR_DATE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?P<f>\.\d+)?)?(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
END_OF_DAY = time(23, 59, 59, 999999)


class DateOnly(datetime):
    """A FHIR date written without a time: it stands for that whole local date (``date_span``), and is held as the
    date's start (or its end, read as the end of a period). A zone change keeps the type; a date plus or minus a
    duration is an instant (48 hours after an admission dated 03-03 is 03-05 00:00)."""

    def __add__(self, other: timedelta) -> datetime:  # type: ignore[override]
        return _plain(self) + other

    __radd__ = __add__

    def __sub__(self, other: Any) -> Any:  # type: ignore[override]
        return _plain(self) - (_plain(other) if isinstance(other, DateOnly) else other)

    def __rsub__(self, other: datetime) -> timedelta:
        return other - _plain(self)


def _plain(t: datetime) -> datetime:
    return datetime.combine(t.date(), t.timetz())


# Units of FHIR Timing (UCUM subset), in hours.
_UNIT_HOURS = {"s": 1 / 3600, "min": 1 / 60, "h": 1.0, "d": 24.0, "wk": 168.0, "mo": 24 * 30.4375, "a": 24 * 365.25}


def zone_named(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; ValueError naming it when unknown."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"time zone {name!r} is not an IANA name (e.g. America/New_York)")
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as America/New_York)") from exc


def parse_instant(value: Any, end_of_period: bool = False) -> datetime | None:
    """A FHIR date/dateTime/instant as an aware datetime; partial dates give the period's start/end.

    A value without an offset (a date, or a dateTime missing its zone) gets the ``FLOATING`` zone so that its
    local date stays the date written (see ``to_local``)."""
    if not isinstance(value, str):
        return None
    m = _FHIR_DATE.match(value.strip())
    if not m:
        return None
    try:
        year = int(m["y"])
        if m["m"] is None:
            start = datetime(year, 1, 1, tzinfo=FLOATING)
            return (
                start.replace(month=12, day=31, hour=23, minute=59, second=59, microsecond=999999)
                if end_of_period
                else start
            )
        month = int(m["m"])
        if m["d"] is None:
            start = datetime(year, month, 1, tzinfo=FLOATING)
            if not end_of_period:
                return start
            following = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=FLOATING)
            return following - timedelta(microseconds=1)
        day = date(year, month, int(m["d"]))
        if m["H"] is None:
            return DateOnly.combine(day, END_OF_DAY if end_of_period else time(0), tzinfo=FLOATING)
        zone: timezone = FLOATING
        if m["tz"] == "Z":
            zone = UTC
        elif m["tz"]:
            sign = 1 if m["tz"][0] == "+" else -1
            hours, minutes = int(m["tz"][1:3]), int(m["tz"][4:6])
            zone = timezone(timedelta(minutes=sign * (hours * 60 + minutes)))
        micro = int((m["f"] or ".0")[1:7].ljust(6, "0"))
        return datetime(year, month, day.day, int(m["H"]), int(m["M"]), int(m["S"] or 0), micro, tzinfo=zone)
    except ValueError:
        return None


def to_local(t: datetime, zone: tzinfo | None) -> datetime:
    """``t`` in the site's zone: an instant converted, a floating value keeps its wall-clock time."""
    if zone is None:
        return t
    if t.tzinfo is FLOATING or t.tzinfo is None:
        return t.replace(tzinfo=zone)
    return t.astimezone(zone)


def date_span(t: datetime) -> tuple[datetime, datetime]:
    """The first and last instant a time may stand for: a date without a time its whole date (in the zone it
    carries: the site's once the context has placed it), any other time itself."""
    if type(t) is DateOnly:
        day = t.date()
        return datetime.combine(day, time(0), tzinfo=t.tzinfo), datetime.combine(day, END_OF_DAY, tzinfo=t.tzinfo)
    return t, t


def within(
    t: datetime, low: datetime | None, high: datetime | None, exact_low: bool = False, exact_high: bool = False
) -> bool:
    """Whether a time falls in ``[low, high]`` (an open end is unbounded).

    A date without a time is compared by its date: it is in when any part of its date is (a service dated on the
    admission date is in a window that opens at the admission; one dated today is by ``now``). Against an ``exact``
    bound (an hour offset, ``T0+48h``) its whole date must be inside: whether it came before or after that hour
    cannot be told, and it is not taken as evidence that it did."""
    low_edge, high_edge = window_edges(t, exact_low, exact_high)
    return (low is None or low_edge >= low) and (high is None or high_edge <= high)


def window_edges(t: datetime, exact_low: bool = False, exact_high: bool = False) -> tuple[datetime, datetime]:
    """The instants of ``t`` that ``within`` compares with a window's low and high bounds: a date without a time
    meets a date bound with its far edge and an ``exact`` (hour) bound with its near one; any other time is itself."""
    first, last = date_span(t)
    return (first if exact_low else last), (last if exact_high else first)


def local_date(t: datetime, zone: tzinfo | None) -> date:
    """The calendar date of ``t`` in the site's zone (the written date of a floating value)."""
    return to_local(t, zone).date()


def start_of_day(day: date, zone: tzinfo) -> datetime:
    """Local midnight at the start of ``day``."""
    return datetime.combine(day, time(0), tzinfo=zone)


def end_of_day(day: date, like: datetime | tzinfo | None) -> datetime:
    """23:59:59.999999 of ``day`` in a zone (or in the zone of a datetime)."""
    zone = like.tzinfo if isinstance(like, datetime) else like
    return datetime.combine(day, END_OF_DAY, tzinfo=zone)


def format_local(t: datetime | None, zone: tzinfo | None = None) -> str:
    """``YYYY-MM-DD HH:MM ±HH:MM``: the time as people read it, in the site's zone, with its offset."""
    if t is None:
        return "unknown"
    local = to_local(t, zone)
    offset = local.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{local:%Y-%m-%d %H:%M} {sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def hours_deadline(base: datetime, hours: float, zone: tzinfo | None = None) -> datetime:
    """``base`` plus exactly a number of elapsed hours (shown in the site's zone; a DST change does not shift it)."""
    local = to_local(base, zone)
    return (local.astimezone(UTC) + timedelta(hours=hours)).astimezone(local.tzinfo)


def calendar_days_deadline(base: datetime, days: int, zone: tzinfo | None = None) -> datetime:
    """End of the local date of ``base`` plus ``days`` (the local date of ``base`` is day 0)."""
    local = to_local(base, zone)
    return end_of_day(local.date() + timedelta(days=days), zone or local.tzinfo)


class BusinessCalendar:
    """The site's time model: its time zone, and business days (Monday to Friday minus public holidays).

    With a subdivision (``US-MA``) the holidays are the country's, observed as the country observes them (a US
    federal holiday on a Saturday is off on the Friday, on a Sunday on the Monday), plus the subdivision's own
    (Patriots' Day in Massachusetts)."""

    def __init__(
        self,
        country: str | None = None,
        subdivision: str | None = None,
        extra: Iterable[date] = (),
        zone: str = DEFAULT_TIMEZONE,
    ) -> None:
        self.spec = f"{country}-{subdivision}" if country and subdivision else (country or "none")
        self.country, self.subdivision = country, subdivision
        self._holidays: Any = holidays.country_holidays(country) if country else {}
        self._state: Any = holidays.country_holidays(country, subdiv=subdivision) if country and subdivision else {}
        self._extra = frozenset(extra)
        self.zone_name = zone
        self.zone: ZoneInfo = zone_named(zone)

    @classmethod
    def from_spec(cls, spec: str, zone: str = DEFAULT_TIMEZONE) -> BusinessCalendar:
        """``US-MA``, ``US`` or ``none`` in an IANA zone; an unknown calendar or zone raises ValueError."""
        text = spec.strip()
        if not text or text.lower() == "none":
            return cls(zone=zone)
        country, _, subdivision = (part.upper() for part in text.partition("-"))
        supported = holidays.list_supported_countries()
        if country not in supported or (subdivision and subdivision not in supported[country]):
            raise ValueError(f"unknown holiday calendar {spec!r} (e.g. US, US-MA, none)")
        return cls(country, subdivision or None, zone=zone)

    def in_zone(self, zone: str | None) -> BusinessCalendar:
        """The same holidays in another time zone (a policy's own ``timezone``); self when unchanged."""
        if not zone or zone == self.zone_name:
            return self
        return BusinessCalendar(self.country, self.subdivision, self._extra, zone=zone)

    def holiday(self, day: date) -> str | None:
        """The name of the holiday on ``day`` (federal observed or the state's own), else None."""
        return self._holidays.get(day) or self._state.get(day) or ("holiday" if day in self._extra else None)

    def is_business_day(self, day: date) -> bool:
        """True on a weekday that is not a holiday."""
        return day.weekday() < 5 and self.holiday(day) is None

    def business_days_deadline(self, base: datetime, days: int) -> datetime:
        """End of the ``days``-th business day after the local date of ``base`` (0: that day or the next one)."""
        day = local_date(base, self.zone)
        if days == 0:
            while not self.is_business_day(day):
                day += timedelta(days=1)
            return end_of_day(day, self.zone)
        counted = 0
        while counted < days:
            day += timedelta(days=1)
            if self.is_business_day(day):
                counted += 1
        return end_of_day(day, self.zone)


def treatment_day_deadline(session_starts: Sequence[datetime], n: int, zone: tzinfo | None = None) -> datetime | None:
    """End of the n-th treatment day (the n-th distinct local session date); None if fewer sessions."""
    if n <= 0:
        return None
    days = sorted({local_date(start, zone) for start in session_starts})
    if len(days) < n:
        return None
    return end_of_day(days[n - 1], zone or session_starts[0].tzinfo)


def _repeat(timing: dict[str, Any] | None) -> dict[str, Any] | None:
    repeat = timing.get("repeat") if isinstance(timing, dict) else None
    return repeat if isinstance(repeat, dict) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return float(value)


def hours_per_session(timing: dict[str, Any] | None) -> float | None:
    """Timing ``repeat.duration`` in ``durationUnit`` (default h) as hours; None when absent or unreadable."""
    repeat = _repeat(timing)
    if repeat is None:
        return None
    duration = _number(repeat.get("duration"))
    unit = _UNIT_HOURS.get(repeat.get("durationUnit", "h"))
    if duration is None or unit is None or unit > 24:
        return None
    return duration * unit


def _period_days(repeat: dict[str, Any]) -> float | None:
    period, unit = _number(repeat.get("period")), _UNIT_HOURS.get(repeat.get("periodUnit", ""))
    if period is None or period == 0 or unit is None:
        return None
    return period * unit / 24


WEEKDAY_CODES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def sessions_per_week(timing: dict[str, Any] | None, zone: tzinfo | None = None) -> float | None:
    """Sessions per week per FHIR Timing (DATA-PROFILE §2).

    With ``dayOfWeek``: the number of distinct days listed, times ``frequency`` only when the period is one day
    ("3 per 1 wk on Mon, Wed, Fri" is 3, "2 per 1 d on Mon, Wed, Fri" is 6). Otherwise ``frequency`` per
    ``period`` ``periodUnit`` scaled to a week. A ``boundsPeriod`` shorter than a week holds only the sessions its
    local dates can hold: the listed weekdays among them, or at most one period's sessions per day."""
    repeat = _repeat(timing)
    if repeat is None:
        return None
    frequency = _number(repeat.get("frequency", 1))
    per_day = frequency if frequency and _period_days(repeat) == 1 else 1.0
    days = repeat.get("dayOfWeek")
    bounded = short_bounds(timing, zone)
    if isinstance(days, list) and days:
        listed = {d for d in days if isinstance(d, str)}
        if not listed:
            return None
        if bounded is not None:
            return sum(1 for day in bounded if WEEKDAY_CODES[day.weekday()] in listed) * per_day
        return len(listed) * per_day
    period_days = _period_days(repeat)
    if frequency is None or period_days is None:
        return None
    rate = frequency * 7 / period_days
    if bounded is None:
        return rate
    return min(rate, frequency * math.ceil(len(bounded) / period_days))  # the periods the bounds reach into


def short_bounds(timing: dict[str, Any] | None, zone: tzinfo | None = None) -> list[date] | None:
    """The local dates of a Timing's ``boundsPeriod`` when it spans less than a week (None: a week or more, open)."""
    start, end = timing_bounds(timing)
    if start is None or end is None or end < start:
        return None
    first, last = local_date(start, zone), local_date(end, zone)
    span = (last - first).days + 1
    return [first + timedelta(days=n) for n in range(span)] if span < 7 else None


def hours_per_week(timing: dict[str, Any] | None, zone: tzinfo | None = None) -> float | None:
    """Hours per week of a Timing: sessions per week × hours per session."""
    sessions, hours = sessions_per_week(timing, zone), hours_per_session(timing)
    if sessions is None or hours is None:
        return None
    return round(sessions * hours, 4)


def describe_timing(timing: dict[str, Any] | None) -> str:
    """A Timing as people read it: ``3 per 1 wk on mon, wed, fri, 3 h each``."""
    repeat = _repeat(timing) or {}
    parts = []
    if "frequency" in repeat or "period" in repeat:
        parts.append(f"{repeat.get('frequency', 1)} per {repeat.get('period', '?')} {repeat.get('periodUnit', '?')}")
    days = repeat.get("dayOfWeek")
    if isinstance(days, list) and days:
        parts.append("on " + ", ".join(str(d) for d in days))
    if "duration" in repeat:
        parts.append(f"{repeat.get('duration')} {repeat.get('durationUnit', 'h')} each")
    bounds = repeat.get("boundsPeriod")
    if short_bounds(timing) is not None and isinstance(bounds, dict):  # bounds that cut the week short
        parts.append(f"only from {bounds.get('start')} to {bounds.get('end')}")
    return ", ".join(parts) or "no repeat"


def timing_bounds(timing: dict[str, Any] | None) -> tuple[datetime | None, datetime | None]:
    """Start and end of a Timing's ``repeat.boundsPeriod`` (an end given as a date runs to that day's end)."""
    repeat = _repeat(timing)
    bounds = repeat.get("boundsPeriod") if repeat else None
    if not isinstance(bounds, dict):
        return None, None
    return parse_instant(bounds.get("start")), parse_instant(bounds.get("end"), end_of_period=True)


def timing_in_force(timing: dict[str, Any] | None, at: datetime) -> bool:
    """Whether ``at`` lies inside the Timing's ``boundsPeriod`` (no bounds: always)."""
    start, end = timing_bounds(timing)
    return (start is None or start <= at) and (end is None or at <= end)


def encounter_length_hours(encounter: dict[str, Any]) -> float | None:
    """An Encounter's ``length`` in hours (the time it lasted, less time absent); None when absent or unreadable."""
    length = encounter.get("length")
    if not isinstance(length, dict):
        return None
    value = _number(length.get("value"))
    unit = _UNIT_HOURS.get(length.get("code") or length.get("unit") or "")
    return value * unit if value is not None and unit is not None else None


def encounter_hours(encounter: dict[str, Any]) -> float | None:
    """Delivered hours of a session: its actual ``period`` (end − start), shortened to its ``length`` when that is
    less (FHIR: the time it lasted, less time absent), else its ``length``; None when neither."""
    period = encounter.get("period")
    span = None
    if isinstance(period, dict):
        start, end = parse_instant(period.get("start")), parse_instant(period.get("end"))
        if start is not None and end is not None and (start.tzinfo is FLOATING) == (end.tzinfo is FLOATING):
            span = (end - start).total_seconds() / 3600 if end >= start else None
    length = encounter_length_hours(encounter)
    if span is None:
        return length
    return span if length is None else min(span, length)


def union_hours(spans: Iterable[tuple[datetime, datetime]]) -> float:
    """Hours covered by the spans together: a span inside or overlapping another counts once."""
    total, reach = 0.0, None
    for lo, hi in sorted(spans):
        if reach is None or lo > reach:
            total += (hi - lo).total_seconds() / 3600
            reach = hi
        elif hi > reach:
            total += (hi - reach).total_seconds() / 3600
            reach = hi
    return total


def _procedure_identity(procedure: dict[str, Any]) -> tuple[Any, ...] | None:
    """A service record's identity: its encounter, its codes and the instant it was performed (None if one lacks)."""
    encounter = procedure.get("encounter")
    reference = encounter.get("reference") if isinstance(encounter, dict) else None
    codes = (procedure.get("code") or {}).get("coding") or []
    code = tuple(sorted(f"{c.get('system')}|{c.get('code')}" for c in codes if isinstance(c, dict)))
    performed = procedure.get("performedDateTime")
    if performed is None and isinstance(procedure.get("performedPeriod"), dict):
        performed = procedure["performedPeriod"].get("start")
    when = parse_instant(performed)
    if not reference or not code or when is None:
        return None
    return ("service", reference, code, when.astimezone(UTC) if when.tzinfo is not FLOATING else when)


def session_identity(encounter: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two session records one session: the same program (``partOf``) and the same start instant; and two
    service records one service: the same encounter, codes and performed instant (a resend under a new id)."""
    if encounter.get("resourceType") == "Procedure" and (service := _procedure_identity(encounter)):
        return service
    part_of = encounter.get("partOf")
    program = part_of.get("reference") if isinstance(part_of, dict) else None
    period = encounter.get("period")
    start = parse_instant(period.get("start")) if isinstance(period, dict) else None
    if start is None or not program or encounter.get("resourceType") != "Encounter":
        return ("id", encounter.get("resourceType"), encounter.get("id"), id(encounter))
    return ("session", program, start.astimezone(UTC) if start.tzinfo is not FLOATING else start)


def distinct_sessions(encounters: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Session records with duplicates (same program, same start) counted once; the first record is kept."""
    seen: set[tuple[Any, ...]] = set()
    out = []
    for encounter in encounters:
        key = session_identity(encounter)
        if key not in seen:
            seen.add(key)
            out.append(encounter)
    return out


def age_at(birth_date: Any, at: datetime, zone: tzinfo | None = None) -> int | None:
    """Completed years between a FHIR birthDate (year, year-month or date) and the local date of ``at``."""
    born = parse_instant(birth_date)
    day = local_date(at, zone)
    if born is None or born.date() > day:
        return None
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


def windows(start: datetime, end: datetime, days: int, zone: tzinfo | None = None) -> list[tuple[datetime, datetime]]:
    """Consecutive full windows of ``days`` local calendar days from the local date of ``start`` that end by ``end``.

    Each window runs from local midnight to local midnight (exclusive), so a session on the first day counts
    whatever its hour; without a zone the windows run from ``start`` itself."""
    if days <= 0:
        return []
    if zone is not None:
        first = local_date(start, zone)
        lo_day = first
        spans: list[tuple[datetime, datetime]] = []
        while start_of_day(lo_day + timedelta(days=days), zone) <= end:
            spans.append((start_of_day(lo_day, zone), start_of_day(lo_day + timedelta(days=days), zone)))
            lo_day += timedelta(days=days)
        return spans
    spans = []
    lo = start
    while lo + timedelta(days=days) <= end:
        spans.append((lo, lo + timedelta(days=days)))
        lo += timedelta(days=days)
    return spans
