"""The console's pages: policies, a policy's criteria tree, a value set, the try-it form and its result, login."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, make_response, redirect, render_template, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from cds_service.config import Settings
from cds_service.console.access import COOKIE, COOKIE_PATH, ConsoleAccess
from cds_service.console.catalog import Catalog
from cds_service.console.tryit import (
    HOOKS,
    UploadError,
    evaluation_time,
    evaluations,
    hook_request,
    markdown,
    pretty,
    read_upload,
    record_of,
    safe_url,
    size_words,
)
from cds_service.engine.mapping import Mappings
from cds_service.logs import log_event
from cds_service.record.gather import PreconditionFailed

logger = logging.getLogger("iop_cds.console")

Evaluate = Callable[[dict[str, Any]], dict[str, Any]]
"""Answers a hook request in-process (the app's invoker): the console never calls a FHIR server."""

# Pages are self-contained: styles from /console/static, no script, forms post to the console only.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
INDICATOR_WORDS = {"critical": "Critical", "warning": "Warning", "info": "Info"}
FORM_OVERHEAD_BYTES = 64 * 1024
"""Room for the form's other fields and multipart boundaries on top of the largest upload."""


def console_blueprint(settings: Settings, mappings: Mappings, evaluate: Evaluate) -> Blueprint:
    """The ``/console`` pages over these mappings; hook requests are answered by ``evaluate``."""
    console = Blueprint("console", __name__, url_prefix="/console", template_folder="templates", static_folder="static")
    access = ConsoleAccess(settings)
    catalog = Catalog(mappings)
    limit = settings.console_max_upload_bytes

    def page(template: str, status: int = 200, **values: Any) -> Response:
        return make_response(render_template(f"console/{template}", access=access, **values), status)

    def problem(status: int, title: str, message: str) -> Response:
        return page("problem.html", status, title=title, message=message)

    def refused() -> Response:
        return problem(
            403,
            "Console refused",
            "The console is on, but the service requires authentication (IOP_CDS_AUTH) and no "
            "IOP_CDS_CONSOLE_TOKEN is configured. Set a console token of at least 16 characters, or turn the "
            "console off.",
        )

    @console.before_request
    def guard() -> Response | None:
        if request.endpoint in ("console.static", "console.login"):
            return None
        if access.refused:
            return refused()
        if access.allows(request.cookies.get(COOKIE), request.headers.get("Authorization")):
            return None
        if request.method == "GET":
            return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
        return problem(401, "Sign-in needed", "Enter the console token first.")

    @console.after_request
    def harden(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @console.route("/login", methods=["GET", "POST"])
    def login() -> Response:
        target = _local_target(request.values.get("next", ""))
        if access.refused:
            return refused()
        if access.open:
            return redirect(target)
        if request.method == "GET":
            return page("login.html", next=target)
        if not access.token_matches(request.form.get("token", "")):
            log_event(logger, "console.login-refused", level=logging.WARNING)
            return page("login.html", 401, next=target, error="That is not the console token.")
        value, seconds = access.session_cookie()
        response = redirect(target)
        response.set_cookie(
            COOKIE,
            value,
            max_age=seconds,
            path=COOKIE_PATH,
            httponly=True,
            samesite="Strict",
            secure=request.is_secure or settings.public_base_url.startswith("https://"),
        )
        return response

    @console.post("/logout")
    def logout() -> Response:
        response = redirect(url_for("console.login"))
        response.delete_cookie(COOKIE, path=COOKIE_PATH)
        return response

    @console.get("")
    @console.get("/")
    def index() -> Response:
        policies = [(p, sum(1 for _ in p.criteria())) for p in catalog.policies()]
        return page("index.html", policies=policies, valuesets=sorted(catalog.raw_valuesets))

    @console.get("/policies/<key>")
    def policy(key: str) -> Response:
        tree = catalog.tree(key)
        if tree is None:
            return problem(404, "No such policy", f"There is no policy {key!r}.")
        return page("policy.html", policy=mappings.policies[key], tree=tree)

    @console.get("/valuesets/<name>")
    def valueset(name: str) -> Response:
        view = catalog.valueset(name)
        if view is None:
            return problem(404, "No such value set", f"There is no value set {name!r}.")
        return page("valueset.html", vs=view)

    @console.get("/try")
    def try_form() -> Response:
        return page("try.html", form={}, policies=catalog.policies(), hooks=HOOKS, limit=size_words(limit))

    @console.post("/try")
    def try_run() -> Response:
        request.max_content_length = limit + FORM_OVERHEAD_BYTES
        request.max_form_memory_size = limit + FORM_OVERHEAD_BYTES
        try:
            form = request.form.to_dict()
            upload = request.files.get("file")
            data = upload.read(limit + 1) if upload is not None and upload.filename else b""
        except RequestEntityTooLarge:
            return _bad_upload(f"The upload is too big: the console accepts at most {size_words(limit)}.", {})
        if not data.strip():
            data = form.get("json", "").encode("utf-8")
        try:
            at = evaluation_time(form.get("at", ""))
            body, notes = hook_request(
                read_upload(data, limit),
                form.get("hook", ""),
                form.get("policy", ""),
                at,
                form.get("encounter", ""),
                mappings,
            )
            response = evaluate(body)
        except UploadError as exc:
            return _bad_upload(str(exc), form)
        except PreconditionFailed as exc:
            return _bad_upload(
                f"The request lacks data the service needs and the console calls no FHIR server: {exc}", form
            )
        except ValueError as exc:  # the hook contract (ProtocolError) names the member at fault
            return _bad_upload(f"The request breaks the CDS Hooks contract: {exc}", form)
        except Exception as exc:  # a record the engine cannot evaluate must still get a page, with an incident id
            incident = str(uuid.uuid4())
            logger.error("console evaluation failed", exc_info=exc, extra={"fields": {"incident": incident}})
            return _bad_upload(f"The service could not evaluate this upload (incident {incident}, see the log).", form)
        record = record_of(body)
        cards = [_card_view(card) for card in response.get("cards", [])]
        log_event(logger, "console.evaluated", hook=body["hook"], cards=len(cards))
        return page(
            "result.html",
            hook=body["hook"],
            at=(body.get("extension") or {}).get("iop-cds.evaluation-time") or "now (server clock)",
            notes=notes,
            cards=cards,
            evaluations=evaluations(response, mappings, record),
            system_actions=response.get("systemActions", []),
            raw=pretty(response),
        )

    def _bad_upload(message: str, form: dict[str, Any]) -> Response:
        kept = {k: v for k, v in form.items() if k != "json"}
        return page(
            "try.html",
            400,
            error=message,
            form=kept,
            policies=catalog.policies(),
            hooks=HOOKS,
            limit=size_words(limit),
        )

    return console


def _local_target(target: str) -> str:
    """A redirect target inside the console only (never another site)."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/console") or target.startswith("//"):
        return "/console"
    return target


def _card_view(card: dict[str, Any]) -> dict[str, Any]:
    """A card ready for the template: detail as safe HTML, links and source URL only when http(s)."""
    source = card.get("source") or {}
    return {
        "summary": card.get("summary", ""),
        "indicator": card.get("indicator", "info") if card.get("indicator") in INDICATOR_WORDS else "info",
        "indicator_words": INDICATOR_WORDS.get(card.get("indicator", ""), "Info"),
        "detail": markdown(card.get("detail", "")),
        "source_label": source.get("label", ""),
        "source_url": safe_url(source.get("url")),
        "topic": (source.get("topic") or {}).get("code", ""),
        "links": [
            {"label": link.get("label", ""), "url": safe_url(link.get("url")), "type": link.get("type", "")}
            for link in card.get("links", [])
        ],
        "suggestions": [
            {
                "label": s.get("label", ""),
                "recommended": bool(s.get("isRecommended")),
                "actions": [
                    {"type": a.get("type", ""), "description": a.get("description", ""), "resource": pretty(a)}
                    for a in s.get("actions", [])
                ],
            }
            for s in card.get("suggestions", [])
        ],
        "override_reasons": [r.get("display") or r.get("code", "") for r in card.get("overrideReasons", [])],
        "selection": card.get("selectionBehavior", ""),
    }
