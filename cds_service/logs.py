"""Structured JSON logs: one object per line, with the ``hookInstance`` wherever a call is in progress."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
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


# gunicorn's access-log atoms kept, by name; never its header atoms (Authorization) nor the query string.
_ACCESS_ATOMS = {
    "m": "method",
    "U": "path",
    "s": "status",
    "B": "bytes",
    "M": "duration_ms",
    "h": "remote",
    "a": "user_agent",
}


class AccessJsonFormatter(JsonFormatter):
    """Render gunicorn's access record (its atoms in ``record.args``) as a JSON ``http.access`` event."""

    def format(self, record: logging.LogRecord) -> str:
        atoms = record.args if isinstance(record.args, Mapping) else {}
        fields: dict[str, Any] = {"event": "http.access"}
        for atom, name in _ACCESS_ATOMS.items():
            value = atoms.get(atom)
            if value in (None, "-"):
                continue
            fields[name] = int(value) if name == "status" and str(value).isdigit() else value
        access = logging.makeLogRecord({**record.__dict__, "msg": "http.access", "args": None, "fields": fields})
        return super().format(access)


def gunicorn_logconfig(level: str = "INFO") -> dict[str, Any]:
    """A ``logconfig_dict`` for gunicorn: its error and access logs, and any other logger, as JSON lines on stderr."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {"()": JsonFormatter},
            "access_json": {"()": AccessJsonFormatter},
        },
        "handlers": {
            "json_stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"},
            "access_stderr": {
                "class": "logging.StreamHandler",
                "formatter": "access_json",
                "stream": "ext://sys.stderr",
            },
        },
        # Libraries' warnings reach the root logger: JSON too, so that every stderr line parses.
        "root": {"level": "WARNING", "handlers": ["json_stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["json_stderr"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["access_stderr"], "propagate": False},
            "iop_cds": {"level": level, "handlers": ["json_stderr"], "propagate": False},
        },
    }


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
