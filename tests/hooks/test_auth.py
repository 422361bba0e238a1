"""Client JWTs with real EC and RSA keys: what is accepted, what is rejected, and the bare 401 over HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from cds_service.config import Settings, SettingsError
from cds_service.hooks.auth import (
    JKU_REFRESH_FLOOR_SECONDS,
    MAX_JWKS_BYTES,
    AuthError,
    ClientAuthenticator,
    load_trusted_issuers,
    signing_key,
)

ISS = "https://ehr.example.org"
OTHER_ISS = "https://other-ehr.example.org"
JKU = "https://ehr.example.org/.well-known/jwks.json"
AUD = "https://cds.example.org/cds-services/iop-order-sign"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class Signer:
    """A real key pair for one algorithm, with its public JWK."""

    def __init__(self, alg: str, kid: str, declare_alg: bool = True) -> None:
        self.alg, self.kid = alg, kid
        if alg.startswith("ES"):
            self.private: Any = ec.generate_private_key(ec.SECP256R1() if alg == "ES256" else ec.SECP384R1())
            self.jwk = json.loads(ECAlgorithm.to_jwk(self.private.public_key()))
        else:
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.jwk = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        self.jwk.update(kid=kid, use="sig")
        if declare_alg:
            self.jwk["alg"] = alg

    def token(self, headers: dict[str, Any] | None = None, alg: str | None = None, **claims: Any) -> str:
        """A signed JWT with valid defaults; a claim or header given as None is left out."""
        now = int(time.time())
        payload = {"iss": ISS, "aud": AUD, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4()), **claims}
        head = {"kid": self.kid, "typ": "JWT", **(headers or {})}
        return jwt.api_jws.encode(  # the claims as given, unchecked: tests send malformed ones too
            json.dumps({k: v for k, v in payload.items() if v is not None}).encode(),
            self.private,
            algorithm=alg or self.alg,
            headers={k: v for k, v in head.items() if v is not None},
        )


class FakeClock:
    """A monotonic clock the tests move by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def signers() -> dict[str, Signer]:
    return {alg: Signer(alg, f"kid-{alg.lower()}") for alg in ("ES256", "ES384", "RS256", "RS384")}


@pytest.fixture(scope="module")
def other_signer() -> Signer:
    return Signer("ES384", "kid-other")


def write_issuers(folder: Path, issuers: list[dict[str, Any]], jwks: dict[str, list[dict[str, Any]]]) -> Path:
    """Write JWKS files (name → keys) and a trusted issuers file into ``folder``."""
    for name, keys in jwks.items():
        (folder / name).write_text(json.dumps({"keys": keys}))
    path = folder / "issuers.json"
    path.write_text(json.dumps({"issuers": issuers}))
    return path


def make_settings(tmp_path: Path, issuers_file: Path, **overrides: Any) -> Settings:
    return Settings(
        auth=True,
        trusted_issuers_file=str(issuers_file),
        replay_db=str(tmp_path / "replay.sqlite3"),
        feedback_db=str(tmp_path / "feedback.sqlite3"),
        **overrides,
    )


@pytest.fixture
def auth_settings(tmp_path: Path, signers: dict[str, Signer], other_signer: Signer) -> Settings:
    path = write_issuers(
        tmp_path,
        [
            {"iss": ISS, "jwks_file": "jwks.json", "jku": [JKU]},
            {"iss": OTHER_ISS, "jwks_file": "other.json"},
        ],
        {"jwks.json": [s.jwk for s in signers.values()], "other.json": [other_signer.jwk]},
    )
    return make_settings(tmp_path, path)


@pytest.fixture
def authenticator(auth_settings: Settings) -> ClientAuthenticator:
    return ClientAuthenticator(auth_settings)


