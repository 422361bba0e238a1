"""A test EHR for the attestation app: SMART authorization server (EHR launch, PKCE S256, id_token) plus FHIR.

The FHIR endpoint at ``{base}/fhir`` either forwards to an upstream server (sekmet-fhir, with its static token,
rewriting the upstream base to ``{base}/fhir`` in answers so ``next`` links stay on this origin) or, without
one, keeps resources in memory (enough for reads and creates). Only tokens this EHR issued are accepted, and a
write needs a write scope for its type and the token's patient as subject.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import urlencode

import requests
from flask import Flask, Response, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID = "iop-cds-attest"


@cache
def ehr_key() -> RSAKey:
    """The EHR's id_token signing key (one per test session: RSA generation is slow)."""
    return RSAKey.generate_key(2048, parameters={"kid": "ehr-1"})


@dataclass
class Launch:
    patient: str
    user: str
    app_context: str
    encounter: str | None = None


@dataclass
class SmartEhr:
    """The EHR's state; ``app`` is its Flask app. Flags make it deny, refuse writes or misbehave on purpose."""

    upstream: str | None = None
    upstream_token: str | None = None
    redirect_uri: str = ""
    deny: bool = False
    refuse_writes: bool = False
    pkce_failures: int = 0
    config_overrides: dict[str, Any] = field(default_factory=dict)
    """Changes to the smart-configuration document (``None`` removes a key)."""
    granted_scope: str | None = None
    """Grant these scopes instead of the ones asked for."""
    foreign_id_token: bool = False
    """Sign id_tokens with a key the JWKS does not publish."""
    launches: dict[str, Launch] = field(default_factory=dict)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    stored: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    posted: list[dict[str, Any]] = field(default_factory=list)
    seen_authorizations: list[str] = field(default_factory=list)
    key: RSAKey = field(default_factory=ehr_key)

    def new_launch(self, patient: str, user: str, app_context: str, encounter: str | None = None) -> str:
        """Register an EHR launch (what the EHR does when the clinician clicks a SMART link); returns its id."""
        launch_id = secrets.token_urlsafe(12)
        self.launches[launch_id] = Launch(patient, user, app_context, encounter)
        return launch_id

    def cds_token(self, patient: str) -> str:
        """A read token the EHR hands the CDS service as ``fhirAuthorization``."""
        token = secrets.token_urlsafe(24)
        self.tokens[token] = {"patient": patient, "scope": "patient/*.rs user/Practitioner.rs"}
        return token

    def make_app(self) -> Flask:
        """The EHR's Flask app (authorization server and FHIR endpoint)."""
        return build_app(self)


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _outcome(status: int, code: str, text: str) -> Response:
    body = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": text}]}
    return Response(json.dumps(body), status=status, content_type="application/fhir+json")


