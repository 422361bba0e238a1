"""The `attested` operator: a judgement branch of an OR that a clinician's attestation satisfies."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

import pytest

from cds_service.config import PROJECT_ROOT
from cds_service.engine.evaluator import evaluate
from cds_service.engine.mapping import Mappings, load_mappings
from cds_service.engine.outcome import Status
from cds_service.engine.selections import SpecError
from cds_service.record.patient_record import PatientRecord

POLICY = """
policy: test
title: Test policy
payer: Test Payer
url: https://payer.example/policy
tree:
  id: test
  all-of:
    - id: test.plan-or-evidence
      text: A treatment plan, or compelling evidence (judgement).
      citation: "#1"
      phase: [A]
      closed-world: true
      met-if: {any: [{exists: treatment-plans}, {attested: test.plan-or-evidence}]}
"""
NOW = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
ORDER = {
    "resourceType": "ServiceRequest",
    "id": "order",
    "status": "draft",
    "intent": "order",
    "code": {"coding": [{"system": "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "code": "S9480"}]},
}


@pytest.fixture(scope="module")
def mappings(tmp_path_factory: pytest.TempPathFactory) -> Mappings:
    folder = tmp_path_factory.mktemp("mappings")
    for name in ("valuesets.yaml", "facts.yaml"):
        shutil.copy(PROJECT_ROOT / "mappings" / name, folder / name)
    (folder / "policies").mkdir()
    (folder / "policies" / "test.yaml").write_text(POLICY)
    (folder / "payers.yaml").write_text("routes: []\ndefault: [test]\n")
    return load_mappings(folder)


def attestation(value: bool, authored: str = "2025-03-03T09:00:00Z") -> dict[str, object]:
    return {
        "resourceType": "QuestionnaireResponse",
        "id": "qr",
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "authored": authored,
        "item": [{"linkId": "test.plan-or-evidence", "answer": [{"valueBoolean": value}]}],
    }


def decide(
    mappings: Mappings, *resources: dict[str, object], unreadable: dict[str, tuple[str, ...]] | None = None
) -> tuple[Status, str]:
    record = PatientRecord([{"resourceType": "Patient", "id": "p1"}, *resources])
    [evaluation] = evaluate(
        mappings,
        record,
        hook="order-sign",
        now=NOW,
        policy_keys=["test"],
        orders=[ORDER],
        draft_orders=[ORDER],
        patient_id="p1",
        unreadable=unreadable,
    )
    result = evaluation.by_id("test.plan-or-evidence")
    assert result is not None
    return result.status, result.reason


def test_without_either_branch_a_closed_world_criterion_is_not_met(mappings: Mappings) -> None:
    status, reason = decide(mappings)
    assert status == Status.NOT_MET and "no clinician's attestation" in reason


def test_an_attestation_yes_satisfies_the_judgement_branch(mappings: Mappings) -> None:
    status, reason = decide(mappings, attestation(True))
    assert status == Status.MET and "attested yes" in reason


def test_an_attestation_no_leaves_it_not_met(mappings: Mappings) -> None:
    assert decide(mappings, attestation(False))[0] == Status.NOT_MET


def test_a_stale_attestation_does_not_count(mappings: Mappings) -> None:
    assert decide(mappings, attestation(True, authored="2025-02-01T09:00:00Z"))[0] == Status.NOT_MET


def test_attested_names_a_criterion_of_the_policy(tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("bad")
    for name in ("valuesets.yaml", "facts.yaml"):
        shutil.copy(PROJECT_ROOT / "mappings" / name, folder / name)
    (folder / "policies").mkdir()
    (folder / "policies" / "test.yaml").write_text(
        POLICY.replace("{attested: test.plan-or-evidence}", "{attested: x.y}")
    )
    (folder / "payers.yaml").write_text("routes: []\ndefault: [test]\n")
    with pytest.raises((SpecError, ValueError), match="attested"):
        load_mappings(folder)


def test_unreadable_attestations_leave_the_judgement_branch_open(mappings: Mappings) -> None:
    status, reason = decide(mappings, unreadable={"QuestionnaireResponse": ("attestations",)})
    assert status == Status.UNKNOWN and "could not be read: attestations" in reason
