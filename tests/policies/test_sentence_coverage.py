"""Every catalogue criterion has a case its policy sentence makes met and one it makes not met (or not applicable)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from sentence_cases import SentenceCase, pro_and_con, quote_is_in

HERE = Path(__file__).resolve().parent
POLICY_FILES = {
    "optum-locg": "optum-locg-2021-iop.txt",
    "molina": "molina-iop-performance-spec.txt",
    "medica": "medica-mp9556-iop.txt",
    "cca": "cca-iop-performance-spec.txt",
    "bh803": "optum-medicare-bh803-iop.txt",
}
CATALOGUE_TOTAL = 191


def all_cases() -> list[SentenceCase]:
    cases: list[SentenceCase] = []
    for path in sorted(HERE.glob("*/test_*_sentences.py")):
        spec = importlib.util.spec_from_file_location(f"sentences_{path.parent.name}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        cases.extend(module.CASES)
    return cases


def test_criteria_with_a_pro_and_a_con_case() -> None:
    pro, con = pro_and_con(all_cases())
    both = pro & con
    assert len(both) == CATALOGUE_TOTAL, f"{len(both)} of {CATALOGUE_TOTAL} criteria have a pro and a con case"


@pytest.mark.parametrize("case", all_cases(), ids=lambda c: c.id)
def test_each_case_quotes_its_policy_text(case: SentenceCase) -> None:
    assert case.quote.strip(), f"{case.id}: no quote"
    assert quote_is_in(case.quote, POLICY_FILES[case.policy]), f"{case.id}: quote not found in the policy text"
