"""CCA hours per day when a day is recorded as several session Encounters (a morning and an evening block).

"IOPs must offer at least 3 hours per day" and "one unit is equal to three hours and minimum of two groups" judge a
DAY: that local date's sessions of this program together. Each case is one change from golden P6 at its discharge,
on Mon 2025-04-14 (Boston, -04:00), whose one 13:00-16:00 session with two groups becomes blocks written in UTC: the
evening block 19:00-20:30 local is stored on 04-15 UTC, so only the site's local date puts it on the 14th."""

from __future__ import annotations

from sentence_cases import Bundle, SentenceCase, by_id, program_session, sentence_test
from test_cca_sentences import ATTEND, HOURS_DAYS, UNIT, Change, Resource, discharge, edit, plus, without

MORNING = ("2025-04-14T13:00:00Z", "2025-04-14T14:30:00Z")  # 09:00-10:30 local
EVENING = ("2025-04-14T23:00:00Z", "2025-04-15T00:30:00Z")  # 19:00-20:30 local, the 15th in UTC


def morning_block(start: str = MORNING[0], end: str = MORNING[1]) -> Change:
    """P6-sess-14 becomes the day's morning block (its first group stays linked to it)."""
    return edit("P6-sess-14", lambda r: r.update(period={"start": start, "end": end}))


def block(rid: str, start: str, end: str, **extra: object) -> Resource:
    """Another session Encounter of the P6 program on 04-14."""
    return program_session(rid, "P6-patient", "P6-prog", start, end, **extra)


def second_group_in(rid: str) -> Change:
    """The day's second group is filed against the evening block, at its time."""

    def apply(bundle: Bundle) -> None:
        by_id(bundle, "P6-group-14-2").update(
            encounter={"reference": f"Encounter/{rid}"}, performedDateTime="2025-04-14T23:15:00Z"
        )

    return apply


SPLIT = (morning_block(), plus(block("X-pm-14", *EVENING)), second_group_in("X-pm-14"))
SHORT_DAY = "2025-04-14: 1.5 h over 1 IOP session (Encounter/P6-sess-14)"

CASES: list[tuple[SentenceCase, str]] = [
    # A day of 2 × 1.5 h blocks is 3 hours that day (was not-met: "1 of 11 IOP session fall short").
    (
        discharge("cca.intensity.1-3h-3to5-days", "met", HOURS_DAYS, *SPLIT, name="04-14 as two 1.5 h blocks"),
        "each of 10 days holds 3 h",
    ),
    # ... and one unit: three hours and two groups, one group in each block (was not-met: each block "lacking").
    (
        discharge("cca.intensity.3-unit-2-groups", "met", UNIT, *SPLIT, name="04-14 as two blocks, a group in each"),
        "all 11 IOP session qualify",
    ),
    # Two blocks are still one day of attendance, not two.
    (
        discharge(
            "cca.intensity.2-attend-3x-week", "not-met", ATTEND, *SPLIT, without("P6-sess-16"),
            name="week 2: 04-11 and 04-14 in two blocks",
        ),
        "2 × IOP session on distinct days between 2025-04-11 and 2025-04-17 (at least 3 needed)",
    ),
    # A genuinely short day: one 2-hour block.
    (
        discharge(
            "cca.intensity.1-3h-3to5-days", "not-met", HOURS_DAYS,
            morning_block("2025-04-14T17:00:00Z", "2025-04-14T19:00:00Z"), name="04-14 one 2 h block",
        ),
        "2025-04-14: 2.0 h over 1 IOP session (Encounter/P6-sess-14)",
    ),
    (
        discharge(
            "cca.intensity.3-unit-2-groups", "not-met", UNIT,
            morning_block("2025-04-14T17:00:00Z", "2025-04-14T19:00:00Z"), name="04-14 one 2 h block, two groups",
        ),
        "2025-04-14: 2.0 h over 1 IOP session (Encounter/P6-sess-14): at least 3 h needed",
    ),
    # A split day whose evening block was cancelled or entered in error: 1.5 h that day.
    (
        discharge(
            "cca.intensity.1-3h-3to5-days", "not-met", HOURS_DAYS,
            morning_block(), plus(block("X-pm-14", *EVENING, status="cancelled")), name="evening block cancelled",
        ),
        SHORT_DAY,
    ),
    (
        discharge(
            "cca.intensity.1-3h-3to5-days", "not-met", HOURS_DAYS,
            morning_block(), plus(block("X-pm-14", *EVENING, status="entered-in-error")),
            name="evening block entered in error",
        ),
        SHORT_DAY,
    ),
    # The morning block sent twice (a resend under a new id, its times written with the local offset) is 1.5 h once.
    (
        discharge(
            "cca.intensity.1-3h-3to5-days", "not-met", HOURS_DAYS,
            morning_block(),
            plus(block("X-am-14-resend", "2025-04-14T09:00:00-04:00", "2025-04-14T10:30:00-04:00",
                       meta={"lastUpdated": "2025-04-14T11:00:00-04:00"})),
            name="morning block recorded twice",
        ),
        "2025-04-14: 1.5 h over 1 IOP session",
    ),
    # A block that overlaps the morning one (an individual visit filed as a session inside it) adds no hours.
    (
        discharge(
            "cca.intensity.1-3h-3to5-days", "not-met", HOURS_DAYS,
            morning_block("2025-04-14T13:00:00Z", "2025-04-14T15:00:00Z"),
            plus(block("X-inside-14", "2025-04-14T14:00:00Z", "2025-04-14T15:00:00Z")),
            name="a 1 h block inside a 2 h block",
        ),
        "2025-04-14: 2.0 h over 2 IOP sessions",
    ),
    # The evening block belongs to ANOTHER program (an earlier stay left open): not this IOP's day.
    (
        discharge(
            "cca.intensity.1-3h-3to5-days", "not-met", HOURS_DAYS,
            morning_block(), plus(block("X-pm-14", *EVENING, partOf={"reference": "Encounter/X-other-prog"})),
            name="evening block of another program",
        ),
        SHORT_DAY,
    ),
    # A day whose sessions have no services recorded at all: whether it held two groups is not shown.
    (
        discharge(
            "cca.intensity.3-unit-2-groups", "unknown", UNIT,
            plus(block("X-sess-15", "2025-04-15T17:00:00Z", "2025-04-15T20:00:00Z")),
            name="04-15 a 3 h session with no services recorded",
        ),
        "2025-04-15: 3.0 h over 1 IOP session (Encounter/X-sess-15): its services are not recorded",
    ),
    # DATA-PROFILE §6: a session of the program with no period at all could be week 2's missing day (was not-met).
    (
        discharge(
            "cca.intensity.2-attend-3x-week", "unknown", ATTEND,
            without("P6-sess-16"), plus({**block("X-undated", *MORNING), "period": None}),
            name="week 2 short, a session with no period recorded",
        ),
        "found IOP session Encounter/X-undated with no recorded time",
    ),
    (
        discharge(
            "cca.intensity.1-3h-3to5-days", "unknown", HOURS_DAYS,
            morning_block(), plus({**block("X-undated", *MORNING), "period": None}),
            name="04-14 short, a session with no period recorded",
        ),
        "found IOP session Encounter/X-undated with no recorded time, which may belong to a day that falls short",
    ),
]  # fmt: skip


test_days = sentence_test(CASES, text="cca-iop-performance-spec.txt")
