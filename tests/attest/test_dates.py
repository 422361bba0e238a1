"""The test helper that moves a golden patient to today keeps dates valid and offsets as they were."""

from __future__ import annotations

from datetime import UTC, datetime

from .dates import days_until_now, shift


def test_dates_and_date_times_move_by_whole_days_and_keep_their_offset() -> None:
    record = {"birthDate": "1988-02-28", "period": {"start": "2025-03-03T14:00:00-06:00", "end": "2025-03-01T09:00Z"}}
    assert shift(record, 2) == {
        "birthDate": "1988-03-01",
        "period": {"start": "2025-03-05T14:00:00-06:00", "end": "2025-03-03T09:00:00Z"},
    }
    assert shift({"code": "2025-03-03x", "id": "P2-order"}, 5) == {"code": "2025-03-03x", "id": "P2-order"}


def test_the_shift_lands_the_call_within_the_last_day() -> None:
    now = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)
    days = days_until_now("2025-03-03T14:00:00-06:00", now)
    moved = datetime.fromisoformat(shift("2025-03-03T14:00:00-06:00", days))
    assert 0 <= (now - moved).total_seconds() < 86400
