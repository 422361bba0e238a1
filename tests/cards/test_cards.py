"""Cards and coverage information: indicators, ordering, limits, CRD configuration, suggestions, links, gaps."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_inferno_checks

from cds_service.cards.builder import card_options
from cds_service.cards.templates import CardTemplateError, load_templates, shorten
from cds_service.config import PROJECT_ROOT, Settings
from cds_service.engine.mapping import load_mappings
from cds_service.hooks.app import create_app
from cds_service.record.hook_requests import build_hook_request

HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
LOINC = "http://loinc.org"
AT = "2025-03-03T10:00:00Z"

CARD_POLICY = """
policy: cardtest
title: Card Test Policy
payer: Card Test Health Plan
url: https://payer.example/iop-policy
tree:
  id: cardtest
  all-of:
    - id: cardtest.risk
      text: No imminent risk of harm to self or others.
      citation: "#1"
      phase: [A]
      tier: safety
      not-met-if: {exists: cssrs-imminent-7d}
      met-if: {exists: cssrs-7d}
    - id: cardtest.dx
      text: A mental-health diagnosis.
      citation: "#2"
      phase: [A]
      tier: eligibility
      closed-world: true
      duty: true  # issue 15: only a duty whose deadline has passed is not-met when nothing is found
      due: {from: now, hours: 0}
      met-if: {exists: cardtest.dx-in-force}
    - id: cardtest.plan
      text: A crisis plan exists.
      citation: "#3"
      phase: [A]
      closed-world: true
      duty: true
      due: {from: now, hours: 0}
      suggest: crisis-plan
      met-if: {exists: crisis-plans}
    - id: cardtest.judgement
      text: The member can engage in treatment.
      citation: "#4"
      phase: [A]
      attestation: true
    - id: cardtest.site
      text: The program is licensed.
      citation: "#5"
      phase: [A]
      tier: program
      attestation: true