@pytest.fixture
def http() -> Any:
    """A strict mock of every HTTP call (unregistered URLs fail); tests read ``http.calls``."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def jku_only(tmp_path: Path, clock: FakeClock | None = None, **overrides: Any) -> ClientAuthenticator:
    """An authenticator whose only issuer has no JWKS file, just the allow-listed ``JKU``."""
    path = write_issuers(tmp_path, [{"iss": ISS, "jku": [JKU]}], {})
    authenticator = ClientAuthenticator(make_settings(tmp_path, path, **overrides))
    if clock is not None:
        authenticator.jwks.clock = clock
    return authenticator


def bearer(token: str) -> str:
    return f"Bearer {token}"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    """A compact JWS assembled by hand (for algorithms PyJWT would refuse to produce)."""
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}.{b64(signature)}"


def fresh_claims(**claims: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISS, "aud": AUD, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4()), **claims}


# --- accepted tokens ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["ES256", "ES384", "RS256", "RS384"])
def test_valid_tokens_of_each_allowed_algorithm_are_accepted(
    authenticator: ClientAuthenticator, signers: dict[str, Signer], http: Any, alg: str
) -> None:
    claims = authenticator.verify(bearer(signers[alg].token()), AUD)
    assert claims["iss"] == ISS and claims["aud"] == AUD
    assert not http.calls  # keys from the JWKS file: no network


def test_the_bearer_scheme_is_case_insensitive(authenticator: ClientAuthenticator, signers: dict) -> None:
    for scheme in ("bearer", "BEARER", "BeArEr"):
        authenticator.verify(f"{scheme} " + signers["ES384"].token(), AUD)


@pytest.mark.parametrize(
    ("token_aud", "called"),
    [(AUD + "/", AUD), (AUD, AUD + "/"), (AUD, AUD), ([AUD, "https://elsewhere.example"], AUD)],
)
def test_the_audience_matches_ignoring_one_trailing_slash(
    authenticator: ClientAuthenticator, signers: dict, token_aud: Any, called: str
) -> None:
    authenticator.verify(bearer(signers["ES384"].token(aud=token_aud)), called)


@pytest.mark.parametrize(
    "token_aud",
    [
        "https://cds.example.org/cds-services",  # a token for discovery is not one for the service
        "https://cds.example.org/cds-services/other",
        AUD + "//",
        "http://cds.example.org/cds-services/iop-order-sign",
    ],
)
def test_a_wrong_audience_is_rejected(authenticator: ClientAuthenticator, signers: dict, token_aud: str) -> None:
    with pytest.raises(AuthError, match="aud does not match"):
        authenticator.verify(bearer(signers["ES384"].token(aud=token_aud)), AUD)


def test_times_within_the_clock_skew_are_accepted(authenticator: ClientAuthenticator, signers: dict) -> None:
    now = int(time.time())
    authenticator.verify(bearer(signers["ES256"].token(exp=now - 30, iat=now - 60)), AUD)
    authenticator.verify(bearer(signers["ES256"].token(iat=now + 30)), AUD)
    authenticator.verify(bearer(signers["ES256"].token(iat=now - 3600 + 10, exp=now + 60)), AUD)


# --- rejected claims ---------------------------------------------------------------------------------------


# Times are ("now", offset) pairs resolved when the test runs: collection may be minutes earlier in a full run.
@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": ("now", -600), "iat": ("now", -900)}, "token expired"),
        ({"iat": ("now", -3720), "exp": ("now", 60)}, "too old"),
        ({"iat": ("now", 600)}, "iat is in the future"),
        ({"iss": "https://evil.example"}, "untrusted issuer"),
        ({"iss": None}, "untrusted issuer"),
        ({"iss": [ISS]}, "untrusted issuer"),
        ({"aud": None}, "claim aud missing"),
        ({"exp": None}, "claim exp missing"),
        ({"iat": None}, "claim iat missing"),
        ({"jti": None}, "claim jti missing"),
        ({"jti": ""}, "jti"),
        ({"jti": 42}, "InvalidJTIError"),
        ({"jti": "j" * 600}, "too long"),
        ({"iat": "NOW"}, "must be numbers"),
        ({"exp": "tomorrow"}, "DecodeError"),
    ],
)
def test_bad_claims_are_rejected(authenticator: ClientAuthenticator, signers: dict, claims: dict, reason: str) -> None:
    now = int(time.time())
    resolved = {k: resolve_now(v, now) for k, v in claims.items()}
    with pytest.raises(AuthError, match=reason):
        authenticator.verify(bearer(signers["ES384"].token(**resolved)), AUD)


def resolve_now(value: Any, now: int) -> Any:
    """``NOW + n`` / ``NOW - n`` placeholders (stored as ``("now", n)``) as seconds since the epoch."""
    if isinstance(value, tuple) and value[:1] == ("now",):
        return now + value[1]
    if isinstance(value, str) and value == "NOW":
        return str(now)
    return value


def test_an_unknown_kid_is_rejected(authenticator: ClientAuthenticator, http: Any) -> None:
    stranger = Signer("ES384", "kid-nobody")
    http.get(JKU, json={"keys": []})  # the issuer's allow-listed JWKS does not know it either
    with pytest.raises(AuthError, match="unknown kid"):
        authenticator.verify(bearer(stranger.token()), AUD)
    assert len(http.calls) == 1


def test_an_unknown_kid_of_an_issuer_without_jku_is_rejected_without_fetching(
    authenticator: ClientAuthenticator, http: Any
) -> None:
    stranger = Signer("ES384", "kid-nobody")
    with pytest.raises(AuthError, match="unknown kid"):
        authenticator.verify(bearer(stranger.token(iss=OTHER_ISS)), AUD)
    assert not http.calls


def test_a_token_without_kid_is_rejected(authenticator: ClientAuthenticator, signers: dict) -> None:
    with pytest.raises(AuthError, match="kid missing"):
        authenticator.verify(bearer(signers["ES384"].token(headers={"kid": None})), AUD)


def test_a_token_signed_by_another_key_under_a_known_kid_is_rejected(authenticator: ClientAuthenticator) -> None:
    impostor = Signer("ES384", "kid-es384")
    with pytest.raises(AuthError, match="bad signature"):
        authenticator.verify(bearer(impostor.token()), AUD)


def test_a_key_of_another_issuer_does_not_verify(
    authenticator: ClientAuthenticator, other_signer: Signer, signers: dict, http: Any
) -> None:
    http.get(JKU, json={"keys": [s.jwk for s in signers.values()]})
    with pytest.raises(AuthError, match="unknown kid"):  # kid-other is trusted for OTHER_ISS only
        authenticator.verify(bearer(other_signer.token(iss=ISS)), AUD)


def test_a_key_only_verifies_its_declared_algorithm(authenticator: ClientAuthenticator, signers: dict) -> None:
    token = signers["RS384"].token(alg="RS256")  # RS384's key (JWK alg RS384) used for RS256
    with pytest.raises(AuthError, match="cannot verify RS256"):
        authenticator.verify(bearer(token), AUD)


def test_a_key_only_verifies_algorithms_of_its_type_and_curve(signers: dict) -> None:
    p256 = signing_key({k: v for k, v in signers["ES256"].jwk.items() if k != "alg"})
    rsa_key = signing_key({k: v for k, v in signers["RS256"].jwk.items() if k != "alg"})
    assert p256.allows("ES256") and not p256.allows("ES384") and not p256.allows("RS256")
    assert rsa_key.allows("RS256") and rsa_key.allows("RS384") and not rsa_key.allows("ES256")


def test_small_rsa_keys_and_other_curves_are_refused() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ValueError, match="1024 bits"):
        signing_key({**json.loads(RSAAlgorithm.to_jwk(small.public_key())), "kid": "small"})
    p521 = ec.generate_private_key(ec.SECP521R1())
    with pytest.raises(ValueError, match="P-521"):
        signing_key({**json.loads(ECAlgorithm.to_jwk(p521.public_key())), "kid": "p521"})


# --- algorithms --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "", "HS256", "HS384", "HS512", "PS256", "ES512", "EdDSA"])
def test_other_algorithms_are_rejected_before_any_key_lookup(
    authenticator: ClientAuthenticator, http: Any, monkeypatch: pytest.MonkeyPatch, alg: str
) -> None:
    monkeypatch.setattr(authenticator, "_key", lambda *a: pytest.fail("key looked up"))
    token = hand_made({"alg": alg, "typ": "JWT", "kid": "kid-es384", "jku": JKU}, fresh_claims(), b"sig")
    with pytest.raises(AuthError, match="not allowed"):
        authenticator.verify(bearer(token), AUD)
    assert not http.calls


def test_alg_none_with_an_empty_signature_is_rejected(authenticator: ClientAuthenticator) -> None:
    token = hand_made({"alg": "none", "typ": "JWT", "kid": "kid-es384"}, fresh_claims())
    assert token.endswith(".")
    with pytest.raises(AuthError, match="not allowed"):
        authenticator.verify(bearer(token), AUD)


def test_hs256_signed_with_the_public_key_is_rejected(authenticator: ClientAuthenticator, signers: dict) -> None:
    """The classic confusion attack: HMAC keyed with the RSA public key the service holds."""
    public_pem = (
        signers["RS256"]
        .private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    for secret in (public_pem, json.dumps(signers["RS256"].jwk).encode()):
        header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "kid-rs256"}).encode())
        payload = b64(json.dumps(fresh_claims()).encode())
        signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        with pytest.raises(AuthError, match="'HS256' not allowed"):
            authenticator.verify(bearer(f"{header}.{payload}.{b64(signature)}"), AUD)


# --- the Authorization header ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "   ",
        "Basic dXNlcjpwdw==",
        "Bearer",
        "Bearer ",
        "Bearer a.b",
        "Bearer a.b.c.d",
        "Bearer x.y.z extra",
        "Bearer not.a.jwt",
        "Token eyJ.eyJ.sig",
        "Bearer " + "a" * 20_000 + ".b.c",
    ],
)
def test_malformed_authorization_headers_are_rejected(authenticator: ClientAuthenticator, header: str | None) -> None:
    with pytest.raises(AuthError):
        authenticator.verify(header, AUD)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.text(),
        st.text().map(lambda t: "Bearer " + t),
        st.from_regex(r"\ABearer [A-Za-z0-9_=-]*\.[A-Za-z0-9_=-]*\.[A-Za-z0-9_=-]*\Z"),
    )
)
def test_arbitrary_headers_only_ever_raise_auth_error(tmp_path_factory: pytest.TempPathFactory, header: str) -> None:
    authenticator = _shared_authenticator(tmp_path_factory)
    with pytest.raises(AuthError):
        authenticator.verify(header, AUD)


_SHARED: dict[str, ClientAuthenticator] = {}


def _shared_authenticator(factory: pytest.TempPathFactory) -> ClientAuthenticator:
    """One authenticator for the property test (an issuer without jku, so nothing is ever fetched)."""
    if "a" not in _SHARED:
        folder = factory.mktemp("hypothesis")
        signer = Signer("ES256", "kid-h")
        path = write_issuers(folder, [{"iss": ISS, "jwks_file": "jwks.json"}], {"jwks.json": [signer.jwk]})
        _SHARED["a"] = ClientAuthenticator(make_settings(folder, path))
    return _SHARED["a"]


# --- replay ------------------------------------------------------------------------------------------------


def test_a_replayed_jti_is_rejected(authenticator: ClientAuthenticator, signers: dict) -> None:
    token = signers["ES256"].token()
    authenticator.verify(bearer(token), AUD)
    with pytest.raises(AuthError, match="jti replayed"):
        authenticator.verify(bearer(token), AUD)
    with pytest.raises(AuthError, match="jti replayed"):  # a new token reusing the jti is a replay too
        authenticator.verify(
            bearer(signers["RS256"].token(jti=jwt.decode(token, options={"verify_signature": False})["jti"])), AUD
        )


def test_a_replayed_jti_is_rejected_by_another_worker(auth_settings: Settings, signers: dict) -> None:
    token = signers["RS384"].token()
    ClientAuthenticator(auth_settings).verify(bearer(token), AUD)
    with pytest.raises(AuthError, match="jti replayed"):
        ClientAuthenticator(auth_settings).verify(bearer(token), AUD)


def test_jti_values_are_remembered_per_issuer(
    authenticator: ClientAuthenticator, signers: dict, other_signer: Signer
) -> None:
    authenticator.verify(bearer(signers["ES384"].token(jti="same")), AUD)
    authenticator.verify(bearer(other_signer.token(iss=OTHER_ISS, jti="same")), AUD)


def test_the_replay_store_uses_wal_and_purges_entries_past_their_validity(
    authenticator: ClientAuthenticator, auth_settings: Settings, signers: dict
) -> None:
    with sqlite3.connect(auth_settings.replay_db) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        db.execute("INSERT INTO client_jti VALUES (?, ?, ?)", (ISS, "ancient", time.time() - 1))
    now = int(time.time())
    authenticator.verify(bearer(signers["ES384"].token(iat=now, exp=now + 10 * 3600, jti="long-lived")), AUD)
    with sqlite3.connect(auth_settings.replay_db) as db:
        rows = dict(db.execute("SELECT jti, expires FROM client_jti").fetchall())
    assert "ancient" not in rows
    # remembered until iat + max age + skew, however late its exp: after that the iat check rejects it anyway
    assert rows["long-lived"] == pytest.approx(now + 3600 + 60)


def test_an_unwritable_replay_store_fails_closed(
    authenticator: ClientAuthenticator, signers: dict, tmp_path: Path
) -> None:
    authenticator.replay.path = str(tmp_path)  # a directory: SQLite cannot open it
    with pytest.raises(AuthError, match="replay store unavailable"):
        authenticator.verify(bearer(signers["ES384"].token()), AUD)


def test_a_locked_replay_store_fails_closed_after_a_short_wait(
    authenticator: ClientAuthenticator, auth_settings: Settings, signers: dict
) -> None:
    authenticator.replay.busy_timeout = 0.05
    holder = sqlite3.connect(auth_settings.replay_db, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        started = time.monotonic()
        with pytest.raises(AuthError, match="replay store unavailable"):
            authenticator.verify(bearer(signers["ES384"].token()), AUD)
        assert time.monotonic() - started < 1.0
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@pytest.mark.parametrize("replay_db", [":memory:", "", "missing-folder/replay.sqlite3"])
def test_a_replay_store_that_cannot_be_shared_or_opened_is_a_configuration_error(
    tmp_path: Path, auth_settings: Settings, replay_db: str
) -> None:
    path = str(tmp_path / replay_db) if "/" in replay_db else replay_db
    with pytest.raises(SettingsError, match="IOP_CDS_REPLAY_DB"):
        ClientAuthenticator(
            Settings(auth=True, trusted_issuers_file=auth_settings.trusted_issuers_file, replay_db=path)
        )


# --- jku ---------------------------------------------------------------------------------------------------


def test_keys_from_an_allow_listed_jku_are_fetched_once_and_cached(tmp_path: Path, http: Any) -> None:
    signer = Signer("ES384", "kid-jku-1")
    authenticator = jku_only(tmp_path)
    http.get(JKU, json={"keys": [signer.jwk]})
    authenticator.verify(bearer(signer.token(headers={"jku": JKU})), AUD)
    authenticator.verify(bearer(signer.token(headers={"jku": JKU})), AUD)
    authenticator.verify(bearer(signer.token()), AUD)  # no jku header: the issuer's allow-listed URL is used
    assert len(http.calls) == 1
    assert http.calls[0].request.headers["Accept"].startswith("application/json")


def test_a_jku_off_the_allow_list_is_rejected_without_fetching(
    authenticator: ClientAuthenticator, signers: dict, http: Any
) -> None:
    rogue = Signer("ES384", "kid-rogue")
    for token in (
        rogue.token(headers={"jku": "https://evil.example/jwks.json"}),
        signers["ES384"].token(headers={"jku": "https://evil.example/jwks.json"}),  # even with a known kid
        rogue.token(headers={"jku": JKU + "?x"}),
        rogue.token(headers={"jku": [JKU]}),
    ):
        with pytest.raises(AuthError, match="not on the allow-list"):
            authenticator.verify(bearer(token), AUD)
    assert not http.calls


def test_a_kid_in_the_jwks_file_needs_no_fetch_even_with_a_jku(
    authenticator: ClientAuthenticator, signers: dict, http: Any
) -> None:
    authenticator.verify(bearer(signers["ES384"].token(headers={"jku": JKU})), AUD)
    assert not http.calls


def test_a_new_kid_triggers_one_refetch_of_the_jwks(tmp_path: Path, http: Any) -> None:
    old, new = Signer("ES256", "kid-old"), Signer("ES256", "kid-new")
    clock = FakeClock()
    authenticator = jku_only(tmp_path, clock)
    http.get(JKU, json={"keys": [old.jwk]})
    authenticator.verify(bearer(old.token(headers={"jku": JKU})), AUD)
    http.replace(responses.GET, JKU, json={"keys": [old.jwk, new.jwk]})
    clock.now += JKU_REFRESH_FLOOR_SECONDS + 1
    authenticator.verify(bearer(new.token(headers={"jku": JKU})), AUD)
    authenticator.verify(bearer(new.token(headers={"jku": JKU})), AUD)
    authenticator.verify(bearer(old.token(headers={"jku": JKU})), AUD)
    assert len(http.calls) == 2


def test_unknown_kids_refetch_at_most_once_per_floor(tmp_path: Path, http: Any) -> None:
    old, new = Signer("ES256", "kid-old"), Signer("ES256", "kid-new")
    clock = FakeClock()
    authenticator = jku_only(tmp_path, clock)
    http.get(JKU, json={"keys": [old.jwk]})
    authenticator.verify(bearer(old.token(headers={"jku": JKU})), AUD)
    http.replace(responses.GET, JKU, json={"keys": [old.jwk, new.jwk]})
    clock.now += 5  # the JWKS was fetched 5 s ago: a rotated kid waits for the floor
    with pytest.raises(AuthError, match="refetched recently"):
        authenticator.verify(bearer(new.token(headers={"jku": JKU})), AUD)
    assert len(http.calls) == 1
    clock.now += JKU_REFRESH_FLOOR_SECONDS
    for _ in range(3):  # a kid nobody serves: one refetch, then nothing for the next 30 s
        with pytest.raises(AuthError, match="unknown kid"):
            authenticator.verify(bearer(Signer("ES256", "kid-ghost").token(headers={"jku": JKU})), AUD)
    assert len(http.calls) == 2
    authenticator.verify(bearer(new.token(headers={"jku": JKU})), AUD)  # learnt by that refetch
    assert len(http.calls) == 2


def test_the_jwks_is_refetched_after_the_cache_lifetime(tmp_path: Path, http: Any) -> None:
    signer = Signer("RS256", "kid-rs")
    clock = FakeClock()
    authenticator = jku_only(tmp_path, clock, jwks_cache_seconds=600)
    http.get(JKU, json={"keys": [signer.jwk]})
    authenticator.verify(bearer(signer.token()), AUD)
    clock.now += 599
    authenticator.verify(bearer(signer.token()), AUD)
    assert len(http.calls) == 1
    clock.now += 2
    http.replace(responses.GET, JKU, json={"keys": []})  # the key was withdrawn
    with pytest.raises(AuthError, match="unknown kid"):
        authenticator.verify(bearer(signer.token()), AUD)
    assert len(http.calls) == 2


@pytest.mark.parametrize(
    ("mock", "reason"),
    [
        ({"status": 500, "json": {}}, "HTTP 500"),
        ({"status": 302, "headers": {"Location": "https://evil.example/jwks.json"}}, "HTTP 302"),
        ({"body": "not json"}, "cannot use JWKS"),
        ({"json": {"no": "keys"}}, "not a JWK Set"),
        ({"body": b"x" * (MAX_JWKS_BYTES + 1)}, "larger than"),
        ({"body": requests.ConnectTimeout()}, "ConnectTimeout"),
    ],
)
def test_a_failed_jwks_fetch_rejects_and_is_not_retried_at_once(
    tmp_path: Path, http: Any, mock: dict[str, Any], reason: str
) -> None:
    signer = Signer("ES384", "kid-x")
    clock = FakeClock()
    authenticator = jku_only(tmp_path, clock)
    http.get(JKU, **mock)
    with pytest.raises(AuthError, match=reason):
        authenticator.verify(bearer(signer.token()), AUD)
    with pytest.raises(AuthError, match="unavailable"):
        authenticator.verify(bearer(signer.token()), AUD)
    assert len(http.calls) == 1  # no redirect followed, no hammering
    clock.now += JKU_REFRESH_FLOOR_SECONDS + 1
    http.replace(responses.GET, JKU, json={"keys": [signer.jwk]})
    authenticator.verify(bearer(signer.token()), AUD)
    assert len(http.calls) == 2


def test_jwks_fetches_use_a_short_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake_get(url: str, **kwargs: Any) -> Any:
        seen.update(kwargs, url=url)
        raise requests.ConnectionError("offline")

    monkeypatch.setattr("cds_service.hooks.auth.requests.get", fake_get)
    with pytest.raises(AuthError, match="ConnectionError"):
        jku_only(tmp_path).verify(bearer(Signer("ES256", "k").token()), AUD)
    assert seen["url"] == JKU and seen["timeout"] <= 2.0 and seen["allow_redirects"] is False


# --- the trusted issuers file ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "IOP_CDS_TRUSTED_ISSUERS_FILE is not set"),
        ("{not json", "not valid JSON"),
        ("[]", "non-empty 'issuers'"),
        ('{"issuers": []}', "non-empty 'issuers'"),
        ('{"issuers": ["x"]}', r"issuers\[0\]: must be an object"),
        ('{"issuers": [{"jku": ["https://a/j"]}]}', "needs 'iss'"),
        ('{"issuers": [{"iss": "x"}]}', "needs 'jwks_file' or a non-empty 'jku'"),
        ('{"issuers": [{"iss": "x", "jku": []}]}', "needs 'jwks_file' or a non-empty 'jku'"),
        ('{"issuers": [{"iss": "x", "jku": ["http://plain"]}]}', "https URLs"),
        ('{"issuers": [{"iss": "x", "jku": "https://a/j", "jwks": "k.json"}]}', "unknown field"),
        ('{"issuers": [{"iss": "x", "jku": ["https://a/j"]}, {"iss": "x", "jku": ["https://b/j"]}]}', "twice"),
        ('{"issuers": [{"iss": "x", "jwks_file": "missing.json"}]}', "missing.json cannot be read"),
        ('{"issuers": [{"iss": "x", "jwks_file": "empty.json"}]}', "no usable signing key"),
        ('{"issuers": [{"iss": "x", "jwks_file": "bad.json"}]}', "no usable signing key.*unsupported key type"),
        ('{"issuers": [{"iss": "x", "jwks_file": 3}]}', "must be a file name"),
    ],
)
def test_a_bad_trusted_issuers_file_is_a_configuration_error(tmp_path: Path, content: str | None, message: str) -> None:
    (tmp_path / "empty.json").write_text('{"keys": []}')
    (tmp_path / "bad.json").write_text('{"keys": [{"kty": "oct", "kid": "s", "k": "c2VjcmV0"}]}')
    path = ""
    if content is not None:
        (tmp_path / "issuers.json").write_text(content)
        path = str(tmp_path / "issuers.json")
    with pytest.raises(SettingsError, match=message) as caught:
        load_trusted_issuers(path)
    if content is not None:
        assert path in str(caught.value)


def test_a_missing_trusted_issuers_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="nowhere.json: cannot be read"):
        load_trusted_issuers(str(tmp_path / "nowhere.json"))


def test_auth_without_a_trusted_issuers_file_cannot_start(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="IOP_CDS_TRUSTED_ISSUERS_FILE"):
        ClientAuthenticator(Settings(auth=True, replay_db=str(tmp_path / "r.sqlite3")))


def test_the_shipped_sandbox_configuration_loads() -> None:
    issuers = load_trusted_issuers(str(EXAMPLES / "trusted-issuers.sandbox.json"))
    sandbox = issuers["https://sandbox.cds-hooks.org"]
    assert list(issuers) == ["https://sandbox.cds-hooks.org"]
    assert sandbox.jku == ("https://sandbox.cds-hooks.org/.well-known/jwks.json",)
    key = sandbox.keys["44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"]
    assert key.allows("ES384") and not key.allows("ES256")


# --- over HTTP ---------------------------------------------------------------------------------------------


@pytest.fixture
def auth_client(auth_settings: Settings) -> Any:
    from cds_service.hooks.app import create_app

    return create_app(auth_settings).test_client()


def test_over_http_a_missing_or_bad_token_is_a_bare_401(auth_client: Any, signers: dict) -> None:
    for headers in ({}, {"Authorization": "Basic dXNlcjpwdw=="}, {"Authorization": "Bearer not.a.jwt"}):
        denied = auth_client.get("/cds-services", headers=headers)
        assert denied.status_code == 401 and denied.get_data() == b""
    token = signers["ES384"].token(aud="http://localhost/cds-services")
    assert auth_client.get("/cds-services", headers={"Authorization": bearer(token)}).status_code == 200
    replayed = auth_client.get("/cds-services", headers={"Authorization": bearer(token)})
    assert replayed.status_code == 401 and replayed.get_data() == b""


def test_over_http_a_service_call_needs_a_token_for_that_url(auth_client: Any, signers: dict) -> None:
    for aud in ("http://localhost/cds-services", "http://localhost/cds-services/iop-encounter-discharge"):
        token = signers["ES256"].token(aud=aud)
        response = auth_client.post("/cds-services/iop-order-sign", json={}, headers={"Authorization": bearer(token)})
        assert response.status_code == 401 and response.get_data() == b""
    token = signers["ES256"].token(aud="http://localhost/cds-services/iop-order-sign")
    response = auth_client.post("/cds-services/iop-order-sign", json={}, headers={"Authorization": bearer(token)})
    assert response.status_code == 400  # authenticated; the empty body is then refused as invalid


def test_over_http_the_audience_is_the_public_base_url_behind_a_proxy(
    tmp_path: Path, auth_settings: Settings, signers: dict
) -> None:
    from dataclasses import replace

    from cds_service.hooks.app import create_app

    client = create_app(replace(auth_settings, public_base_url="https://cds.example.org/iop/")).test_client()
    inside = signers["ES384"].token(aud="http://localhost/cds-services")
    assert client.get("/cds-services", headers={"Authorization": bearer(inside)}).status_code == 401
    public = signers["ES384"].token(aud="https://cds.example.org/iop/cds-services")
    assert client.get("/cds-services", headers={"Authorization": bearer(public)}).status_code == 200


def test_over_http_health_and_cors_preflight_need_no_token(auth_client: Any) -> None:
    assert auth_client.get("/healthz").status_code == 200
    preflight = auth_client.options(
        "/cds-services/iop-order-sign",
        headers={
            "Origin": "https://sandbox.cds-hooks.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] in {"*", "https://sandbox.cds-hooks.org"}
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()


# --- key type mismatch: 401, never a 500 -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signed_with", "named_kid", "alg"),
    [
        ("RS256", "kid-es256", "RS256"),  # an RSA signature under the EC key's kid
        ("ES256", "kid-rs256", "ES256"),  # an EC signature under the RSA key's kid
        ("ES384", "kid-es256", "ES384"),  # a P-384 signature under the P-256 key's kid
    ],
)
def test_a_token_whose_alg_does_not_fit_its_keys_type_is_rejected(
    auth_settings: Settings, signers: dict, signed_with: str, named_kid: str, alg: str
) -> None:
    from cds_service.hooks.app import create_app

    token = signers[signed_with].token(headers={"kid": named_kid}, alg=alg, aud="http://localhost/cds-services")
    with pytest.raises(AuthError, match=f"cannot verify {alg}"):
        ClientAuthenticator(auth_settings).verify(bearer(token), "http://localhost/cds-services")
    client = create_app(auth_settings).test_client()
    denied = client.get("/cds-services", headers={"Authorization": bearer(token)})
    assert denied.status_code == 401 and denied.get_data() == b""


# --- jku against real loopback servers: deadlines, single flight, negative cache ---------------------------


class JwksServer:
    """A loopback HTTP server for one JWKS URL that answers, stalls or drips; counts the connections it got."""

    def __init__(self, mode: str, jwks: dict[str, Any] | None = None) -> None:
        import socket
        import threading

        self.mode, self.jwks, self.connections = mode, jwks or {"keys": []}, 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/jwks.json"
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import threading

        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            self.connections += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: Any) -> None:
        with conn:
            try:
                conn.recv(65536)
                body = json.dumps(self.jwks).encode()
                if self.mode == "stall":
                    self.stop.wait(10)
                    return
                head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                conn.sendall(head.encode())
                if self.mode == "drip":
                    for byte in body:
                        if self.stop.wait(0.2):
                            return
                        conn.sendall(bytes([byte]))
                else:
                    conn.sendall(body)
            except OSError:
                pass

    def close(self) -> None:
        self.stop.set()
        self.listener.close()


@pytest.fixture
def jwks_server() -> Any:
    servers: list[JwksServer] = []

    def start(mode: str, jwks: dict[str, Any] | None = None) -> JwksServer:
        servers.append(JwksServer(mode, jwks))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def loopback_jku(tmp_path: Path, url: str, with_file: list[Signer] | None = None) -> ClientAuthenticator:
    """An authenticator whose issuer's allow-listed jku is a loopback (http) URL; optionally a JWKS file too."""
    issuer: dict[str, Any] = {"iss": ISS, "jku": [JKU]}
    files = {}
    if with_file:
        issuer["jwks_file"] = "local.json"
        files["local.json"] = [s.jwk for s in with_file]
    authenticator = ClientAuthenticator(make_settings(tmp_path, write_issuers(tmp_path, [issuer], files)))
    authenticator.issuers[ISS].jku = (url,)  # the file only admits https; the cache itself does not care
    return authenticator


