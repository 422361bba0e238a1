"""Gathering the record: prefetch values of every shape, missing keys fetched in parallel, 412, data gaps."""

from __future__ import annotations

import json
import logging
import re
import threading
from typing import Any

import pytest
import requests
import responses

from cds_service.config import Settings
from cds_service.hooks.protocol import parse_hook_request
from cds_service.record.gather import PreconditionFailed, gather_record
from cds_service.record.prefetch import PREFETCH_TEMPLATES

BASE = "https://ehr.example/fhir"
TOKEN = "tok-abc-987"
PREFETCH = PREFETCH_TEMPLATES["encounter-discharge"]
PATIENT = {"resourceType": "Patient", "id": "p1"}
STAY = {"resourceType": "Encounter", "id": "e1", "subject": {"reference": "Patient/p1"}}


def empty() -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": []}


def full_prefetch() -> dict[str, Any]:
    prefetch: dict[str, Any] = {key: empty() for key in PREFETCH}
    prefetch["patient"] = PATIENT
    prefetch["encounter"] = STAY
    return prefetch


def hook(prefetch: dict[str, Any] | None, server: bool = True) -> Any:
    body: dict[str, Any] = {
        "hook": "encounter-discharge",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/u1", "patientId": "p1", "encounterId": "e1"},
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    if server:
        body["fhirServer"] = BASE
        body["fhirAuthorization"] = {
            "access_token": TOKEN,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "iop-cds",
        }
    return parse_hook_request(body, "encounter-discharge")


def settings() -> Settings:
    return Settings(auth=False, fhir_time_budget_seconds=2.0)


def serve_everything(mock: responses.RequestsMock) -> None:
    """A FHIR server holding one resource per searched type, plus the patient and the stay."""
    mock.get(f"{BASE}/Patient/p1", json=PATIENT)
    mock.get(f"{BASE}/Encounter/e1", json=STAY)

    def search(request: requests.PreparedRequest) -> tuple[int, dict, str]:
        rtype = re.search(r"/fhir/(\w+)\?", request.url).group(1)  # type: ignore[union-attr]
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": {"resourceType": rtype, "id": f"{rtype.lower()}-1"}}],
        }
        return 200, {}, json.dumps(bundle)

    mock.add_callback(responses.GET, re.compile(rf"{BASE}/\w+\?.*"), callback=search)


def test_full_prefetch_makes_no_fhir_request() -> None:
    with responses.RequestsMock() as mock:
        gathered = gather_record(hook(full_prefetch()), PREFETCH, settings())
        assert len(mock.calls) == 0
    assert gathered.gaps == [] and gathered.fhir_requests == 0 and len(gathered.record) == 2
    assert set(gathered.sources.values()) == {"prefetch"}


def test_null_prefetch_means_no_data_not_a_fetch() -> None:
    prefetch = full_prefetch()
    prefetch["goals"] = None
    with responses.RequestsMock() as mock:
        gathered = gather_record(hook(prefetch), PREFETCH, settings())
        assert len(mock.calls) == 0
    assert gathered.gaps == [] and gathered.sources["goals"] == "prefetch"


def test_missing_keys_are_fetched_with_the_bearer_token() -> None:
    prefetch = full_prefetch()
    for key in ("conditions", "careplans", "encounter"):
        del prefetch[key]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        serve_everything(mock)
        gathered = gather_record(hook(prefetch), PREFETCH, settings())
        urls = sorted(call.request.url for call in mock.calls)
        assert all(call.request.headers["Authorization"] == f"Bearer {TOKEN}" for call in mock.calls)
    assert urls == [
        f"{BASE}/CarePlan?patient=p1&_count=100",
        f"{BASE}/Condition?patient=p1&_count=100",
        f"{BASE}/Encounter/e1",
    ]
    assert gathered.fhir_requests == 3 and gathered.gaps == []
    assert gathered.sources["conditions"] == "fetched" and gathered.sources["patient"] == "prefetch"
    assert gathered.record.resolve("Condition/condition-1") is not None


def test_without_prefetch_every_key_is_fetched_once() -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        serve_everything(mock)
        gathered = gather_record(hook(None), PREFETCH, settings())
    assert gathered.fhir_requests == len(PREFETCH) and gathered.gaps == []


def test_an_operation_outcome_prefetch_is_fetched_again() -> None:
    prefetch = full_prefetch()
    prefetch["observations"] = {"resourceType": "OperationOutcome", "issue": [{"code": "timeout"}]}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        serve_everything(mock)
        gathered = gather_record(hook(prefetch), PREFETCH, settings())
        assert [c.request.url.split("?")[0] for c in mock.calls] == [f"{BASE}/Observation"]
    assert gathered.gaps == [] and gathered.record.resolve("Observation/observation-1")


