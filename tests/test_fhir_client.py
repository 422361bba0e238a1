"""The FHIR client: bearer token, paging and its cap, deadlines, and every way a server can fail."""

from __future__ import annotations

import time

import pytest
import requests
import responses

from cds_service.fhir_client import FhirClient

BASE = "https://ehr.example/fhir"
TOKEN = "secret-token-123"


def client(page_cap: int = 20, budget: float = 3.0) -> FhirClient:
    return FhirClient(BASE, TOKEN, time.monotonic() + budget, page_cap)


def page(ids: list[str], next_url: str | None = None) -> dict:
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": {"resourceType": "Condition", "id": i}, "search": {"mode": "match"}} for i in ids],
    }
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


@responses.activate
def test_search_follows_next_links_and_sends_the_bearer_token() -> None:
    responses.get(f"{BASE}/Condition?patient=p1", json=page(["a", "b"], f"{BASE}/Condition?patient=p1&page=2"))
    responses.get(f"{BASE}/Condition?patient=p1&page=2", json=page(["c"], "Condition?patient=p1&page=3"))
    responses.get(f"{BASE}/Condition?patient=p1&page=3", json=page(["d"]))
    result = client().search("Condition?patient=p1")
    assert result.error is None and [r["id"] for r in result.resources] == ["a", "b", "c", "d"]
    assert result.requests == 3
    assert all(call.request.headers["Authorization"] == f"Bearer {TOKEN}" for call in responses.calls)
    assert all(call.request.headers["Accept"] == "application/fhir+json" for call in responses.calls)


@responses.activate
def test_the_page_cap_stops_paging_and_says_so() -> None:
    for n in range(1, 5):
        responses.get(f"{BASE}/Observation?p={n}", json=page([str(n)], f"{BASE}/Observation?p={n + 1}"))
    result = client(page_cap=2).search("Observation?p=1")
    assert [r["id"] for r in result.resources] == ["1", "2"] and "truncated at 2 pages" in result.error


@responses.activate
def test_outcome_entries_are_skipped_and_included_resources_kept() -> None:
    bundle = page(["a"])
    bundle["entry"] += [
        {"resource": {"resourceType": "OperationOutcome", "issue": []}, "search": {"mode": "outcome"}},
        {"resource": {"resourceType": "Practitioner", "id": "dr"}, "search": {"mode": "include"}},
    ]
    responses.get(f"{BASE}/Condition", json=bundle)
    assert [r["resourceType"] for r in client().search("Condition").resources] == ["Condition", "Practitioner"]


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (401, {"resourceType": "OperationOutcome"}, "refused the access token (401)"),
        (403, None, "refused the access token (403)"),
        (
            404,
            {"resourceType": "OperationOutcome", "issue": [{"diagnostics": "Patient/p9 not found"}]},
            "answered 404: Patient/p9 not found",
        ),
        (
            500,
            {"resourceType": "OperationOutcome", "issue": [{"details": {"text": "database down"}}]},
            "answered 500: database down",
        ),
        (502, None, "answered 502"),
    ],
)
@responses.activate
def test_http_errors_become_readable_errors(status: int, body: dict | None, message: str) -> None:
    if body is None:
        responses.get(
            f"{BASE}/Patient/p9", body="<html><body>Bad gateway</body></html>", status=status, content_type="text/html"
        )
    else:
        responses.get(f"{BASE}/Patient/p9", json=body, status=status)
    result = client().read("Patient/p9")
    assert result.resources == [] and message in result.error and TOKEN not in result.error


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        ("<html><body>Sign in</body></html>", "text/html", "non-JSON (text/html)"),
        ("{not json", "application/fhir+json", "non-JSON"),
        ("[1, 2, 3]", "application/json", "not a resource"),
        ('{"resourceType": "Patient", "id": "p1"}', "application/json", "expected a search Bundle"),
        ('{"resourceType": "Bundle", "entry": [{"fullUrl": "x"}]}', "application/json", "holds no resource"),
    ],
)
@responses.activate
def test_garbage_bodies_are_errors_not_exceptions(body: str, content_type: str, message: str) -> None:
    responses.get(f"{BASE}/Condition", body=body, content_type=content_type)
    result = client().search("Condition")
    assert message in result.error and result.resources == []


@responses.activate
def test_a_read_of_the_wrong_type_is_an_error() -> None:
    responses.get(f"{BASE}/Patient/p1", json={"resourceType": "Practitioner", "id": "p1"})
    assert "expected a Patient" in client().read("Patient/p1").error


@pytest.mark.parametrize(
    ("exception", "message"),
    [
        (requests.ReadTimeout(), "timed out"),
        (requests.ConnectTimeout(), "timed out"),
        (requests.ConnectionError(), "unreachable"),
    ],
)
@responses.activate
def test_timeouts_and_refused_connections(exception: Exception, message: str) -> None:
    responses.get(f"{BASE}/Condition", body=exception)
    assert message in client().search("Condition").error


def test_a_spent_budget_makes_no_request() -> None:
    with responses.RequestsMock() as mock:
        result = client(budget=-1).search("Condition")
        assert "budget exhausted" in result.error and len(mock.calls) == 0


def test_the_token_is_not_in_the_repr() -> None:
    assert TOKEN not in repr(client())
