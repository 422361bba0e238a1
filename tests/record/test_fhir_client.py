"""The FHIR client: bearer token, paging and its cap, deadlines, and every way a server can fail."""

from __future__ import annotations

import time

import pytest
import requests
import responses

from cds_service.record.fhir_client import FhirClient

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
            "Patient/p9 does not exist on the FHIR server (404)",
        ),
        (404, None, "Patient/p9 does not exist on the FHIR server (404)"),
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
        ('{"resourceType": "Bundle", "entry": [{"fullUrl": "x"}]}', "application/json", "holds no FHIR resource"),
        ('{"resourceType": "Bundle", "entry": ["x"]}', "application/json", "entry is not an object"),
        ('{"resourceType": "Bundle", "entry": {"resource": {}}}', "application/json", "entry is not an array"),
        ('{"resourceType": "OperationOutcome", "issue": []}', "application/json", "got 'OperationOutcome'"),
        ('{"id": "x"}', "application/json", "got no resourceType"),
        ("", "application/fhir+json", "non-JSON"),
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


@pytest.mark.parametrize(
    "bundle",
    [
        {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Condition", "id": "a"}, "search": "x"}]},
        {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Condition", "id": "a"}}], "link": "x"},
        {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Condition", "id": "a"}}], "link": [3]},
    ],
)
@responses.activate
def test_odd_search_and_link_members_do_not_break_the_search(bundle: dict) -> None:
    responses.get(f"{BASE}/Condition", json=bundle)
    result = client().search("Condition")
    assert result.error is None and [r["id"] for r in result.resources] == ["a"]


@responses.activate
def test_a_search_of_an_unknown_type_reports_the_status_and_diagnostics() -> None:
    outcome = {"resourceType": "OperationOutcome", "issue": [{"details": "not an object"}, {"diagnostics": "bad type"}]}
    responses.get(f"{BASE}/Nonsense", json=outcome, status=404)
    assert client().search("Nonsense").error == "FHIR server answered 404: bad type"


@responses.activate
def test_long_diagnostics_are_shortened() -> None:
    outcome = {"resourceType": "OperationOutcome", "issue": [{"diagnostics": "x" * 5000}]}
    responses.get(f"{BASE}/Condition", json=outcome, status=500)
    assert len(client().search("Condition").error) < 300


@responses.activate
def test_a_token_echoed_by_the_server_is_redacted_from_the_error() -> None:
    said = f"rejected header Authorization: Bearer {TOKEN}"
    responses.get(
        f"{BASE}/Condition", json={"resourceType": "OperationOutcome", "issue": [{"diagnostics": said}]}, status=500
    )
    error = client().search("Condition").error
    assert TOKEN not in error and "Bearer [redacted]" in error


@responses.activate
def test_a_next_link_to_another_server_is_not_followed_and_gets_no_token() -> None:
    responses.get(f"{BASE}/Condition", json=page(["a"], "https://elsewhere.example/fhir/Condition?page=2"))
    result = client().search("Condition")
    assert [r["id"] for r in result.resources] == ["a"] and "another server (elsewhere.example)" in result.error
    assert [call.request.url for call in responses.calls] == [f"{BASE}/Condition"]


@responses.activate
def test_a_next_link_on_the_same_server_outside_the_base_path_is_followed() -> None:
    # HAPI-style paging links point at the server root with _getpages.
    responses.get(f"{BASE}/Condition", json=page(["a"], "https://ehr.example/fhir?_getpages=abc&_offset=1"))
    responses.get("https://ehr.example/fhir?_getpages=abc&_offset=1", json=page(["b"]))
    result = client().search("Condition")
    assert result.error is None and [r["id"] for r in result.resources] == ["a", "b"]


def test_no_authorization_header_without_a_token() -> None:
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
        result = FhirClient(BASE, None, time.monotonic() + 3, 20).read("Patient/p1")
        assert "Authorization" not in mock.calls[0].request.headers
    assert result.error is None and result.resources[0]["id"] == "p1" and result.requests == 1


@responses.activate
def test_each_request_gets_the_remaining_budget_as_timeout() -> None:
    responses.get(f"{BASE}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    client(budget=2.0).read("Patient/p1")
    connect, read = responses.calls[0].request.req_kwargs["timeout"]
    assert 1.5 < read <= 2.0 and connect <= read


@pytest.mark.parametrize("exception", [requests.exceptions.ReadTimeout, requests.exceptions.ConnectTimeout])
@responses.activate
def test_a_timeout_raised_mid_paging_keeps_the_pages_read(exception: type[Exception]) -> None:
    def slow(request: requests.PreparedRequest) -> tuple[int, dict, str]:
        raise exception("read timed out")

    responses.get(f"{BASE}/Condition", json=page(["a"], f"{BASE}/Condition?page=2"))
    responses.add_callback(responses.GET, f"{BASE}/Condition?page=2", callback=slow)
    result = client().search("Condition")
    assert result.error.startswith("timed out after") and result.requests == 2
    assert [r["id"] for r in result.resources] == ["a"]


@responses.activate
def test_a_page_cap_of_three_reads_exactly_three_pages() -> None:
    responses.get(f"{BASE}/Goal", json=page(["1"], f"{BASE}/Goal?p=2"))
    responses.get(f"{BASE}/Goal?p=2", json=page(["2"], f"{BASE}/Goal?p=3"))
    responses.get(f"{BASE}/Goal?p=3", json=page(["3"]))
    result = client(page_cap=3).search("Goal")
    assert result.error is None and result.requests == 3 and len(result.resources) == 3


@responses.activate
def test_the_page_size_is_asked_on_own_queries_only() -> None:
    responses.get(f"{BASE}/Goal?patient=p1&_count=50", json=page(["1"], f"{BASE}/Goal?page=2"))
    responses.get(f"{BASE}/Goal?page=2", json=page(["2"]))
    result = FhirClient(BASE, TOKEN, time.monotonic() + 3, 20, page_size=50).search("Goal?patient=p1")
    assert result.error is None and [c.request.url for c in responses.calls][1] == f"{BASE}/Goal?page=2"


def test_errors_never_hold_the_token(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(
            f"{BASE}/Patient/p1",
            status=401,
            json={"resourceType": "OperationOutcome", "issue": [{"diagnostics": TOKEN}]},
        )
        mock.get(f"{BASE}/Condition", body=f"<html>{TOKEN}</html>", status=500, content_type="text/html")
        errors = [client().read("Patient/p1").error, client().search("Condition").error]
    assert all(errors) and not any(TOKEN in e for e in errors) and TOKEN not in caplog.text