def test_missing_data_and_no_fhir_server_is_a_precondition_failure() -> None:
    prefetch = full_prefetch()
    del prefetch["conditions"]
    with pytest.raises(PreconditionFailed, match="conditions"):
        gather_record(hook(prefetch, server=False), PREFETCH, settings())


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"resourceType": "OperationOutcome", "issue": [{"diagnostics": "query timed out"}]}, "query timed out"),
        ("Condition?patient=p1", "not a FHIR resource"),
        ({"resourceType": "Bundle", "entry": [{"fullUrl": "urn:x"}]}, "holds no FHIR resource"),
    ],
)
def test_broken_prefetch_without_a_server_is_a_data_gap(value: Any, reason: str) -> None:
    prefetch = full_prefetch()
    prefetch["conditions"] = value
    gathered = gather_record(hook(prefetch, server=False), PREFETCH, settings())
    (gap,) = gathered.gaps
    assert gap.key == "conditions" and reason in gap.reason


def test_a_wrong_resource_for_a_read_key_is_a_gap() -> None:
    prefetch = full_prefetch()
    prefetch["patient"] = {"resourceType": "Practitioner", "id": "p1"}
    gathered = gather_record(hook(prefetch, server=False), PREFETCH, settings())
    assert [(g.key, g.reason) for g in gathered.gaps] == [("patient", "expected Patient, got Practitioner")]


def test_a_server_that_is_down_gives_one_gap_per_key_and_no_exception(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, re.compile(rf"{BASE}/.*"), body=requests.ConnectionError())
        gathered = gather_record(hook(None), PREFETCH, settings())
    assert {g.key for g in gathered.gaps} == set(PREFETCH)
    assert all("unreachable" in g.reason for g in gathered.gaps)
    events = [r.fields for r in caplog.records if getattr(r, "fields", {}).get("event") == "gather.fetched"]
    assert len(events) == len(PREFETCH)
    assert all(e["hookInstance"] == "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea" for e in events)
    assert TOKEN not in caplog.text and all(TOKEN not in str(e) for e in events)


def test_a_paged_prefetch_is_completed_from_the_server() -> None:
    prefetch = full_prefetch()
    prefetch["conditions"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": {"resourceType": "Condition", "id": "c1"}}],
        "link": [{"relation": "next", "url": f"{BASE}/Condition?patient=p1&page=2"}],
    }
    with responses.RequestsMock() as mock:
        mock.get(
            f"{BASE}/Condition?patient=p1&page=2",
            json={"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Condition", "id": "c2"}}]},
        )
        gathered = gather_record(hook(prefetch), PREFETCH, settings())
    assert gathered.record.resolve("Condition/c1") and gathered.record.resolve("Condition/c2")


def test_practitioners_referenced_by_the_record_are_fetched_in_one_query_per_type() -> None:
    prefetch = full_prefetch()
    prefetch["encounters"] = {
        "resourceType": "Bundle",
        "entry": [
            {
                "resource": {
                    "resourceType": "Encounter",
                    "id": f"s{i}",
                    "participant": [{"individual": {"reference": f"Practitioner/dr{i % 2}"}}],
                }
            }
            for i in range(6)
        ],
    }
    with responses.RequestsMock() as mock:
        mock.get(
            re.compile(rf"{BASE}/Practitioner\?_id=dr0(,|%2C)dr1&_count=100"),
            json={
                "resourceType": "Bundle",
                "entry": [
                    {"resource": {"resourceType": "Practitioner", "id": "dr0"}},
                    {"resource": {"resourceType": "Practitioner", "id": "dr1"}},
                ],
            },
        )
        gathered = gather_record(hook(prefetch), PREFETCH, settings())
        assert len(mock.calls) == 1
    assert gathered.record.resolve("Practitioner/dr1") is not None


def test_through_http_a_missing_key_without_server_is_412(client: Any) -> None:
    body = {
        "hook": "encounter-discharge",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/u1", "patientId": "p1", "encounterId": "e1"},
        "prefetch": {"patient": PATIENT},
    }
    response = client.post("/cds-services/iop-encounter-discharge", json=body)
    assert response.status_code == 412
    assert "encounters" in response.get_json()["issue"][0]["diagnostics"]


