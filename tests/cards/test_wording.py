"""Evidence in words (cards/wording.py): what a resource is, its value and when, with the offset."""

from __future__ import annotations

from cds_service.cards.wording import describe, group_reason, in_words
from cds_service.record.patient_record import PatientRecord

PHQ9 = {
    "resourceType": "Observation",
    "id": "phq",
    "code": {"text": "PHQ-9 score", "coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
    "valueQuantity": {"value": 17, "unit": "{score}"},
    "effectiveDateTime": "2025-02-27T10:00:00-05:00",
}
DX = {
    "resourceType": "Condition",
    "id": "dx",
    "code": {
        "coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F10.20", "display": "Alcohol dependence"}]
    },
    "onsetDateTime": "2025-02-20",
}
FLOATING = {
    "resourceType": "Observation",
    "id": "f",
    "code": {"text": "CIWA-Ar"},
    "valueInteger": 22,
    "effectiveDateTime": "2025-03-02T10:00:00",
}


def test_resources_read_as_what_they_are_with_value_and_time() -> None:
    assert describe(PHQ9) == "PHQ-9 score 17 (2025-02-27 10:00 -05:00)"
    assert describe(DX, with_time=False) == "Condition: Alcohol dependence (F10.20)"
    assert describe(FLOATING) == "CIWA-Ar 22 (2025-03-02)"  # no offset written: the date only, never a bare clock


def test_references_in_reasons_become_words_and_slashed_words_stay() -> None:
    record = PatientRecord([PHQ9, DX])
    text = in_words(
        "found Observation/phq and Condition/dx (2025-02-20 00:00 -05:00); see Evaluation/Certification", record
    )
    assert text == (
        "found PHQ-9 score 17 (2025-02-27 10:00 -05:00) and Condition: Alcohol dependence (F10.20) "
        "(2025-02-20 00:00 -05:00); see Evaluation/Certification"
    )
    assert in_words("Observation/gone", record) == "Observation (not in the fetched record)"


def test_group_reasons_name_their_parts() -> None:
    texts = {"p.a": "A family support.", "p.b": "Skills to build supports."}
    assert group_reason("any-of: p.a unknown, p.b not-met", texts) == (
        "Needs one of: A family support (not documented); Skills to build supports (not met)"
    )
    assert group_reason("mirrors p.a met", texts) == "Decided as: A family support (met)"
    assert group_reason("no safety plan found in the record", texts) is None
