"""CDS Hooks feedback: validate each item, store it once in SQLite, never lose what was stored."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cds_service.hooks.protocol import ProtocolError

OUTCOMES = ("accepted", "overridden")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    service TEXT NOT NULL,
    card TEXT NOT NULL,
    outcome TEXT NOT NULL,
    outcome_timestamp TEXT NOT NULL,
    accepted_suggestions TEXT,
    override_reason TEXT,
    received_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (service, card, outcome, outcome_timestamp)
)
"""


class FeedbackStoreUnavailable(Exception):
    """The feedback database cannot be opened or written; nothing stored before is affected."""


# RFC 3339 date-time (ISO 8601 profile): full date, full time with seconds, optional fraction, and a zone.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?", re.ASCII)


MAX_ID_CHARS = 128
MAX_COMMENT_CHARS = 2000
MAX_CODE_CHARS = 512


def _bounded(value: str, field: str, limit: int) -> None:
    if len(value) > limit:
        raise ProtocolError(field, f"is longer than {limit} characters")


def _timestamp(value: Any, field: str) -> str:
    """The instant ``value`` names, normalised to UTC (``...Z``) so one outcome has one key however it is spelled."""
    match = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ProtocolError(field, "must be an RFC 3339 date-time, e.g. 2025-03-03T10:05:00Z")
    if match.group(2) is None:
        raise ProtocolError(field, "needs a time zone (Z or an offset)")
    text = value.upper().replace("Z", "+00:00")
    if match.group(1) and len(match.group(1)) > 7:  # Python parses at most microseconds
        text = text[: match.start(1) + 7] + text[match.end(1) :]
    try:
        instant = datetime.fromisoformat(text).astimezone(UTC)
    except (ValueError, OverflowError):  # e.g. 2025-02-30, or 0001-01-01T00:00:00+01:00 (before year 1 in UTC)
        raise ProtocolError(field, "must be an RFC 3339 date-time, e.g. 2025-03-03T10:05:00Z") from None
    return instant.isoformat().replace("+00:00", "Z")


def _coding(value: Any, field: str) -> None:
    """Check a CDS Hooks Coding: ``code`` and ``system`` required strings, ``display`` a string if present."""
    if not isinstance(value, dict):
        raise ProtocolError(field, "must be a Coding with a code and a system")
    for member in ("code", "system"):
        if not isinstance(value.get(member), str) or not value[member]:
            raise ProtocolError(f"{field}.{member}", "is required and must be a non-empty string")
        _bounded(value[member], f"{field}.{member}", MAX_CODE_CHARS)
    if "display" in value:
        if not isinstance(value["display"], str):
            raise ProtocolError(f"{field}.display", "must be a string")
        _bounded(value["display"], f"{field}.display", MAX_CODE_CHARS)


