"""The HTTP surface: discovery, status codes, JSON errors, CORS, health, and no 5xx for any JSON body."""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_protocol import DISCHARGE, MALFORMED, ORDER_SIGN

from cds_service.config import Settings
from cds_service.hooks.app import create_app
from cds_service.hooks.services import SERVICES

SERVICE_FOR_HOOK = {s.hook: s.id for s in SERVICES.values()}

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
FIELDS = [
    "hook",
    "hookInstance",
    "context",
    "prefetch",
    "fhirServer",
    "fhirAuthorization",
    "extension",
    "context.userId",
    "context.patientId",
    "context.encounterId",
    "context.draftOrders",
]


def empty_prefetch(service_id: str) -> dict[str, Any]:
    prefetch: dict[str, Any] = {
        k: {"resourceType": "Bundle", "type": "searchset", "entry": []} for k in SERVICES[service_id].prefetch
    }
    prefetch["patient"] = {"resourceType": "Patient", "id": "p1"}
    if "encounter" in prefetch:
        prefetch["encounter"] = {"resourceType": "Encounter", "id": "e1", "status": "finished"}
    return prefetch


def test_discovery_lists_both_services_with_prefetch_and_crd_options(client: Any) -> None:
    services = {s["id"]: s for s in client.get("/cds-services").get_json()["services"]}
    assert services["iop-order-sign"]["hook"] == "order-sign"
    assert services["iop-encounter-discharge"]["hook"] == "encounter-discharge"
    for service in services.values():
        assert service["title"] and service["description"] and service["usageRequirements"]
        assert {"patient", "coverage", "conditions", "encounters", "careplans"} <= set(service["prefetch"])
        options = {o["code"]: o for o in service["extension"]["davinci-crd.configuration-options"]}
        assert options["max-cards"]["type"] == "integer"
        assert {"guideline", "coverage-info", "clinical-reminder"} <= {
            c for c, o in options.items() if o["type"] == "boolean"
        }
    assert services["iop-encounter-discharge"]["prefetch"]["encounter"] == "Encounter/{{context.encounterId}}"


def test_status_codes(client: Any) -> None:
    assert client.post("/cds-services/nope", json=ORDER_SIGN).status_code == 404
    wrong_method = client.get("/cds-services/iop-order-sign")
    assert wrong_method.status_code == 405 and wrong_method.get_json()["resourceType"] == "OperationOutcome"
    assert client.post("/cds-services/iop-order-sign", data="{", content_type="application/json").status_code == 400
    bad = client.post("/cds-services/iop-order-sign", json={**ORDER_SIGN, "hook": "encounter-discharge"})
    assert bad.status_code == 400 and bad.get_json()["issue"][0]["expression"] == ["hook"]
    assert client.post("/cds-services/iop-encounter-discharge", json=DISCHARGE).status_code == 412
    assert client.get("/nowhere").status_code == 404 and client.get("/nowhere").is_json


def test_order_sign_without_an_iop_order_answers_no_cards(client: Any) -> None:
    body = copy.deepcopy(ORDER_SIGN)
    body["context"]["draftOrders"]["entry"][0]["resource"]["code"]["coding"][0]["code"] = "90834"
    response = client.post("/cds-services/iop-order-sign", json=body)
    assert response.status_code == 200 and response.get_json() == {"cards": []}


