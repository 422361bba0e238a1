"""Feedback: CDS Hooks 2.0 validation, SQLite storage, duplicates counted once, an unwritable store loses nothing."""

from __future__ import annotations

import json
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from cds_service.config import Settings
from cds_service.hooks.app import create_app
from cds_service.hooks.feedback import FeedbackStore, FeedbackStoreUnavailable, parse_feedback
from cds_service.hooks.protocol import ProtocolError

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
            "feedback[0].overrideReason.reason.code",
        ),
        ({"feedback": [{**ACCEPTED, "overrideReason": {"userComment": "x"}}]}, "feedback[0].overrideReason"),
        ({}, "feedback"),
        ({"feedback": {"card": "x"}}, "feedback"),
        ({"feedback": [{k: v for k, v in ACCEPTED.items() if k != "card"}]}, "feedback[0].card"),
        ({"feedback": [{**ACCEPTED, "card": ""}]}, "feedback[0].card"),
        ({"feedback": [{k: v for k, v in ACCEPTED.items() if k != "outcome"}]}, "feedback[0].outcome"),
        ({"feedback": [{**ACCEPTED, "outcome": "Accepted"}]}, "feedback[0].outcome"),
        (
            {"feedback": [{k: v for k, v in ACCEPTED.items() if k != "outcomeTimestamp"}]},
            "feedback[0].outcomeTimestamp",
        ),
        ({"feedback": [{**ACCEPTED, "outcomeTimestamp": 1741000000}]}, "feedback[0].outcomeTimestamp"),
        ({"feedback": [{**ACCEPTED, "outcomeTimestamp": "2025-03-03"}]}, "feedback[0].outcomeTimestamp"),
        ({"feedback": [{**ACCEPTED, "outcomeTimestamp": "2025-03-03T10Z"}]}, "feedback[0].outcomeTimestamp"),
        ({"feedback": [{**ACCEPTED, "outcomeTimestamp": "20250303T100500Z"}]}, "feedback[0].outcomeTimestamp"),
        ({"feedback": [{**ACCEPTED, "outcomeTimestamp": "2025-02-30T10:05:00Z"}]}, "feedback[0].outcomeTimestamp"),
        ({"feedback": [{**ACCEPTED, "outcomeTimestamp": "0001-01-01T00:00:00+01:00"}]}, "feedback[0].outcomeTimestamp"),
        ({"feedback": [{**ACCEPTED, "outcomeTimestamp": "9999-12-31T23:59:59-01:00"}]}, "feedback[0].outcomeTimestamp"),
        ({"feedback": [{**ACCEPTED, "outcomeTimestamp": "2025-03-03T10:05:00+24:00"}]}, "feedback[0].outcomeTimestamp"),
        ({"feedback": [{**ACCEPTED, "acceptedSuggestions": []}]}, "feedback[0].acceptedSuggestions"),
        ({"feedback": [{**ACCEPTED, "acceptedSuggestions": {"id": "x"}}]}, "feedback[0].acceptedSuggestions"),
        ({"feedback": [{**ACCEPTED, "acceptedSuggestions": ["x"]}]}, "feedback[0].acceptedSuggestions[0].id"),
        (
            {"feedback": [{**ACCEPTED, "acceptedSuggestions": [{"id": "a"}, {"id": ""}]}]},
            "feedback[0].acceptedSuggestions[1].id",
        ),
        ({"feedback": [{**OVERRIDDEN, "overrideReason": "patient declined"}]}, "feedback[0].overrideReason"),
        (
            {"feedback": [{**OVERRIDDEN, "overrideReason": {"reason": {"code": "x"}}}]},
            "feedback[0].overrideReason.reason.system",
        ),
        (
            {"feedback": [{**OVERRIDDEN, "overrideReason": {"reason": "patient-declined"}}]},
            "feedback[0].overrideReason.reason",
        ),
        (
            {"feedback": [{**OVERRIDDEN, "overrideReason": {"userComment": 5}}]},
            "feedback[0].overrideReason.userComment",
        ),
        ({"feedback": [ACCEPTED, OVERRIDDEN, {**OVERRIDDEN, "outcome": None}]}, "feedback[2].outcome"),
        ({"feedback": [ACCEPTED, {**OVERRIDDEN, "overrideReason": None}]}, "feedback[1].overrideReason"),
        ({"feedback": [{**OVERRIDDEN, "acceptedSuggestions": None}]}, "feedback[0].acceptedSuggestions"),
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


