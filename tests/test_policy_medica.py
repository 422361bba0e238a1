"""Medica MP9556: golden patients P1, P2 and P10 through HTTP, and variations for the gates and exclusions."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from conftest import assert_statuses, call_hook, golden, load_fixture, reported_statuses

from cds_service.hook_requests import build_hook_request

P1_AT = "2025-03-03T10:00:00-06:00"
P2_AT = "2025-03-03T14:00:00-06:00"
P10_AT = "2025-03-03T16:00:00-06:00"
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"


def test_p1_adult_admission_all_met_gives_no_card(client: Any) -> None:
    result = golden(client, "P1", "order-sign", P1_AT, policies=["medica"])
    statuses = reported_statuses(result)
    assert_statuses(
        statuses,
        {
            "met": [
                "medica.adult-admission.1-dx-moderate-severe",
                "medica.adult-admission.2a-impaired-daily-activities",
                "medica.adult-admission.2b-coping-insufficient",
                "medica.adult-admission.3-capable-of-engagement",
                "medica.adult-admission.4-community-living-no-24h",
                "medica.adult-admission.5-willing-to-engage",
                "medica.adult-admission.6-safety-plan",
                "medica.adult-admission.7-support-system",
                "medica.adult-admission.8-structure-needed",
                "medica.adult-admission.8d-high-readmission-risk",
                "medica.description.intensity-3d-9to19h",
            ],
            "not-applicable": ["medica.child.*", "medica.sud.*"],
        },
    )
    assert "unknown" not in statuses.values()
    # 8a1/8a2 fail, but 8d already meets the one-of group: no requirement is unmet.
    assert result["cards"] == []
    (action,) = result["systemActions"]
    covered = next(p for p in action["resource"]["extension"][-1]["extension"] if p["url"] == "covered")
    assert covered["valueCode"] == "covered"


def test_p2_not_met_and_unknown_are_grouped_into_three_cards(client: Any) -> None:
    result = golden(client, "P2", "order-sign", P2_AT, policies=["medica"])
    statuses = reported_statuses(result)
    assert_statuses(
        statuses,
        {
            "not-met": [
                "medica.adult-admission.1-dx-moderate-severe",
                "medica.adult-admission.4-community-living-no-24h",
                "medica.adult-admission.6-safety-plan",
                "medica.description.intensity-3d-9to19h",
                "medica.adult-admission.8a1-unstable-medical-comorbidity",
                "medica.adult-admission.8a2-concurrent-sud",
                "medica.adult-admission.8d-high-readmission-risk",
            ],
            "unknown": [
                "medica.adult-admission.2a-impaired-daily-activities",
                "medica.adult-admission.2b-coping-insufficient",
                "medica.adult-admission.3-capable-of-engagement",
                "medica.adult-admission.5-willing-to-engage",
                "medica.adult-admission.7-support-system",
                "medica.adult-admission.7a-family-support",
                "medica.adult-admission.7b-can-develop-supports",
                "medica.adult-admission.8-structure-needed",
                "medica.adult-admission.8a3-unstable-living",
                "medica.adult-admission.8b-lower-loc-insufficient",
                "medica.adult-admission.8a4-undermining-supports",
                "medica.adult-admission.8a5-lack-community-resources",
                "medica.adult-admission.8c-lower-loc-unavailable",
            ],
        },
    )
    indicators = [c["indicator"] for c in result["cards"]]
    assert indicators == ["critical", "critical", "info"]
    critical, summary, documentation = result["cards"]
    assert "24-hour" in critical["summary"] and critical["suggestions"]
    assert "medica.adult-admission.4-community-living-no-24h" in summary["detail"]
    assert "8a1" not in summary["detail"]  # a failed alternative of an undecided one-of group is not a requirement
    assert "6 IOP admission requirement(s) need documentation" in documentation["summary"]


P10_UNKNOWN = [
    "medica.adult-admission.1-dx-moderate-severe",
    "medica.adult-admission.2a-impaired-daily-activities",
    "medica.adult-admission.2b-coping-insufficient",
    "medica.adult-admission.3-capable-of-engagement",
    "medica.adult-admission.4-community-living-no-24h",
    "medica.adult-admission.5-willing-to-engage",
    "medica.adult-admission.7-support-system",
    "medica.adult-admission.8-structure-needed",
    "medica.child.2-facility-type",
    "medica.child.3-community-living",
    "medica.child.4-educational-needs",
    "medica.child.5-family-centered",
    "medica.description.intensity-3d-9to19h",
]


def test_p10_sparse_adolescent_record_gives_two_cards_with_13_items_to_document(client: Any) -> None:
    result = golden(client, "P10", "order-sign", P10_AT)  # routed to Medica by the Coverage
    statuses = reported_statuses(result)
    assert_statuses(
        statuses,
        {
            "not-met": ["medica.adult-admission.6-safety-plan", "medica.child.1-adult-criteria"],
            "unknown": P10_UNKNOWN,
            "met": ["medica.child.0-age-gate"],
            "not-applicable": ["medica.sud.*", "medica.nmn.*"],
        },
    )
    summary, documentation = result["cards"]
    assert summary["indicator"] == "warning" and documentation["indicator"] == "info"
    import json

    smart = next(link for link in documentation["links"] if link["type"] == "smart")
    assert sorted(json.loads(smart["appContext"])["criterionIds"]) == sorted(P10_UNKNOWN)


def _with(bundle: dict[str, Any], *resources: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(bundle)
    out["entry"] += [{"resource": r} for r in resources]
    return out


def test_a_hypnotherapy_order_signed_alongside_is_an_excluded_service(client: Any) -> None:
    hypnosis = {
        "resourceType": "ServiceRequest",
        "id": "P1-hypnosis",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/P1-patient"},
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "90880"}]},
    }
    body = build_hook_request(_with(load_fixture("golden/P1.json"), hypnosis), "order-sign", at=P1_AT)
    statuses = reported_statuses(call_hook(client, body))
    assert statuses["medica.nmn.5-hypnotherapy"] == "not-met"
    assert statuses["medica.nmn.1-biofeedback"] == "not-applicable"


def test_an_attested_exclusion_without_structured_signal_is_raised(client: Any) -> None:
    attestation = {
        "resourceType": "QuestionnaireResponse",
        "id": "P1-excl",
        "status": "completed",
        "subject": {"reference": "Patient/P1-patient"},
        "authored": "2025-03-03T09:30:00-06:00",
        "item": [{"linkId": "medica.nmn.8-long-term-maintenance", "answer": [{"valueBoolean": False}]}],
    }
    body = build_hook_request(_with(load_fixture("golden/P1.json"), attestation), "order-sign", at=P1_AT)
    assert reported_statuses(call_hook(client, body))["medica.nmn.8-long-term-maintenance"] == "not-met"


def test_an_h0015_order_opens_the_sud_section(client: Any) -> None:
    bundle = load_fixture("golden/P1.json")
    order = next(e["resource"] for e in bundle["entry"] if e["resource"]["id"] == "P1-order")
    order["code"]["coding"][0]["code"] = "H0015"
    statuses = reported_statuses(call_hook(client, build_hook_request(bundle, "order-sign", at=P1_AT)))
    assert statuses["medica.sud.0-gate"] == "met"
    assert statuses["medica.sud.5b-sud-symptomatology"] == "not-met"  # no substance use disorder on record
    assert statuses["medica.sud.1-adult-child-criteria"] == "met"


def test_p9a_sud_admission_in_illinois_with_an_excluded_hypnotherapy_order(client: Any) -> None:
    result = golden(client, "P9a", "order-sign", "2025-03-31T10:00:00-05:00")
    statuses = reported_statuses(result)
    assert_statuses(
        statuses,
        {
            "not-met": ["medica.nmn.5-hypnotherapy"],
            "unknown": ["medica.sud.3-mat-awareness"],
            "met": [
                "medica.sud.0-gate",
                "medica.sud.1-adult-child-criteria",
                "medica.sud.2-withdrawal-manageable",
                "medica.sud.4-active-use-contributor",
                "medica.sud.5b-sud-symptomatology",
                "medica.sud.6-psych-symptoms-relapse-risk",
                "medica.adult-admission.1-dx-moderate-severe",
                "medica.description.intensity-3d-9to19h",
            ],
        },
    )
    summary = next(c for c in result["cards"] if "not met" in c["summary"])
    assert "ServiceRequest/P9-hypnosis" in summary["detail"]


def test_p9b_illinois_continuation_replaces_section_4_with_asam(client: Any) -> None:
    result = golden(client, "P9b", "order-sign", "2025-04-21T10:00:00-05:00")
    statuses = reported_statuses(result)
    assert_statuses(
        statuses,
        {
            "unknown": [
                "medica.adult-continuation.1b-progressing-not-stable",
                "medica.adult-continuation.3-new-symptoms",
                "medica.sud.3-mat-awareness",
            ],
            "met": [
                "medica.adult-continuation.1a-measurable-improvement",
                "medica.state.il-asam-replaces-continuation-4",
                "medica.description.non-recreational-hours",
            ],
            "not-applicable": [
                "medica.adult-continuation.2-reassessment-plan-modified",
                "medica.adult-continuation.4*",
            ],
        },
    )
    assert "not-met" not in statuses.values()
    notice = next(c for c in result["cards"] if "Illinois" in c["summary"])
    assert notice["indicator"] == "info" and "medica.state.il-asam-replaces-continuation-4" in notice["detail"]


def test_outside_illinois_continuation_section_4_applies(client: Any) -> None:
    bundle = load_fixture("golden/P9b.json")
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    patient["address"] = [{"state": "MN"}]
    bundle["entry"].append(
        {
            "resource": {
                "resourceType": "ServiceRequest",
                "id": "P9-respite",
                "status": "active",
                "intent": "order",
                "subject": {"reference": "Patient/P9-patient"},
                "code": {"coding": [{"system": HCPCS, "code": "S5150"}]},
            }
        }
    )
    statuses = reported_statuses(
        call_hook(client, build_hook_request(bundle, "order-sign", at="2025-04-21T10:00:00-05:00"))
    )
    assert_statuses(
        statuses,
        {
            "not-met": [
                "medica.state.il-asam-replaces-continuation-4",
                "medica.adult-continuation.4b-not-social-custodial",
            ],
            "unknown": [
                "medica.adult-continuation.4a-family-involved",
                "medica.adult-continuation.4c-not-lack-of-supports",
                "medica.adult-continuation.4d-expected-improvement",
                "medica.adult-continuation.4e-not-bridging",
                "medica.adult-continuation.4f-not-preset-days",
            ],
        },
    )


EXCLUSIONS = [
    ("medica.nmn.2-custodial", "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "S5150", None),
    ("medica.nmn.4-halfway-house", "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "H2034", None),
    ("medica.nmn.10-phototherapy", "http://www.ama-assn.org/go/cpt", "96900", None),
    ("medica.nmn.9-marriage-counseling", "http://www.ama-assn.org/go/cpt", "90847", "Z63.0"),
    ("medica.nmn.3-nonmedical-family-counseling", "http://www.ama-assn.org/go/cpt", "90846", "Z63.0"),
]


@pytest.mark.parametrize(("criterion", "system", "code", "reason"), EXCLUSIONS, ids=[e[0] for e in EXCLUSIONS])
def test_each_excluded_service_signed_alongside_is_raised(
    client: Any, criterion: str, system: str, code: str, reason: str | None
) -> None:
    order: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": "P1-extra",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/P1-patient"},
        "code": {"coding": [{"system": system, "code": code}]},
    }
    if reason:
        order["reasonCode"] = [{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": reason}]}]
    statuses = reported_statuses(
        call_hook(client, build_hook_request(_with(load_fixture("golden/P1.json"), order), "order-sign", at=P1_AT))
    )
    assert statuses[criterion] == "not-met"


@pytest.mark.parametrize(
    "criterion",
    [
        "medica.nmn.6-convenience-incarceration-respite-housing",
        "medica.nmn.7-safe-environment-only",
        "medica.nmn.11-therapeutic-group-home",
        "medica.nmn.12-camps-boarding",
    ],
)
def test_judged_exclusions_are_raised_only_when_attested(client: Any, criterion: str) -> None:
    attestation = {
        "resourceType": "QuestionnaireResponse",
        "id": "P1-excl",
        "status": "completed",
        "subject": {"reference": "Patient/P1-patient"},
        "authored": "2025-03-03T09:30:00-06:00",
        "item": [{"linkId": criterion, "answer": [{"valueBoolean": False}]}],
    }
    with_answer = build_hook_request(_with(load_fixture("golden/P1.json"), attestation), "order-sign", at=P1_AT)
    assert reported_statuses(call_hook(client, with_answer))[criterion] == "not-met"
    plain = build_hook_request(load_fixture("golden/P1.json"), "order-sign", at=P1_AT)
    assert reported_statuses(call_hook(client, plain))[criterion] == "not-applicable"


def test_medical_problems_secondary_to_substance_use(client: Any) -> None:
    bundle = load_fixture("golden/P9a.json")
    bundle["entry"].append(
        {
            "resource": {
                "resourceType": "Condition",
                "id": "P9-liver",
                "subject": {"reference": "Patient/P9-patient"},
                "clinicalStatus": {"coding": [{"code": "active"}]},
                "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "K70.30"}]},
            }
        }
    )
    result = call_hook(client, build_hook_request(bundle, "order-sign", at="2025-03-31T10:00:00-05:00"))
    (criterion,) = [
        c
        for e in result["extension"]["iop-cds.evaluations"]
        for c in e["criteria"]
        if c["id"] == "medica.sud.5a-medical-issues-secondary"
    ]
    # Alcoholic liver disease supports 5a, which still needs a clinician's word; 5b already meets the one-of group.
    assert criterion["status"] == "unknown" and "Condition/P9-liver" in criterion["evidence"]
    assert criterion.get("superseded") is True
