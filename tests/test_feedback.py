"""Feedback: CDS Hooks 2.0 validation, SQLite storage, duplicates counted once, an unwritable store loses nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cds_service.app import create_app
from cds_service.config import Settings
from cds_service.feedback import FeedbackStore

URL = "/cds-services/iop-order-sign/feedback"
ACCEPTED = {
    "card": "4f0d3b5c-4b38-4d83-9a6f-3f5a0d0b8a11",
    "outcome": "accepted",
    "acceptedSuggestions": [{"id": "7c9e6679-7425-40de-944b-e07fc1f90ae7"}],
    "outcomeTimestamp": "2025-03-03T10:05:00Z",
}
OVERRIDDEN = {
    "card": "9a1b3c44-5d6e-4f70-8a9b-0c1d2e3f4a5b",
    "outcome": "overridden",
    "overrideReason": {
        "reason": {"code": "patient-declined", "system": "urn:iop-cds:override", "display": "Patient declined"},
        "userComment": "wants to wait",
    },
    "outcomeTimestamp": "2025-03-03T10:06:00-05:00",
}


def rows(path: str) -> int:
    with sqlite3.connect(path) as connection:
        return int(connection.execute("SELECT COUNT(*) FROM feedback").fetchone()[0])


def test_accepted_and_overridden_items_are_stored(client: Any, settings: Settings) -> None:
    response = client.post(URL, json={"feedback": [ACCEPTED, OVERRIDDEN]})
    assert response.status_code == 200 and response.get_json() == {"received": 2, "stored": 2}
    assert rows(settings.feedback_db) == 2


def test_duplicates_are_accepted_but_counted_once(client: Any, settings: Settings) -> None:
    client.post(URL, json={"feedback": [ACCEPTED]})
    again = client.post(URL, json={"feedback": [ACCEPTED, ACCEPTED]})
    assert again.status_code == 200 and again.get_json() == {"received": 2, "stored": 0}
    assert rows(settings.feedback_db) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([ACCEPTED], "$"),
        ({"feedback": []}, "feedback"),
        ({"feedback": ["x"]}, "feedback[0]"),
        ({"feedback": [{**ACCEPTED, "card": 7}]}, "feedback[0].card"),
        ({"feedback": [{**ACCEPTED, "outcome": "ignored"}]}, "feedback[0].outcome"),
        ({"feedback": [{**ACCEPTED, "outcomeTimestamp": "yesterday"}]}, "feedback[0].outcomeTimestamp"),
        ({"feedback": [{**ACCEPTED, "outcomeTimestamp": "2025-03-03T10:05:00"}]}, "feedback[0].outcomeTimestamp"),
        (
            {"feedback": [{k: v for k, v in ACCEPTED.items() if k != "acceptedSuggestions"}]},
            "feedback[0].acceptedSuggestions",
        ),
        ({"feedback": [{**ACCEPTED, "acceptedSuggestions": [{"uuid": "x"}]}]}, "feedback[0].acceptedSuggestions[0].id"),
        (
            {"feedback": [OVERRIDDEN, {**OVERRIDDEN, "acceptedSuggestions": [{"id": "x"}]}]},
            "feedback[1].acceptedSuggestions",
        ),
        (
            {"feedback": [{**OVERRIDDEN, "overrideReason": {"reason": {"display": "no code"}}}]},
            "feedback[0].overrideReason.reason",
        ),
        ({"feedback": [{**ACCEPTED, "overrideReason": {"userComment": "x"}}]}, "feedback[0].overrideReason"),
    ],
)
def test_each_invalid_item_is_a_400_naming_the_field(client: Any, settings: Settings, body: Any, field: str) -> None:
    response = client.post(URL, json=body)
    assert response.status_code == 400
    assert response.get_json()["issue"][0]["expression"] == [field]
    assert not Path(settings.feedback_db).exists() or rows(settings.feedback_db) == 0


def test_unknown_service_and_malformed_json(client: Any) -> None:
    assert client.post("/cds-services/nope/feedback", json={"feedback": [ACCEPTED]}).status_code == 404
    response = client.post(URL, data="{oops", content_type="application/json")
    assert response.status_code == 400


def test_a_store_that_cannot_be_written_answers_503_and_keeps_what_it_had(tmp_path: Path) -> None:
    db = tmp_path / "feedback.sqlite3"
    client = create_app(Settings(auth=False, feedback_db=str(db), replay_db=str(tmp_path / "r.sqlite3"))).test_client()
    assert client.post(URL, json={"feedback": [ACCEPTED]}).status_code == 200
    client.application.extensions["iop_cds"]["feedback"].timeout = 0.2
    blocker = sqlite3.connect(db, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock past the busy timeout
    try:
        response = client.post(URL, json={"feedback": [OVERRIDDEN]})
        assert response.status_code == 503 and "retry" in response.get_json()["issue"][0]["diagnostics"]
    finally:
        blocker.rollback()
        blocker.close()
    assert FeedbackStore(str(db)).count() == 1  # the earlier item survived; the rejected one can be sent again
    assert client.post(URL, json={"feedback": [OVERRIDDEN]}).get_json()["stored"] == 1


def test_a_store_path_that_is_a_directory_answers_503(tmp_path: Path) -> None:
    client = create_app(Settings(auth=False, feedback_db=str(tmp_path), replay_db=str(tmp_path / "r.sqlite3")))
    assert client.test_client().post(URL, json={"feedback": [ACCEPTED]}).status_code == 503
