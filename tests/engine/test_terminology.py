"""Terminology as a property of the engine: normalised codes and systems, SNOMED CT diagnoses, one instrument per score.

DATA-PROFILE §6 "Terminology": ICD-10-CM codes match with or without the dot and in any case, known system URI
aliases (OIDs included) are one system, diagnosis value sets carry SNOMED CT members, and PHQ-9 variants are one
instrument. The last test checks every ICD-10-CM code in mappings/ against the ICD-10-CM code set.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
from rules_helpers import run, score

from cds_service.engine.mapping import Mappings
from cds_service.engine.valuesets import ValueSet, compile_valuesets, instrument_of, normalise_system
from cds_service.hooks.services import SERVICES
from cds_service.record.prefetch import SCREENING_LOINC
from tests.policies.sentence_cases import SentenceCase, by_id, evaluate, from_golden, resources

with warnings.catch_warnings():  # the package reads its data with a deprecated importlib.resources call
    warnings.simplefilter("ignore", DeprecationWarning)
    import simple_icd_10_cm as icd10cm

ICD = "http://hl7.org/fhir/sid/icd-10-cm"
ICD_OID = "urn:oid:2.16.840.1.113883.6.90"
WHO_ICD10 = "http://hl7.org/fhir/sid/icd-10"
SCT = "http://snomed.info/sct"
SCT_OID = "urn:oid:2.16.840.1.113883.6.96"
LOINC = "http://loinc.org"
LOINC_OID = "urn:oid:2.16.840.1.113883.6.1"
SYNTHEA = Path(__file__).resolve().parents[1] / "fixtures" / "synthea"
MOLINA_AT = "2025-03-21T12:10:00-04:00"  # golden P5: Molina discharge (tests/policies/molina)
MOLINA_DX = "molina.scope.2-dsm5-dx"


# --- codes: dot, case and space do not matter ---


@pytest.mark.parametrize("code", ["F10.231", "F10231", "f10.231", "f10231", " F10.231 "])
def test_icd10cm_exact_codes_match_without_the_dot_and_in_any_case(mappings: Mappings, code: str) -> None:
    assert mappings.valuesets["VS-WITHDRAWAL-DELIRIUM"].contains(ICD, code)


@pytest.mark.parametrize(
    ("valueset", "code", "expected"),
    [
        ("VS-PTSD", "f4310", True),  # prefix F43.1
        ("VS-MH", "f331", True),  # range F01–F99
        ("VS-SUD", "F1120", True),  # pattern F1?.2* with the remission exclusion F1?.21
        ("VS-SUD", "f1121", False),
        ("VS-SUD-REMISSION", "f1121", True),
        ("VS-WITHDRAWAL", "F10239", True),  # pattern F10.23*
        ("VS-WITHDRAWAL", "f10.20", False),
        ("VS-MH", "f17210", False),  # nicotine dependence is excluded by prefix
    ],
)
def test_prefixes_ranges_patterns_and_exclusions_ignore_dot_and_case(
    mappings: Mappings, valueset: str, code: str, expected: bool
) -> None:
    assert mappings.valuesets[valueset].contains(ICD, code) is expected


# --- systems: OIDs and URI spellings are one system; ICD-10 (WHO) is not ICD-10-CM ---


@pytest.mark.parametrize(
    ("valueset", "system", "code"),
    [
        ("VS-MH", ICD_OID, "F33.1"),
        ("VS-MH", "2.16.840.1.113883.6.90", "F331"),  # a bare OID, as C-CDA conversions leave it
        ("VS-MH", SCT_OID, "832007"),
        ("VS-MH", "https://snomed.info/sct/", "370143000"),
        ("PHQ9-TOTAL", LOINC_OID, "44261-6"),
        ("VS-MAT", "urn:oid:2.16.840.1.113883.6.88", "6813"),  # RxNorm
        ("VS-IOP", "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "S9480"),
        ("VS-IOP", "urn:oid:2.16.840.1.113883.6.285", "s9480"),
        ("VS-THER-GROUP", "urn:oid:2.16.840.1.113883.6.12", "90853"),  # CPT
        ("VS-IOP", "urn:oid:2.16.840.1.113883.6.301.3", "0905"),  # NUBC revenue code
        ("ENC-INPATIENT", "urn:oid:2.16.840.1.113883.5.4", "IMP"),  # v3 ActCode
        ("PHYSICIAN", "http://terminology.hl7.org/CodeSystem/v2-0360|2.7", "MD"),  # a versioned canonical
        ("RELATED-FAMILY", "urn:oid:2.16.840.1.113883.5.111", "MTH"),  # v3 RoleCode
        ("POSITIVE-RESULT", "urn:oid:2.16.840.1.113883.5.83", "POS"),  # v3 ObservationInterpretation
        ("CCA-PSYCHIATRIC-PRESCRIBER", "urn:oid:2.16.840.1.113883.6.101", "2084P0800X"),  # NUCC, alias redefined
        ("OPTUM-LOCG-PSYCHOTROPIC", "urn:oid:2.16.840.1.113883.6.73", "N06AB06"),  # ATC under a policy's own alias
    ],
)
def test_oids_and_uri_spellings_of_a_known_system_are_one_system(
    mappings: Mappings, valueset: str, system: str, code: str
) -> None:
    assert mappings.valuesets[valueset].contains(system, code)


def test_who_icd10_is_not_icd10cm(mappings: Mappings) -> None:
    assert not mappings.valuesets["VS-MH"].contains(WHO_ICD10, "F32.1")
    assert not mappings.valuesets["VS-MH"].contains(SCT, "F32.1")


def test_system_uris_normalise_to_one_spelling() -> None:
    assert normalise_system(" HTTP://Snomed.Info/sct/ ") == SCT
    assert normalise_system("http://loinc.org|2.77") == LOINC
    assert normalise_system("2.16.840.1.113883.6.1") == normalise_system("URN:OID:2.16.840.1.113883.6.1") == LOINC_OID
    assert normalise_system("urn:iop-cds:local") == "urn:iop-cds:local"


def test_aliases_sharing_a_uri_are_one_system() -> None:
    sets = compile_valuesets(
        {"atc": ["http://www.whocc.no/atc", "urn:oid:2.16.840.1.113883.6.73"], "my-atc": ["http://www.whocc.no/atc"]},
        {
            "A": [{"system": "my-atc", "prefixes": ["N05"]}],
            "B": [{"system": "http://www.whocc.no/atc/", "codes": ["N06"]}],
        },
    )
    assert sets["A"].contains("urn:oid:2.16.840.1.113883.6.73", "N05AH04")
    assert sets["B"].contains("urn:oid:2.16.840.1.113883.6.73", "N06")


# --- SNOMED CT members for the diagnosis value sets ---

US_CORE_PROBLEMS = {
    "832007": "VS-DEPRESSION",  # moderate major depression
    "35489007": "VS-DEPRESSION",  # depressive disorder
    "370143000": "VS-DEPRESSION",  # major depressive disorder
    "36923009": "VS-DEPRESSION",  # major depression, single episode
    "197480006": "VS-ANXIETY",  # anxiety disorder
    "21897009": "VS-ANXIETY",  # generalized anxiety disorder
    "47505003": "VS-PTSD",  # post-traumatic stress disorder
    "13746004": "VS-BIPOLAR",  # bipolar disorder
    "58214004": "VS-PSYCHOTIC",  # schizophrenia
    "7200002": "VS-ALCOHOL-USE",  # alcoholism
    "66590003": "VS-ALCOHOL-USE",  # alcohol dependence
    "5602001": "VS-OPIOID-USE",  # opioid abuse
    "75544000": "VS-OPIOID-USE",  # opioid dependence
    "87132004": "VS-WITHDRAWAL",  # opioid withdrawal
    "8635005": "VS-WITHDRAWAL-DELIRIUM",  # alcohol withdrawal delirium
    "6471006": "VS-RISK-DX",  # suicidal thoughts
    "231504006": "VS-ANXIETY",  # mixed anxiety and depressive disorder (ICD-10-CM F41.8)
    "70691001": "VS-ANXIETY",  # agoraphobia (F40.0-)
    "25501002": "VS-ANXIETY",  # social phobia (F40.1-)
    "17226007": "VS-MH-NONSUD",  # adjustment disorder (F43.2-)
    "33449004": "VS-MH-NONSUD",  # personality disorder (F60.9)
}


@pytest.mark.parametrize(("code", "valueset"), sorted(US_CORE_PROBLEMS.items()))
def test_common_us_core_problem_codes_are_in_their_concept_and_the_diagnosis_sets(
    mappings: Mappings, code: str, valueset: str
) -> None:
    assert mappings.valuesets[valueset].contains(SCT, code)
    if valueset not in {"VS-WITHDRAWAL", "VS-WITHDRAWAL-DELIRIUM", "VS-RISK-DX"}:
        assert mappings.valuesets["VS-MH"].contains(SCT, code)


def test_severity_by_snomed_code_matches_severity_by_icd10cm_code(mappings: Mappings) -> None:
    vs = mappings.valuesets
    assert vs["VS-MOD-SEV"].contains(SCT, "832007") and vs["VS-MOD-SEV"].contains(ICD, "F32.1")
    assert vs["VS-MILD"].contains(SCT, "87512008") and vs["VS-MILD"].contains(ICD, "F32.0")
    assert not vs["VS-MILD"].contains(SCT, "832007")


def _synthea_conditions() -> dict[str, str]:
    """SNOMED code → display of every Condition in the Synthea fixtures."""
    found: dict[str, str] = {}
    for path in sorted(SYNTHEA.glob("*.json")):
        for entry in json.loads(path.read_text(encoding="utf-8"))["entry"]:
            resource = entry["resource"]
            if resource["resourceType"] == "Condition":
                for coding in resource["code"]["coding"]:
                    if coding["system"] == SCT:
                        found[coding["code"]] = coding.get("display", "")
    return found


BEHAVIOURAL = re.compile(r"depress|anxi|panic|bipolar|schizo|psycho|stress disorder|alcohol|drug|opioid|suicid", re.I)
SOCIAL = re.compile(r"isolation|social contact|homeless|unemploy|criminal|food insecurity|transportation", re.I)


def test_every_behavioural_health_condition_in_the_synthea_fixtures_is_in_a_diagnosis_set(mappings: Mappings) -> None:
    conditions = _synthea_conditions()
    behavioural = {code for code, display in conditions.items() if BEHAVIOURAL.search(display)}
    social = {code for code, display in conditions.items() if SOCIAL.search(display)}
    assert {"370143000", "80583007", "6525002", "361055000", "225444004"} <= behavioural  # the regex still finds them
    diagnosis = [mappings.valuesets[name] for name in ("VS-MH", "VS-SUICIDE-RISK")]
    missed = {c: conditions[c] for c in behavioural if not any(vs.contains(SCT, c) for vs in diagnosis)}
    assert not missed, missed
    assert not {c: conditions[c] for c in social if not mappings.valuesets["VS-SDOH"].contains(SCT, c)}
    others = set(conditions) - behavioural - social
    assert not {c: conditions[c] for c in others if mappings.valuesets["VS-MH"].contains(SCT, c)}


def test_employment_and_education_findings_are_not_social_needs(mappings: Mappings) -> None:
    for code in ("160903007", "160904001", "224299000", "5251000175109"):  # full-/part-time work, higher ed., GED
        assert not mappings.valuesets["VS-SDOH"].contains(SCT, code), code


# --- through a real policy evaluation (golden P5, Molina, at discharge) ---


def _recode(conditions: list[tuple[str, str]]) -> Callable[[dict[str, Any]], None]:
    """Give P5's diagnoses these (system, code) pairs instead of their ICD-10-CM codes."""

    def change(bundle: dict[str, Any]) -> None:
        mine = [r for r in resources(bundle, "Condition") if r["code"]["coding"][0]["code"].startswith("F")]
        assert len(mine) == 2, "P5 holds two F-code diagnoses"
        for resource, (system, code) in zip(mine, conditions, strict=False):
            resource["code"] = {"coding": [{"system": system, "code": code}]}
        for resource in mine[len(conditions) :]:
            resource["code"] = {"coding": [{"system": SCT, "code": "44054006"}]}  # diabetes mellitus type 2

    return change