def parse_feedback(body: Any, max_items: int = 100) -> list[dict[str, Any]]:
    """The validated feedback items of a request body; raises ProtocolError naming the offending field."""
    if not isinstance(body, dict):
        raise ProtocolError("$", "the body must be a JSON object with a 'feedback' array")
    items = body.get("feedback")
    if not isinstance(items, list) or not items:
        raise ProtocolError("feedback", "must be a non-empty array")
    if len(items) > max_items:
        raise ProtocolError("feedback", f"holds {len(items)} items; at most {max_items} per request")
    parsed = []
    for i, item in enumerate(items):
        where = f"feedback[{i}]"
        if not isinstance(item, dict):
            raise ProtocolError(where, "must be an object")
        card = item.get("card")
        if not isinstance(card, str) or not card:
            raise ProtocolError(f"{where}.card", "must be the uuid of the card")
        _bounded(card, f"{where}.card", MAX_ID_CHARS)
        outcome = item.get("outcome")
        if outcome not in OUTCOMES:
            raise ProtocolError(f"{where}.outcome", "must be 'accepted' or 'overridden'")
        timestamp = _timestamp(item.get("outcomeTimestamp"), f"{where}.outcomeTimestamp")
        accepted = item.get("acceptedSuggestions")
        reason = item.get("overrideReason")
        if outcome == "accepted":
            if not isinstance(accepted, list) or not accepted:
                raise ProtocolError(f"{where}.acceptedSuggestions", "is required when the outcome is accepted")
            for j, suggestion in enumerate(accepted):
                suggestion_id = suggestion.get("id") if isinstance(suggestion, dict) else None
                if not isinstance(suggestion_id, str) or not suggestion_id:
                    raise ProtocolError(f"{where}.acceptedSuggestions[{j}].id", "must be a suggestion uuid")
                _bounded(suggestion_id, f"{where}.acceptedSuggestions[{j}].id", MAX_ID_CHARS)
            if "overrideReason" in item:
                raise ProtocolError(f"{where}.overrideReason", "is only allowed when the outcome is overridden")
        else:
            if "acceptedSuggestions" in item:
                raise ProtocolError(f"{where}.acceptedSuggestions", "is only allowed when the outcome is accepted")
            if "overrideReason" in item:  # present means an object: null is not "no reason" in the contract
                if not isinstance(reason, dict):
                    raise ProtocolError(f"{where}.overrideReason", "must be an object with reason and userComment")
                if "reason" in reason:
                    _coding(reason["reason"], f"{where}.overrideReason.reason")
                if "userComment" in reason:
                    if not isinstance(reason["userComment"], str):
                        raise ProtocolError(f"{where}.overrideReason.userComment", "must be a string")
                    _bounded(reason["userComment"], f"{where}.overrideReason.userComment", MAX_COMMENT_CHARS)
        parsed.append(
            {
                "card": card,
                "outcome": outcome,
                "outcomeTimestamp": timestamp,
                "acceptedSuggestions": accepted,
                "overrideReason": reason,
            }
        )
    return parsed


class FeedbackStore:
    """Feedback items in one SQLite file, shared safely by several worker processes."""

    def __init__(self, path: str, timeout: float = 5.0) -> None:
        self.path = path
        self.timeout = timeout
        """Seconds to wait for another process's write lock before answering 503."""

    def _connect(self) -> sqlite3.Connection:
        connection = None
        try:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=self.timeout)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(_SCHEMA)
            return connection
        except (OSError, sqlite3.Error) as exc:
            if connection is not None:
                connection.close()  # a connection left open on this path leaked one descriptor per 503
            raise FeedbackStoreUnavailable(f"cannot open {self.path}: {exc}") from None

    def save(self, service_id: str, items: list[dict[str, Any]]) -> int:
        """Store every item in one transaction; duplicates are accepted and counted once. Returns new rows."""
        connection = self._connect()
        try:
            with connection:
                before = connection.total_changes
                connection.executemany(
                    "INSERT OR IGNORE INTO feedback (service, card, outcome, outcome_timestamp, accepted_suggestions,"
                    " override_reason) VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (
                            service_id,
                            i["card"],
                            i["outcome"],
                            i["outcomeTimestamp"],
                            json.dumps(i["acceptedSuggestions"]) if i["acceptedSuggestions"] is not None else None,
                            json.dumps(i["overrideReason"]) if i["overrideReason"] is not None else None,
                        )
                        for i in items
                    ],
                )
                return connection.total_changes - before
        except sqlite3.Error as exc:
            raise FeedbackStoreUnavailable(f"cannot write {self.path}: {exc}") from None
        finally:
            connection.close()

    def count(self, service_id: str | None = None) -> int:
        """Stored items (for one service, or all)."""
        connection = self._connect()
        try:
            if service_id is None:
                return int(connection.execute("SELECT COUNT(*) FROM feedback").fetchone()[0])
            query = "SELECT COUNT(*) FROM feedback WHERE service = ?"
            return int(connection.execute(query, (service_id,)).fetchone()[0])
        finally:
            connection.close()