def test_the_503_path_leaves_no_open_descriptor(tmp_path: Path) -> None:
    db = tmp_path / "feedback.sqlite3"
    db.write_bytes(b"not a database" * 100)  # e.g. a volume mounted over the file, or a half-restored backup
    client = create_app(Settings(auth=False, feedback_db=str(db), replay_db=str(tmp_path / "r.sqlite3"))).test_client()
    client.post(URL, json={"feedback": [OVERRIDDEN]})  # warm up whatever the first call opens once
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        assert client.post(URL, json={"feedback": [OVERRIDDEN]}).status_code == 503
    assert len(os.listdir("/proc/self/fd")) <= before
    db.unlink()
    assert client.post(URL, json={"feedback": [OVERRIDDEN]}).status_code == 200  # recovered with the store


def test_a_store_path_that_is_a_directory_answers_503(tmp_path: Path) -> None:
    client = create_app(Settings(auth=False, feedback_db=str(tmp_path), replay_db=str(tmp_path / "r.sqlite3")))
    assert client.test_client().post(URL, json={"feedback": [ACCEPTED]}).status_code == 503


def test_optional_members_may_be_omitted_and_unknown_members_are_ignored(client: Any, settings: Settings) -> None:
    bare_override = {k: v for k, v in OVERRIDDEN.items() if k != "overrideReason"}
    comment_only = {**OVERRIDDEN, "card": "c-2", "overrideReason": {"userComment": "not now"}}
    extra = {**ACCEPTED, "card": "c-3", "extension": {"vendor.x": 1}, "somethingNew": True}
    response = client.post(URL, json={"feedback": [bare_override, comment_only, extra], "extension": {}})
    assert response.status_code == 200 and response.get_json()["stored"] == 3


def test_the_same_instant_in_another_zone_is_the_same_outcome(client: Any, settings: Settings) -> None:
    client.post(URL, json={"feedback": [OVERRIDDEN]})  # 10:06:00-05:00
    same = {**OVERRIDDEN, "outcomeTimestamp": "2025-03-03T15:06:00.000Z"}
    later = {**OVERRIDDEN, "outcomeTimestamp": "2025-03-03T15:07:00Z"}
    assert client.post(URL, json={"feedback": [same, later]}).get_json() == {"received": 2, "stored": 1}
    with sqlite3.connect(settings.feedback_db) as connection:
        stamps = [r[0] for r in connection.execute("SELECT outcome_timestamp FROM feedback ORDER BY 1")]
    assert stamps == ["2025-03-03T15:06:00Z", "2025-03-03T15:07:00Z"]


def test_each_service_keeps_its_own_feedback(client: Any, settings: Settings) -> None:
    client.post(URL, json={"feedback": [ACCEPTED]})
    other = client.post("/cds-services/iop-encounter-discharge/feedback", json={"feedback": [ACCEPTED]})
    assert other.get_json()["stored"] == 1
    store = FeedbackStore(settings.feedback_db)
    assert store.count() == 2 and store.count("iop-order-sign") == 1 and store.count("iop-encounter-discharge") == 1


def test_a_stored_row_keeps_the_whole_item_in_a_wal_database(client: Any, settings: Settings) -> None:
    client.post(URL, json={"feedback": [ACCEPTED, OVERRIDDEN]})
    with sqlite3.connect(settings.feedback_db) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        found = {
            r[0]: r[1:]
            for r in connection.execute(
                "SELECT card, service, outcome, accepted_suggestions, override_reason, received_at FROM feedback"
            )
        }
    service, outcome, accepted, reason, received_at = found[ACCEPTED["card"]]
    assert (service, outcome, reason) == ("iop-order-sign", "accepted", None)
    assert json.loads(accepted) == ACCEPTED["acceptedSuggestions"] and received_at.endswith("Z")
    assert json.loads(found[OVERRIDDEN["card"]][3]) == OVERRIDDEN["overrideReason"]


