"""The generated Questionnaires as a read-only FHIR endpoint: read by id, and search by canonical ``url``."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, request

from cds_service.attest.questionnaires import QuestionnaireCatalogue

FHIR_JSON = "application/fhir+json"


def fhir_response(body: dict[str, Any], status: int = 200) -> Response:
    """A FHIR JSON response."""
    return Response(json.dumps(body), status=status, content_type=FHIR_JSON)


def not_found(diagnostics: str) -> Response:
    """A 404 with an OperationOutcome."""
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "not-found", "diagnostics": diagnostics}],
    }
    return fhir_response(outcome, 404)


def questionnaire_blueprint(catalogue: QuestionnaireCatalogue) -> Blueprint:
    """``GET /fhir/Questionnaire/{id}`` and ``GET /fhir/Questionnaire?url=...`` (a searchset Bundle)."""
    bp = Blueprint("questionnaires", __name__)

    @bp.get("/fhir/Questionnaire/<qid>")
    def read(qid: str) -> Response:
        entry = catalogue.get(qid)
        if entry is None:
            return not_found(f"no Questionnaire with id '{qid}'")
        return fhir_response(entry.resource)

    @bp.get("/fhir/Questionnaire")
    def search() -> Response:
        entries = catalogue.search(request.args.get("url"))
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(entries),
            "link": [{"relation": "self", "url": request.url}],
            "entry": [{"fullUrl": e.url, "resource": e.resource, "search": {"mode": "match"}} for e in entries],
        }
        return fhir_response(bundle)

    return bp
