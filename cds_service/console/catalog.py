"""The mappings as an integration engineer reads them: criteria trees, their rules as YAML, selections, value sets."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from cds_service.engine.mapping import Mappings
from cds_service.engine.policy import Criterion, Group, Node, Policy

PHASE_WORDS = {
    "A": "admission",
    "C": "continued stay",
    "D": "discharge",
    "P": "pending at admission, then due",
    "R": "recurring (every N days)",
}
RULE_KEYS = ("applies-if", "met-if", "not-met-if", "mirror", "due")
"""Keys of a policy node that say how its status is decided, in the order the console shows them."""
ICD10CM = "icd10cm"


@dataclass
class SelectionView:
    """A named selection a criterion reads: its label and its YAML definition."""

    name: str
    label: str
    spec: str


@dataclass
class NodeView:
    """One node of a policy tree as shown on the policy page."""

    id: str
    kind: str
    """``criterion``, ``all-of``, ``any-of`` or ``n-of``."""
    text: str
    citation: str
    n: int = 1
    phases: list[str] = field(default_factory=list)
    tier: str = ""
    flags: list[str] = field(default_factory=list)
    due: str = ""
    rules: list[tuple[str, str]] = field(default_factory=list)
    """(key, YAML) of each rule key the node declares (``met-if``, ``not-met-if`` ...)."""
    selections: list[SelectionView] = field(default_factory=list)
    valuesets: list[str] = field(default_factory=list)
    children: list[NodeView] = field(default_factory=list)

    def walk(self) -> Iterator[NodeView]:
        """This node and every node below it, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass
class CodeView:
    """One code of a value set rule, with its display when the code system's release is at hand."""

    code: str
    display: str


@dataclass
class RuleView:
    """One rule of a value set: a code system with its codes, prefixes, ranges, patterns and exclusions."""

    system: str
    uris: list[str]
    codes: list[CodeView]
    prefixes: list[CodeView]
    ranges: list[str]
    patterns: list[CodeView]
    excluded: list[CodeView]


@dataclass
class ValueSetView:
    """A value set page: label, included sets, rules with code displays, and the criteria that read it."""

    name: str
    label: str
    includes: list[str]
    rules: list[RuleView]
    used_by: list[tuple[str, str]]
    """(policy key, criterion id) of every criterion whose rules reach this value set."""


def to_yaml(spec: Any) -> str:
    """A mapping fragment as block YAML, in the order it was written."""
    return yaml.safe_dump(spec, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100).strip()


def _strings(spec: Any) -> Iterator[str]:
    """Every string value (and mapping key) inside a YAML structure."""
    if isinstance(spec, str):
        yield spec
    elif isinstance(spec, dict):
        for key, value in spec.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(spec, list):
        for value in spec:
            yield from _strings(value)


