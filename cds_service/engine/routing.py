"""Which policies apply: the request's ``iop-cds.policies``, else the Coverage payor (payers.yaml), else the default."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cds_service.engine.selections import SpecError
from cds_service.engine.timecalc import parse_instant
from cds_service.record.patient_record import PatientRecord, Resource

_MATCH_KEYS = {"payor-identifier", "payor-name", "coverage-type"}


@dataclass(frozen=True)
class PayerRoute:
    """One payers.yaml entry: what a Coverage must show, and the policies it selects."""

    name: str
    policies: tuple[str, ...]
    identifiers: frozenset[str] = frozenset()
    names: tuple[str, ...] = ()
    coverage_types: frozenset[str] = frozenset()

    def matches(self, identifiers: set[str], names: list[str], types: set[str]) -> bool:
        """All given conditions hold (identifier OR name for the payor, plus coverage type if set)."""
        payor_ok = True
        if self.identifiers or self.names:
            payor_ok = bool(self.identifiers & identifiers) or any(n in name for n in self.names for name in names)
        type_ok = not self.coverage_types or bool(self.coverage_types & types)
        return payor_ok and type_ok


@dataclass
class RoutingDecision:
    """The chosen policy keys, how they were chosen, and the Coverage behind them (if any)."""

    policies: list[str]
    source: str
    coverage: Resource | None = None
    payer_name: str | None = None


@dataclass
class PayerRoutes:
    routes: list[PayerRoute]
    default: list[str]

    def choose(
        self, record: PatientRecord, requested: Any, known: set[str], at: datetime | None = None
    ) -> RoutingDecision:
        """Apply the routing order of DATA-PROFILE §5, from the Coverage in force at ``at``."""
        coverage = primary_coverage(record, at)
        payer = payer_name(record, coverage) if coverage else None
        if isinstance(requested, list) and requested:
            keys = [k for k in requested if isinstance(k, str) and k in known]  # validated already (400 otherwise)
            return RoutingDecision(list(dict.fromkeys(keys)), "request", coverage, payer)
        if coverage is not None:
            identifiers, names, types = coverage_signature(record, coverage)
            for route in self.routes:
                if route.matches(identifiers, names, types):
                    return RoutingDecision(list(route.policies), f"payer:{route.name}", coverage, payer or route.name)
        return RoutingDecision(list(self.default), "default", coverage, payer)


def in_force(coverage: Resource, at: datetime | None) -> bool:
    """Active (or no status) and, when ``at`` is given, its ``period`` holds ``at`` (a date-only end holds its whole
    day). CRD no-active-coverage: "The referenced coverage for the member was found but is not in force"."""
    if coverage.get("status", "active") != "active":
        return False
    period = coverage.get("period")
    if at is None or not isinstance(period, dict):
        return True
    start, end = parse_instant(period.get("start")), parse_instant(period.get("end"), True)
    return not (start is not None and start > at) and not (end is not None and end < at)


def primary_coverage(record: PatientRecord, at: datetime | None = None) -> Resource | None:
    """The Coverage in force at ``at`` with the lowest ``order`` (first listed on a tie)."""
    active = [c for c in record.of_type("Coverage") if in_force(c, at)]
    if not active:
        return None
    return min(active, key=coverage_rank)


def coverage_rank(coverage: Resource) -> int:
    """A Coverage's ``order`` (1 = primary); one without an order ranks last."""
    return coverage["order"] if isinstance(coverage.get("order"), int) else 1_000_000


def coverage_signature(record: PatientRecord, coverage: Resource) -> tuple[set[str], list[str], set[str]]:
    """Payor identifiers, lower-cased payor names and coverage type codes of a Coverage."""
    identifiers: set[str] = set()
    names: list[str] = []
    for payor in coverage.get("payor", []) if isinstance(coverage.get("payor"), list) else []:
        if not isinstance(payor, dict):
            continue
        ident = payor.get("identifier")
        if isinstance(ident, dict) and isinstance(ident.get("value"), str):
            identifiers.add(ident["value"])
        if isinstance(payor.get("display"), str):
            names.append(payor["display"].lower())
        org = record.resolve(payor)
        if org:
            for i in org.get("identifier", []) if isinstance(org.get("identifier"), list) else []:
                if isinstance(i, dict) and isinstance(i.get("value"), str):
                    identifiers.add(i["value"])
            if isinstance(org.get("name"), str):
                names.append(org["name"].lower())
    types: set[str] = set()
    ctype = coverage.get("type")
    if isinstance(ctype, dict):
        types |= {c["code"] for c in ctype.get("coding", []) if isinstance(c, dict) and isinstance(c.get("code"), str)}
    return identifiers, names, types


def payer_name(record: PatientRecord, coverage: Resource) -> str | None:
    """The payor's display name, for card source labels."""
    for payor in coverage.get("payor", []) if isinstance(coverage.get("payor"), list) else []:
        if isinstance(payor, dict):
            org = record.resolve(payor)
            if org and isinstance(org.get("name"), str):
                return org["name"]
            if isinstance(payor.get("display"), str):
                return payor["display"]
    return None


def _strings(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str | int):
        return [str(value)]
    if isinstance(value, list) and all(isinstance(v, str | int) for v in value):
        return [str(v) for v in value]
    raise SpecError(f"{what} must be a string or a list of strings")


def parse_routes(doc: Any, policy_keys: set[str]) -> PayerRoutes:
    """Parse payers.yaml; every policy key named must exist."""
    if not isinstance(doc, dict) or not isinstance(doc.get("routes", []), list):
        raise SpecError("needs a 'routes' list and a 'default' list")
    routes = []
    for i, entry in enumerate(doc.get("routes", [])):
        if not isinstance(entry, dict) or not isinstance(entry.get("match"), dict) or "policies" not in entry:
            raise SpecError(f"routes[{i}] needs 'match' and 'policies'")
        match = entry["match"]
        unknown = set(match) - _MATCH_KEYS
        if unknown:
            raise SpecError(f"routes[{i}]: unknown match keys {', '.join(sorted(unknown))}")
        policies = tuple(_strings(entry["policies"], f"routes[{i}].policies"))
        bad = [p for p in policies if p not in policy_keys]
        if bad or not policies:
            raise SpecError(f"routes[{i}]: unknown policy {bad[0] if bad else '(none)'!r}")
        routes.append(
            PayerRoute(
                name=str(entry.get("name", f"route {i}")),
                policies=policies,
                identifiers=frozenset(_strings(match.get("payor-identifier"), f"routes[{i}].match.payor-identifier")),
                names=tuple(n.lower() for n in _strings(match.get("payor-name"), f"routes[{i}].match.payor-name")),
                coverage_types=frozenset(_strings(match.get("coverage-type"), f"routes[{i}].match.coverage-type")),
            )
        )
    default = _strings(doc.get("default"), "default")
    if not default:
        raise SpecError("'default' must name at least one policy (used when no route matches the Coverage)")
    bad = [p for p in default if p not in policy_keys]
    if bad:
        raise SpecError(f"default: unknown policy {bad[0]!r}")
    return PayerRoutes(routes, default)
