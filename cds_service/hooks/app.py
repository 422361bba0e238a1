"""Flask application factory: discovery, hook invocation, feedback, health, auth, CORS and error handling."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from flask import Flask, Response, g, jsonify, request
from flask_cors import CORS
from werkzeug.exceptions import HTTPException

from cds_service.attest.app import attest_blueprint
from cds_service.attest.questionnaires import QuestionnaireCatalogue
from cds_service.attest.routes import questionnaire_blueprint
from cds_service.config import Settings
from cds_service.hooks.auth import AuthError, ClientAuthenticator
from cds_service.hooks.feedback import FeedbackStore, FeedbackStoreUnavailable, parse_feedback
from cds_service.hooks.gc_tuning import tune_garbage_collector
from cds_service.hooks.invocation import HookInvoker, PreconditionFailed
from cds_service.hooks.metrics import exposition, observe_request
from cds_service.hooks.openapi import openapi_document
from cds_service.hooks.protocol import ProtocolError, parse_hook_request
from cds_service.hooks.services import SERVICES, service_for_hook
from cds_service.logs import configure_logging, log_event

logger = logging.getLogger("iop_cds")


def operation_outcome(code: str, diagnostics: str, expression: str | None = None, status: int = 400) -> Response:
    """A JSON OperationOutcome error response (CDS Hooks 3 recommends one on every non-2xx)."""
    issue: dict[str, Any] = {"severity": "error", "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = [expression]
    response = jsonify({"resourceType": "OperationOutcome", "issue": [issue]})
    response.status_code = status
    return response


def create_app(settings: Settings | None = None) -> Flask:
    """Build the service from settings (default: environment variables)."""
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    app = Flask(__name__)
    app.config["SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.json.sort_keys = False  # keep card fields in the order the spec lists them
    CORS(
        app,
        resources={
            r"/cds-services*": {"origins": list(settings.cors_origins)},
            r"/healthz": {"origins": "*"},
            r"/fhir/Questionnaire*": {"origins": "*"},  # public, no patient data: any DTR app may read them
        },
        methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Content-Type", "Authorization"],
        supports_credentials=False,
        max_age=600,
    )
    authenticator = ClientAuthenticator(settings) if settings.auth else None
    invoker = HookInvoker(settings)
    feedback_store = FeedbackStore(settings.feedback_db)
    app.extensions["iop_cds"] = {"invoker": invoker, "feedback": feedback_store, "authenticator": authenticator}
    tune_garbage_collector()
    contract = openapi_document(invoker.policy_keys())
    questionnaires = QuestionnaireCatalogue(settings, invoker.mappings)
    app.register_blueprint(questionnaire_blueprint(questionnaires))
    reevaluate = lambda req: invoker.invoke(SERVICES[service_for_hook(req.hook)], req)  # noqa: E731
    app.register_blueprint(attest_blueprint(settings, questionnaires, reevaluate))

    @app.before_request
    def start_clock_and_authenticate() -> Response | None:
        g.started = time.perf_counter()
        g.hook_instance = None
        g.service_id = request.view_args.get("service_id") if request.view_args else None
        if authenticator is None or request.method == "OPTIONS" or not request.path.startswith("/cds-services"):
            return None
        audience = request.base_url
        if settings.public_base_url:
            audience = settings.public_base_url.rstrip("/") + request.path
        try:
            g.client_claims = authenticator.verify(request.headers.get("Authorization"), audience)
        except AuthError as exc:
            log_event(logger, "auth.rejected", level=logging.WARNING, reason=exc.reason, path=request.path)
            return Response(status=401)
        return None

    @app.after_request
    def log_request(response: Response) -> Response:
        started = getattr(g, "started", None)
        duration_ms = round((time.perf_counter() - started) * 1000, 2) if started else None
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        observe_request(route, response.status_code, (duration_ms or 0.0) / 1000)
        log_event(
            logger,
            "http.request",
            method=request.method,
            path=request.path,
            status=response.status_code,
            duration_ms=duration_ms,
            hookInstance=getattr(g, "hook_instance", None),
            service=getattr(g, "service_id", None),
        )
        return response

    @app.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(contract)

    @app.get("/metrics")
    def metrics() -> Response:
        body, content_type = exposition()
        return Response(body, content_type=content_type)

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok", "policies": invoker.policy_keys()})

    @app.get("/cds-services")
    def discovery() -> Response:
        return jsonify({"services": [s.discovery_entry() for s in SERVICES.values()]})

    @app.post("/cds-services/<service_id>")
    def invoke(service_id: str) -> Response:
        service = SERVICES.get(service_id)
        if service is None:
            return operation_outcome("not-found", f"no CDS service '{service_id}'", status=404)
        body = request.get_json(silent=True)
        if body is None:
            return operation_outcome("invalid", "the request body is not valid JSON", "$")
        if isinstance(body, dict) and isinstance(body.get("hookInstance"), str):
            g.hook_instance = body["hookInstance"]
        try:
            hook_request = parse_hook_request(body, service.hook)
        except ProtocolError as exc:
            log_event(
                logger,
                "hook.invalid",
                level=logging.INFO,
                field=exc.field,
                reason=exc.message,
                hookInstance=g.hook_instance,
                service=service_id,
            )
            return operation_outcome("invalid", exc.message, exc.field)
        try:
            answer = invoker.invoke(service, hook_request)
        except ProtocolError as exc:
            return operation_outcome("invalid", exc.message, exc.field)
        except PreconditionFailed as exc:
            return operation_outcome("incomplete", str(exc), status=412)
        return jsonify(answer)

    @app.post("/cds-services/<service_id>/feedback")
    def feedback(service_id: str) -> Response:
        if service_id not in SERVICES:
            return operation_outcome("not-found", f"no CDS service '{service_id}'", status=404)
        body = request.get_json(silent=True)
        if body is None:
            return operation_outcome("invalid", "the request body is not valid JSON", "$")
        try:
            items = parse_feedback(body, settings.max_feedback_items)
        except ProtocolError as exc:
            return operation_outcome("invalid", exc.message, exc.field)
        try:
            stored = feedback_store.save(service_id, items)
        except FeedbackStoreUnavailable as exc:
            log_event(logger, "feedback.unavailable", level=logging.ERROR, service=service_id, reason=str(exc))
            return operation_outcome("transient", "feedback could not be stored; retry later", status=503)
        return jsonify({"received": len(items), "stored": stored})

    if settings.console:  # off by default: then /console is a 404 like any unknown path
        from cds_service.console import console_blueprint

        def evaluate_in_process(body: dict[str, Any]) -> dict[str, Any]:
            service = SERVICES[service_for_hook(body["hook"])]
            return invoker.invoke(service, parse_hook_request(body, service.hook))

        app.register_blueprint(console_blueprint(settings, invoker.mappings, evaluate_in_process))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        code = {404: "not-found", 405: "not-supported", 413: "too-costly"}.get(exc.code or 500, "processing")
        response = operation_outcome(code, exc.description or exc.name, status=exc.code or 500)
        if exc.code == 405 and exc.get_response().headers.get("Allow"):
            response.headers["Allow"] = exc.get_response().headers["Allow"]
        return response

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception) -> Response:
        incident = str(uuid.uuid4())
        logger.error(
            "unexpected error",
            exc_info=exc,
            extra={
                "fields": {
                    "event": "http.error",
                    "incident": incident,
                    "hookInstance": getattr(g, "hook_instance", None),
                    "service": getattr(g, "service_id", None),
                }
            },
        )
        return operation_outcome("exception", f"internal error; incident {incident}", status=500)

    return app