def test_an_unexpected_error_is_a_json_500_that_reveals_nothing(
    app: Any, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(*_: Any) -> None:
        raise RuntimeError("database password is hunter2")

    app.extensions["iop_cds"]["invoker"].invoke = explode
    body = {**ORDER_SIGN, "prefetch": empty_prefetch("iop-order-sign")}
    response = client.post("/cds-services/iop-order-sign", json=body)
    assert response.status_code == 500
    text = response.get_data(as_text=True)
    assert "hunter2" not in text and "Traceback" not in text and "incident" in text
    errors = [r for r in caplog.records if getattr(r, "fields", {}).get("event") == "http.error"]
    assert errors and errors[0].fields["hookInstance"] == ORDER_SIGN["hookInstance"]


def test_cors_preflight_allows_bearer_tokens_from_browsers(client: Any) -> None:
    response = client.options(
        "/cds-services/iop-order-sign",
        headers={
            "Origin": "https://sandbox.cds-hooks.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] in {"*", "https://sandbox.cds-hooks.org"}
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()


def test_cors_origins_are_configurable(tmp_path: Any) -> None:
    app = create_app(
        Settings(
            auth=False,
            cors_origins=("https://ehr.example",),
            feedback_db=str(tmp_path / "f"),
            replay_db=str(tmp_path / "r"),
        )
    )
    allowed = app.test_client().get("/cds-services", headers={"Origin": "https://ehr.example"})
    other = app.test_client().get("/cds-services", headers={"Origin": "https://evil.example"})
    assert allowed.headers.get("Access-Control-Allow-Origin") == "https://ehr.example"
    assert "Access-Control-Allow-Origin" not in other.headers


def test_healthz(client: Any) -> None:
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok" and body["policies"]


def _mutated(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(base)
    target = out
    *parents, last = path.split(".")
    for key in parents:
        if not isinstance(target.get(key), dict):
            target[key] = {}
        target = target[key]
    target[last] = value
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=JSON)
def test_random_json_never_produces_a_5xx(client: Any, body: Any) -> None:
    for url in (
        "/cds-services/iop-order-sign",
        "/cds-services/iop-encounter-discharge",
        "/cds-services/iop-order-sign/feedback",
    ):
        response = client.post(url, data=json.dumps(body), content_type="application/json")
        assert response.status_code < 500, response.get_data(as_text=True)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    which=st.sampled_from(["iop-order-sign", "iop-encounter-discharge"]),
    field=st.sampled_from(FIELDS),
    value=JSON,
    prefetch_key=st.sampled_from(["conditions", "patient", "encounters", "coverage"]),
    prefetch_value=JSON,
)
def test_mutated_valid_requests_never_produce_a_5xx(
    client: Any, which: str, field: str, value: Any, prefetch_key: str, prefetch_value: Any
) -> None:
    base = {**(ORDER_SIGN if which == "iop-order-sign" else DISCHARGE), "prefetch": empty_prefetch(which)}
    body = _mutated(_mutated(base, field, value), f"prefetch.{prefetch_key}", prefetch_value)
    response = client.post(f"/cds-services/{which}", json=body)
    assert response.status_code in {200, 400, 412}, response.get_data(as_text=True)
    if response.status_code == 200:
        assert isinstance(response.get_json()["cards"], list)


def test_logs_carry_the_hook_instance_and_never_the_token(client: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    body = {
        **DISCHARGE,
        "prefetch": empty_prefetch("iop-encounter-discharge"),
        "fhirServer": "https://ehr.example",
        "fhirAuthorization": {
            "access_token": "sekrit-token-42",
            "token_type": "Bearer",
            "expires_in": 60,
            "scope": "patient/*.read",
            "subject": "x",
        },
    }
    client.post("/cds-services/iop-encounter-discharge", json=body)
    requests_logged = [r.fields for r in caplog.records if getattr(r, "fields", {}).get("event") == "http.request"]
    assert requests_logged[-1]["hookInstance"] == DISCHARGE["hookInstance"]
    assert requests_logged[-1]["status"] == 200 and requests_logged[-1]["duration_ms"] >= 0
    assert requests_logged[-1]["service"] == "iop-encounter-discharge"
    from cds_service.logs import JsonFormatter

    lines = [JsonFormatter().format(r) for r in caplog.records]
    assert all("sekrit-token-42" not in line for line in lines)
    assert all(json.loads(line)["time"] for line in lines)


def test_discovery_entries_follow_cds_hooks_and_crd(client: Any) -> None:
    response = client.get("/cds-services")
    assert response.status_code == 200 and response.is_json
    services = response.get_json()["services"]
    assert len(services) == 2 and {s["id"] for s in services} == set(SERVICES)
    for service in services:
        assert all(isinstance(service[k], str) and service[k] for k in ("hook", "id", "description", "title"))
        assert all(isinstance(t, str) and "{{context." in t for t in service["prefetch"].values())
        assert service["prefetch"] == SERVICES[service["id"]].prefetch
        for option in service["extension"]["davinci-crd.configuration-options"]:
            assert set(option) == {"code", "type", "name", "description", "default"}
            assert option["type"] in {"boolean", "integer"}
            assert type(option["default"]) is {"boolean": bool, "integer": int}[option["type"]]


@pytest.mark.parametrize(("body", "hook", "field"), MALFORMED)
def test_each_malformed_request_is_a_400_naming_its_field(client: Any, body: Any, hook: str, field: str) -> None:
    response = client.post(
        f"/cds-services/{SERVICE_FOR_HOOK[hook]}", data=json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 400
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["expression"] == [field]
    assert outcome["issue"][0]["severity"] == "error" and outcome["issue"][0]["diagnostics"]


def test_a_valid_order_sign_with_full_prefetch_needs_no_fhir_server(client: Any) -> None:
    body = {**copy.deepcopy(ORDER_SIGN), "prefetch": empty_prefetch("iop-order-sign")}
    body["context"]["draftOrders"]["entry"][0]["resource"]["code"]["coding"][0]["system"] = (
        "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
    )
    response = client.post("/cds-services/iop-order-sign", json=body)
    assert response.status_code == 200 and response.mimetype == "application/json"
    cards = response.get_json()["cards"]
    assert cards and all(c["summary"] and len(c["summary"]) < 140 and c["source"]["label"] for c in cards)


def test_unknown_members_and_extensions_are_ignored_over_http(client: Any) -> None:
    body = {
        **DISCHARGE,
        "context": {**DISCHARGE["context"], "somethingNew": {"x": [1]}, "draftOrders": "stray"},
        "prefetch": {**empty_prefetch("iop-encounter-discharge"), "vendorKey": {"resourceType": "Basic"}},
        "extension": {"com.example.flag": True, "davinci-crd.configuration": {"unknown-option": 3}},
        "unexpected": [1, 2],
    }
    response = client.post("/cds-services/iop-encounter-discharge", json=body)
    assert response.status_code == 200 and isinstance(response.get_json()["cards"], list)


def test_bodies_that_are_not_json_are_a_400(client: Any) -> None:
    for data, content_type in [
        ("{", "application/json"),
        ("hook=order-sign", "application/x-www-form-urlencoded"),
        ("", "application/json"),
    ]:
        for url in ("/cds-services/iop-order-sign", "/cds-services/iop-order-sign/feedback"):
            response = client.post(url, data=data, content_type=content_type)
            assert response.status_code == 400 and response.get_json()["issue"][0]["expression"] == ["$"]


def test_wrong_methods_are_a_json_405_with_allow(client: Any) -> None:
    for url in ("/cds-services/iop-order-sign", "/cds-services/iop-order-sign/feedback"):
        for method in (client.get, client.put, client.delete):
            response = method(url)
            assert response.status_code == 405 and response.get_json()["resourceType"] == "OperationOutcome"
            assert "POST" in response.headers["Allow"]
    assert client.post("/cds-services").status_code == 405


def test_unknown_services_are_a_json_404(client: Any) -> None:
    for url in ("/cds-services/iop-order-select", "/cds-services/nope/feedback"):
        response = client.post(url, json=ORDER_SIGN)
        assert response.status_code == 404 and response.get_json()["issue"][0]["code"] == "not-found"


def test_the_500_body_is_an_operation_outcome_and_other_calls_still_work(app: Any, client: Any) -> None:
    def explode(*_: Any) -> None:
        raise RuntimeError("Traceback (most recent call last): secret")

    app.extensions["iop_cds"]["invoker"].invoke = explode
    response = client.post(
        "/cds-services/iop-order-sign", json={**ORDER_SIGN, "prefetch": empty_prefetch("iop-order-sign")}
    )
    outcome = response.get_json()
    assert response.status_code == 500 and outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "exception" and "secret" not in response.get_data(as_text=True)
    assert client.get("/healthz").status_code == 200


def test_cors_headers_on_actual_calls(client: Any) -> None:
    response = client.post(
        "/cds-services/iop-encounter-discharge/feedback",
        json={"feedback": []},
        headers={"Origin": "https://sandbox.cds-hooks.org"},
    )
    assert response.status_code == 400 and response.headers["Access-Control-Allow-Origin"] in {
        "*",
        "https://sandbox.cds-hooks.org",
    }
    preflight = client.options(
        "/cds-services",
        headers={"Origin": "https://sandbox.cds-hooks.org", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 200 and "GET" in preflight.headers["Access-Control-Allow-Methods"]


FEEDBACK_ITEM = {
    "card": "4f0d3b5c-4b38-4d83-9a6f-3f5a0d0b8a11",
    "outcome": "accepted",
    "acceptedSuggestions": [{"id": "7c9e6679-7425-40de-944b-e07fc1f90ae7"}],
    "outcomeTimestamp": "2025-03-03T10:05:00Z",
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    field=st.sampled_from(["card", "outcome", "outcomeTimestamp", "acceptedSuggestions", "overrideReason", "extra"]),
    value=JSON,
    wrap=st.booleans(),
)
def test_mutated_feedback_never_produces_a_5xx(client: Any, field: str, value: Any, wrap: bool) -> None:
    item = {**FEEDBACK_ITEM, field: value}
    body = {"feedback": [FEEDBACK_ITEM, item]} if wrap else {"feedback": item}
    response = client.post("/cds-services/iop-order-sign/feedback", json=body)
    assert response.status_code in {200, 400}, response.get_data(as_text=True)


def test_a_body_over_the_size_limit_is_413_with_an_operation_outcome(tmp_path) -> None:
    from cds_service.config import Settings
    from cds_service.hooks.app import create_app

    settings = Settings(auth=False, feedback_db=str(tmp_path / "f.sqlite3"), max_request_bytes=10_000)
    client = create_app(settings).test_client()
    body = '{"hook": "order-sign", "padding": "' + "x" * 20_000 + '"}'
    response = client.post("/cds-services/iop-order-sign", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["issue"][0]["code"] == "too-costly"


def test_feedback_with_too_many_items_names_the_field(client) -> None:
    item = {
        "card": "c1",
        "outcome": "overridden",
        "outcomeTimestamp": "2025-03-03T10:05:00Z",
    }
    response = client.post("/cds-services/iop-order-sign/feedback", json={"feedback": [item] * 101})
    assert response.status_code == 400
    assert response.get_json()["issue"][0]["expression"] == ["feedback"]


def test_a_huge_log_field_is_written_shortened() -> None:
    import logging

    from cds_service.logs import MAX_FIELD_CHARS, JsonFormatter

    record = logging.LogRecord("iop_cds", logging.INFO, __file__, 1, "hook.received", (), None)
    record.fields = {"event": "hook.received", "hookInstance": "x" * 5_000_000}
    line = JsonFormatter().format(record)
    assert len(line) < MAX_FIELD_CHARS + 200 and "(5000000 characters)" in line
