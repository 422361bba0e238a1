"""Every coverage-information extension the service builds validates against the CRD 2.2.1 StructureDefinition.

The profile and its bound value sets are fixtures (tests/fixtures/crd, see the README there). No maintained Python
package validates an instance against a FHIR profile offline (fhir.resources checks base R4 datatypes only), so the
validator below reads the StructureDefinition's differential: sub-extension slices, cardinalities, value[x] types,
fixed urls and bindings, plus the nine crd-ci invariants, written out in Python next to their FHIRPath.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import call_hook, load_fixture
from golden_calls import GOLDEN_CALLS

from cds_service.cards.coverage_info import EXT_COVERAGE_INFORMATION, coverage_information, detail
from cds_service.record.hook_requests import build_hook_request

CRD = Path(__file__).resolve().parents[1] / "fixtures" / "crd"
POLICIES = ("medica", "optum-locg", "molina", "cca", "bh803")
# value[x] type → the JSON property suffix and a check of the JSON value's shape (FHIR R4 JSON representation).
PRIMITIVES = {
    "code": lambda v: isinstance(v, str) and re.fullmatch(r"[^\s]+(\s[^\s]+)*", v) is not None,
    "string": lambda v: isinstance(v, str) and v != "",
    "date": lambda v: isinstance(v, str) and re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", v) is not None,
    "boolean": lambda v: isinstance(v, bool),
    "url": lambda v: isinstance(v, str) and re.fullmatch(r"\S+", v) is not None,
    "canonical": lambda v: isinstance(v, str) and re.fullmatch(r"\S+", v) is not None,
}


@dataclass
class Slice:
    """One sub-extension of the profile: cardinality, allowed value types, binding, and nested slices."""

    name: str
    min: int
    max: str
    types: list[dict[str, Any]] = field(default_factory=list)
    binding: dict[str, Any] | None = None
    children: dict[str, Slice] = field(default_factory=dict)


def load_profile() -> tuple[dict[str, Any], dict[str, Slice]]:
    """The StructureDefinition and its top-level slices (with ``detail``'s nested ones) from the differential."""
    sd = json.loads((CRD / "StructureDefinition-ext-coverage-information.json").read_text())
    elements = {e["id"]: e for e in sd["differential"]["element"]}

    def slices_under(prefix: str) -> dict[str, Slice]:
        found: dict[str, Slice] = {}
        pattern = re.compile(re.escape(prefix) + r"\.extension:([^.:]+)$")
        for eid, element in elements.items():
            match = pattern.match(eid)
            if not match:
                continue
            name = match.group(1)
            assert elements[f"{eid}.url"]["fixedUri"] == name
            value = elements[f"{eid}.value[x]"]
            item = Slice(name, element["min"], element["max"])
            if value.get("max") == "0":
                item.children = slices_under(eid)
            else:
                item.types, item.binding = value["type"], value.get("binding")
            found[name] = item
        return found

    return sd, slices_under("Extension")


def load_valuesets() -> dict[str, set[tuple[str, str]]]:
    """Canonical URL → the (system, code) pairs of its expansion, and (system, code) → display."""
    bundle = json.loads((CRD / "valuesets-coverage-information.json").read_text())
    return {
        e["resource"]["url"]: {(c["system"], c["code"]) for c in e["resource"]["expansion"]["contains"]}
        for e in bundle["entry"]
    }


def load_displays() -> dict[tuple[str, str], str]:
    bundle = json.loads((CRD / "valuesets-coverage-information.json").read_text())
    return {
        (c["system"], c["code"]): c["display"]
        for e in bundle["entry"]
        for c in e["resource"]["expansion"]["contains"]
        if c.get("display")
    }


SD, SLICES = load_profile()
VALUESETS = load_valuesets()
DISPLAYS = load_displays()


def codes_of(valueset: str) -> set[str]:
    return {code for _system, code in VALUESETS[valueset]}


def check_value(where: str, item: Slice, part: dict[str, Any]) -> list[str]:
    """Problems of one leaf sub-extension's value[x]: exactly one value, an allowed type, its binding."""
    values = [k for k in part if k.startswith("value")]
    if len(values) != 1:
        return [f"{where}: needs exactly one value[x], has {values or 'none'}"]
    key = values[0]
    allowed = {t["code"]: t for t in item.types}
    kind = next((t for t in allowed if key == "value" + t[0].upper() + t[1:]), None)
    if kind is None:
        return [f"{where}: {key} is not one of value[x] {sorted(allowed)}"]
    value = part[key]
    problems = []
    if kind in PRIMITIVES and not PRIMITIVES[kind](value):
        problems.append(f"{where}: {key} {value!r} is not a valid {kind}")
    if kind == "Reference":
        if not isinstance(value, dict) or not ({"reference", "identifier", "display"} & set(value)):
            problems.append(f"{where}: {key} is not a Reference")
        elif "reference" in value:
            targets = {p.rsplit("/profile-", 1)[-1].split("-")[0] for p in allowed["Reference"]["targetProfile"]}
            resource_type = str(value["reference"]).split("/")[0].lower()
            if resource_type not in targets:
                problems.append(f"{where}: reference {value['reference']!r} is not to one of {sorted(targets)}")
    binding = item.binding
    if binding and binding["strength"] == "required":
        if kind == "code" and value not in codes_of(binding["valueSet"]):
            problems.append(f"{where}: code {value!r} not in required {binding['valueSet']}")
    if binding and binding["strength"] == "extensible" and kind == "CodeableConcept":
        codings = value.get("coding", [])
        bound = [c for c in codings if (c.get("system"), c.get("code")) in VALUESETS[binding["valueSet"]]]
        if not bound and not value.get("text"):
            problems.append(f"{where}: no coding from extensible {binding['valueSet']} and no text")
    if kind == "CodeableConcept":
        for coding in value.get("coding", []):
            known = DISPLAYS.get((coding.get("system"), coding.get("code")))
            if known is not None and coding.get("display") not in (None, known):
                problems.append(f"{where}: display {coding.get('display')!r} of {coding['code']} is not {known!r}")
    return problems


def check_slices(where: str, slices: dict[str, Slice], parts: Any) -> list[str]:
    """Problems of a list of sub-extensions against the slices: known urls, cardinalities, values, nesting."""
    if not isinstance(parts, list) or not parts:
        return [f"{where}: extension must be a non-empty array"]
    problems = []
    for part in parts:
        url = part.get("url") if isinstance(part, dict) else None
        if url not in slices:
            problems.append(f"{where}: sub-extension url {url!r} is not one of the profile's slices")
            continue
        item = slices[url]
        if item.children:
            if any(k.startswith("value") for k in part):
                problems.append(f"{where}.{url}: a complex sub-extension has no value[x]")
            problems += check_slices(f"{where}.{url}", item.children, part.get("extension"))
        else:
            if "extension" in part:
                problems.append(f"{where}.{url}: a simple sub-extension has no nested extension")
            problems += check_value(f"{where}.{url}", item, part)
    for name, item in slices.items():
        count = sum(1 for p in parts if isinstance(p, dict) and p.get("url") == name)
        if count < item.min or (item.max != "*" and count > int(item.max)):
            problems.append(f"{where}: {count} {name!r} sub-extension(s), profile allows {item.min}..{item.max}")
    return problems


def values(information: dict[str, Any], url: str) -> list[Any]:
    """The value[x] of every sub-extension with ``url``."""
    return [next(v for k, v in p.items() if k.startswith("value")) for p in information["extension"] if p["url"] == url]


def check_invariants(information: dict[str, Any]) -> list[str]:
    """The profile's crd-ci-q1..q9 (error severity), each the Python reading of the FHIRPath in the SD."""
    covered, pa = values(information, "covered"), values(information, "pa-needed")
    doc, purpose, info = (
        values(information, "doc-needed"),
        values(information, "doc-purpose"),
        values(information, "info-needed"),
    )
    reasons = values(information, "reason")
    reason_set = VALUESETS["http://hl7.org/fhir/us/davinci-crd/ValueSet/coverageAssertionReasons"]
    checks = {
        "crd-ci-q1": not values(information, "questionnaire") or bool(doc),
        "crd-ci-q2": "not-covered" not in covered or not pa,
        "crd-ci-q3": "conditional" not in covered + pa + doc or bool(info),
        "crd-ci-q4": not ({"satisfied", "noauth", "not-covered"} & set(pa)) or "withpa" not in purpose,
        "crd-ci-q5": ("satisfied" in pa) == bool(values(information, "satisfied-pa-id")),
        "crd-ci-q6": "OTH" not in info or bool(reasons),
        "crd-ci-q7": not reasons
        or any(r.get("text") for r in reasons)
        or all(any((c.get("system"), c.get("code")) in reason_set for c in r.get("coding", [])) for r in reasons),
        "crd-ci-q8": all(p == "conditional" for p in purpose) or bool(reasons),
        "crd-ci-q9": "indeterminate" not in covered + pa + doc or bool(reasons),
    }
    declared = {c["key"] for c in SD["differential"]["element"][0]["constraint"] if c["severity"] == "error"}
    assert declared == set(checks), "the SD's invariants and the checks here must be the same nine"
    return [f"{key} violated: {SD_HUMAN[key]}" for key, ok in checks.items() if not ok]


SD_HUMAN = {c["key"]: c["human"] for c in SD["differential"]["element"][0]["constraint"]}


def validate(information: dict[str, Any], resource_type: str) -> list[str]:
    """Every problem of one coverage-information extension on a resource of ``resource_type``."""
    problems = []
    if information.get("url") != SD["url"]:
        problems.append(f"url {information.get('url')!r} is not {SD['url']}")
    if any(k.startswith("value") for k in information):
        problems.append("the extension itself has no value[x]")
    if resource_type not in {c["expression"] for c in SD["context"]}:
        problems.append(f"{resource_type} is not a context of the extension")
    problems += check_slices("coverage-information", SLICES, information.get("extension"))
    return problems or check_invariants(information)


def extensions_in(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(resource type, coverage-information extension) for every one in the response's systemActions."""
    return [
        (action["resource"]["resourceType"], extension)
        for action in body.get("systemActions", [])
        for extension in action["resource"].get("extension", [])
        if extension.get("url") == EXT_COVERAGE_INFORMATION
    ]


# --- the validator itself catches what CRD forbids ---------------------------------------------------------

VALID = {
    "url": EXT_COVERAGE_INFORMATION,
    "extension": [
        {"url": "coverage", "valueReference": {"reference": "Coverage/c1"}},
        {"url": "covered", "valueCode": "covered"},
        {"url": "date", "valueDate": "2025-03-03"},
        {"url": "coverage-assertion-id", "valueString": "abc"},
    ],
}


def altered(change: Any) -> dict[str, Any]:
    information = copy.deepcopy(VALID)
    change(information["extension"])
    return information


@pytest.mark.parametrize(
    ("information", "problem"),
    [
        (altered(lambda p: p.pop(2)), "0 'date' sub-extension"),
        (altered(lambda p: p.append({"url": "covered", "valueCode": "covered"})), "2 'covered'"),
        (altered(lambda p: p[1].update(valueCode="yes")), "not in required"),
        (altered(lambda p: p[1].pop("valueCode") and p[1].update(valueString="covered")), "valueString is not one of"),
        (altered(lambda p: p.append({"url": "comment", "valueString": "x"})), "'comment' is not one of"),
        (altered(lambda p: p[0].update(valueReference={"reference": "Patient/1"})), "is not to one of"),
        (
            altered(lambda p: p.append({"url": "detail", "extension": [{"url": "category", "valueString": "x"}]})),
            "valueString is not one of",
        ),
        (altered(lambda p: p.append(detail("policy-link", "https://x")) or p[-1]["extension"].pop(0)), "0 'category'"),
        (altered(lambda p: p[1].update(valueCode="indeterminate")), "crd-ci-q9"),
        (altered(lambda p: p[1].update(valueCode="conditional")), "crd-ci-q3"),
    ],
)
def test_the_validator_rejects_what_the_profile_forbids(information: dict[str, Any], problem: str) -> None:
    assert any(problem in p for p in validate(information, "ServiceRequest")), validate(information, "ServiceRequest")


def test_the_validator_accepts_a_minimal_valid_extension() -> None:
    assert validate(VALID, "ServiceRequest") == []
    assert validate(VALID, "Encounter") == []
    assert validate(VALID, "Patient") == ["Patient is not a context of the extension"]


# --- what the service builds -------------------------------------------------------------------------------


def test_every_shape_the_builder_makes_is_valid() -> None:
    from datetime import UTC, datetime

    now = datetime(2025, 3, 3, 15, tzinfo=UTC)
    link = detail("policy-link", "https://payer.example/policy")
    shapes = [
        coverage_information(coverage_ref="Coverage/c1", covered="covered", date=now, details=[link]),
        coverage_information(
            coverage_ref="Coverage/c1",
            covered="conditional",
            date=now,
            reason_text="2 requirement(s) need documentation",
            doc_needed=["clinical"],
            info_needed=["OTH"],
            details=[link],
        ),
        coverage_information(
            coverage_ref="Coverage/c1",
            covered="indeterminate",
            date=now,
            reason="technical",
            reason_text="Some data could not be read.",
        ),
        coverage_information(
            coverage_ref="Coverage/c1",
            covered="not-covered",
            date=now,
            reason="no-active-coverage",
            reason_text="The patient's Coverage on file is not active.",
            details=[link],
        ),
    ]
    for information in shapes:
        assert validate(information, "ServiceRequest") == []


@pytest.mark.parametrize("name", sorted(GOLDEN_CALLS))
def test_every_extension_for_the_golden_patients_validates_under_every_policy(client: Any, name: str) -> None:
    hook, at, _policy, encounter = GOLDEN_CALLS[name]
    bundle = load_fixture(f"golden/{name}.json")
    seen = 0
    for policies in [None, *([p] for p in POLICIES)]:
        request = build_hook_request(bundle, hook, at=at, encounter_id=encounter, policies=policies)
        variants = [request]
        if hook == "order-sign":
            without_coverage = copy.deepcopy(request)
            without_coverage["prefetch"]["coverage"] = {"resourceType": "Bundle", "type": "searchset", "entry": []}
            lapsed = copy.deepcopy(request)
            for entry in lapsed["prefetch"]["coverage"]["entry"]:
                entry["resource"]["status"] = "cancelled"
            unreadable = copy.deepcopy(request)
            unreadable["prefetch"]["conditions"] = {"resourceType": "OperationOutcome", "issue": [{"code": "timeout"}]}
            variants += [without_coverage, lapsed, unreadable]
        for variant in variants:
            found = list(extensions_in(call_hook(client, variant)))
            if hook == "order-sign" and variant is not request and variant is not unreadable:
                covered = [p["valueCode"] for _t, i in found for p in i["extension"] if p["url"] == "covered"]
                assert covered == (["not-covered"] if variant is lapsed else []), (name, policies, covered)
            for resource_type, information in found:
                seen += 1
                assert validate(information, resource_type) == [], (name, policies, information)
    if hook == "order-sign":
        assert seen >= 3 * (1 + len(POLICIES))  # one per order-sign answer with a Coverage on file
