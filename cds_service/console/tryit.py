"""The try-it page's work: an upload read into a hook request, and a hook response prepared as an EHR shows it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markupsafe import Markup

from cds_service.cards.wording import describe
from cds_service.engine.mapping import Mappings
from cds_service.offline import STATUS_ORDER
from cds_service.record.hook_requests import build_hook_request, bundle_resources
from cds_service.record.patient_record import PatientRecord

HOOKS = ("order-sign", "encounter-discharge")
# commonmark with raw HTML off: a card's detail is text from the service, but the record it quotes is not.
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")
_DROPPED_MEMBERS = ("fhirServer", "fhirAuthorization")
"""The console never queries a FHIR server: an uploaded request is evaluated on its prefetch alone."""


class UploadError(ValueError):
    """An upload or form value the console cannot evaluate; the message names the problem for the page."""


def size_words(n: int) -> str:
    """A byte count as people read it (``2.5 MB``)."""
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n} bytes"


def read_upload(data: bytes, limit: int) -> dict[str, Any]:
    """The uploaded JSON object; UploadError when it is empty, too big, not UTF-8, not JSON or not an object."""
    if not data.strip():
        raise UploadError("Nothing was uploaded: choose a JSON file or paste a Bundle or hook request.")
    if len(data) > limit:
        raise UploadError(
            f"The upload is too big: {size_words(len(data))}; the console accepts at most {size_words(limit)} "
            "(IOP_CDS_CONSOLE_MAX_UPLOAD_BYTES)."
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UploadError("The upload is not UTF-8 text: upload a JSON file.") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UploadError(
            f"The upload is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from None
    if not isinstance(value, dict):
        raise UploadError(
            f"The upload is JSON but not an object (it is a {type(value).__name__}): "
            "expected a FHIR Bundle or a CDS Hooks request."
        )
    return value


def evaluation_time(text: str) -> str | None:
    """The form's evaluation time as ISO 8601 (None: now); UploadError when it has no date, time or offset."""
    text = text.strip()
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or "T" not in text or parsed.tzinfo is None:
        raise UploadError(
            f"The evaluation time {text!r} needs a date, a time and a UTC offset, e.g. 2025-03-03T09:30:00-05:00."
        )
    return parsed.isoformat()


def hook_request(
    upload: dict[str, Any], hook: str, policy: str, at: str | None, encounter_id: str, mappings: Mappings
) -> tuple[dict[str, Any], list[str]]:
    """The hook request to evaluate and notes on what the console changed; UploadError naming a problem."""
    if hook not in HOOKS:
        raise UploadError(f"Unknown hook {hook!r}: pick order-sign or encounter-discharge.")
    if policy and policy not in mappings.policies:
        raise UploadError(f"Unknown policy {policy!r}: pick one of {', '.join(sorted(mappings.policies))}.")
    notes: list[str] = []
    if "hook" in upload and "context" in upload:
        if upload["hook"] != hook:
            raise UploadError(
                f"The uploaded request is for the {upload['hook']!r} hook, not {hook!r}: pick that hook "
                "or upload the patient's Bundle."
            )
        body = {k: v for k, v in upload.items() if k not in _DROPPED_MEMBERS}
        dropped = [k for k in _DROPPED_MEMBERS if k in upload]
        if dropped:
            notes.append(
                f"Ignored {' and '.join(dropped)}: the console evaluates the prefetch only, it calls no server."
            )
        extension = dict(body.get("extension") or {}) if isinstance(body.get("extension"), dict) else {}
        if policy:
            extension["iop-cds.policies"] = [policy]
        if at:
            extension["iop-cds.evaluation-time"] = at
        body["extension"] = extension
        return body, notes
    resource_type = upload.get("resourceType")
    if resource_type != "Bundle":
        got = f"a {resource_type!r} resource" if isinstance(resource_type, str) else "an object without resourceType"
        raise UploadError(f"Expected a FHIR Bundle or a CDS Hooks request (hook, context, prefetch); got {got}.")
    if not isinstance(upload.get("entry", []), list):
        raise UploadError("The Bundle's entry is not an array.")
    try:
        body = build_hook_request(
            upload, hook, at=at, policies=[policy] if policy else None, encounter_id=encounter_id.strip() or None
        )
    except ValueError as exc:
        raise UploadError(f"The Bundle cannot be made into a {hook} request: {exc}.") from None
    return body, notes


def record_of(body: dict[str, Any]) -> PatientRecord:
    """The resources a hook request carries (prefetch and draft orders), for evidence in words."""
    resources: list[dict[str, Any]] = []
    for value in (body.get("prefetch") or {}).values():
        if isinstance(value, dict):
            resources += [r for r in bundle_resources(value) if isinstance(r, dict)]
    drafts = (body.get("context") or {}).get("draftOrders")
    if isinstance(drafts, dict):
        resources += [r for r in bundle_resources(drafts) if isinstance(r, dict)]
    return PatientRecord(resources)


def markdown(text: str) -> Markup:
    """A card's markdown detail as HTML; raw HTML in it is escaped and unsafe link schemes are not linked."""
    return Markup(_MARKDOWN.render(text or ""))  # safe: markdown-it escapes raw HTML when html is disabled


def safe_url(url: Any) -> str | None:
    """``url`` when it is an absolute http(s) URL a page may link to, else None."""
    if not isinstance(url, str):
        return None
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.netloc else None


@dataclass
class CriterionRow:
    """One line of the per-criterion table."""

    id: str
    text: str
    status: str
    citation: str
    reason: str
    evidence: list[tuple[str, str]]
    """(reference, the resource in words)."""
    due: str = ""


@dataclass
class EvaluationView:
    """One policy and phase of the response, with its criteria worst first."""

    policy: str
    title: str
    phase: str
    outcome: str
    order: str
    rows: list[CriterionRow] = field(default_factory=list)


def evaluations(response: dict[str, Any], mappings: Mappings, record: PatientRecord) -> list[EvaluationView]:
    """The response's ``iop-cds.evaluations`` as tables: criterion text from the mappings, evidence in words."""
    views = []
    for evaluation in (response.get("extension") or {}).get("iop-cds.evaluations", []):
        policy = mappings.policies.get(evaluation.get("policy", ""))
        nodes = policy.nodes if policy else {}
        view = EvaluationView(
            policy=evaluation.get("policy", ""),
            title=policy.title if policy else evaluation.get("policy", ""),
            phase=evaluation.get("phase", ""),
            outcome=evaluation.get("outcome", ""),
            order=evaluation.get("order") or "",
        )
        criteria = sorted(
            (c for c in evaluation.get("criteria", []) if "." in c.get("id", "")),
            key=lambda c: (STATUS_ORDER.get(c.get("status"), 9), c.get("id", "")),
        )
        for c in criteria:
            node = nodes.get(c["id"])
            view.rows.append(
                CriterionRow(
                    id=c["id"],
                    text=getattr(node, "text", "") or "",
                    status=c.get("status", ""),
                    citation=c.get("citation", ""),
                    reason=c.get("reason", ""),
                    evidence=[(key, describe(record.resolve(key), key)) for key in c.get("evidence", [])],
                    due=c.get("due", "") or "",
                )
            )
        views.append(view)
    return views


def pretty(value: Any) -> str:
    """JSON for a ``<pre>`` block."""
    return json.dumps(value, indent=2, ensure_ascii=False)
