"""Load and validate a mappings folder: value sets, facts, selections, payer routes and policy trees."""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any

import yaml

from cds_service.engine.facts import Fact, build_fact
from cds_service.engine.policy import Policy, PolicyParser, collect_ids
from cds_service.engine.routing import PayerRoutes, parse_routes
from cds_service.engine.rules.base import Rule
from cds_service.engine.rules.compiler import RuleCompiler
from cds_service.engine.selections import (
    BUILTIN_SELECTIONS,
    AllOf,
    Predicate,
    PredicateCompiler,
    ReferencedBy,
    Selection,
    SpecError,
    parse_scope,
)
from cds_service.engine.valuesets import ValueSet, ValueSetError, compile_valuesets
from cds_service.engine.yaml_cache import load_yaml

# Selections and facts the episode derivation relies on (DATA-PROFILE §2); a site may redefine, not remove them.
REQUIRED_SELECTIONS = ("iop-programs", "treatment-plans", "discharge-plans")
REQUIRED_FACTS = (
    "encounter.part-of",
    "encounter.start",
    "encounter.end",
    "encounter.status",
    "careplan.period-end",
    "servicerequest.replaces",
)


class MappingError(ValueError):
    """A mappings folder with problems; ``problems`` has one line per problem naming file, id and reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} problem(s) in the mappings:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


@dataclass
class Mappings:
    """Everything compiled from a mappings folder, ready for evaluation."""

    folder: Path
    valuesets: dict[str, ValueSet]
    facts: dict[str, Fact]
    selections: dict[str, Selection]
    policies: dict[str, Policy]
    routes: PayerRoutes
    jsonpath_direct: int = 0
    jsonpath_parsed: int = 0


def _read_yaml(path: Path, problems: list[str]) -> Any:
    try:
        return load_yaml(path.read_text(encoding="utf-8"), path)
    except FileNotFoundError:
        problems.append(f"{path.name}: file is missing")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        problems.append(f"{path.name}: not valid YAML{where}: {getattr(exc, 'problem', exc)}")
    except OSError as exc:
        problems.append(f"{path.name}: cannot be read: {exc.strerror}")
    return None


ORIGIN = "__origin__"


def _read_merged(folder: Path, name: str, sections: tuple[str, ...], problems: list[str]) -> dict[str, Any] | None:
    """``NAME.yaml`` merged with every ``NAME/*.yaml`` fragment; a name defined twice is a problem."""
    paths = [folder / f"{name}.yaml", *sorted((folder / name).glob("*.yaml"))]
    merged: dict[str, dict[str, Any]] = {s: {} for s in sections}
    origin: dict[tuple[str, str], str] = {}
    readable = False
    for path in paths:
        doc = _read_yaml(path, problems)
        if doc is None:
            continue
        label = path.relative_to(folder).as_posix()
        if not isinstance(doc, dict):
            problems.append(f"{label}: must be a mapping with {', '.join(sections)}")
            continue
        readable = True
        for key in set(doc) - set(sections):
            problems.append(f"{label}: unknown section {key!r} (expected {', '.join(sections)})")
        for section in sections:
            entries = doc.get(section) or {}
            if not isinstance(entries, dict):
                problems.append(f"{label}: '{section}' must be a mapping")
                continue
            for key, value in entries.items():
                if (section, key) in origin and section != "systems":
                    problems.append(f"{label}: {section[:-1]} {key}: already defined in {origin[(section, key)]}")
                    continue
                earlier = merged[section].get(key)
                if section == "systems" and isinstance(earlier, list) and isinstance(value, list):
                    value = [*earlier, *value]  # a fragment naming a known alias adds URIs, never drops them
                origin[(section, key)] = label
                merged[section][key] = value
    merged[ORIGIN] = origin  # type: ignore[assignment]
    return merged if readable else None


def _where(doc: Any, selection: str) -> str:
    """``FILE: selection NAME`` for messages about a selection."""
    return f"{_origin(doc, 'selections', selection, 'facts.yaml')}: selection {selection}"


def _origin(doc: Any, section: str, name: str, default: str) -> str:
    """The file (relative to the mappings folder) that defined an entry."""
    origin = doc.get(ORIGIN, {}) if isinstance(doc, dict) else {}
    return origin.get((section, name), default)


def _load_facts(doc: Any, problems: list[str]) -> dict[str, Fact]:
    facts: dict[str, Fact] = {}
    entries = doc.get("facts") if isinstance(doc, dict) else None
    if not isinstance(entries, dict):
        problems.append("facts.yaml: needs a 'facts' mapping")
        return facts
    for name, spec in entries.items():
        if not isinstance(spec, dict) or not {"resource", "path", "type"} <= set(spec):
            problems.append(f"{_origin(doc, 'facts', name, 'facts.yaml')}: {name}: needs resource, path and type")
            continue
        try:
            facts[name] = build_fact(name, str(spec["resource"]), str(spec["path"]), str(spec["type"]))
        except ValueError as exc:
            problems.append(f"{_origin(doc, 'facts', name, 'facts.yaml')}: {name}: {exc}")
    return facts


def _selection_deps(selection: Selection) -> set[str]:
    deps = set(selection.sources) | ({selection.undecided} if selection.undecided else set())

    def walk(obj: Any) -> None:
        if isinstance(obj, list):
            for item in obj:
                walk(item)
        elif isinstance(obj, Predicate) and is_dataclass(obj):
            for f in fields(obj):
                value = getattr(obj, f.name)
                if f.name == "selection" and isinstance(value, str):
                    deps.add(value)
                else:
                    walk(value)

    walk(selection.predicates)
    return deps


def _load_selections(
    doc: Any, facts: dict[str, Fact], valuesets: dict[str, ValueSet], problems: list[str]
) -> dict[str, Selection]:
    entries = doc.get("selections", {}) if isinstance(doc, dict) else {}
    if not isinstance(entries, dict):
        problems.append("facts.yaml: 'selections' must be a mapping")
        return {}
    compiler = PredicateCompiler(facts, valuesets, set(entries))
    selections: dict[str, Selection] = {}
    for name in entries:
        if name in BUILTIN_SELECTIONS:
            problems.append(f"{_where(doc, name)}: the name is reserved for a built-in selection")

    def resource_types(name: str, seen: tuple[str, ...] = ()) -> set[str] | None:
        """Resource types a selection can hold (None when unknown, e.g. a built-in)."""
        if name in BUILTIN_SELECTIONS or name in seen:
            return {"Encounter"} if name in ("PROG", "SESS") else None
        spec = entries.get(name)
        if spec is None:
            return {name} if name[:1].isupper() else None
        sources = spec.get("from") if isinstance(spec, dict) else None
        sources = [sources] if isinstance(sources, str) else sources
        if not isinstance(sources, list):
            return None
        out: set[str] = set()
        for source in sources:
            types = (
                resource_types(source, (*seen, name))
                if source in entries or source in BUILTIN_SELECTIONS
                else ({source} if isinstance(source, str) else None)
            )
            if types is None:
                return None
            out |= types
        return out

    for name, spec in entries.items():
        sources = spec.get("from") if isinstance(spec, dict) else None
        sources = [sources] if isinstance(sources, str) else sources
        if not isinstance(sources, list) or not sources or not all(isinstance(s, str) for s in sources):
            problems.append(f"{_where(doc, name)}: needs 'from' (resource types or other selections)")
            continue
        bad = [s for s in sources if not (s in entries or s in BUILTIN_SELECTIONS or s[:1].isupper())]
        if bad:
            problems.append(f"{_where(doc, name)}: 'from' names unknown selection {bad[0]!r}")
            continue
        types = resource_types(name)
        single = next(iter(types)) if types and len(types) == 1 else None
        try:
            times = spec.get("time", [])
            times = [times] if isinstance(times, str) else times
            time_facts = [compiler.fact(f) for f in times]
            if types:
                for f in time_facts:
                    if f.resource not in types:
                        raise SpecError(f"time fact {f.name!r} reads {f.resource}, not {'/'.join(sorted(types))}")
            unknown = set(spec) - SELECTION_KEYS
            if unknown:
                raise SpecError(f"unknown key {sorted(unknown)[0]!r} (one of {', '.join(sorted(SELECTION_KEYS))})")
            scope = parse_scope(spec["scope"], spec.get("grace")) if "scope" in spec else None
            if "grace" in spec and scope is None:
                raise SpecError("'grace' needs 'scope: episode'")
            if scope is not None and not time_facts:
                raise SpecError("'scope' needs a 'time' fact that dates each member")
            for flag in ("current", "duty"):
                if not isinstance(spec.get(flag, False), bool):
                    raise SpecError(f"'{flag}' must be true or false")
            undecided = spec.get("undecided")
            if undecided is not None and (undecided not in entries or undecided == name):
                raise SpecError(f"'undecided' names unknown selection {undecided!r}")
            selections[name] = Selection(
                name=name,
                sources=sources,
                predicates=compiler.compile_all(spec.get("where"), single),
                label=str(spec.get("label", "")),
                time=time_facts,
                scope=scope,
                current=bool(spec.get("current", False)),
                duty=bool(spec.get("duty", False)),
                undecided=undecided,
            )
        except SpecError as exc:
            problems.append(f"{_where(doc, name)}: {exc}")
    # A selection may not depend on itself through `from`, `refers-to` or `referenced-by`.
    deps = {name: _selection_deps(sel) for name, sel in selections.items()}

    def cycle_from(start: str) -> list[str] | None:
        stack = [(start, [start])]
        while stack:
            current, path = stack.pop()
            for nxt in deps.get(current, ()):
                if nxt == start:
                    return [*path, nxt]
                if nxt in deps and nxt not in path:
                    stack.append((nxt, [*path, nxt]))
        return None

    for name in selections:
        cycle = cycle_from(name)
        if cycle:
            problems.append(f"{_where(doc, name)}: depends on itself ({' -> '.join(cycle)})")
    return selections


SELECTION_KEYS = frozenset({"label", "from", "time", "where", "scope", "grace", "current", "duty", "undecided"})


# Operators that judge a duty of the program over time (as named in messages): what they read is its evidence.
DUTY_OPERATORS = {"deadline": "a deadline", "recurring": "a recurring duty", "every-window": "every-window",
                  "cadence": "a cadence"}  # fmt: skip


def deadline_reads(doc: Any) -> dict[str, str]:
    """The selections a policy document's duty operators (a deadline, a recurring duty, every window of the stay, a
    cadence) read, each with the operator: evidence of a duty of the program."""
    found: dict[str, str] = {}
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key in DUTY_OPERATORS and isinstance(value, dict) and isinstance(value.get("of"), str):
                found.setdefault(value["of"], DUTY_OPERATORS[key])
            for name, operator in deadline_reads(value).items():
                found.setdefault(name, operator)
    elif isinstance(doc, list):
        for item in doc:
            for name, operator in deadline_reads(item).items():
                found.setdefault(name, operator)
    return found


def check_duty_scopes(doc: Any, selections: dict[str, Selection], duties: dict[str, str], problems: list[str]) -> None:
    """Every selection of program duties (``duty: true`` or read by a duty operator) must be bound to a window."""
    for name in sorted(duties):
        if name in selections and not is_bound(name, selections, window_only=True):
            problems.append(
                f"{_where(doc, name)}: evidence of a program duty ({duties[name]}) has no scope; give it "
                "'scope: episode' (with 'grace') or 'scope: {from: BOUND, to: BOUND}', or take it from a scoped "
                "selection, so that an earlier episode's evidence cannot count"
            )


def is_bound(
    name: str, selections: dict[str, Selection], *, window_only: bool = False, seen: frozenset[str] = frozenset()
) -> bool:
    """Bound to this episode: the selection has a scope, or every source is a built-in of the episode or bound.
    Unless ``window_only`` (what a duty operator needs: timed evidence in this episode's window), a current state
    binds too, and so does naming only what a bound selection refers to (``referenced-by``)."""
    if name in BUILTIN_SELECTIONS:
        return True
    selection = selections.get(name)
    if selection is None or name in seen:
        return False
    if selection.scope is not None:
        return True
    seen = seen | {name}
    if not window_only:
        if selection.current:
            return True
        if any(is_bound(p.selection, selections, seen=seen) for p in _required(selection.predicates)
               if isinstance(p, ReferencedBy)):  # fmt: skip
            return True  # named by this episode's evidence: the care team of this stay's plan, the plan's goals
    return all(is_bound(s, selections, window_only=window_only, seen=seen) for s in selection.sources)


def _required(predicates: list[Predicate]) -> list[Predicate]:
    """The tests every member passes (the list itself and ``all`` inside it, not ``any`` or ``not``)."""
    out: list[Predicate] = []
    for predicate in predicates:
        out.extend(_required(predicate.inner) if isinstance(predicate, AllOf) else [predicate])
    return out


def rule_reads(rule: object, found: set[str] | None = None) -> set[str]:
    """Names of the selections a compiled rule reads, through ``all``/``any``/``not``/``each`` (not the selections
    its where-clauses refer to: those qualify a member, e.g. who is a physician, and are no evidence themselves)."""
    found = set() if found is None else found
    if isinstance(rule, Selection):
        found.add(rule.name)
    elif isinstance(rule, list | tuple):
        for item in rule:
            rule_reads(item, found)
    elif isinstance(rule, Rule):
        for value in vars(rule).values():
            rule_reads(value, found)
    return found


def check_duty_criterion_reads(
    doc: Any, selections: dict[str, Selection], policies: list[tuple[str, Policy]], skip: set[str], problems: list[str]
) -> None:
    """Every selection a ``duty: true`` criterion reads (in ``applies-if``, ``met-if`` or ``not-met-if``) is bound
    to this episode or a current state: such a criterion is not-met from absence once its deadline passed, so an
    earlier episode's evidence must neither satisfy it nor make it apply. ``skip``: already reported as unscoped."""
    readers: dict[str, list[str]] = {}
    for file, policy in policies:
        for criterion in policy.criteria():
            if not criterion.duty:
                continue
            for rule in (criterion.applies_if, criterion.met_if, criterion.not_met_if):
                for name in sorted(rule_reads(rule)):
                    entry = f"{criterion.id} in {file}"
                    if entry not in readers.setdefault(name, []):
                        readers[name].append(entry)
    for name in sorted(readers):
        if name in skip or name not in selections or is_bound(name, selections):
            continue
        criteria = readers[name]
        problems.append(
            f"{_where(doc, name)}: read by the duty {'criterion' if len(criteria) == 1 else 'criteria'} "
            f"{', '.join(criteria)}, but neither scoped nor a current state: an earlier episode's evidence would "
            "count; if it is evidence of this episode give it 'scope: episode' (with 'grace') or "
            "'scope: {from: BOUND, to: BOUND}', or take it from a scoped selection; if it is a state the patient is "
            "in now give it 'current: true', or take it from a current selection"
        )


def load_mappings(folder: str | Path) -> Mappings:
    """Compile a mappings folder; raises MappingError listing every problem found."""
    folder = Path(folder)
    problems: list[str] = []
    if not folder.is_dir():
        raise MappingError([f"{folder}: not a folder"])
    vs_doc = _read_merged(folder, "valuesets", ("systems", "valuesets"), problems)
    valuesets: dict[str, ValueSet] = {}
    if vs_doc is not None:
        try:
            valuesets = compile_valuesets(vs_doc["systems"], vs_doc["valuesets"])
        except ValueSetError as exc:
            problems.extend(f"valuesets: {p}" for p in getattr(exc, "problems", [str(exc)]))
    facts_doc = _read_merged(folder, "facts", ("facts", "selections"), problems)
    facts = _load_facts(facts_doc, problems) if facts_doc is not None else {}
    selections = _load_selections(facts_doc, facts, valuesets, problems) if facts_doc is not None else {}
    for name in REQUIRED_FACTS:
        if facts_doc is not None and name not in facts:
            problems.append(f"facts.yaml: fact {name}: required by the episode model (DATA-PROFILE §2)")
    for name in REQUIRED_SELECTIONS:
        if facts_doc is not None and name not in selections:
            problems.append(f"facts.yaml: selection {name}: required by the episode model (DATA-PROFILE §2)")

    policies: dict[str, Policy] = {}
    parsed: list[tuple[str, Policy]] = []
    duties = {name: "marked duty: true" for name, sel in selections.items() if sel.duty}
    predicates = PredicateCompiler(facts, valuesets, set(selections))
    policy_dir = folder / "policies"
    files = sorted(policy_dir.glob("*.yaml")) if policy_dir.is_dir() else []
    if not files:
        problems.append("policies/: no policy files")
    for path in files:
        doc = _read_yaml(path, problems)
        if doc is None:
            continue
        for name, operator in deadline_reads(doc).items():
            duties.setdefault(name, f"read by {operator} in policies/{path.name}")
        rules = RuleCompiler(predicates, selections, collect_ids(doc, set()))
        parser = PolicyParser(rules, f"policies/{path.name}")
        policy = parser.parse(doc)
        if policy is not None:
            parser.check_mirrors()
            if policy.key != path.stem:
                parser.problem("(file)", f"policy key {policy.key!r} differs from the file name {path.stem!r}")
            if policy.key in policies:
                parser.problem("(file)", f"policy key {policy.key!r} defined twice")
            policies[policy.key] = policy
            parsed.append((f"policies/{path.name}", policy))
        problems.extend(parser.problems)

    if facts_doc is not None:
        check_duty_scopes(facts_doc, selections, duties, problems)
        unscoped = {n for n in duties if n in selections and not is_bound(n, selections, window_only=True)}
        check_duty_criterion_reads(facts_doc, selections, parsed, unscoped, problems)

    routes_doc = _read_yaml(folder / "payers.yaml", problems)
    routes = PayerRoutes([], [])
    if routes_doc is not None:
        try:
            routes = parse_routes(routes_doc, set(policies))
        except SpecError as exc:
            problems.append(f"payers.yaml: {exc}")
    if problems:
        raise MappingError(problems)
    return Mappings(
        folder=folder,
        valuesets=valuesets,
        facts=facts,
        selections=selections,
        policies=policies,
        routes=routes,
        jsonpath_direct=sum(1 for f in facts.values() if f.direct),
        jsonpath_parsed=sum(1 for f in facts.values() if not f.direct),
    )
