"""BH803 (Medicare Advantage): golden patient P7, admission with a defective certification."""

from __future__ import annotations

from typing import Any

from conftest import assert_statuses, call_hook, golden, load_fixture, reported_statuses

from cds_service.hook_requests import build_hook_request

P7_AT = "2025-05-02T11:00:00-05:00"


def test_p7_certification_by_a_nurse_practitioner_for_7_5_hours_is_not_met(client: Any) -> None:
    result = golden(client, "P7", "order-sign", P7_AT)  # UHC payor + Medicare coverage type routes to BH803
    statuses = reported_statuses(result)
    assert_statuses(
        statuses,
        {
            "not-met": ["bh803.eligibility.1a-certified-by-physician", "bh803.eligibility.1b-need-min-9h-week"],
            "unknown": [
                "bh803.eligibility.1c-cert-dx-clinical-need",
                "bh803.eligibility.2-severe-interference-acute",
                "bh803.eligibility.3-can-participate-tolerate",
                "bh803.eligibility.4-between-op-and-php",
                "bh803.rn.1-no-24h-supervision",
                "bh803.rn.2-adequate-support-system",
                "bh803.rn.3-not-imminent-danger",
            ],
            "met": [
                "bh803.scope.covered-dx",
                "bh803.rn.4-acute-onset-or-decompensation",
                "bh803.excluded.1-not-inpatient",
            ],
            "pending": [
                "bh803.doc.1-initial-cert-upon-admission",
                "bh803.doc.2-plan-of-care-by-physician",
                "bh803.program.2-individualized-plan-mdt",
            ],
            "not-applicable": ["bh803.otp.*"],
        },
    )
    assert result["cards"][0]["source"]["label"] == "UnitedHealthcare Medicare Advantage"
    documentation = next(c for c in result["cards"] if "documentation" in c["summary"])
    assert "program.1-provider-type" not in documentation["detail"]  # program-level: never a patient card


def test_a_physician_requester_and_9_hours_fix_the_certification(client: Any) -> None:
    bundle = load_fixture("golden/P7.json")
    order = next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == "P7-order")
    order["occurrenceTiming"]["repeat"]["duration"] = 3
    nurse = next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == "P7-np")
    nurse["qualification"][0]["code"]["coding"][0]["code"] = "MD"
    statuses = reported_statuses(call_hook(client, build_hook_request(bundle, "order-sign", at=P7_AT)))
    assert statuses["bh803.eligibility.1a-certified-by-physician"] == "met"
    assert statuses["bh803.eligibility.1b-need-min-9h-week"] == "met"


P8_AT = "2025-03-10T09:00:00-07:00"


def test_p8_continuation_with_a_lapsed_recertification(client: Any) -> None:
    result = golden(client, "P8", "order-sign", P8_AT)
    assert result["extension"]["iop-cds.evaluations"][0]["phase"] == "continued-stay"
    statuses = reported_statuses(result)
    assert_statuses(
        statuses,
        {
            "not-met": ["bh803.doc.3-recert-60d", "bh803.doc.4-recert-signer-treating-physician"],
            "unknown": [
                "bh803.doc.5-recert-content",
                "bh803.rn.3-not-imminent-danger",
                "bh803.rn.4-acute-onset-or-decompensation",
                "bh803.rn.5-maintenance-needs-evidence",
                "bh803.eligibility.3-can-participate-tolerate",
                "bh803.eligibility.4-between-op-and-php",
            ],
            "met": [
                "bh803.doc.7-progress-notes",
                "bh803.doc.6-tx-plan-physician-signed-goals",
                "bh803.eligibility.1b-need-min-9h-week",
                "bh803.excluded.1-not-inpatient",
            ],
        },
    )
    detail = next(c for c in result["cards"] if "not met" in c["summary"])["detail"]
    assert "2025-03-07" in detail  # the recertification due date


def test_a_recertification_by_the_treating_psychiatrist_in_time(client: Any) -> None:
    bundle = load_fixture("golden/P8.json")
    bundle["entry"].append(
        {
            "resource": {
                "resourceType": "DocumentReference",
                "id": "P8-recert",
                "status": "current",
                "subject": {"reference": "Patient/P8-patient"},
                "date": "2025-03-05T10:00:00-07:00",
                "type": {"coding": [{"system": "urn:iop-cds:local", "code": "iop-recertification"}]},
                "authenticator": {"reference": "Practitioner/P8-ruiz"},
                "content": [{"attachment": {"contentType": "text/plain"}}],
            }
        }
    )
    statuses = reported_statuses(call_hook(client, build_hook_request(bundle, "order-sign", at=P8_AT)))
    assert statuses["bh803.doc.3-recert-60d"] == "met"
    assert statuses["bh803.doc.4-recert-signer-treating-physician"] == "met"


