"""CCA performance specifications: golden patient P6 (discharge) through HTTP, and the business-day deadline."""

from __future__ import annotations

from typing import Any

from conftest import assert_statuses, call_hook, golden, load_fixture, reported_statuses

from cds_service.hook_requests import build_hook_request

P6_AT = "2025-04-25T16:05:00-04:00"
P6_ALSO_MET = [
    "cca.scope.dsm5-dx",
    "cca.intensity.1-3h-3to5-days",
    "cca.components.01-bps-eval",
    "cca.components.03-crisis-safety-plan",
    "cca.components.05-therapy-ind-group-family",
    "cca.components.07-peer-recovery",
    "cca.components.08-med-eval-access",
    "cca.components.11-integrated-plan-consent",
    "cca.assessment.2-mdt-assigned",
    "cca.assessment.3a-goals-measurable",
    "cca.assessment.3c-peer-recovery",
    "cca.assessment.3d-med-eval-mgmt",
    "cca.assessment.3e-counseling-combination",
    "cca.assessment.3g-discharge-aftercare-plan",
    "cca.assessment.4-tp-updated",
    "cca.assessment.5a-hpi",
    "cca.assessment.5b-pmh",
    "cca.assessment.5c-family-social-cultural",
    "cca.assessment.5d-substance-use",
    "cca.assessment.5e-mse",
    "cca.assessment.5f-meds-allergies",
    "cca.assessment.5g-dx-formulation",
    "cca.assessment.5h-functioning",
    "cca.assessment.5j-pcp-name",
    "cca.planning.6-involvement-consent",
    "cca.discharge.1-planning-from-admission",
    "cca.discharge.3-aftercare-documented",
    "cca.discharge.4-plan-given-at-discharge",
    "cca.discharge.8-linkages",
]


def test_p6_discharge_business_day_notes_aftercare_and_sdoh(client: Any) -> None:
    result = golden(client, "P6", "encounter-discharge", P6_AT)  # routed to CCA by the Coverage
    statuses = reported_statuses(result)
    assert_statuses(
        statuses,
        {
            "not-met": [
                "cca.documentation.7-daily-progress-notes",
                "cca.discharge.5-aftercare-appt-7d",
                "cca.discharge.2-sdoh-in-plan",
            ],
            "unknown": ["cca.assessment.3b-strengths", "cca.assessment.5i-strengths", "cca.discharge.7-transport-cca"],
            "met": [
                "cca.assessment.3-provisional-tp-1bd",
                "cca.assessment.3h-member-signature-or-refusal",
                "cca.discharge.6-psych-aftercare-14d",
                "cca.intensity.2-attend-3x-week",
                "cca.intensity.3-unit-2-groups",
                "cca.components.10-sud-assessment",
                "cca.quality.outcome-data-in-tp",
                "cca.los.1-3-weeks",
            ],
        },
    )
    assert [c["indicator"] for c in result["cards"]] == ["warning", "warning"]  # no length-of-stay card at 21 days
    summary = next(c for c in result["cards"] if "not met" in c["summary"])
    assert "Encounter/P6-sess-16" in summary["detail"]  # the session without a note is named
    assert any(s["label"] == "Propose an aftercare appointment" for s in summary["suggestions"])
    information = result["systemActions"][0]["resource"]["extension"][-1]["extension"]
    assert "doc-needed" not in [part["url"] for part in information]  # CRD hook-19


def test_a_plan_on_the_second_business_day_is_late(client: Any) -> None:
    bundle = load_fixture("golden/P6.json")
    plan = next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == "P6-tp")
    plan["created"] = "2025-04-08T09:00:00-04:00"  # Tuesday: the deadline was Monday 23:59
    statuses = reported_statuses(call_hook(client, build_hook_request(bundle, "encounter-discharge", at=P6_AT)))
    assert statuses["cca.assessment.3-provisional-tp-1bd"] == "not-met"


def test_patriots_day_is_not_a_business_day(client: Any) -> None:
    bundle = load_fixture("golden/P6.json")
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource.get("id") == "P6-prog":
            resource["period"]["start"] = "2025-04-18T13:00:00-04:00"  # Friday before Patriots' Day (Mon 04-21)
        if resource.get("id") == "P6-tp":
            resource["created"] = "2025-04-22T10:00:00-04:00"  # Tuesday: the first business day after admission
    statuses = reported_statuses(call_hook(client, build_hook_request(bundle, "encounter-discharge", at=P6_AT)))
    assert statuses["cca.assessment.3-provisional-tp-1bd"] == "met"


def _drop(bundle: dict[str, Any], *ids: str) -> dict[str, Any]:
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"].get("id") not in ids]
    return bundle


def test_removing_the_evidence_turns_each_documented_item_into_a_finding(client: Any) -> None:
    bundle = _drop(
        load_fixture("golden/P6.json"),
        "P6-assessment",
        "P6-team",
        "P6-referral",
        "P6-instructions",
        "P6-crp",
        "P6-fam-18",
    )
    statuses = reported_statuses(call_hook(client, build_hook_request(bundle, "encounter-discharge", at=P6_AT)))
    assert_statuses(
        statuses,
        {
            "not-met": [
                "cca.discharge.8-linkages",
                "cca.discharge.4-plan-given-at-discharge",
                "cca.components.03-crisis-safety-plan",
                "cca.components.05-therapy-ind-group-family",
            ],
            "unknown": ["cca.assessment.5a-hpi", "cca.assessment.5e-mse", "cca.assessment.5h-functioning"],
        },
    )
    assert statuses["cca.assessment.2-mdt-assigned"] == "met"  # the plan still names its care team


def test_admission_eligibility_and_state_agency_involvement(client: Any) -> None:
    bundle = load_fixture("golden/P6.json")
    bundle["entry"] = [e for e in bundle["entry"] if not e["resource"].get("id", "").startswith(("P6-prog", "P6-sess"))]
    bundle["entry"] += [
        {"resource": r}
        for r in (
            {
                "resourceType": "ServiceRequest",
                "id": "P6-order",
                "status": "draft",
                "intent": "order",
                "subject": {"reference": "Patient/P6-patient"},
                "authoredOn": "2025-04-03T10:00:00-04:00",
                "code": {
                    "coding": [{"system": "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "code": "S9480"}]
                },
                "occurrenceTiming": {
                    "repeat": {
                        "frequency": 3,
                        "period": 1,
                        "periodUnit": "wk",
                        "duration": 3,
                        "durationUnit": "h",
                        "boundsPeriod": {"start": "2025-04-04"},
                    }
                },
            },
            {
                "resourceType": "Condition",
                "id": "P6-dcf",
                "subject": {"reference": "Patient/P6-patient"},
                "clinicalStatus": {"coding": [{"code": "active"}]},
                "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "Z65.3"}]},
            },
        )
    ]
    result = call_hook(client, build_hook_request(bundle, "order-sign", at="2025-04-03T10:30:00-04:00"))
    assert result["extension"]["iop-cds.evaluations"][0]["phase"] == "admission"
    statuses = reported_statuses(result)
    assert_statuses(
        statuses,
        {
            "unknown": ["cca.eligibility.stable-environment-biomedical"],
            "pending": ["cca.assessment.3f-state-agency", "cca.assessment.3-provisional-tp-1bd"],
            "met": ["cca.intensity.1-3h-3to5-days", "cca.scope.dsm5-dx"],
        },
    )
