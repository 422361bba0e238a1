"""Verify the CDS client's JWT: allowed algorithms, trusted issuer and keys, audience, lifetime, no replay."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import requests
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from cds_service.config import Settings, SettingsError

ALGORITHMS = ("ES256", "ES384", "RS256", "RS384")
JKU_TIMEOUT_SECONDS = 2.0
JKU_REFRESH_FLOOR_SECONDS = 30.0
"""A JWKS URL is fetched again for an unknown ``kid`` (key rotation) at most this often."""


class AuthError(Exception):
    """The call is not authenticated; ``reason`` is for the log only (the client gets a bare 401)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class TrustedIssuer:
    """An issuer the service trusts: keys from a local JWKS file and/or JWKS URLs on an allow-list."""

    iss: str
    keys: dict[str, Any] = field(default_factory=dict)
    jku: tuple[str, ...] = ()


def _public_key(jwk: dict[str, Any]) -> Any:
    """The public key of one JWK (EC or RSA); ValueError for anything else."""
    kty = jwk.get("kty")
    if kty == "EC":
        return ECAlgorithm.from_jwk(json.dumps(jwk))
    if kty == "RSA":
        return RSAAlgorithm.from_jwk(json.dumps(jwk))
    raise ValueError(f"unsupported key type {kty!r}")


