"""Placeholder: feedback validation and storage (being built)."""

from __future__ import annotations

from typing import Any


class FeedbackStoreUnavailable(Exception):
    pass


def parse_feedback(body: Any) -> list[dict[str, Any]]:
    return list(body.get("feedback", []))


class FeedbackStore:
    def __init__(self, path: str) -> None:
        self.path = path

    def save(self, service_id: str, items: list[dict[str, Any]]) -> int:
        return 0