def verify_many(authenticator: ClientAuthenticator, tokens: list[str]) -> tuple[float, list[str]]:
    """Verify tokens on parallel threads; (wall seconds, outcome per token: 'ok' or the AuthError reason)."""
    from concurrent.futures import ThreadPoolExecutor

    def one(token: str) -> str:
        try:
            authenticator.verify(bearer(token), AUD)
            return "ok"
        except AuthError as exc:
            return exc.reason

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(tokens)) as pool:
        outcomes = list(pool.map(one, tokens))
    return time.monotonic() - started, outcomes


def test_a_local_kid_is_verified_offline_even_when_its_jku_stalls(tmp_path: Path, jwks_server: Any) -> None:
    local = Signer("ES384", "kid-local")
    server = jwks_server("stall")
    authenticator = loopback_jku(tmp_path, server.url, with_file=[local])
    took, outcomes = verify_many(authenticator, [local.token(headers={"jku": server.url}) for _ in range(5)])
    assert outcomes == ["ok"] * 5 and took < 1.0
    assert server.connections == 0


def test_made_up_kids_cost_one_fetch_then_nothing_for_the_floor(tmp_path: Path, jwks_server: Any) -> None:
    server = jwks_server("stall")
    authenticator = loopback_jku(tmp_path, server.url)
    ghosts = [Signer("ES256", f"kid-ghost-{i}") for i in range(3)]
    took, outcomes = verify_many(authenticator, [ghosts[i % 3].token() for i in range(12)])
    assert server.connections == 1  # single flight: twelve callers, one fetch
    assert took < 3.0  # bounded by the 2 s JWKS deadline, not 12 × 2 s
    (failed,) = [o for o in outcomes if "unavailable" not in o]  # the one that fetched; the others saw its result
    assert "cannot fetch JWKS" in failed, outcomes
    took, outcomes = verify_many(authenticator, [ghosts[0].token() for _ in range(12)])
    assert took < 0.5 and server.connections == 1  # remembered: no worker waits on the dead URL again
    assert all("unavailable" in o for o in outcomes)


