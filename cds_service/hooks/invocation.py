"""One hook call from validated request to CDS Hooks response: orders, record, evaluation, cards."""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cds_service.cards.builder import CardBuilder, ResponseInput
from cds_service.cards.coverage import unevaluated_actions
from cds_service.config import Settings
from cds_service.engine.evaluator import evaluate
from cds_service.engine.mapping import Mappings, load_mappings
from cds_service.engine.program_attestations import load_program_attestations
from cds_service.engine.routing import RoutingDecision
from cds_service.engine.timecalc import BusinessCalendar, parse_instant
from cds_service.hooks.metrics import card_kinds, observe_call
from cds_service.hooks.protocol import ProtocolError
from cds_service.hooks.services import ServiceDefinition
from cds_service.logs import log_event
from cds_service.record.gather import REFERENCED, PreconditionFailed, gather_record
from cds_service.record.orders import InvalidOrder, find_iop_orders
from cds_service.record.patient_record import DataGap, PatientRecord
from cds_service.record.request import HookRequest

logger = logging.getLogger("iop_cds.invocation")

__all__ = ["HookInvoker", "PreconditionFailed", "evaluation_time"]

EXT_POLICIES = "iop-cds.policies"
EXT_EVALUATION_TIME = "iop-cds.evaluation-time"
EXT_EVALUATIONS = "iop-cds.evaluations"
# What reading an unexpected shape of FHIR data raises in Python (a list for a string, a bool for an object, a
# year-9999 date plus a window); anything else is a bug of the service itself and stays a 500.
DATA_SHAPE_ERRORS = (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError)


def evaluation_time(extension: dict[str, Any]) -> datetime:
    """The request's ``iop-cds.evaluation-time`` (RFC 3339 with a zone), else the server clock."""
    raw = extension.get(EXT_EVALUATION_TIME)
    if raw is None:
        return datetime.now(UTC)
    parsed = parse_instant(raw) if isinstance(raw, str) and "T" in raw else None
    if parsed is None:
        raise ProtocolError(
            f"extension.{EXT_EVALUATION_TIME}", "must be an RFC 3339 date-time, e.g. 2025-03-03T10:00:00Z"
        )
    return parsed


def requested_policies(extension: dict[str, Any], known: set[str]) -> list[str] | None:
    """The request's ``iop-cds.policies``, validated against the policies loaded."""
    raw = extension.get(EXT_POLICIES)
    if raw is None:
        return None
    field = f"extension.{EXT_POLICIES}"
    if not isinstance(raw, list) or not raw or not all(isinstance(k, str) for k in raw):
        raise ProtocolError(field, f"must be a non-empty list of policy keys ({', '.join(sorted(known))})")
    unknown = [k for k in raw if k not in known]
    if unknown:
        raise ProtocolError(field, f"unknown policy {unknown[0]!r} (one of {', '.join(sorted(known))})")
    return list(dict.fromkeys(raw))


def unreadable_types(gaps: list[DataGap], prefetch: Mapping[str, str]) -> dict[str, list[str]]:
    """Resource type -> prefetch keys for it that could not be read (a key's type is its query's first segment).

    Types with no key of their own (Practitioner, ServiceRequest, Location, ...) arrive as includes of other keys'
    searches or by reference: any failed key may have carried them, so they fall under ``"*"``.
    """
    if not gaps:
        return {}
    found: dict[str, list[str]] = {template.split("?", 1)[0].split("/", 1)[0]: [] for template in prefetch.values()}
    found["*"] = []
    for gap in gaps:
        template = prefetch.get(gap.key)
        if template is not None:
            rtype = template.split("?", 1)[0].split("/", 1)[0]
        elif gap.key.startswith(REFERENCED):
            rtype = gap.key.removeprefix(REFERENCED)
            found.setdefault(rtype, [])
        else:
            continue
        for keys in (found[rtype], found["*"]):
            if gap.key not in keys:
                keys.append(gap.key)
    return found


