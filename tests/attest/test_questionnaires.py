"""Questionnaires from mappings: every attestable criterion an item (linkId = criterion id), valid FHIR R4, served."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.questionnaire import Questionnaire
from golden_calls import GOLDEN_CALLS

from cds_service.attest.questionnaires import QuestionnaireCatalogue, attestable_criteria, policy_quote
from cds_service.config import Settings
from cds_service.engine.mapping import Mappings
from cds_service.engine.outcome import Status
from cds_service.engine.policy import PHASES, Criterion
from cds_service.hooks.app import create_app
from cds_service.hooks.services import service_for_hook
from cds_service.record.hook_requests import build_hook_request

BASE = "https://cds.example.org"
GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden"


@pytest.fixture(scope="module")
def catalogue(mappings: Mappings) -> QuestionnaireCatalogue:
    return QuestionnaireCatalogue(Settings(public_base_url=BASE + "/"), mappings)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("questionnaires")
    settings = Settings(
        auth=False,
        public_base_url=BASE,
        feedback_db=str(tmp / "feedback.sqlite3"),
        replay_db=str(tmp / "replay.sqlite3"),
    )
    return create_app(settings).test_client()


def items_by_link(resource: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["linkId"]: item for item in resource["item"]}


def test_one_questionnaire_per_policy_and_phase_with_every_attestable_criterion(
    catalogue: QuestionnaireCatalogue, mappings: Mappings
) -> None:
    assert len(catalogue.entries) == len(mappings.policies) * len(PHASES)
    for key, policy in mappings.policies.items():
        for phase in PHASES:
            entry = catalogue.get(f"iop-cds-{key}-{phase}")
            assert entry is not None
            expected = [c.id for c in policy.criteria() if c.evaluated_in(phase) and c.tier != "program"]
            assert [i["linkId"] for i in entry.resource["item"]] == expected
            assert entry.resource["url"] == f"{BASE}/fhir/Questionnaire/iop-cds-{key}-{phase}"
            assert entry.resource["version"] == policy.version
            Questionnaire.model_validate(entry.resource)  # valid FHIR (fhir.resources' R4B model, as orders use)


def test_program_level_criteria_are_never_asked_of_a_clinician(
    catalogue: QuestionnaireCatalogue, mappings: Mappings
) -> None:
    program = {c.id for p in mappings.policies.values() for c in p.criteria() if c.tier == "program"}
    assert program, "the shipped policies have program-level criteria"
    asked = {i["linkId"] for e in catalogue.entries.values() for i in e.resource["item"]}
    assert not program & asked


def test_an_item_is_a_yes_no_question_with_its_citation_policy_quote_and_an_optional_comment(
    catalogue: QuestionnaireCatalogue,
) -> None:
    entry = catalogue.get("iop-cds-medica-admission")
    assert entry is not None
    item = items_by_link(entry.resource)["medica.adult-admission.7b-can-develop-supports"]
    assert item["type"] == "boolean" and item["text"].startswith("The skills to develop supports")
    extensions = {e["url"].rsplit("/", 1)[1]: e["valueString"] for e in item["extension"]}
    assert extensions["criterion-citation"].startswith("Adult Admission to Intensive Outpatient (IOP) Treatment #7")
    assert extensions["policy-quote"] == "The individual has the skills to develop supports"
    display, comment = item["item"]
    assert display["type"] == "display" and "#7" in display["text"]
    assert comment == {
        "linkId": "medica.adult-admission.7b-can-develop-supports.comment",
        "text": "Comment (optional)",
        "type": "text",
        "required": False,
    }


def test_the_policy_quote_is_the_quoted_part_of_a_citation() -> None:
    assert policy_quote("Description: “A multidisciplinary program”") == "A multidisciplinary program"
    assert policy_quote("Adult Admission #7") == ""


def test_every_criterion_left_unknown_in_a_golden_call_is_an_item_of_its_questionnaire(
    client: Any, catalogue: QuestionnaireCatalogue, mappings: Mappings
) -> None:
    seen = 0
    for name, (hook, at, policy, encounter) in GOLDEN_CALLS.items():
        bundle = json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
        body = build_hook_request(bundle, hook, at=at, policies=[policy], encounter_id=encounter)
        response = client.post(f"/cds-services/{service_for_hook(hook)}", json=body)
        assert response.status_code == 200
        for evaluation in response.get_json()["extension"]["iop-cds.evaluations"]:
            entry = catalogue.get(f"iop-cds-{evaluation['policy']}-{evaluation['phase']}")
            assert entry is not None
            nodes = mappings.policies[evaluation["policy"]].nodes
            for c in evaluation["criteria"]:
                node = nodes[c["id"]]
                if c["status"] == Status.UNKNOWN.value and isinstance(node, Criterion) and node.tier != "program":
                    seen += 1
                    assert entry.item(c["id"]) is not None, f"{name}: {c['id']} can stay unknown but is not asked"
    assert seen > 20


def test_a_questionnaire_is_read_by_id_as_fhir_json(client: Any) -> None:
    response = client.get("/fhir/Questionnaire/iop-cds-optum-locg-discharge")
    assert response.status_code == 200 and response.content_type == "application/fhir+json"
    resource = Questionnaire.model_validate(response.get_json())
    assert resource.url == f"{BASE}/fhir/Questionnaire/iop-cds-optum-locg-discharge"


def test_an_unknown_questionnaire_is_a_404_operation_outcome(client: Any) -> None:
    response = client.get("/fhir/Questionnaire/iop-cds-nobody-admission")
    assert response.status_code == 404
    outcome = OperationOutcome.model_validate(response.get_json())
    assert outcome.issue[0].code == "not-found" and "iop-cds-nobody-admission" in outcome.issue[0].diagnostics


@pytest.mark.parametrize(
    ("url", "found"),
    [
        (f"{BASE}/fhir/Questionnaire/iop-cds-cca-discharge", ["iop-cds-cca-discharge"]),
        (f"{BASE}/fhir/Questionnaire/iop-cds-optum-locg-admission|2021", ["iop-cds-optum-locg-admission"]),
        (f"{BASE}/fhir/Questionnaire/iop-cds-optum-locg-admission|2019", []),
        ("https://elsewhere.example/fhir/Questionnaire/iop-cds-cca-discharge", []),
    ],
)
def test_search_by_canonical_url_answers_a_searchset(client: Any, url: str, found: list[str]) -> None:
    response = client.get("/fhir/Questionnaire", query_string={"url": url})
    assert response.status_code == 200 and response.content_type == "application/fhir+json"
    bundle = response.get_json()
    Bundle.model_validate(bundle)
    assert bundle["type"] == "searchset" and bundle["total"] == len(found)
    assert [e["resource"]["id"] for e in bundle["entry"]] == found


def test_search_without_url_lists_every_questionnaire(client: Any, mappings: Mappings) -> None:
    bundle = client.get("/fhir/Questionnaire").get_json()
    assert bundle["total"] == len(mappings.policies) * len(PHASES)


def test_attestable_criteria_follow_the_phase(mappings: Mappings) -> None:
    medica = mappings.policies["medica"]
    admission = {c.id for c in attestable_criteria(medica, "admission")}
    discharge = {c.id for c in attestable_criteria(medica, "discharge")}
    assert "medica.adult-admission.7b-can-develop-supports" in admission
    assert "medica.adult-admission.7b-can-develop-supports" not in discharge


def test_any_browser_app_may_read_the_questionnaires(client: Any) -> None:
    response = client.get("/fhir/Questionnaire/iop-cds-cca-discharge", headers={"Origin": "https://dtr.example"})
    assert response.headers["Access-Control-Allow-Origin"] in {"*", "https://dtr.example"}
