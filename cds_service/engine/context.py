"""Per-evaluation state: the record, the episode anchors, and caches of selections and fact values."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from cds_service.engine.evidence_index import TimeIndex, build_time_index, coded_positions
from cds_service.engine.timecalc import FLOATING, BusinessCalendar
from cds_service.engine.valuesets import ValueSet
from cds_service.record.patient_record import PatientRecord, Resource, reference_key

if TYPE_CHECKING:
    from cds_service.engine.facts import Fact
    from cds_service.engine.outcome import Status


class Selection(Protocol):
    """What the context needs of a named selection (``engine.selections.Selection`` implements it)."""

    time: list[Fact]
    sources: list[str]
    predicates: list[Any]

    def evaluate(self, ctx: EvaluationContext) -> list[Resource]:
        """The selection's members in this evaluation."""
        ...


def resource_key(resource: Resource) -> str:
    """``Type/id`` of a resource (``Type/`` when it has no id)."""
    return f"{resource.get('resourceType')}/{resource.get('id', '')}"


_ZONE_CACHES = ("_selected", "_keys", "_referenced", "set_aside_cache", "_undecided_view", "_no_undecided")
"""What an ``EvaluationContext`` computed in one time zone, in the order ``_other_zones`` keeps it per zone."""


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
    twins: dict[str, set[str]] = field(default_factory=dict)
    """A kept session record's ``Type/id`` -> its duplicate records' (same program and start), which notes may cite."""
    criterion_status: Callable[[str], Status | None] | None = None
    attestation_of: Callable[[str], tuple[bool, str, datetime] | None] | None = None
    """A criterion id's valid attestation: (answer, source, authored), or None."""
    valuesets: dict[str, ValueSet] = field(default_factory=dict)
    """The mappings' value sets (rules read ``instrument:`` declarations from them)."""
    unreadable: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Resource type -> the prefetch keys for it that could not be read (DATA-PROFILE §6: unreadable is not absent).

    A type with no key of its own (read as an include or by reference) falls under ``"*"``; a type listed with no
    keys was read in full.
    """
    _selected: dict[str, list[Resource]] = field(default_factory=dict)
    _keys: dict[str, set[str]] = field(default_factory=dict)
    _referenced: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    _values: dict[str, dict[int, list[Any]]] = field(default_factory=dict)
    _types: dict[str, frozenset[str]] = field(default_factory=dict)
    set_aside_cache: dict[str, list[tuple[Resource, str]]] = field(default_factory=dict)
    """Selection name -> what its scope or currency left out, with why (reasons name it; computed by a scan once)."""
    _other_zones: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    """Zone -> its caches (selections, keys, references, set-aside, undecided view) while another zone is in use."""
    undecided_added: dict[str, tuple[str, datetime | None]] | None = None
    """Set only in the ``undecided_view``: ``Type/id`` of each undecided resource taken in as a member -> (what it is,
    its time)."""
    _undecided_view: EvaluationContext | None = None
    _no_undecided: bool = False
    """The record holds no undecided resource (in this zone and these windows): no view to build."""

    def __post_init__(self) -> None:
        self._values = self._values_in(self.calendar.zone_name)

    def _values_in(self, zone: str) -> dict[str, dict[int, list[Any]]]:
        """The fact values cache for a zone. A fact's values depend on the resource alone, so every context of the
        call (each order, each policy) shares them; a time fact's only within one zone, since a date without a
        time takes the zone of the policy judging it (Medica's Chicago, not the first policy's New York)."""
        memo = self.record.memo
        key = ("values", zone)
        if key not in memo:
            shared = memo.setdefault(("values",), defaultdict(dict))
            memo[key] = _ZoneValues(shared, frozenset(n for n, f in self.facts.items() if f.type in _TIME_TYPES))
        values: dict[str, dict[int, list[Any]]] = memo[key]
        return values

    def reset_caches(self) -> None:
        """Forget computed selections (after the episode's anchors are set, windows change)."""
        self._selected = {}
        self._keys = {}
        self._referenced = {}
        self.set_aside_cache = {}
        self._other_zones.clear()
        self._undecided_view = None
        self._no_undecided = False

    def switch_zone(self, old: str, new: str) -> None:
        """Selections depend on the time zone (local dates): keep those of ``old`` for when it comes back, and take
        up those already computed in ``new`` (policies of one zone share every selection)."""
        if old == new:
            return
        self._values = self._values_in(new)
        # the undecided view is kept with its zone too: rebuilding it at every switch evaluated every selection again
        self._other_zones[old] = tuple(getattr(self, name) for name in _ZONE_CACHES)
        for name, value in zip(_ZONE_CACHES, self._other_zones.pop(new, ({}, {}, {}, {}, None, False)), strict=True):
            setattr(self, name, value)

    def undecided_view(self) -> EvaluationContext | None:
        """This evaluation as it would be if every resource that may belong to a selection (its ``undecided``) did:
        a plan that does not say which plan it is taken as each kind in turn. None when the record holds no such
        resource (or this is that view already)."""
        if self.undecided_added is not None or self._no_undecided:
            return None
        if self._undecided_view is None:
            memo = self.record.memo
            key = ("undecided-names", id(self.selections))
            if key not in memo:
                memo[key] = {n for s in self.selections.values() if (n := getattr(s, "undecided", None))}
            if not any(self.select(n) for n in memo[key]):
                self._no_undecided = True
                return None
            self._undecided_view = replace(
                self,
                _selected={},
                _keys={},
                _referenced={},
                set_aside_cache={},
                _other_zones={},
                undecided_added={},
                _undecided_view=None,
            )
            self._undecided_view._values = self._values
        # the view answers criterion references through the evaluator now running, not the one it was built under
        self._undecided_view.criterion_status = self.criterion_status
        self._undecided_view.attestation_of = self.attestation_of
        return self._undecided_view

    def release_callbacks(self) -> None:
        """Drop the evaluator callbacks here and in every undecided view kept: each is bound to an evaluator that holds
        this context, a reference cycle that would keep the whole record alive until a full garbage collection."""
        at = _ZONE_CACHES.index("_undecided_view")
        views = [self._undecided_view, *(caches[at] for caches in self._other_zones.values())]
        for ctx in (self, *(v for v in views if v is not None)):
            ctx.criterion_status = ctx.attestation_of = None

    def touches_undecided(self, name: str) -> bool:
        """Whether a selection (through ``from`` and the selections its tests look into) draws on one that names
        ``undecided`` resources: only then can the ``undecided_view`` change what a rule reading it answers."""
        memo = self.record.memo.setdefault(("touches-undecided", id(self.selections)), {})
        if name not in memo:
            memo[name] = False  # a cycle adds nothing
            selection = self.selections.get(name)
            if selection is not None:
                deps = [*selection.sources, *(n for n, _ in _looked_into(selection.predicates))]
                memo[name] = bool(getattr(selection, "undecided", None)) or any(self.touches_undecided(d) for d in deps)
        return memo[name]

    def source_types(self, name: str) -> frozenset[str]:
        """Resource types a selection (or built-in, or type) draws on, through ``from`` and referenced selections."""
        memo = self._types
        if name in memo:
            return memo[name]
        memo[name] = frozenset()  # a cycle adds nothing
        if name in ("PROG", "SESS"):
            types: set[str] = {"Encounter"}
        elif name in self.builtins and name not in self.selections:
            types = set()  # the hook context (draft orders): never a gap
        elif name in self.selections:
            selection = self.selections[name]
            types = set()
            for source in [*selection.sources, *(name for name, _ in _looked_into(selection.predicates))]:
                types |= self.source_types(source)
            scope = getattr(selection, "scope", None)
            if scope is not None and scope.reads_episode:
                types.add("Encounter")  # with the encounters unread, the episode's window is unknown
        else:
            types = {name}
        memo[name] = frozenset(types)
        return memo[name]

    def negated_sources(self, name: str) -> list[str]:
        """Data sources a selection's members are chosen by the *absence* of (``not`` around a reference)."""
        if name not in self.selections:
            return []
        selection = self.selections[name]
        found = [source for source, negated in _looked_into(selection.predicates) if negated]
        for source in selection.sources:
            if source != name:
                found.extend(self.negated_sources(source))
        return found

    def gaps_of(self, names: Iterable[str]) -> list[str]:
        """Prefetch keys that could not be read and would have supplied members of these selections."""
        if not self.unreadable:
            return []
        keys: list[str] = []
        for name in names:
            for rtype in sorted(self.source_types(name)):
                unreadable = self.unreadable.get(rtype, self.unreadable.get("*", ()))
                keys.extend(k for k in unreadable if k not in keys)
        return keys

    def anchor(self, name: str) -> datetime | None:
        """The time an anchor stands for in this evaluation (``now`` always resolves)."""
        if name == "now":
            return self.now
        value = self.anchors.get(name)
        if value is not None and value.tzinfo is FLOATING:  # an order dated without a time: that date at the site
            return value.replace(tzinfo=self.calendar.zone)
        return value

    def source(self, name: str) -> list[Resource]:
        """Resources of a type, a built-in selection, or a named selection."""
        if name in self.builtins:
            return self.builtins[name]
        if name in self.selections:
            return self.select(name)
        return self.record.of_type(name)

    def coded(self, resource_type: str, fact: Fact, valueset: ValueSet) -> list[Resource]:
        """Resources of a type whose coding fact is in a value set, via a per-record index by code."""
        return self.at_positions(resource_type, self.coded_positions(resource_type, fact, valueset))

    def coded_positions(self, resource_type: str, fact: Fact, valueset: ValueSet) -> set[int]:
        """Positions (in ``record.of_type``) of the resources whose coding fact is in a value set; the index by code
        and each value set's hits are built once per record."""
        memo = self.record.memo
        hits = memo.get(("coded-hits", resource_type, fact.name, id(valueset)))
        if hits is None:
            index = memo.get(("coded", resource_type, fact.name))
            if index is None:
                index = {}
                cache = self._values[fact.name]
                own_type = fact.resource == resource_type
                for position, resource in enumerate(self.record.indexed(resource_type)):
                    codings = cache.get(id(resource))  # self.values, inlined: this loop visits the whole type
                    if codings is None:
                        codings = fact.values(resource) if own_type else []
                        cache[id(resource)] = codings
                    for coding in codings:
                        index.setdefault((coding.get("system"), coding.get("code")), []).append(position)
                memo[("coded", resource_type, fact.name)] = index
            hits = frozenset(coded_positions(index, valueset.contains))
            memo[("coded-hits", resource_type, fact.name, id(valueset))] = hits
        return hits

    def timed_positions(
        self,
        resource_type: str,
        facts: tuple[Fact, ...],
        first: bool,
        low: datetime | None,
        high: datetime | None,
        build: bool = True,
    ) -> set[int] | None:
        """Positions of the resources of a type with a time in about ``[low, high]`` (see ``evidence_index.SLACK``).

        ``first``: a member's time is its first time fact that has a value, earliest value (a selection's ``time``);
        undated resources are included. Otherwise every value of the one fact counts (``between``). None: no index
        (or none built yet, when ``build`` is false).
        """
        key = ("timed", resource_type, first, *(f.name for f in facts))
        memo = self.record.memo
        if key not in memo:
            if not build:
                return None
            memo[key] = build_time_index(self.record.indexed(resource_type), self._times_of(facts, first))
        index: TimeIndex | None = memo[key]
        if index is None:
            return None
        found = index.between(low, high)
        if first:
            found.update(index.undated)
        return found

    def undated_positions(self, resource_type: str, facts: tuple[Fact, ...], build: bool = True) -> set[int] | None:
        """Positions of the resources of a type that none of these time facts dates (None: no index)."""
        if self.timed_positions(resource_type, facts, True, None, None, build) is None:
            return None
        index: TimeIndex | None = self.record.memo[("timed", resource_type, True, *(f.name for f in facts))]
        return None if index is None else set(index.undated)

    def _times_of(self, facts: tuple[Fact, ...], first: bool) -> Callable[[Resource], list[datetime]]:
        def times_of(resource: Resource) -> list[datetime]:
            if not first:
                return [t for f in facts for t in self.values(f, resource) if isinstance(t, datetime)]
            for fact in facts:
                times = [t for t in self.values(fact, resource) if isinstance(t, datetime)]
                if times:
                    return [min(times)]
            return []

        return times_of

    def position_of(self, resource: Resource) -> int | None:
        """Where a resource is in ``record.of_type`` (None: it is not in the record, e.g. a draft order)."""
        rtype = str(resource.get("resourceType"))
        positions = self.record.memo.get(("positions", rtype))
        if positions is None:
            positions = {id(r): i for i, r in enumerate(self.record.indexed(rtype))}
            self.record.memo[("positions", rtype)] = positions
        return positions.get(id(resource))

    def at_positions(self, resource_type: str, positions: Iterable[int]) -> list[Resource]:
        """The resources of a type at these positions, in arrival order."""
        resources = self.record.indexed(resource_type)
        return [resources[p] for p in sorted(positions)]

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
        cache = self._values[fact.name]
        try:
            return cache[id(resource)]  # the hot path: ~10,000 look-ups per five-policy call
        except KeyError:
            values = fact.values(resource) if resource.get("resourceType") == fact.resource else []
            if fact.type in _TIME_TYPES and values:
                # a date without a time is that wall-clock time at the site: compared with instants as such
                zone = self.calendar.zone
                values = [
                    v.replace(tzinfo=zone) if isinstance(v, datetime) and v.tzinfo is FLOATING else v for v in values
                ]
            cache[id(resource)] = values
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


_TIME_TYPES = frozenset({"datetime", "datetime-end"})


class _ZoneValues(dict[str, dict[int, list[Any]]]):
    """Fact name -> resource id -> values, in one zone: time facts get their own entries, the others the shared."""

    def __init__(self, shared: dict[str, dict[int, list[Any]]], time_facts: frozenset[str]) -> None:
        super().__init__()
        self._shared, self._time_facts = shared, time_facts

    def __missing__(self, name: str) -> dict[int, list[Any]]:
        entry: dict[int, list[Any]] = {} if name in self._time_facts else self._shared[name]
        self[name] = entry
        return entry


def _looked_into(predicates: Iterable[Any], negated: bool = False) -> list[tuple[str, bool]]:
    """(selection or resource type, under a ``not``) for every other data source the predicates look into."""
    found: list[tuple[str, bool]] = []
    for p in predicates:
        name = getattr(p, "selection", None)
        if isinstance(name, str):  # refers-to, refers-outside (a negative test), among, referenced-by
            found.append((name, negated != bool(getattr(p, "negative", False))))
        nested = getattr(p, "predicates", None)
        if isinstance(nested, list):  # resolve: the referenced resources' own facts say which type they are
            found.extend((rtype, negated) for rtype in _fact_types(nested))
            found.extend(_looked_into(nested, negated))
        inner = getattr(p, "inner", None)
        if isinstance(inner, list):
            found.extend(_looked_into(inner, negated))
        elif inner is not None:
            found.extend(_looked_into([inner], not negated))
    return found


def _fact_types(predicates: Iterable[Any]) -> set[str]:
    types: set[str] = set()
    for p in predicates:
        fact = getattr(p, "fact", None)
        if isinstance(getattr(fact, "resource", None), str):
            types.add(fact.resource)
        inner = getattr(p, "inner", None)
        types |= _fact_types(inner if isinstance(inner, list) else [inner] if inner is not None else [])
    return types
