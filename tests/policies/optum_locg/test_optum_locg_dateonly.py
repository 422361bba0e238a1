"""Optum LOCG: a suicidal-ideation code whose onset is written as a date (no time) on the day of the C-SSRS. "The
member is not at imminent risk of serious harm to self or others." P3's C-SSRS of 2025-03-02 10:00 found no risk; a
newer assessment outweighs an older diagnosis, and a diagnosis newer than it asks a clinician to confirm (DATA-PROFILE
§6). An onset dated 03-02 without a time is that whole date (DECISIONS "Dates without a time"): it may be from after
10:00, so it is not outweighed (it was, read as 00:00: met)."""

from __future__ import annotations

from sentence_cases import sentence_test
from test_optum_locg_sentences import ALL_1, ICD, a, condition, with_

RISK = "admission.all.1-no-imminent-risk"

test_dateonly = sentence_test(
    [
        # Before: met ("outweighs the older diagnosis Condition/si (2025-03-02 00:00 -05:00)").
        (a(RISK, "unknown", ALL_1, with_(condition("si", ICD, "R45.851", "2025-03-02")),
           name="ideation code dated the C-SSRS date, no time"),
         "a clinician needs to confirm"),
        (a(RISK, "met", ALL_1, with_(condition("si", ICD, "R45.851", "2025-03-02T08:00:00-05:00")),
           name="ideation code at 08:00 on the C-SSRS date"),
         "outweighs the older diagnosis"),
        (a(RISK, "met", ALL_1, with_(condition("si", ICD, "R45.851", "2025-03-01")),
           name="ideation code dated the day before the C-SSRS"),
         "outweighs the older diagnosis"),
    ],
    text="optum-locg-2021-iop.txt",
)  # fmt: skip
