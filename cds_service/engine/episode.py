"""The IOP episode of a hook call: program Encounter, sessions, anchor times and phase (DATA-PROFILE §2)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cds_service.engine.context import EvaluationContext, resource_key
from cds_service.engine.facts import Fact
from cds_service.engine.timecalc import parse_instant
from cds_service.record.patient_record import Resource, last_updated

_NOT_ATTENDED = {"planned", "cancelled", "entered-in-error"}
STALE_AFTER = timedelta(days=30)
"""A program Encounter with no session (nor start) for this long is a leftover, not the current episode."""


@dataclass
class Episode:
    """PROG, SESS and the anchors T0, TD, TDa for one evaluation."""

    phase: str
    program: Resource | None
    sessions: list[Resource] = field(default_factory=list)
    anchors: dict[str, datetime | None] = field(default_factory=dict)

    @property
    def program_ref(self) -> str | None:
        return resource_key(self.program) if self.program else None


def _first(ctx: EvaluationContext, fact: Fact, resource: Resource | None) -> Any:
    if resource is None:
        return None
    values = ctx.values(fact, resource)
    return values[0] if values else None


def order_times(order: Resource | None) -> tuple[datetime | None, datetime | None, datetime | None]:
    """Start, end and authoring time of a draft order (occurrencePeriod, occurrenceDateTime or Timing bounds)."""
    if not order:
        return None, None, None
    start = end = None
    period = order.get("occurrencePeriod")
    if isinstance(period, dict):
        start, end = parse_instant(period.get("start")), parse_instant(period.get("end"), end_of_period=True)
    if start is None:
        start = parse_instant(order.get("occurrenceDateTime"))
    timing = order.get("occurrenceTiming")
    if start is None and isinstance(timing, dict):
        repeat = timing.get("repeat") if isinstance(timing.get("repeat"), dict) else {}
        bounds = repeat.get("boundsPeriod") if isinstance(repeat.get("boundsPeriod"), dict) else {}
        start = parse_instant(bounds.get("start"))
        end = end or parse_instant(bounds.get("end"), end_of_period=True)
        events = timing.get("event")
        if start is None and isinstance(events, list) and events:
            start = parse_instant(events[0])
    return start, end, parse_instant(order.get("authoredOn"))


def find_discharged_program(ctx: EvaluationContext, encounter_id: str | None) -> Resource | None:
    """The IOP program being discharged: the context Encounter, or the program it is part of."""
    if not encounter_id:
        return None
    programs = ctx.select("iop-programs")
    keys = {resource_key(p): p for p in programs}
    encounter_key = f"Encounter/{encounter_id}"
    if encounter_key in keys:
        return keys[encounter_key]
    encounter = ctx.record.resolve(encounter_key)
    part_of = ctx.values(_fact(ctx, "encounter.part-of"), encounter) if encounter else []
    for ref in part_of:
        if ref in keys:
            return keys[ref]
    return None


def _fact(ctx: EvaluationContext, name: str) -> Fact:
    return ctx.facts[name]


def program_sessions(
    ctx: EvaluationContext, program: Resource, twins: dict[str, set[str]] | None = None
) -> list[Resource]:
    """Attended session Encounters of a program; two records of the same start are one session (DATA-PROFILE §6),
    the one updated last; ``twins`` gets, per kept record, the ``Type/id`` of the records it stands for."""
    start_f, status_f, part_of_f = (
        _fact(ctx, "encounter.start"),
        _fact(ctx, "encounter.status"),
        _fact(ctx, "encounter.part-of"),
    )
    program_key = resource_key(program)
    by_start: dict[datetime, list[Resource]] = {}
    undated: list[Resource] = []
    for enc in ctx.record.of_type("Encounter"):
        if enc is program or _first(ctx, status_f, enc) in _NOT_ATTENDED:
            continue
        if program_key not in ctx.values(part_of_f, enc):
            continue
        start = _first(ctx, start_f, enc)
        if start is None:
            undated.append(enc)
        else:
            by_start.setdefault(start, []).append(enc)
    kept = {id(e) for e in undated}
    for records in by_start.values():
        chosen = max(records, key=last_updated)  # the first of equals: a resend must be newer to win
        kept.add(id(chosen))
        if twins is not None and len(records) > 1:
            twins[resource_key(chosen)] = {resource_key(r) for r in records if r is not chosen}
    return [e for e in ctx.record.of_type("Encounter") if id(e) in kept]


def _stale(ctx: EvaluationContext, program: Resource, start: datetime | None, end: datetime | None) -> bool:
    """A program left open: its period ended before now, or nothing happened in it for 30 days."""
    if end is not None and end < ctx.now:
        return True
    starts = [t for s in program_sessions(ctx, program) if (t := _first(ctx, _fact(ctx, "encounter.start"), s))]
    last = max([t for t in [*starts, start] if t is not None and t <= ctx.now], default=None)
    return last is not None and ctx.now - last > STALE_AFTER


def derive_episode(
    ctx: EvaluationContext, hook: str, order: Resource | None, encounter_id: str | None
) -> Episode | None:
    """Fill the context's PROG/SESS built-ins and anchors; None when a discharge is not of an IOP program."""
    start_f, end_f = _fact(ctx, "encounter.start"), _fact(ctx, "encounter.end")
    status_f = _fact(ctx, "encounter.status")
    order_start, order_end, order_authored = order_times(order)
    if hook == "encounter-discharge":
        program = find_discharged_program(ctx, encounter_id)
        if program is None:
            return None
        phase = "discharge"
    else:
        running = []
        for candidate in ctx.select("iop-programs"):
            status = _first(ctx, status_f, candidate)
            start, end = _first(ctx, start_f, candidate), _first(ctx, end_f, candidate)
            ongoing = status == "in-progress" or (
                status not in ("finished", "cancelled", "entered-in-error")
                and start is not None
                and start <= ctx.now
                and (end is None or end >= ctx.now)
            )
            if ongoing and not _stale(ctx, candidate, start, end):
                running.append((start or ctx.now, candidate))
        program = max(running, key=lambda item: item[0])[1] if running else None
        replaces = bool(order and ctx.values(_fact(ctx, "servicerequest.replaces"), order))
        phase = "continued-stay" if (program is not None or replaces) else "admission"
    ctx.twins = {}
    sessions = program_sessions(ctx, program, ctx.twins) if program is not None else []
    session_starts = sorted(t for s in sessions if (t := _first(ctx, start_f, s)) is not None)
    t0 = (
        _first(ctx, start_f, program)
        or (session_starts[0] if session_starts else None)
        or order_start
        or order_authored
        or ctx.now
    )
    td = (_first(ctx, end_f, program) if phase == "discharge" else None) or ctx.now
    # The plans that give TDa are scoped to this episode: their window needs PROG, SESS, the phase and anchors first.
    ctx.builtins["PROG"] = [program] if program is not None else []
    ctx.builtins["SESS"] = sessions
    ctx.phase = phase
    ctx.anchors.update({"T0": t0, "TD": td, "order-authored": order_authored})
    ctx.reset_caches()
    period_end_f = _fact(ctx, "careplan.period-end")
    tda = None
    for plans in ("discharge-plans", "treatment-plans"):
        ends = [t for p in ctx.select(plans) if (t := _first(ctx, period_end_f, p)) is not None]
        if ends:
            tda = max(ends)
            break
    tda = tda or order_end
    ctx.builtins["PROG"] = [program] if program is not None else []
    ctx.builtins["SESS"] = sessions
    ctx.session_starts = session_starts
    ctx.phase = phase
    ctx.anchors.update(
        {
            "T0": t0,
            "TD": td,
            "TDa": tda,
            "order-start": order_start,
            "order-end": order_end,
            "order-authored": order_authored,
        }
    )
    ctx.reset_caches()
    return Episode(phase=phase, program=program, sessions=sessions, anchors=dict(ctx.anchors))
