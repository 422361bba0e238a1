"""Facts: named JSONPath expressions over one resource type, compiled once, yielding typed values."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
from jsonpath_ng.ext import parse as parse_jsonpath

from cds_service.engine.timecalc import parse_instant
from cds_service.record.patient_record import Resource, reference_key

Accessor = Callable[[Any], list[Any]]

# `$.a.b[*].c[0]`: simple paths are compiled to plain dict/list walks (about 10x faster than jsonpath-ng).
_SIMPLE_PATH = re.compile(r"^\$((?:\.[A-Za-z_][A-Za-z0-9_]*|\[\*\]|\[\d+\])*)$")
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\*|\d+)\]")


_CHILD, _EVERY, _INDEX = 0, 1, 2


def _walk(resource: Any, steps: tuple[tuple[int, Any], ...]) -> list[Any]:
    """Follow child / ``[*]`` / ``[i]`` steps from a resource; None values are dropped, as jsonpath-ng does."""
    values = [resource]
    for kind, arg in steps:
        found: list[Any] = []
        if kind == _CHILD:
            for value in values:
                if type(value) is dict:
                    item = value.get(arg)
                    if item is not None:
                        found.append(item)
        elif kind == _EVERY:
            for value in values:
                if type(value) is list:
                    found.extend(v for v in value if v is not None)
        else:
            for value in values:
                if type(value) is list and len(value) > arg and value[arg] is not None:
                    found.append(value[arg])
        if not found:
            return found
        values = found
    return values


def _compiled_walk(steps: tuple[tuple[int, Any], ...]) -> Accessor:
    """``_walk`` over fixed steps as straight-line Python (nested loops visit matches in the same order)."""
    lines = ["def walk(v0):", "    out = []"]
    indent, depth = "    ", 0
    for kind, arg in steps:
        here, nxt = f"v{depth}", f"v{depth + 1}"
        if kind == _CHILD:
            lines += [f"{indent}if type({here}) is dict:", f"{indent}    {nxt} = {here}.get({arg!r})"]
            lines.append(f"{indent}    if {nxt} is not None:")
            indent += "        "
        elif kind == _EVERY:
            lines += [f"{indent}if type({here}) is list:", f"{indent}    for {nxt} in {here}:"]
            lines.append(f"{indent}        if {nxt} is not None:")
            indent += "            "
        else:
            lines += [
                f"{indent}if type({here}) is list and len({here}) > {arg:d}:",
                f"{indent}    {nxt} = {here}[{arg:d}]",
            ]
            lines.append(f"{indent}    if {nxt} is not None:")
            indent += "        "
        depth += 1
    lines += [f"{indent}out.append(v{depth})", "    return out"]
    namespace: dict[str, Any] = {}
    exec("\n".join(lines), namespace)  # noqa: S102 - the source is built above from parsed names and integers only
    walk: Accessor = namespace["walk"]
    return walk


def compile_path(path: str) -> tuple[Accessor, bool]:
    """An accessor returning every match of a JSONPath, and whether it is a fast direct walk.

    Raises ValueError with the parser's message for an expression jsonpath-ng cannot parse.
    """
    simple = _SIMPLE_PATH.match(path.strip())
    if simple:
        steps = tuple(
            (_CHILD, name) if name else (_EVERY, None) if bracket == "*" else (_INDEX, int(bracket))
            for name, bracket in _STEP.findall(simple.group(1))
        )
        return _compiled_walk(steps), True
    try:
        expression = parse_jsonpath(path)
    except (JsonPathLexerError, JsonPathParserError, Exception) as exc:  # noqa: BLE001 - parser raises bare Exception
        raise ValueError(f"invalid JSONPath {path!r}: {exc}") from None

    def find(resource: Any) -> list[Any]:
        return [m.value for m in expression.find(resource) if m.value is not None]

    return find, False


def _as_string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _as_coding(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) and isinstance(value.get("code"), str) else None


def _as_reference(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("reference")
    return reference_key(value) if isinstance(value, str) else None


def _as_boolean(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _as_object(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


_DURATION_HOURS = {"s": 1 / 3600, "min": 1 / 60, "h": 1.0, "d": 24.0}


def _as_hours(value: Any) -> float | None:
    """Hours of a Duration (``value`` with a UCUM ``code``/``unit`` s, min, h, d) or of a Period (end - start)."""
    if not isinstance(value, dict):
        return None
    if "start" in value or "end" in value:
        start, end = parse_instant(value.get("start")), parse_instant(value.get("end"))
        if start is None or end is None or end < start:
            return None
        return (end - start).total_seconds() / 3600
    amount = _as_number(value.get("value"))
    factor = _DURATION_HOURS.get(value.get("code") or value.get("unit") or "")
    return None if amount is None or factor is None else amount * factor


CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "string": _as_string,
    "code": _as_string,
    "coding": _as_coding,
    "number": _as_number,
    "boolean": _as_boolean,
    "datetime": lambda v: parse_instant(v),
    "datetime-end": lambda v: parse_instant(v, end_of_period=True),
    "reference": _as_reference,
    "object": _as_object,
    "hours": _as_hours,
}
FACT_TYPES = frozenset(CONVERTERS)


@dataclass(frozen=True)
class Fact:
    """A named, typed JSONPath over one resource type; values that do not have the type are dropped."""

    name: str
    resource: str
    path: str
    type: str
    accessor: Accessor
    direct: bool

    def values(self, resource: Resource) -> list[Any]:
        """Every typed value the path finds in one resource (malformed values are skipped, never raised)."""
        convert = CONVERTERS[self.type]
        out = []
        for raw in self.accessor(resource):
            items = raw if isinstance(raw, list) else [raw]
            for item in items:
                value = convert(item)
                if value is not None:
                    out.append(value)
        return out

    def first(self, resource: Resource) -> Any:
        """The first typed value, or None."""
        values = self.values(resource)
        return values[0] if values else None


def build_fact(name: str, resource: str, path: str, fact_type: str) -> Fact:
    """Compile one fact; raises ValueError naming the problem."""
    if fact_type not in CONVERTERS:
        raise ValueError(f"unknown type {fact_type!r} (one of {', '.join(sorted(CONVERTERS))})")
    accessor, direct = compile_path(path)
    return Fact(name=name, resource=resource, path=path, type=fact_type, accessor=accessor, direct=direct)
