"""Who may open the console: a browser that entered the console token (a signed, expiring cookie) or a Bearer token.

The CDS Hooks JWT is signed by an EHR for each call; a browser has no such key. So when ``IOP_CDS_AUTH`` is on the
console needs its own secret (``IOP_CDS_CONSOLE_TOKEN``) and is refused without one; when auth is off and no token
is set (a developer's machine) it is open.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

from cds_service.config import Settings

COOKIE = "iop_cds_console"
COOKIE_PATH = "/console"
SESSION_SECONDS = 8 * 3600
_PURPOSE = b"iop-cds console session v1"


class ConsoleAccess:
    """Checks a request's cookie or ``Authorization`` header against the configured console token."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.token = settings.console_token
        self.auth_on = settings.auth
        self.clock = clock

    @property
    def refused(self) -> bool:
        """True when the console may not be opened at all: auth is on and no console token is configured."""
        return self.auth_on and not self.token

    @property
    def open(self) -> bool:
        """True when no token is needed: auth is off and none is configured."""
        return not self.auth_on and not self.token

    def _now(self) -> int:
        return int(self.clock())

    def _signature(self, expires: int) -> str:
        message = _PURPOSE + b"|" + str(expires).encode()
        return hmac.new(self.token.encode(), message, hashlib.sha256).hexdigest()

    def token_matches(self, candidate: str) -> bool:
        """True when ``candidate`` is the console token (compared in constant time)."""
        return bool(self.token) and hmac.compare_digest(candidate.encode(), self.token.encode())

    def session_cookie(self) -> tuple[str, int]:
        """A cookie value proving the token was entered, and its lifetime in seconds."""
        expires = self._now() + SESSION_SECONDS
        return f"{expires}.{self._signature(expires)}", SESSION_SECONDS

    def allows(self, cookie: str | None, authorization: str | None) -> bool:
        """True when the request may see the console: open, a valid unexpired cookie, or ``Bearer <token>``."""
        if self.open:
            return True
        if self.refused:
            return False
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() == "bearer" and self.token_matches(value.strip()):
                return True
        if not cookie or "." not in cookie:
            return False
        expires_text, _, signature = cookie.partition(".")
        if not expires_text.isdigit() or int(expires_text) <= self._now():
            return False
        return hmac.compare_digest(signature, self._signature(int(expires_text)))
