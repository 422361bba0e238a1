"""Per-evaluation state: the record, the episode anchors, and caches of selections and fact values."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from cds_service.engine.timecalc import BusinessCalendar
from cds_service.engine.valuesets import ValueSet
from cds_service.record.patient_record import PatientRecord, Resource, reference_key

if TYPE_CHECKING:
    from cds_service.engine.facts import Fact
    from cds_service.engine.outcome import Status


class Selection(Protocol):
    """What the context needs of a named selection (``engine.selections.Selection`` implements it)."""

    time: list[Fact]

    def evaluate(self, ctx: EvaluationContext) -> list[Resource]:
        """The selection's members in this evaluation."""
        ...


def resource_key(resource: Resource) -> str:
    """``Type/id`` of a resource (``Type/`` when it has no id)."""
    return f"{resource.get('resourceType')}/{resource.get('id', '')}"


@dataclass
class EvaluationContext:
    """Everything a rule may look at while one policy phase is evaluated, with per-call caches."""

    record: PatientRecord
    facts: dict[str, Fact]
    selections: dict[str, Selection]
    now: datetime
    phase: str
    calendar: BusinessCalendar
    builtins: dict[str, list[Resource]] = field(default_factory=dict)
    anchors: dict[str, datetime | None] = field(default_factory=dict)
    session_starts: list[datetime] = field(default_factory=list)
    criterion_status: Callable[[str], Status | None] | None = None
    attestation_of: Callable[[str], tuple[bool, str, datetime] | None] | None = None
    """A criterion id's valid attestation: (answer, source, authored), or None."""
    _selected: dict[str, list[Resource]] = field(default_factory=dict)
    _keys: dict[str, set[str]] = field(default_factory=dict)
    _referenced: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    _values: dict[tuple[str, int], list[Any]] = field(default_factory=dict)

    def reset_caches(self) -> None:
        """Forget computed selections (after the episode's anchors are set, windows change)."""
        self._selected.clear()
        self._keys.clear()
        self._referenced.clear()

    def anchor(self, name: str) -> datetime | None:
        """The time an anchor stands for in this evaluation (``now`` always resolves)."""
        if name == "now":
            return self.now
        return self.anchors.get(name)

    def source(self, name: str) -> list[Resource]:
        """Resources of a type, a built-in selection, or a named selection."""
        if name in self.builtins:
            return self.builtins[name]
        if name in self.selections:
            return self.select(name)
        return self.record.of_type(name)

    def coded(self, resource_type: str, fact: Fact, valueset: ValueSet) -> list[Resource]:
        """Resources of a type whose coding fact is in a value set, via a per-record index by code."""
        index = self.record.memo.get(("coded", resource_type, fact.name))
        if index is None:
            index = {}
            for position, resource in enumerate(self.record.of_type(resource_type)):
                for coding in self.values(fact, resource):
                    index.setdefault((coding.get("system"), coding.get("code")), []).append((position, resource))
            self.record.memo[("coded", resource_type, fact.name)] = index
        hits = {
            position: resource
            for (system, code), members in index.items()
            if valueset.contains(system, code)
            for position, resource in members
        }
        return [hits[position] for position in sorted(hits)]

    def select(self, name: str) -> list[Resource]:
        """Members of a selection, computed once per evaluation."""
        if name in self.builtins:
            return self.builtins[name]
        if name not in self.selections:
            return self.record.of_type(name)
        cached = self._selected.get(name)
        if cached is None:
            cached = self.selections[name].evaluate(self)
            self._selected[name] = cached
        return cached

    def selection_keys(self, name: str) -> set[str]:
        """``Type/id`` of every member of a selection."""
        keys = self._keys.get(name)
        if keys is None:
            keys = {resource_key(r) for r in self.select(name)}
            self._keys[name] = keys
        return keys

    def referenced_keys(self, selection: str, fact: Fact) -> set[str]:
        """Every ``Type/id`` that members of a selection point to through a reference fact."""
        cache_key = (selection, fact.name)
        keys = self._referenced.get(cache_key)
        if keys is None:
            keys = {v for r in self.select(selection) for v in self.values(fact, r)}
            self._referenced[cache_key] = keys
        return keys

    def values(self, fact: Fact, resource: Resource) -> list[Any]:
        """A fact's values on a resource, computed once per evaluation."""
        cache_key = (fact.name, id(resource))
        values = self._values.get(cache_key)
        if values is None:
            values = fact.values(resource) if resource.get("resourceType") == fact.resource else []
            self._values[cache_key] = values
        return values

    def time_of(self, selection: str, resource: Resource, fact: Fact | None = None) -> datetime | None:
        """The earliest time of a member by the given fact, else by its selection's ``time`` facts."""
        if fact is not None:
            candidates = [fact]
        elif selection in self.selections:
            candidates = self.selections[selection].time
        else:
            candidates = [self.facts["encounter.start"]] if selection in ("PROG", "SESS") else []
        for candidate in candidates:
            times = [t for t in self.values(candidate, resource) if isinstance(t, datetime)]
            if times:
                return min(times)
        return None

    def resolve_key(self, reference: str | None) -> Resource | None:
        """A resource of the record by reference."""
        key = reference_key(reference)
        return self.record.resolve(key) if key else None
