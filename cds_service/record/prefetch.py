"""Prefetch templates of each hook (DATA-PROFILE §1) and how a template is filled from a request's context."""

from __future__ import annotations

import re

from cds_service.record.request import FHIR_ID, HookRequest

# LOINC codes of the screening instruments the criteria read (PHQ-9 with its teen variant PHQ-A, GAD-7, C-SSRS,
# AUDIT-C, DAST-10, CIWA-Ar, COWS, PRAPARE, Hunger Vital Sign, AHC-HRSN); the observations prefetch asks for these
# only, so every code of an instrument value set in mappings/ must be here (tests/engine/test_terminology.py).
SCREENING_LOINC = (
    "44249-1",
    "44261-6",
    "89204-2",
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
    # Single screening items the criteria read on their own: PRAPARE housing status and transportation, the
    # Hunger Vital Sign's second item, and a urine drug screen (found missing by the fetch-equals-prefetch test).
    "71802-3",
    "93030-5",
    "88122-7",
    "59615-0",
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
    "servicerequests": "ServiceRequest?patient={{context.patientId}}",
}

PREFETCH_TEMPLATES: dict[str, dict[str, str]] = {
    "order-sign": dict(COMMON_PREFETCH),
    "encounter-discharge": {**COMMON_PREFETCH, "encounter": "Encounter/{{context.encounterId}}"},
}

_TOKEN = re.compile(r"\{\{\s*context\.([A-Za-z]+)\s*\}\}")


def render_prefetch(template: str, request: HookRequest) -> str | None:
    """Fill ``{{context.x}}`` tokens from the request; None when a token's value is not a FHIR id."""
    missing = False

    def fill(match: re.Match[str]) -> str:
        nonlocal missing
        value = request.context.get(match.group(1))
        text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
        if not FHIR_ID.fullmatch(text):  # never let a context value reshape the URL (../, ?, /)
            missing = True
            return ""
        return text

    query = _TOKEN.sub(fill, template)
    return None if missing else query
