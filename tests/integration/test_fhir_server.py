"""Integration: both hooks called WITHOUT prefetch fetch the patient's record from a real FHIR server.

The server is sekmet-fhir (see conftest.py) loaded with the hand-built IOP episode
(tests/fixtures/iop-episode-basic.json) and the PySynthea patients (tests/fixtures/synthea/, made by
tools/make_synthea_fixtures.py). The service under test is the Flask app, called through its test
client; its FHIR client talks to the server over real HTTP with the request's bearer token.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from cds_service.config import Settings
from cds_service.hooks.app import create_app
from cds_service.hooks.services import SERVICES
from cds_service.record.prefetch import SCREENING_LOINC

pytestmark = pytest.mark.integration

HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
EPISODE_PATIENT = "iop-basic-patient"
EPISODE_PROGRAM = "iop-basic-program"
EPISODE_NOW = "2025-02-24T15:00:00Z"
SYNTHEA_NOW = "2025-03-01T12:00:00Z"
SYNTHEA_FILES = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "synthea").glob("*.json"))
PREFETCH_KEYS = list(SERVICES["iop-order-sign"].prefetch)


# The fixtures fhir_server (a sekmet.FhirServer) and loaded_server (a conftest.LoadedData) come from
# conftest.py; they are typed Any here because a test module cannot import a conftest by name.
FhirServer = LoadedData = Any


# ---------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ref(resource: dict[str, Any]) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


def expected_for_query(bundle: dict[str, Any], key: str, patient_id: str) -> set[str]:
    """The Type/id the prefetch query ``key`` must return for a fixture bundle holding one patient's data."""
    resources = [e["resource"] for e in bundle["entry"]]
    if key == "patient":
        return {f"Patient/{patient_id}"}
    if key == "encounter":
        return set()
    rtype = SERVICES["iop-encounter-discharge"].prefetch[key].split("?", 1)[0]
    selected = [r for r in resources if r["resourceType"] == rtype]
    if key == "coverage":
        selected = [r for r in selected if r.get("status") == "active"]
    elif key == "observations":
        selected = [
            r
            for r in selected
            if any(
                c.get("system") == "http://loinc.org" and c.get("code") in SCREENING_LOINC
                for c in r.get("code", {}).get("coding", [])
            )
        ]
    elif key == "attestations":
        selected = [r for r in selected if r.get("status") == "completed"]
    elif key == "appointments":
        selected = [
            r
            for r in selected
            if any(p.get("actor", {}).get("reference") == f"Patient/{patient_id}" for p in r.get("participant", []))
        ]
    return {ref(r) for r in selected}


def server_record(server: FhirServer, patient_id: str) -> dict[str, set[str]]:
    """What the server answers to each prefetch query of the patient: key -> Type/id set."""
    answers: dict[str, set[str]] = {}
    for key, template in SERVICES["iop-order-sign"].prefetch.items():
        query = template.replace("{{context.patientId}}", patient_id)
        if key == "patient":
            response = server.session.get(f"{server.base_url}/{query}", timeout=30)
            response.raise_for_status()
            answers[key] = {ref(response.json())}
        else:
            answers[key] = {ref(r) for r in server.search_all(query)}
    return answers


def iop_order(patient_id: str, reason: str | None = None) -> dict[str, Any]:
    order: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": f"draft-iop-{patient_id[:24]}",
        "status": "draft",
        "intent": "order",
        "code": {
            "coding": [
                {"system": HCPCS, "code": "S9480", "display": "Intensive outpatient psychiatric services, per diem"}
            ]
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "authoredOn": "2025-02-24T14:00:00Z",
        "occurrenceTiming": {
            "repeat": {
                "boundsPeriod": {"start": "2025-02-24", "end": "2025-03-23"},
                "frequency": 3,
                "period": 1,
                "periodUnit": "wk",
                "duration": 3,
                "durationUnit": "h",
            }
        },
        "requester": {"reference": "Practitioner/iop-basic-psychiatrist"},
    }
    if reason:
        order["reasonReference"] = [{"reference": reason}]
    return order


def hook_body(
    hook: str,
    patient_id: str,
    fhir_server: str,
    token: str,
    now: str,
    encounter_id: str | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    context: dict[str, Any] = {"userId": "Practitioner/iop-basic-psychiatrist", "patientId": patient_id}
    if hook == "order-sign":
        context["draftOrders"] = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": iop_order(patient_id, reason)}],
        }
    else:
        context["encounterId"] = encounter_id
    return {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": fhir_server,
        "fhirAuthorization": {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "iop-cds",
        },
        "context": context,
        "extension": {"iop-cds.evaluation-time": now},
    }


