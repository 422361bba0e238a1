"""PatientRecord: the FHIR resources of one hook call, indexed once by type and by reference."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Resource = dict[str, Any]


def reference_key(reference: str | None) -> str | None:
    """Normalise a FHIR reference (relative, absolute or with _history) to ``Type/id``."""
    if not reference or not isinstance(reference, str):
        return None
    if reference.count("/") == 1 and "#" not in reference:  # already ``Type/id`` (or one part missing): most of them
        head, _, tail = reference.partition("/")
        return reference if head and tail else None
    ref = reference.split("#", 1)[0]
    if "/_history/" in ref:
        ref = ref.split("/_history/", 1)[0]
    parts = [p for p in ref.split("/") if p]
    if len(parts) < 2:
        return None
    return f"{parts[-2]}/{parts[-1]}"


@dataclass(frozen=True)
class DataGap:
    """A prefetch key whose data could not be read, and why (shown on the 'incomplete' card)."""

    key: str
    reason: str


_NEVER = datetime.min.replace(tzinfo=UTC)


def _identifiers(resource: Resource) -> list[tuple[str, str]]:
    """(system, value) of each business identifier that has both."""
    found = []
    identifiers = resource.get("identifier")
    for identifier in identifiers if isinstance(identifiers, list) else []:
        if isinstance(identifier, dict):
            system, value = identifier.get("system"), identifier.get("value")
            if isinstance(system, str) and system and isinstance(value, str) and value:
                found.append((system, value))
    return found


def last_updated(resource: Resource) -> datetime:
    """``meta.lastUpdated`` as an aware instant (the earliest instant when absent or malformed)."""
    meta = resource.get("meta")
    stamp = meta.get("lastUpdated") if isinstance(meta, dict) else None
    if isinstance(stamp, str):
        try:
            parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return _NEVER


class PatientRecord:
    """Resources by type and by ``Type/id``.

    Duplicates are kept once (DATA-PROFILE §6): the same type and id (the first copy), or the same type and business
    identifier (system + value; the copy with the newest ``meta.lastUpdated``, and both ids resolve to it).
    """

    def __init__(self, resources: Iterable[Resource] = ()) -> None:
        self._by_type: dict[str, list[Resource]] = {}
        self._by_ref: dict[str, Resource] = {}
        self._by_identifier: dict[tuple[str, str, str], Resource] = {}
        self.lookups = 0
        """How many index look-ups were made (tests assert on index use, not on time)."""
        self.memo: dict[tuple[str, ...], Any] = {}
        """Indexes derived from the record (e.g. resources by code), shared by every evaluation of the call."""
        for resource in resources:
            self.add(resource)

    def add(self, resource: Resource) -> None:
        """Index one resource; a later copy of the same ``Type/id`` replaces nothing, one of the same identifier
        replaces the earlier copy only when it was updated later."""
        rtype = resource.get("resourceType")
        if not isinstance(rtype, str):
            return
        rid = resource.get("id")
        key = f"{rtype}/{rid}" if isinstance(rid, str) and rid else None
        if key is not None and key in self._by_ref:
            return
        identifiers = [(rtype, system, value) for system, value in _identifiers(resource)]
        twin = next((self._by_identifier[i] for i in identifiers if i in self._by_identifier), None)
        if twin is not None:
            kept = resource if last_updated(resource) > last_updated(twin) else twin
            if kept is resource:
                self._replace(twin, resource)
            if key is not None:
                self._by_ref[key] = kept
            for identifier in identifiers:
                self._by_identifier[identifier] = kept
            return
        if key is not None:
            self._by_ref[key] = resource
        for identifier in identifiers:
            self._by_identifier.setdefault(identifier, resource)
        self._by_type.setdefault(rtype, []).append(resource)

    def _replace(self, old: Resource, new: Resource) -> None:
        """Put ``new`` where ``old`` was, in the type list and under every key and identifier that led to ``old``."""
        items = self._by_type[str(old.get("resourceType"))]
        items[next(i for i, r in enumerate(items) if r is old)] = new
        for index in (self._by_ref, self._by_identifier):
            for k, v in list(index.items()):
                if v is old:
                    index[k] = new  # type: ignore[index]

    def of_type(self, resource_type: str) -> list[Resource]:
        """Every resource of one type, in arrival order."""
        self.lookups += 1
        return self._by_type.get(resource_type, [])

    def resolve(self, reference: str | dict[str, Any] | None) -> Resource | None:
        """The resource a reference (string or Reference object) points to, if it is in the record."""
        self.lookups += 1
        if isinstance(reference, dict):
            reference = reference.get("reference")
        key = reference_key(reference)  # type: ignore[arg-type]
        return self._by_ref.get(key) if key else None

    @property
    def types(self) -> list[str]:
        return sorted(self._by_type)

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_type.values())

    def __iter__(self) -> Iterator[Resource]:
        for items in self._by_type.values():
            yield from items


@dataclass
class GatheredRecord:
    """The record of one call plus what could not be read and where each key came from."""

    record: PatientRecord
    gaps: list[DataGap] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    """prefetch key -> ``prefetch`` | ``fetched`` | ``failed``."""
    fhir_requests: int = 0
    slowest_fhir_seconds: float = 0.0
    """Duration of the slowest single FHIR request."""
    slowest_query_seconds: float = 0.0
    """Duration of the slowest query with all its pages (benchmarks compare wall time against it)."""
