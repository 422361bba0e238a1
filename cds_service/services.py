"""The two CDS services this server offers: discovery entries, prefetch templates and CRD configuration options."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cds_service.protocol import HookRequest

# LOINC codes of the screening instruments the criteria read (PHQ-9, GAD-7, C-SSRS, AUDIT-C, DAST-10,
# CIWA-Ar, COWS, PRAPARE, Hunger Vital Sign, AHC-HRSN); the observations prefetch asks for these only.
SCREENING_LOINC = (
    "44249-1",
    "44261-6",
    "69737-5",
    "70274-6",
    "93373-9",
    "93245-9",
    "93246-7",
    "93247-5",
    "93248-3",
    "93249-1",
    "93250-9",
    "93267-3",
    "93269-9",
    "93374-7",
    "72109-2",
    "75626-2",
    "82667-7",
    "72166-2",
    "75632-6",
    "89498-0",
    "41006-8",
    "93025-5",
    "88121-9",
    "96777-8",
)
_OBSERVATION_CODES = ",".join(f"http://loinc.org|{code}" for code in SCREENING_LOINC)

COMMON_PREFETCH: dict[str, str] = {
    "patient": "Patient/{{context.patientId}}",
    "coverage": "Coverage?patient={{context.patientId}}&status=active",
    "conditions": "Condition?patient={{context.patientId}}",
    "encounters": "Encounter?patient={{context.patientId}}",
    "careplans": "CarePlan?patient={{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}&code=" + _OBSERVATION_CODES,
    "appointments": "Appointment?patient={{context.patientId}}",
    "medications": "MedicationRequest?patient={{context.patientId}}",
    "procedures": "Procedure?patient={{context.patientId}}",
    "documents": "DocumentReference?patient={{context.patientId}}",
    "attestations": "QuestionnaireResponse?patient={{context.patientId}}&status=completed",
    "consents": "Consent?patient={{context.patientId}}",
    "relatedpersons": "RelatedPerson?patient={{context.patientId}}",
    "careteams": "CareTeam?patient={{context.patientId}}",
    "goals": "Goal?patient={{context.patientId}}",
}

CARD_TYPE_OPTIONS: tuple[tuple[str, str, str], ...] = (
    (
        "guideline",
        "Safety findings",
        "Critical cards for unmet safety requirements (imminent risk, withdrawal, "
        "24-hour supervision, inpatient overlap).",
    ),
    (
        "coverage-info",
        "Coverage requirements",
        "Warning cards summarising unmet payer requirements and the coverage-information system action.",
    ),
    (
        "clinical-reminder",
        "Documentation needed",
        "Info cards listing requirements that need documentation or a clinician's attestation.",
    ),
)


@dataclass(frozen=True)
class ServiceDefinition:
    """One CDS service: its id, hook and what it prefetches."""

    id: str
    hook: str
    title: str
    description: str
    usage_requirements: str
    prefetch: dict[str, str]

    def discovery_entry(self) -> dict[str, Any]:
        """The service's entry in ``GET /cds-services``."""
        return {
            "id": self.id,
            "hook": self.hook,
            "title": self.title,
            "description": self.description,
            "usageRequirements": self.usage_requirements,
            "prefetch": dict(self.prefetch),
            "extension": {
                "davinci-crd.configuration-options": configuration_options(),
            },
        }


def configuration_options() -> list[dict[str, Any]]:
    """Da Vinci CRD configuration options: one boolean per card type emitted, plus ``max-cards``."""
    options: list[dict[str, Any]] = [
        {"code": code, "type": "boolean", "name": name, "description": description, "default": True}
        for code, name, description in CARD_TYPE_OPTIONS
    ]
    options.append(
        {
            "code": "max-cards",
            "type": "integer",
            "name": "Maximum cards",
            "description": "Most cards returned per call; critical cards are kept first.",
            "default": 10,
        }
    )
    return options


_USAGE = (
    "Send the patient's FHIR data as prefetch or grant FHIR access (fhirServer + fhirAuthorization "
    "with patient/*.read scopes). Extensions: 'iop-cds.policies' (list of policy keys) and "
    "'iop-cds.evaluation-time' (RFC 3339 instant) select policies and the evaluation time."
)

SERVICES: dict[str, ServiceDefinition] = {
    s.id: s
    for s in (
        ServiceDefinition(
            id="iop-order-sign",
            hook="order-sign",
            title="IOP payer requirements at order signing",
            description="Checks a signed Intensive Outpatient Program order (ServiceRequest S9480, H0015, "
            "G0137, revenue 0905/0906) against the admission and continued-stay criteria of the patient's "
            "payer policy, and names every unmet or undocumented requirement with its citation and evidence.",
            usage_requirements=_USAGE,
            prefetch=dict(COMMON_PREFETCH),
        ),
        ServiceDefinition(
            id="iop-encounter-discharge",
            hook="encounter-discharge",
            title="IOP payer requirements at discharge",
            description="Audits an Intensive Outpatient Program stay at discharge against the discharge, "
            "continued-stay and process requirements of the patient's payer policy (plans, deadlines, "
            "aftercare appointments, medication bridge, progress notes).",
            usage_requirements=_USAGE,
            prefetch={**COMMON_PREFETCH, "encounter": "Encounter/{{context.encounterId}}"},
        ),
    )
}

_TOKEN = re.compile(r"\{\{\s*context\.([A-Za-z]+)\s*\}\}")


def render_prefetch(template: str, request: HookRequest) -> str | None:
    """Fill ``{{context.x}}`` tokens from the request; None when a token has no primitive value."""
    missing = False

    def fill(match: re.Match[str]) -> str:
        nonlocal missing
        value = request.context.get(match.group(1))
        if not isinstance(value, str | int) or isinstance(value, bool) or value == "":
            missing = True
            return ""
        return str(value)

    query = _TOKEN.sub(fill, template)
    return None if missing else query
