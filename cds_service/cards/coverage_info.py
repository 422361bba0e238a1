"""Da Vinci CRD coverage information: the ``ext-coverage-information`` extension and its update systemAction."""

from __future__ import annotations

import copy
import uuid
from datetime import datetime
from typing import Any

EXT_COVERAGE_INFORMATION = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"
CRD_TEMP = "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp"
CRD_REASON_SYSTEM = "http://hl7.org/fhir/us/davinci-crd/CodeSystem/coverageReason"
# CRD 2.2 binds detail.code to coverageDetailNew (all of THO's crd-coverage-detail); the temp codes are deprecated.
CRD_COVERAGE_DETAIL = "http://terminology.hl7.org/CodeSystem/crd-coverage-detail"
# Displays as the code systems spell them (a validator reports any other display of a known code).
DETAIL_DISPLAYS = {"policy-link": "Policy Link", "instructions": "Instructions"}
REASON_DISPLAYS = {"technical": "Technical issues", "no-active-coverage": "Coverage not active"}


def coverage_information(
    *,
    coverage_ref: str,
    covered: str,
    date: datetime,
    reason: str | None = None,
    reason_text: str | None = None,
    doc_needed: list[str] | None = None,
    info_needed: list[str] | None = None,
    details: list[dict[str, Any]] | None = None,
    assertion_id: str | None = None,
) -> dict[str, Any]:
    """One ``ext-coverage-information`` extension (CRD 2.x): coverage, covered, reason, date, assertion id."""
    parts: list[dict[str, Any]] = [
        {"url": "coverage", "valueReference": {"reference": coverage_ref}},
        {"url": "covered", "valueCode": covered},
    ]
    parts.extend({"url": "doc-needed", "valueCode": code} for code in (doc_needed or []))
    if doc_needed:
        parts.append({"url": "doc-purpose", "valueCode": "withorder"})
    parts.extend({"url": "info-needed", "valueCode": code} for code in (info_needed or []))
    if reason or reason_text:
        concept: dict[str, Any] = {}
        if reason:
            concept["coding"] = [{"system": CRD_TEMP, "code": reason, "display": REASON_DISPLAYS[reason]}]
        if reason_text:
            concept["text"] = reason_text
        parts.append({"url": "reason", "valueCodeableConcept": concept})
    parts.extend(details or [])
    parts.append({"url": "date", "valueDate": date.date().isoformat()})
    parts.append({"url": "coverage-assertion-id", "valueString": assertion_id or uuid.uuid4().hex})
    return {"url": EXT_COVERAGE_INFORMATION, "extension": parts}


def detail(code: str, value: str, category: str = "cat-other") -> dict[str, Any]:
    """A ``detail`` sub-extension with code ``instructions`` or ``policy-link`` (THO crd-coverage-detail)."""
    return {
        "url": "detail",
        "extension": [
            {"url": "category", "valueCode": category},  # CRD 2.2: a code
            {
                "url": "code",
                "valueCodeableConcept": {
                    "coding": [{"system": CRD_COVERAGE_DETAIL, "code": code, "display": DETAIL_DISPLAYS[code]}]
                },
            },
            # The code system: a policy-link's "Value should be a url"; instructions are a string.
            {"url": "value", "valueUrl" if code == "policy-link" else "valueString": value},
        ],
    }


def update_action(resource: dict[str, Any], information: dict[str, Any], description: str) -> dict[str, Any]:
    """A systemAction updating ``resource`` with our coverage-information replaced; other payers' kept (resp-37)."""
    updated = copy.deepcopy(resource)
    ours = _coverage_of(information)
    kept = [
        e for e in updated.get("extension", []) if e.get("url") != EXT_COVERAGE_INFORMATION or _coverage_of(e) != ours
    ]
    updated["extension"] = [*kept, information]
    return {"type": "update", "description": description, "resource": updated}


def _coverage_of(information: dict[str, Any]) -> Any:
    """The ``coverage`` reference a coverage-information extension is about (another payer's has another)."""
    parts = information.get("extension")
    for part in parts if isinstance(parts, list) else []:
        if isinstance(part, dict) and part.get("url") == "coverage":
            return part.get("valueReference")
    return None
