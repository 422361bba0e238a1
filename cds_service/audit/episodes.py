"""What to evaluate in one patient's record: IOP program episodes (at discharge) and IOP orders (as authored)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cds_service.engine.timecalc import parse_instant
from cds_service.record.orders import iop_code

Resource = dict[str, Any]


@dataclass(frozen=True)
class Target:
    """One evaluation to run: a program Encounter at discharge, or an IOP order at its ``authoredOn``."""

    kind: str  # "episode" or "order"
    resource_id: str
    hook: str
    at: datetime
    discharge: datetime | None = None
    open: bool = False


def _period(resource: Resource) -> tuple[datetime | None, datetime | None]:
    period = resource.get("period") if isinstance(resource.get("period"), dict) else {}
    return parse_instant(period.get("start")), parse_instant(period.get("end"), end_of_period=True)


def program_encounters(resources: list[Resource]) -> list[Resource]:
    """IOP program Encounters: those other Encounters point to with ``partOf`` (as ``iop-cds evaluate`` finds them)."""
    encounters = [r for r in resources if r.get("resourceType") == "Encounter"]
    parents = {
        str((e.get("partOf") or {}).get("reference", "")).rsplit("/", 1)[-1]
        for e in encounters
        if isinstance(e.get("partOf"), dict)
    }
    return [e for e in encounters if e.get("id") in parents and e.get("status") != "entered-in-error"]


def find_targets(
    resources: list[Resource], as_of: datetime, period: tuple[datetime | None, datetime | None]
) -> list[Target]:
    """Episodes discharged (or, when open, ``as_of``) and IOP orders authored inside the period."""
    start, end = period

    def inside(when: datetime | None) -> bool:
        return when is not None and (start is None or when >= start) and (end is None or when <= end)

    targets: list[Target] = []
    for program in program_encounters(resources):
        _, discharged = _period(program)
        closed = program.get("status") in ("finished", "cancelled") or (discharged is not None and discharged <= as_of)
        at = discharged if closed and discharged is not None else as_of
        if inside(at):
            targets.append(
                Target("episode", program["id"], "encounter-discharge", at, discharged if closed else None, not closed)
            )
    for order in resources:
        if order.get("resourceType") != "ServiceRequest" or iop_code(order) is None:
            continue
        if order.get("status") in ("entered-in-error", "revoked") or not isinstance(order.get("id"), str):
            continue
        authored = parse_instant(order.get("authoredOn"))
        if inside(authored):
            targets.append(Target("order", order["id"], "order-sign", authored))  # type: ignore[arg-type]
    return targets


def first_aftercare_days(resources: list[Resource], program: Resource, discharge: datetime) -> int | None:
    """Days from the discharge date to the first later visit or appointment (booked or attended), or None."""
    program_ref = f"Encounter/{program.get('id')}"
    starts: list[datetime] = []
    for r in resources:
        if r.get("resourceType") == "Appointment" and r.get("status") in (
            "booked",
            "arrived",
            "fulfilled",
            "checked-in",
        ):
            when = parse_instant(r.get("start"))
        elif r.get("resourceType") == "Encounter" and r is not program:
            if (r.get("partOf") or {}).get("reference") == program_ref or r.get("status") in ("cancelled", "planned"):
                continue
            when = _period(r)[0]
        else:
            continue
        if when is not None and when > discharge:
            starts.append(when)
    if not starts:
        return None
    return (min(starts).date() - discharge.date()).days
