"""Molina: the 48-hour bio-psychosocial evaluation documented by a note whose service period is written as dates
(``{"start": "2025-03-05", "end": "2025-03-05"}``, common in exports). "The program completes a bio-psychosocial
evaluation … within 48 hours of admission": P5 is admitted 03-03 at 09:00, so the evaluation is due by 03-05 09:00.
A date without a time is that whole local date (DECISIONS "Dates without a time"): a service dated 03-04 was surely
in time, one dated 03-06 surely late, and one dated 03-05 may be either: unknown, where it was met (read as 00:00)."""

from __future__ import annotations

from note_cases import documented, reviewed_at, without
from sentence_cases import sentence_test
from test_molina_sentences import Q_48H_BPS, discharge

BPS = "molina.process.2a-bps-eval-48h"
REVIEW = "2025-03-28T10:00:00-04:00"
ONLY_THE_NOTE = without("P5-sud-assessment")  # P5's H0001 assessment of 03-04 would meet the duty on its own


def dated(day: str, expect: str, name: str) -> object:
    """The BPS note signed after discharge for an evaluation whose period is the date ``day`` (no time)."""
    signed = documented("P5-bps", date="2025-03-24T09:00:00-04:00", start=day, end=day)
    return reviewed_at(discharge(BPS, expect, Q_48H_BPS, ONLY_THE_NOTE, signed, name=name), REVIEW)


test_dateonly = sentence_test(
    [
        (dated("2025-03-03", "met", "evaluation dated the admission date"), "due by 2025-03-05 09:00 -05:00"),
        (dated("2025-03-04", "met", "evaluation dated the day after admission"), "due by 2025-03-05 09:00 -05:00"),
        # Before: met ("at 2025-03-05 00:00", read as midnight at the start of the due date).
        (dated("2025-03-05", "unknown", "evaluation dated the due date, no time"), "dated 2025-03-05 without a time"),
        (dated("2025-03-06", "not-met", "evaluation dated the day after the due date"), "after the due time"),
    ],
    text="molina-iop-performance-spec.txt",
)