"""


@pytest.fixture(scope="module")
def mappings_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mappings")
    for name in ("valuesets.yaml", "facts.yaml"):
        shutil.copy(PROJECT_ROOT / "mappings" / name, folder / name)
    (folder / "facts").mkdir()
    # a duty reads a state in force (check-mappings rejects an unbound one): the diagnosis current at the order
    (folder / "facts" / "cardtest.yaml").write_text(
        "selections:\n  cardtest.dx-in-force:\n    label: active mental-health diagnosis\n"
        "    from: mh-conditions\n    time: condition.onset\n    current: true\n"
    )
    (folder / "policies").mkdir()
    (folder / "policies" / "cardtest.yaml").write_text(CARD_POLICY)
    (folder / "payers.yaml").write_text("routes: []\ndefault: [cardtest]\n")
    return folder


@pytest.fixture
def card_client(mappings_dir: Path, tmp_path: Path) -> Any:
    settings = Settings(
        auth=False,
        mappings_dir=str(mappings_dir),
        feedback_db=str(tmp_path / "f.sqlite3"),
        replay_db=str(tmp_path / "r.sqlite3"),
    )
    return create_app(settings).test_client()


def order(oid: str = "o1") -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "id": oid,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": HCPCS, "code": "S9480"}]},
        "occurrencePeriod": {"start": "2025-03-05"},
    }


COVERAGE = {
    "resourceType": "Coverage",
    "id": "cov1",
    "status": "active",
    "beneficiary": {"reference": "Patient/p1"},
    "payor": [{"display": "Card Test Health Plan"}],
}
IMMINENT = {
    "resourceType": "Observation",
    "id": "cssrs1",
    "status": "final",
    "subject": {"reference": "Patient/p1"},
    "code": {"coding": [{"system": LOINC, "code": "93249-1"}]},
    "effectiveDateTime": "2025-03-02T10:00:00Z",
    "valueCodeableConcept": {"coding": [{"system": LOINC, "code": "LA33-6", "display": "Yes"}]},
}


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    patient = {"resourceType": "Patient", "id": "p1", "birthDate": "1980-01-01"}
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in (patient, *resources)]}


def post(client: Any, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/cds-services/iop-order-sign", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_critical_safety_card_comes_first_with_a_higher_level_of_care_suggestion(card_client: Any) -> None:
    result = post(card_client, build_hook_request(bundle(COVERAGE, IMMINENT, order()), "order-sign", at=AT))
    assert_inferno_checks(result, "order-sign")
    # issue 12: one card per finding; the safety finding is not repeated on the (warning) summary card
    assert [c["indicator"] for c in result["cards"]] == ["critical", "warning", "info"]
    critical = result["cards"][0]
    assert "LOINC 93249-1 Yes" in critical["detail"]
    assert re.search(r"2025-03-0[12] \d{2}:\d{2} [+-]\d{2}:\d{2}", critical["detail"])  # times carry offsets
    assert "cardtest.risk" not in critical["detail"] and "Observation/cssrs1" not in critical["detail"]
    assert critical["suggestions"][0]["actions"][0]["resource"]["intent"] == "proposal"
    assert any(r["code"] == "risk-reassessed-iop-appropriate" for r in critical["overrideReasons"])


def test_unmet_card_lists_each_requirement_and_suggests_what_is_missing(card_client: Any) -> None:
    result = post(card_client, build_hook_request(bundle(COVERAGE, order()), "order-sign", at=AT))
    unmet = next(c for c in result["cards"] if "not met" in c["summary"])
    assert "A mental-health diagnosis." in unmet["detail"] and "A crisis plan exists." in unmet["detail"]
    assert "#2" in unmet["detail"] and "cardtest." not in unmet["detail"]
    (suggestion,) = unmet["suggestions"]
    created = suggestion["actions"][0]["resource"]
    assert created["resourceType"] == "CarePlan" and created["status"] == "draft"
    assert created["subject"] == {"reference": "Patient/p1"}
    assert unmet["selectionBehavior"] == "any"


def test_documentation_card_links_the_attestation_app_and_the_policy(card_client: Any) -> None:
    result = post(card_client, build_hook_request(bundle(COVERAGE, order()), "order-sign", at=AT))
    info = next(c for c in result["cards"] if c["indicator"] == "info")
    smart = next(link for link in info["links"] if link["type"] == "smart")
    context = json.loads(smart["appContext"])
    # Da Vinci DTR's launch context (questionnaire canonical, the draft order's JSON) plus the service's own member.
    assert context["questionnaire"][0].split("|")[0].endswith("/fhir/Questionnaire/iop-cds-cardtest-admission")
    assert [json.loads(o)["id"] for o in context["order"]] == ["o1"]
    assert context["iop-cds"]["policy"] == "cardtest" and context["iop-cds"]["phase"] == "admission"
    assert set(context["iop-cds"]["criteria"]) == {"cardtest.risk", "cardtest.judgement"}  # never the program row
    assert smart["url"].endswith("/attest/launch")
    assert any(
        link["type"] == "absolute" and link["url"] == "https://payer.example/iop-policy" for link in info["links"]
    )


def test_coverage_information_is_conditional_and_asks_for_clinical_documentation(card_client: Any) -> None:
    result = post(card_client, build_hook_request(bundle(COVERAGE, order()), "order-sign", at=AT))
    (action,) = result["systemActions"]
    assert action["type"] == "update" and action["resource"]["id"] == "o1"
    info = action["resource"]["extension"][-1]["extension"]
    values = {p["url"]: next(v for k, v in p.items() if k.startswith("value")) for p in info if p["url"] != "detail"}
    assert values["covered"] == "conditional" and values["doc-needed"] == "clinical"
    assert values["coverage"] == {"reference": "Coverage/cov1"}


def test_max_cards_and_card_type_switches_from_the_crd_configuration(card_client: Any) -> None:
    body = build_hook_request(bundle(COVERAGE, IMMINENT, order()), "order-sign", at=AT)
    body["extension"]["davinci-crd.configuration"] = {"max-cards": 1}
    assert [c["indicator"] for c in post(card_client, body)["cards"]] == ["critical"]
    body["extension"]["davinci-crd.configuration"] = {"guideline": False, "clinical-reminder": False, "max-cards": "x"}
    # the summary only, a warning now that the safety finding is on its own (switched-off guideline) card
    assert [c["indicator"] for c in post(card_client, body)["cards"]] == ["warning"]


def test_without_coverage_nothing_is_asserted_and_an_info_card_says_why(card_client: Any) -> None:
    # CRD: "If no coverage instance is available, the coverage-information extension cannot be returned."
    result = post(card_client, build_hook_request(bundle(order()), "order-sign", at=AT))
    assert "systemActions" not in result
    (card,) = [c for c in result["cards"] if "No active coverage" in c["summary"]]
    assert card["indicator"] == "info"
    assert "No coverage information is recorded on the IOP order" in card["detail"]
    assert_inferno_checks(result, "order-sign", coverage_expected=False)


def test_a_cancelled_coverage_makes_the_order_not_covered_and_points_to_it(card_client: Any) -> None:
    # CRD resp-45: resolved patient, no active coverage -> not-covered, no-active-coverage ("found but not in force")
    lapsed = {**COVERAGE, "status": "cancelled"}
    result = post(card_client, build_hook_request(bundle(lapsed, order()), "order-sign", at=AT))
    (action,) = result["systemActions"]
    info = action["resource"]["extension"][-1]["extension"]
    values = {p["url"]: next(v for k, v in p.items() if k.startswith("value")) for p in info if p["url"] != "detail"}
    assert values["covered"] == "not-covered" and "pa-needed" not in values and "doc-needed" not in values
    assert values["coverage"] == {"reference": "Coverage/cov1"}
    assert values["reason"]["coding"][0]["code"] == "no-active-coverage"
    (card,) = [c for c in result["cards"] if "No active coverage" in c["summary"]]
    assert "The IOP order is recorded as not covered" in card["detail"]
    assert_inferno_checks(result, "order-sign")


def test_a_coverage_entered_in_error_is_no_coverage(card_client: Any) -> None:
    wrong = {**COVERAGE, "status": "entered-in-error"}
    result = post(card_client, build_hook_request(bundle(wrong, order()), "order-sign", at=AT))
    assert "systemActions" not in result
    assert any("No active coverage" in c["summary"] for c in result["cards"])


def test_an_unreadable_coverage_query_is_a_gap_not_a_missing_coverage(card_client: Any) -> None:
    body = build_hook_request(bundle(COVERAGE, order()), "order-sign", at=AT)
    body["prefetch"]["coverage"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout"}],
    }
    result = post(card_client, body)
    summaries = [c["summary"] for c in result["cards"]]
    assert any("coverage could not be read" in s for s in summaries)
    assert not any("No active coverage" in s for s in summaries)  # the two would contradict each other
    assert "systemActions" not in result  # no Coverage to point coverage information to


def test_another_payers_coverage_information_on_the_order_is_kept(card_client: Any) -> None:
    theirs = {
        "url": "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information",
        "extension": [
            {"url": "coverage", "valueReference": {"reference": "Coverage/secondary"}},
            {"url": "covered", "valueCode": "covered"},
        ],
    }
    draft = {**order(), "extension": [theirs]}
    result = post(card_client, build_hook_request(bundle(COVERAGE, draft), "order-sign", at=AT))
    extensions = result["systemActions"][0]["resource"]["extension"]
    assert theirs in extensions and len(extensions) == 2


def test_several_orders_each_card_names_its_order(card_client: Any) -> None:
    result = post(card_client, build_hook_request(bundle(COVERAGE, order("o1"), order("o2")), "order-sign", at=AT))
    named = {c["extension"]["davinci-crd.associated-resource"][0] for c in result["cards"] if "extension" in c}
    assert named == {"ServiceRequest/o1", "ServiceRequest/o2"}
    assert {a["resource"]["id"] for a in result["systemActions"]} == {"o1", "o2"}


def test_unreadable_data_gives_an_incomplete_card_and_indeterminate_coverage(card_client: Any) -> None:
    body = build_hook_request(bundle(COVERAGE, order()), "order-sign", at=AT)
    body["prefetch"]["conditions"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout"}],
    }
    result = post(card_client, body)
    (incomplete,) = [c for c in result["cards"] if "incomplete" in c["summary"]]
    assert incomplete["summary"] == "IOP evaluation incomplete: diagnoses could not be read"
    assert (
        "- The patient's diagnoses (Condition) could not be read: the EHR could not run this query: timeout"
        in (incomplete["detail"])
    )
    assert "`" not in incomplete["detail"] and "conditions" not in incomplete["detail"]
    info = result["systemActions"][0]["resource"]["extension"][-1]["extension"]
    assert {"url": "covered", "valueCode": "indeterminate"} in info
    statuses = {c["id"]: c["status"] for e in result["extension"]["iop-cds.evaluations"] for c in e["criteria"]}
    assert statuses["cardtest.dx"] == "unknown"  # no diagnosis found, but the conditions could not be read
    reason = next(p for p in info if p["url"] == "reason")
    assert reason["valueCodeableConcept"]["coding"][0]["code"] == "technical"


def test_summaries_are_cut_at_a_word_under_140_characters() -> None:
    text = "word " * 60
    assert len(shorten(text)) <= 139 and shorten(text).endswith("…")
    assert shorten("short") == "short"


def test_card_options_ignore_nonsense() -> None:
    assert card_options({"max-cards": -1, "guideline": "no"}, 10) == (
        {"guideline": True, "coverage-info": True, "clinical-reminder": True},
        10,
    )
    assert card_options(None, 3)[1] == 3


def test_a_policy_naming_an_unknown_suggestion_fails_at_start_up(mappings_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    shutil.copytree(mappings_dir, folder)
    policy = folder / "policies" / "cardtest.yaml"
    policy.write_text(policy.read_text().replace("suggest: crisis-plan", "suggest: teleport"))
    with pytest.raises(CardTemplateError, match="cardtest.plan: unknown suggestion 'teleport'"):
        load_templates(PROJECT_ROOT / "cards", load_mappings(folder))


def test_a_program_attestation_settles_program_criteria_without_any_card(mappings_dir: Path, tmp_path: Path) -> None:
    attestations = tmp_path / "program.yaml"
    attestations.write_text("program: Test IOP\nexpires: 2099-01-01\ncriteria:\n  cardtest.site: true\n")
    settings = Settings(
        auth=False,
        mappings_dir=str(mappings_dir),
        program_attestations_file=str(attestations),
        feedback_db=str(tmp_path / "f.sqlite3"),
        replay_db=str(tmp_path / "r.sqlite3"),
    )
    client = create_app(settings).test_client()
    result = post(client, build_hook_request(bundle(COVERAGE, order()), "order-sign", at=AT))
    site = next(
        c for e in result["extension"]["iop-cds.evaluations"] for c in e["criteria"] if c["id"] == "cardtest.site"
    )
    assert site["status"] == "met" and "Test IOP" in site["reason"]
    assert all("cardtest.site" not in card.get("detail", "") for card in result["cards"])


def test_cards_carry_the_patients_payer_and_say_when_it_is_unknown(card_client: Any) -> None:
    covered = post(card_client, build_hook_request(bundle(COVERAGE, order()), "order-sign", at=AT))
    assert {c["source"]["label"] for c in covered["cards"]} == {"Card Test Health Plan"}
    # No Coverage: the default policy is applied, but its payer is not the patient's (CRD resp-4).
    unknown = post(card_client, build_hook_request(bundle(order()), "order-sign", at=AT))
    labels = {c["source"]["label"] for c in unknown["cards"] if "requirements service" not in c["source"]["label"]}
    assert labels == {"Payer not identified"}


def test_a_patient_without_a_known_payer_never_gets_cards_in_the_policys_payer_name(card_client: Any) -> None:
    result = post(card_client, build_hook_request(bundle(IMMINENT, order()), "order-sign", at=AT))
    policy_cards = [c for c in result["cards"] if "No active coverage" not in c["summary"]]
    assert policy_cards
    for card in policy_cards:  # issue 12: an unknown payer is said as such, in the label and in the summary
        assert "Card Test Health Plan" not in card["summary"] and "Card Test Health Plan" not in card["detail"]
        assert card["source"]["label"] == "Payer not identified"
    assert any(c["summary"].startswith("Payer not identified: ") for c in policy_cards)
