"""Card templates (``cards/templates.yaml``): loading, checking against the policies, and filling."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import yaml

from cds_service.engine.mapping import Mappings
from cds_service.engine.yaml_cache import load_yaml

SUMMARY_LIMIT = 139
REQUIRED_TEMPLATES = {
    "safety": ("summary", "detail", "suggestion"),
    "unmet": ("summary", "intro", "item", "evidence"),
    "documentation": ("summary", "intro", "item", "attestation-link", "policy-link"),
    "incomplete": ("summary", "detail"),
    "no-coverage": ("summary", "detail", "none", "lapsed"),
}

# Card kinds with their own override reasons; `deadline-ahead` ones are added while a deadline is in the future.
OVERRIDE_KINDS = ("safety", "unmet", "deadline-ahead")


class CardTemplateError(ValueError):
    """The card templates are malformed or miss a suggestion a policy names; ``problems`` lists each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("card templates: " + "; ".join(problems))
        self.problems = problems


def shorten(text: str, limit: int = SUMMARY_LIMIT) -> str:
    """``text`` cut to ``limit`` characters at a word boundary, with an ellipsis when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:—-")
    return cut + "…"


def fill(template: str, **values: Any) -> str:
    """``template`` with its ``{names}`` filled from ``values``; an unknown name becomes empty."""
    return string.Formatter().vformat(template, (), _Defaults(values))


class _Defaults(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def load_templates(folder: str | Path, mappings: Mappings) -> dict[str, Any]:
    """Read ``cards/templates.yaml`` and check it holds every template and every suggestion the policies name."""
    path = Path(folder) / "templates.yaml"
    try:
        doc = load_yaml(path.read_text(encoding="utf-8"), path)
    except (OSError, yaml.YAMLError) as exc:
        raise CardTemplateError([f"{path}: {exc}"]) from None
    problems: list[str] = []
    if not isinstance(doc, dict):
        raise CardTemplateError([f"{path}: expected a mapping"])
    for section, keys in REQUIRED_TEMPLATES.items():
        block = doc.get(section)
        for key in keys:
            if not isinstance(block, dict) or not isinstance(block.get(key), str):
                problems.append(f"{path}: {section}.{key} is missing")
    suggestions = doc.get("suggestions") or {}
    for name, spec in suggestions.items():
        if not (
            isinstance(spec, dict)
            and isinstance(spec.get("resource"), dict)
            and isinstance(spec.get("label"), str)
            and isinstance(spec.get("description"), str)
        ):
            problems.append(f"{path}: suggestions.{name} needs label, description and resource")
        elif any(a not in suggestions for a in spec.get("alternatives") or []):
            problems.append(f"{path}: suggestions.{name}: an alternative is not a defined suggestion")
    safety = doc.get("safety") or {}
    if isinstance(safety, dict) and safety.get("suggestion") not in suggestions:
        problems.append(f"{path}: safety.suggestion {safety.get('suggestion')!r} is not a defined suggestion")
    for policy in mappings.policies.values():
        for criterion in policy.criteria():
            if criterion.suggest and criterion.suggest not in suggestions:
                known = ", ".join(sorted(suggestions))
                problems.append(
                    f"{policy.file or policy.key}: {criterion.id}: unknown suggestion "
                    f"{criterion.suggest!r} (defined in {path.name}: {known})"
                )
    reasons = doc.get("override-reasons")
    for kind in OVERRIDE_KINDS:
        listed = reasons.get(kind) if isinstance(reasons, dict) else None
        if (
            not isinstance(listed, list)
            or not listed
            or not all(isinstance(r, dict) and r.get("code") and r.get("display") for r in listed)
        ):
            problems.append(f"{path}: override-reasons.{kind} must list {{code, display}} entries")
    if problems:
        raise CardTemplateError(problems)
    return doc
