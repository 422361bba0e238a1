"""Placeholder: JWT verification of CDS clients (being built)."""

from __future__ import annotations

from cds_service.config import Settings


class AuthError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ClientAuthenticator:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def verify(self, authorization: str | None, audience: str) -> dict:
        raise AuthError("not built yet")
