"""Optum LOCG: the psychiatrist's evaluation of the first 3 days written as a consult note. "A psychiatrist completes
a comprehensive evaluation of the member …": the evaluation is the service the note documents (its
`context.period`), not the day the psychiatrist signed it."""

from __future__ import annotations

from note_cases import note, reviewed_at, without
from sentence_cases import sentence_test
from test_optum_locg_sentences import SIX_A, d

EVAL = "process.6a-psychiatrist-eval-3d"
REVIEW = "2025-03-07T10:00:00-05:00"  # a retrospective review a week after the 2025-02-28 discharge


def consult_note(**fields: str | None) -> object:
    """The psychiatrist's consult note (LOINC 34788-0) in place of the coded 90792 service."""
    return note("P4-eval-note", "P4-patient", "34788-0", "Psychiatry Consult note", author="Practitioner/P4-psy",
                **fields)  # fmt: skip


test_notes = sentence_test(
    [
        (reviewed_at(d(EVAL, "met", SIX_A, without("P4-eval"),
                       consult_note(date="2025-03-03T09:00:00-05:00", start="2025-02-05T10:00:00-05:00",
                                    end="2025-02-05T11:00:00-05:00"),
                       name="note signed after discharge, evaluation on day 3"), REVIEW),
         "2025-02-05 11:00 -05:00"),
        (d(EVAL, "met", SIX_A, without("P4-eval"),
           consult_note(date=None, start="2025-02-05T10:00:00-05:00", end="2025-02-05T11:00:00-05:00"),
           name="note with no date, evaluation on day 3"),
         "2025-02-05 11:00 -05:00"),
        (d(EVAL, "not-met", SIX_A, without("P4-eval"),
           consult_note(date="2025-02-05T12:00:00-05:00", start="2025-02-12T10:00:00-05:00",
                        end="2025-02-12T11:00:00-05:00"),
           name="note dated on day 3, evaluation on day 8"),
         "after the due time"),
    ]
)  # fmt: skip
