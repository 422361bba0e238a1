"""Every BH803 citation names a heading of the coverage summary, and a bullet it has or a phrase it contains."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from sentence_cases import POLICY_TEXTS

POLICY_FILE = Path(__file__).resolve().parents[3] / "mappings" / "policies" / "bh803.yaml"
LINES = [
    line.replace("’", "'").rstrip()
    for line in (POLICY_TEXTS / "optum-medicare-bh803-iop.txt").read_text(encoding="utf-8").splitlines()
]
# The headings of the text, as printed (a bullet line "- Program Criteria" or a line of its own).
HEADINGS = (
    "Introduction & Instructions for Use",
    "Intensive Outpatient Services for Mental Health and Substance Use Disorders",
    "Program Criteria",
    "Patient Eligibility Criteria",
    "Covered Services",
    "Reasonable and Necessary Services",
    "Reasons for Denial",
    "Documentation Requirements and Physician Supervision",
    "Opioid Treatment Programs Intensive Outpatient Services",
    "References",
)


def _heading_of(line: str) -> str | None:
    text = re.sub(r"^\s*-\s+", "", line).strip()
    return text if text in HEADINGS else None


def section(heading: str) -> list[str]:
    """The lines from a heading's own line to the next heading's line."""
    start = next(i for i, line in enumerate(LINES) if _heading_of(line) == heading)
    end = next((i for i in range(start + 1, len(LINES)) if _heading_of(LINES[i])), len(LINES))
    return LINES[start + 1 : end]


def bullets(heading: str) -> list[str]:
    """The section's bullets as printed (lines opening with '- ' or ' - ')."""
    return [line for line in section(heading) if re.match(r"^ ?- ", line)]


def citations(node: dict) -> list[tuple[str, str]]:
    found = [(node["id"], node["citation"])]
    for kind in ("all-of", "any-of", "n-of"):
        for child in node.get(kind, []):
            found.extend(citations(child))
    return found


CITATIONS = citations(yaml.safe_load(POLICY_FILE.read_text(encoding="utf-8"))["tree"])
PART = re.compile(r"^(?P<path>[^,:]+?)(?:, bullet (?P<bullet>\d+))?(?:: (?P<phrase>.+))?$")


@pytest.mark.parametrize(("node", "citation"), CITATIONS, ids=[c[0] for c in CITATIONS])
def test_citation_names_a_heading_and_a_bullet_or_phrase_of_it(node: str, citation: str) -> None:
    for part in citation.split("; "):
        match = PART.match(part)
        assert match, f"{node}: {part!r} is not 'Heading[ — Subheading][, bullet N][: phrase]'"
        heading, *subheadings = match["path"].split(" — ")
        assert heading in HEADINGS, f"{node}: {heading!r} is not a heading of the text"
        body = " ".join(section(heading))
        for sub in subheadings:
            assert sub in body, f"{node}: {sub!r} does not occur under {heading!r}"
        if match["bullet"]:
            count = len(bullets(heading))
            assert int(match["bullet"]) <= count, f"{node}: {heading!r} has {count} bullets, not {match['bullet']}"
        if match["phrase"]:
            assert match["phrase"] in body, f"{node}: {match['phrase']!r} does not occur under {heading!r}"


def test_the_bullet_counts_the_citations_rely_on() -> None:
    assert [len(bullets(h)) for h in HEADINGS[2:4]] == [3, 3]
    assert len(bullets("Reasonable and Necessary Services")) == 3
    assert bullets("Opioid Treatment Programs Intensive Outpatient Services")[2].startswith("- HCPCS code G0137")
