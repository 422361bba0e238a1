"""CDS Hooks 2.0 request validation: a raw JSON body in, a HookRequest (or a ProtocolError naming the field) out."""

from __future__ import annotations

import re
import uuid
from typing import Any

from cds_service.record.request import FHIR_ID, FHIR_SERVER_URL, FhirAuthorization, HookRequest

# Context fields each hook requires (CDS Hooks library, order-sign 1.0 and encounter-discharge 1.0).
REQUIRED_CONTEXT: dict[str, tuple[str, ...]] = {
    "order-sign": ("userId", "patientId", "draftOrders"),
    "encounter-discharge": ("userId", "patientId", "encounterId"),
}


class ProtocolError(ValueError):
    """The request breaks the CDS Hooks contract; ``field`` is the JSON path of the offending member."""

    def __init__(self, field_path: str, message: str) -> None:
        super().__init__(f"{field_path}: {message}")
        self.field = field_path
        self.message = message


ID_CONTEXT = ("patientId", "encounterId")


def _require_string(obj: dict[str, Any], key: str, path: str) -> str:
    value = obj.get(key)
    if value is None:
        raise ProtocolError(path, "is required")
    if not isinstance(value, str) or not value.strip():
        raise ProtocolError(path, "must be a non-empty string")
    return value


def _validate_draft_orders(value: Any) -> None:
    if not isinstance(value, dict) or value.get("resourceType") != "Bundle":
        raise ProtocolError("context.draftOrders", "must be a FHIR Bundle")
    entries = value.get("entry", [])
    if not isinstance(entries, list):
        raise ProtocolError("context.draftOrders.entry", "must be an array")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
            raise ProtocolError(f"context.draftOrders.entry[{i}].resource", "must be a FHIR resource")
        if not isinstance(entry["resource"].get("resourceType"), str):
            raise ProtocolError(f"context.draftOrders.entry[{i}].resource.resourceType", "is required")


BEARER_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def _validate_fhir_authorization(value: Any) -> FhirAuthorization:
    if not isinstance(value, dict):
        raise ProtocolError("fhirAuthorization", "must be an object")
    token = _require_string(value, "access_token", "fhirAuthorization.access_token")
    if not BEARER_TOKEN.fullmatch(token):
        # RFC 6750 b64token: anything else cannot be sent in an Authorization header (nor is a real token).
        raise ProtocolError("fhirAuthorization.access_token", "must be a bearer token (RFC 6750 token characters)")
    token_type = _require_string(value, "token_type", "fhirAuthorization.token_type")
    if token_type.lower() != "bearer":
        raise ProtocolError("fhirAuthorization.token_type", "must be 'Bearer'")
    expires_in = value.get("expires_in")
    if expires_in is not None and (isinstance(expires_in, bool) or not isinstance(expires_in, int)):
        raise ProtocolError("fhirAuthorization.expires_in", "must be an integer")
    for member in ("scope", "subject"):
        if member in value and not isinstance(value[member], str):
            raise ProtocolError(f"fhirAuthorization.{member}", "must be a string")
    return FhirAuthorization(
        access_token=token,
        token_type="Bearer",
        scope=value.get("scope", ""),
        expires_in=expires_in,
        subject=value.get("subject", ""),
    )


def parse_hook_request(body: Any, expected_hook: str) -> HookRequest:
    """Validate a hook call body for a service bound to ``expected_hook``; unknown members are ignored."""
    if not isinstance(body, dict):
        raise ProtocolError("$", "the request body must be a JSON object")
    hook = _require_string(body, "hook", "hook")
    if hook != expected_hook:
        raise ProtocolError("hook", f"this service answers '{expected_hook}', not '{hook}'")
    instance = _require_string(body, "hookInstance", "hookInstance")
    try:
        uuid.UUID(instance)
    except ValueError:
        raise ProtocolError("hookInstance", "must be a UUID") from None
    context = body.get("context")
    if not isinstance(context, dict):
        raise ProtocolError("context", "is required and must be an object")
    for name in REQUIRED_CONTEXT[expected_hook]:
        if name == "draftOrders":
            if "draftOrders" not in context:
                raise ProtocolError("context.draftOrders", "is required")
            _validate_draft_orders(context["draftOrders"])
        else:
            value = _require_string(context, name, f"context.{name}")
            if name in ID_CONTEXT and not FHIR_ID.fullmatch(value):
                raise ProtocolError(f"context.{name}", "must be a FHIR id (letters, digits, '-' and '.', at most 64)")
    user_id = context["userId"]
    if not user_id.startswith(("Practitioner/", "PractitionerRole/", "Patient/", "RelatedPerson/")):
        raise ProtocolError("context.userId", "must be a relative reference such as 'Practitioner/123'")
    prefetch = body.get("prefetch", {})
    if prefetch is None:
        prefetch = {}
    if not isinstance(prefetch, dict):
        raise ProtocolError("prefetch", "must be an object")
    fhir_server = body.get("fhirServer")
    if fhir_server is not None:
        if not isinstance(fhir_server, str) or not FHIR_SERVER_URL.fullmatch(fhir_server):
            raise ProtocolError("fhirServer", "must be an http(s) URL with a host, e.g. https://ehr.example.org/fhir")
    authorization = None
    if body.get("fhirAuthorization") is not None:
        if fhir_server is None:
            raise ProtocolError("fhirServer", "is required when fhirAuthorization is sent")
        authorization = _validate_fhir_authorization(body["fhirAuthorization"])
    extension = body.get("extension", {})
    if not isinstance(extension, dict):
        raise ProtocolError("extension", "must be an object")
    return HookRequest(
        hook=hook,
        hook_instance=instance,
        context=context,
        prefetch=prefetch,
        fhir_server=fhir_server.rstrip("/") if fhir_server else None,
        fhir_authorization=authorization,
        extension=extension,
    )
