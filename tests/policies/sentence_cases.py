"""Pro and con cases built from the policy sentence: one FHIR Bundle, the hook, the time, and the verdict it gives."""

from __future__ import annotations

import copy
import json
import re
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from cds_service.config import Settings
from cds_service.hooks.invocation import HookInvoker
from cds_service.hooks.protocol import parse_hook_request
from cds_service.hooks.services import SERVICES, service_for_hook
from cds_service.record.hook_requests import PREFETCH_KEY_OF_TYPE, build_hook_request

Bundle = dict[str, Any]
Change = Callable[[Bundle], None]
GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden"
POLICY_TEXTS = Path(__file__).resolve().parents[3] / "shared" / "policies"
UNREADABLE = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "timeout", "diagnostics": "the search timed out"}],
}
PRO = {"met"}
CON = {"not-met", "not-applicable"}


@dataclass(frozen=True)
class SentenceCase:
    """A record the policy sentence gives a verdict on: ``expect`` is what the sentence says of ``criterion``."""

    criterion: str
    expect: str
    quote: str
    build: Callable[[], Bundle]
    hook: str
    at: str
    policy: str
    encounter_id: str | None = None
    name: str = ""
    program: tuple[tuple[str, bool], ...] = ()
    """Program-level (deployment) attestations in force: (criterion id, answer) pairs."""

    @property
    def id(self) -> str:
        return f"{self.criterion}:{self.expect}" + (f":{self.name}" if self.name else "")


@cache
def golden(name: str) -> Bundle:
    """A golden patient Bundle (tests/fixtures/golden/NAME.json), read once; callers get a deep copy."""
    return json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))


def from_golden(name: str, *changes: Callable[[Bundle], None]) -> Callable[[], Bundle]:
    """A builder: golden patient ``name`` with each change applied in order to a fresh copy."""

    def build() -> Bundle:
        bundle = copy.deepcopy(golden(name))
        for change in changes:
            change(bundle)
        return bundle

    return build


def resources(bundle: Bundle, resource_type: str | None = None) -> list[dict[str, Any]]:
    """The Bundle's resources, optionally of one type (the dicts themselves: changing them changes the Bundle)."""
    found = [e["resource"] for e in bundle.get("entry", [])]
    return [r for r in found if resource_type is None or r.get("resourceType") == resource_type]


def by_id(bundle: Bundle, resource_id: str) -> dict[str, Any]:
    """The resource with this id (KeyError naming it when absent)."""
    for resource in resources(bundle):
        if resource.get("id") == resource_id:
            return resource
    raise KeyError(f"no resource with id {resource_id!r} in the bundle")


def add(bundle: Bundle, *new: dict[str, Any]) -> None:
    """Append resources to the Bundle."""
    bundle.setdefault("entry", []).extend({"resource": r} for r in new)


def adding(*new: dict[str, Any]) -> Change:
    """A change that appends these resources to the Bundle."""
    return lambda bundle: add(bundle, *new)


