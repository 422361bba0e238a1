"""The SMART attestation app: EHR launch → authorize (PKCE) → form of open criteria → QuestionnaireResponse → re-check.

Pages are server-rendered Jinja templates. The SMART token lives only in the in-memory session store (keyed by an
opaque, HttpOnly cookie), is sent only to an allow-listed ``iss``, is dropped once the re-evaluation has run, and
is never logged. The re-evaluation is the service's own hook pipeline in fetch mode against ``iss``.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import requests
from flask import Blueprint, redirect, render_template, request

from cds_service.attest import smart
from cds_service.attest.questionnaires import COMMENT_SUFFIX, QuestionnaireCatalogue, QuestionnaireEntry, policy_quote
from cds_service.attest.sessions import AttestSession, SessionStore
from cds_service.cards.documentation import APP_CONTEXT_KEY, canonical_reference
from cds_service.config import Settings
from cds_service.logs import log_event
from cds_service.record.request import FHIR_ID, FhirAuthorization, HookRequest

logger = logging.getLogger("iop_cds.attest")

COOKIE = "iop_cds_attest"
USER_REFERENCE = re.compile(rf"(Patient|Practitioner|PractitionerRole|RelatedPerson)/{FHIR_ID.pattern}")
Reevaluate = Callable[[HookRequest], dict[str, Any]]
"""Runs one hook call through the service's pipeline and returns the CDS Hooks response body."""

STATUS_WORDS = {
    "met": "met",
    "not-met": "not met",
    "unknown": "not documented",
    "not-applicable": "does not apply",
    "pending": "not due yet",
}

ERRORS: dict[str, tuple[int, str, str]] = {
    "launch": (
        400,
        "The app needs a launch from the EHR",
        "Open the attestation app from the IOP documentation card in the EHR; it cannot be opened on its own.",
    ),
    "iss": (
        403,
        "This EHR is not configured for the attestation app",
        "The app only works with the FHIR servers its administrator listed (IOP_CDS_ATTEST_ALLOWED_ISSUERS).",
    ),
    "discovery": (
        502,
        "The EHR's SMART configuration could not be used",
        "Ask the EHR team to check the SMART registration of the attestation app.",
    ),
    "session": (
        400,
        "This attestation session has expired or is unknown",
        "Open the app again from the documentation card; sessions end after a while and when the app restarts.",
    ),
    "state": (
        400,
        "The sign-in answer does not belong to this session",
        "The authorization response did not match the request this browser started (state mismatch). "
        "Open the app again from the documentation card.",
    ),
    "denied": (
        403,
        "Authorization was denied",
        "The EHR did not allow the attestation app to act for you. Nothing was recorded. Open the app again from "
        "the documentation card and allow access, or document the requirements in the EHR.",
    ),
    "authorize": (
        400,
        "The EHR could not authorize the app",
        "Nothing was recorded. Ask the EHR team to check the SMART registration of the attestation app.",
    ),
    "token": (
        502,
        "The EHR did not issue an access token",
        "Nothing was recorded. Open the app again from the documentation card.",
    ),
    "context": (
        400,
        "The launch context is incomplete",
        "The app needs the patient, the signed-in user and the documentation card's context.",
    ),
    "csrf": (400, "The form could not be accepted", "Reload the form and answer again."),
    "write": (
        502,
        "The EHR refused to save the attestation",
        "Nothing was recorded in the patient's chart. The requirements stay undecided; document them in the EHR "
        "or try again.",
    ),
}