class HookInvoker:
    """Answers hook calls; built once per app, holds everything compiled at start-up."""

    def __init__(self, settings: Settings, mappings: Mappings | None = None) -> None:
        self.settings = settings
        self.mappings = mappings or load_mappings(settings.mappings_dir)
        self.calendar = BusinessCalendar.from_spec(settings.business_calendar, zone=settings.timezone)
        self.cards = CardBuilder(settings, self.mappings)
        known = {c.id for policy in self.mappings.policies.values() for c in policy.criteria()}
        self.program = load_program_attestations(settings.program_attestations_file, known)

    def policy_keys(self) -> list[str]:
        """Keys of the policies this instance can evaluate."""
        return sorted(self.mappings.policies)

    def invoke(self, service: ServiceDefinition, request: HookRequest) -> dict[str, Any]:
        """The CDS Hooks response body for a validated call (raises PreconditionFailed for 412)."""
        started = time.perf_counter()
        now = evaluation_time(request.extension)
        requested = requested_policies(request.extension, set(self.mappings.policies))
        orders = []
        if request.hook == "order-sign":
            try:
                orders = find_iop_orders(request.draft_orders)
            except InvalidOrder as exc:
                raise ProtocolError(f"context.draftOrders.entry[{exc.index}].resource", str(exc)) from None
            if not orders:
                log_event(logger, "hook.no-iop-order", hookInstance=request.hook_instance, service=service.id)
                return {"cards": []}
        gathered = gather_record(request, service.prefetch, self.settings)
        record = gathered.record
        log_event(
            logger,
            "hook.record",
            hookInstance=request.hook_instance,
            service=service.id,
            resources=len(record),
            fhir_requests=gathered.fhir_requests,
            slowest_fhir_ms=round(gathered.slowest_fhir_seconds * 1000, 2),
            slowest_query_ms=round(gathered.slowest_query_seconds * 1000, 2),
            gaps=[gap.key for gap in gathered.gaps],
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
        )
        routing: RoutingDecision | None = None
        try:
            routing = self.mappings.routes.choose(record, requested, set(self.mappings.policies))
            evaluations = evaluate(
                self.mappings,
                record,
                hook=request.hook,
                now=now,
                policy_keys=routing.policies,
                orders=[o.resource for o in orders],
                draft_orders=request.draft_orders,
                encounter_id=request.encounter_id,
                patient_id=request.patient_id,
                calendar=self.calendar,
                attestation_validity_days=self.settings.attestation_validity_days,
                program_attestations=self.program.valid_at(now) if self.program else None,
                unreadable=unreadable_types(gathered.gaps, service.prefetch),
            )
            response = self.cards.build(
                ResponseInput(
                    hook=request.hook,
                    evaluations=evaluations,
                    routing=routing,
                    gaps=gathered.gaps,
                    now=now,
                    orders=[o.resource for o in orders],
                    record=record,
                    encounter_id=request.encounter_id,
                    configuration=request.extension.get("davinci-crd.configuration"),
                )
            )
        except DATA_SHAPE_ERRORS as exc:
            evaluations = []
            response = self._unevaluated(request, service, gathered.gaps, routing, now, orders, record, exc)
        response.setdefault("extension", {})[EXT_EVALUATIONS] = [e.to_json() for e in evaluations]
        observe_call(gathered.slowest_fhir_seconds, [gap.key for gap in gathered.gaps], response)
        # The audit event of the decision: what was decided and shown, never who or what about (no PHI).
        log_event(
            logger,
            "hook.evaluated",
            hookInstance=request.hook_instance,
            service=service.id,
            policies=routing.policies,
            routing=routing.source,
            outcomes={f"{e.policy.key}/{e.phase}": e.outcome.value for e in evaluations},
            statuses=dict(Counter(c.status.value for e in evaluations for c in e.criteria if not c.group)),
            cards=len(response["cards"]),
            card_kinds={f"{kind}/{indicator}": n for (kind, indicator), n in card_kinds(response).items()},
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
        )
        return response

    def _unevaluated(
        self,
        request: HookRequest,
        service: ServiceDefinition,
        gaps: list[DataGap],
        routing: RoutingDecision | None,
        now: datetime,
        orders: list[Any],
        record: PatientRecord,
        exc: Exception,
    ) -> dict[str, Any]:
        """The answer when the record holds data the engine cannot evaluate: a data-gap card, never a 500.

        FHIR data is the EHR's, not the caller's request: a value of an unexpected shape (a list where a code
        belongs, a date at the calendar's edge) must not cost the clinician the answer. The incident is logged with
        its traceback so that the shape gets handled where it is read.
        """
        incident = str(uuid.uuid4())
        logger.error(
            "hook.evaluation-failed",
            exc_info=exc,
            extra={
                "fields": {
                    "event": "hook.evaluation-failed",
                    "incident": incident,
                    "hookInstance": request.hook_instance,
                    "service": service.id,
                    "error": type(exc).__name__,
                }
            },
        )
        reason = f"holds data the service cannot evaluate (incident {incident}); no requirement was evaluated"
        data = ResponseInput(
            hook=request.hook,
            evaluations=[],
            routing=routing or RoutingDecision([], "unevaluated"),
            gaps=[*gaps, DataGap("record", reason)],
            now=now,
            orders=[o.resource for o in orders],
            record=record,
            encounter_id=request.encounter_id,
        )
        response = self.cards.build(data)
        actions = unevaluated_actions(data)
        if actions:
            response["systemActions"] = actions
        return response
