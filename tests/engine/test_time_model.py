"""The one time model at policy level (DATA-PROFILE §6): golden patients with one change, the site zone setting and
a policy's own zone. Each case names the time rule it checks."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sentence_cases import SentenceCase, add, by_id, evaluate, from_golden

from cds_service.cli import main
from cds_service.config import PROJECT_ROOT, Settings, SettingsError
from cds_service.engine.mapping import load_mappings
from cds_service.hooks.invocation import HookInvoker
from cds_service.hooks.protocol import parse_hook_request
from cds_service.hooks.services import SERVICES, service_for_hook
from cds_service.record.hook_requests import build_hook_request

Bundle = dict[str, Any]
P6_DISCHARGE = {"hook": "encounter-discharge", "at": "2025-04-25T16:05:00-04:00", "encounter_id": "P6-prog"}


def change(resource_id: str, **fields: Any) -> Callable[[Bundle], None]:
    """Set fields of one resource (``period_end`` sets ``period.end``, ``period_start`` sets ``period.start``)."""

    def apply(bundle: Bundle) -> None:
        resource = by_id(bundle, resource_id)
        for key, value in fields.items():
            if key.startswith("period_"):
                resource.setdefault("period", {})[key.removeprefix("period_")] = value
            else:
                resource[key] = value

    return apply


def p6(*changes: Callable[[Bundle], None]) -> Callable[[], Bundle]:
    return from_golden("P6", *changes)


def verdict(criterion: str, build: Callable[[], Bundle], policy: str, **call: Any) -> dict[str, Any]:
    """The criterion's entry in the response for a Bundle and a hook call."""
    case = SentenceCase(criterion, "", "", build, call["hook"], call["at"], policy, call.get("encounter_id"))
    return evaluate(case)[criterion]


def test_monday_evening_plan_after_a_friday_admission_stored_in_utc_is_within_one_business_day() -> None:
    # CCA: provisional treatment plan "within one business day". Admission Friday 2025-04-04 13:00 Boston, stored
    # in UTC; the plan is written Monday 21:00 Boston (01:00Z Tuesday): Monday ends at midnight in Boston.
    build = p6(
        change("P6-prog", period_start="2025-04-04T17:00:00Z"),
        change("P6-tp", created="2025-04-08T01:00:00Z"),
    )
    got = verdict("cca.assessment.3-provisional-tp-1bd", build, "cca", **P6_DISCHARGE)
    assert got["status"] == "met", got["reason"]
    assert "2025-04-07 21:00 -04:00" in got["reason"] and "due by 2025-04-07 23:59 -04:00" in got["reason"]


def test_day_7_appointment_at_17_00_after_a_16_00_discharge_is_within_7_days() -> None:
    build = p6(change("P6-therapy-appt", start="2025-05-02T17:00:00-04:00", end="2025-05-02T18:00:00-04:00"))
    got = verdict("cca.discharge.5-aftercare-appt-7d", build, "cca", **P6_DISCHARGE)
    assert got["status"] == "met", got["reason"]
    assert "at 2025-05-02 17:00 -04:00, due by 2025-05-02 23:59 -04:00" in got["reason"]
    assert got["due"] == "2025-05-02T23:59:59.999999-04:00"


def test_an_evening_discharge_stored_in_utc_does_not_move_the_7_day_window() -> None:
    # Discharged Friday 2025-04-25 20:30 Boston, stored as 00:30Z Saturday: day 7 is Friday 05-02, so an
    # appointment on Saturday 05-03 is outside the window.
    build = p6(
        change("P6-prog", period_end="2025-04-26T00:30:00Z"),
        change("P6-therapy-appt", start="2025-05-03T10:00:00-04:00", end="2025-05-03T11:00:00-04:00"),
    )
    call = {**P6_DISCHARGE, "at": "2025-04-25T20:40:00-04:00"}
    got = verdict("cca.discharge.5-aftercare-appt-7d", build, "cca", **call)
    assert got["status"] == "not-met", got["reason"]
    assert "2025-05-02 23:59 -04:00" in got["reason"]


def test_nothing_booked_inside_the_window_at_discharge_is_not_met_with_the_book_by_date() -> None:
    build = p6(change("P6-therapy-appt", status="cancelled"), change("P6-psych-appt", status="cancelled"))
    got = verdict("cca.discharge.5-aftercare-appt-7d", build, "cca", **P6_DISCHARGE)
    assert got["status"] == "not-met", got["reason"]
    assert "must be booked for a time by 2025-05-02 23:59 -04:00" in got["reason"]


def p8_discharged_on(day: str) -> Callable[[Bundle], None]:
    return change("P8-prog", status="finished", period_end=f"{day}T12:00:00-07:00")


def p8_recertified(day: str) -> Callable[[Bundle], None]:
    def apply(bundle: Bundle) -> None:
        add(
            bundle,
            {
                "resourceType": "DocumentReference",
                "id": f"P8-recert-{day}",
                "status": "current",
                "subject": {"reference": "Patient/P8-patient"},
                "date": f"{day}T10:00:00-07:00",
                "type": {"coding": [{"system": "urn:iop-cds:local", "code": "iop-recertification"}]},
                "authenticator": {"reference": "Practitioner/P8-ruiz"},
                "content": [{"attachment": {"contentType": "application/pdf"}}],
            },
        )

    return apply


