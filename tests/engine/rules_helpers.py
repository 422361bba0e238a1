"""Helpers for the rule tests: compile one rule and evaluate it on a small record; resource builders."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cds_service.engine.context import EvaluationContext
from cds_service.engine.mapping import Mappings
from cds_service.engine.rules.compiler import RuleCompiler
from cds_service.engine.selections import PredicateCompiler
from cds_service.engine.timecalc import BusinessCalendar
from cds_service.record.patient_record import PatientRecord

NOW = datetime(2025, 3, 10, 12, tzinfo=UTC)
T0 = datetime(2025, 3, 3, 9, tzinfo=UTC)
LOINC = "http://loinc.org"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"


def run(mappings: Mappings, spec: Any, resources: list[dict[str, Any]], **ctx_options: Any) -> Any:
    """Compile one rule and evaluate it on a record (``unreadable``: type -> failed keys); returns the RuleResult."""
    compiler = RuleCompiler(
        PredicateCompiler(mappings.facts, mappings.valuesets, set(mappings.selections)),
        mappings.selections,
        {"x.known"},
    )
    ctx = EvaluationContext(
        record=PatientRecord(resources),
        facts=mappings.facts,
        selections=mappings.selections,
        now=ctx_options.pop("now", NOW),
        phase=ctx_options.pop("phase", "continued-stay"),
        calendar=BusinessCalendar.from_spec("US-MA"),
        valuesets=mappings.valuesets,
    )
    # TD is the program's end, else the evaluation time (DATA-PROFILE §2).
    ctx.anchors.update({"T0": T0, "TD": ctx.now, **ctx_options.pop("anchors", {})})
    ctx.session_starts = ctx_options.pop("sessions", [])
    ctx.unreadable = ctx_options.pop("unreadable", {})
    ctx.builtins.update(ctx_options)
    return compiler.compile(spec).check(ctx)


def score(oid: str, code: str, value: Any, when: str | None = "2025-03-05T10:00:00Z") -> dict[str, Any]:
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "valueQuantity": {"value": value},
    }
    if when:
        obs["effectiveDateTime"] = when
    return obs


def condition(cid: str, code: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "code": {"coding": [{"system": ICD, "code": code}]},
    }


def plan(pid: str, created: str | None) -> dict[str, Any]:
    careplan: dict[str, Any] = {
        "resourceType": "CarePlan",
        "id": pid,
        "status": "active",
        "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "718347000"}]}],
    }
    if created:
        careplan["created"] = created
    return careplan
