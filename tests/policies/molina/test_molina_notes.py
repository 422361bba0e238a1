"""Molina: the 48-hour bio-psychosocial evaluation written as a note. "The program completes a bio-psychosocial
evaluation … within 48 hours of admission": the evaluation is the service the note documents (its
`context.period`); signing the note later, even after discharge, does not move the evaluation."""

from __future__ import annotations

from note_cases import documented, reviewed_at, without
from sentence_cases import sentence_test
from test_molina_sentences import Q_48H_BPS, discharge

BPS = "molina.process.2a-bps-eval-48h"
REVIEW = "2025-03-28T10:00:00-04:00"  # a retrospective review a week after the 2025-03-21 discharge
ONLY_THE_NOTE = without("P5-sud-assessment")  # P5's H0001 assessment of 03-04 would meet the duty on its own

test_notes = sentence_test(
    [
        (discharge(BPS, "met", Q_48H_BPS, ONLY_THE_NOTE, name="dated on the day of the evaluation"),
         "2025-03-03 11:00 -05:00"),
        (discharge(BPS, "met", Q_48H_BPS, ONLY_THE_NOTE,
                   documented("P5-bps", date=None, start="2025-03-03T10:00:00-05:00", end="2025-03-03T11:00:00-05:00"),
                   name="no date, placed by the service it documents"),
         "2025-03-03 11:00 -05:00"),
        (reviewed_at(discharge(BPS, "met", Q_48H_BPS, ONLY_THE_NOTE,
                               documented("P5-bps", date="2025-03-24T09:00:00-04:00",
                                          start="2025-03-03T10:00:00-05:00", end="2025-03-03T11:00:00-05:00"),
                               name="signed after discharge, evaluation on day 1"), REVIEW),
         "2025-03-03 11:00 -05:00"),
        (reviewed_at(discharge(BPS, "not-met", Q_48H_BPS, ONLY_THE_NOTE,
                               documented("P5-bps", date="2025-03-24T09:00:00-04:00",
                                          start="2025-03-06T10:00:00-05:00", end="2025-03-06T11:00:00-05:00"),
                               name="signed after discharge, evaluation on day 4"), REVIEW),
         "after the due time"),
    ]
)  # fmt: skip
