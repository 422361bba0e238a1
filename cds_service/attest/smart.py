"""SMART App Launch 2.0 EHR launch as a public client: discovery, authorization with PKCE (S256), token, user."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests

if TYPE_CHECKING:
    from authlib.integrations.requests_client import OAuth2Session

TIMEOUT_S = 10.0
ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "ES256", "ES384"]


class SmartError(Exception):
    """A SMART step failed; ``kind`` picks the error page, ``detail`` is safe to show (never holds a token)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def normalise_base(url: str) -> str:
    """A FHIR base URL compared as the allow-list does: without a trailing slash."""
    return url.strip().rstrip("/")


def discover(iss: str) -> dict[str, Any]:
    """``{iss}/.well-known/smart-configuration``, checked for what an EHR launch with PKCE S256 needs."""
    url = f"{normalise_base(iss)}/.well-known/smart-configuration"
    try:
        response = requests.get(url, headers={"Accept": "application/json"}, timeout=TIMEOUT_S)
        response.raise_for_status()
        config = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise SmartError("discovery", f"{url} could not be read ({type(exc).__name__})") from None
    if not isinstance(config, dict):
        raise SmartError("discovery", f"{url} is not a JSON object")
    missing = [k for k in ("authorization_endpoint", "token_endpoint") if not isinstance(config.get(k), str)]
    if missing:
        raise SmartError("discovery", f"{url} lacks {', '.join(missing)}")
    if "S256" not in (config.get("code_challenge_methods_supported") or []):
        raise SmartError("discovery", "the EHR does not offer PKCE with S256 (code_challenge_methods_supported)")
    capabilities = config.get("capabilities")
    if isinstance(capabilities, list) and "launch-ehr" not in capabilities:
        raise SmartError("discovery", "the EHR does not offer an EHR launch (capabilities lacks launch-ehr)")
    return config


def _client(client_id: str, redirect_uri: str, scope: str) -> OAuth2Session:
    # authlib and joserfc are imported on the first SMART launch: they took a fifth of the service's start-up.
    from authlib.integrations.requests_client import OAuth2Session

    return OAuth2Session(
        client_id=client_id,
        redirect_uri=redirect_uri,
        scope=scope,
        token_endpoint_auth_method="none",
        code_challenge_method="S256",
        default_timeout=TIMEOUT_S,
    )


def authorization_url(
    config: dict[str, Any],
    *,
    client_id: str,
    redirect_uri: str,
    scope: str,
    state: str,
    code_verifier: str,
    launch: str,
    aud: str,
) -> str:
    """The EHR's authorize URL with the launch id, ``aud`` = the FHIR server, state and an S256 code challenge."""
    url, _ = _client(client_id, redirect_uri, scope).create_authorization_url(
        config["authorization_endpoint"], state=state, code_verifier=code_verifier, launch=launch, aud=aud
    )
    return str(url)


def exchange_code(
    config: dict[str, Any], *, client_id: str, redirect_uri: str, scope: str, code: str, code_verifier: str
) -> dict[str, Any]:
    """The token response for an authorization code (with the PKCE verifier)."""
    try:
        token = _client(client_id, redirect_uri, scope).fetch_token(
            config["token_endpoint"], grant_type="authorization_code", code=code, code_verifier=code_verifier
        )
    except Exception as exc:  # authlib raises OAuthError, requests its own: either is a failed exchange
        error = getattr(exc, "error", None) or type(exc).__name__
        raise SmartError("token", f"the EHR refused the authorization code ({error})") from None
    if not token.get("access_token"):
        raise SmartError("token", "the token response holds no access_token")
    return dict(token)


@dataclass(frozen=True)
class LaunchContext:
    """What the token response says: patient, user (``fhirUser``), scopes and the card's appContext."""

    patient: str
    user: str
    scope: str
    app_context: dict[str, Any]


def user_of(token: dict[str, Any], config: dict[str, Any], client_id: str, iss: str) -> str:
    """The ``fhirUser`` claim of the verified ``id_token`` (signature by the EHR's JWKS, issuer, audience, expiry)."""
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise SmartError("context", "the EHR sent no id_token, so the app cannot tell who attests (scope fhirUser)")
    jwks_uri = config.get("jwks_uri")
    if not isinstance(jwks_uri, str):
        raise SmartError("context", "the EHR's smart-configuration has no jwks_uri to verify the id_token with")
    from joserfc import jwt
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    try:
        response = requests.get(jwks_uri, headers={"Accept": "application/json"}, timeout=TIMEOUT_S)
        response.raise_for_status()
        keys = KeySet.import_key_set(response.json())
        decoded = jwt.decode(id_token, keys, algorithms=ID_TOKEN_ALGORITHMS)
        issuer = config.get("issuer") if isinstance(config.get("issuer"), str) else iss
        jwt.JWTClaimsRegistry(
            leeway=60,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": client_id},
            exp={"essential": True},
        ).validate(decoded.claims)
    except (requests.RequestException, ValueError, JoseError) as exc:
        raise SmartError("context", f"the id_token could not be verified ({type(exc).__name__})") from None
    user = decoded.claims.get("fhirUser")
    if not isinstance(user, str) or not user:
        raise SmartError("context", "the id_token names no fhirUser")
    return user


def can_write(scope: str, resource_type: str) -> bool:
    """Whether granted scopes allow creating ``resource_type`` (SMART v2 ``.c``/``.cruds``, or v1 ``.write``/``.*``)."""
    for granted in scope.split():
        context, _, rest = granted.partition("/")
        rtype, _, permissions = rest.partition(".")
        if context not in ("patient", "user", "system") or rtype not in (resource_type, "*"):
            continue
        permissions = permissions.split("?", 1)[0]
        if permissions in ("write", "*") or (permissions and set(permissions) <= set("cruds") and "c" in permissions):
            return True
    return False


def launch_context(token: dict[str, Any], user: str) -> LaunchContext:
    """Patient and appContext from the token response (CDS Hooks passes a card's appContext through it)."""
    patient = token.get("patient")
    if not isinstance(patient, str) or not patient:
        raise SmartError("context", "the EHR gave no patient in context")
    if not can_write(str(token.get("scope", "")), "QuestionnaireResponse"):
        raise SmartError("context", "the EHR granted no scope to create a QuestionnaireResponse")
    raw = token.get("appContext")
    if raw is None:
        raise SmartError("context", "the launch carries no appContext: open the app from the IOP documentation card")
    try:
        app_context = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise SmartError("context", "the launch's appContext is not JSON") from None
    if not isinstance(app_context, dict):
        raise SmartError("context", "the launch's appContext is not a JSON object")
    return LaunchContext(patient=patient, user=user, scope=str(token.get("scope", "")), app_context=app_context)
