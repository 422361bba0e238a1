"""CCA: the substance use assessment written as a note. "Substance use assessment and treatment services", due
within one business day of admission: the assessment is the service the note documents (its `context.period`); a
note with no `date` is placed by it instead of being undated."""

from __future__ import annotations

from note_cases import note, reviewed_at, without
from sentence_cases import sentence_test
from test_cca_sentences import SUD, discharge

SUD_ASSESSMENT = "cca.components.10-sud-assessment"
DAY_1 = {"start": "2025-04-04T14:00:00-04:00", "end": "2025-04-04T14:40:00-04:00"}  # admitted Friday 04-04 13:00
# P6's AUDIT-C and its assessment's social-history section (both 04-04) would meet the duty on their own.
ONLY_THE_NOTE = without("P6-auditc", "P6-assessment")
DAY_5 = {"start": "2025-04-09T14:00:00-04:00", "end": "2025-04-09T14:40:00-04:00"}


def dast(**fields: str | None) -> object:
    """A DAST-10 substance use assessment note (LOINC 82667-7) in place of the AUDIT-C observation."""
    return note("P6-dast", "P6-patient", "82667-7", "DAST-10", **fields)


test_notes = sentence_test(
    [
        (discharge(SUD_ASSESSMENT, "met", SUD, ONLY_THE_NOTE, dast(date=None, **DAY_1),
                   name="note with no date, assessment on day 1"),
         "2025-04-04 14:40 -04:00"),
        (reviewed_at(discharge(SUD_ASSESSMENT, "met", SUD, ONLY_THE_NOTE,
                               dast(date="2025-04-29T09:00:00-04:00", **DAY_1),
                               name="note signed after discharge, assessment on day 1"), "2025-05-02T10:00:00-04:00"),
         "2025-04-04 14:40 -04:00"),
        (discharge(SUD_ASSESSMENT, "not-met", SUD, ONLY_THE_NOTE, dast(date="2025-04-04T16:00:00-04:00",
                                                                             **DAY_5),
                   name="note dated on day 1, assessment on day 5"),
         "after the due time"),
    ]
)  # fmt: skip
