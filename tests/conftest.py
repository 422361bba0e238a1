"""Shared fixtures: settings, app and test client, patient fixture loading."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from cds_service.config import PROJECT_ROOT, Settings
from cds_service.engine.mapping import Mappings, load_mappings
from cds_service.hooks.app import create_app

FIXTURES = Path(__file__).parent / "fixtures"
# The policy tests in tests/policies/<key>/ share their case builders through tests/policies/sentence_cases.py.
sys.path.insert(0, str(Path(__file__).parent / "policies"))


def load_fixture(name: str) -> Any:
    """A JSON file from tests/fixtures."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def mappings() -> Mappings:
    """The shipped mappings, loaded once for the whole run."""
    return load_mappings(PROJECT_ROOT / "mappings")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for tests: auth off, feedback in a temporary SQLite file."""
    return Settings(
        auth=False,
        feedback_db=str(tmp_path / "feedback.sqlite3"),
        replay_db=str(tmp_path / "replay.sqlite3"),
    )


@pytest.fixture
def app(settings: Settings):
    return create_app(settings)


@pytest.fixture
def client(app):
    return app.test_client()


def criterion_statuses(response_body: dict[str, Any]) -> dict[str, str]:
    """Criterion id → status across every evaluation in a hook response's ``iop-cds.evaluations``."""
    statuses: dict[str, str] = {}
    for evaluation in response_body.get("extension", {}).get("iop-cds.evaluations", []):
        for criterion in evaluation["criteria"]:
            statuses.setdefault(criterion["id"], criterion["status"])
    return statuses


def call_hook(client: Any, body: dict[str, Any]) -> dict[str, Any]:
    """POST a hook request to the service that answers its hook; asserts a 200 and returns the JSON body."""
    from cds_service.hooks.services import service_for_hook

    response = client.post(f"/cds-services/{service_for_hook(body['hook'])}", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


CRD_ACTION_TARGETS = {
    "order-sign": {"DeviceRequest", "MedicationRequest", "NutritionOrder", "ServiceRequest", "VisionPrescription"},
    "encounter-discharge": {"Encounter"},
}
COVERAGE_INFORMATION = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"


def assert_inferno_checks(body: dict[str, Any], hook: str) -> None:
    """The Inferno Da Vinci CRD server response checks (cds-hooks-and-crd.md §4) on one hook response."""
    assert isinstance(body.get("cards"), list)
    for card in body["cards"]:
        assert isinstance(card.get("uuid"), str) and card["uuid"]
        assert isinstance(card.get("summary"), str) and 0 < len(card["summary"]) < 140
        assert card.get("indicator") in {"info", "warning", "critical"}
        source = card.get("source")
        assert isinstance(source, dict) and source.get("label")
        assert source.get("topic", {}).get("code") and source["topic"].get("system")
        if card.get("suggestions"):
            assert card.get("selectionBehavior") in {"at-most-one", "any"}
            for suggestion in card["suggestions"]:
                assert suggestion.get("label") and suggestion.get("uuid") and suggestion.get("actions")
                for action in suggestion["actions"]:
                    assert action.get("type") in {"create", "update", "delete"} and action.get("description")
                    assert action["type"] == "delete" or isinstance(action.get("resource"), dict)
        for reason in card.get("overrideReasons", []):
            assert reason.get("code") and reason.get("system") and reason.get("display")
        for link in card.get("links", []):
            assert link.get("label") and link.get("url", "").startswith("http")
            assert link.get("type") in {"absolute", "smart"}
            assert link["type"] == "smart" or "appContext" not in link
    actions = body.get("systemActions", [])
    for action in actions:
        assert action.get("type") and action.get("description")
        assert action["type"] == "delete" or isinstance(action.get("resource"), dict)
    with_information = [
        a
        for a in actions
        if a.get("type") == "update"
        and a["resource"].get("resourceType") in CRD_ACTION_TARGETS[hook]
        and any(e.get("url") == COVERAGE_INFORMATION for e in a["resource"].get("extension", []))
    ]
    if hook == "order-sign":
        assert with_information, "order-sign must return a coverage-information systemAction"
    for action in with_information:
        for information in (e for e in action["resource"]["extension"] if e.get("url") == COVERAGE_INFORMATION):
            parts = [p["url"] for p in information["extension"]]
            assert parts.count("coverage-assertion-id") == 1 and "covered" in parts and "date" in parts
            if hook == "encounter-discharge":
                assert "doc-needed" not in parts, "CRD hook-19: no documentation request at encounter-discharge"


def reported_statuses(response_body: dict[str, Any]) -> dict[str, str]:
    """Like ``criterion_statuses``, with alternatives of an already-met one-of group reported as ``superseded``."""
    statuses: dict[str, str] = {}
    for evaluation in response_body.get("extension", {}).get("iop-cds.evaluations", []):
        for criterion in evaluation["criteria"]:
            statuses.setdefault(criterion["id"], "superseded" if criterion.get("superseded") else criterion["status"])
    return statuses


def golden(client: Any, name: str, hook: str, at: str, **options: Any) -> dict[str, Any]:
    """A golden patient (tests/fixtures/golden/NAME.json) through HTTP with full prefetch; checks Inferno's rules."""
    from cds_service.record.hook_requests import build_hook_request

    body = build_hook_request(load_fixture(f"golden/{name}.json"), hook, at=at, **options)
    result = call_hook(client, body)
    assert_inferno_checks(result, hook)
    return result


def assert_statuses(statuses: dict[str, str], expected: dict[str, list[str]]) -> None:
    """Every id listed under a status has that status (ids ending in '*' match a prefix)."""
    wrong = {}
    for status, ids in expected.items():
        for wanted in ids:
            matches = [k for k in statuses if k.startswith(wanted[:-1])] if wanted.endswith("*") else [wanted]
            assert matches, f"no criterion matches {wanted}"
            for key in matches:
                if statuses.get(key) != status:
                    wrong[key] = (statuses.get(key), status)
    assert not wrong, "criterion: (got, expected) " + repr(wrong)
