"""Build a full CDS Hooks request (context + prefetch) from a FHIR Bundle of one patient's record."""

from __future__ import annotations

import uuid
from typing import Any

Resource = dict[str, Any]

# Prefetch key of each resource type the service reads (DATA-PROFILE §1); other types (Practitioner, ServiceRequest,
# Location, ...) travel as `_include` entries of the encounters search, as an EHR would send them.
PREFETCH_KEY_OF_TYPE = {
    "Coverage": "coverage",
    "Condition": "conditions",
    "Encounter": "encounters",
    "CarePlan": "careplans",
    "Observation": "observations",
    "Appointment": "appointments",
    "MedicationRequest": "medications",
    "Procedure": "procedures",
    "DocumentReference": "documents",
    "QuestionnaireResponse": "attestations",
    "Consent": "consents",
    "RelatedPerson": "relatedpersons",
    "CareTeam": "careteams",
    "Goal": "goals",
    "ServiceRequest": "servicerequests",
}


def bundle_resources(bundle: Resource) -> list[Resource]:
    """The resources of a Bundle's entries (or the resource itself when it is not a Bundle)."""
    if bundle.get("resourceType") != "Bundle":
        return [bundle]
    return [
        e["resource"] for e in bundle.get("entry", []) if isinstance(e, dict) and isinstance(e.get("resource"), dict)
    ]


def _searchset(resources: list[Resource], included: list[Resource]) -> Resource:
    entries = [{"resource": r, "search": {"mode": "match"}} for r in resources]
    entries += [{"resource": r, "search": {"mode": "include"}} for r in included]
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources), "entry": entries}


def is_draft_order(resource: Resource) -> bool:
    """A ServiceRequest in draft status: what the clinician is signing."""
    return resource.get("resourceType") == "ServiceRequest" and resource.get("status") == "draft"


def build_hook_request(
    bundle: Resource,
    hook: str,
    *,
    at: str | None = None,
    encounter_id: str | None = None,
    policies: list[str] | None = None,
    user_id: str = "Practitioner/example",
) -> Resource:
    """A hook request with full prefetch; draft ServiceRequests become ``draftOrders`` (order-sign)."""
    resources = bundle_resources(bundle)
    patients = [r for r in resources if r.get("resourceType") == "Patient"]
    if not patients:
        raise ValueError("the bundle holds no Patient")
    patient = patients[0]
    drafts = [r for r in resources if is_draft_order(r)] if hook == "order-sign" else []
    by_key: dict[str, list[Resource]] = {key: [] for key in PREFETCH_KEY_OF_TYPE.values()}
    included: list[Resource] = []
    for resource in resources:
        if resource is patient or any(resource is d for d in drafts):
            continue
        key = PREFETCH_KEY_OF_TYPE.get(resource.get("resourceType", ""))
        if key is None:
            included.append(resource)
        else:
            by_key[key].append(resource)
    prefetch: dict[str, Any] = {"patient": patient}
    for key, items in by_key.items():
        prefetch[key] = _searchset(items, included if key == "encounters" else [])
    context: dict[str, Any] = {"userId": user_id, "patientId": patient["id"]}
    if hook == "order-sign":
        context["draftOrders"] = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": d} for d in drafts],
        }
    elif hook == "encounter-discharge":
        if encounter_id is None:
            encounter_id = _discharged_encounter(by_key["encounters"])
        if encounter_id is None:
            raise ValueError(
                "encounter-discharge needs an encounter id (none given and no IOP program Encounter found)"
            )
        context["encounterId"] = encounter_id
        stay = next((e for e in by_key["encounters"] if e.get("id") == encounter_id), None)
        prefetch["encounter"] = stay
    else:
        raise ValueError(f"unknown hook {hook!r} (order-sign or encounter-discharge)")
    extension: dict[str, Any] = {}
    if at:
        extension["iop-cds.evaluation-time"] = at
    if policies:
        extension["iop-cds.policies"] = list(policies)
    body: Resource = {"hookInstance": str(uuid.uuid4()), "hook": hook, "context": context, "prefetch": prefetch}
    if extension:
        body["extension"] = extension
    return body


def _discharged_encounter(encounters: list[Resource]) -> str | None:
    """The latest program Encounter (one that other Encounters point to with ``partOf``)."""
    parents = {(e.get("partOf") or {}).get("reference", "").rsplit("/", 1)[-1] for e in encounters if e.get("partOf")}
    programs = [e for e in encounters if e.get("id") in parents]
    programs.sort(key=lambda e: (e.get("period") or {}).get("start", ""))
    return programs[-1]["id"] if programs else None
