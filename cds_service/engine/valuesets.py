"""Named code lists: systems by alias, codes, prefixes, ranges, wildcard patterns, exclusions; normalised matching.

Codes compare normalised (DATA-PROFILE §6 "Terminology"): without surrounding space, dots and case, so the
ICD-10-CM ``F10.231``, ``F10231`` and ``f10.231`` are one code. No mapped system has codes that differ only in
those (LOINC keeps its hyphen, SNOMED CT and RxNorm are digits). System URIs compare normalised too: a
``|version`` suffix, a trailing slash, ``https`` for ``http``, upper-case scheme or host, and a bare OID for its
``urn:oid:`` form make no difference, and the aliases of ``systems:`` lists that share a URI are one system.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

RULE_KEYS = frozenset({"system", "codes", "prefixes", "ranges", "patterns", "exclude"})
EXCLUDE_KEYS = frozenset({"codes", "prefixes", "patterns"})
SPEC_KEYS = frozenset({"rules", "include", "label", "instrument"})

_BARE_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")
_URL = re.compile(r"^(https?)://([^/]*)(.*)$", re.IGNORECASE)


class ValueSetError(ValueError):
    """One or more value sets are malformed; ``problems`` lists one message each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def normalise_code(code: str) -> str:
    """A code as compared: no surrounding or inner spaces, no dots, upper case (``f10.231`` → ``F10231``)."""
    return "".join(code.split()).replace(".", "").upper()


def normalise_system(uri: str) -> str:
    """A system URI as compared: no ``|version``, ``http`` scheme, lower-case host, no trailing slash, OIDs as URNs."""
    uri = uri.strip().split("|", 1)[0].strip()
    if _BARE_OID.match(uri):
        return f"urn:oid:{uri}"
    if uri[:8].lower() == "urn:oid:":
        return "urn:oid:" + uri[8:]
    url = _URL.match(uri)
    if url:
        return f"http://{url.group(2).lower()}{url.group(3).rstrip('/')}"
    return uri


@dataclass(frozen=True)
class CodeRule:
    """Codes of one system that a value set includes."""

    systems: frozenset[str]
    codes: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    ranges: tuple[tuple[str, str], ...] = ()
    patterns: tuple[str, ...] = ()
    exclude_codes: frozenset[str] = frozenset()
    exclude_prefixes: tuple[str, ...] = ()
    exclude_patterns: tuple[str, ...] = ()

    def matches(self, system: str, code: str) -> bool:
        """True when the code is included by this rule and not excluded; both arguments already normalised."""
        if system not in self.systems:
            return False
        included = (
            code in self.codes
            or any(code.startswith(p) for p in self.prefixes)
            or any(lo <= code[: len(lo)] and code[: len(hi)] <= hi for lo, hi in self.ranges)
            or any(fnmatchcase(code, p) for p in self.patterns)
        )
        if not included:
            return False
        return not (
            code in self.exclude_codes
            or any(code.startswith(p) for p in self.exclude_prefixes)
            or any(fnmatchcase(code, p) for p in self.exclude_patterns)
        )


CACHE_LIMIT = 50_000
"""Most (system, code) answers a value set remembers; real records use a few thousand distinct codes."""


@dataclass
class ValueSet:
    """A named code list; membership of a (system, code) pair is computed once and cached."""

    name: str
    label: str
    rules: list[CodeRule]
    instrument: str | None = None
    _cache: dict[tuple[str, str], bool] = field(default_factory=dict, repr=False)

    def contains(self, system: str | None, code: str | None) -> bool:
        """True when the code of that system is in the set, comparing both normalised."""
        if not isinstance(system, str) or not isinstance(code, str):
            return False
        key = (system, code)
        hit = self._cache.get(key)
        if hit is None:
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()  # codes come from requests: a stream of made-up ones must not grow memory
            plain_system, plain_code = normalise_system(system), normalise_code(code)
            hit = self._cache[key] = any(rule.matches(plain_system, plain_code) for rule in self.rules)
        return hit

    def contains_coding(self, coding: Any) -> bool:
        """True when a Coding (dict with system and code) is in the set."""
        return isinstance(coding, dict) and self.contains(coding.get("system"), coding.get("code"))

    def match(self, codings: Any) -> dict[str, Any] | None:
        """The first Coding of a list (or of a CodeableConcept) that is in the set."""
        if isinstance(codings, dict):
            codings = codings.get("coding", [codings])
        if not isinstance(codings, list):
            return None
        return next((c for c in codings if self.contains_coding(c)), None)


def _strings(value: Any, where: str, problems: list[str]) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
        problems.append(f"{where}: expected a list of codes")
        return []
    return [str(v) for v in value]


