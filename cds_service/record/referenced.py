"""Who and where the record points at: Practitioner, PractitionerRole, Organization and Location references it
does not hold yet."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cds_service.record.patient_record import PatientRecord, reference_key

# Criteria read practitioners' qualifications and roles by reference (DATA-PROFILE §1): who requested the
# order, who took part in an encounter, who wrote a plan, who performed a service, the patient's PCP; and where
# an encounter or appointment took place (a behavioural-health location).
REFERENCED_TYPES = ("Practitioner", "PractitionerRole", "Organization", "Location")
_REFERENCE_FIELDS = (
    "requester",
    "performer",
    "author",
    "participant",
    "generalPractitioner",
    "recorder",
    "asserter",
    "contributor",
    "payor",
    "provision",
    "careTeam",
    "location",
    "serviceProvider",
)


def _references(value: Any, found: set[str]) -> None:
    """Every ``reference`` string in a sub-tree, as ``Type/id``."""
    if isinstance(value, dict):
        reference = value.get("reference")
        if isinstance(reference, str) and (ref := reference_key(reference)):
            found.add(ref)
        for item in value.values():
            if isinstance(item, dict | list):
                _references(item, found)
    elif isinstance(value, list):
        for item in value:
            _references(item, found)


def missing_references(record: PatientRecord, extra: Iterable[dict[str, Any]] = ()) -> dict[str, list[str]]:
    """Resource type → ids referenced from people/organisation fields but absent from the record."""
    found: set[str] = set()
    for resource in [*record, *extra]:
        for key in _REFERENCE_FIELDS:
            if key in resource:
                _references(resource[key], found)
    missing: dict[str, list[str]] = {}
    for ref in sorted(found):
        rtype, _, rid = ref.partition("/")
        if rtype in REFERENCED_TYPES and record.resolve(ref) is None:
            missing.setdefault(rtype, []).append(rid)
    return missing
