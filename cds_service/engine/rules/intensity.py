"""Operators over the order's intensity: sessions and hours per week from its FHIR Timing (DATA-PROFILE §2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cds_service.engine.context import EvaluationContext, resource_key
from cds_service.engine.rules.base import Rule, RuleResult
from cds_service.engine.selections import COMPARATORS
from cds_service.engine.timecalc import (
    describe_timing,
    hours_per_session,
    hours_per_week,
    sessions_per_week,
)

MEASURES = {
    "hours-per-week": hours_per_week,
    "sessions-per-week": sessions_per_week,
    "hours-per-session": hours_per_session,
}


def order_timing(ctx: EvaluationContext) -> tuple[dict[str, Any] | None, str | None]:
    """The IOP order's ``occurrenceTiming`` and its ``Type/id`` (None, None without an order in the call)."""
    orders = ctx.builtins.get("iop-order") or []
    if not orders:
        return None, None
    order = orders[0]
    timing = order.get("occurrenceTiming")
    return (timing if isinstance(timing, dict) else None), resource_key(order)


@dataclass
class OrderIntensity(Rule):
    """Compares the IOP order's hours per week, sessions per week or hours per session; unknown if unreadable."""

    measure: str
    op: str
    than: float

    def evaluate(self, ctx: EvaluationContext) -> RuleResult:
        timing, key = order_timing(ctx)
        if key is None:
            return RuleResult(None, detail="no IOP order in this call")
        value = MEASURES[self.measure](timing) if timing else None
        if value is None:
            return RuleResult(None, [key], f"the order's occurrenceTiming gives no {self.measure}")
        return RuleResult(
            COMPARATORS[self.op](value, self.than),
            [key],
            f"order {self.measure} {value:g} ({describe_timing(timing)})",
        )
