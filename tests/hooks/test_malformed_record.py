"""FHIR data of an unexpected shape is the EHR's, not the caller's: a data-gap card, never a 500 (issue 11 #4)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from conftest import load_fixture

from cds_service.cards.coverage_info import EXT_COVERAGE_INFORMATION
from cds_service.record.hook_requests import build_hook_request

P1_AT = "2025-03-03T10:00:00-06:00"


def p1() -> dict[str, Any]:
    return build_hook_request(load_fixture("golden/P1.json"), "order-sign", at=P1_AT)


def first(body: dict[str, Any], key: str, resource_type: str) -> dict[str, Any]:
    return next(e["resource"] for e in body["prefetch"][key]["entry"] if e["resource"]["resourceType"] == resource_type)


def coverage_parts(answer: dict[str, Any]) -> dict[str, Any]:
    (action,) = answer["systemActions"]
    (information,) = [e for e in action["resource"]["extension"] if e["url"] == EXT_COVERAGE_INFORMATION]
    return {p["url"]: p for p in information["extension"]}


def break_encounter_class(body: dict[str, Any]) -> None:
    first(body, "encounters", "Encounter")["class"]["system"] = ["http://terminology.hl7.org/CodeSystem/v3-ActCode"]


def break_attestation_items(body: dict[str, Any]) -> None:
    first(body, "attestations", "QuestionnaireResponse")["item"] = True


@pytest.mark.parametrize("damage", [break_encounter_class, break_attestation_items], ids=["system list", "item bool"])
def test_a_record_the_engine_cannot_read_is_answered_with_a_gap_card(
    client: Any, caplog: pytest.LogCaptureFixture, damage: Any
) -> None:
    body = p1()
    damage(body)
    response = client.post("/cds-services/iop-order-sign", json=body)
    assert response.status_code == 200
    answer = response.get_json()
    (card,) = answer["cards"]
    assert card["indicator"] == "warning" and "record" in card["summary"]
    assert "cannot evaluate" in card["detail"] and "Traceback" not in json.dumps(answer)
    assert answer["extension"]["iop-cds.evaluations"] == []
    parts = coverage_parts(answer)  # CRD: order-sign still answers coverage information, as indeterminate
    assert parts["covered"]["valueCode"] == "indeterminate"
    assert parts["reason"]["valueCodeableConcept"]["coding"][0]["code"] == "technical"
    failures = [r for r in caplog.records if getattr(r, "fields", {}).get("event") == "hook.evaluation-failed"]
    assert len(failures) == 1 and failures[0].exc_info is not None
    assert failures[0].fields["incident"] in card["detail"]  # the card's incident finds the traceback in the log


def test_an_identifier_that_is_not_a_list_is_ignored_not_fatal(client: Any) -> None:
    body = p1()
    healthy = client.post("/cds-services/iop-order-sign", json=copy.deepcopy(body)).get_json()
    first(body, "conditions", "Condition")["identifier"] = True
    answer = client.post("/cds-services/iop-order-sign", json=body).get_json()
    assert answer["extension"]["iop-cds.evaluations"] == healthy["extension"]["iop-cds.evaluations"]


@pytest.mark.parametrize("token", ["tökén€", "two words", "a\r\nX-Injected: 1", ""])
def test_an_access_token_that_cannot_be_a_bearer_token_is_a_400(client: Any, token: str) -> None:
    body = p1()
    del body["prefetch"]["conditions"]
    body["fhirServer"] = "http://127.0.0.1:9/fhir"
    body["fhirAuthorization"] = {"access_token": token, "token_type": "Bearer", "scope": "patient/*.read"}
    response = client.post("/cds-services/iop-order-sign", json=body)
    assert response.status_code == 400
    assert response.get_json()["issue"][0]["expression"] == ["fhirAuthorization.access_token"]


def test_a_fhir_server_returning_data_the_engine_cannot_read_is_a_gap_card(client: Any) -> None:
    """The same shape fetched from a loopback FHIR server: the answer is still 200 with the gap card."""
    import socket
    import threading

    body = p1()
    encounters = copy.deepcopy(body["prefetch"].pop("encounters"))
    broken = next(e["resource"] for e in encounters["entry"] if e["resource"]["resourceType"] == "Encounter")
    broken["class"]["system"] = ["http://terminology.hl7.org/CodeSystem/v3-ActCode"]
    payload = json.dumps(encounters).encode()
    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[bytes] = []

    def serve() -> None:
        with listener:
            connection, _ = listener.accept()
            with connection:
                seen.append(connection.recv(65536))
                head = f"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nContent-Length: {len(payload)}\r\n"
                connection.sendall(head.encode() + b"Connection: close\r\n\r\n" + payload)

    threading.Thread(target=serve, daemon=True).start()
    body["fhirServer"] = f"http://127.0.0.1:{listener.getsockname()[1]}/fhir"
    body["fhirAuthorization"] = {"access_token": "loopback-token", "token_type": "Bearer", "scope": "patient/*.read"}
    response = client.post("/cds-services/iop-order-sign", json=body)
    assert seen and seen[0].startswith(b"GET /fhir/Encounter?patient=")
    assert response.status_code == 200
    (card,) = response.get_json()["cards"]
    assert "record" in card["summary"] and "cannot evaluate" in card["detail"]