def test_a_jwks_server_that_drips_cannot_hold_a_worker(tmp_path: Path, jwks_server: Any) -> None:
    signer = Signer("ES256", "kid-drip")
    server = jwks_server("drip", {"keys": [signer.jwk]})  # ~250 bytes at 5 a second: 50 s
    started = time.monotonic()
    with pytest.raises(AuthError, match="cannot fetch JWKS"):
        loopback_jku(tmp_path, server.url).verify(bearer(signer.token()), AUD)
    assert time.monotonic() - started < 3.0


def test_known_kids_do_not_wait_behind_a_fetch_for_an_unknown_one(tmp_path: Path, jwks_server: Any) -> None:
    signer = Signer("ES256", "kid-known")
    server = jwks_server("serve", {"keys": [signer.jwk]})
    authenticator = loopback_jku(tmp_path, server.url)
    authenticator.verify(bearer(signer.token()), AUD)  # cached now
    server.mode = "stall"
    authenticator.jwks.clock = lambda: time.monotonic() + JKU_REFRESH_FLOOR_SECONDS + 1  # past the floor
    import threading

    unknown: list[str] = []
    fetching = threading.Thread(
        target=lambda: unknown.append(verify_many(authenticator, [Signer("ES256", "k2").token()])[1][0])
    )
    fetching.start()
    time.sleep(0.3)  # the unknown kid's fetch now holds the URL's lock, waiting on the stalled server
    took, outcomes = verify_many(authenticator, [signer.token() for _ in range(8)])
    assert outcomes == ["ok"] * 8 and took < 0.5
    fetching.join()
    assert "cannot fetch JWKS" in unknown[0]
    assert server.connections == 2
