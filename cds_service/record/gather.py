"""Gather the PatientRecord of a hook call: prefetch first, then the EHR's FHIR server for what is missing."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future, wait
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from cds_service.config import Settings
from cds_service.logs import log_event
from cds_service.record.fhir_client import REDACTED, FetchResult, FhirClient, outcome_text, read_bundle
from cds_service.record.patient_record import DataGap, GatheredRecord, PatientRecord, reference_key
from cds_service.record.prefetch import render_prefetch
from cds_service.record.referenced import missing_references
from cds_service.record.request import HookRequest
from cds_service.record.thread_cache import shared_threads

logger = logging.getLogger("iop_cds.gather")


class PreconditionFailed(Exception):
    """Required data is neither prefetched nor obtainable (no fhirServer): CDS Hooks answers 412."""


@dataclass
class _Fetch:
    key: str
    query: str
    read: bool


def _expected_type(template: str) -> str:
    return template.split("?", 1)[0].split("/", 1)[0]


def _operation_outcome_text(outcome: dict[str, Any]) -> str:
    text = outcome_text(outcome)
    if text:
        return text
    issues = outcome.get("issue")
    codes = [i.get("code") for i in (issues if isinstance(issues, list) else []) if isinstance(i, dict)]
    return "; ".join(c for c in codes if isinstance(c, str))[:200] or "no details"


def accept_prefetch(value: Any, expected: str) -> tuple[list[dict[str, Any]], str | None, str | None]:
    """Resources of one prefetch value, a problem that makes it unusable, and a ``next`` page link to follow."""
    if value is None:
        return [], None, None  # the EHR says: nothing to prefetch
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        return [], f"prefetch value is not a FHIR resource ({type(value).__name__})", None
    rtype = value["resourceType"]
    if rtype == "OperationOutcome":
        return [], f"the EHR could not run this query: {_operation_outcome_text(value)}", None
    if rtype != "Bundle":
        if expected and rtype != expected:
            return [], f"expected {expected}, got {rtype[:60]}", None
        return [value], None, None
    return read_bundle(value)


REFERENCED = "referenced "
"""Key prefix of the data gaps of reference lookups (``referenced Practitioner``)."""
PATIENT_FIELDS = ("subject", "patient", "beneficiary")


def about_another_patient(resource: dict[str, Any], patient_id: str) -> bool:
    """Whether a resource is another patient's: a Patient with another id, or one whose subject names another."""
    if resource.get("resourceType") == "Patient":
        return "id" in resource and resource["id"] != patient_id
    own = f"Patient/{patient_id}"
    for name in PATIENT_FIELDS:
        value = resource.get(name)
        reference = value.get("reference") if isinstance(value, dict) else None
        if reference == own or not isinstance(reference, str):
            continue  # the common case (this patient, written plainly) needs no normalising: it runs per resource
        key = reference_key(reference)
        if key and key.startswith("Patient/") and key != own:
            return True
    return False