def test_a_second_bh803_recertification_missed_is_not_met() -> None:
    # Admitted 2025-01-06; recertified 03-05 (day 58) and again only on 06-05: the second recertification was due
    # by 05-04 (60 days after the first), and a later one does not cure the gap.
    build = from_golden(
        "P8", p8_recertified("2025-03-05"), p8_recertified("2025-06-05"), p8_discharged_on("2025-06-15")
    )
    call = {"hook": "encounter-discharge", "at": "2025-06-15T13:00:00-07:00", "encounter_id": "P8-prog"}
    got = verdict("bh803.doc.3-recert-60d", build, "bh803", **call)
    assert got["status"] == "not-met", got["reason"]
    assert "occurrence 2" in got["reason"] and "2025-05-04 23:59 -04:00" in got["reason"]


def test_a_46_day_stay_owes_no_day_60_recertification() -> None:
    build = from_golden("P8", p8_discharged_on("2025-02-21"))
    call = {"hook": "encounter-discharge", "at": "2025-03-20T09:00:00-07:00", "encounter_id": "P8-prog"}
    got = verdict("bh803.doc.3-recert-60d", build, "bh803", **call)
    assert got["status"] == "not-applicable", got["reason"]
    assert got["reason"].startswith("not due: the stay ended at 2025-02-21 14:00 -05:00")


def test_the_site_time_zone_is_a_validated_setting() -> None:
    assert Settings().timezone == "America/New_York"
    assert Settings.from_env({"IOP_CDS_TIMEZONE": "America/Chicago"}).timezone == "America/Chicago"
    with pytest.raises(SettingsError, match="IOP_CDS_TIMEZONE: unknown time zone 'Boston'"):
        Settings.from_env({"IOP_CDS_TIMEZONE": "Boston"})