def program_session(
    rid: str, patient: str, program: str, start: str, end: str, code: str = "S9480", **extra: Any
) -> dict[str, Any]:
    """A finished session Encounter (AMB, HCPCS ``code``) of ``program`` for ``patient``, from ``start`` to ``end``."""
    return {
        "resourceType": "Encounter",
        "id": rid,
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "type": [{"coding": [{"system": "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "code": code}]}],
        "subject": {"reference": f"Patient/{patient}"},
        "partOf": {"reference": f"Encounter/{program}"},
        "period": {"start": start, "end": end},
        **extra,
    }


def drop(bundle: Bundle, predicate: Callable[[dict[str, Any]], bool]) -> None:
    """Remove every resource the predicate accepts."""
    bundle["entry"] = [e for e in bundle.get("entry", []) if not predicate(e["resource"])]


@cache
def _invoker(program: tuple[tuple[str, bool], ...] = ()) -> HookInvoker:
    if not program:
        return HookInvoker(Settings(auth=False))
    folder = Path(tempfile.mkdtemp(prefix="iop-program-"))
    path = folder / "program.yaml"
    path.write_text(json.dumps({"program": "sentence case", "criteria": dict(program)}), encoding="utf-8")
    return HookInvoker(Settings(auth=False, program_attestations_file=str(path)))


def evaluate(
    case: SentenceCase, *, unreadable: tuple[str, ...] = (), drafts_in_record: tuple[str, ...] = ()
) -> dict[str, dict[str, Any]]:
    """Criterion id -> its entry in the response's evaluations, for the case's policy; each ``unreadable`` prefetch
    key answers with an OperationOutcome (a source that failed), and each draft ServiceRequest id in
    ``drafts_in_record`` is saved in the EHR (returned by the ServiceRequest search) instead of being signed now."""
    body = build_hook_request(
        case.build(), case.hook, at=case.at, policies=[case.policy], encounter_id=case.encounter_id
    )
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
    response = _invoker(case.program).invoke(service, parse_hook_request(body, service.hook))
    found: dict[str, dict[str, Any]] = {}
    for evaluation in response.get("extension", {}).get("iop-cds.evaluations", []):
        for criterion in evaluation["criteria"]:
            found.setdefault(criterion["id"], criterion)
    return found


Judge = Callable[[SentenceCase], dict[str, dict[str, Any]]]


def check(case: SentenceCase, judge: Judge = evaluate) -> dict[str, Any]:
    """Assert the service (``judge``: the plain hook request unless a case needs another) gives the verdict the
    sentence gives, naming the case, showing the quote and the service's reason; returns the criterion's entry."""
    got = judge(case).get(case.criterion)
    status = got["status"] if got else "absent"
    assert got is not None and status == case.expect, (
        f"{case.id}: policy says {case.expect!r} — “{case.quote}” — service says {status!r}"
        + (f": {got['reason']}" if got else "")
    )
    return got


def case_id(value: object) -> str:
    """A parametrize id: a case's own id, nothing for the values beside it."""
    return value.id if isinstance(value, SentenceCase) else ""


def sentence_test(
    cases: list[tuple[SentenceCase, str]], text: str | None = None, judge: Judge = evaluate
) -> Callable[[SentenceCase, str], None]:
    """A parametrized test over (case, reason) pairs: each case gets the sentence's status and a reason naming
    ``reason`` (and, given the policy ``text`` file, its quote is in that text); ``judge`` evaluates a case (see
    ``check``). Assign it to a ``test_*`` name in the policy's module."""

    @pytest.mark.parametrize(("case", "reason"), cases, ids=case_id)
    def test_sentence(case: SentenceCase, reason: str) -> None:
        if text is not None:
            assert quote_is_in(case.quote, text), f"{case.id}: quote “{case.quote}” not found in {text}"
        got = check(case, judge)
        assert reason in got["reason"], f"{case.id}: reason {got['reason']!r} does not name {reason!r}"

    return test_sentence


@dataclass(frozen=True)
class Review:
    """Where a group of reviewer cases stands: one criterion and its sentence, judged on a golden patient at one hook
    and time; the ``base`` changes come before each case's own."""

    criterion: str
    quote: str
    patient: str
    hook: str
    at: str
    policy: str
    base: tuple[Change, ...] = ()
    encounter_id: str | None = None
    text: str | None = None
    """The policy text file (../shared/policies) each case's quote must be found in, if checked here."""

    def case(self, name: str, change: Change | tuple[Change, ...], expect: str) -> SentenceCase:
        """The golden patient with the base changes and ``change`` (one, or a tuple applied in order)."""
        changes = change if isinstance(change, tuple) else (change,)
        build = from_golden(self.patient, *self.base, *changes)
        return SentenceCase(
            self.criterion, expect, self.quote, build, self.hook, self.at, self.policy, self.encounter_id, name=name
        )


ReviewRow = tuple[str, Change | tuple[Change, ...], str, str]
"""(name, change or changes, status, phrase): the record one change away, the status the sentence gives, and a phrase
the reason must hold."""


def review_test(review: Review, rows: list[ReviewRow]) -> Callable[[SentenceCase, str], None]:
    """A parametrized test over (name, change, status, phrase) rows judged as ``review`` sets them: each gets the
    status and a reason naming the phrase (and its quote is in ``review.text``, if given); a failure names the case
    and shows the reason (``sentence_test``). Assign it to a ``test_*`` name in the policy's module."""
    cases = [(review.case(name, change, status), phrase) for name, change, status, phrase in rows]
    return sentence_test(cases, text=review.text)


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("’", "'").replace("“", '"').replace("”", '"')).strip().lower()


@cache
def policy_text(filename: str) -> str:
    """A policy text from ../shared/policies, whitespace and quotes normalised for quote checks."""
    return _normalise((POLICY_TEXTS / filename).read_text(encoding="utf-8"))


def quote_is_in(quote: str, filename: str) -> bool:
    """Whether every fragment of the quote ('…' separates fragments) occurs verbatim in the policy text."""
    text = policy_text(filename)
    return all(_normalise(part) in text for part in re.split(r"\s*(?:…|\.\.\.)\s*", quote) if part.strip())


def pro_and_con(cases: Iterable[SentenceCase]) -> tuple[set[str], set[str]]:
    """Criterion ids with a pro (met) case, and ids with a con (not-met / not-applicable) case."""
    cases = list(cases)
    return {c.criterion for c in cases if c.expect in PRO}, {c.criterion for c in cases if c.expect in CON}
