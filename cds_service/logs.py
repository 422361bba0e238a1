"""Structured JSON logs: one object per line, with the ``hookInstance`` wherever a call is in progress."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

# Keys whose values must never reach a log line, whatever the caller passes.
_SECRET_KEYS = {"access_token", "authorization", "token", "jwt", "fhirAuthorization"}
# Longest string a log field keeps: a client can send a 5 MB hookInstance, the log should not carry it.
MAX_FIELD_CHARS = 500


def _bounded(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
        return value[:MAX_FIELD_CHARS] + f"… ({len(value)} characters)"
    return value


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON object; ``extra={"fields": {...}}`` adds structured members."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            payload.update({k: _bounded(v) for k, v in fields.items() if v is not None and k not in _SECRET_KEYS})
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def configure_logging(level: str = "INFO") -> None:
    """Send the service's logs as JSON lines to stderr (idempotent)."""
    root = logging.getLogger("iop_cds")
    root.setLevel(level.upper())
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    root.propagate = True


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one structured event; ``None`` values are dropped and secret-looking keys never written."""
    logger.log(level, event, extra={"fields": {"event": event, **fields}})
