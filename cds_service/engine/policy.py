"""Policy trees: all-of / any-of / n-of groups over criteria, parsed from ``mappings/policies/<key>.yaml``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cds_service.engine.rules.base import Rule
from cds_service.engine.rules.compiler import RuleCompiler
from cds_service.engine.rules.deadlines import DueSpec, parse_due
from cds_service.engine.selections import SpecError
from cds_service.engine.timecalc import zone_named

PHASE_LETTERS = {"A": "admission", "C": "continued-stay", "D": "discharge"}
PHASES = tuple(PHASE_LETTERS.values())
TIERS = ("safety", "eligibility", "documentation", "info", "program")
GROUP_KINDS = ("all-of", "any-of", "n-of")
_CRITERION_KEYS = {
    "id",
    "text",
    "citation",
    "phase",
    "tier",
    "applies-if",
    "met-if",
    "not-met-if",
    "closed-world",
    "duty",
    "confirm",
    "attestation",
    "due",
    "mirror",
    "note",
    "suggest",
    "notice",
}
_GROUP_KEYS = {"id", "text", "citation", "applies-if", "n", "note", *GROUP_KINDS}


COVERAGE_POLICY = "coverage-policy"
PERFORMANCE_SPECIFICATION = "performance-specification"
POLICY_KINDS = (COVERAGE_POLICY, PERFORMANCE_SPECIFICATION)


@dataclass
class Criterion:
    """A leaf: how its status is decided from rules, attestations and its phases."""

    id: str
    text: str
    citation: str
    phases: frozenset[str]
    """Catalogue letters: A admission, C continued stay, D discharge, P pending at A then due, R cadence."""
    tier: str = "documentation"
    applies_if: Rule | None = None
    met_if: Rule | None = None
    not_met_if: Rule | None = None
    closed_world: bool = False
    duty: bool = False
    """A duty with a deadline: once passed, nothing recorded is not-met. Else (a state) absence is unknown."""
    confirm: bool = False
    """A met proxy still needs a clinician's attestation (catalogue '→A')."""
    attestation: bool = False
    """Judgement-only: unknown until attested."""
    due: DueSpec | None = None
    mirror: list[str] = field(default_factory=list)
    suggest: str | None = None
    """Name of a card suggestion (cards/) that creates what is missing."""
    notice: dict[str, Any] | None = None
    """An info card to show when the criterion ends in one of ``when`` (e.g. "ASAM criteria apply instead")."""

    def evaluated_in(self, phase: str) -> bool:
        letters = self.phases
        if phase == "admission":
            return "A" in letters
        if phase == "continued-stay":
            return bool(letters & {"C", "P", "R"})
        return bool(letters & {"D", "P", "R"})

    def pending_in(self, phase: str) -> bool:
        return phase == "admission" and "P" in self.phases and "A" not in self.phases

    def present_in(self, phase: str) -> bool:
        return self.evaluated_in(phase) or self.pending_in(phase)


@dataclass
class Group:
    """An all-of / any-of / n-of node; ``applies_if`` false makes the whole group not applicable."""

    kind: str
    children: list[Group | Criterion]
    id: str | None = None
    text: str = ""
    citation: str = ""
    n: int = 1
    applies_if: Rule | None = None

    def present_in(self, phase: str) -> bool:
        return any(c.present_in(phase) for c in self.children)


Node = Group | Criterion


@dataclass
class Policy:
    """One payer policy: metadata and its criteria tree."""

    key: str
    title: str
    payer: str
    url: str
    version: str
    tree: Group
    nodes: dict[str, Node]
    file: str = ""
    kind: str = "coverage-policy"
    """``coverage-policy`` (medical-necessity criteria) or ``performance-specification`` (standards of care)."""
    timezone: str | None = None
    """The policy's own IANA time zone for local dates (None: the site's ``IOP_CDS_TIMEZONE``)."""

    def criteria(self) -> Iterator[Criterion]:
        """Every leaf criterion, depth first."""
        stack: list[Node] = [self.tree]
        while stack:
            node = stack.pop(0)
            if isinstance(node, Criterion):
                yield node
            else:
                stack[0:0] = node.children


def collect_ids(spec: object, out: set[str]) -> set[str]:
    """Every ``id`` declared in a policy's YAML tree (so rules may refer to criteria defined later)."""
    if isinstance(spec, dict):
        if isinstance(spec.get("id"), str):
            out.add(spec["id"])
        for value in spec.values():
            collect_ids(value, out)
    elif isinstance(spec, list):
        for value in spec:
            collect_ids(value, out)
    return out


