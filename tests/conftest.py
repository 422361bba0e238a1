"""Shared fixtures: settings, app and test client, patient fixture loading."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cds_service.app import create_app
from cds_service.config import Settings

FIXTURES = Path(__file__).parent / "fixtures"


def load_fixture(name: str) -> Any:
    """A JSON file from tests/fixtures."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


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
    from cds_service.hook_requests import service_for_hook

    response = client.post(f"/cds-services/{service_for_hook(body['hook'])}", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()