def _compile_rule(raw: Any, where: str, systems: Mapping[str, frozenset[str]], problems: list[str]) -> CodeRule | None:
    if not isinstance(raw, dict):
        problems.append(f"{where}: a rule must be a mapping with 'system' and codes")
        return None
    unknown = sorted(set(raw) - RULE_KEYS)
    if unknown:
        problems.append(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(RULE_KEYS))})")
    system = raw.get("system")
    if not isinstance(system, str):
        problems.append(f"{where}: 'system' is required")
        return None
    uris = systems.get(system)
    if uris is None and ":" in system:
        uri = normalise_system(system)
        uris = next((known for known in systems.values() if uri in known), frozenset({uri}))
    if uris is None:
        problems.append(f"{where}: unknown system alias {system!r}")
        return None
    ranges: list[tuple[str, str]] = []
    for i, pair in enumerate(raw.get("ranges") or []):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            problems.append(f"{where}.ranges[{i}]: expected [low, high] codes")
            continue
        lo, hi = normalise_code(pair[0]), normalise_code(pair[1])
        if lo > hi:
            problems.append(f"{where}.ranges[{i}]: low {pair[0]!r} is above high {pair[1]!r}")
        ranges.append((lo, hi))
    exclude = raw.get("exclude") or {}
    if not isinstance(exclude, dict) or set(exclude) - EXCLUDE_KEYS:
        problems.append(f"{where}.exclude: expected a mapping of codes / prefixes / patterns")
        exclude = {}

    def normalised(source: dict[str, Any], key: str, at: str) -> list[str]:
        return [normalise_code(c) for c in _strings(source.get(key), f"{at}.{key}", problems)]

    rule = CodeRule(
        systems=uris,
        codes=frozenset(normalised(raw, "codes", where)),
        prefixes=tuple(normalised(raw, "prefixes", where)),
        ranges=tuple(ranges),
        patterns=tuple(normalised(raw, "patterns", where)),
        exclude_codes=frozenset(normalised(exclude, "codes", f"{where}.exclude")),
        exclude_prefixes=tuple(normalised(exclude, "prefixes", f"{where}.exclude")),
        exclude_patterns=tuple(normalised(exclude, "patterns", f"{where}.exclude")),
    )
    if not (rule.codes or rule.prefixes or rule.ranges or rule.patterns):
        problems.append(f"{where}: no codes, prefixes, ranges or patterns")
    return rule


def _join_shared_uris(aliases: dict[str, frozenset[str]]) -> dict[str, frozenset[str]]:
    """Each alias widened to every URI of the aliases it shares a URI with (one system, however many names)."""
    joined = dict(aliases)
    changed = True
    while changed:
        changed = False
        for name, uris in joined.items():
            wider = frozenset().union(*(other for other in joined.values() if other & uris))
            if wider != uris:
                joined[name] = wider
                changed = True
    return joined


def compile_valuesets(systems: Any, valuesets: Any) -> dict[str, ValueSet]:
    """Compile the ``systems`` aliases and ``valuesets`` ; raises ValueSetError listing every problem."""
    problems: list[str] = []
    aliases: dict[str, frozenset[str]] = {}
    if not isinstance(systems, dict):
        problems.append("systems: expected a mapping of alias → list of system URIs")
        systems = {}
    for alias, uris in systems.items():
        if isinstance(uris, str):
            uris = [uris]
        if not isinstance(uris, list) or not uris or not all(isinstance(u, str) for u in uris):
            problems.append(f"systems.{alias}: expected a list of system URIs")
            continue
        aliases[str(alias)] = frozenset(normalise_system(u) for u in uris)
    aliases = _join_shared_uris(aliases)
    if not isinstance(valuesets, dict):
        raise ValueSetError([*problems, "valuesets: expected a mapping of name → value set"])

    own: dict[str, list[CodeRule]] = {}
    includes: dict[str, list[str]] = {}
    labels: dict[str, str] = {}
    instruments: dict[str, str | None] = {}
    for name, spec in valuesets.items():
        where = f"valuesets.{name}"
        if isinstance(spec, list):
            spec = {"rules": spec}
        if not isinstance(spec, dict):
            problems.append(f"{where}: expected a list of rules or a mapping with include / rules / label")
            continue
        extra = sorted(set(spec) - SPEC_KEYS)
        if extra:
            problems.append(f"{where}: unknown key {extra[0]!r} (allowed: {', '.join(sorted(SPEC_KEYS))})")
        instrument = spec.get("instrument")
        if instrument is not None and not (isinstance(instrument, str) and instrument.strip()):
            problems.append(f"{where}.instrument: expected the instrument's name")
            instrument = None
        instruments[name] = instrument
        rules = [
            _compile_rule(r, f"{where}.rules[{i}]", aliases, problems) for i, r in enumerate(spec.get("rules") or [])
        ]
        own[name] = [r for r in rules if r is not None]
        includes[name] = _strings(spec.get("include"), f"{where}.include", problems)
        labels[name] = str(spec.get("label") or name)
        if not own[name] and not includes[name]:
            problems.append(f"{where}: empty value set (no rules and no include)")

    def expand(name: str, trail: tuple[str, ...]) -> list[CodeRule]:
        if name in trail:
            problems.append(f"valuesets.{trail[0]}: include cycle {' → '.join((*trail, name))}")
            return []
        rules = list(own.get(name, []))
        for included in includes.get(name, []):
            if included not in own:
                problems.append(f"valuesets.{name}.include: unknown value set {included!r}")
                continue
            rules.extend(expand(included, (*trail, name)))
        return rules

    compiled = {name: ValueSet(name, labels[name], expand(name, ()), instruments.get(name)) for name in own}
    if problems:
        raise ValueSetError(list(dict.fromkeys(problems)))
    return compiled


def instrument_of(valuesets: Mapping[str, ValueSet], codings: Iterable[Any]) -> str | None:
    """The instrument (``instrument:`` of a value set) whose total-score codes hold one of these Codings, if any."""
    codings = list(codings)
    for valueset in valuesets.values():
        if valueset.instrument and any(valueset.contains_coding(c) for c in codings):
            return valueset.instrument
    return None