def attest_blueprint(
    settings: Settings, catalogue: QuestionnaireCatalogue, reevaluate: Reevaluate, store: SessionStore | None = None
) -> Blueprint:
    """The ``/attest`` pages."""
    bp = Blueprint("attest", __name__, url_prefix="/attest", template_folder="templates")
    sessions = store or SessionStore(settings.attest_session_minutes * 60)
    allowed = {smart.normalise_base(i) for i in settings.attest_allowed_issuers}
    redirect_uri = f"{settings.public_base()}/attest/callback"
    secure_cookie = settings.public_base().startswith("https://") or settings.attest_cookie_samesite == "None"
    zone = ZoneInfo(settings.timezone)

    def error_page(kind: str, detail: str = "") -> tuple[str, int]:
        status, title, advice = ERRORS[kind]
        log_event(logger, "attest.error", level=logging.INFO, kind=kind, status=status)
        return render_template("attest_error.html", title=title, advice=advice, detail=detail, kind=kind), status

    def current() -> tuple[str | None, AttestSession | None]:
        sid = request.cookies.get(COOKIE)
        return sid, sessions.get(sid)

    @bp.get("/launch")
    def launch() -> Any:
        iss, launch_id = request.args.get("iss", "").strip(), request.args.get("launch", "").strip()
        if not iss or not launch_id:
            missing = " and ".join(n for n, v in (("launch", launch_id), ("iss", iss)) if not v)
            return error_page("launch", f"The request has no {missing} parameter.")
        if smart.normalise_base(iss) not in allowed:
            return error_page("iss", f"{iss} is not on the list of EHRs this app may send a token to.")
        try:
            config = smart.discover(iss)
        except smart.SmartError as exc:
            return error_page("discovery", exc.detail)
        session = AttestSession(iss=smart.normalise_base(iss), launch=launch_id, smart=config)
        sid = sessions.create(session)
        target = smart.authorization_url(
            config,
            client_id=settings.attest_client_id,
            redirect_uri=redirect_uri,
            scope=settings.attest_scopes,
            state=session.state,
            code_verifier=session.code_verifier,
            launch=launch_id,
            aud=session.iss,
        )
        response = redirect(target, 302)
        response.set_cookie(
            COOKIE,
            sid,
            max_age=settings.attest_session_minutes * 60,
            path="/attest",
            secure=secure_cookie,
            httponly=True,
            samesite=settings.attest_cookie_samesite,
        )
        log_event(logger, "attest.launch", level=logging.INFO)
        return response

    @bp.get("/callback")
    def callback() -> Any:
        sid, session = current()
        if session is None:
            return error_page("session")
        if request.args.get("state") != session.state:
            sessions.drop(sid)
            return error_page("state")
        error = request.args.get("error")
        if error:
            sessions.drop(sid)
            description = request.args.get("error_description", "")
            if error == "access_denied":
                return error_page("denied", description)
            return error_page("authorize", f"{error}: {description}" if description else error)
        code = request.args.get("code")
        if not code:
            sessions.drop(sid)
            return error_page("authorize", "the answer carries neither a code nor an error")
        try:
            token = smart.exchange_code(
                session.smart,
                client_id=settings.attest_client_id,
                redirect_uri=redirect_uri,
                scope=settings.attest_scopes,
                code=code,
                code_verifier=session.code_verifier,
            )
            user = smart.user_of(token, session.smart, settings.attest_client_id, session.iss)
            context = smart.launch_context(token, user)
            entry, criteria = _launch_items(catalogue, context.app_context)
        except smart.SmartError as exc:
            sessions.drop(sid)
            return error_page(exc.kind, exc.detail)
        if not FHIR_ID.fullmatch(context.patient):
            sessions.drop(sid)
            return error_page("context", "the patient id in context is not a FHIR id")
        session.access_token = token["access_token"]
        session.patient = context.patient
        session.user = _relative(context.user, session.iss)
        session.app_context = {**context.app_context, "_entry": entry.id, "_criteria": criteria}
        session.before = _statuses(_run(reevaluate, session), session)
        log_event(logger, "attest.authorized", level=logging.INFO, questionnaire=entry.id, items=len(criteria))
        return redirect("/attest/form", 303)

    @bp.get("/form")
    def form() -> Any:
        _, session = current()
        if session is None or not session.authorized or session.app_context is None:
            return error_page("session")
        return _render_form(session)

    def _render_form(session: AttestSession, problem: str = "", status: int = 200) -> tuple[str, int]:
        assert session.app_context is not None
        entry = catalogue.get(session.app_context["_entry"])
        assert entry is not None
        items = [
            _form_item(entry, key, (session.before or {}).get("statuses", {}))
            for key in session.app_context["_criteria"]
        ]
        page = render_template(
            "attest_form.html",
            title=entry.resource["title"],
            entry=entry,
            items=items,
            patient=_patient_name(session) or f"Patient/{session.patient}",
            user=_user_name(session),
            csrf=session.csrf,
            problem=problem,
        )
        return page, status

    @bp.post("/form")
    def submit() -> Any:
        sid, session = current()
        if session is None or not session.authorized or session.app_context is None:
            return error_page("session")
        if request.form.get("csrf") != session.csrf:
            return error_page("csrf")
        entry = catalogue.get(session.app_context["_entry"])
        assert entry is not None
        answers: list[tuple[str, bool, str]] = []
        for key in session.app_context["_criteria"]:
            value = request.form.get(f"answer-{key}", "")
            if value in ("yes", "no"):
                answers.append((key, value == "yes", request.form.get(f"comment-{key}", "").strip()[:2000]))
        if not answers:
            return _render_form(session, "Answer at least one requirement with yes or no.", 400)
        response = _questionnaire_response(entry, session, answers, datetime.now(zone))
        try:
            written = _write(session, response)
        except smart.SmartError as exc:
            return error_page(exc.kind, exc.detail)
        after = _statuses(_run(reevaluate, session), session)
        session.result = {"written": written, "answers": answers, "after": after}
        session.access_token = None  # the token has done its work: nothing further is sent to the EHR
        log_event(logger, "attest.recorded", level=logging.INFO, questionnaire=entry.id, answers=len(answers))
        return redirect("/attest/done", 303)

    @bp.get("/done")
    def done() -> Any:
        sid, session = current()
        if session is None or session.result is None or session.app_context is None:
            return error_page("session")
        entry = catalogue.get(session.app_context["_entry"])
        assert entry is not None
        before = (session.before or {}).get("statuses", {})
        after = session.result["after"]["statuses"]
        rows = []
        for key in session.app_context["_criteria"]:
            item = entry.item(key) or {}
            rows.append(
                {
                    "id": key,
                    "text": item.get("text", key),
                    "before": STATUS_WORDS.get(before.get(key, ""), before.get(key, "—")),
                    "after": STATUS_WORDS.get(after.get(key, ""), after.get(key, "—")),
                    "changed": before.get(key) != after.get(key),
                    "reason": session.result["after"]["reasons"].get(key, ""),
                }
            )
        return render_template(
            "attest_done.html",
            title=entry.resource["title"],
            rows=rows,
            written=session.result["written"],
            open_before=(session.before or {}).get("open"),
            open_after=session.result["after"]["open"],
        )

    return bp


