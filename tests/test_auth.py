"""Client JWTs with real EC and RSA keys: what is accepted, what is rejected, and the bare 401."""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from cds_service.app import create_app
from cds_service.auth import AuthError, ClientAuthenticator, load_trusted_issuers
from cds_service.config import Settings, SettingsError

ISS = "https://ehr.example.org"
JKU = "https://ehr.example.org/.well-known/jwks.json"
AUD = "https://cds.example.org/cds-services/iop-order-sign"


class Signer:
    """A key pair of one algorithm with its public JWK."""

    def __init__(self, alg: str, kid: str) -> None:
        self.alg, self.kid = alg, kid
        if alg.startswith("ES"):
            self.private = ec.generate_private_key(ec.SECP256R1() if alg == "ES256" else ec.SECP384R1())
            self.jwk = json.loads(ECAlgorithm.to_jwk(self.private.public_key()))
        else:
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.jwk = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        self.jwk.update(kid=kid, use="sig", alg=alg)

    def token(self, headers: dict[str, Any] | None = None, **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": ISS, "aud": AUD, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4()), **claims}
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(
            payload, self.private, algorithm=self.alg, headers={"kid": self.kid, "typ": "JWT", **(headers or {})}
        )


@pytest.fixture(scope="module")
def signers() -> dict[str, Signer]:
    return {alg: Signer(alg, f"kid-{alg.lower()}") for alg in ("ES256", "ES384", "RS256", "RS384")}


@pytest.fixture
def issuers_file(tmp_path: Path, signers: dict[str, Signer]) -> Path:
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [s.jwk for s in signers.values()]}))
    path = tmp_path / "issuers.json"
    path.write_text(json.dumps({"issuers": [{"iss": ISS, "jwks_file": "jwks.json", "jku": [JKU]}]}))
    return path


@pytest.fixture
def auth_settings(tmp_path: Path, issuers_file: Path) -> Settings:
    return Settings(
        auth=True,
        trusted_issuers_file=str(issuers_file),
        replay_db=str(tmp_path / "replay.sqlite3"),
        feedback_db=str(tmp_path / "feedback.sqlite3"),
    )


@pytest.fixture
def authenticator(auth_settings: Settings) -> ClientAuthenticator:
    return ClientAuthenticator(auth_settings)


def bearer(token: str) -> str:
    return f"Bearer {token}"


@pytest.mark.parametrize("alg", ["ES256", "ES384", "RS256", "RS384"])
def test_valid_tokens_of_each_allowed_algorithm_are_accepted(
    authenticator: ClientAuthenticator, signers: dict[str, Signer], alg: str
) -> None:
    claims = authenticator.verify(bearer(signers[alg].token()), AUD)
    assert claims["iss"] == ISS


def test_audience_with_or_without_a_trailing_slash(authenticator: ClientAuthenticator, signers: dict) -> None:
    authenticator.verify(bearer(signers["ES384"].token(aud=AUD + "/")), AUD)
    authenticator.verify(bearer(signers["ES384"].token(aud=[AUD, "https://other"])), AUD)


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": int(time.time()) - 600, "iat": int(time.time()) - 900}, "ExpiredSignature"),
        ({"iat": int(time.time()) - 7200, "exp": int(time.time()) + 60}, "too old"),
        ({"iat": int(time.time()) + 600}, "ImmatureSignature"),
        ({"aud": "https://cds.example.org/cds-services/other"}, "InvalidAudience"),
        ({"iss": "https://evil.example"}, "untrusted issuer"),
        ({"jti": None}, "MissingRequiredClaim"),
        ({"exp": None}, "MissingRequiredClaim"),
    ],
)
def test_bad_claims_are_rejected(authenticator: ClientAuthenticator, signers: dict, claims: dict, reason: str) -> None:
    with pytest.raises(AuthError, match=reason):
        authenticator.verify(bearer(signers["ES384"].token(**claims)), AUD)


def test_an_unknown_kid_is_rejected(authenticator: ClientAuthenticator, signers: dict) -> None:
    stranger = Signer("ES384", "kid-nobody")
    with responses.RequestsMock() as mock:
        mock.get(JKU, json={"keys": []})  # the allow-listed JWKS does not know it either
        with pytest.raises(AuthError, match="unknown kid"):
            authenticator.verify(bearer(stranger.token()), AUD)


def test_a_token_signed_by_another_key_under_a_known_kid_is_rejected(authenticator: ClientAuthenticator) -> None:
    impostor = Signer("ES384", "kid-es384")
    with pytest.raises(AuthError, match="InvalidSignature"):
        authenticator.verify(bearer(impostor.token()), AUD)


def test_a_replayed_jti_is_rejected_even_by_another_worker(auth_settings: Settings, signers: dict) -> None:
    token = signers["RS384"].token()
    ClientAuthenticator(auth_settings).verify(bearer(token), AUD)
    with pytest.raises(AuthError, match="replayed"):
        ClientAuthenticator(auth_settings).verify(bearer(token), AUD)


def _unsigned(header: dict, payload: dict) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(payload)}."


def test_alg_none_is_rejected(authenticator: ClientAuthenticator) -> None:
    now = int(time.time())
    token = _unsigned(
        {"alg": "none", "typ": "JWT", "kid": "kid-es384"},
        {"iss": ISS, "aud": AUD, "iat": now, "exp": now + 300, "jti": "x"},
    )
    with pytest.raises(AuthError, match="not allowed"):
        authenticator.verify(bearer(token), AUD)