def test_through_http_a_fhir_server_that_is_down_is_a_200_with_an_incomplete_card(client: Any) -> None:
    body = {
        "hook": "encounter-discharge",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/u1", "patientId": "p1", "encounterId": "e1"},
        "fhirServer": BASE,
        "fhirAuthorization": {
            "access_token": TOKEN,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "x",
        },
    }
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, re.compile(rf"{BASE}/.*"), status=503, body="down", content_type="text/plain")
        response = client.post("/cds-services/iop-encounter-discharge", json=body)
    assert response.status_code == 200
    assert isinstance(response.get_json()["cards"], list)


def test_missing_keys_are_fetched_in_parallel() -> None:
    prefetch = full_prefetch()
    keys = ("conditions", "careplans", "goals", "consents")
    for key in keys:
        del prefetch[key]
    everyone_waiting = threading.Barrier(len(keys), timeout=5)

    def answer(request: requests.PreparedRequest) -> tuple[int, dict, str]:
        everyone_waiting.wait()  # breaks (and fails the test) unless all four queries are in flight at once
        return 200, {}, json.dumps(empty())

    with responses.RequestsMock() as mock:
        mock.add_callback(responses.GET, re.compile(rf"{BASE}/\w+\?.*"), callback=answer)
        gathered = gather_record(hook(prefetch), PREFETCH, settings())
    assert gathered.gaps == [] and gathered.fhir_requests == len(keys)
    assert {k: gathered.sources[k] for k in keys} == dict.fromkeys(keys, "fetched")


def test_a_spent_budget_gives_gaps_and_makes_no_request() -> None:
    with responses.RequestsMock() as mock:
        gathered = gather_record(hook(None), PREFETCH, Settings(auth=False, fhir_time_budget_seconds=0.0))
        assert len(mock.calls) == 0
    assert {g.key for g in gathered.gaps} == set(PREFETCH) and gathered.fhir_requests == 0
    assert all("budget" in g.reason for g in gathered.gaps)


