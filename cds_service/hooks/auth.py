"""Verify the CDS client's JWT: allowed algorithms, trusted issuer and keys, audience, lifetime, no replay.

CDS Hooks 2.0 "Trusting CDS Clients": every call carries ``Authorization: Bearer <JWT>`` signed with an
asymmetric key of a trusted issuer; ``aud`` is the URL called; ``exp``, ``iat`` and ``jti`` are required.
Trusted issuers are configured in one JSON file (``IOP_CDS_TRUSTED_ISSUERS_FILE``)::

    {"issuers": [{"iss": "https://sandbox.cds-hooks.org",
                  "jwks_file": "cds-hooks-sandbox-jwks.json",
                  "jku": ["https://sandbox.cds-hooks.org/.well-known/jwks.json"]}]}

``jwks_file`` is relative to the configuration file; ``jku`` lists the only JWKS URLs that may be fetched.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import requests
import urllib3
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from cds_service.config import Settings, SettingsError

ALGORITHMS: dict[str, tuple[str, str | None]] = {
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
}
"""The only accepted ``alg`` values, with the key type (and curve) each needs; never ``none`` or HMAC."""
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "jti")
MIN_RSA_BITS = 2048
MAX_TOKEN_CHARS = 16_384
MAX_JTI_CHARS = 512
JKU_TIMEOUT_SECONDS = 2.0
JKU_REFRESH_FLOOR_SECONDS = 30.0
"""A JWKS URL is fetched again (unknown ``kid``, failed fetch) at most this often."""
MAX_JWKS_BYTES = 256 * 1024
REPLAY_BUSY_TIMEOUT_SECONDS = 1.0
REPLAY_PURGE_INTERVAL_SECONDS = 60.0
ISSUER_FIELDS = {"iss", "jwks_file", "jku"}


class AuthError(Exception):
    """The call is not authenticated; ``reason`` is for the log only (the client gets a bare 401)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _show(value: object, limit: int = 80) -> str:
    """A short repr of an untrusted value for a log reason (never the whole of a long string)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class SigningKey:
    """One public key of a JWK Set, with what it may verify."""

    kid: str
    key: Any
    kty: str
    crv: str | None = None
    alg: str | None = None
    """The JWK's own ``alg``, when it declares one: then only that algorithm may use the key."""

    def describe(self) -> str:
        """Key type, curve and declared alg, for a log reason."""
        return " ".join(part for part in (self.kty, self.crv, self.alg and f"alg {self.alg}") if part)

    def allows(self, algorithm: str) -> bool:
        """True when a token of ``algorithm`` may be verified with this key (type, curve and declared alg)."""
        kty, crv = ALGORITHMS[algorithm]
        return self.kty == kty and (crv is None or self.crv == crv) and self.alg in (None, algorithm)


def signing_key(jwk: dict[str, Any]) -> SigningKey:
    """The SigningKey of one JWK; ValueError when it is not a usable EC P-256/P-384 or RSA ≥2048 public key."""
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid:
        raise ValueError("key without a 'kid'")
    alg = jwk.get("alg")
    if alg is not None and alg not in ALGORITHMS:
        raise ValueError(f"key {kid!r}: alg {_show(alg)} is not one of {', '.join(ALGORITHMS)}")
    kty = jwk.get("kty")
    try:
        if kty == "EC":
            key = ECAlgorithm.from_jwk(json.dumps(jwk))
            if isinstance(key, ec.EllipticCurvePrivateKey):
                key = key.public_key()
            crv = jwk.get("crv")
            if crv not in ("P-256", "P-384"):
                raise ValueError(f"key {kid!r}: curve {_show(crv)} is not P-256 or P-384")
            return SigningKey(kid, key, "EC", crv, alg)
        if kty == "RSA":
            key = RSAAlgorithm.from_jwk(json.dumps(jwk))
            if isinstance(key, rsa.RSAPrivateKey):
                key = key.public_key()
            if key.key_size < MIN_RSA_BITS:
                raise ValueError(f"key {kid!r}: RSA key of {key.key_size} bits (at least {MIN_RSA_BITS} needed)")
            return SigningKey(kid, key, "RSA", None, alg)
    except jwt.InvalidKeyError as exc:
        raise ValueError(f"key {kid!r}: {exc}") from None
    raise ValueError(f"key {kid!r}: unsupported key type {_show(kty)}")


