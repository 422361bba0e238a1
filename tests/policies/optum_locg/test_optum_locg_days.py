"""Optum LOCG "at least 3 hours per day, 2 or more days per week" when a day is recorded as several sessions.

The sentence counts DAYS of 3 hours: a local date's sessions of this program together. Each case is one change from
golden P4 at its discharge (sessions Mon/Wed/Fri 09:00-12:00 Boston, -05:00); week 1 runs 02-03 to 02-09. The blocks
are written in UTC: an evening block 19:30-21:00 local is stored on the next UTC date."""

from __future__ import annotations

from typing import Any

from sentence_cases import SentenceCase, program_session, sentence_test
from test_optum_locg_sentences import INTENSITY, Change, d, edit, with_


def first_block(rid: str, day: int, hours: float = 1.5) -> Change:
    """Session ``rid`` of 02-``day`` becomes a block from 09:00 local lasting ``hours`` (written in UTC)."""
    minutes = int(14 * 60 + hours * 60)
    end = f"2025-02-{day:02d}T{minutes // 60:02d}:{minutes % 60:02d}:00Z"
    return edit(rid, lambda r: r.update(period={"start": f"2025-02-{day:02d}T14:00:00Z", "end": end}))


def evening_block(rid: str, day: int, **extra: Any) -> dict[str, Any]:
    """Another P4 session Encounter, 19:30-21:00 local on 02-``day`` (00:30-02:00 UTC on the next date)."""
    start, end = f"2025-02-{day + 1:02d}T00:30:00Z", f"2025-02-{day + 1:02d}T02:00:00Z"
    return program_session(rid, "P4-patient", "P4-prog", start, end, **extra)


# Week 1 keeps Monday 02-03 whole; Wednesday and Friday become a morning and an evening block each.
SPLIT_WEEK = (
    first_block("P4-sess-05", 5),
    first_block("P4-sess-07", 7),
    with_(evening_block("X-pm-05", 5), evening_block("X-pm-07", 7)),
)
ONLY_MONDAY = "1 × day with at least 3 h of IOP session on distinct days between 2025-02-03 and 2025-02-09"

CASES: list[tuple[SentenceCase, str]] = [
    # 2 × 1.5 h on one local date is a 3-hour day (was not-met: only Monday's session was "of 3 hours or more").
    (
        d("def.intensity-3h-2d", "met", INTENSITY, *SPLIT_WEEK, name="Wed and Fri of week 1 in two blocks"),
        "day with at least 3 h of IOP session in each of 3 windows of 7 days",
    ),
    # Genuinely short days: Wednesday and Friday one 2-hour block each.
    (
        d(
            "def.intensity-3h-2d", "not-met", INTENSITY,
            first_block("P4-sess-05", 5, 2), first_block("P4-sess-07", 7, 2), name="Wed and Fri one 2 h block",
        ),
        ONLY_MONDAY + " (at least 2 needed); short: 2025-02-05: 2.0 h over 1 IOP session (Encounter/P4-sess-05)",
    ),
    # Evening blocks cancelled / entered in error do not count.
    (
        d(
            "def.intensity-3h-2d", "not-met", INTENSITY,
            first_block("P4-sess-05", 5), first_block("P4-sess-07", 7),
            with_(evening_block("X-pm-05", 5, status="cancelled")),
            with_(evening_block("X-pm-07", 7, status="entered-in-error")),
            name="the evening blocks cancelled and entered in error",
        ),
        "2025-02-05: 1.5 h over 1 IOP session (Encounter/P4-sess-05)",
    ),
    # The morning blocks resent (same instant written with the local offset) count once: 1.5 h each day.
    (
        d(
            "def.intensity-3h-2d", "not-met", INTENSITY,
            first_block("P4-sess-05", 5), first_block("P4-sess-07", 7),
            with_(*(
                {**evening_block(f"X-resend-{day:02d}", day),
                 "period": {"start": f"2025-02-{day:02d}T09:00:00-05:00", "end": f"2025-02-{day:02d}T10:30:00-05:00"}}
                for day in (5, 7)
            )),
            name="the morning blocks recorded twice",
        ),
        "2025-02-05: 1.5 h over 1 IOP session",
    ),
    # Evening blocks of another program the member attends do not count for this IOP's days.
    (
        d(
            "def.intensity-3h-2d", "not-met", INTENSITY,
            first_block("P4-sess-05", 5), first_block("P4-sess-07", 7),
            with_(*(evening_block(f"X-pm-{day:02d}", day, partOf={"reference": "Encounter/X-op"}) for day in (5, 7))),
            name="the evening blocks belong to another program",
        ),
        ONLY_MONDAY,
    ),
    # An evening block with no end or length leaves its day open: unknown, not not-met.
    (
        d(
            "def.intensity-3h-2d", "unknown", INTENSITY,
            first_block("P4-sess-05", 5), first_block("P4-sess-07", 7),
            with_({**evening_block("X-pm-05", 5), "period": {"start": "2025-02-06T00:30:00Z"}}),
            name="Friday short, Wednesday's evening block has no end",
        ),
        "has no end time or length",
    ),
]  # fmt: skip


test_days = sentence_test(CASES, text="optum-locg-2021-iop.txt")
