"""Move a FHIR Bundle in time by whole days, so a golden patient's story ends today (attestations count from now)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})")


def days_until_now(at: str, now: datetime) -> int:
    """Whole days to add to ``at`` so it falls within the last 24 hours before ``now``."""
    return (now - datetime.fromisoformat(at)).days


def shift(value: Any, days: int) -> Any:
    """``value`` with every FHIR date and dateTime string moved by ``days`` (offsets kept; other values as is)."""
    if isinstance(value, dict):
        return {k: shift(v, days) for k, v in value.items()}
    if isinstance(value, list):
        return [shift(v, days) for v in value]
    if isinstance(value, str):
        if _DATE.fullmatch(value):
            return (date.fromisoformat(value) + timedelta(days=days)).isoformat()
        if _DATETIME.fullmatch(value):
            moved = datetime.fromisoformat(value) + timedelta(days=days)
            text = moved.isoformat()
            return text[:-6] + "Z" if value.endswith("Z") and text.endswith("+00:00") else text
    return value