class HookCall:
    """One hook call's response, its ``hook.record`` log event and (when capturable) the gathered record."""

    def __init__(self, response: Any, record_event: dict[str, Any] | None, gathered: Any, log_text: str) -> None:
        self.response = response
        self.body = response.get_json(silent=True)
        self.record_event = record_event
        self.gathered = gathered
        self.log_text = log_text

    def record_refs(self) -> set[str]:
        if self.gathered is None:
            return set()
        return {ref(r) for r in self.gathered.record if isinstance(r.get("id"), str)}


def call_hook(
    client: Any,
    service_id: str,
    body: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> HookCall:
    import cds_service.hooks.invocation as invocation

    captured: list[Any] = []
    original = getattr(invocation, "gather_record", None)
    if original is not None:

        def spy(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            captured.append(result)
            return result

        monkeypatch.setattr(invocation, "gather_record", spy)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="iop_cds"):
        response = client.post(f"/cds-services/{service_id}", json=body)
    events = [getattr(r, "fields", {}) for r in caplog.records]
    record_event = next((f for f in events if isinstance(f, dict) and f.get("event") == "hook.record"), None)
    # Everything the service logged, structured fields included (caplog.text has the messages only).
    log_text = "\n".join(
        f"{r.name} {r.getMessage()} {json.dumps(getattr(r, 'fields', None), default=str)} {r.exc_text or ''}"
        for r in caplog.records
    )
    return HookCall(response, record_event, captured[0] if captured else None, log_text)


def evidence_refs(body: dict[str, Any]) -> set[str]:
    refs: set[str] = set()
    for evaluation in body.get("extension", {}).get("iop-cds.evaluations", []):
        for criterion in evaluation.get("criteria", []):
            refs.update(e for e in criterion.get("evidence", []) if isinstance(e, str))
    return refs


def assert_complete_fetch(call: HookCall, expected: set[str], min_requests: int) -> None:
    """The hook answered 200 with evaluations, read every expected resource, and logged no gap."""
    assert call.response.status_code == 200, call.response.get_data(as_text=True)[:2000]
    evaluations = call.body.get("extension", {}).get("iop-cds.evaluations")
    assert isinstance(evaluations, list) and evaluations, call.body
    event = call.record_event
    assert event is not None, f"no hook.record log event; log was:\n{call.log_text[-3000:]}"
    assert event.get("gaps") == [], event
    assert event.get("resources", 0) >= len(expected), (event, len(expected))
    assert event.get("fhir_requests", 0) >= min_requests, (event, min_requests)
    if call.gathered is not None:
        got = call.record_refs()
        missing = expected - got
        assert not missing, f"{len(missing)} resources on the server were not fetched, e.g. {sorted(missing)[:5]}"
        wanted_types = {r.split("/")[0] for r in expected}
        foreign = {r for r in got if r.split("/")[0] in wanted_types} - expected
        assert not foreign, f"resources that are not this patient's: {sorted(foreign)[:5]}"
    assert "iop-cds-integration-token" not in call.log_text, "the access token reached the logs"


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def hook_client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("iop-cds")
    app = create_app(
        Settings(auth=False, feedback_db=str(tmp / "feedback.sqlite3"), replay_db=str(tmp / "replay.sqlite3"))
    )
    return app.test_client()


# ---------------------------------------------------------------- the server itself


def test_server_requires_the_bearer_token(fhir_server: FhirServer) -> None:
    """Sanity: the server rejects calls without the token, so a 200 proves the service sent it."""
    anonymous = requests.get(f"{fhir_server.base_url}/Patient?_count=1", timeout=10)
    assert anonymous.status_code == 401
    assert fhir_server.session.get(f"{fhir_server.base_url}/Patient?_count=1", timeout=10).status_code == 200


def test_server_answers_every_prefetch_query_for_the_patient_only(loaded_server: LoadedData) -> None:
    """Every prefetch template, per loaded patient, returns exactly that patient's fixture resources."""
    for patient_id, bundle in loaded_server.bundles.items():
        answers = server_record(loaded_server.server, patient_id)
        for key, got in answers.items():
            assert got == expected_for_query(bundle, key, patient_id), (patient_id, key)


# ---------------------------------------------------------------- hooks on the IOP episode


def episode_expected(loaded: LoadedData) -> set[str]:
    bundle = loaded.bundles[EPISODE_PATIENT]
    return set().union(*(expected_for_query(bundle, k, EPISODE_PATIENT) for k in PREFETCH_KEYS))


def test_order_sign_without_prefetch_reads_the_record_from_the_fhir_server(
    loaded_server: LoadedData, hook_client: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = loaded_server.server
    body = hook_body(
        "order-sign", EPISODE_PATIENT, server.base_url, server.token, EPISODE_NOW, reason="Condition/iop-basic-dx"
    )
    call = call_hook(hook_client, "iop-order-sign", body, caplog, monkeypatch)
    expected = episode_expected(loaded_server)
    assert_complete_fetch(call, expected, min_requests=len(PREFETCH_KEYS))
    assert evidence_refs(call.body) & expected, "no evaluation cites a resource read from the server"


def test_encounter_discharge_without_prefetch_reads_the_record_from_the_fhir_server(
    loaded_server: LoadedData, hook_client: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = loaded_server.server
    body = hook_body(
        "encounter-discharge", EPISODE_PATIENT, server.base_url, server.token, EPISODE_NOW, encounter_id=EPISODE_PROGRAM
    )
    call = call_hook(hook_client, "iop-encounter-discharge", body, caplog, monkeypatch)
    expected = episode_expected(loaded_server)
    assert_complete_fetch(call, expected, min_requests=len(SERVICES["iop-encounter-discharge"].prefetch))
    assert f"Encounter/{EPISODE_PROGRAM}" in call.record_refs() or call.gathered is None
    assert evidence_refs(call.body) & expected, "no evaluation cites a resource read from the server"
    phases = {e.get("phase") for e in call.body["extension"]["iop-cds.evaluations"]}
    assert "discharge" in phases, phases


# ---------------------------------------------------------------- large Synthea records, paged


@pytest.mark.parametrize("fixture", SYNTHEA_FILES, ids=[p.stem for p in SYNTHEA_FILES])
def test_large_synthea_record_is_fetched_completely_across_pages(
    fixture: Path,
    loaded_server: LoadedData,
    hook_client: Any,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = loaded_server.server
    bundle = next(b for b in loaded_server.bundles.values() if b.get("id") == fixture.stem)
    patient_id = next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    held = server_record(server, patient_id)  # what the server holds, read independently of the service
    expected = set().union(*held.values())
    assert len(expected) > 300, "the fixture should be a large record"
    # The server hands out at most max_page_size entries a page, so these are the fewest requests possible.
    min_requests = sum(max(1, math.ceil(len(v) / server.max_page_size)) for v in held.values())
    assert min_requests > len(PREFETCH_KEYS), "the record should need more than one page somewhere"
    body = hook_body("order-sign", patient_id, server.base_url, server.token, SYNTHEA_NOW)
    call = call_hook(hook_client, "iop-order-sign", body, caplog, monkeypatch)
    assert_complete_fetch(call, expected, min_requests=min_requests)


# ---------------------------------------------------------------- an unreachable or refusing server


def test_stopped_fhir_server_answers_200_with_an_incomplete_evaluation_card(
    hook_client: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/fhir"  # nothing listens there
    body = hook_body("order-sign", EPISODE_PATIENT, dead, "iop-cds-integration-token", EPISODE_NOW)
    call = call_hook(hook_client, "iop-order-sign", body, caplog, monkeypatch)
    assert call.response.status_code == 200, call.response.get_data(as_text=True)[:2000]
    assert isinstance(call.body.get("cards"), list) and call.body["cards"], call.body
    if call.record_event is not None:
        assert call.record_event.get("gaps"), call.record_event
    assert "iop-cds-integration-token" not in call.log_text


def test_fhir_server_refusing_the_token_answers_200_with_an_incomplete_evaluation_card(
    fhir_server: FhirServer, hook_client: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = hook_body(
        "encounter-discharge",
        EPISODE_PATIENT,
        fhir_server.base_url,
        "not-the-right-token",
        EPISODE_NOW,
        encounter_id=EPISODE_PROGRAM,
    )
    call = call_hook(hook_client, "iop-encounter-discharge", body, caplog, monkeypatch)
    assert call.response.status_code == 200, call.response.get_data(as_text=True)[:2000]
    assert isinstance(call.body.get("cards"), list) and call.body["cards"], call.body
    if call.record_event is not None:
        assert call.record_event.get("gaps"), call.record_event
    assert "not-the-right-token" not in call.log_text
