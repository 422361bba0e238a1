"""Request validation: every malformed request is a 400 naming its field; unknown members are ignored."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cds_service.protocol import ProtocolError, parse_hook_request

HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
ORDER = {
    "resourceType": "ServiceRequest",
    "id": "o1",
    "status": "draft",
    "intent": "order",
    "subject": {"reference": "Patient/p1"},
    "code": {"coding": [{"system": HCPCS, "code": "S9480"}]},
}
ORDER_SIGN = {
    "hook": "order-sign",
    "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
    "context": {
        "userId": "Practitioner/u1",
        "patientId": "p1",
        "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": ORDER}]},
    },
}
DISCHARGE = {
    "hook": "encounter-discharge",
    "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
    "context": {"userId": "Practitioner/u1", "patientId": "p1", "encounterId": "e1"},
}
AUTHORIZATION = {
    "access_token": "t",
    "token_type": "Bearer",
    "expires_in": 300,
    "scope": "patient/*.read",
    "subject": "iop-cds",
}


def changed(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy with ``path`` (dotted) set to ``value``, or deleted when value is ``...``."""
    out = copy.deepcopy(body)
    *parents, last = path.split(".")
    target = out
    for key in parents:
        target = target[key]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return out


def test_a_valid_order_sign_request_parses() -> None:
    request = parse_hook_request(ORDER_SIGN, "order-sign")
    assert request.patient_id == "p1" and request.draft_orders == [ORDER] and request.fhir_server is None


def test_unknown_context_fields_and_extensions_are_ignored() -> None:
    body = changed(changed(DISCHARGE, "context.somethingNew", {"x": 1}), "extension", {"vendor.flag": True})
    body["unexpected"] = [1, 2]
    assert parse_hook_request(body, "encounter-discharge").encounter_id == "e1"


def test_fhir_authorization_is_kept_but_its_token_hidden() -> None:
    body = {**DISCHARGE, "fhirServer": "https://ehr.example/fhir/", "fhirAuthorization": AUTHORIZATION}
    request = parse_hook_request(body, "encounter-discharge")
    assert request.fhir_server == "https://ehr.example/fhir" and request.fhir_authorization.access_token == "t"
    assert "'t'" not in repr(request.fhir_authorization)


@pytest.mark.parametrize(
    ("body", "hook", "field"),
    [
        ([], "order-sign", "$"),
        (changed(ORDER_SIGN, "hook", "order-select"), "order-sign", "hook"),
        (changed(ORDER_SIGN, "hook", ...), "order-sign", "hook"),
        (changed(ORDER_SIGN, "hookInstance", "not-a-uuid"), "order-sign", "hookInstance"),
        (changed(ORDER_SIGN, "hookInstance", 12), "order-sign", "hookInstance"),
        (changed(ORDER_SIGN, "context", ...), "order-sign", "context"),
        (changed(ORDER_SIGN, "context", "p1"), "order-sign", "context"),
        (changed(ORDER_SIGN, "context.userId", ...), "order-sign", "context.userId"),
        (changed(ORDER_SIGN, "context.userId", "u1"), "order-sign", "context.userId"),
        (changed(ORDER_SIGN, "context.patientId", ...), "order-sign", "context.patientId"),
        (changed(ORDER_SIGN, "context.draftOrders", ...), "order-sign", "context.draftOrders"),
        (changed(ORDER_SIGN, "context.draftOrders", [ORDER]), "order-sign", "context.draftOrders"),
        (changed(ORDER_SIGN, "context.draftOrders.entry", {}), "order-sign", "context.draftOrders.entry"),
        (
            changed(ORDER_SIGN, "context.draftOrders.entry", [{"fullUrl": "x"}]),
            "order-sign",
            "context.draftOrders.entry[0].resource",
        ),
        (changed(DISCHARGE, "context.encounterId", ...), "encounter-discharge", "context.encounterId"),
        (changed(DISCHARGE, "context.patientId", ""), "encounter-discharge", "context.patientId"),
        (changed(DISCHARGE, "prefetch", []), "encounter-discharge", "prefetch"),
        (changed(DISCHARGE, "extension", []), "encounter-discharge", "extension"),
        ({**DISCHARGE, "fhirAuthorization": AUTHORIZATION}, "encounter-discharge", "fhirServer"),
        ({**DISCHARGE, "fhirServer": "ftp://x"}, "encounter-discharge", "fhirServer"),
        (
            {**DISCHARGE, "fhirServer": "https://x", "fhirAuthorization": {**AUTHORIZATION, "token_type": "MAC"}},
            "encounter-discharge",
            "fhirAuthorization.token_type",
        ),
        (
            {**DISCHARGE, "fhirServer": "https://x", "fhirAuthorization": {**AUTHORIZATION, "access_token": None}},
            "encounter-discharge",
            "fhirAuthorization.access_token",
        ),
        (
            {**DISCHARGE, "fhirServer": "https://x", "fhirAuthorization": "Bearer t"},
            "encounter-discharge",
            "fhirAuthorization",
        ),
    ],
)
def test_each_malformed_request_names_its_field(body: Any, hook: str, field: str) -> None:
    with pytest.raises(ProtocolError) as error:
        parse_hook_request(body, hook)
    assert error.value.field == field