def _launch_items(
    catalogue: QuestionnaireCatalogue, app_context: dict[str, Any]
) -> tuple[QuestionnaireEntry, list[str]]:
    """The Questionnaire and the open criterion ids the card's appContext names (each must be one of its items)."""
    ours = app_context.get(APP_CONTEXT_KEY)
    canonicals = app_context.get("questionnaire")
    if not isinstance(ours, dict) or not isinstance(canonicals, list) or not canonicals:
        raise smart.SmartError("context", "the appContext names no IOP Questionnaire and criteria")
    entry = next((e for c in canonicals if isinstance(c, str) and (e := catalogue.by_canonical(c))), None)
    if entry is None:
        raise smart.SmartError("context", "the appContext's Questionnaire is not one this service publishes")
    criteria = [c for c in ours.get("criteria") or [] if isinstance(c, str) and entry.item(c) is not None]
    if not criteria:
        raise smart.SmartError("context", "the appContext names no open criterion of its Questionnaire")
    if ours.get("hook") not in ("order-sign", "encounter-discharge"):
        raise smart.SmartError("context", "the appContext names no hook to re-evaluate")
    return entry, criteria


def _relative(reference: str, iss: str) -> str:
    """``{iss}/Practitioner/1`` → ``Practitioner/1``; other references unchanged."""
    return reference[len(iss) + 1 :] if reference.startswith(iss + "/") else reference


