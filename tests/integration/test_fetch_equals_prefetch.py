"""Fetch mode gives the verdicts full prefetch gives (DATA-PROFILE §1), for every golden patient, on a real server.

Each golden Bundle is loaded into the sekmet-fhir server (the draft order being signed is not on the server yet,
as in an EHR); the same hook call is then answered once with full prefetch and once with only fhirServer and
the bearer token. Every criterion must get the same status. The prefetch is built from the server's own copies
(a server stamps its own meta.lastUpdated), so the two calls see the same data and differ only in how it came.
"""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from golden_calls import GOLDEN_CALLS

from cds_service.config import Settings
from cds_service.hooks.app import create_app
from cds_service.hooks.services import service_for_hook
from cds_service.record.hook_requests import build_hook_request, is_draft_order

pytestmark = pytest.mark.integration

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden"
# P9b is P9a's patient a few weeks on, with the same ids: one server cannot hold both, and P9a covers that record.
CALLS = {name: call for name, call in GOLDEN_CALLS.items() if name != "P9b"}


def golden(name: str) -> dict[str, Any]:
    return json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))


def as_transaction(bundle: dict[str, Any]) -> dict[str, Any]:
    """The Bundle's resources as PUTs, without the draft order (it is being signed, not stored)."""
    entries = [
        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
        for r in (e["resource"] for e in bundle["entry"])
        if not is_draft_order(r)
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


@pytest.fixture(scope="module")
def golden_server(fhir_server: Any) -> Any:
    for name in CALLS:
        fhir_server.transaction(as_transaction(golden(name)))
    return fhir_server


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("fetch-equals-prefetch")
    settings = Settings(
        auth=False,
        feedback_db=str(tmp / "feedback.sqlite3"),
        replay_db=str(tmp / "replay.sqlite3"),
        fhir_time_budget_seconds=30.0,
    )
    return create_app(settings).test_client()


def statuses(client: Any, body: dict[str, Any]) -> dict[str, str]:
    response = client.post(f"/cds-services/{service_for_hook(body['hook'])}", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    return {
        c["id"]: c["status"]
        for evaluation in response.get_json()["extension"]["iop-cds.evaluations"]
        for c in evaluation["criteria"]
    }


def as_stored(server: Any, bundle: dict[str, Any]) -> dict[str, Any]:
    """The Bundle with every stored resource replaced by the server's copy of it (the draft order kept as is)."""
    entries = []
    for resource in (e["resource"] for e in bundle["entry"]):
        if not is_draft_order(resource):
            response = server.session.get(f"{server.base_url}/{resource['resourceType']}/{resource['id']}", timeout=30)
            response.raise_for_status()
            resource = response.json()
        entries.append({"resource": resource})
    return {**bundle, "entry": entries}


@pytest.mark.parametrize("name", list(CALLS))
def test_fetch_mode_gives_the_verdicts_of_full_prefetch(golden_server: Any, client: Any, name: str) -> None:
    hook, at, policy, encounter = CALLS[name]
    stored = as_stored(golden_server, golden(name))
    full = build_hook_request(stored, hook, at=at, policies=[policy], encounter_id=encounter)
    fetched = copy.deepcopy(full)
    fetched.pop("prefetch")
    fetched["hookInstance"] = str(uuid.uuid4())
    fetched["fhirServer"] = golden_server.base_url
    fetched["fhirAuthorization"] = {
        "access_token": golden_server.token,
        "token_type": "Bearer",
        "scope": "patient/*.read",
        "subject": "iop-cds",
    }
    expected, got = statuses(client, full), statuses(client, fetched)
    assert expected, "the golden call evaluated nothing"
    differ = {k: (expected.get(k), got.get(k)) for k in expected.keys() | got.keys() if expected.get(k) != got.get(k)}
    assert not differ, f"criterion: (full prefetch, fetch mode) {differ}"
