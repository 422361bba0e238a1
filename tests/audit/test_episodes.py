"""What is evaluated in a patient's record, when, and with which hook request."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from cds_service.audit.cli import AuditUsageError, parse_period
from cds_service.audit.episodes import find_targets, first_aftercare_days
from cds_service.audit.evaluate import hook_request, patient_bundle

AS_OF = datetime(2025, 11, 1, tzinfo=UTC)
S9480 = {"system": "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "code": "S9480"}


def _program(pid: str, status: str, start: str, end: str | None) -> list[dict]:
    period = {"start": start, **({"end": end} if end else {})}
    program = {
        "resourceType": "Encounter",
        "id": pid,
        "status": status,
        "period": period,
        "type": [{"coding": [S9480]}],
    }
    session = {
        "resourceType": "Encounter",
        "id": f"{pid}-s1",
        "status": "finished",
        "partOf": {"reference": f"Encounter/{pid}"},
        "period": {"start": start},
    }
    return [program, session]


def _order(oid: str, authored: str, code: dict | None = None, status: str = "active") -> dict:
    return {
        "resourceType": "ServiceRequest",
        "id": oid,
        "status": status,
        "intent": "order",
        "code": {"coding": [code or S9480]},
        "authoredOn": authored,
    }


def test_discharged_and_open_programs_and_iop_orders_are_targets() -> None:
    resources = [
        {"resourceType": "Patient", "id": "p"},
        *_program("done", "finished", "2025-04-04T13:00:00-04:00", "2025-04-25T16:00:00-04:00"),
        *_program("open", "in-progress", "2025-10-20T13:00:00-04:00", None),
        _order("iop", "2025-04-02T10:00:00-04:00"),
        _order("lab", "2025-04-02T10:00:00-04:00", {"system": "http://loinc.org", "code": "2345-7"}),
        _order("void", "2025-04-02T10:00:00-04:00", status="entered-in-error"),
    ]
    targets = {t.resource_id: t for t in find_targets(resources, AS_OF, (None, None))}
    assert sorted(targets) == ["done", "iop", "open"]
    assert (
        targets["done"].hook == "encounter-discharge" and targets["done"].at.isoformat() == "2025-04-25T16:00:00-04:00"
    )
    assert targets["open"].open and targets["open"].at == AS_OF and targets["open"].discharge is None
    assert targets["iop"].hook == "order-sign" and targets["iop"].at.isoformat() == "2025-04-02T10:00:00-04:00"


def test_the_period_keeps_discharges_and_orders_inside_it_only() -> None:
    resources = [
        *_program("april", "finished", "2025-04-04T13:00:00-04:00", "2025-04-25T16:00:00-04:00"),
        *_program("june", "finished", "2025-06-06T13:00:00-04:00", "2025-06-27T16:00:00-04:00"),
        _order("may-order", "2025-05-30T10:00:00-04:00"),
    ]
    period = parse_period("2025-05-01/2025-06-27")
    assert sorted(t.resource_id for t in find_targets(resources, AS_OF, period)) == ["june", "may-order"]
    assert [t.resource_id for t in find_targets(resources, AS_OF, parse_period("/2025-04-30"))] == ["april"]


@pytest.mark.parametrize("bad", ["2025-05-01", "2025-13-01/2025-14-01", "2025-06-01/2025-05-01", "x/2025-05-01"])
def test_a_period_that_is_not_start_slash_end_is_a_usage_error(bad: str) -> None:
    with pytest.raises(AuditUsageError):
        parse_period(bad)


def test_days_to_first_aftercare_count_later_appointments_and_visits_not_sessions() -> None:
    program, session = _program("prog", "finished", "2025-04-04T13:00:00-04:00", "2025-04-25T16:00:00-04:00")
    late_session = {**session, "id": "late", "period": {"start": "2025-04-26T09:00:00-04:00"}}
    cancelled = {"resourceType": "Appointment", "status": "cancelled", "start": "2025-04-27T10:00:00-04:00"}
    visit = {
        "resourceType": "Encounter",
        "id": "v",
        "status": "finished",
        "period": {"start": "2025-05-02T10:00:00-04:00"},
    }
    booked = {"resourceType": "Appointment", "status": "booked", "start": "2025-05-05T10:00:00-04:00"}
    discharge = datetime.fromisoformat("2025-04-25T16:00:00-04:00")
    resources = [program, session, late_session, cancelled, booked]
    assert first_aftercare_days(resources, program, discharge) == 10
    assert first_aftercare_days([*resources, visit], program, discharge) == 7
    assert first_aftercare_days([program, session], program, discharge) is None


def test_an_order_is_evaluated_as_the_draft_being_signed_and_nothing_else_is() -> None:
    resources = [
        {"resourceType": "Patient", "id": "p"},
        _order("first", "2025-04-02T10:00:00-04:00"),
        _order("second", "2025-05-02T10:00:00-04:00", status="draft"),
    ]
    bundle, dangling = patient_bundle(resources, {}, frozenset())
    target = next(t for t in find_targets(resources, AS_OF, (None, None)) if t.resource_id == "first")
    body = hook_request(bundle, target, ())
    assert [o["resource"]["id"] for o in body["context"]["draftOrders"]["entry"]] == ["first"]
    assert body["extension"]["iop-cds.evaluation-time"] == "2025-04-02T10:00:00-04:00"
    assert resources[1]["status"] == "active"  # the patient's own record is not changed
    assert dangling == []


def test_the_bundle_carries_cited_shared_resources_and_names_dangling_references() -> None:
    observation = {
        "resourceType": "Observation",
        "id": "o",
        "subject": {"reference": "Patient/p"},
        "performer": [{"reference": "Practitioner/dr"}],
        "encounter": {"reference": "Encounter/gone"},
        "hasMember": [{"reference": "Observation/absent-type-is-fine"}],
    }
    shared = {"Practitioner/dr": {"resourceType": "Practitioner", "id": "dr"}, "Practitioner/other": {}}
    bundle, dangling = patient_bundle(
        [{"resourceType": "Patient", "id": "p"}, observation], shared, frozenset({"Encounter", "Practitioner"})
    )
    assert [e["resource"].get("id") for e in bundle["entry"]] == ["p", "o", "dr"]
    assert dangling == [(observation, "Encounter/gone")]


def test_a_record_the_service_would_refuse_is_listed_and_the_rest_of_the_patient_evaluated(tmp_path) -> None:
    from cds_service.audit.evaluate import AuditOptions, audit_patient
    from cds_service.config import Settings

    resources = [
        {"resourceType": "Patient", "id": "p"},
        *_program("prog", "finished", "2025-04-04T13:00:00-04:00", "2025-04-25T16:00:00-04:00"),
        {**_order("bad-order", "2025-04-02T10:00:00-04:00"), "occurrenceDateTime": "next tuesday"},
    ]
    rows = [(json.dumps(r), "export.ndjson", n) for n, r in enumerate(resources, start=1)]
    settings = Settings(auth=False, feedback_db=str(tmp_path / "f.sqlite3"), replay_db=str(tmp_path / "r.sqlite3"))
    audit = audit_patient("p", rows, {}, frozenset({"Encounter"}), AuditOptions(AS_OF), settings)
    assert [t["episode"] for t in audit.targets] == ["prog"]
    assert [(p.file, p.line) for p in audit.problems] == [("export.ndjson", 4)]
    assert audit.problems[0].reason.startswith("order bad-order not evaluated: ProtocolError")