def _form_item(entry: QuestionnaireEntry, key: str, before: dict[str, str]) -> dict[str, Any]:
    item = entry.item(key) or {}
    citation = next((i["text"] for i in item.get("item", []) if i.get("type") == "display"), "")
    return {
        "id": key,
        "text": item.get("text", key),
        "citation": citation,
        "quote": policy_quote(citation),
        "now": STATUS_WORDS.get(before.get(key, ""), before.get(key, "")),
    }


def _hook_request(session: AttestSession) -> HookRequest:
    """The hook call the card came from, in fetch mode against ``iss`` with the SMART token."""
    assert session.app_context is not None and session.access_token is not None
    ours = session.app_context[APP_CONTEXT_KEY]
    context: dict[str, Any] = {"patientId": session.patient, "userId": session.user}
    if ours["hook"] == "order-sign":
        orders = []
        for raw in session.app_context.get("order") or []:
            try:
                parsed = json.loads(raw) if isinstance(raw, str) else raw
            except ValueError:
                continue
            if isinstance(parsed, dict) and parsed.get("resourceType"):
                orders.append({"resource": parsed})
        context["draftOrders"] = {"resourceType": "Bundle", "type": "collection", "entry": orders}
    else:
        context["encounterId"] = ours.get("encounter")
    return HookRequest(
        hook=ours["hook"],
        hook_instance=str(uuid.uuid4()),
        context=context,
        prefetch={},
        fhir_server=session.iss,
        fhir_authorization=FhirAuthorization(access_token=session.access_token, token_type="Bearer", subject="attest"),
        extension={"iop-cds.policies": [ours["policy"]]},
    )


def _run(reevaluate: Reevaluate, session: AttestSession) -> dict[str, Any]:
    try:
        return reevaluate(_hook_request(session))
    except Exception as exc:  # a failed re-check must not lose the attestation page; say it could not be checked
        log_event(logger, "attest.reevaluation-failed", level=logging.WARNING, error=type(exc).__name__)
        return {}


def _statuses(response: dict[str, Any], session: AttestSession) -> dict[str, Any]:
    """The statuses and reasons of the launch's policy and phase, and how many items its documentation card names."""
    assert session.app_context is not None
    ours = session.app_context[APP_CONTEXT_KEY]
    statuses: dict[str, str] = {}
    reasons: dict[str, str] = {}
    for evaluation in (response.get("extension") or {}).get("iop-cds.evaluations", []):
        if evaluation.get("policy") == ours.get("policy") and evaluation.get("phase") == ours.get("phase"):
            for c in evaluation.get("criteria", []):
                statuses.setdefault(c["id"], c["status"])
                reasons.setdefault(c["id"], c.get("reason", ""))
    open_items = 0 if response else None
    for card in response.get("cards", []):
        for link in card.get("links", []):
            if link.get("type") != "smart":
                continue
            try:
                context = json.loads(link.get("appContext") or "{}")
            except ValueError:
                continue
            named = (context.get(APP_CONTEXT_KEY) or {}) if isinstance(context, dict) else {}
            if named.get("policy") == ours.get("policy") and named.get("phase") == ours.get("phase"):
                open_items = len(named.get("named") or [])
    return {"statuses": statuses, "reasons": reasons, "open": open_items}


def _questionnaire_response(
    entry: QuestionnaireEntry, session: AttestSession, answers: list[tuple[str, bool, str]], now: datetime
) -> dict[str, Any]:
    """One completed QuestionnaireResponse: subject, author = the user, authored with offset, questionnaire, items."""
    assert session.app_context is not None
    items = []
    for key, value, comment in answers:
        answer: dict[str, Any] = {"valueBoolean": value}
        if comment:
            answer["item"] = [{"linkId": key + COMMENT_SUFFIX, "text": "Comment", "answer": [{"valueString": comment}]}]
        items.append({"linkId": key, "text": (entry.item(key) or {}).get("text", key), "answer": [answer]})
    resource: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": canonical_reference(entry.url, entry.version),
        "status": "completed",
        "subject": {"reference": f"Patient/{session.patient}"},
        "authored": now.isoformat(timespec="seconds"),
        "author": {"reference": session.user},
        "item": items,
    }
    encounter = (session.app_context.get(APP_CONTEXT_KEY) or {}).get("encounter")
    if isinstance(encounter, str) and FHIR_ID.fullmatch(encounter):
        resource["encounter"] = {"reference": f"Encounter/{encounter}"}
    from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse  # loaded on first use, like the app

    QuestionnaireResponse.model_validate(resource)
    return resource


