"""Operators over intensity: sessions and hours per week from the order's or the plan of care's FHIR Timing (§2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from cds_service.engine.context import EvaluationContext, resource_key
from cds_service.engine.facts import Fact
from cds_service.engine.rules.base import Rule, RuleResult
from cds_service.engine.selections import COMPARATORS, Selection
from cds_service.engine.timecalc import (
    describe_timing,
    hours_per_session,
    hours_per_week,
    sessions_per_week,
)
from cds_service.engine.valuesets import ValueSet


def measure_timing(measure: str, timing: dict[str, Any], zone: tzinfo | None) -> float | None:
    """One measure of a Timing; a ``boundsPeriod`` shorter than a week is read on the site's local dates."""
    if measure == "hours-per-session":
        return hours_per_session(timing)
    return hours_per_week(timing, zone) if measure == "hours-per-week" else sessions_per_week(timing, zone)


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
        value = measure_timing(self.measure, timing, ctx.calendar.zone) if timing else None
        if value is None:
            return RuleResult(None, [key], f"the order's occurrenceTiming gives no {self.measure}")
        return RuleResult(
            COMPARATORS[self.op](value, self.than),
            [key],
            f"order {self.measure} {value:g} ({describe_timing(timing)})",
        )


def _activity_codings(activity: Any) -> list[dict[str, Any]]:
    detail = activity.get("detail") if isinstance(activity, dict) else None
    code = detail.get("code") if isinstance(detail, dict) else None
    codings = code.get("coding") if isinstance(code, dict) else None
    return [c for c in codings or [] if isinstance(c, dict)]


_ENDED_REQUEST = ("revoked", "entered-in-error")


def _planned_activity(ctx: EvaluationContext, activity: Any) -> tuple[str, list[dict[str, Any]], Any]:
    """An activity as (state, codings, timing): state 'off' (cancelled, stopped, revoked), 'unreadable' (it points at
    a request the record does not hold), else 'planned'. An ``activity.reference`` to a ServiceRequest is read from
    that request: its code and ``occurrenceTiming``."""
    if not isinstance(activity, dict):
        return "unreadable", [], None
    detail = activity.get("detail")
    if isinstance(detail, dict) or "reference" not in activity:
        if isinstance(detail, dict) and detail.get("status") in ("cancelled", "stopped", "entered-in-error"):
            return "off", [], None
        timing = detail.get("scheduledTiming") if isinstance(detail, dict) else None
        return "planned", _activity_codings(activity), timing
    request = ctx.record.resolve(activity.get("reference"))
    if not isinstance(request, dict):
        return "unreadable", [], None
    if request.get("status") in _ENDED_REQUEST:
        return "off", [], None
    code = request.get("code")
    codings = code.get("coding") if isinstance(code, dict) else None
    return "planned", [c for c in codings or [] if isinstance(c, dict)], request.get("occurrenceTiming")


@dataclass
class PlanIntensity(Rule):
    """Compares the newest plan's scheduled sessions or hours per week, summed over its activities' Timings.

    Only activities coded in ``valueset`` count when one is given; an activity without a readable
    ``scheduledTiming`` makes the sum unknown unless the activities that are readable already pass.
    """

    selection: Selection
    measure: str
    op: str
    than: float
    valueset: ValueSet | None = None
    time_fact: Fact | None = None

    def evaluate(self, ctx: EvaluationContext) -> RuleResult:
        plans = ctx.select(self.selection.name)
        if not plans:
            return RuleResult(None, detail=f"no {self.selection.title}")
        dated = [(ctx.time_of(self.selection.name, p, self.time_fact), i, p) for i, p in enumerate(plans)]
        # The newest plan is the plan of care in force; undated plans count as oldest.
        plan = max(dated, key=lambda d: (d[0] is not None, d[0] or datetime.min.replace(tzinfo=UTC), d[1]))[2]
        key = resource_key(plan)
        measure = sessions_per_week if self.measure == "sessions-per-week" else hours_per_week
        total, unreadable, counted = 0.0, 0, 0
        for activity in plan.get("activity") or []:
            state, codings, timing = _planned_activity(ctx, activity)
            if state == "off":
                continue
            if (
                state == "planned"
                and self.valueset is not None
                and not any(self.valueset.contains_coding(c) for c in codings)
            ):
                continue
            value = measure(timing) if isinstance(timing, dict) else None
            if value is None:
                unreadable += 1
            else:
                total += value
                counted += 1
        what = f"{self.measure} of {self.selection.title} {key}"
        if counted == 0 and unreadable == 0:
            return RuleResult(COMPARATORS[self.op](0.0, self.than), [key], f"{what}: no such activity planned")
        ok = COMPARATORS[self.op](total, self.than)
        if unreadable and ok != COMPARATORS[self.op](float("inf"), self.than):
            # More activities could still change the answer once their timing is known.
            return RuleResult(None, [key], f"{what}: {total:g} from {counted}; {unreadable} without a readable timing")
        return RuleResult(ok, [key], f"{what}: {total:g}")