def keys_of(jwks: Any) -> tuple[dict[str, SigningKey], list[str]]:
    """``kid`` → SigningKey of a JWK Set, and why other keys were skipped (encryption keys are skipped silently)."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise ValueError("not a JWK Set (expected an object with a 'keys' array)")
    keys: dict[str, SigningKey] = {}
    skipped: list[str] = []
    for jwk in jwks["keys"]:
        if not isinstance(jwk, dict):
            skipped.append("a key that is not an object")
            continue
        if jwk.get("use", "sig") != "sig":
            continue
        try:
            key = signing_key(jwk)
        except ValueError as exc:
            skipped.append(str(exc))
            continue
        keys.setdefault(key.kid, key)
    return keys, skipped


@dataclass
class TrustedIssuer:
    """An issuer the service trusts: keys from a local JWKS file and/or JWKS URLs on an allow-list."""

    iss: str
    keys: dict[str, SigningKey] = field(default_factory=dict)
    jku: tuple[str, ...] = ()


def load_trusted_issuers(path: str) -> dict[str, TrustedIssuer]:
    """Read and validate the trusted issuers file; SettingsError naming the file and the problem."""
    if not path:
        raise SettingsError(
            "IOP_CDS_AUTH is on but IOP_CDS_TRUSTED_ISSUERS_FILE is not set (see examples/trusted-issuers.sandbox.json)"
        )
    config = Path(path)
    try:
        doc = json.loads(config.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"trusted issuers file {path}: cannot be read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise SettingsError(f"trusted issuers file {path}: not valid JSON ({exc})") from None
    entries = doc.get("issuers") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries:
        raise SettingsError(f"trusted issuers file {path}: needs a non-empty 'issuers' array")
    issuers: dict[str, TrustedIssuer] = {}
    for i, entry in enumerate(entries):
        where = f"trusted issuers file {path}: issuers[{i}]"
        if not isinstance(entry, dict):
            raise SettingsError(f"{where}: must be an object")
        unknown = sorted(set(entry) - ISSUER_FIELDS)
        if unknown:
            raise SettingsError(f"{where}: unknown field(s) {', '.join(unknown)} (allowed: iss, jwks_file, jku)")
        iss = entry.get("iss")
        if not isinstance(iss, str) or not iss:
            raise SettingsError(f"{where}: needs 'iss' (a non-empty string)")
        if iss in issuers:
            raise SettingsError(f"{where}: issuer {iss!r} is listed twice")
        issuer = TrustedIssuer(iss, jku=_jku_list(entry.get("jku", []), where))
        jwks_file = entry.get("jwks_file")
        if jwks_file is not None:
            issuer.keys = _jwks_file_keys(config.parent, jwks_file, where)
        elif not issuer.jku:
            raise SettingsError(f"{where}: needs 'jwks_file' or a non-empty 'jku' list")
        issuers[iss] = issuer
    return issuers


def _jku_list(value: Any, where: str) -> tuple[str, ...]:
    """The ``jku`` allow-list of one issuer entry (a URL or a list of https URLs)."""
    urls = [value] if isinstance(value, str) else value
    if not isinstance(urls, list) or not all(isinstance(u, str) and u.startswith("https://") for u in urls):
        raise SettingsError(f"{where}: 'jku' must be a list of https URLs")
    return tuple(urls)


def _jwks_file_keys(folder: Path, jwks_file: Any, where: str) -> dict[str, SigningKey]:
    """The signing keys of a JWKS file named relative to the trusted issuers file; at least one is needed."""
    if not isinstance(jwks_file, str) or not jwks_file:
        raise SettingsError(f"{where}: 'jwks_file' must be a file name")
    jwks_path = (folder / jwks_file).resolve()
    try:
        keys, skipped = keys_of(json.loads(jwks_path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise SettingsError(f"{where}: jwks_file {jwks_path} cannot be read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise SettingsError(f"{where}: jwks_file {jwks_path}: {exc}") from None
    if not keys:
        detail = f" ({'; '.join(skipped)})" if skipped else ""
        raise SettingsError(f"{where}: jwks_file {jwks_path} holds no usable signing key{detail}")
    return keys


class ReplayGuard:
    """Remembers each ``(iss, jti)`` in SQLite, shared by all workers, until the token could no longer be valid."""

    def __init__(self, path: str) -> None:
        if not path or path == ":memory:" or path.startswith("file::memory:"):
            raise SettingsError("IOP_CDS_REPLAY_DB must name a file shared by all workers")
        self.path = path
        self.busy_timeout = REPLAY_BUSY_TIMEOUT_SECONDS
        self._next_purge = 0.0
        try:
            connection = sqlite3.connect(path, timeout=self.busy_timeout)
            try:
                connection.execute("PRAGMA journal_mode=WAL")
                self._create(connection)
            finally:
                connection.close()
        except sqlite3.Error as exc:
            raise SettingsError(f"IOP_CDS_REPLAY_DB {path}: cannot be opened for writing ({exc})") from None

    @staticmethod
    def _create(connection: sqlite3.Connection) -> None:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS client_jti (iss TEXT NOT NULL, jti TEXT NOT NULL, "
            "expires REAL NOT NULL, PRIMARY KEY (iss, jti))"
        )
        connection.execute("CREATE INDEX IF NOT EXISTS client_jti_expires ON client_jti (expires)")
        connection.commit()

    def first_use(self, iss: str, jti: str, expires: float, now: float) -> bool:
        """True the first time ``(iss, jti)`` is seen, False for a replay; AuthError (fail closed) if unwritable."""
        try:
            connection = sqlite3.connect(self.path, timeout=self.busy_timeout)
        except sqlite3.Error as exc:
            raise AuthError(f"replay store unavailable: {exc}") from None
        try:
            with connection:
                if now >= self._next_purge:
                    connection.execute("DELETE FROM client_jti WHERE expires < ?", (now,))
                connection.execute("INSERT INTO client_jti (iss, jti, expires) VALUES (?, ?, ?)", (iss, jti, expires))
            if now >= self._next_purge:
                self._next_purge = now + REPLAY_PURGE_INTERVAL_SECONDS
            return True
        except sqlite3.IntegrityError:
            return False
        except sqlite3.Error as exc:
            raise AuthError(f"replay store unavailable: {exc}") from None
        finally:
            connection.close()


@dataclass
class _FetchedJwks:
    keys: dict[str, SigningKey] = field(default_factory=dict)
    fetched_at: float | None = None
    attempted_at: float | None = None


class JwksCache:
    """Keys of allow-listed ``jku`` URLs: cached for a TTL, refetched on an unknown kid at most every 30 s."""

    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl_seconds
        self.clock = clock
        self._entries: dict[str, _FetchedJwks] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def key(self, url: str, kid: str) -> SigningKey:
        """The key ``kid`` of the JWKS at ``url`` (fetching it when needed); AuthError when it cannot be had."""
        cached = self._fresh(url, kid)
        if cached is not None:  # no lock: a known kid never waits behind another caller's fetch
            return cached
        with self._guard:
            lock = self._locks.setdefault(url, threading.Lock())
        with lock:  # one fetch per URL at a time; waiting callers then see its result
            entry = self._entries.setdefault(url, _FetchedJwks())
            now = self.clock()
            fresh = entry.fetched_at is not None and now - entry.fetched_at < self.ttl
            if fresh and kid in entry.keys:
                return entry.keys[kid]
            if entry.attempted_at is not None and now - entry.attempted_at < JKU_REFRESH_FLOOR_SECONDS:
                if entry.fetched_at != entry.attempted_at:
                    raise AuthError(f"JWKS {url} unavailable (last fetch failed; retrying later)")
                raise AuthError(f"unknown kid {_show(kid)} at {url} (JWKS refetched recently)")
            entry.attempted_at = now
            keys = self._fetch(url)
            entry.keys, entry.fetched_at = keys, now
            if kid not in keys:
                raise AuthError(f"unknown kid {_show(kid)} at {url}")
            return keys[kid]

    def _fresh(self, url: str, kid: str) -> SigningKey | None:
        """The cached key ``kid`` of ``url`` while the cache is fresh, else None."""
        entry = self._entries.get(url)
        if entry is None or entry.fetched_at is None or self.clock() - entry.fetched_at >= self.ttl:
            return None
        return entry.keys.get(kid)

    def _fetch(self, url: str) -> dict[str, SigningKey]:
        """The signing keys served at ``url``, or AuthError within ``JKU_TIMEOUT_SECONDS`` whatever the server does.

        The download runs on its own thread: a name lookup that hangs is outside every socket timeout, and the
        caller (a request thread holding this URL's lock) must not wait for it.
        """
        outcome: dict[str, Any] = {}
        deadline = time.monotonic() + JKU_TIMEOUT_SECONDS

        def run() -> None:
            try:
                outcome["keys"] = _download_jwks(url, deadline)
            except AuthError as exc:
                outcome["error"] = exc
            except Exception as exc:  # noqa: BLE001 - any failure of the download is an unusable JWKS
                outcome["error"] = AuthError(f"cannot fetch JWKS {url}: {type(exc).__name__}")

        worker = threading.Thread(target=run, name="jwks-fetch", daemon=True)
        worker.start()
        worker.join(JKU_TIMEOUT_SECONDS + 0.1)
        if "keys" in outcome:
            return dict(outcome["keys"])
        raise outcome.get("error") or AuthError(f"cannot fetch JWKS {url}: no answer within {JKU_TIMEOUT_SECONDS:g} s")


def _download_jwks(url: str, deadline: float) -> dict[str, SigningKey]:
    """GET a JWKS (no redirects, size-capped), its body read one network read at a time until ``deadline``."""
    try:
        with requests.get(
            url,
            timeout=JKU_TIMEOUT_SECONDS,
            allow_redirects=False,
            stream=True,
            headers={"Accept": "application/json, application/jwk-set+json"},
        ) as response:
            if response.status_code != 200:
                raise AuthError(f"cannot fetch JWKS {url}: HTTP {response.status_code}")
            body = b""
            while True:
                if time.monotonic() > deadline:
                    raise AuthError(f"cannot fetch JWKS {url}: still sending after {JKU_TIMEOUT_SECONDS:g} s")
                chunk = response.raw.read1(16_384, decode_content=True)
                if not chunk:
                    break
                body += chunk
                if len(body) > MAX_JWKS_BYTES:
                    raise AuthError(f"cannot fetch JWKS {url}: larger than {MAX_JWKS_BYTES} bytes")
        keys, _skipped = keys_of(json.loads(body))
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise AuthError(f"cannot fetch JWKS {url}: {type(exc).__name__}") from None
    except ValueError as exc:
        raise AuthError(f"cannot use JWKS {url}: {_show(str(exc), 120)}") from None
    return keys


class ClientAuthenticator:
    """Checks the ``Authorization: Bearer <JWT>`` of every call against the trusted issuers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.issuers = load_trusted_issuers(settings.trusted_issuers_file)
        self.jwks = JwksCache(settings.jwks_cache_seconds)
        self.replay = ReplayGuard(settings.replay_db)

    def verify(self, authorization: str | None, audience: str) -> dict[str, Any]:
        """The token's claims when every check passes; AuthError naming the first that fails."""
        token = _bearer_token(authorization)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthError("malformed JWT header") from None
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
            raise AuthError(f"algorithm {_show(algorithm)} not allowed")
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise AuthError("malformed JWT payload") from None
        iss = unverified.get("iss")
        issuer = self.issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise AuthError(f"untrusted issuer {_show(iss)}")
        key = self._key(issuer, header, algorithm)
        skew = self.settings.jwt_clock_skew_seconds
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=_audiences(audience),
                issuer=issuer.iss,
                leeway=skew,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.PyJWTError as exc:
            raise AuthError(_decode_failure(exc, audience)) from None
        now = time.time()
        exp, iat = claims["exp"], claims["iat"]
        if not _is_number(exp) or not _is_number(iat):
            raise AuthError("exp and iat must be numbers")
        if iat > now + skew:
            raise AuthError("iat is in the future")
        if iat < now - self.settings.jwt_max_age_seconds - skew:
            raise AuthError("token too old (iat)")
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_CHARS:
            raise AuthError("jti missing, empty or too long")
        expires = min(exp, iat + self.settings.jwt_max_age_seconds) + skew
        if not self.replay.first_use(issuer.iss, jti, expires, now):
            raise AuthError("jti replayed")
        return claims

    def _key(self, issuer: TrustedIssuer, header: dict[str, Any], algorithm: str) -> SigningKey:
        """The issuer's key named by ``kid``: its JWKS file first, then the (allow-listed) ``jku``."""
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("kid missing")
        jku = header.get("jku")
        if jku is not None and jku not in issuer.jku:
            raise AuthError(f"jku {_show(jku)} not on the allow-list of {issuer.iss}")
        key = issuer.keys.get(kid)
        if key is None:
            urls = (jku,) if jku is not None else issuer.jku
            failures = []
            for url in urls:
                try:
                    key = self.jwks.key(url, kid)
                    break
                except AuthError as exc:
                    failures.append(exc.reason)
            if key is None:
                raise AuthError("; ".join(failures) or f"unknown kid {_show(kid)} for {issuer.iss}")
        if not key.allows(algorithm):
            raise AuthError(f"key {_show(kid)} ({key.describe()}) cannot verify {algorithm}")
        return key


def _bearer_token(authorization: str | None) -> str:
    """The JWT of an ``Authorization: Bearer <JWT>`` header (scheme case-insensitive); AuthError otherwise."""
    if not authorization:
        raise AuthError("no Authorization header")
    parts = authorization.split()
    if not parts or parts[0].lower() != "bearer":
        raise AuthError("Authorization is not a Bearer token")
    if len(parts) != 2:
        raise AuthError("Bearer token missing or malformed")
    token = parts[1]
    if len(token) > MAX_TOKEN_CHARS:
        raise AuthError("Bearer token too long")
    if token.count(".") != 2:
        raise AuthError("Bearer token is not a compact JWS")
    return token


def _decode_failure(exc: jwt.PyJWTError, audience: str) -> str:
    """A short log reason for a PyJWT rejection (the exception type; never the token)."""
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "token expired (exp)"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "iat is in the future (ImmatureSignatureError)"
    if isinstance(exc, jwt.InvalidAudienceError):
        return f"aud does not match {audience} (InvalidAudienceError)"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"claim {exc.claim} missing (MissingRequiredClaimError)"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "bad signature (InvalidSignatureError)"
    return f"invalid token: {type(exc).__name__}"


def _is_number(value: object) -> bool:
    """True for an int or float that is not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _audiences(url: str) -> list[str]:
    """The URL called, with and without one trailing slash (both spell the same endpoint)."""
    base = url.removesuffix("/")
    return [base, base + "/"]