def _write(session: AttestSession, resource: dict[str, Any]) -> str:
    """POST the QuestionnaireResponse to ``iss`` with the SMART token; its new ``Type/id`` (or what the EHR said)."""
    assert session.access_token is not None
    try:
        response = requests.post(
            f"{session.iss}/QuestionnaireResponse",
            data=json.dumps(resource),
            headers={
                "Authorization": f"Bearer {session.access_token}",
                "Content-Type": "application/fhir+json",
                "Accept": "application/fhir+json",
                "Prefer": "return=representation",
            },
            timeout=smart.TIMEOUT_S,
        )
    except requests.RequestException as exc:
        raise smart.SmartError("write", f"the FHIR server could not be reached ({type(exc).__name__})") from None
    if response.status_code not in (200, 201):
        raise smart.SmartError("write", f"HTTP {response.status_code}: {_diagnostics(response)}")
    try:
        body = response.json()
    except ValueError:
        body = {}
    new_id = body.get("id") if isinstance(body, dict) else None
    if not new_id:
        location = response.headers.get("Location", "")
        parts = location.split("/_history")[0].rstrip("/").split("/")
        new_id = parts[-1] if len(parts) >= 2 and parts[-2] == "QuestionnaireResponse" else None
    return f"QuestionnaireResponse/{new_id}" if new_id else "QuestionnaireResponse (id not returned)"


def _diagnostics(response: requests.Response) -> str:
    """What an OperationOutcome says, else the reason phrase."""
    try:
        body = response.json()
        issues = body.get("issue") if isinstance(body, dict) else None
        texts = [i.get("diagnostics") or i.get("details", {}).get("text") or i.get("code") for i in issues or []]
        texts = [t for t in texts if isinstance(t, str)]
        if texts:
            return "; ".join(texts)[:500]
    except ValueError:
        pass
    return response.reason or "refused"


def _read(session: AttestSession, reference: str) -> dict[str, Any] | None:
    """A resource read from ``iss`` with the token (``Type/id`` of the user or patient only), or None."""
    assert session.access_token is not None
    if not USER_REFERENCE.fullmatch(reference):
        return None
    try:
        response = requests.get(
            f"{session.iss}/{reference}",
            headers={"Authorization": f"Bearer {session.access_token}", "Accept": "application/fhir+json"},
            timeout=smart.TIMEOUT_S,
        )
        found = response.json() if response.status_code == 200 else None
    except (requests.RequestException, ValueError):
        return None
    return found if isinstance(found, dict) else None


def _name_of(resource: dict[str, Any] | None) -> str:
    names = (resource or {}).get("name") or []
    name = names[0] if isinstance(names, list) and names and isinstance(names[0], dict) else {}
    return str(name.get("text") or " ".join([*(name.get("given") or []), name.get("family") or ""]).strip())


def _patient_name(session: AttestSession) -> str | None:
    """The patient's name and birth date for the page header (read with the token), or None."""
    patient = _read(session, f"Patient/{session.patient}")
    text, born = _name_of(patient), (patient or {}).get("birthDate")
    return f"{text} (born {born})" if text and born else text or None


def _user_name(session: AttestSession) -> str:
    """The signed-in user as the page shows them: name and reference, or the reference alone."""
    reference = session.user or ""
    name = _name_of(_read(session, reference)) if reference.startswith(("Practitioner/", "RelatedPerson/")) else ""
    return f"{name} ({reference})" if name else reference
