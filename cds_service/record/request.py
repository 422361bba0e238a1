"""A validated hook call as the record stage sees it: context, prefetch, the EHR's FHIR server and grant."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# FHIR R4 id datatype: the only thing the service puts after "Type/" in a URL it builds for the EHR's server.
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
# An http(s) base URL with a host name or an IP literal, an optional port, and an optional path.
FHIR_SERVER_URL = re.compile(r"https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?([/?#].*)?", re.ASCII)


@dataclass(frozen=True)
class FhirAuthorization:
    """The EHR's grant for FHIR calls; ``access_token`` is never logged (``repr`` hides it)."""

    access_token: str = field(repr=False)
    token_type: str
    scope: str = ""
    expires_in: int | None = None
    subject: str = ""


@dataclass(frozen=True)
class HookRequest:
    """A validated hook call."""

    hook: str
    hook_instance: str
    context: dict[str, Any]
    prefetch: dict[str, Any]
    fhir_server: str | None
    fhir_authorization: FhirAuthorization | None
    extension: dict[str, Any]

    @property
    def patient_id(self) -> str:
        return str(self.context["patientId"])

    @property
    def encounter_id(self) -> str | None:
        value = self.context.get("encounterId")
        return str(value) if value else None

    @property
    def draft_orders(self) -> list[dict[str, Any]]:
        """The resources of ``context.draftOrders`` (order-sign), in bundle order."""
        bundle = self.context.get("draftOrders") if self.hook == "order-sign" else None
        entries = bundle.get("entry") if isinstance(bundle, dict) else None
        if not isinstance(entries, list):
            return []  # other hooks: a stray draftOrders is an unknown context field, ignored
        return [e["resource"] for e in entries if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
