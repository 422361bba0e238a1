"""Offline evaluation of a FHIR Bundle or a saved hook request: every criterion's status, reason and evidence."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cds_service.config import Settings
from cds_service.hooks.invocation import HookInvoker
from cds_service.hooks.protocol import parse_hook_request
from cds_service.hooks.services import SERVICES, service_for_hook
from cds_service.record.hook_requests import build_hook_request

STATUS_ORDER = {"not-met": 0, "unknown": 1, "pending": 2, "met": 3, "not-applicable": 4}


class OfflineInputError(ValueError):
    """The file is not a readable FHIR Bundle or hook request."""


def load_request(path: Path, hook: str | None, policies: list[str] | None, at: str | None) -> dict[str, Any]:
    """A hook request from a file holding a full request or a patient Bundle (options override the file's)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OfflineInputError(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise OfflineInputError(f"{path}: expected a JSON object (a Bundle or a hook request)")
    if "hook" in data and "context" in data:
        body = dict(data)
        if hook and hook != body["hook"]:
            raise OfflineInputError(f"{path}: the request is for {body['hook']}, not {hook}")
        extension = dict(body.get("extension") or {})
        if policies:
            extension["iop-cds.policies"] = policies
        if at:
            extension["iop-cds.evaluation-time"] = at
        body["extension"] = extension
        return body
    if data.get("resourceType") != "Bundle":
        raise OfflineInputError(
            f"{path}: expected a FHIR Bundle or a CDS Hooks request, got {data.get('resourceType')!r}"
        )
    try:
        return build_hook_request(data, hook or "order-sign", at=at, policies=policies)
    except ValueError as exc:
        raise OfflineInputError(f"{path}: {exc}") from None


def evaluate_offline(body: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The service's response to a hook request, computed in-process (no HTTP, no FHIR server)."""
    return offline_evaluator(settings)(body)


def offline_evaluator(settings: Settings) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """``evaluate_offline`` with the mappings compiled once, for many requests in one process (``iop-cds audit``)."""
    invoker = HookInvoker(settings)

    def run(body: dict[str, Any]) -> dict[str, Any]:
        service = SERVICES[service_for_hook(body["hook"])]
        return invoker.invoke(service, parse_hook_request(body, service.hook))

    return run


def format_table(response: dict[str, Any]) -> str:
    """Criteria per policy and phase, worst first: status, id, reason, evidence."""
    lines: list[str] = []
    evaluations = response.get("extension", {}).get("iop-cds.evaluations", [])
    if not evaluations:
        lines.append("No evaluation: no IOP order in draftOrders, or the discharged encounter is not an IOP program.")
    for evaluation in evaluations:
        order = f" · {evaluation['order']}" if evaluation.get("order") else ""
        lines.append(f"{evaluation['policy']} · {evaluation['phase']}{order} · outcome {evaluation['outcome']}")
        criteria = sorted(
            (c for c in evaluation["criteria"] if "." in c["id"]),
            key=lambda c: (STATUS_ORDER.get(c["status"], 9), c["id"]),
        )
        width = max((len(c["id"]) for c in criteria), default=10)
        for c in criteria:
            evidence = ", ".join(c["evidence"][:4]) + (" …" if len(c["evidence"]) > 4 else "")
            lines.append(
                f"  {c['status']:<14} {c['id']:<{width}}  {c['reason']}" + (f"  [{evidence}]" if evidence else "")
            )
        lines.append("")
    for card in response.get("cards", []):
        lines.append(f"card {card['indicator']}: {card['summary']}")
    return "\n".join(lines).rstrip() + "\n"
