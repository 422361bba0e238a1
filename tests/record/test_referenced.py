"""References to practitioners and organisations that the record does not hold yet."""

from __future__ import annotations

from cds_service.record.patient_record import PatientRecord
from cds_service.record.referenced import missing_references


def test_people_referenced_from_orders_encounters_and_plans_but_absent_are_listed() -> None:
    record = PatientRecord(
        [
            {"resourceType": "Patient", "id": "p1", "generalPractitioner": [{"reference": "Practitioner/pcp"}]},
            {
                "resourceType": "Encounter",
                "id": "e1",
                "subject": {"reference": "Patient/p1"},
                "participant": [{"individual": {"reference": "Practitioner/psy"}}],
            },
            {
                "resourceType": "CarePlan",
                "id": "c1",
                "author": {"reference": "https://ehr.example/fhir/Practitioner/lcsw"},
                "subject": {"reference": "Patient/p1"},
            },
            {"resourceType": "Practitioner", "id": "psy"},
            {"resourceType": "Coverage", "id": "cov", "payor": [{"reference": "Organization/payer"}]},
        ]
    )
    order = {"resourceType": "ServiceRequest", "id": "o1", "requester": {"reference": "PractitionerRole/role1"}}
    assert missing_references(record, [order]) == {
        "Organization": ["payer"],
        "Practitioner": ["lcsw", "pcp"],
        "PractitionerRole": ["role1"],
    }


def test_subjects_and_other_clinical_references_are_not_people() -> None:
    record = PatientRecord(
        [
            {
                "resourceType": "Encounter",
                "id": "e1",
                "subject": {"reference": "Patient/p1"},
                "partOf": {"reference": "Encounter/prog"},
            }
        ]
    )
    assert missing_references(record) == {}