class PolicyParser:
    """Builds a Policy from its YAML mapping, collecting one problem per bad node instead of stopping."""

    def __init__(self, rules: RuleCompiler, file: str) -> None:
        self.rules = rules
        self.file = file
        self.problems: list[str] = []
        self.nodes: dict[str, Node] = {}

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{self.file}: {where}: {message}")

    def rule(self, where: str, spec: object) -> Rule | None:
        if spec is None:
            return None
        try:
            return self.rules.compile(spec)
        except SpecError as exc:
            self.problem(where, str(exc))
            return None

    def parse(self, doc: object) -> Policy | None:
        if not isinstance(doc, dict):
            self.problem("(file)", "a policy file must be a mapping with policy, title, payer, url and tree")
            return None
        for key in ("policy", "title", "payer", "url", "tree"):
            if key not in doc:
                self.problem("(file)", f"missing '{key}'")
        kind = doc.get("kind", COVERAGE_POLICY)
        if kind not in POLICY_KINDS:
            self.problem("kind", f"unknown policy kind {kind!r} ({', '.join(POLICY_KINDS)})")
        timezone = doc.get("timezone")
        if timezone is not None:
            try:
                zone_named(timezone)
            except ValueError as exc:
                self.problem("timezone", str(exc))
        if self.problems:
            return None
        tree = self.node(doc["tree"], "tree")
        if not isinstance(tree, Group):
            self.problem("tree", "the tree's root must be a group (all-of, any-of or n-of)")
            return None
        return Policy(
            key=str(doc["policy"]),
            title=str(doc["title"]),
            payer=str(doc["payer"]),
            url=str(doc["url"]),
            version=str(doc.get("version", "")),
            tree=tree,
            nodes=self.nodes,
            file=self.file,
            kind=kind,
            timezone=str(timezone).strip() if timezone is not None else None,
        )

    def node(self, spec: object, where: str) -> Node | None:
        if not isinstance(spec, dict):
            self.problem(where, f"a node must be a mapping, got {spec!r}")
            return None
        node_id = spec.get("id")
        where = node_id if isinstance(node_id, str) else where
        if isinstance(node_id, str):
            if node_id in self.nodes:
                self.problem(where, "duplicate id")
        kinds = [k for k in GROUP_KINDS if k in spec]
        node: Node | None
        if kinds:
            node = self.group(spec, kinds, where)
        else:
            node = self.criterion(spec, where)
        if node is not None and isinstance(node_id, str):
            self.nodes[node_id] = node
        return node

    def group(self, spec: dict[str, Any], kinds: list[str], where: str) -> Group | None:
        if len(kinds) > 1:
            self.problem(where, f"a group has exactly one of {', '.join(GROUP_KINDS)}")
            return None
        unknown = set(spec) - _GROUP_KEYS
        if unknown:
            self.problem(where, f"unknown keys {', '.join(sorted(unknown))}")
        kind = kinds[0]
        children_spec = spec[kind]
        if not isinstance(children_spec, list) or not children_spec:
            self.problem(where, f"'{kind}' needs a non-empty list")
            return None
        children = [c for i, s in enumerate(children_spec) if (c := self.node(s, f"{where}/{kind}[{i}]"))]
        n = spec.get("n", 1)
        if kind == "n-of" and (not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= len(children_spec)):
            self.problem(where, f"'n-of' needs an integer n between 1 and {len(children_spec)}")
        return Group(
            kind=kind,
            children=children,
            id=spec.get("id"),
            text=str(spec.get("text", "")),
            citation=str(spec.get("citation", "")),
            n=n if isinstance(n, int) else 1,
            applies_if=self.rule(where, spec.get("applies-if")),
        )

    def criterion(self, spec: dict[str, Any], where: str) -> Criterion | None:
        unknown = set(spec) - _CRITERION_KEYS
        if unknown:
            self.problem(where, f"unknown keys {', '.join(sorted(unknown))}")
        missing = [k for k in ("id", "text", "citation", "phase") if not spec.get(k)]
        if missing:
            self.problem(where, f"a criterion needs {', '.join(missing)}")
            return None
        phases = spec["phase"] if isinstance(spec["phase"], list) else [spec["phase"]]
        bad = [p for p in phases if p not in ("A", "C", "D", "P", "R")]
        if bad:
            self.problem(where, f"unknown phase {bad[0]!r} (A, C, D, P or R)")
        tier = spec.get("tier", "documentation")
        if tier not in TIERS:
            self.problem(where, f"unknown tier {tier!r} (one of {', '.join(TIERS)})")
        attestation = spec.get("attestation") is True
        rules_given = any(k in spec for k in ("met-if", "not-met-if", "mirror"))
        if not attestation and not rules_given:
            self.problem(where, "a criterion needs met-if / not-met-if / mirror, or attestation: true")
        due = None
        if "due" in spec:
            try:
                due = parse_due(spec["due"])
            except SpecError as exc:
                self.problem(where, str(exc))
        mirror = spec.get("mirror", [])
        mirror = [mirror] if isinstance(mirror, str) else mirror
        notice = spec.get("notice")
        if notice is not None and not (
            isinstance(notice, dict)
            and isinstance(notice.get("summary"), str)
            and isinstance(notice.get("when"), list)
            and set(notice["when"]) <= {"met", "not-met", "unknown", "not-applicable"}
        ):
            self.problem(where, "'notice' needs summary (text) and when (a list of statuses)")
            notice = None
        return Criterion(
            id=spec["id"],
            text=str(spec["text"]).strip(),
            citation=str(spec["citation"]),
            phases=frozenset(phases),
            tier=tier,
            applies_if=self.rule(where, spec.get("applies-if")),
            met_if=self.rule(where, spec.get("met-if")),
            not_met_if=self.rule(where, spec.get("not-met-if")),
            closed_world=spec.get("closed-world") is True,
            duty=spec.get("duty") is True,
            confirm=spec.get("confirm") == "attestation",
            attestation=attestation,
            due=due,
            mirror=list(mirror),
            suggest=spec.get("suggest"),
            notice=notice,
        )

    def check_mirrors(self) -> None:
        """Every mirrored id names a node of this policy."""
        for node_id, node in self.nodes.items():
            if isinstance(node, Criterion):
                for target in node.mirror:
                    if target not in self.nodes:
                        self.problem(node_id, f"mirror names unknown node {target!r}")
