"""Optum LOCG 2021: golden patient P3 (step-down admission with delirium-tremens risk) and variant P3b."""

from __future__ import annotations

import copy
from typing import Any

from conftest import assert_statuses, call_hook, golden, load_fixture, reported_statuses

from cds_service.hook_requests import build_hook_request

P3_AT = "2025-03-03T09:30:00-05:00"


def test_p3_step_down_with_dt_risk(client: Any) -> None:
    result = golden(client, "P3", "order-sign", P3_AT)  # routed to Optum LOCG by the UnitedHealthcare Coverage
    statuses = reported_statuses(result)
    assert_statuses(
        statuses,
        {
            "not-met": ["optum-locg.admission.all.4-no-severe-withdrawal-dt-risk"],
            "unknown": ["optum-locg.admission.all.3-sud-manageable", "optum-locg.admission.all.5-can-comply"],
            "met": [
                "optum-locg.scope.mh-or-cooccurring",
                "optum-locg.admission.any.3-step-down",
                "optum-locg.admission.all.1-no-imminent-risk",
                "optum-locg.def.intensity-3h-2d",
            ],
            "superseded": [
                "optum-locg.admission.any.1-impaired-functioning",
                "optum-locg.admission.any.2-deterioration-higher-loc",
                "optum-locg.admission.any.4-nonsupportive-living",
            ],
            "not-applicable": ["optum-locg.admission.all.2-medical-comorbidity-manageable"],
            "pending": [
                "optum-locg.process.6a-psychiatrist-eval-3d",
                "optum-locg.process.6b1-treatment-plan-3d",
                "optum-locg.process.6b2-projected-dc-date-3d",
                "optum-locg.process.6b3-initial-dc-plan-3d",
                "optum-locg.process.6c1-family-contact-48h",
                "optum-locg.process.6c2-prior-provider-contact-48h",
            ],
        },
    )
    critical = [c for c in result["cards"] if c["indicator"] == "critical" and "withdrawal" in c["summary"]]
    assert critical and critical[0]["suggestions"][0]["label"].startswith("Refer for evaluation at a higher level")
    documentation = next(c for c in result["cards"] if "documentation" in c["summary"])
    assert "all.3-sud-manageable" in documentation["detail"] and "any.1" not in documentation["detail"]


def test_p3b_substance_use_only_leaves_the_policy_to_asam(client: Any) -> None:
    bundle = load_fixture("golden/P3.json")
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"].get("id") != "P3-bipolar"]
    order = next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == "P3-order")
    order["reasonReference"] = [{"reference": "Condition/P3-alcohol"}]
    result = call_hook(client, build_hook_request(bundle, "order-sign", at=P3_AT))
    statuses = reported_statuses(result)
    assert statuses["optum-locg.scope.mh-or-cooccurring"] == "not-applicable"
    assert set(statuses.values()) == {"not-applicable"}
    (notice,) = result["cards"]  # catalogue P3b: one info card, no other Optum card
    assert notice["indicator"] == "info" and "ASAM" in notice["summary"]


def test_a_c_ssrs_with_intent_is_a_critical_imminent_risk_finding(client: Any) -> None:
    bundle = load_fixture("golden/P3.json")
    intent = next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == "P3-cssrs-93249-1")
    intent["valueCodeableConcept"]["coding"][0]["code"] = "LA33-6"
    result = call_hook(client, build_hook_request(copy.deepcopy(bundle), "order-sign", at=P3_AT))
    assert reported_statuses(result)["optum-locg.admission.all.1-no-imminent-risk"] == "not-met"
    assert sum(c["indicator"] == "critical" for c in result["cards"]) == 3  # two findings and the summary


