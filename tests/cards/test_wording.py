"""Evidence in words (cards/wording.py): what a resource is, its value and when, with the offset."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from cds_service.cards.service_notes import problem_words
from cds_service.cards.wording import brief, describe, evidence_in_words, group_reason, in_words, unreadable_in_words
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


CHICAGO = ZoneInfo("America/Chicago")


def test_evidence_times_are_stated_in_the_zone_the_reasons_use() -> None:
    record = PatientRecord([PHQ9, DX, FLOATING])
    assert describe(PHQ9, zone=CHICAGO) == "PHQ-9 score 17 (2025-02-27 09:00 -06:00)"
    assert evidence_in_words(["Observation/phq", "Observation/f"], record, zone=CHICAGO) == (
        "PHQ-9 score 17 (2025-02-27 09:00 -06:00); CIWA-Ar 22 (2025-03-02)"  # a floating time keeps its date
    )
    assert in_words("found Observation/phq", record, zone=CHICAGO) == "found PHQ-9 score 17 (2025-02-27 09:00 -06:00)"
    late = {**PHQ9, "effectiveDateTime": "2025-02-28T00:30:00-05:00"}
    assert brief(late, zone=CHICAGO) == "PHQ-9 score 17 on 2025-02-27"  # the local day in the policy's zone


def test_unreadable_sources_are_named_in_words() -> None:
    assert unreadable_in_words("could not be read: conditions (no active diagnosis found)") == (
        "the patient's diagnoses (Condition) could not be read (no active diagnosis found)"
    )
    assert unreadable_in_words("age unknown: could not be read: patient, referenced Practitioner") == (
        "age unknown: the patient's demographics (Patient) and records the chart refers to (Practitioner) "
        "could not be read"
    )
    assert unreadable_in_words("could not be read: somethingelse") == "could not be read: somethingelse"


def test_gap_reasons_name_the_fhir_server_and_no_reference() -> None:
    assert problem_words("timed out after 3.0 s") == "the FHIR server timed out after 3.0 s"
    assert problem_words("1 resource(s) about another patient were dropped (Patient/other-7)") == (
        "1 resource(s) about another patient were dropped (a Patient record)"
    )
