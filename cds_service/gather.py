"""Gather the PatientRecord of a hook call: prefetch first, then the EHR's FHIR server for missing keys."""

from __future__ import annotations

from cds_service.config import Settings
from cds_service.protocol import HookRequest
from cds_service.record import GatheredRecord, PatientRecord
from cds_service.services import ServiceDefinition


class PreconditionFailed(Exception):
    """Required data is neither prefetched nor obtainable (no fhirServer): CDS Hooks answers 412."""


def gather_record(request: HookRequest, service: ServiceDefinition, settings: Settings) -> GatheredRecord:
    """Placeholder until the FHIR client lands: prefetch resources only."""
    resources = []
    for value in request.prefetch.values():
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            resources.extend(e["resource"] for e in value.get("entry", []) if isinstance(e.get("resource"), dict))
        elif isinstance(value, dict):
            resources.append(value)
    return GatheredRecord(record=PatientRecord(resources))