def test_an_otp_order_opens_the_otp_section(client: Any) -> None:
    bundle = load_fixture("golden/P7.json")
    order = next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == "P7-order")
    order["code"]["coding"][0]["code"] = "G0137"
    order["occurrenceTiming"]["repeat"]["duration"] = 3
    bundle["entry"].append(
        {
            "resource": {
                "resourceType": "Condition",
                "id": "P7-oud",
                "subject": {"reference": "Patient/P7-patient"},
                "clinicalStatus": {"coding": [{"code": "active"}]},
                "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F11.20"}]},
            }
        }
    )
    bundle["entry"].append(
        {
            "resource": {
                "resourceType": "ServiceRequest",
                "id": "P7-taxi",
                "status": "draft",
                "intent": "order",
                "subject": {"reference": "Patient/P7-patient"},
                "code": {
                    "coding": [{"system": "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "code": "T2019"}]
                },
            }
        }
    )
    statuses = reported_statuses(call_hook(client, build_hook_request(bundle, "order-sign", at=P7_AT)))
    assert_statuses(
        statuses,
        {
            "met": ["bh803.otp.0-gate", "bh803.otp.1-oud-dx"],
            "unknown": [
                "bh803.otp.2-cert-9h-higher-intensity"
            ],  # certified by an NP for 9 h; "higher intensity" is judged
            "pending": ["bh803.otp.3-plan-of-care"],
            "not-met": ["bh803.excluded.2-meals-transport-vocational"],
        },
    )


def test_p8_discharge_audits_sessions_notes_and_telehealth(client: Any) -> None:
    bundle = load_fixture("golden/P8.json")
    program = next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == "P8-prog")
    program["period"]["end"] = "2025-03-07T12:00:00-07:00"
    session = next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == "P8-prog-sess-0303")
    session["class"]["code"] = "VR"
    body = build_hook_request(bundle, "encounter-discharge", at="2025-03-07T12:30:00-07:00", encounter_id="P8-prog")
    statuses = reported_statuses(call_hook(client, body))
    assert_statuses(
        statuses,
        {
            "met": ["bh803.program.3-not-diversionary-or-med-only", "bh803.doc.7-progress-notes"],
            "unknown": ["bh803.discharge.1-step-down-or-up"],  # info only: no arrangement on record yet
            "not-applicable": ["bh803.otp.*", "bh803.doc.4-recert-signer-treating-physician"],
        },
    )


def test_a_level_of_care_tool_result_is_noted(client: Any) -> None:
    bundle = load_fixture("golden/P7.json")
    bundle["entry"].append(
        {
            "resource": {
                "resourceType": "Observation",
                "id": "P7-locus",
                "status": "final",
                "subject": {"reference": "Patient/P7-patient"},
                "code": {"coding": [{"system": "urn:iop-cds:local", "code": "locus"}]},
                "valueInteger": 3,
                "effectiveDateTime": "2025-05-01T10:00:00-05:00",
            }
        }
    )
    statuses = reported_statuses(call_hook(client, build_hook_request(bundle, "order-sign", at=P7_AT)))
    assert statuses["bh803.external.loc-tools"] == "met"
    plain = reported_statuses(
        call_hook(client, build_hook_request(load_fixture("golden/P7.json"), "order-sign", at=P7_AT))
    )
    assert plain["bh803.external.loc-tools"] == "not-applicable"


def test_an_otp_stay_needs_nine_services_a_week_and_no_telehealth(client: Any) -> None:
    bundle = load_fixture("golden/P8.json")
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource.get("id") == "P8-prog":
            resource["type"][0]["coding"][0]["code"] = "G0137"
            resource["period"]["end"] = "2025-03-07T12:00:00-07:00"
        if resource.get("id") == "P8-prog-sess-0303":
            resource["class"]["code"] = "VR"
    body = build_hook_request(bundle, "encounter-discharge", at="2025-03-07T12:30:00-07:00", encounter_id="P8-prog")
    statuses = reported_statuses(call_hook(client, body))
    assert_statuses(
        statuses,
        {
            "met": ["bh803.otp.0-gate"],
            "not-met": ["bh803.otp.4-9-services-7-days", "bh803.otp.5-no-telehealth"],  # 6 group services a week
        },
    )
