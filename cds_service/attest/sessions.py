"""Server-side attestation sessions keyed by an opaque cookie: the SMART token stays in this process's memory only."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class AttestSession:
    """One launch: PKCE and state before authorization; token, patient, user and launch context after it."""

    iss: str
    launch: str
    smart: dict[str, Any] = field(repr=False)
    state: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    code_verifier: str = field(default_factory=lambda: secrets.token_urlsafe(64), repr=False)
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    expires: float = 0.0
    access_token: str | None = field(default=None, repr=False)
    patient: str | None = None
    user: str | None = None
    app_context: dict[str, Any] | None = None
    before: dict[str, Any] | None = None
    result: dict[str, Any] | None = None

    @property
    def authorized(self) -> bool:
        return self.access_token is not None


class SessionStore:
    """Sessions in memory with an expiry and a size cap (the oldest go first); thread-safe."""

    def __init__(self, lifetime_seconds: float, max_sessions: int = 1000) -> None:
        self.lifetime = lifetime_seconds
        self.max_sessions = max_sessions
        self._sessions: dict[str, AttestSession] = {}
        self._lock = threading.Lock()

    def create(self, session: AttestSession) -> str:
        """Store a new session; returns its opaque id (the cookie value)."""
        sid = secrets.token_urlsafe(32)
        session.expires = time.monotonic() + self.lifetime
        with self._lock:
            self._prune()
            while len(self._sessions) >= self.max_sessions:
                self._sessions.pop(next(iter(self._sessions)))
            self._sessions[sid] = session
        return sid

    def get(self, sid: str | None) -> AttestSession | None:
        """The live session of a cookie value, or None (unknown or expired)."""
        if not sid:
            return None
        with self._lock:
            self._prune()
            return self._sessions.get(sid)

    def drop(self, sid: str | None) -> None:
        """Forget a session and the token it holds."""
        if sid:
            with self._lock:
                self._sessions.pop(sid, None)

    def __len__(self) -> int:
        with self._lock:
            self._prune()
            return len(self._sessions)

    def _prune(self) -> None:
        now = time.monotonic()
        for sid in [k for k, s in self._sessions.items() if s.expires <= now]:
            del self._sessions[sid]