@pytest.fixture(scope="module")
def pacific_cca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped mappings with the CCA policy in its own zone (America/Los_Angeles)."""
    folder = tmp_path_factory.mktemp("mappings") / "mappings"
    shutil.copytree(PROJECT_ROOT / "mappings", folder)
    policy = folder / "policies" / "cca.yaml"
    policy.write_text("timezone: America/Los_Angeles\n" + policy.read_text(encoding="utf-8"), encoding="utf-8")
    return folder


def test_a_policy_file_may_name_its_own_time_zone(pacific_cca: Path) -> None:
    mappings = load_mappings(pacific_cca)
    assert mappings.policies["cca"].timezone == "America/Los_Angeles" and mappings.policies["molina"].timezone is None
    invoker = HookInvoker(Settings(auth=False), mappings)
    body = build_hook_request(
        p6()(), "encounter-discharge", at=P6_DISCHARGE["at"], policies=["cca"], encounter_id="P6-prog"
    )
    service = SERVICES[service_for_hook("encounter-discharge")]
    response = invoker.invoke(service, parse_hook_request(body, service.hook))
    (evaluation,) = response["extension"]["iop-cds.evaluations"]
    aftercare = next(c for c in evaluation["criteria"] if c["id"] == "cca.discharge.5-aftercare-appt-7d")
    # discharge 2025-04-25 16:00 Boston = 13:00 Los Angeles: day 7 ends at midnight in Los Angeles
    assert aftercare["due"] == "2025-05-02T23:59:59.999999-07:00"


def test_check_mappings_names_the_policy_file_with_an_unknown_time_zone(
    pacific_cca: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "mappings"
    shutil.copytree(pacific_cca, folder)
    policy = folder / "policies" / "cca.yaml"
    policy.write_text(policy.read_text(encoding="utf-8").replace("America/Los_Angeles", "Pacific/Atlantis"))
    assert main(["check-mappings", str(folder)]) == 1
    assert "policies/cca.yaml: timezone: unknown time zone 'Pacific/Atlantis'" in capsys.readouterr().err


# --- calendar-day windows of selections (`between`, `scope`) count local dates ------------------------------------


def _p3_started_at_nine_with_a_stay_ended(end: str) -> Callable[[], Bundle]:
    """P3 with the IOP starting 2025-03-04 09:00 Boston and the psychiatric stay ending at ``end``."""

    def starts_at_nine(bundle: Bundle) -> None:
        by_id(bundle, "P3-order")["occurrenceTiming"]["repeat"]["boundsPeriod"]["start"] = "2025-03-04T09:00:00-05:00"

    return from_golden("P3", starts_at_nine, change("P3-ip", period_start="2025-01-20T10:00:00-05:00", period_end=end))


P3_ORDER_SIGN = {"hook": "order-sign", "at": "2025-03-03T09:30:00-05:00"}


def test_a_stay_ended_early_on_the_30th_local_date_before_admission_is_in_the_last_30_days() -> None:
    # Optum #3 "completed inpatient … treatment" within 30 days (T0-30d): T0 is 03-04 09:00, the stay ended 02-02
    # 07:00 — two hours more than 30 × 24 h, but on the 30th local date before admission, so inside the window.
    build = _p3_started_at_nine_with_a_stay_ended("2025-02-02T07:00:00-05:00")
    got = verdict("optum-locg.admission.any.3-step-down", build, "optum-locg", **P3_ORDER_SIGN)
    assert got["status"] == "met", got["reason"]
    assert "Encounter/P3-ip" in got["evidence"]


def test_a_stay_ended_late_on_the_31st_local_date_before_admission_is_not_in_the_last_30_days() -> None:
    # The same stay ended 02-01 23:30 Boston, stored in UTC as 02-02 04:30Z: its local date is the 31st before T0.
    build = _p3_started_at_nine_with_a_stay_ended("2025-02-02T04:30:00Z")
    got = verdict("optum-locg.admission.any.3-step-down", build, "optum-locg", **P3_ORDER_SIGN)
    assert got["status"] == "unknown", got["reason"]
    assert "Encounter/P3-ip" not in got["evidence"]
    assert "found in the record" in got["reason"]


# --- a criterion's own `due` that falls after the discharge is not owed -------------------------------------------

P5_NEXT_DAY_DISCHARGE = {"hook": "encounter-discharge", "at": "2025-03-04T12:10:00-05:00", "encounter_id": "P5-prog"}


def _p5_discharged_the_next_day() -> Callable[[], Bundle]:
    """P5 (admitted 2025-03-03 09:00) discharged after 27 hours, before its 48-hour duties fell due."""
    return from_golden("P5", change("P5-prog", status="finished", period_end="2025-03-04T12:00:00-05:00"))


@pytest.mark.parametrize("criterion", ["molina.process.tp-1b-peer-recovery", "molina.process.tp-1c-med-eval-mgmt"])
def test_a_48_hour_plan_content_duty_is_not_owed_by_a_stay_that_ended_after_27_hours(criterion: str) -> None:
    # Molina: "an initial treatment plan … within 48 hours of admission" that includes peer support / medication
    # evaluation; the criterion's own due (T0 + 48 h) is after TD, and the rule is not a deadline operator.
    got = verdict(criterion, _p5_discharged_the_next_day(), "molina", **P5_NEXT_DAY_DISCHARGE)
    assert got["status"] == "not-applicable", got["reason"]
    assert got["reason"] == (
        "not due: the stay ended at 2025-03-04 12:00 -05:00, before it fell due (2025-03-05 09:00 -05:00)"
    )


# --- look-backs count from the event the sentence names, not from the evaluation time -----------------------------


def test_an_emergency_visit_10_days_before_the_order_is_recent_in_a_retrospective_review() -> None:
    # BH803 rn.4 "generally have an acute onset or decompensation": the 30 days are before the order was signed
    # (2025-05-02 10:50), not before a review run on 06-10. P7's diagnosis is made old so only the ED visit counts.
    build = from_golden("P7", change("P7-dx", onsetDateTime="2024-12-01"))
    got = verdict(
        "bh803.rn.4-acute-onset-or-decompensation", build, "bh803", hook="order-sign", at="2025-06-10T11:00:00-05:00"
    )
    assert got["status"] == "met", got["reason"]
    assert got["reason"] == "1 × emergency or inpatient visit in the last 30 days: Encounter/P7-ed"


def test_a_positive_drug_screen_is_counted_back_from_the_order_not_from_the_review() -> None:
    # Medica SUD #4 "Active substance use is a substantial contributor to the current treatment episode": P9's positive
    # urine screen of 03-28, three days before the order (03-31), still counts when the order is reviewed on 05-10.
    got = verdict(
        "medica.sud.4-active-use-contributor",
        from_golden("P9a"),
        "medica",
        hook="order-sign",
        at="2025-05-10T10:00:00-05:00",
    )
    assert "Observation/P9-uds" in got["evidence"], got["reason"]
    assert "positive drug screen or AUDIT-C at threshold in the last 30 days: Observation/P9-uds" in got["reason"]


def test_a_housing_screen_within_12_months_of_the_order_counts_in_a_later_review() -> None:
    # Optum any #4 "non-supportive living situation": a PRAPARE "I do not have housing" of 2024-04-15 is within the
    # 12 months before the order (2025-03-03), though not within 12 months of a review on 2025-06-01.
    screen = {
        "resourceType": "Observation",
        "id": "P3-prapare",
        "status": "final",
        "subject": {"reference": "Patient/P3-patient"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "71802-3"}]},
        "effectiveDateTime": "2024-04-15T10:00:00-04:00",
        "valueCodeableConcept": {"coding": [{"system": "http://loinc.org", "code": "LA30190-5"}]},
    }
    build = from_golden("P3", lambda bundle: add(bundle, screen))
    got = verdict(
        "optum-locg.admission.any.4-nonsupportive-living",
        build,
        "optum-locg",
        hook="order-sign",
        at="2025-06-01T10:00:00-04:00",
    )
    assert "Observation/P3-prapare" in got["evidence"], got["reason"]
    assert got["reason"].startswith("supporting evidence found"), got["reason"]
