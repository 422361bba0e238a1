"""The two CDS services this server offers: discovery entries, prefetch templates and CRD configuration options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cds_service.record.prefetch import PREFETCH_TEMPLATES

CRD_VERSION = "2.2"
"""The Da Vinci CRD version whose response rules the service follows (declared in discovery)."""

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
                "davinci-crd.version": [CRD_VERSION],
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
            prefetch=dict(PREFETCH_TEMPLATES["order-sign"]),
        ),
        ServiceDefinition(
            id="iop-encounter-discharge",
            hook="encounter-discharge",
            title="IOP payer requirements at discharge",
            description="Audits an Intensive Outpatient Program stay at discharge against the discharge, "
            "continued-stay and process requirements of the patient's payer policy (plans, deadlines, "
            "aftercare appointments, medication bridge, progress notes).",
            usage_requirements=_USAGE,
            prefetch=dict(PREFETCH_TEMPLATES["encounter-discharge"]),
        ),
    )
}


def service_for_hook(hook: str) -> str:
    """The id of the service that answers a hook."""
    for service in SERVICES.values():
        if service.hook == hook:
            return service.id
    raise ValueError(f"unknown hook {hook!r}")
