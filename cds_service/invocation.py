"""One hook call from validated request to CDS Hooks response: orders, record, evaluation, cards."""

from __future__ import annotations

import logging
import time
from typing import Any

from cds_service.config import Settings
from cds_service.gather import PreconditionFailed, gather_record
from cds_service.logs import log_event
from cds_service.orders import InvalidOrder, find_iop_orders
from cds_service.protocol import HookRequest, ProtocolError
from cds_service.services import ServiceDefinition

logger = logging.getLogger("iop_cds.invocation")

__all__ = ["HookInvoker", "PreconditionFailed"]


class HookInvoker:
    """Answers hook calls; built once per app, holds everything compiled at start-up."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def policy_keys(self) -> list[str]:
        """Keys of the policies this instance can evaluate."""
        return []

    def invoke(self, service: ServiceDefinition, request: HookRequest) -> dict[str, Any]:
        """The CDS Hooks response body for a validated call (raises PreconditionFailed for 412)."""
        started = time.perf_counter()
        orders = []
        if request.hook == "order-sign":
            try:
                orders = find_iop_orders(request.draft_orders)
            except InvalidOrder as exc:
                raise ProtocolError(f"context.draftOrders.entry[{exc.index}].resource", str(exc)) from None
            if not orders:
                log_event(logger, "hook.no-iop-order", hookInstance=request.hook_instance, service=service.id)
                return {"cards": []}
        gathered = gather_record(request, service, self.settings)
        log_event(
            logger, "hook.record", hookInstance=request.hook_instance, service=service.id,
            resources=len(gathered.record), fhir_requests=gathered.fhir_requests,
            gaps=[gap.key for gap in gathered.gaps],
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
        )
        return {"cards": []}