def test_hmac_signed_with_the_public_key_is_rejected(authenticator: ClientAuthenticator, signers: dict) -> None:
    public_pem = (
        signers["RS256"]
        .private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    now = int(time.time())
    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "kid-rs256"}).encode())
    payload = base64.urlsafe_b64encode(
        json.dumps({"iss": ISS, "aud": AUD, "iat": now, "exp": now + 300, "jti": "y"}).encode()
    )
    import hashlib
    import hmac

    signing_input = header.rstrip(b"=") + b"." + payload.rstrip(b"=")
    signature = base64.urlsafe_b64encode(hmac.new(public_pem, signing_input, hashlib.sha256).digest()).rstrip(b"=")
    with pytest.raises(AuthError, match="not allowed"):
        authenticator.verify(bearer((signing_input + b"." + signature).decode()), AUD)


@pytest.mark.parametrize("header", [None, "", "Basic dXNlcjpwdw==", "Bearer", "Bearer ", "Bearer not.a.jwt"])
def test_malformed_authorization_headers(authenticator: ClientAuthenticator, header: str | None) -> None:
    with pytest.raises(AuthError):
        authenticator.verify(header, AUD)


def test_keys_from_an_allow_listed_jku_are_fetched_once_and_cached(tmp_path: Path) -> None:
    rotating = Signer("ES384", "kid-jku-1")
    path = tmp_path / "issuers.json"
    path.write_text(json.dumps({"issuers": [{"iss": ISS, "jku": [JKU]}]}))
    settings = Settings(auth=True, trusted_issuers_file=str(path), replay_db=str(tmp_path / "r.sqlite3"))
    authenticator = ClientAuthenticator(settings)
    with responses.RequestsMock() as mock:
        mock.get(JKU, json={"keys": [rotating.jwk]})
        authenticator.verify(bearer(rotating.token(headers={"jku": JKU})), AUD)
        authenticator.verify(bearer(rotating.token(headers={"jku": JKU})), AUD)
        assert len(mock.calls) == 1


def test_a_new_kid_triggers_one_refetch_of_the_jwks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = Signer("ES256", "kid-old"), Signer("ES256", "kid-new")
    path = tmp_path / "issuers.json"
    path.write_text(json.dumps({"issuers": [{"iss": ISS, "jku": [JKU]}]}))
    authenticator = ClientAuthenticator(
        Settings(auth=True, trusted_issuers_file=str(path), replay_db=str(tmp_path / "r.sqlite3"))
    )
    with responses.RequestsMock() as mock:
        mock.get(JKU, json={"keys": [old.jwk]})
        authenticator.verify(bearer(old.token(headers={"jku": JKU})), AUD)
        mock.replace(responses.GET, JKU, json={"keys": [old.jwk, new.jwk]})
        monkeypatch.setattr("cds_service.auth.JKU_REFRESH_FLOOR_SECONDS", 0.0)
        authenticator.verify(bearer(new.token(headers={"jku": JKU})), AUD)
        assert len(mock.calls) == 2


def test_a_jku_off_the_allow_list_is_rejected_without_fetching(authenticator: ClientAuthenticator) -> None:
    rogue = Signer("ES384", "kid-rogue")
    with responses.RequestsMock() as mock:
        with pytest.raises(AuthError, match="not on the allow-list"):
            authenticator.verify(bearer(rogue.token(headers={"jku": "https://evil.example/jwks.json"})), AUD)
        assert len(mock.calls) == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not set"),
        ("{not json", "trusted issuers file"),
        ('{"issuers": []}', "non-empty 'issuers'"),
        ('{"issuers": [{"iss": "x"}]}', "needs 'jwks_file'"),
        ('{"issuers": [{"iss": "x", "jku": ["http://plain"]}]}', "https URLs"),
    ],
)
def test_a_bad_trusted_issuers_file_is_a_configuration_error(tmp_path: Path, content: str | None, message: str) -> None:
    path = ""
    if content is not None:
        (tmp_path / "issuers.json").write_text(content)
        path = str(tmp_path / "issuers.json")
    with pytest.raises(SettingsError, match=message):
        load_trusted_issuers(path)


def test_the_shipped_sandbox_configuration_loads() -> None:
    issuers = load_trusted_issuers(str(Path(__file__).parent.parent / "examples" / "trusted-issuers.sandbox.json"))
    assert list(issuers) == ["https://sandbox.cds-hooks.org"] and issuers["https://sandbox.cds-hooks.org"].keys


def test_over_http_a_missing_or_bad_token_is_a_bare_401(auth_settings: Settings, signers: dict) -> None:
    client = create_app(auth_settings).test_client()
    denied = client.get("/cds-services")
    assert denied.status_code == 401 and denied.get_data() == b""
    token = signers["ES384"].token(aud="http://localhost/cds-services")
    assert client.get("/cds-services", headers={"Authorization": bearer(token)}).status_code == 200
    assert client.get("/cds-services", headers={"Authorization": bearer(token)}).status_code == 401  # replay
    assert client.get("/healthz").status_code == 200
    preflight = client.options(
        "/cds-services/iop-order-sign",
        headers={
            "Origin": "https://sandbox.cds-hooks.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert preflight.status_code == 200 and preflight.headers["Access-Control-Allow-Origin"] in {
        "*",
        "https://sandbox.cds-hooks.org",
    }
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()
