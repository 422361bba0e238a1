"""Every Molina citation names a section heading of the specification and an item that section numbers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from sentence_cases import POLICY_TEXTS

POLICY_FILE = Path(__file__).resolve().parents[3] / "mappings" / "policies" / "molina.yaml"
TEXT = (POLICY_TEXTS / "molina-iop-performance-spec.txt").read_text(encoding="utf-8").replace("*", "")
SECTIONS = (
    "Components of Service",
    "Staffing Requirements",
    "Process Specifications",
    "Service, Community and Collateral Linkage",
)


def citations(node: dict) -> list[tuple[str, str]]:
    found = [(node["id"], node["citation"])]
    for kind in ("all-of", "any-of", "n-of"):
        for child in node.get(kind, []):
            found.extend(citations(child))
    return found


CITATIONS = citations(yaml.safe_load(POLICY_FILE.read_text(encoding="utf-8"))["tree"])


def section_text(heading: str) -> str:
    """The text from a section heading to the next section heading."""
    start = TEXT.index(heading)
    ends = [i for h in SECTIONS if (i := TEXT.find(h, start + len(heading))) > 0]
    return TEXT[start : min(ends, default=len(TEXT))]


def references(citation: str) -> list[tuple[str, str | None]]:
    """(section, item) pairs: 'A — B #1c; #4 (= C #1g)' gives (A — B, 1c), (A — B, 4), (C, 1g)."""
    out: list[tuple[str, str | None]] = []
    section = ""
    for part in re.split(r";|\(=|\)", citation):
        part = part.strip()
        if not part:
            continue
        head, _, item = part.partition("#")
        section = head.strip() or section
        out.append((section, item.strip() or None))
    return out


@pytest.mark.parametrize(("node", "citation"), CITATIONS, ids=[c[0] for c in CITATIONS])
def test_citation_names_a_section_and_item_of_the_text(node: str, citation: str) -> None:
    for section, item in references(citation):
        for heading in section.split(" — "):
            assert heading in TEXT, f"{node}: {heading!r} is not a heading of the specification"
        if item is None:
            continue
        body = section_text(section.split(" — ")[0])
        number, letter = re.fullmatch(r"(\d+)([a-z]?)", item).groups()  # type: ignore[union-attr]
        numbered = re.split(r"\n\s*(\d+)\. ", body)
        items = dict(zip(numbered[1::2], numbered[2::2], strict=True))
        assert number in items, f"{node}: {section} has no item {number}"
        if letter:
            assert re.search(rf"\n\s*- {letter}\. ", items[number]), f"{node}: {section} {number} has no {letter}"