def build_app(ehr: SmartEhr) -> Flask:
    app = Flask("smart_ehr")

    def base() -> str:
        return request.host_url.rstrip("/")

    @app.get("/fhir/.well-known/smart-configuration")
    def smart_configuration() -> Response:
        document = {
            "issuer": f"{base()}/fhir",
            "jwks_uri": f"{base()}/auth/jwks",
            "authorization_endpoint": f"{base()}/auth/authorize",
            "token_endpoint": f"{base()}/auth/token",
            "grant_types_supported": ["authorization_code"],
            "token_endpoint_auth_methods_supported": ["none"],
            "scopes_supported": ["openid", "fhirUser", "launch", "patient/*.rs", "patient/QuestionnaireResponse.c"],
            "response_types_supported": ["code"],
            "capabilities": [
                "launch-ehr",
                "client-public",
                "context-ehr-patient",
                "sso-openid-connect",
                "permission-v2",
            ],
            "code_challenge_methods_supported": ["S256"],
        }
        document.update(ehr.config_overrides)
        return jsonify({k: v for k, v in document.items() if v is not None})

    @app.get("/auth/jwks")
    def jwks() -> Response:
        return jsonify({"keys": [ehr.key.as_dict(private=False)]})

    @app.get("/auth/authorize")
    def authorize() -> Any:
        args = request.args
        if args.get("client_id") != CLIENT_ID or args.get("redirect_uri") != ehr.redirect_uri:
            return Response("unknown client or redirect_uri", status=400)  # never redirect to an unknown URI
        state = args.get("state", "")

        def back(**params: str) -> Any:
            return redirect(f"{ehr.redirect_uri}?{urlencode({**params, 'state': state})}", 302)

        launch = ehr.launches.get(args.get("launch", ""))
        if args.get("response_type") != "code" or launch is None or args.get("aud") != f"{base()}/fhir":
            return back(error="invalid_request", error_description="bad response_type, launch or aud")
        if args.get("code_challenge_method") != "S256" or not args.get("code_challenge"):
            return back(error="invalid_request", error_description="PKCE S256 required")
        if ehr.deny:
            return back(error="access_denied", error_description="The user declined access")
        code = secrets.token_urlsafe(16)
        ehr.codes[code] = {
            "launch": launch,
            "challenge": args["code_challenge"],
            "scope": ehr.granted_scope if ehr.granted_scope is not None else args.get("scope", ""),
            "expires": time.time() + 60,
        }
        return back(code=code)

    @app.post("/auth/token")
    def token() -> Any:
        form = request.form
        grant = ehr.codes.pop(form.get("code", ""), None)
        if form.get("grant_type") != "authorization_code" or grant is None or grant["expires"] < time.time():
            return jsonify({"error": "invalid_grant"}), 400
        if form.get("client_id") != CLIENT_ID or form.get("redirect_uri") != ehr.redirect_uri:
            return jsonify({"error": "invalid_client"}), 400
        if _s256(form.get("code_verifier", "")) != grant["challenge"]:
            ehr.pkce_failures += 1
            return jsonify({"error": "invalid_grant", "error_description": "PKCE verification failed"}), 400
        launch: Launch = grant["launch"]
        access = secrets.token_urlsafe(24)
        ehr.tokens[access] = {"patient": launch.patient, "scope": grant["scope"]}
        now = int(time.time())
        claims = {
            "iss": f"{base()}/fhir",
            "sub": launch.user,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "fhirUser": f"{base()}/fhir/{launch.user}",
        }
        signer = RSAKey.generate_key(2048, parameters={"kid": "ehr-1"}) if ehr.foreign_id_token else ehr.key
        id_token = jwt.encode({"alg": "RS256", "kid": "ehr-1"}, claims, signer)
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": grant["scope"],
            "patient": launch.patient,
            "id_token": id_token,
            "appContext": launch.app_context,
        }
        if launch.encounter:
            body["encounter"] = launch.encounter
        return jsonify(body)

    @app.route("/fhir/<path:path>", methods=["GET", "POST", "PUT"])
    def fhir(path: str) -> Response:
        auth = request.headers.get("Authorization", "")
        ehr.seen_authorizations.append(auth)
        grant = ehr.tokens.get(auth.removeprefix("Bearer ").strip()) if auth.startswith("Bearer ") else None
        if grant is None:
            return _outcome(401, "login", "no valid bearer token")
        if request.method != "GET":
            rtype = path.split("/")[0]
            body = request.get_json(force=True, silent=True) or {}
            scopes = grant["scope"].split()
            if not any(s.startswith(f"patient/{rtype}.") and "c" in s.split(".", 1)[1] for s in scopes):
                return _outcome(403, "forbidden", f"the token has no write scope for {rtype}")
            if (body.get("subject") or {}).get("reference") != f"Patient/{grant['patient']}":
                return _outcome(403, "forbidden", "the subject is not the patient in context")
            if ehr.refuse_writes:
                return _outcome(422, "business-rule", "QuestionnaireResponse writes are disabled in this EHR")
            ehr.posted.append(body)
        if ehr.upstream:
            return _forward(ehr, path, f"{base()}/fhir")
        return _in_memory(ehr, path)

    return app


def _forward(ehr: SmartEhr, path: str, own_base: str) -> Response:
    assert ehr.upstream is not None
    query = request.query_string.decode()
    url = f"{ehr.upstream}/{path}" + (f"?{query}" if query else "")
    headers = {"Authorization": f"Bearer {ehr.upstream_token}", "Accept": "application/fhir+json"}
    if request.method != "GET":
        headers["Content-Type"] = "application/fhir+json"
        headers["Prefer"] = request.headers.get("Prefer", "return=representation")
    answer = requests.request(request.method, url, data=request.get_data(), headers=headers, timeout=60)
    text = answer.text.replace(ehr.upstream, own_base)
    response = Response(text, status=answer.status_code, content_type="application/fhir+json")
    if answer.headers.get("Location"):
        response.headers["Location"] = answer.headers["Location"].replace(ehr.upstream, own_base)
    return response


def _in_memory(ehr: SmartEhr, path: str) -> Response:
    parts = path.split("/")
    if request.method == "POST" and len(parts) == 1:
        resource = dict(request.get_json(force=True))
        resource["id"] = secrets.token_hex(8)
        ehr.stored[(parts[0], resource["id"])] = resource
        return Response(json.dumps(resource), status=201, content_type="application/fhir+json")
    if request.method == "GET" and len(parts) == 2:
        found = ehr.stored.get((parts[0], parts[1]))
        if found is None:
            return _outcome(404, "not-found", f"{path} is not here")
        return Response(json.dumps(found), content_type="application/fhir+json")
    if request.method == "GET" and len(parts) == 1:
        hits = [r for (t, _), r in ehr.stored.items() if t == parts[0]]
        bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in hits]}
        return Response(json.dumps(bundle), content_type="application/fhir+json")
    return _outcome(400, "not-supported", "not supported here")
