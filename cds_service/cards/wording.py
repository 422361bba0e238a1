"""Record evidence in words for clinicians: ``Type/id`` references become what the resource is, its value and when."""

from __future__ import annotations

import re
from datetime import tzinfo
from typing import Any

from cds_service.engine.timecalc import format_local, parse_instant
from cds_service.record.patient_record import PatientRecord, Resource

# A FHIR reference as the engine writes it into reasons and evidence (``Condition/P3-alcohol``), optionally
# followed by the time the engine already added in parentheses.
_REFERENCE = re.compile(
    r"\b(?P<key>[A-Z][A-Za-z]{2,40}/[A-Za-z0-9\-.]{1,64}?)(?=[\s,;:)]|\.?$|\.\s)"
    r"(?P<when> \(\d{4}-\d{2}-\d{2}(?: \d{2}:\d{2} [+-]\d{2}:\d{2})?\))?"
)
_DATE_FIELDS = (
    "effectiveDateTime",
    "effectiveInstant",
    "onsetDateTime",
    "recordedDate",
    "authoredOn",
    "issued",
    "performedDateTime",
    "occurrenceDateTime",
    "start",
    "date",
    "created",
    "authored",
)
_PERIOD_FIELDS = ("effectivePeriod", "performedPeriod", "period", "occurrencePeriod", "onsetPeriod")
# How a resource type is named to a clinician when the resource itself has no better name.
_TYPE_WORDS = {
    "Condition": "Condition",
    "Observation": "Observation",
    "CarePlan": "Care plan",
    "DocumentReference": "Document",
    "MedicationRequest": "Prescription",
    "ServiceRequest": "Order",
    "Appointment": "Appointment",
    "Encounter": "Visit",
    "Procedure": "Procedure",
    "QuestionnaireResponse": "Questionnaire answers",
    "Consent": "Consent",
    "Coverage": "Coverage",
    "CareTeam": "Care team",
    "RelatedPerson": "Support person",
    "Communication": "Communication",
    "Task": "Task",
}


_SYSTEM_NAMES = {
    "http://loinc.org": "LOINC",
    "http://snomed.info/sct": "SNOMED CT",
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
    "http://www.ama-assn.org/go/cpt": "CPT",
    "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets": "HCPCS",
}

# Resource types a reason may reference; other ``Word/word`` pairs in text are left alone.
FHIR_TYPES = frozenset(_TYPE_WORDS) | {
    "Patient",
    "Practitioner",
    "PractitionerRole",
    "Organization",
    "Location",
    "EpisodeOfCare",
    "Goal",
    "MedicationStatement",
    "MedicationDispense",
    "DiagnosticReport",
    "Flag",
    "AllergyIntolerance",
    "Claim",
    "Composition",
    "Group",
    "Device",
    "DeviceRequest",
}


def _concept(value: Any, named_code: bool = False) -> tuple[str, str]:
    """A CodeableConcept's words (text, else the first display) and its first code.

    With ``named_code``, a concept with no words is named by its code system and code (``LOINC 93249-1``)."""
    if not isinstance(value, dict):
        return "", ""
    codings = [c for c in value.get("coding") or [] if isinstance(c, dict)]
    display = next((c["display"] for c in codings if isinstance(c.get("display"), str)), "")
    coding = next((c for c in codings if isinstance(c.get("code"), str)), {})
    code = coding.get("code", "")
    text = value.get("text") if isinstance(value.get("text"), str) else ""
    words = " ".join((text or display).split())
    if not words and named_code and code:
        system = _SYSTEM_NAMES.get(coding.get("system", ""), "code")
        return f"{system} {code}", ""
    return words, code


def _name(resource: Resource) -> tuple[str, str]:
    """What the resource is, in words, and its code."""
    for field in ("code", "medicationCodeableConcept", "type", "serviceType", "category"):
        value = resource.get(field)
        if isinstance(value, list):
            value = value[0] if value else None
        words, code = _concept(value, named_code=field == "code")
        if words:
            return words, code
    for field in ("title", "description", "name"):
        if isinstance(resource.get(field), str) and resource[field].strip():
            return " ".join(resource[field].split()), ""
    return "", ""