def _load(path: Path, section: str) -> dict[str, Any]:
    """One section of a mappings YAML file (empty when absent)."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    value = doc.get(section) if isinstance(doc, dict) else None
    return value if isinstance(value, dict) else {}


def _merged(folder: Path, name: str, section: str) -> dict[str, Any]:
    """``NAME.yaml`` and every ``NAME/*.yaml`` fragment's section, merged (the loader rejects duplicates)."""
    merged: dict[str, Any] = {}
    for path in [folder / f"{name}.yaml", *sorted((folder / name).glob("*.yaml"))]:
        if path.is_file():
            merged.update(_load(path, section))
    return merged


def _raw_nodes(spec: Any, out: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Node id → the node's YAML mapping, for every node of a policy tree (not a rule's ``criterion: {id}``)."""
    if isinstance(spec, dict):
        if isinstance(spec.get("id"), str) and ("text" in spec or "citation" in spec):
            out[spec["id"]] = spec
        for value in spec.values():
            _raw_nodes(value, out)
    elif isinstance(spec, list):
        for value in spec:
            _raw_nodes(value, out)
    return out


@lru_cache(maxsize=1)
def _icd10cm() -> Any:
    """The ICD-10-CM code set (simple-icd-10-cm), imported on first use: it takes seconds to load."""
    with warnings.catch_warnings():  # the package reads its data with a deprecated importlib.resources call
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm

    return simple_icd_10_cm


def code_display(system: str, code: str) -> str:
    """The display of an ICD-10-CM code or category (with or without its dot; a ``*`` pattern by its stem)."""
    if system != ICD10CM:
        return ""
    icd = _icd10cm()
    stem = code.rstrip("*").rstrip(".")
    return icd.get_description(stem) if stem and icd.is_valid_item(stem) else ""


class Catalog:
    """The policies, selections and value sets of one mappings folder, read once for the console's pages."""

    def __init__(self, mappings: Mappings) -> None:
        self.mappings = mappings
        folder = Path(mappings.folder)
        self.raw_selections = _merged(folder, "facts", "selections")
        self.raw_valuesets = _merged(folder, "valuesets", "valuesets")
        self.systems = _merged(folder, "valuesets", "systems")
        self.trees: dict[str, NodeView] = {}
        self.readers: dict[str, list[tuple[str, str]]] = {}
        for key, policy in mappings.policies.items():
            raw = _raw_nodes(yaml.safe_load(self._policy_file(policy).read_text(encoding="utf-8")), {})
            self.trees[key] = self._node(policy.tree, raw)
            for node in self.trees[key].walk():
                if node.kind == "criterion":
                    for name in node.valuesets:
                        self.readers.setdefault(name, []).append((key, node.id))

    def _policy_file(self, policy: Policy) -> Path:
        """The YAML file a policy was read from."""
        named = Path(policy.file) if policy.file else None
        if named is not None and named.is_file():
            return named
        return Path(self.mappings.folder) / "policies" / f"{policy.key}.yaml"

    def policies(self) -> list[Policy]:
        """Every policy, in key order."""
        return [self.mappings.policies[k] for k in sorted(self.mappings.policies)]

    def tree(self, key: str) -> NodeView | None:
        """The criteria tree of a policy; None for an unknown key."""
        return self.trees.get(key)

    def _node(self, node: Node, raw: dict[str, dict[str, Any]]) -> NodeView:
        spec = raw.get(node.id or "", {})
        rules = [(k, to_yaml(spec[k])) for k in RULE_KEYS if k in spec]
        if isinstance(node, Group):
            return NodeView(
                id=node.id or "",
                kind=node.kind,
                text=node.text,
                citation=node.citation,
                n=node.n,
                rules=[r for r in rules if r[0] == "applies-if"],
                children=[self._node(child, raw) for child in node.children],
            )
        selections, valuesets = self.reach([spec.get(k) for k in RULE_KEYS])
        return NodeView(
            id=node.id,
            kind="criterion",
            text=node.text,
            citation=node.citation,
            phases=[PHASE_WORDS.get(letter, letter) for letter in sorted(node.phases)],
            tier=node.tier,
            flags=_flags(node),
            due=node.due.describe() if node.due else "",
            rules=rules,
            selections=selections,
            valuesets=valuesets,
        )

    def reach(self, specs: list[Any]) -> tuple[list[SelectionView], list[str]]:
        """The selections a rule reads (directly or through ``from``) and the value sets those reach."""
        seen: dict[str, SelectionView] = {}
        valuesets: dict[str, None] = {}
        todo = [s for spec in specs for s in _strings(spec)]
        while todo:
            name = todo.pop(0)
            if name in self.raw_valuesets:
                valuesets.setdefault(name)
            elif name in self.raw_selections and name not in seen:
                raw = self.raw_selections[name]
                label = raw.get("label", "") if isinstance(raw, dict) else ""
                seen[name] = SelectionView(name, label, to_yaml(raw))
                todo.extend(_strings(raw))
        for name in list(valuesets):
            valuesets.update(dict.fromkeys(self._included(name)))
        return list(seen.values()), list(valuesets)

    def _included(self, name: str, trail: tuple[str, ...] = ()) -> list[str]:
        """Value sets a value set includes, transitively."""
        raw = self.raw_valuesets.get(name)
        found: list[str] = []
        if isinstance(raw, dict):
            for other in raw.get("include") or []:
                if other in self.raw_valuesets and other not in trail:
                    found += [other, *self._included(other, (*trail, name))]
        return found

    def valueset(self, name: str) -> ValueSetView | None:
        """A value set's page; None for an unknown name."""
        if name not in self.raw_valuesets:
            return None
        raw = self.raw_valuesets[name]
        compiled = self.mappings.valuesets.get(name)
        rules_raw = raw if isinstance(raw, list) else raw.get("rules") or []
        includes = list(raw.get("include") or []) if isinstance(raw, dict) else []
        label = raw.get("label", "") if isinstance(raw, dict) else ""
        return ValueSetView(
            name=name,
            label=label or (compiled.label if compiled else ""),
            includes=includes,
            rules=[self._rule(r) for r in rules_raw if isinstance(r, dict)],
            used_by=self.readers.get(name, []),
        )

    def _rule(self, raw: dict[str, Any]) -> RuleView:
        system = str(raw.get("system", ""))
        uris = self.systems.get(system) or []

        def shown(values: Any) -> list[CodeView]:
            return [CodeView(str(v), code_display(system, str(v))) for v in values or []]

        exclude = raw.get("exclude") or {}
        excluded = (
            []
            if not isinstance(exclude, dict)
            else [
                *shown(exclude.get("codes")),
                *shown(exclude.get("prefixes")),
                *shown(exclude.get("patterns")),
            ]
        )
        ranges = [f"{r[0]}–{r[1]}" if isinstance(r, list) and len(r) == 2 else str(r) for r in raw.get("ranges") or []]
        return RuleView(
            system=system,
            uris=[str(u) for u in uris] if isinstance(uris, list) else [str(uris)],
            codes=shown(raw.get("codes")),
            prefixes=shown(raw.get("prefixes")),
            ranges=ranges,
            patterns=shown(raw.get("patterns")),
            excluded=excluded,
        )


def _flags(criterion: Criterion) -> list[str]:
    """How a criterion is decided, in words, beyond its rules."""
    flags = []
    if criterion.attestation:
        flags.append("judgement only: unknown until a clinician attests")
    if criterion.confirm:
        flags.append("a met proxy still needs a clinician's attestation")
    if criterion.closed_world:
        flags.append("closed world: no evidence means not met")
    if criterion.suggest:
        flags.append(f"card suggestion: {criterion.suggest}")
    if criterion.notice:
        flags.append("shows an info card when " + ", ".join(criterion.notice.get("when") or []))
    return flags
