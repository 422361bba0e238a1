"""CCA: daily progress notes whose service is written as a date (no time). "The Member records must show evidence
of daily progress notes on days of attendance at the program." P6 is admitted Friday 2025-04-04 at 13:00 and attends
that afternoon. A progress note exported with only the date 04-04 and linked to no session may be that day's note:
a date without a time is that whole local date (DECISIONS "Dates without a time"), so it is a note of the stay,
not one from "before admission" (it was read as 00:00, before the 13:00 admission, and the duty was not-met)."""

from __future__ import annotations

from typing import Any

from sentence_cases import Bundle, by_id, sentence_test
from test_cca_sentences import NOTES, discharge, plus, progress_note

DAILY_NOTES = "cca.documentation.7-daily-progress-notes"
EVERY_DAY = plus(progress_note(16, "P6-sess-16"))  # the golden record lacks only the 04-16 note


def first_note_exported(**fields: Any) -> Any:
    """The admission-day note (P6-note-04) as an export sends it: ``fields`` replace its date and context."""

    def apply(bundle: Bundle) -> None:
        note = by_id(bundle, "P6-note-04")
        note.pop("context", None)
        note.update(fields)

    return apply


ON_THE_DAY = {"start": "2025-04-04", "end": "2025-04-04"}
LINKED = {"period": ON_THE_DAY, "encounter": [{"reference": "Encounter/P6-sess-04"}]}

test_dateonly = sentence_test(
    [
        # Before: not-met ("session without a progress note": the unlinked note read as 04-04 00:00, before T0).
        (discharge(DAILY_NOTES, "unknown", NOTES, EVERY_DAY,
                   first_note_exported(date="2025-04-04", context={"period": ON_THE_DAY}),
                   name="unlinked note for the admission date, no time"),
         "session without a progress note"),
        (discharge(DAILY_NOTES, "unknown", NOTES, EVERY_DAY, first_note_exported(date="2025-04-04"),
                   name="unlinked note dated the admission date, no period"),
         "session without a progress note"),
        (discharge(DAILY_NOTES, "not-met", NOTES, EVERY_DAY,
                   first_note_exported(date="2025-04-03", context={"period": {"start": "2025-04-03"}}),
                   name="unlinked note for the day before admission"),
         "session without a progress note"),
        (discharge(DAILY_NOTES, "met", NOTES, EVERY_DAY,
                   first_note_exported(date="2025-04-04", context=LINKED),
                   name="note for the admission date linked to its session"),
         ""),
    ],
    text="cca-iop-performance-spec.txt",
)  # fmt: skip
