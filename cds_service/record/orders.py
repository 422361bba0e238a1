"""Recognise the IOP order among a hook's draft orders (DATA-PROFILE §2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
NUBC_REVENUE = "https://www.nubc.org/CodeSystem/RevenueCodes"

# VS-IOP. Systems are compared loosely (any system naming HCPCS / NUBC revenue codes) because EHRs
# spell them differently; the code itself must match exactly.
IOP_CODES: dict[str, frozenset[str]] = {
    "hcpcs": frozenset({"S9480", "H0015", "G0137"}),
    "revenue": frozenset({"0905", "0906"}),
}


@dataclass(frozen=True)
class IopOrder:
    """A draft IOP ServiceRequest (raw JSON kept for evaluation; validated once with fhir.resources)."""

    resource: dict[str, Any]
    code: str

    @property
    def reference(self) -> str:
        return f"ServiceRequest/{self.resource.get('id', '')}"


def _code_family(system: str) -> str | None:
    s = system.lower()
    if "hcpcs" in s or "cpt" in s:
        return "hcpcs"
    if "nubc" in s or "revenue" in s:
        return "revenue"
    return None


def iop_code(resource: dict[str, Any]) -> str | None:
    """The VS-IOP code of a ServiceRequest, or None."""
    if resource.get("resourceType") != "ServiceRequest":
        return None
    code = resource.get("code")
    codings = code.get("coding", []) if isinstance(code, dict) else []
    for coding in codings if isinstance(codings, list) else []:
        if not isinstance(coding, dict):
            continue
        family = _code_family(str(coding.get("system", "")))
        if family and coding.get("code") in IOP_CODES[family]:
            return str(coding["code"])
    return None


class InvalidOrder(ValueError):
    """A draft IOP order that is not a valid FHIR R4 ServiceRequest."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


def load_order_model() -> Any:
    """fhir.resources' R4B ServiceRequest model (imported on first use: with pydantic, a fifth of the start-up)."""
    from fhir.resources.R4B.servicerequest import ServiceRequest

    return ServiceRequest


def find_iop_orders(draft_orders: list[dict[str, Any]]) -> list[IopOrder]:
    """The IOP ServiceRequests among the draft orders; each is validated as a FHIR ServiceRequest."""
    from pydantic import ValidationError

    found: list[IopOrder] = []
    for index, resource in enumerate(draft_orders):
        code = iop_code(resource)
        if code is None:
            continue
        try:
            load_order_model().model_validate(resource)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            raise InvalidOrder(index, f"not a valid ServiceRequest: {where} {first.get('msg', '')}".strip()) from None
        found.append(IopOrder(resource=resource, code=code))
    return found
