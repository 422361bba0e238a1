"""Medica "three (3) days a week and ... at least nine (9) hours to 19 hours of weekly clinical services" when a day
is recorded as several session Encounters.

Days are local dates (Chicago): two blocks of one day are one day. Weekly hours are the time the week's sessions
cover: a visit recorded inside a block, or a block sent twice, adds no hours. Each case is one change from golden P9b
(continued stay, order signed 2025-04-21; sessions 09:00-12:00 CDT), in week 2 of the stay (04-09 to 04-15)."""

from __future__ import annotations

from typing import Any

from sentence_cases import SentenceCase, adding, by_id, program_session, sentence_test
from test_medica_sentences import Q_INTENSITY, Change, case

CRITERION = "medica.description.intensity-3d-9to19h"


def session(rid: str, start: str, end: str, **extra: Any) -> dict[str, Any]:
    """A P9 session Encounter (IOP, H0005) from ``start`` to ``end``."""
    return program_session(rid, "P9-patient", "P9-prog", start, end, code="H0005", **extra)


def period(rid: str, start: str, end: str) -> Change:
    return lambda bundle: by_id(bundle, rid).update(period={"start": start, "end": end})


def without(rid: str) -> Change:
    return lambda bundle: bundle.update(entry=[e for e in bundle["entry"] if e["resource"].get("id") != rid])


WEEK_2 = ("0409", "0411", "0414")
# Week 2 as three 6-hour days (09:00-15:00 CDT), each with a 1-hour individual visit inside (11:00-12:00, in UTC).
SIX_HOUR_DAYS = tuple(
    period(f"P9-prog-sess-{d}", f"2025-04-{d[2:]}T09:00:00-05:00", f"2025-04-{d[2:]}T15:00:00-05:00") for d in WEEK_2
)
VISITS_INSIDE = adding(
    *(session(f"X-visit-{d}", f"2025-04-{d[2:]}T16:00:00Z", f"2025-04-{d[2:]}T17:00:00Z") for d in WEEK_2)
)

CASES: list[tuple[SentenceCase, str]] = [
    # 18 hours of clinical services, not 21: the visits lie inside the blocks (was not-met: "21 h ... (9 to 19 h)").
    (
        case(CRITERION, "met", Q_INTENSITY, "P9b", *SIX_HOUR_DAYS, VISITS_INSIDE, name="6 h days with a visit inside"),
        "in each of 2 windows of 7 days",
    ),
    # Three records on two days are two days a week (was met: 3 sessions, 9 hours).
    (
        case(
            CRITERION, "not-met", Q_INTENSITY, "P9b",
            without("P9-prog-sess-0411"), adding(session("X-pm-0409", "2025-04-09T18:00:00Z", "2025-04-09T21:00:00Z")),
            name="week 2: 04-09 in two blocks, no 04-11",
        ),
        "on distinct days between 2025-04-09 and 2025-04-15 (at least 3 needed)",
    ),
    # A 1-hour visit inside a 2-hour block adds no hours: 8 h that week (was met: 9 h summed).
    (
        case(
            CRITERION, "not-met", Q_INTENSITY, "P9b",
            period("P9-prog-sess-0414", "2025-04-14T09:00:00-05:00", "2025-04-14T11:00:00-05:00"),
            adding(session("X-visit-0414", "2025-04-14T15:00:00Z", "2025-04-14T16:00:00Z")),
            name="04-14 a 2 h block with a 1 h visit inside",
        ),
        "8 h of IOP session with clinical services",
    ),
    # A block sent twice under a new id counts once; a cancelled afternoon block not at all: 7.5 h.
    (
        case(
            CRITERION, "not-met", Q_INTENSITY, "P9b",
            period("P9-prog-sess-0414", "2025-04-14T09:00:00-05:00", "2025-04-14T10:30:00-05:00"),
            adding(
                session("X-resend-0414", "2025-04-14T14:00:00Z", "2025-04-14T15:30:00Z"),
                session("X-pm-0414", "2025-04-14T18:00:00Z", "2025-04-14T19:30:00Z", status="cancelled"),
            ),
            name="04-14 a 1.5 h block sent twice and a cancelled afternoon block",
        ),
        "7.5 h of IOP session with clinical services",
    ),
]  # fmt: skip


test_days = sentence_test(CASES, text="medica-mp9556-iop.txt")