def test_p4_discharge_audit(client: Any) -> None:
    result = golden(client, "P4", "encounter-discharge", "2025-02-28T12:05:00-05:00")
    statuses = reported_statuses(result)
    prefix = "optum-locg."
    assert_statuses(
        statuses,
        {
            "not-met": [
                prefix + i
                for i in (
                    "continued.7a-psychiatrist-weekly",
                    "continued.8-tx-plan-update-3to5-days",
                    "discharge.10b6-peer-community-linkage",
                    "discharge.10e-bridge-med-supply",
                )
            ],
            "unknown": [
                prefix + i
                for i in (
                    "process.6c1-family-contact-48h",
                    "process.6c2-prior-provider-contact-48h",
                    "continued.7b-care-coordination",
                    "discharge.9b-reviewed-with-next-provider",
                    "discharge.9c-final-plan-to-care-advocate-24h",
                    "discharge.10c-communication-plan",
                    "discharge.10f-member-understands-plan",
                )
            ],
            "met": [
                prefix + i
                for i in (
                    "process.6a-psychiatrist-eval-3d",
                    "process.6b1-treatment-plan-3d",
                    "process.6b2-projected-dc-date-3d",
                    "process.6b3-initial-dc-plan-3d",
                    "discharge.9a-dc-plan-updated",
                    "discharge.10a-anticipated-dc-date",
                    "discharge.10b1-next-loc-provider-location",
                    "discharge.10b2-referral-rationale",
                    "discharge.10b3-first-appts-datetime",
                    "discharge.10b3a-first-appt-within-7d",
                    "discharge.10b4-modalities-frequency",
                    "discharge.10b5-meds-dose-labs",
                    "discharge.10b7-crisis-plan",
                    "discharge.10g-written-crisis-instructions",
                )
            ],
            "not-applicable": [prefix + "discharge.10d-agency-coordination"],
        },
    )
    summary = next(c for c in result["cards"] if "not met" in c["summary"])
    assert "2025-02-17" in summary["detail"] and "MedicationRequest/P4-sertraline" in summary["detail"]


def test_continued_stay_order_during_the_program(client: Any) -> None:
    bundle = load_fixture("golden/P4.json")
    program = next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == "P4-prog")
    del program["period"]["end"]
    bundle["entry"] += [
        {"resource": r}
        for r in (
            {
                "resourceType": "ServiceRequest",
                "id": "P4-renewal",
                "status": "draft",
                "intent": "order",
                "subject": {"reference": "Patient/P4-patient"},
                "authoredOn": "2025-02-20T09:00:00-05:00",
                "code": {
                    "coding": [{"system": "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "code": "S9480"}]
                },
                "occurrenceTiming": {
                    "repeat": {"frequency": 3, "period": 1, "periodUnit": "wk", "duration": 3, "durationUnit": "h"}
                },
            },
            {
                "resourceType": "DocumentReference",
                "id": "P4-ad",
                "status": "current",
                "subject": {"reference": "Patient/P4-patient"},
                "date": "2025-02-10",
                "type": {"coding": [{"system": "http://loinc.org", "code": "42348-3"}]},
                "content": [{"attachment": {"contentType": "application/pdf"}}],
            },
        )
    ]
    result = call_hook(client, build_hook_request(bundle, "order-sign", at="2025-02-20T10:00:00-05:00"))
    assert result["extension"]["iop-cds.evaluations"][0]["phase"] == "continued-stay"
    statuses = reported_statuses(result)
    assert_statuses(
        statuses,
        {
            "met": ["optum-locg.continued.cs3-advance-directive"],
            "not-applicable": ["optum-locg.continued.cs2b-sud-mutual-help-sponsor"],
            "unknown": [
                "optum-locg.continued.cs1-loc-criteria-still-met",
                "optum-locg.continued.cs2a-ebt-goals-intensity",
                "optum-locg.continued.cs4-family-participation",
                "optum-locg.continued.cs5-active-tx-progress",
                "optum-locg.continued.cs6-relapse-if-stepdown",
            ],
        },
    )
    assert "supporting evidence" in next(
        c["reason"]
        for e in result["extension"]["iop-cds.evaluations"]
        for c in e["criteria"]
        if c["id"] == "optum-locg.continued.cs5-active-tx-progress"
    )
