"""One patient's audit: the same Bundle -> hook request -> response path as ``iop-cds evaluate``, per target."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cds_service.audit.episodes import Resource, Target, find_targets, first_aftercare_days
from cds_service.audit.source import Problem
from cds_service.config import Settings
from cds_service.offline import offline_evaluator
from cds_service.record.hook_requests import build_hook_request

_EVALUATORS: dict[Settings, Callable[[dict[str, Any]], dict[str, Any]]] = {}
_LOCK = threading.Lock()


def evaluator(settings: Settings) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """One compiled evaluator per worker process and settings (mappings load once, not per patient)."""
    with _LOCK:
        if settings not in _EVALUATORS:
            _EVALUATORS[settings] = offline_evaluator(settings)
        return _EVALUATORS[settings]


@dataclass(frozen=True)
class AuditOptions:
    """What every patient's audit shares: evaluation time of open episodes, period, requested policies."""

    as_of: datetime
    start: datetime | None = None
    end: datetime | None = None
    policies: tuple[str, ...] = ()


@dataclass
class PatientAudit:
    """Rows of one patient: one per target x policy x criterion, one per target, and the bad references met."""

    criteria: list[dict[str, Any]] = field(default_factory=list)
    targets: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _references(node: Any) -> list[str]:
    found: list[str] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("reference"), str):
                found.append(item["reference"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def patient_bundle(
    resources: list[Resource], shared: Mapping[str, Resource], types: frozenset[str]
) -> tuple[Resource, list[tuple[Resource, str]]]:
    """A collection Bundle of the patient's resources plus the shared ones they cite; and the dangling references.

    A reference counts as dangling when it is a relative ``Type/id`` of a type the input holds but no such resource
    is there (a reference to a type the export does not carry at all is not an error of the input).
    """
    own = {f"{r['resourceType']}/{r.get('id')}": r for r in resources}
    known = types or {key.split("/", 1)[0] for key in own}
    cited: dict[str, Resource] = {}
    dangling: list[tuple[Resource, str]] = []
    for resource in resources:
        for ref in _references(resource):
            parts = ref.split("/")
            if len(parts) != 2 or ref in own:
                continue
            if ref in shared:
                cited[ref] = shared[ref]
            elif parts[0] in known:
                dangling.append((resource, ref))
    patients = [r for r in resources if r.get("resourceType") == "Patient"]
    ordered = patients + [r for r in resources if r.get("resourceType") != "Patient"] + list(cited.values())
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in ordered]}
    return bundle, dangling


def hook_request(bundle: Resource, target: Target, policies: tuple[str, ...]) -> dict[str, Any]:
    """The hook request ``iop-cds evaluate`` would build for this target (an order is the one being signed)."""
    at = target.at.isoformat()
    if target.kind == "episode":
        return build_hook_request(
            bundle, "encounter-discharge", at=at, encounter_id=target.resource_id, policies=list(policies) or None
        )
    return build_hook_request(signing(bundle, target.resource_id), "order-sign", at=at, policies=list(policies) or None)


def signing(bundle: Resource, order_id: str) -> Resource:
    """The Bundle as it stood when the order was signed: that order a draft, no other draft in it."""
    out = copy.copy(bundle)
    entries = []
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource.get("resourceType") == "ServiceRequest":
            if resource.get("id") == order_id:
                resource = {**resource, "status": "draft"}
            elif resource.get("status") == "draft":
                resource = {**resource, "status": "active"}
        entries.append({"resource": resource})
    out["entry"] = entries
    return out


def audit_patient(
    patient_id: str,
    rows: list[tuple[str, str, int]],
    shared: Mapping[str, Resource],
    types: frozenset[str],
    options: AuditOptions,
    settings: Settings,
) -> PatientAudit:
    """Evaluate every target of one patient; rows are (resource JSON, file, line) as read."""
    result = PatientAudit()
    resources: list[Resource] = []
    origin: dict[int, tuple[str, int]] = {}
    for text, file, line in rows:
        resource = json.loads(text)
        origin[id(resource)] = (file, line)
        resources.append(resource)
    bundle, dangling = patient_bundle(resources, shared, types)
    for resource, ref in dangling:
        file, line = origin[id(resource)]
        result.problems.append(Problem(file, line, f"reference to a missing resource {ref}"))
    if not any(r.get("resourceType") == "Patient" for r in resources):
        file, line = origin[id(resources[0])] if resources else ("", 0)
        result.problems.append(Problem(file, line, f"resources of Patient/{patient_id}, who is not in the input"))
        return result
    run = evaluator(settings)
    by_id = {r.get("id"): r for r in resources if r.get("resourceType") == "Encounter"}
    for target in find_targets(resources, options.as_of, (options.start, options.end)):
        try:
            response = run(hook_request(bundle, target, options.policies))
        except Exception as exc:  # one unusable record is listed as bad input; the run goes on
            source = by_id.get(target.resource_id) or next(r for r in resources if r.get("id") == target.resource_id)
            file, line = origin.get(id(source), ("", 0))
            reason = f"{target.kind} {target.resource_id} not evaluated: {type(exc).__name__}: {exc}"
            result.problems.append(Problem(file, line or None, reason))
            continue
        aftercare = None
        if target.kind == "episode" and target.discharge is not None:
            aftercare = first_aftercare_days(resources, by_id[target.resource_id], target.discharge)
        evaluations = response.get("extension", {}).get("iop-cds.evaluations", [])
        result.targets.append(
            {
                "patient": patient_id,
                "episode": target.resource_id,
                "kind": target.kind,
                "hook": target.hook,
                "evaluated_at": target.at.isoformat(),
                "discharge": target.discharge.isoformat() if target.discharge else None,
                "open": target.open,
                "aftercare_days": aftercare,
                "policies": json.dumps({e["policy"]: e["outcome"] for e in evaluations}, sort_keys=True),
            }
        )
        for evaluation in evaluations:
            for criterion in evaluation["criteria"]:
                if "." not in criterion["id"]:  # a group node of the tree, as `iop-cds evaluate` leaves out
                    continue
                result.criteria.append(
                    {
                        "patient": patient_id,
                        "episode": target.resource_id,
                        "kind": target.kind,
                        "policy": evaluation["policy"],
                        "phase": evaluation["phase"],
                        "criterion": criterion["id"],
                        "status": criterion["status"],
                        "reason": criterion["reason"],
                        "evidence": list(criterion["evidence"]),
                        "due": criterion.get("due"),
                        "evaluated_at": target.at.isoformat(),
                        "discharge": target.discharge.isoformat() if target.discharge else None,
                    }
                )
    return result