def _value(resource: Resource) -> str:
    """An Observation's value in words (a score, a quantity with unit, a coded answer)."""
    quantity = resource.get("valueQuantity")
    if isinstance(quantity, dict) and quantity.get("value") is not None:
        unit = quantity.get("unit") or ""
        unit = "" if unit.startswith("{") or not unit else f" {unit}"
        return f"{quantity['value']}{unit}"
    for field in ("valueInteger", "valueDecimal", "valueString"):
        if resource.get(field) is not None:
            return str(resource[field])
    if isinstance(resource.get("valueBoolean"), bool):
        return "yes" if resource["valueBoolean"] else "no"
    words, _ = _concept(resource.get("valueCodeableConcept"))
    return words


def when(resource: Resource, zone: tzinfo | None = None) -> str:
    """The resource's clinically relevant time: a date as written, or a time in ``zone`` (else its own) with offset.

    Reasons state times in the site's (or policy's) zone, so evidence given with ``zone`` reads the same way."""
    raw = next((resource[f] for f in _DATE_FIELDS if isinstance(resource.get(f), str)), None)
    if raw is None:
        raw = next(
            (p["start"] for f in _PERIOD_FIELDS if isinstance(p := resource.get(f), dict) and "start" in p), None
        )
    if not isinstance(raw, str):
        return ""
    if "T" not in raw:
        return raw  # a date (or partial date) is shown as written: it has no time to carry an offset
    instant = parse_instant(raw)
    if instant is None or not re.search(r"(Z|[+-]\d{2}:\d{2})$", raw):
        return raw[:10]  # a time without an offset is shown as its date only, never as a bare clock time
    return format_local(instant, zone or instant.tzinfo)


def describe(resource: Resource | None, key: str = "", with_time: bool = True, zone: tzinfo | None = None) -> str:
    """A resource in words: ``PHQ-9 score 17 (2025-02-27 10:00 -05:00)``, ``Condition: Alcohol dependence (F10.20)``."""
    resource_type = (resource or {}).get("resourceType") or key.split("/", 1)[0]
    type_words = _TYPE_WORDS.get(resource_type, re.sub(r"(?<!^)(?=[A-Z])", " ", resource_type).capitalize())
    if resource is None:
        return f"{type_words} (not in the fetched record)"
    name, code = _name(resource)
    if resource_type == "Condition":
        text = f"Condition: {name} ({code})" if name and code else f"Condition: {name or 'unnamed'}"
    elif resource_type == "Observation":
        value = _value(resource)
        text = " ".join(part for part in (name or "Observation", value) if part)
    else:
        text = f"{type_words}: {name}" if name else type_words
    moment = when(resource, zone) if with_time else ""
    return f"{text} ({moment})" if moment else text


def in_words(
    text: str, record: PatientRecord, extra: list[Resource] | tuple[Resource, ...] = (), zone: tzinfo | None = None
) -> str:
    """``text`` with every ``Type/id`` reference replaced by the resource in words (the engine's time kept).

    ``extra`` resources (the call's draft orders) are looked up when the record does not hold a reference."""
    others = {f"{r.get('resourceType')}/{r.get('id')}": r for r in extra}

    def replace(match: re.Match[str]) -> str:
        resource = record.resolve(match["key"]) or others.get(match["key"])
        if resource is None and match["key"].split("/", 1)[0] not in FHIR_TYPES:
            return match[0]  # words with a slash ("Evaluation/Certification"), not a reference
        if match["when"]:
            return describe(resource, match["key"], with_time=False) + match["when"]
        return describe(resource, match["key"], zone=zone)

    return _REFERENCE.sub(replace, text)


def evidence_in_words(
    keys: list[str],
    record: PatientRecord,
    extra: list[Resource] | tuple[Resource, ...] = (),
    zone: tzinfo | None = None,
) -> str:
    """Evidence references as a readable list, times in ``zone``; ``none`` when empty."""
    others = {f"{r.get('resourceType')}/{r.get('id')}": r for r in extra}
    return "; ".join(describe(record.resolve(k) or others.get(k), k, zone=zone) for k in keys) or "none"


