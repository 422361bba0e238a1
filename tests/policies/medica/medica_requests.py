"""Hook requests the sentence-case builder cannot make: a source that failed to load, a draft saved in the record."""

from __future__ import annotations

from functools import cache
from typing import Any

from sentence_cases import SentenceCase

from cds_service.config import Settings
from cds_service.hooks.invocation import HookInvoker
from cds_service.hooks.protocol import parse_hook_request
from cds_service.hooks.services import SERVICES, service_for_hook
from cds_service.record.hook_requests import PREFETCH_KEY_OF_TYPE, build_hook_request

UNREADABLE = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "timeout", "diagnostics": "the search timed out"}],
}


@cache
def _invoker() -> HookInvoker:
    return HookInvoker(Settings(auth=False))


def evaluate_request(
    case: SentenceCase, *, unreadable: tuple[str, ...] = (), drafts_in_record: tuple[str, ...] = ()
) -> dict[str, dict[str, Any]]:
    """Criterion id -> evaluation entry, with each ``unreadable`` prefetch key failed and each draft ServiceRequest
    id in ``drafts_in_record`` saved in the EHR (returned by the ServiceRequest search) instead of being signed now."""
    body = build_hook_request(case.build(), case.hook, at=case.at, policies=[case.policy])
    if drafts_in_record:
        signing = body["context"]["draftOrders"]["entry"]
        kept = [e for e in signing if e["resource"]["id"] in drafts_in_record]
        body["context"]["draftOrders"]["entry"] = [e for e in signing if e not in kept]
        searched = body["prefetch"][PREFETCH_KEY_OF_TYPE["ServiceRequest"]]
        searched["entry"] += [{"resource": e["resource"], "search": {"mode": "match"}} for e in kept]
        searched["total"] = len(searched["entry"])
    for key in unreadable:
        body["prefetch"][key] = UNREADABLE
    service = SERVICES[service_for_hook(case.hook)]
    response = _invoker().invoke(service, parse_hook_request(body, service.hook))
    found: dict[str, dict[str, Any]] = {}
    for evaluation in response["extension"]["iop-cds.evaluations"]:
        for criterion in evaluation["criteria"]:
            found.setdefault(criterion["id"], criterion)
    return found
