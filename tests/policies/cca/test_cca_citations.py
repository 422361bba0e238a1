"""Every CCA citation names a heading of the specification and quotes words that occur in it; the version says the
dates the text gives. The specification numbers neither its bullets nor its items, so citations quote instead."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from sentence_cases import POLICY_TEXTS, policy_text, quote_is_in

from cds_service.config import Settings

TEXT = "cca-iop-performance-spec.txt"
HEADINGS = {
    "intensive outpatient program (iop) performance specifications",
    "components of services",
    "staffing requirements",
    "training expectations",
    "assessment, treatment/recovery planning and documentation",
    "discharge planning, community and collateral linkages",
    "expected outcomes and quality management",
}


def _policy() -> dict[str, Any]:
    return yaml.safe_load((Path(Settings().mappings_dir) / "policies" / "cca.yaml").read_text(encoding="utf-8"))


def _nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    found = [node]
    for kind in ("all-of", "any-of", "n-of"):
        for child in node.get(kind, []):
            found += _nodes(child)
    return found


NODES = _nodes(_policy()["tree"])


def parts(citation: str) -> list[tuple[str, str | None]]:
    """(heading, quoted words or None) for each '; '-separated part of a citation."""
    found = []
    for part in citation.split("; "):
        heading, _, quoted = part.partition(": '")
        found.append((heading.strip(), quoted.removesuffix("'") if quoted else None))
    return found


def test_headings_are_the_texts_own() -> None:
    raw = (POLICY_TEXTS / TEXT).read_text(encoding="utf-8").lower()
    for heading in HEADINGS:
        assert heading in raw, heading


@pytest.mark.parametrize("node", NODES, ids=lambda n: n["id"])
def test_citation_names_a_heading_and_quotes_the_text(node: dict[str, Any]) -> None:
    citation = node.get("citation", "")
    assert citation, f"{node['id']}: no citation"
    for heading, quoted in parts(citation):
        assert heading.lower() in HEADINGS, f"{node['id']}: {heading!r} is not a heading of the specification"
        if quoted is not None:
            assert quote_is_in(quoted, TEXT), f"{node['id']}: {quoted!r} does not occur in the specification"


@pytest.mark.parametrize("node", NODES, ids=lambda n: n["id"])
def test_citation_does_not_number_what_the_text_leaves_unnumbered(node: dict[str, Any]) -> None:
    """A 'bullet 8' or 'item (c)' points nowhere: the specification has no numbered bullets or lettered items."""
    assert not re.search(r"\b(bullet|item|component|paragraph)s?\s*\(?[0-9a-j]\b", node.get("citation", ""), re.I)


def test_criterion_leaves_quote_the_text() -> None:
    leaves = [n for n in NODES if "." in n["id"]]
    assert len(leaves) == 45
    unquoted = [n["id"] for n in leaves if all(q is None for _, q in parts(n["citation"]))]
    assert not unquoted, unquoted


def test_version_gives_the_dates_of_the_text() -> None:
    version = _policy()["version"]
    assert "december 2024" in policy_text(TEXT) and "march 2026" in policy_text(TEXT)
    assert "December 2024" in version and "March 2026" in version
    assert "undated" not in version.lower()