def test_a_batch_is_stored_whole_or_not_at_all(tmp_path: Path) -> None:
    db = str(tmp_path / "feedback.sqlite3")
    store = FeedbackStore(db)
    first = parse_feedback({"feedback": [ACCEPTED]})
    assert store.save("iop-order-sign", first) == 1
    with sqlite3.connect(db) as connection:  # a write that fails half-way, as a full disk would
        connection.execute(
            "CREATE TRIGGER boom BEFORE INSERT ON feedback WHEN NEW.card = 'boom'"
            " BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
        )
    batch = parse_feedback({"feedback": [OVERRIDDEN, {**OVERRIDDEN, "card": "boom"}]})
    with pytest.raises(FeedbackStoreUnavailable):
        store.save("iop-order-sign", batch)
    assert rows(db) == 1  # neither item of the failed batch, and the earlier one intact


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    db = str(tmp_path / "feedback.sqlite3")

    def write(worker: int) -> int:
        items = parse_feedback({"feedback": [{**ACCEPTED, "card": f"w{worker}-{n}"} for n in range(25)] + [ACCEPTED]})
        return FeedbackStore(db).save("iop-order-sign", items)

    with ThreadPoolExecutor(max_workers=8) as pool:
        stored = list(pool.map(write, range(8)))
    assert sum(stored) == 8 * 25 + 1 and rows(db) == 8 * 25 + 1


def _store_with_one_item(tmp_path: Path) -> tuple[Any, Path]:
    db = tmp_path / "store" / "feedback.sqlite3"
    client = create_app(Settings(auth=False, feedback_db=str(db), replay_db=str(tmp_path / "r.sqlite3"))).test_client()
    assert client.post(URL, json={"feedback": [ACCEPTED]}).get_json()["stored"] == 1
    return client, db


def test_a_corrupt_database_file_answers_503_and_is_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "feedback.sqlite3"
    db.write_bytes(b"not a database, but somebody's data" * 200)
    client = create_app(Settings(auth=False, feedback_db=str(db), replay_db=str(tmp_path / "r.sqlite3")))
    response = client.test_client().post(URL, json={"feedback": [ACCEPTED]})
    assert response.status_code == 503 and response.get_json()["resourceType"] == "OperationOutcome"
    assert db.read_bytes() == b"not a database, but somebody's data" * 200


def test_a_store_under_a_file_answers_503(tmp_path: Path) -> None:
    (tmp_path / "plain-file").write_text("x")
    db = tmp_path / "plain-file" / "feedback.sqlite3"
    client = create_app(Settings(auth=False, feedback_db=str(db), replay_db=str(tmp_path / "r.sqlite3")))
    assert client.test_client().post(URL, json={"feedback": [ACCEPTED]}).status_code == 503


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_directory_answers_503_and_keeps_what_it_had(tmp_path: Path) -> None:
    client, db = _store_with_one_item(tmp_path)
    files = list(db.parent.iterdir())  # the database and any WAL / shared-memory files beside it
    for path in files:
        path.chmod(0o444)
    db.parent.chmod(0o555)
    try:
        response = client.post(URL, json={"feedback": [OVERRIDDEN]})
        assert response.status_code == 503
    finally:
        db.parent.chmod(0o755)
        for path in files:
            path.chmod(0o644)
    assert rows(str(db)) == 1
    assert client.post(URL, json={"feedback": [OVERRIDDEN]}).get_json()["stored"] == 1


@hypothesis_settings(max_examples=150, deadline=None)
@given(
    when=st.datetimes(),
    offset_minutes=st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59),
    timespec=st.sampled_from(["seconds", "milliseconds", "microseconds"]),
)
def test_any_zoned_timestamp_is_stored_as_its_utc_instant_or_refused(
    when: datetime, offset_minutes: int, timespec: str
) -> None:
    zone = timezone(timedelta(minutes=offset_minutes))
    text = when.replace(tzinfo=zone).isoformat(timespec=timespec)
    try:
        (item,) = parse_feedback({"feedback": [{**ACCEPTED, "outcomeTimestamp": text}]})
    except ProtocolError as error:
        assert error.field == "feedback[0].outcomeTimestamp"
        return
    stored = datetime.fromisoformat(item["outcomeTimestamp"].replace("Z", "+00:00"))
    assert item["outcomeTimestamp"].endswith("Z") and stored == datetime.fromisoformat(text)