def _molina_dx(*changes: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    case = SentenceCase(
        MOLINA_DX, "met", "", from_golden("P5", *changes), "encounter-discharge", MOLINA_AT, "molina", "P5-prog"
    )
    return evaluate(case)[MOLINA_DX]


def test_p5_with_its_icd10cm_diagnoses_is_met_as_in_the_golden_expectation() -> None:
    assert _molina_dx()["status"] == "met"


@pytest.mark.parametrize(
    "problems",
    [
        [(SCT, "832007")],  # a SNOMED-only problem list: moderate major depression
        [(SCT_OID, "370143000")],  # major depressive disorder under the SNOMED OID
        [(ICD, "f4310"), (ICD, "F1120")],  # P5's own codes without the dot, one in lower case
        [(ICD_OID, "F43.10")],
        [(SCT, "231504006")],  # mixed anxiety and depressive disorder (F41.8)
        [(SCT, "17226007")],  # adjustment disorder (F43.2-)
    ],
    ids=[
        "snomed-832007",
        "snomed-oid",
        "icd-dotless-lowercase",
        "icd-oid",
        "snomed-mixed-anxiety-depression",
        "snomed-adjustment-disorder",
    ],
)
def test_a_mental_health_diagnosis_is_recognised_however_it_is_coded(problems: list[tuple[str, str]]) -> None:
    got = _molina_dx(_recode(problems))
    assert got["status"] == "met", got["reason"]


def test_a_problem_list_without_a_mental_health_code_is_not_a_mental_health_diagnosis() -> None:
    got = _molina_dx(_recode([(WHO_ICD10, "F32.1")]))
    assert got["status"] != "met", got["reason"]


OPTUM_AT = "2025-03-03T09:30:00-05:00"  # golden P3: Optum LOCG order-sign (tests/policies/optum_locg)
OPTUM_WITHDRAWAL = "optum-locg.admission.all.4-no-severe-withdrawal-dt-risk"


def _optum(criterion: str, *changes: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    case = SentenceCase(criterion, "met", "", from_golden("P3", *changes), "order-sign", OPTUM_AT, "optum-locg")
    return evaluate(case)[criterion]


def _code(resource_id: str, system: str, code: str) -> Callable[[dict[str, Any]], None]:
    def change(bundle: dict[str, Any]) -> None:
        by_id(bundle, resource_id)["code"] = {"coding": [{"system": system, "code": code}]}

    return change


@pytest.mark.parametrize(
    ("system", "code"),
    [(ICD, "F10.231"), (ICD, "f10231"), ("2.16.840.1.113883.6.90", "F10231"), (SCT, "8635005")],
    ids=["golden", "dotless-lowercase", "bare-oid", "snomed-alcohol-withdrawal-delirium"],
)
def test_a_withdrawal_delirium_diagnosis_is_a_safety_failure_however_it_is_coded(system: str, code: str) -> None:
    got = _optum(OPTUM_WITHDRAWAL, _code("P3-alcohol", system, code))
    assert got["status"] == "not-met", got["reason"]


def test_a_snomed_coded_bipolar_depression_is_in_the_policy_scope() -> None:
    got = _optum(
        "optum-locg.scope.mh-or-cooccurring",
        _code("P3-bipolar", SCT, "191627008"),
        _code("P3-alcohol", SCT, "44054006"),
    )
    assert got["status"] == "met", got["reason"]


# --- instruments: PHQ-9 and its teen variant are one instrument, and its scores reach the engine ---


def _instruments(mappings: Mappings) -> dict[str, ValueSet]:
    return {vs.name: vs for vs in mappings.valuesets.values() if vs.instrument}


def test_phq9_variants_are_one_instrument_and_other_instruments_are_not(mappings: Mappings) -> None:
    def of(code: str) -> str | None:
        return instrument_of(mappings.valuesets, [{"system": LOINC, "code": code}])

    assert of("44261-6") == of("89204-2") == "PHQ-9"
    assert of("70274-6") == "GAD-7"
    assert of("55758-7") is None  # PHQ-2 is another instrument, not in the mappings
    assert mappings.valuesets["PHQ9-TOTAL"].contains(LOINC, "89204-2")
    assert {"PHQ9-TOTAL", "GAD7-TOTAL"} <= set(_instruments(mappings))


def test_every_instrument_code_is_asked_for_by_the_observations_prefetch(mappings: Mappings) -> None:
    loinc = {
        code
        for vs in _instruments(mappings).values()
        for rule in vs.rules
        if normalise_system(LOINC) in rule.systems
        for code in rule.codes
    }
    assert "89204-2" in loinc
    assert loinc <= set(SCREENING_LOINC)
    for service in SERVICES.values():
        assert f"{LOINC}|89204-2" in service.prefetch["observations"]


def test_a_synthea_phq9_score_reaches_the_score_rules(mappings: Mappings) -> None:
    rule = {"latest": {"of": "symptom-scores", "value": "observation.value", "op": ">=", "than": 10}}
    assert run(mappings, rule, [score("o1", "89204-2", 17, "2025-03-01T10:00:00Z")]).value is True
    assert run(mappings, rule, [score("o1", "89204-2", 4, "2025-03-01T10:00:00Z")]).value is False


# --- every ICD-10-CM code in mappings/ exists in the ICD-10-CM code set ---


def _icd10cm_rules(mappings: Mappings) -> list[tuple[str, Any]]:
    icd = normalise_system(ICD)
    return [(vs.name, rule) for vs in mappings.valuesets.values() for rule in vs.rules if icd in rule.systems]


def test_every_icd10cm_code_range_and_pattern_in_the_mappings_exists(mappings: Mappings) -> None:
    every_code = icd10cm.get_all_codes(with_dots=False)
    problems: list[str] = []
    for name, rule in _icd10cm_rules(mappings):
        for code in rule.codes | rule.exclude_codes:
            if not icd10cm.is_valid_item(code):
                problems.append(f"{name}: code {code} is not an ICD-10-CM code")
            elif not icd10cm.is_leaf(code):
                problems.append(f"{name}: code {code} has subcodes; records carry those (use a prefix)")
        for prefix in rule.prefixes + rule.exclude_prefixes:
            chapter_letter = len(prefix) == 1 and any(c.startswith(prefix) for c in every_code)
            if not (icd10cm.is_valid_item(prefix) or chapter_letter):
                problems.append(f"{name}: prefix {prefix} is not an ICD-10-CM category")
        for low, high in rule.ranges:
            problems += [
                f"{name}: range end {c} is not an ICD-10-CM code" for c in (low, high) if not icd10cm.is_valid_item(c)
            ]
        for pattern in rule.patterns + rule.exclude_patterns:
            if not any(fnmatchcase(c, pattern) for c in every_code):
                problems.append(f"{name}: pattern {pattern} matches no ICD-10-CM code")
    assert not problems, "\n".join(sorted(set(problems)))
    assert len(_icd10cm_rules(mappings)) > 30


@pytest.mark.parametrize(
    ("code", "modality"),
    [
        ("75516001", "VS-THER-INDIVIDUAL"),  # psychotherapy
        ("18512000", "VS-THER-INDIVIDUAL"),  # individual psychotherapy
        ("76168009", "VS-THER-GROUP"),  # group psychotherapy
        ("108313002", "VS-THER-FAMILY"),  # family psychotherapy procedure
    ],
)
def test_snomed_psychotherapy_codes_are_therapy_of_their_modality(mappings: Mappings, code: str, modality: str) -> None:
    """A session coded in SNOMED CT only is psychotherapy of its modality, and of no other."""
    vs = mappings.valuesets
    assert vs["VS-THER"].contains(SCT, code) and vs[modality].contains(SCT, code)
    others = {"VS-THER-INDIVIDUAL", "VS-THER-GROUP", "VS-THER-FAMILY"} - {modality}
    assert not any(vs[other].contains(SCT, code) for other in others)
    assert not vs["VS-THER"].contains(SCT, "390906007")  # follow-up encounter: a visit, not a therapy