def keys_of(jwks: Any) -> dict[str, Any]:
    """``kid`` → public key of a JWK Set (keys without a kid or of other types are skipped)."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise ValueError("not a JWK Set (expected an object with a 'keys' array)")
    keys = {}
    for jwk in jwks["keys"]:
        if isinstance(jwk, dict) and isinstance(jwk.get("kid"), str) and jwk.get("use", "sig") == "sig":
            try:
                keys[jwk["kid"]] = _public_key(jwk)
            except (ValueError, jwt.InvalidKeyError):
                continue
    return keys


def load_trusted_issuers(path: str) -> dict[str, TrustedIssuer]:
    """Read ``{"issuers": [{"iss", "jwks_file"?, "jku"?: [urls]}]}``; paths are relative to the file."""
    if not path:
        raise SettingsError(
            "IOP_CDS_AUTH is on but IOP_CDS_TRUSTED_ISSUERS_FILE is not set (see examples/trusted-issuers.sandbox.json)"
        )
    config = Path(path)
    try:
        doc = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SettingsError(f"trusted issuers file {path}: {exc}") from None
    entries = doc.get("issuers") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries:
        raise SettingsError(f"trusted issuers file {path}: needs a non-empty 'issuers' array")
    issuers: dict[str, TrustedIssuer] = {}
    for i, entry in enumerate(entries):
        where = f"trusted issuers file {path}: issuers[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("iss"), str) or not entry["iss"]:
            raise SettingsError(f"{where}: needs 'iss'")
        issuer = TrustedIssuer(entry["iss"])
        jku = entry.get("jku", [])
        if isinstance(jku, str):
            jku = [jku]
        if not isinstance(jku, list) or not all(isinstance(u, str) and u.startswith("https://") for u in jku):
            raise SettingsError(f"{where}: 'jku' must list https URLs")
        issuer.jku = tuple(jku)
        if entry.get("jwks_file"):
            jwks_path = (config.parent / entry["jwks_file"]).resolve()
            try:
                issuer.keys = keys_of(json.loads(jwks_path.read_text(encoding="utf-8")))
            except (OSError, ValueError) as exc:
                raise SettingsError(f"{where}: jwks_file {jwks_path}: {exc}") from None
        if not issuer.keys and not issuer.jku:
            raise SettingsError(f"{where}: needs 'jwks_file' (with keys) or 'jku'")
        issuers[issuer.iss] = issuer
    return issuers


class ReplayGuard:
    """Remembers each ``(iss, jti)`` in SQLite (shared by all workers) for as long as a token can be valid."""

    def __init__(self, path: str, window_seconds: int) -> None:
        self.path = path
        self.window = window_seconds

    def first_use(self, iss: str, jti: str, now: float) -> bool:
        """True the first time a jti is presented; False for a replay. Fails closed (AuthError) if unwritable."""
        try:
            connection = sqlite3.connect(self.path, timeout=2)
            try:
                with connection:
                    connection.execute("PRAGMA journal_mode=WAL")
                    connection.execute(
                        "CREATE TABLE IF NOT EXISTS seen_jti (iss TEXT NOT NULL, jti TEXT NOT NULL, "
                        "seen REAL NOT NULL, PRIMARY KEY (iss, jti))"
                    )
                    connection.execute("DELETE FROM seen_jti WHERE seen < ?", (now - self.window,))
                    cursor = connection.execute("INSERT OR IGNORE INTO seen_jti VALUES (?, ?, ?)", (iss, jti, now))
                    return cursor.rowcount == 1
            finally:
                connection.close()
        except sqlite3.Error as exc:
            raise AuthError(f"replay store unavailable: {exc}") from None


class JwksCache:
    """Keys fetched from allow-listed ``jku`` URLs, cached, refetched (rate-limited) when a kid is unknown."""

    def __init__(self, ttl_seconds: int) -> None:
        self.ttl = ttl_seconds
        self._entries: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def key(self, url: str, kid: str) -> Any:
        """The key ``kid`` of the JWKS at ``url``; AuthError when it cannot be had."""
        now = time.monotonic()
        with self._lock:
            fetched_at, keys = self._entries.get(url, (0.0, {}))
        stale = now - fetched_at > self.ttl
        if kid in keys and not stale:
            return keys[kid]
        if not stale and now - fetched_at < JKU_REFRESH_FLOOR_SECONDS:
            raise AuthError(f"unknown kid {kid!r} for {url} (refetched recently)")
        try:
            response = requests.get(url, timeout=JKU_TIMEOUT_SECONDS, headers={"Accept": "application/json"})
            response.raise_for_status()
            keys = keys_of(response.json())
        except (requests.RequestException, ValueError) as exc:
            raise AuthError(f"cannot fetch JWKS {url}: {type(exc).__name__}") from None
        with self._lock:
            self._entries[url] = (now, keys)
        if kid not in keys:
            raise AuthError(f"unknown kid {kid!r} in {url}")
        return keys[kid]


class ClientAuthenticator:
    """Checks the ``Authorization: Bearer <JWT>`` of every call against the trusted issuers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.issuers = load_trusted_issuers(settings.trusted_issuers_file)
        self.jwks = JwksCache(settings.jwks_cache_seconds)
        self.replay = ReplayGuard(
            settings.replay_db, settings.jwt_max_age_seconds + 2 * settings.jwt_clock_skew_seconds
        )

    def verify(self, authorization: str | None, audience: str) -> dict[str, Any]:
        """The token's claims when every check passes; AuthError naming the first that fails."""
        if not authorization or not authorization.startswith("Bearer ") or not authorization[7:].strip():
            raise AuthError("no bearer token")
        token = authorization[7:].strip()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise AuthError("malformed JWT") from None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise AuthError(f"algorithm {algorithm!r} not allowed")
        issuer = self.issuers.get(unverified.get("iss"))  # type: ignore[arg-type]
        if issuer is None:
            raise AuthError(f"untrusted issuer {unverified.get('iss')!r}")
        key = self._key(issuer, header)
        skew = self.settings.jwt_clock_skew_seconds
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=_audiences(audience),
                issuer=issuer.iss,
                leeway=skew,
                options={"require": ["iss", "aud", "exp", "iat", "jti"]},
            )
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid token: {type(exc).__name__}") from None
        now = time.time()
        if claims["iat"] > now + skew:
            raise AuthError("iat is in the future")
        if claims["iat"] < now - self.settings.jwt_max_age_seconds - skew:
            raise AuthError("token too old (iat)")
        if not isinstance(claims["jti"], str) or not claims["jti"]:
            raise AuthError("jti missing")
        if not self.replay.first_use(issuer.iss, claims["jti"], now):
            raise AuthError("jti replayed")
        return claims

    def _key(self, issuer: TrustedIssuer, header: dict[str, Any]) -> Any:
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise AuthError("kid missing")
        jku = header.get("jku")
        if jku is not None:
            if jku not in issuer.jku:
                raise AuthError(f"jku {jku!r} not on the allow-list of {issuer.iss}")
            return self.jwks.key(jku, kid)
        if kid in issuer.keys:
            return issuer.keys[kid]
        for url in issuer.jku:  # no jku header: the issuer's allow-listed JWKS may still hold the key
            try:
                return self.jwks.key(url, kid)
            except AuthError:
                continue
        raise AuthError(f"unknown kid {kid!r} for {issuer.iss}")


def _audiences(url: str) -> list[str]:
    """The URL called, with and without a trailing slash (both spell the same endpoint)."""
    base = url.rstrip("/")
    return [base, base + "/"]
