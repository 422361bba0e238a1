"""Every citation in the Optum LOCG mapping names a heading, paragraph, item or sentence that the policy text has."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import pytest
import yaml
from sentence_cases import POLICY_TEXTS

from cds_service.config import PROJECT_ROOT

TEXT_FILE = POLICY_TEXTS / "optum-locg-2021-iop.txt"
MAPPING = PROJECT_ROOT / "mappings" / "policies" / "optum-locg.yaml"
TITLE = "Intensive Outpatient Program (IOP)"
SECTIONS = ("Any ONE of the following", "And all of the following", "Continuation of Stay")
ROMAN = ("i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x")
PAGE_HEADER = re.compile(r"^\s*(\[2021\] Level of Care Guidelines|Intensive Outpatient Program)\s*$")
ITEM = re.compile(r"^\s*(?:- )?([0-9]+|[a-z]{1,4})\.\s+(.*)$")


@cache
def text() -> str:
    return TEXT_FILE.read_text(encoding="utf-8")


@cache
def sections() -> dict[str, str]:
    """The opening paragraphs under the title, then each numbered section, by heading."""
    body = text()
    starts = [body.index(TITLE), *(body.index(h) for h in SECTIONS), len(body)]
    names = (TITLE, *SECTIONS)
    return {name: body[starts[i] : starts[i + 1]] for i, name in enumerate(names)}


@cache
def items(section: str) -> dict[str, str]:
    """Item path ("6.b.i", "10.b.iii.1") -> its text, for one numbered section."""
    found: dict[str, str] = {}
    path: list[str] = []
    current: str | None = None
    for line in sections()[section].splitlines():
        if PAGE_HEADER.match(line):
            continue
        m = ITEM.match(line)
        if not m:
            if current and line.strip():
                found[current] += " " + line.strip()
            continue
        token, rest = m.groups()
        if token.isdigit():
            # "1. The first appointment ..." under #10.b.iii restarts numbering one level down
            level = 3 if len(path) >= 3 and path[2] in ROMAN and int(token) <= int(path[0]) else 0
        elif token in ROMAN:
            level = 2
        else:
            level = 1
        path = [*path[:level], token]
        current = ".".join(path)
        found[current] = rest.strip()
    return found


def paragraphs() -> list[str]:
    """The opening paragraphs under the title (before the first numbered section)."""
    intro = sections()[TITLE][len(TITLE) :]
    return [p for p in re.split(r"\n\s*\n", intro) if p.strip()]


def sentences(passage: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.;])\s+(?=[A-Z])", passage.strip()) if s]


def citations() -> list[tuple[str, str]]:
    """(node id, citation) for every node of the policy tree."""
    out: list[tuple[str, str]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "citation" in node:
                out.append((str(node.get("id")), str(node["citation"])))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(yaml.safe_load(MAPPING.read_text(encoding="utf-8"))["tree"])
    return out


def _expand(refs: str) -> list[str]:
    out: list[str] = []
    for first, last in re.findall(r"#([0-9][0-9a-z.]*)(?:\s*–\s*#?([0-9]+))?", refs):
        first = first.rstrip(".")
        if last:
            out.extend(str(n) for n in range(int(first), int(last) + 1))
        else:
            out.append(first)
    return out


def problems(citation: str) -> list[str]:
    """What a citation names that the text lacks (empty when every part is found)."""
    if citation == "[2021] Level of Care Guidelines, Intensive Outpatient Program":
        return [] if "[2021] Level of Care Guidelines" in text() else ["no '[2021] Level of Care Guidelines'"]
    found: list[str] = []
    for part in (p.strip() for p in citation.split(";")):
        if part.startswith(TITLE):
            numbers = [int(n) for n in re.findall(r"¶(\d+)", part)]
            if not numbers or max(numbers) > len(paragraphs()):
                found.append(f"{part!r}: no such paragraph under the title")
            continue
        section = next((s for s in SECTIONS if part.startswith(s)), None)
        if section is None:
            found.append(f"{part!r} names no heading of the text")
            continue
        refs = _expand(part[len(section) :])
        if not refs:
            found.append(f"{part!r} names no item")
        for ref in refs:
            if ref not in items(section):
                found.append(f"{section} has no item {ref}")
                continue
            sentence = re.search(r"\(sentence (\d+)\)", part)
            if sentence and int(sentence.group(1)) > len(sentences(items(section)[ref])):
                found.append(f"{section} #{ref} has no sentence {sentence.group(1)}")
    return found


def test_the_parser_reads_the_numbering_of_the_text() -> None:
    listed = items("And all of the following")
    assert {"6.b.iii", "6.c.ii", "7.b", "10.b.iii.1", "10.b.vii", "10.g"} <= set(listed)
    assert "10.h" not in listed and "6.d" not in listed
    assert listed["10.b.iii.1"].startswith("The first appointment should be within 7 days")
    assert len(sentences(listed["9"])) == 3
    assert set(items("Continuation of Stay")) == {"1", "2", "3", "4", "4.a", "5", "6"}
    assert len(paragraphs()) == 3
    assert problems("And all of the following #10.h") == ["And all of the following has no item 10.h"]
    assert problems("And all of the following #9 (sentence 4)")
    assert problems("Introduction ¶1")
    assert problems("Intensive Outpatient Program (IOP) ¶1, ¶4")


@pytest.mark.parametrize(("node", "citation"), citations(), ids=[n for n, _ in citations()])
def test_citation_names_what_the_policy_text_has(node: str, citation: str) -> None:
    assert problems(citation) == [], f"{node}: {citation}"


def test_version_is_the_year_the_text_gives() -> None:
    mapping = yaml.safe_load(MAPPING.read_text(encoding="utf-8"))
    assert f"[{mapping['version']}] Level of Care Guidelines" in text()
