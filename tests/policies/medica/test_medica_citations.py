"""Every citation in the Medica mapping names a section, item and wording that occur in the MP9556 text.

A citation is a section heading of the text, then optionally item numbers (``#8a.i``, ``#1–#3``) that must exist in
that section in that nesting, and quoted wording (“…”) that must occur in that section. Anything else is a note.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sentence_cases import POLICY_TEXTS

from cds_service.config import PROJECT_ROOT
from cds_service.engine.mapping import load_mappings

TEXT_FILE = POLICY_TEXTS / "medica-mp9556-iop.txt"
# The section headings of MP9556, in document order ("State of Illinois:" opens a paragraph of the Description).
HEADINGS = [
    "Coverage Policy",
    "Adult Admission to Intensive Outpatient (IOP)Treatment",
    "Adult Continuation in IOP Treatment",
    "Child and Adolescent Admission to and Continuation of IOP Treatment",
    "IOP Treatment Related to Substance Use Disorder",
    "Services Considered Not Medically Necessary",
    "Description",
    "State of Illinois",
    "FDA Approval",
]
ROMAN = ("i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x")


def squash(text: str) -> str:
    """Lower case without whitespace or markdown emphasis, so wrapping and bold never decide a match."""
    return re.sub(r"[\s*]+", "", text.replace("’", "'")).lower()


def sections(text: str) -> dict[str, str]:
    """Heading → the text up to the next heading (squashed)."""
    flat = squash(text)
    starts = []
    for heading in HEADINGS:
        at = flat.find(squash(heading))
        assert at >= 0, f"heading {heading!r} not in the policy text"
        starts.append((at, heading))
    starts.sort()
    return {
        heading: flat[at : starts[i + 1][0] if i + 1 < len(starts) else len(flat)]
        for i, (at, heading) in enumerate(starts)
    }


def item_exists(section: str, path: str) -> bool:
    """Whether '8a.iii' (number, letter, roman numeral) occurs in this nesting in the section's list."""
    m = re.fullmatch(r"(\d+)([a-z])?(?:\.([ivx]+))?", path)
    assert m, f"unreadable item {path!r}"
    number, letter, roman = m.groups()
    start = section.find(f"-{number}.")
    if start < 0:
        return False
    following = section.find(f"-{int(number) + 1}.", start)
    scope = section[start : following if following > 0 else len(section)]
    if letter is None:
        return True
    at = scope.find(f"-{letter}.")
    if at < 0:
        return False
    if roman is None:
        return True
    after = scope.find(f"-{chr(ord(letter) + 1)}.", at)
    sub = scope[at : after if after > 0 else len(scope)]
    return roman in ROMAN and f"-{roman}." in sub


def citations() -> list[tuple[str, str]]:
    policy = load_mappings(PROJECT_ROOT / "mappings").policies["medica"]
    found = [(node_id, node.citation) for node_id, node in policy.nodes.items() if node.citation]
    return [("medica", policy.tree.citation), *found]


TEXT = TEXT_FILE.read_text(encoding="utf-8")
SECTIONS = sections(TEXT)


@pytest.mark.parametrize(("node_id", "citation"), citations(), ids=lambda v: v if "." in v or "-" in v else None)
def test_citation_names_what_the_text_holds(node_id: str, citation: str) -> None:
    squashed = squash(citation)
    heading = max((h for h in HEADINGS if squashed.startswith(squash(h))), key=len, default=None)
    assert heading, f"{node_id}: citation {citation!r} starts with no section heading of MP9556"
    section = SECTIONS[heading]
    for path in re.findall(r"#([0-9][0-9a-z.]*)", citation):
        assert item_exists(section, path.rstrip(".")), f"{node_id}: item #{path} is not in “{heading}”"
    for quoted in re.findall(r"“([^”]+)”", citation):
        assert squash(quoted) in section, f"{node_id}: “{quoted}” is not in “{heading}”"


def test_an_item_that_is_not_in_the_text_is_refused() -> None:
    adult = SECTIONS["Adult Admission to Intensive Outpatient (IOP)Treatment"]
    assert item_exists(adult, "8a.v") and item_exists(adult, "7a") and item_exists(adult, "5")
    assert not item_exists(adult, "6")  # the safety plan's number is missing in the text
    assert not item_exists(adult, "8a.vi") and not item_exists(adult, "8e") and not item_exists(adult, "9")
    assert not item_exists(SECTIONS["Adult Continuation in IOP Treatment"], "4g")


def test_version_is_the_texts_effective_date() -> None:
    policy = load_mappings(PROJECT_ROOT / "mappings").policies["medica"]
    assert "Effective Date: 04/01/2025" in TEXT and "2025-04-01" in policy.version
    assert "Re-Review Date(s): 02/25/2025" in TEXT and "2025-02-25" in policy.version


def test_the_policy_text_is_where_the_tests_expect_it() -> None:
    assert Path(TEXT_FILE).is_file()