def gather_record(
    request: HookRequest, prefetch: Mapping[str, str], settings: Settings, session: requests.Session | None = None
) -> GatheredRecord:
    """Every prefetch key's resources; missing or broken keys fetched in parallel within the time budget."""
    token = request.fhir_authorization.access_token if request.fhir_authorization else None
    resources: list[dict[str, Any]] = []
    gathered = GatheredRecord(record=PatientRecord())
    fetches: list[_Fetch] = []
    missing: list[str] = []

    def gap(key: str, reason: str) -> None:
        gathered.gaps.append(DataGap(key, reason.replace(token, REDACTED) if token else reason))
        gathered.sources[key] = "failed"

    def keep(key: str, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The resources about this patient; others are dropped, named, and make the key a gap."""
        strangers = [r for r in found if about_another_patient(r, request.patient_id)]
        if not strangers:
            return found
        names = ", ".join(f"{r.get('resourceType')}/{r.get('id', '')}" for r in strangers[:5])
        gap(key, f"{len(strangers)} resource(s) about another patient were dropped ({names})")
        return [r for r in found if not about_another_patient(r, request.patient_id)]

    for key, template in prefetch.items():
        query = render_prefetch(template, request)
        read = "?" not in template
        if key not in request.prefetch:
            missing.append(key)
            if query is not None:
                fetches.append(_Fetch(key, query, read))
            elif request.fhir_server:
                gap(key, f"the query {template} needs a context field this request does not have")
            continue
        found, problem, following = accept_prefetch(request.prefetch[key], _expected_type(template))
        if problem is None:
            gathered.sources[key] = "prefetch"
            resources.extend(keep(key, found))
            if following and request.fhir_server:
                fetches.append(_Fetch(key, following, False))
            elif following:
                # Only the EHR's fhirServer is ever called: a prefetch link elsewhere is not followed.
                gap(key, "the prefetch holds only the first page of results and no fhirServer to read the rest from")
            continue
        if request.fhir_server and query is not None:
            log_event(logger, "gather.prefetch-refetched", hookInstance=request.hook_instance, key=key, reason=problem)
            fetches.append(_Fetch(key, query, read))
        else:
            gap(key, problem)
    if missing and not request.fhir_server:
        raise PreconditionFailed(
            f"prefetch is missing {', '.join(missing)} and the request has no fhirServer to fetch it from"
        )
    if not request.fhir_server:
        gathered.record = PatientRecord(resources)
        return gathered
    deadline = time.monotonic() + settings.fhir_time_budget_seconds
    own_session = session is None
    http = session or _session(settings.fhir_max_workers)
    try:
        client = FhirClient(
            request.fhir_server,
            token,
            deadline,
            settings.fhir_page_cap,
            http,
            settings.fhir_page_size,
            settings.fhir_max_response_bytes,
        )
        if fetches:
            for fetch, result in _run(client, fetches, settings.fhir_max_workers):
                result.resources = keep(fetch.key, result.resources)
                _record(gathered, resources, fetch, result, request.hook_instance)
        record = PatientRecord(resources)
        people = missing_references(record, request.draft_orders)
        if people:
            lookups = [
                _Fetch(f"{REFERENCED}{rtype}", f"{rtype}?_id={','.join(ids)}", False) for rtype, ids in people.items()
            ]
            for fetch, result in _run(client, lookups, settings.fhir_max_workers):
                _record(gathered, resources, fetch, result, request.hook_instance)
                for resource in result.resources:
                    record.add(resource)
    finally:
        if own_session:
            http.close()
    gathered.record = record
    return gathered


DEADLINE_MARGIN_SECONDS = 0.25
"""How long past the FHIR budget the answer may wait for queries that are about to finish."""


def _session(workers: int) -> requests.Session:
    """A session whose connection pool holds one connection per worker (urllib3 keeps 10 by default)."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(10, workers))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _run(client: FhirClient, fetches: list[_Fetch], workers: int) -> list[tuple[_Fetch, FetchResult]]:
    """Every fetch's result, waiting no longer than the client's deadline plus a margin.

    At most ``workers`` queries of this call run at once, on the process's cached threads. A query still running
    then (a name lookup that hangs, a socket that never answers) becomes a gap; its thread is left to end on its own
    timeouts rather than hold up the answer to the EHR, and queries not yet started then are not sent.
    """
    futures: list[Future[FetchResult]] = [Future() for _ in fetches]
    pending = deque(zip(fetches, futures, strict=True))
    stop = threading.Event()

    def drain() -> None:
        while not stop.is_set():
            try:
                fetch, future = pending.popleft()
            except IndexError:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(client.read(fetch.query) if fetch.read else client.search(fetch.query))
            except Exception as exc:  # noqa: BLE001 - named as a gap by _outcome
                future.set_exception(exc)

    threads = shared_threads()
    for _ in range(max(1, min(workers, len(fetches)))):
        threads.submit(drain)
    try:
        wait(futures, timeout=max(0.0, client.deadline - time.monotonic()) + DEADLINE_MARGIN_SECONDS)
    finally:
        stop.set()
    return [(fetch, _outcome(future)) for fetch, future in zip(fetches, futures, strict=True)]


def _outcome(future: Future[FetchResult]) -> FetchResult:
    """A finished query's result; a late or crashed one as an error the record can name."""
    if not future.done():
        return FetchResult(error="no answer within the time budget")
    problem = future.exception()
    if problem is not None:
        logger.exception("gather.query-crashed", exc_info=problem)
        return FetchResult(error=f"the query failed ({type(problem).__name__})")
    return future.result()


def _record(
    gathered: GatheredRecord,
    resources: list[dict[str, Any]],
    fetch: _Fetch,
    result: FetchResult,
    hook_instance: str,
) -> None:
    gathered.fhir_requests += result.requests
    gathered.slowest_fhir_seconds = max(gathered.slowest_fhir_seconds, result.slowest_seconds)
    gathered.slowest_query_seconds = max(gathered.slowest_query_seconds, result.elapsed_seconds)
    resources.extend(result.resources)
    if result.error:
        gathered.gaps.append(DataGap(fetch.key, result.error))
        gathered.sources[fetch.key] = "failed"
    else:
        gathered.sources.setdefault(fetch.key, "fetched")
    log_event(
        logger,
        "gather.fetched",
        level=logging.WARNING if result.error else logging.INFO,
        hookInstance=hook_instance,
        key=fetch.key,
        status="failed" if result.error else "ok",
        resources=len(result.resources),
        requests=result.requests,
        error=result.error,
        duration_ms=round(result.elapsed_seconds * 1000, 2),
    )