def test_mixed_prefetch_fetch_and_failure() -> None:
    prefetch = full_prefetch()
    prefetch["goals"] = None
    prefetch["conditions"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": {"resourceType": "Condition", "id": "c1"}, "search": {"mode": "match"}}],
    }
    prefetch["observations"] = {"resourceType": "OperationOutcome", "issue": [{"code": "too-costly"}]}
    del prefetch["careplans"], prefetch["consents"], prefetch["encounter"]
    outcome = {"resourceType": "OperationOutcome", "issue": [{"diagnostics": "consent store offline"}]}
    with responses.RequestsMock() as mock:
        mock.get(re.compile(rf"{BASE}/Observation\?.*"), json={"resourceType": "Bundle", "entry": []})
        mock.get(
            re.compile(rf"{BASE}/CarePlan\?.*"),
            json={"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "CarePlan", "id": "cp1"}}]},
        )
        mock.get(re.compile(rf"{BASE}/Consent\?.*"), json=outcome, status=500)
        mock.get(f"{BASE}/Encounter/e1", status=404)
        gathered = gather_record(hook(prefetch), PREFETCH, settings())
    assert gathered.fhir_requests == 4
    assert [(g.key, g.reason) for g in sorted(gathered.gaps, key=lambda g: g.key)] == [
        ("consents", "FHIR server answered 500: consent store offline"),
        ("encounter", "Encounter/e1 does not exist on the FHIR server (404)"),
    ]
    sources = gathered.sources
    assert (sources["goals"], sources["conditions"], sources["patient"]) == ("prefetch", "prefetch", "prefetch")
    assert (sources["observations"], sources["careplans"]) == ("fetched", "fetched")
    assert (sources["consents"], sources["encounter"]) == ("failed", "failed")
    assert set(sources) == set(PREFETCH)
    assert gathered.record.resolve("Condition/c1") and gathered.record.resolve("CarePlan/cp1")
    assert gathered.record.resolve("Encounter/e1") is None


def test_a_paged_prefetch_without_a_fhir_server_keeps_its_first_page_as_a_gap() -> None:
    prefetch = full_prefetch()
    prefetch["conditions"] = {
        "resourceType": "Bundle",
        "entry": [{"resource": {"resourceType": "Condition", "id": "c1"}}],
        "link": [{"relation": "next", "url": "https://internal.example/fhir/Condition?page=2"}],
    }
    with responses.RequestsMock() as mock:
        gathered = gather_record(hook(prefetch, server=False), PREFETCH, settings())
        assert len(mock.calls) == 0
    (gap,) = gathered.gaps
    assert gap.key == "conditions" and "first page" in gap.reason and gathered.sources["conditions"] == "failed"
    assert gathered.record.resolve("Condition/c1") is not None


def test_a_next_link_to_another_server_is_a_gap_and_gets_no_token() -> None:
    prefetch = full_prefetch()
    prefetch["conditions"] = {
        "resourceType": "Bundle",
        "entry": [],
        "link": [{"relation": "next", "url": "https://elsewhere.example/Condition?page=2"}],
    }
    with responses.RequestsMock() as mock:
        gathered = gather_record(hook(prefetch), PREFETCH, settings())
        assert len(mock.calls) == 0
    (gap,) = gathered.gaps
    assert gap.key == "conditions" and "another server" in gap.reason


def test_a_template_the_context_cannot_fill_is_a_gap() -> None:
    prefetch = {
        "patient": "Patient/{{context.patientId}}",
        "orders": "ServiceRequest?requisition={{context.orderId}}",
    }
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/Patient/p1", json=PATIENT)
        gathered = gather_record(hook(None), prefetch, settings())
    assert [(g.key, "context field" in g.reason) for g in gathered.gaps] == [("orders", True)]
    assert gathered.sources == {"patient": "fetched", "orders": "failed"}


def test_a_token_echoed_by_the_fhir_server_stays_out_of_gaps_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    def echo(request: requests.PreparedRequest) -> tuple[int, dict, str]:
        said = f"cannot serve {request.headers['Authorization']}"
        return 500, {}, json.dumps({"resourceType": "OperationOutcome", "issue": [{"diagnostics": said}]})

    with responses.RequestsMock() as mock:
        mock.add_callback(responses.GET, re.compile(rf"{BASE}/.*"), callback=echo)
        gathered = gather_record(hook(None), PREFETCH, settings())
    assert len(gathered.gaps) == len(PREFETCH)
    assert all(TOKEN not in g.reason and "[redacted]" in g.reason for g in gathered.gaps)
    assert TOKEN not in caplog.text and all(TOKEN not in str(getattr(r, "fields", "")) for r in caplog.records)


def test_one_log_event_per_fetched_key(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="iop_cds.gather")
    prefetch = full_prefetch()
    del prefetch["goals"], prefetch["patient"]
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/Patient/p1", json=PATIENT)
        mock.get(re.compile(rf"{BASE}/Goal\?.*"), status=503, body="busy", content_type="text/plain")
        gather_record(hook(prefetch), PREFETCH, settings())
    events = {r.fields["key"]: r.fields for r in caplog.records if r.fields.get("event") == "gather.fetched"}
    assert set(events) == {"goals", "patient"}
    assert events["patient"]["status"] == "ok" and events["goals"]["status"] == "failed"
    for event in events.values():
        assert event["requests"] == 1 and event["duration_ms"] >= 0
        assert event["hookInstance"] == "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"


def test_a_patient_read_that_returns_another_patient_is_dropped_and_named() -> None:
    prefetch = full_prefetch()
    prefetch["patient"] = {"resourceType": "Patient", "id": "p2"}
    gathered = gather_record(hook(prefetch, server=False), PREFETCH, settings())
    assert gathered.record.of_type("Patient") == []
    (gap,) = gathered.gaps
    assert gap.key == "patient" and "another patient" in gap.reason and "Patient/p2" in gap.reason


def test_entries_about_another_patient_are_dropped_and_the_key_is_a_gap() -> None:
    prefetch = full_prefetch()
    mine = {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"}}
    theirs = {"resourceType": "Condition", "id": "c2", "subject": {"reference": "https://ehr.example/fhir/Patient/p9"}}
    prefetch["conditions"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": mine}, {"resource": theirs}],
    }
    gathered = gather_record(hook(prefetch, server=False), PREFETCH, settings())
    assert [c["id"] for c in gathered.record.of_type("Condition")] == ["c1"]
    assert [(g.key, "Condition/c2" in g.reason) for g in gathered.gaps] == [("conditions", True)]


def test_a_failed_practitioner_lookup_is_a_data_gap() -> None:
    prefetch = full_prefetch()
    prefetch["encounter"] = {**STAY, "participant": [{"individual": {"reference": "Practitioner/dr1"}}]}
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/Practitioner?_id=dr1&_count=100", status=500)
        gathered = gather_record(hook(prefetch), PREFETCH, settings())
    assert [g.key for g in gathered.gaps] == ["referenced Practitioner"]
    assert gathered.sources["referenced Practitioner"] == "failed"
