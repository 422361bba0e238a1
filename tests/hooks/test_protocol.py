"""Request validation: every malformed request is a 400 naming its field; unknown members are ignored."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cds_service.hooks.protocol import ProtocolError, parse_hook_request

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


# (body, hook the service answers, JSON path the 400 must name): every way a hook call can be malformed.
MALFORMED: list[tuple[Any, str, str]] = [
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
    ((), "order-sign", "$"),
    (None, "encounter-discharge", "$"),
    (changed(ORDER_SIGN, "hook", 7), "order-sign", "hook"),
    (changed(DISCHARGE, "hook", "order-sign"), "encounter-discharge", "hook"),
    (changed(ORDER_SIGN, "hookInstance", ...), "order-sign", "hookInstance"),
    (changed(DISCHARGE, "hookInstance", ""), "encounter-discharge", "hookInstance"),
    (changed(DISCHARGE, "context", ["p1"]), "encounter-discharge", "context"),
    (changed(DISCHARGE, "context.userId", ...), "encounter-discharge", "context.userId"),
    (changed(DISCHARGE, "context.userId", 42), "encounter-discharge", "context.userId"),
    (changed(DISCHARGE, "context.userId", "u1"), "encounter-discharge", "context.userId"),
    (changed(DISCHARGE, "context.patientId", ...), "encounter-discharge", "context.patientId"),
    (changed(DISCHARGE, "context.patientId", {"id": "p1"}), "encounter-discharge", "context.patientId"),
    (changed(DISCHARGE, "context.encounterId", 3), "encounter-discharge", "context.encounterId"),
    (changed(ORDER_SIGN, "context.patientId", "  "), "order-sign", "context.patientId"),
    (changed(ORDER_SIGN, "context.draftOrders", None), "order-sign", "context.draftOrders"),
    (changed(ORDER_SIGN, "context.draftOrders", ORDER), "order-sign", "context.draftOrders"),
    (changed(ORDER_SIGN, "context.draftOrders", "Bundle"), "order-sign", "context.draftOrders"),
    (changed(ORDER_SIGN, "context.draftOrders.entry", [ORDER]), "order-sign", "context.draftOrders.entry[0].resource"),
    (
        changed(ORDER_SIGN, "context.draftOrders.entry", [{"resource": ORDER}, {"resource": {"id": "x"}}]),
        "order-sign",
        "context.draftOrders.entry[1].resource.resourceType",
    ),
    (changed(ORDER_SIGN, "prefetch", "Patient/p1"), "order-sign", "prefetch"),
    (changed(ORDER_SIGN, "extension", "davinci-crd.configuration"), "order-sign", "extension"),
    ({**DISCHARGE, "fhirServer": 443}, "encounter-discharge", "fhirServer"),
    ({**DISCHARGE, "fhirServer": "ehr.example/fhir"}, "encounter-discharge", "fhirServer"),
    (
        {**DISCHARGE, "fhirServer": "https://x", "fhirAuthorization": {**AUTHORIZATION, "token_type": None}},
        "encounter-discharge",
        "fhirAuthorization.token_type",
    ),
    (
        {**DISCHARGE, "fhirServer": "https://x", "fhirAuthorization": {**AUTHORIZATION, "expires_in": "300"}},
        "encounter-discharge",
        "fhirAuthorization.expires_in",
    ),
    (
        {**DISCHARGE, "fhirServer": "https://x", "fhirAuthorization": {**AUTHORIZATION, "expires_in": True}},
        "encounter-discharge",
        "fhirAuthorization.expires_in",
    ),
    (
        {**ORDER_SIGN, "fhirServer": "https://x", "fhirAuthorization": []},
        "order-sign",
        "fhirAuthorization",
    ),
]


@pytest.mark.parametrize(("body", "hook", "field"), MALFORMED)
def test_each_malformed_request_names_its_field(body: Any, hook: str, field: str) -> None:
    with pytest.raises(ProtocolError) as error:
        parse_hook_request(body, hook)
    assert error.value.field == field


def test_optional_members_may_be_absent_or_null() -> None:
    request = parse_hook_request({**ORDER_SIGN, "prefetch": None, "fhirAuthorization": None}, "order-sign")
    assert request.prefetch == {} and request.fhir_authorization is None and request.encounter_id is None
    assert request.extension == {} and request.hook_instance == ORDER_SIGN["hookInstance"]
    with_encounter = parse_hook_request(changed(ORDER_SIGN, "context.encounterId", "e9"), "order-sign")
    assert with_encounter.encounter_id == "e9"


def test_prefetch_values_are_passed_on_as_sent() -> None:
    prefetch = {"patient": {"resourceType": "Patient", "id": "p1"}, "conditions": None, "vendorKey": [1]}
    assert parse_hook_request({**DISCHARGE, "prefetch": prefetch}, "encounter-discharge").prefetch == prefetch


def test_an_empty_draft_orders_bundle_is_a_valid_request_with_no_orders() -> None:
    body = changed(ORDER_SIGN, "context.draftOrders", {"resourceType": "Bundle", "type": "collection"})
    assert parse_hook_request(body, "order-sign").draft_orders == []


def test_a_stray_draft_orders_outside_order_sign_is_ignored() -> None:
    body = changed(DISCHARGE, "context.draftOrders", "not even a bundle")
    assert parse_hook_request(body, "encounter-discharge").draft_orders == []


def test_the_bearer_token_type_is_case_insensitive_and_http_servers_are_accepted() -> None:
    body = {
        **DISCHARGE,
        "fhirServer": "http://localhost:8080/fhir",
        "fhirAuthorization": {"access_token": "t", "token_type": "bearer"},
    }
    request = parse_hook_request(body, "encounter-discharge")
    assert request.fhir_authorization is not None and request.fhir_authorization.token_type == "Bearer"
    assert request.fhir_authorization.scope == "" and request.fhir_authorization.expires_in is None


def test_a_protocol_error_names_its_field_in_its_message() -> None:
    error = ProtocolError("context.patientId", "is required")
    assert (error.field, error.message, str(error)) == (
        "context.patientId",
        "is required",
        "context.patientId: is required",
    )