# What each prefetch key holds, as a clinician would say it (DATA-PROFILE §1 keys), with the FHIR type named.
SOURCE_WORDS = {
    "patient": "the patient's demographics (Patient)",
    "coverage": "the patient's insurance coverage (Coverage)",
    "conditions": "the patient's diagnoses (Condition)",
    "encounters": "the patient's visits (Encounter)",
    "encounter": "the discharged visit (Encounter)",
    "careplans": "the patient's care plans (CarePlan)",
    "observations": "the patient's screening scores (Observation)",
    "appointments": "the patient's appointments (Appointment)",
    "medications": "the patient's prescriptions (MedicationRequest)",
    "procedures": "the patient's procedures (Procedure)",
    "documents": "the patient's documents (DocumentReference)",
    "attestations": "the attestations on file (QuestionnaireResponse)",
    "consents": "the patient's consents (Consent)",
    "relatedpersons": "the patient's support persons (RelatedPerson)",
    "careteams": "the patient's care team (CareTeam)",
    "goals": "the patient's treatment goals (Goal)",
    "servicerequests": "the patient's orders and referrals (ServiceRequest)",
    "record": "the patient's record as a whole (the data the EHR sent)",
}
_SHORT_WORDS = {
    key: words.split(" (")[0].removeprefix("the patient's ").removeprefix("the ") for key, words in SOURCE_WORDS.items()
}
_REFERENCED = "referenced "


def source_words(key: str, short: bool = False) -> str:
    """What a prefetch key (or ``referenced <Type>`` lookup) holds, in words; ``short`` drops the FHIR type."""
    if key.startswith(_REFERENCED):
        resource_type = key.removeprefix(_REFERENCED)
        return f"records the chart refers to ({resource_type})" if not short else "referenced records"
    if short:
        return _SHORT_WORDS.get(key, "other data")
    return SOURCE_WORDS.get(key, f"other data the service asks for ({key})")


_UNREADABLE = re.compile(
    r"could not be read: (?P<keys>(?:referenced [A-Z][A-Za-z]+|[a-z]+)(?:, (?:referenced [A-Z][A-Za-z]+|[a-z]+))*)"
)


def unreadable_in_words(text: str) -> str:
    """The engine's ``could not be read: conditions, careplans`` as what could not be read, in words."""

    def replace(match: re.Match[str]) -> str:
        keys = match["keys"].split(", ")
        if not all(k in SOURCE_WORDS or k.startswith(_REFERENCED) for k in keys):
            return match[0]
        return " and ".join(source_words(k) for k in keys) + " could not be read"

    return _UNREADABLE.sub(replace, text)


# How a child's status reads inside a group's reason.
STATUS_WORDS = {
    "met": "met",
    "not-met": "not met",
    "unknown": "not documented",
    "not-applicable": "does not apply",
    "pending": "not yet due",
}
_GROUP_REASON = re.compile(r"^(?P<kind>any-of|all-of|(?P<n>\d+)-of|mirrors):? (?P<parts>.+)$")
_GROUP_LEADS = {"any-of": "Needs one of", "all-of": "Needs all of", "mirrors": "Decided as"}


def group_reason(reason: str, texts: dict[str, str]) -> str | None:
    """A group's or mirror's engine reason (``any-of: <id> unknown, ...``) in words, naming each part by its text.

    None when ``reason`` is not a group reason."""
    match = _GROUP_REASON.match(reason.strip())
    if not match:
        return None
    lead = f"Needs {match['n']} of" if match["n"] else _GROUP_LEADS[match["kind"]]
    parts = []
    for part in match["parts"].split(", "):
        node, _, status = part.rpartition(" ")
        text = texts.get(node) or "a further set of requirements"
        parts.append(f"{text.rstrip('.')} ({STATUS_WORDS.get(status, status)})")
    return f"{lead}: " + "; ".join(parts)


def brief(resource: Resource | None, key: str = "", zone: tzinfo | None = None) -> str:
    """A resource in a few words for a summary: ``CIWA-Ar 22 on 2025-03-02``, ``Alcohol dependence on 2025-02-20``."""
    if resource is None:
        return describe(None, key)
    name, _ = _name(resource)
    value = _value(resource) if resource.get("resourceType") == "Observation" else ""
    text = " ".join(part for part in (name or describe(resource, key, with_time=False), value) if part)
    moment = when(resource, zone)
    return f"{text} on {moment[:10]}" if moment else text
