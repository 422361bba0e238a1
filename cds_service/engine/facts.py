"""Facts: named JSONPath expressions over one resource type, compiled once, yielding typed values."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jsonpath_ng import jsonpath as jp
from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
from jsonpath_ng.ext import filter as jp_filter
from jsonpath_ng.ext import parse as parse_jsonpath

from cds_service.engine.timecalc import parse_instant
from cds_service.record.patient_record import Resource, reference_key

Accessor = Callable[[Any], list[Any]]

# `$.a.b[*].c[0]`: simple paths are compiled to plain dict/list walks (about 10x faster than jsonpath-ng).
_SIMPLE_PATH = re.compile(r"^\$((?:\.[A-Za-z_][A-Za-z0-9_]*|\[\*\]|\[\d+\])*)$")
_HEAD = re.compile(r"^\$\.([A-Za-z_][A-Za-z0-9_]*)(?![A-Za-z0-9_])")
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


# Filter paths (`$.participant[?(@.actor.reference =~ '...')].actor`) are run from jsonpath-ng's parsed tree by the
# walk below, which follows jsonpath-ng's own rules step by step and calls its comparison functions: about 5x faster
# than its generic matcher (which builds a context object per node). Any node it does not know keeps the generic one.
_Step = tuple[str, Any]


def _steps(node: Any, start: type) -> list[_Step] | None:
    """The steps of a Child chain from ``start`` (Root or This), or None when a node is not one the walk knows."""
    if isinstance(node, jp.Child):
        left, right = _steps(node.left, start), _steps(node.right, start)
        return None if left is None or right is None else left + right
    if type(node) is start:
        return []
    if type(node) is jp.Fields and len(node.fields) == 1 and node.fields[0] != "*":
        return [("field", node.fields[0])]
    if type(node) is jp.Index:
        return [("index", tuple(node.indices))]
    if type(node) is jp.Wildcard:
        return [("every", None)]
    if type(node) is jp_filter.Filter and start is jp.Root and not node._references_root():
        tests = [_filter_test(e) for e in node.expressions]
        return None if any(t is None for t in tests) else [("filter", tests)]
    return None


def _run(values: list[Any], steps: list[_Step]) -> list[Any]:
    """The matched values (None included, as jsonpath-ng keeps a JSON null) of the steps from ``values``."""
    for kind, arg in steps:
        found: list[Any] = []
        if kind == "field":
            for value in values:
                if type(value) is dict and arg in value:
                    found.append(value[arg])
        elif kind == "index":
            for value in values:
                if isinstance(value, list | tuple) and value:
                    found.extend(value[i] for i in arg if -len(value) <= i < len(value))
        elif kind == "every":
            for value in values:
                if isinstance(value, list | tuple):
                    found.extend(value)
                elif isinstance(value, dict):
                    found.extend(value.values())
        else:
            for value in values:
                candidates = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
                found.extend(c for c in candidates if all(test(c) for test in arg))
        values = found
    return values


def _filter_test(expression: Any) -> Callable[[Any], bool] | None:
    """Whether a candidate passes one filter expression, decided as jsonpath-ng's ``Expression.find`` decides."""
    if type(expression) is not jp_filter.Expression or isinstance(expression.value, jp.JSONPath):
        return None
    target = _steps(expression.target, jp.This)
    op, literal = expression.op, expression.value
    if target is None or op == "!":
        return None
    null_comparison = op is not None and literal is None
    equality = jp_filter.EQUALITY_ONLY_OPERATOR_MAP
    search = jp_filter.OPERATOR_MAP["=~"]

    def test(candidate: Any) -> bool:
        found = _run([candidate], target)
        if not found:
            return op == "!="
        if op is None:
            return True
        for value in found:
            if null_comparison:
                matched = equality[op](value is None)
            elif op != "=~" and (isinstance(value, bool) or isinstance(literal, bool)):
                matched = equality[op](value is literal)
            elif op == "=~":
                matched = search(value, literal)
            else:
                matched = jp_filter._compare(op, value, literal)
            if matched:
                return True
        return False

    return test


def _interpreted(expression: Any) -> Accessor | None:
    """An accessor running a parsed path by ``_run`` (None values dropped), or None when it has unknown nodes."""
    steps = _steps(expression, jp.Root)
    if steps is None or not any(kind == "filter" for kind, _ in steps):
        return None

    def find(resource: Any) -> list[Any]:
        return [v for v in _run([resource], steps) if v is not None]

    return find


def compile_path(path: str) -> tuple[Accessor, bool]:
    """An accessor returning every match of a JSONPath, and whether it is a fast direct walk.

    ``A || B``: the matches of the first alternative that has any (a note's service time, else its date).

    Raises ValueError with the parser's message for an expression jsonpath-ng cannot parse.
    """
    alternatives = [part.strip() for part in path.split(" || ")]
    if len(alternatives) > 1:
        compiled = [compile_path(part) for part in alternatives]

        def first_found(resource: Any) -> list[Any]:
            for walk, _ in compiled:
                found = walk(resource)
                if found:
                    return found
            return []

        return first_found, all(direct for _, direct in compiled)
    parts = [part.strip() for part in path.split(" | ")]
    if len(parts) > 1 and all(_SIMPLE_PATH.match(part) for part in parts):
        # `$.valueQuantity.value | $.valueInteger`: the matches of each simple path in turn (jsonpath-ng's own
        # union operator is deprecated).
        walks = [compile_path(part)[0] for part in parts]
        return (lambda resource: [value for walk in walks for value in walk(resource)]), True
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

    interpreted = _interpreted(expression)
    if interpreted is not None:
        return interpreted, False
    head = _HEAD.match(path.strip())
    if head is None:

        def find(resource: Any) -> list[Any]:
            return [m.value for m in expression.find(resource) if m.value is not None]

        return find, False
    first = head.group(1)

    def find_under(resource: Any) -> list[Any]:
        # Without its first field a resource matches nothing: skip the generic matcher (most resources lack it).
        if type(resource) is dict and resource.get(first) is None:
            return []
        return [m.value for m in expression.find(resource) if m.value is not None]

    return find_under, False


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
