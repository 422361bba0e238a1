"""Value sets: codes, dot-insensitive prefixes and ranges, patterns, exclusions, includes, and their errors."""

from __future__ import annotations

import pytest

from cds_service.config import PROJECT_ROOT
from cds_service.engine.mapping import load_mappings
from cds_service.engine.valuesets import ValueSetError, compile_valuesets

ICD = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
SYSTEMS = {"icd10cm": [ICD, "urn:oid:2.16.840.1.113883.6.90"], "snomed": [SNOMED]}


@pytest.fixture(scope="module")
def real():
    return load_mappings(PROJECT_ROOT / "mappings").valuesets


def test_ranges_are_dot_insensitive_and_exclusions_win(real) -> None:
    mh = real["VS-MH"]
    assert mh.contains(ICD, "F33.1") and mh.contains(ICD, "F331") and mh.contains(ICD, "F99")
    assert mh.contains(ICD, "F01.50")
    assert not mh.contains(ICD, "F17.210")  # nicotine dependence is excluded
    assert not mh.contains(ICD, "G47.00") and not mh.contains(ICD, "E11.9")


def test_remission_codes_are_not_active_sud(real) -> None:
    assert real["VS-SUD"].contains(ICD, "F11.20")
    assert not real["VS-SUD"].contains(ICD, "F11.21")
    assert real["VS-SUD-REMISSION"].contains(ICD, "F11.21")


def test_snomed_equivalents_count_as_diagnoses(real) -> None:
    assert real["VS-MH"].contains(SNOMED, "370143000")  # major depressive disorder
    assert real["VS-SUD"].contains(SNOMED, "7200002")  # alcoholism
    assert not real["VS-MH"].contains(SNOMED, "44054006")  # type 2 diabetes


def test_codes_need_the_right_system(real) -> None:
    assert not real["VS-MH"].contains(SNOMED, "F33.1")
    assert not real["VS-MH"].contains(None, "F33.1")
    assert real["VS-MH"].contains("urn:oid:2.16.840.1.113883.6.90", "F33.1")  # OID alias of ICD-10-CM


def test_match_returns_the_first_coding_in_the_set(real) -> None:
    concept = {"coding": [{"system": SNOMED, "code": "44054006"}, {"system": ICD, "code": "F32.1"}]}
    assert real["VS-MH"].match(concept) == {"system": ICD, "code": "F32.1"}
    assert real["VS-MH"].match({"coding": []}) is None


def test_patterns_and_includes() -> None:
    sets = compile_valuesets(
        SYSTEMS,
        {
            "A": [{"system": "icd10cm", "patterns": ["F1?.2*"], "exclude": {"codes": ["F17.200"]}}],
            "B": {"include": ["A"], "rules": [{"system": "snomed", "codes": ["7200002"]}], "label": "both"},
        },
    )
    assert sets["B"].contains(ICD, "F10.239") and sets["B"].contains(SNOMED, "7200002")
    assert not sets["B"].contains(ICD, "F17.200") and not sets["B"].contains(ICD, "F10.10")
    assert sets["B"].label == "both"


@pytest.mark.parametrize(
    ("valuesets", "message"),
    [
        ({"A": [{"system": "loinc", "codes": ["1"]}]}, "unknown system alias 'loinc'"),
        ({"A": [{"system": "icd10cm"}]}, "no codes, prefixes, ranges or patterns"),
        ({"A": [{"system": "icd10cm", "ranges": [["F99", "F01"]]}]}, "low 'F99' is above high 'F01'"),
        ({"A": [{"system": "icd10cm", "ranges": ["F01"]}]}, "expected [low, high] codes"),
        ({"A": [{"system": "icd10cm", "codes": ["F1"], "colour": "red"}]}, "unknown key 'colour'"),
        ({"A": {"include": ["Nope"]}}, "unknown value set 'Nope'"),
        ({"A": {"include": ["B"]}, "B": {"include": ["A"]}}, "include cycle"),
        ({"A": []}, "empty value set"),
        ({"A": {"instrument": 9, "rules": [{"system": "icd10cm", "codes": ["F1"]}]}}, "expected the instrument's name"),
        ({"A": {"instrumnet": "PHQ-9", "include": []}}, "unknown key 'instrumnet'"),
    ],
)
def test_each_malformed_value_set_names_its_problem(valuesets: dict, message: str) -> None:
    with pytest.raises(ValueSetError) as error:
        compile_valuesets(SYSTEMS, valuesets)
    assert any(message in problem and "valuesets.A" in problem for problem in error.value.problems), (
        error.value.problems
    )


def test_the_membership_cache_stays_bounded_under_made_up_codes(mappings) -> None:
    from cds_service.engine.valuesets import CACHE_LIMIT

    valueset = next(iter(mappings.valuesets.values()))
    for n in range(CACHE_LIMIT + 10):
        valueset.contains("http://example.org/made-up", f"code-{n}")
    assert len(valueset._cache) <= CACHE_LIMIT
