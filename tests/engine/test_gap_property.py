"""Unreadable is not absent (DATA-PROFILE §6): losing any one prefetch key never makes a criterion newly not-met.

For every golden patient, with the hook, evaluation time and policy its policy tests use, each prefetch key in turn
is replaced by an OperationOutcome (the EHR could not run that query; no fhirServer to retry). A criterion may go
from met to unknown, but never to not-met unless it was not-met with the full record.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from golden_calls import GOLDEN_CALLS

from cds_service.config import Settings
from cds_service.hooks.invocation import HookInvoker
from cds_service.hooks.protocol import parse_hook_request
from cds_service.hooks.services import SERVICES, service_for_hook
from cds_service.record.hook_requests import build_hook_request

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden"

UNREADABLE = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "exception", "diagnostics": "the search timed out"}],
}


@cache
def _invoker() -> HookInvoker:
    return HookInvoker(Settings(auth=False))


def _statuses(body: dict[str, Any], hook: str) -> dict[str, tuple[str, str]]:
    service = SERVICES[service_for_hook(hook)]
    response = _invoker().invoke(service, parse_hook_request(body, service.hook))
    found: dict[str, tuple[str, str]] = {}
    for evaluation in response.get("extension", {}).get("iop-cds.evaluations", []):
        for criterion in evaluation["criteria"]:
            found.setdefault(criterion["id"], (criterion["status"], criterion["reason"]))
    return found


def test_every_golden_patient_is_covered() -> None:
    assert {p.stem for p in GOLDEN.glob("*.json")} == set(GOLDEN_CALLS)


@pytest.mark.parametrize("name", sorted(GOLDEN_CALLS))
def test_an_unreadable_key_never_adds_a_not_met(name: str) -> None:
    hook, at, policy, encounter_id = GOLDEN_CALLS[name]
    bundle = json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
    body = build_hook_request(bundle, hook, at=at, policies=[policy], encounter_id=encounter_id)
    full = _statuses(copy.deepcopy(body), hook)
    assert full, f"{name}: nothing evaluated with the full record"
    flips: list[str] = []
    for key in body["prefetch"]:
        broken = copy.deepcopy(body)
        broken["prefetch"][key] = UNREADABLE
        for cid, (status, reason) in _statuses(broken, hook).items():
            before = full.get(cid, ("absent", ""))[0]
            if status == "not-met" and before != "not-met":
                flips.append(f"{key} unreadable: {cid} {before} -> not-met ({reason})")
    assert not flips, f"{name}:\n" + "\n".join(flips)


def test_an_unreadable_key_is_named_in_the_reasons_it_leaves_open() -> None:
    hook, at, policy, _ = GOLDEN_CALLS["P1"]
    body = build_hook_request(json.loads((GOLDEN / "P1.json").read_text()), hook, at=at, policies=[policy])
    body["prefetch"]["conditions"] = UNREADABLE
    status, reason = _statuses(body, hook)["medica.adult-admission.1-dx-moderate-severe"]
    assert status == "unknown"
    assert "could not be read: conditions" in reason
