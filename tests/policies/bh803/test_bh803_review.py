"""BH803 (Optum Medicare Coverage Summary, IOP), reviewer cases: verdicts a reader of the policy text gives on messy,
real-shaped records, each one change from golden patient P8 (discharge from the IOP on 2025-03-07)."""

from __future__ import annotations

from typing import Any

import pytest
from sentence_cases import Bundle, Review, SentenceCase, add, adding, evaluate, from_golden, quote_is_in, review_test
from test_bh803_sentences import Q_CERTIFIED, Q_DISCHARGE, Q_OTP_PLAN, Q_PLAN_MDT, Q_TX_PLAN, c8
from test_policy_bh803 import otp_continuation, p8_phq9

POLICY = "bh803"
TEXT = "optum-medicare-bh803-iop.txt"
P8_DISCHARGE_AT = "2025-03-07T12:30:00-07:00"  # sessions Mon/Wed/Fri from 2025-01-06, the last on 2025-03-07
NOT_INPATIENT = "bh803.excluded.1-not-inpatient"
QUOTE = (
    "The following services are excluded from the scope of intensive outpatient services … "
    "Services to hospital inpatients"
)


ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
SCT = "http://snomed.info/sct"
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
CPT = "http://www.ama-assn.org/go/cpt"


def encounter(patient: str, eid: str, cls: str, status: str, start: str, end: str | None = None, **fields: Any) -> Any:
    """Add an Encounter of ``patient`` ("P7", "P8") of class ``cls`` with this status and period, and ``fields``."""
    period = {"start": start} | ({"end": end} if end else {})
    return adding({"resourceType": "Encounter", "id": eid, "status": status, "class": {"system": ACT, "code": cls},
                   "subject": {"reference": f"Patient/{patient}-patient"}, "period": period} | fields)  # fmt: skip


def inpatient(eid: str, status: str, start: str, end: str | None = None) -> Any:
    """Add an inpatient Encounter of P8 (class IMP) with this status and period."""
    return encounter("P8", eid, "IMP", status, start, end)


def test_quote_is_in_the_policy_text() -> None:
    assert quote_is_in(QUOTE, TEXT)


test_services_to_hospital_inpatients = review_test(
    Review(NOT_INPATIENT, QUOTE, "P8", "encounter-discharge", P8_DISCHARGE_AT, POLICY),
    [
        # A stay left in-progress since 2023 is a stale status, not proof that 27 IOP sessions went to an inpatient.
        (
            "stale in-progress stay from 2023",
            inpatient("P8-old-ip", "in-progress", "2023-05-01T10:00:00-07:00"),
            "unknown",
            "inpatient stay in progress with no planned end",
        ),
        # A stay that began during the IOP and was closed without an end: whether sessions fell inside is unknown.
        (
            "finished stay with no end, begun during the IOP",
            inpatient("P8-med-ip", "finished", "2025-03-05T06:00:00-07:00"),
            "unknown",
            "begun during the IOP with no end recorded",
        ),
        # Positive evidence: the 03-05 session falls inside a recorded stay, or after the start of a current one.
        (
            "session inside a recorded stay",
            inpatient("P8-ip", "finished", "2025-03-05T06:00:00-07:00", "2025-03-06T10:00:00-07:00"),
            "not-met",
            "Encounter/P8-prog-sess-0305 overlaps Encounter/P8-ip",
        ),
        (
            "session after the start of a current stay",
            inpatient("P8-ip", "in-progress", "2025-03-05T06:00:00-07:00"),
            "not-met",
            "Encounter/P8-prog-sess-0305 overlaps Encounter/P8-ip",
        ),
        # A stay long over is no finding.
        (
            "stay ended in 2023",
            inpatient("P8-ip", "finished", "2023-03-05T06:00:00-07:00", "2023-03-16T10:00:00-07:00"),
            "met",
            "no inpatient stay in progress",
        ),
    ],
)


MED_ONLY = "bh803.program.3-not-diversionary-or-med-only"
MED_ONLY_QUOTE = (
    "A program that only monitors the management of medication for patients whose psychiatric condition is "
    "otherwise stable, is not the combination, structure, and intensity of services which make up active treatment"
)


def services(code: str, *, every_session: bool) -> Any:
    """Replace P8's group-therapy Procedures: one CPT ``code`` per session, or a single one on 2025-03-05."""

    def change(bundle: Bundle) -> None:
        bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Procedure"]
        sessions = [
            e["resource"]["id"]
            for e in bundle["entry"]
            if e["resource"]["resourceType"] == "Encounter" and "-sess-" in e["resource"]["id"]
        ]
        for sid in sessions if every_session else ["P8-prog-sess-0305"]:
            add(
                bundle,
                {
                    "resourceType": "Procedure",
                    "id": f"{sid}-mm",
                    "status": "completed",
                    "subject": {"reference": "Patient/P8-patient"},
                    "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": code}]},
                    "encounter": {"reference": f"Encounter/{sid}"},
                    "performedDateTime": f"2025-{sid[-4:-2]}-{sid[-2:]}T11:00:00-07:00",
                },
            )

    return change


def test_medication_only_quote_is_in_the_policy_text() -> None:
    assert quote_is_in(MED_ONLY_QUOTE, TEXT)


test_medication_management_only = review_test(
    Review(MED_ONLY, MED_ONLY_QUOTE, "P8", "encounter-discharge", P8_DISCHARGE_AT, POLICY),
    [
        # 27 three-hour IOP sessions and one medication visit: not "only monitors the management of medication";
        # what the sessions held is not coded, so a clinician must say (was: not-met).
        ("one 99214 beside 27 uncoded sessions", services("99214", every_session=False), "unknown", "no psychotherapy"),
        # Every session is a medication-management visit: the sentence's case.
        ("a 99214 at every session, nothing else", services("99214", every_session=True), "not-met", "medication"),
    ],
)


PARTICIPATE = "bh803.eligibility.3-can-participate-tolerate"
PARTICIPATE_QUOTE = (
    "Patients who cannot, or refuse, to participate (due to their behavioral or cognitive status) with active "
    "treatment of their mental disorder"
)
P7_AT = "2025-05-02T11:00:00-05:00"  # P7: the IOP order is signed


def p7_condition(code: str, onset: str) -> Any:
    """Add an active ICD-10-CM Condition of P7 with this onset."""
    active = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]}
    return adding({"resourceType": "Condition", "id": "P7-neuro", "subject": {"reference": "Patient/P7-patient"},
                   "clinicalStatus": active, "code": {"coding": [{"system": ICD, "code": code}]},
                   "onsetDateTime": onset})  # fmt: skip


def test_participate_quote_is_in_the_policy_text() -> None:
    assert quote_is_in(PARTICIPATE_QUOTE, TEXT)


test_cognitive_status_now = review_test(
    Review(PARTICIPATE, PARTICIPATE_QUOTE, "P7", "order-sign", P7_AT, POLICY),
    [
        # Delirium is acute: one coded in 2021 and never resolved on the problem list is not today's cognitive status
        # (was: not-met).
        ("delirium coded in 2021, still active", p7_condition("F05", "2021-03-01"), "unknown", "clinician"),
        # A delirium two days before the order (stored in UTC, late evening local) is current evidence.
        ("delirium two days ago", p7_condition("F05", "2025-04-30T23:30:00Z"), "not-met", "delirium"),
        # Severe dementia does not pass.
        ("severe dementia since 2021", p7_condition("F03.C0", "2021-03-01"), "not-met", "neurocognitive"),
    ],
)


P8_RENEWAL_AT = "2025-03-10T09:00:00-07:00"  # P8 still in the program: the continuation order is signed
PLAN_QUOTE = (
    "Intensive outpatient services must be furnished under an individualized written plan of care, "
    "established by the physician"
)


def psychiatrists_by_taxonomy(bundle: Bundle) -> None:
    """P8's psychiatrists qualified only by their NUCC taxonomy (2084P0800X), as US Core Practitioners often are."""
    for entry in bundle["entry"]:
        if entry["resource"]["id"] in ("P8-ruiz", "P8-blake"):
            entry["resource"]["qualification"] = [
                {"code": {"coding": [{"system": "http://nucc.org/provider-taxonomy", "code": "2084P0800X"}]}}
            ]


def test_plan_quote_is_in_the_policy_text() -> None:
    assert quote_is_in(PLAN_QUOTE, TEXT)


@pytest.mark.parametrize(
    ("criterion", "status"),
    [
        # the plan of care by Dr Ruiz, a psychiatrist, was "no treatment plan by a physician" (not-met)
        ("bh803.doc.2-plan-of-care-by-physician", "met"),
        ("bh803.doc.6-tx-plan-physician-signed-goals", "met"),
        ("bh803.program.2-individualized-plan-mdt", "met"),
        ("bh803.doc.1-initial-cert-upon-admission", "met"),
        # "signed by a physician who is treating the patient": Dr Blake is a physician, off the care team (unknown),
        # not "a practitioner who is not a physician" (was not-met)
        ("bh803.doc.4-recert-signer-treating-physician", "unknown"),
    ],
)
def test_a_psychiatrist_qualified_by_taxonomy_is_a_physician(criterion: str, status: str) -> None:
    case = SentenceCase(
        criterion, "?", PLAN_QUOTE, from_golden("P8", psychiatrists_by_taxonomy), "order-sign", P8_RENEWAL_AT, POLICY
    )
    got = evaluate(case)[criterion]
    assert got["status"] == status, f"{criterion}: service says {got['status']}: {got['reason']}"
    assert "not a physician" not in got["reason"] and "no treatment plan by a physician" not in got["reason"]


RECERT = "bh803.doc.3-recert-60d"
RECERT_QUOTE = (
    "Recertifications are required at intervals established by the provider, but no less frequently than every 60 "
    "days following the initial IOP certification."
)
LOCAL = "urn:iop-cds:local"


def document(did: str, kind: str, date: str, **extra: Any) -> Any:
    """Add a P8 DocumentReference of the local type ``kind`` (iop-certification, iop-recertification) of ``date``."""
    return adding({"resourceType": "DocumentReference", "id": did, "status": "current",
                   "subject": {"reference": "Patient/P8-patient"}, "date": date,
                   "type": {"coding": [{"system": LOCAL, "code": kind}]},
                   "authenticator": {"reference": "Practitioner/P8-ruiz"},
                   "content": [{"attachment": {"contentType": "application/pdf"}}]} | extra)  # fmt: skip


def certified_on(date: str, **extra: Any) -> Any:
    """P8's initial certification (golden: 2025-01-06 08:30, before the first session) dated ``date`` instead."""

    def change(bundle: Bundle) -> None:
        bundle["entry"] = [e for e in bundle["entry"] if e["resource"].get("id") != "P8-cert"]
        document("P8-cert", "iop-certification", date, **extra)(bundle)

    return change


def recertified(day: str) -> Any:
    return document(f"P8-recert-{day}", "iop-recertification", f"{day}T10:00:00-07:00")


def discharged(bundle: Bundle) -> None:
    """P8 discharged on 2025-03-07 at noon, 60 days after the program began on 2025-01-06."""
    for entry in bundle["entry"]:
        if entry["resource"].get("id") == "P8-prog":
            entry["resource"]["status"] = "finished"
            entry["resource"]["period"]["end"] = "2025-03-07T12:00:00-07:00"


EARLIER_PROGRAM = {
    "resourceType": "Encounter",
    "id": "P8-prog-2024",
    "status": "finished",
    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
    "type": [{"coding": [{"system": "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "code": "S9480"}]}],
    "subject": {"reference": "Patient/P8-patient"},
    "period": {"start": "2024-11-04T09:00:00-07:00", "end": "2024-12-20T12:00:00-07:00"},
}


def test_recertification_clock_with_the_documents_unreadable() -> None:
    """No certification could be read: one before the start may exist, so "not due" counted from T0 is unknown (was
    not-applicable)."""
    discharge = SentenceCase(RECERT, "?", RECERT_QUOTE, from_golden("P8", discharged), "encounter-discharge",
                             P8_DISCHARGE_AT, POLICY)  # fmt: skip
    assert evaluate(discharge)[RECERT]["status"] == "not-applicable"
    got = evaluate(discharge, unreadable=("documents",))[RECERT]
    assert got["status"] == "unknown", got["reason"]
    assert "could not be read: documents" in got["reason"] and "counted from the start" in got["reason"]


def test_recert_quote_is_in_the_policy_text() -> None:
    assert quote_is_in(RECERT_QUOTE, TEXT)


CERTIFIED_DEC_30 = certified_on("2024-12-30T10:00:00-07:00")

test_recertification_clock_starts_at_the_initial_certification = review_test(
    Review(RECERT, RECERT_QUOTE, "P8", "encounter-discharge", P8_DISCHARGE_AT, POLICY, base=(discharged,)),
    [
        # Certified on 2024-12-30, a week before the first session: the first recertification was due 02-28, and the
        # stay ran to 03-07 (was not-applicable, "not due", the clock counting from the first session).
        (
            "certified before the start, none by day 60 of the certification",
            CERTIFIED_DEC_30,
            "not-met",
            "between 2024-12-30 12:00 -05:00 and 2025-02-28 23:59 -05:00",
        ),
        # A recertification on 03-05 is 65 days after that certification (was met).
        ("recertified on day 65 of the certification", (CERTIFIED_DEC_30, recertified("2025-03-05")), "not-met",
         "2025-02-28 23:59"),
        ("recertified on day 57 of the certification", (CERTIFIED_DEC_30, recertified("2025-02-25")), "met",
         "IOP recertification at 2025-02-25"),
        # Due by the end of 02-28 at the site: a recertification at 23:30 that evening, stored in UTC on 03-01, is in
        # time; one half an hour after midnight is not.
        ("recertified 23:30 local on the due day, stored in UTC",
         (CERTIFIED_DEC_30, document("rc", "iop-recertification", "2025-03-01T04:30:00Z")), "met",
         "IOP recertification at 2025-02-28 23:30 -05:00"),
        ("recertified 00:30 local the day after, stored in UTC",
         (CERTIFIED_DEC_30, document("rc", "iop-recertification", "2025-03-01T05:30:00Z")), "not-met",
         "and 2025-02-28 23:59 -05:00"),
        # A certification of the program that ended in December is not this stay's: the clock starts at this stay's
        # own certification (01-06), so nothing was due by the 03-07 discharge.
        (
            "another program's certification",
            (
                lambda b: add(b, EARLIER_PROGRAM),
                document("P8-cert-2024", "iop-certification", "2024-12-16T10:00:00-07:00",
                         context={"encounter": [{"reference": "Encounter/P8-prog-2024"}]}),
            ),
            "not-applicable",
            "not due",
        ),
        # A recertification document, an entered-in-error certification, or one from 2024-06 does not start the clock.
        (
            "recertification, void or stale certification before the start",
            (
                document("P8-recert-old", "iop-recertification", "2024-12-30T10:00:00-07:00"),
                document("P8-void", "iop-certification", "2024-12-29T10:00:00-07:00", status="entered-in-error"),
                document("P8-cert-june", "iop-certification", "2024-06-03T10:00:00-07:00"),
            ),
            "not-applicable",
            "not due",
        ),
    ],
)  # fmt: skip

test_recertification_due_before_the_continuation_order = review_test(
    Review(RECERT, RECERT_QUOTE, "P8", "order-sign", P8_RENEWAL_AT, POLICY),
    [
        # Stored in UTC: 2024-12-31 03:30Z is the evening of 12-30 at the site; due on 02-28, not 03-01. The
        # continuation order signed on 03-10 (itself a recertification) comes too late.
        ("certification stored in UTC after local midnight", certified_on("2024-12-31T03:30:00Z"), "not-met",
         "and 2025-02-28 23:59 -05:00"),
    ],
)  # fmt: skip


ACUTE = "bh803.rn.4-acute-onset-or-decompensation"
ACUTE_QUOTE = (
    "Patients admitted to an IOP generally have an acute onset or decompensation of a covered Axis I mental disorder"
)
MARCH_20 = "2025-03-20T10:00:00-05:00"


def chronic_only(bundle: Bundle) -> None:
    """P7's depression began in 2019 and its emergency visit of 04-22 is gone: nothing acute on record."""
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"].get("id") != "P7-ed"]
    for entry in bundle["entry"]:
        if entry["resource"].get("id") == "P7-dx":
            entry["resource"]["onsetDateTime"] = "2019-06-01"


def p7_encounter(eid: str, cls: str, status: str, start: str, end: str | None = None, dx: str = "P7-dx") -> Any:
    """Add an Encounter of P7 (class ``cls``) listing Condition ``dx`` as its diagnosis."""
    return encounter("P7", eid, cls, status, start, end, diagnosis=[{"condition": {"reference": f"Condition/{dx}"}}])


def test_acute_quote_is_in_the_policy_text() -> None:
    assert quote_is_in(ACUTE_QUOTE, TEXT)


test_decompensation_is_a_recent_acute_visit = review_test(
    Review(ACUTE, ACUTE_QUOTE, "P7", "order-sign", P7_AT, POLICY, base=(chronic_only,)),
    [
        # A psychiatric stay from 03-20 that ended on 04-28, four days before the order: a decompensation (was
        # unknown: it began more than 30 days before the order).
        (
            "psychiatric stay ended 4 days ago",
            p7_encounter("P7-ip", "IMP", "finished", MARCH_20, "2025-04-28T11:00:00-05:00"),
            "met",
            "Encounter/P7-ip",
        ),
        # The order is signed on the unit: the stay begun on 03-20 is still in progress.
        (
            "still on the psychiatric unit",
            p7_encounter("P7-ip", "IMP", "in-progress", MARCH_20),
            "met",
            "Encounter/P7-ip",
        ),
        # A stay left in progress since 2019 is a stale status, not a decompensation now.
        (
            "stay left in progress since 2019",
            p7_encounter("P7-ip", "IMP", "in-progress", "2019-06-01T10:00:00-05:00"),
            "unknown",
            "no emergency or inpatient visit in the last 30 days found",
        ),
        # An emergency visit from 23:30 on 04-01 at the site (stored in UTC: 04-02 03:30Z) to 04:00 on 04-02: it ran
        # into the 30 days before the 05-02 order (was unknown: it began, by local date, on day 31).
        (
            "emergency visit stored in UTC",
            p7_encounter("P7-ed2", "EMER", "finished", "2025-04-02T03:30:00Z", "2025-04-02T08:00:00Z"),
            "met",
            "Encounter/P7-ed2",
        ),
        # A stay that ended in February is no recent decompensation.
        (
            "stay ended in February",
            p7_encounter("P7-ip", "IMP", "finished", "2025-02-01T10:00:00-05:00", "2025-02-20T11:00"),
            "unknown",
            "no emergency or inpatient visit in the last 30 days found",
        ),
    ],
)  # fmt: skip


def onset_on(day: str) -> Any:
    """P7's depression (no acute visit on record) first noted on ``day``, a date with no time."""

    def change(bundle: Bundle) -> None:
        chronic_only(bundle)
        for entry in bundle["entry"]:
            if entry["resource"].get("id") == "P7-dx":
                entry["resource"]["onsetDateTime"] = day

    return change


test_a_date_without_a_time_is_that_date_at_the_site = review_test(
    Review(ACUTE, ACUTE_QUOTE, "P7", "order-sign", P7_AT, POLICY),
    [
        # 2025-02-01 is the 90th local date before the 05-02 order: a date without a time is that date at the site
        # (was unknown: it was compared as midnight UTC, 19:00 the evening before in Boston).
        ("onset 2025-02-01", onset_on("2025-02-01"), "met", "Condition/P7-dx"),
        ("onset 2025-01-31", onset_on("2025-01-31"), "unknown", "no diagnosis with onset in the last 90 days found"),
    ],
)


OUD = "bh803.otp.1-oud-dx"
OUD_QUOTE = "as part of a distinct and organized intensive ambulatory treatment program for the treatment of OUD"


def otp_order_for(system: str, code: str) -> Any:
    """P7's order becomes an OTP order (G0137) that names its reason by code only: no Condition for it on record."""

    def change(bundle: Bundle) -> None:
        for entry in bundle["entry"]:
            if entry["resource"].get("id") == "P7-order":
                order = entry["resource"]
                order["code"] = {"coding": [{"system": HCPCS, "code": "G0137"}]}
                order.pop("reasonReference", None)
                order["reasonCode"] = [{"coding": [{"system": system, "code": code}]}]

    return change


def test_oud_quote_is_in_the_policy_text() -> None:
    assert quote_is_in(OUD_QUOTE, TEXT)


test_otp_for_the_treatment_of_oud = review_test(
    Review(OUD, OUD_QUOTE, "P7", "order-sign", P7_AT, POLICY),
    [
        # The OTP order names opioid dependence (dotless ICD-10-CM, or SNOMED CT only): the program treats an OUD
        # (was unknown, "no opioid use disorder found": only the problem list was read).
        ("order for F1120, dotless", otp_order_for(ICD, "F1120"), "met", "for an opioid use disorder"),
        ("order for SNOMED opioid dependence", otp_order_for(SCT, "75544000"), "met", "ServiceRequest/P7-order"),
        # The OTP order names major depression, and no OUD is on record: not for the treatment of OUD.
        ("order for depression", otp_order_for(ICD, "F33.2"), "not-met", "not an opioid use disorder"),
    ],
)  # fmt: skip


NINE = "bh803.otp.4-9-services-7-days"
NINE_QUOTE = "HCPCS code G0137: Intensive outpatient services; minimum of nine services over a 7- contiguous day period"
TELEHEALTH = "bh803.otp.5-no-telehealth"
TELEHEALTH_QUOTE = (
    "OTPs providing intensive outpatient services to Medicare beneficiaries with an OUD shall not receive payment "
    "under Medicare part B if the intensive outpatient services are furnished via audio-video or audio-only "
    "communications technology."
)


def otp_discharge(bundle: Bundle) -> None:
    """P8's program is an OTP program (G0137) for an opioid use disorder, discharged on 2025-03-07."""
    discharged(bundle)
    for entry in bundle["entry"]:
        if entry["resource"].get("id") == "P8-prog":
            entry["resource"]["type"] = [{"coding": [{"system": HCPCS, "code": "G0137"}]}]
    add(bundle, {"resourceType": "Condition", "id": "P8-oud", "subject": {"reference": "Patient/P8-patient"},
                 "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                                "code": "active"}]},
                 "code": {"coding": [{"system": ICD, "code": "F1120"}]}, "onsetDateTime": "2020-01-01"})  # fmt: skip


def services_resent(*, identifier: bool) -> Any:
    """Every service record of P8 (7 a week) sent twice under new ids, with or without the same identifier."""

    def change(bundle: Bundle) -> None:
        for entry in list(bundle["entry"]):
            resource = entry["resource"]
            if resource["resourceType"] == "Procedure":
                if identifier:
                    resource["identifier"] = [{"system": "urn:example:feed", "value": resource["id"]}]
                add(bundle, {**resource, "id": resource["id"] + "-resent"})

    return change


def session_typed(code: str, status: str = "finished") -> Any:
    """P8's 03-03 session typed by a SNOMED CT encounter code (ambulatory class kept), with this status."""

    def change(bundle: Bundle) -> None:
        for entry in bundle["entry"]:
            if entry["resource"].get("id") == "P8-prog-sess-0303":
                entry["resource"]["type"] = [{"coding": [{"system": SCT, "code": code}]}]
                entry["resource"]["status"] = status

    return change


def test_otp_quotes_are_in_the_policy_text() -> None:
    assert quote_is_in(NINE_QUOTE, TEXT) and quote_is_in(TELEHEALTH_QUOTE, TEXT)


test_otp_nine_services_counted_once = review_test(
    Review(NINE, NINE_QUOTE, "P8", "encounter-discharge", P8_DISCHARGE_AT, POLICY, base=(otp_discharge,)),
    [
        # Seven services a week, each record resent under a new id: still seven, not fourteen (was met without an
        # identifier: the copies were counted).
        ("services resent, no identifier", services_resent(identifier=False), "not-met", "at least 9 needed"),
        ("services resent, same identifier", services_resent(identifier=True), "not-met", "at least 9 needed"),
    ],
)

test_otp_no_telehealth = review_test(
    Review(TELEHEALTH, TELEHEALTH_QUOTE, "P8", "encounter-discharge", P8_DISCHARGE_AT, POLICY, base=(otp_discharge,)),
    [
        # A session typed as a telephone encounter under an ambulatory class is audio-only (was met: "always").
        ("telephone session", session_typed("185317003"), "not-met", "Encounter/P8-prog-sess-0303"),
        # A telemedicine session that was cancelled was not furnished at all.
        ("cancelled telemedicine session", session_typed("448337001", "cancelled"), "met", "no session"),
        # In person throughout: the reason says what was checked, not "always".
        ("in person", lambda bundle: None, "met", "no session delivered by telehealth found"),
    ],
)


CERTIFIER = "bh803.otp.2-cert-9h-higher-intensity"
CERTIFIER_QUOTE = (
    "a physician or non-physician practitioner must certify that the individual has a need for a minimum of nine "
    "hours of services per week"
)
NUCC = "http://nucc.org/provider-taxonomy"
V2_0360 = "http://terminology.hl7.org/CodeSystem/v2-0360"


def otp_order_by(system: str, code: str) -> Any:
    """P7's order is an OTP order (G0137, 3 × 3 h a week) for opioid dependence, signed by a practitioner qualified
    only by this code (golden: a nurse practitioner)."""

    def change(bundle: Bundle) -> None:
        otp_order_for(ICD, "F11.20")(bundle)
        for entry in bundle["entry"]:
            resource = entry["resource"]
            if resource.get("id") == "P7-order":
                resource["occurrenceTiming"]["repeat"]["duration"] = 3
            if resource.get("id") == "P7-np":
                resource["qualification"] = [{"code": {"coding": [{"system": system, "code": code}]}}]

    return change


test_otp_certifier_is_a_physician_or_npp = review_test(
    Review(CERTIFIER, CERTIFIER_QUOTE, "P7", "order-sign", P7_AT, POLICY, text=TEXT),
    [
        # A psychiatrist whose Practitioner carries only the NUCC taxonomy (US Core's usual coding) is a physician
        # (was not-met: "neither a physician nor an NPP").
        ("psychiatrist by NUCC taxonomy", otp_order_by(NUCC, "2084P0800X"), "unknown", "supporting evidence found"),
        ("psychiatric NP by NUCC taxonomy", otp_order_by(NUCC, "363LP0808X"), "unknown", "supporting evidence found"),
        # A registered nurse is neither.
        ("registered nurse", otp_order_by(V2_0360, "RN"), "not-met", "neither a physician nor an NPP"),
    ],
)


SUPPORT = "bh803.rn.2-adequate-support-system"
SUPPORT_QUOTE = "must have an adequate support system to sustain/maintain themselves outside the IOP"


def related_person(**fields: Any) -> Any:
    """A RelatedPerson of P7 (a spouse) with these fields."""
    person = {"resourceType": "RelatedPerson", "id": "P7-spouse", "active": True,
              "patient": {"reference": "Patient/P7-patient"},
              "relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                                            "code": "SPS"}]}]}  # fmt: skip
    return lambda bundle: add(bundle, person | fields)


test_support_system_is_current = review_test(
    Review(SUPPORT, SUPPORT_QUOTE, "P7", "order-sign", P7_AT, POLICY, text=TEXT),
    [
        # A spouse on record is supporting evidence (the clinician confirms the support is adequate).
        ("spouse", related_person(), "unknown", "supporting evidence found"),
        # An ex-spouse whose relationship ended in 2019, or an inactive record, is no support now (was "supporting
        # evidence found").
        ("relationship ended in 2019", related_person(period={"start": "1990-06-01", "end": "2019-03-01"}), "unknown",
         "not shown"),
        ("inactive record", related_person(active=False), "unknown", "not shown"),
    ],
)  # fmt: skip


def step_down_referral(status: str) -> Any:
    """A referral of P8 to outpatient psychotherapy (SNOMED 3457005 'Patient referral'), written the day before
    discharge, with this status."""
    return adding({"resourceType": "ServiceRequest", "id": "P8-step-down", "status": status, "intent": "order",
                   "category": [{"coding": [{"system": SCT, "code": "3457005"}]}],
                   "code": {"coding": [{"system": CPT, "code": "90834"}]},
                   "subject": {"reference": "Patient/P8-patient"},
                   "authoredOn": "2025-03-06T16:00:00-07:00"})  # fmt: skip


test_step_down_needs_a_referral_made = review_test(
    # “Patients in IOP may be discharged by either stepping down to a less intensive level of outpatient care”
    Review("bh803.discharge.1-step-down-or-up", Q_DISCHARGE, "P8", "encounter-discharge", P8_DISCHARGE_AT, POLICY,
           base=(discharged,), encounter_id="P8-prog"),
    [
        ("referral-active", step_down_referral("active"), "met", "ServiceRequest/P8-step-down"),
        # A referral saved unsigned (draft) steps the patient down nowhere (was met).
        ("referral-draft", step_down_referral("draft"), "not-applicable", "step-down or step-up arrangement"),
    ],
)  # fmt: skip


MAINTENANCE = "bh803.rn.5-maintenance-needs-evidence"
MAINTENANCE_QUOTE = (
    "Continued treatment in order to maintain a stable psychiatric condition or functional level requires evidence "
    "that less intensive treatment options (e.g., outpatient, psychosocial, day treatment, and/or other community "
    "supports) cannot provide the level of support necessary to maintain the patient and to prevent relapse or "
    "hospitalization."
)


def p8_visit(
    eid: str,
    cls: str,
    start: str,
    end: str,
    *,
    code: tuple[str, str] | None = None,
    reason: str | None = None,
    status: str = "finished",
) -> Any:
    """Add an Encounter of P8 before the program (class ``cls``), typed by ``code`` and/or with an ICD-10-CM reason."""
    typed = {"type": [{"coding": [{"system": code[0], "code": code[1]}]}]} if code else {}
    reasoned = {"reasonCode": [{"coding": [{"system": ICD, "code": reason}]}]} if reason else {}
    return encounter("P8", eid, cls, status, start, end, **typed, **reasoned)


# P8 is stable (PHQ-9 15 on 01-06, 9 on 03-07) and a continuation order is signed on 03-10: rn.5 applies. The
# program began on 2025-01-06 (local dates at the site, America/New_York): the 90-day look-back opens on 2024-10-08.
PHP_STEP_DOWN = p8_visit("P8-php", "AMB", "2024-12-16T16:00:00Z", "2025-01-06T02:30:00Z", code=(HCPCS, "H0035"))
THERAPY_IN_DECEMBER = p8_visit("P8-op", "AMB", "2024-12-10T17:00:00Z", "2024-12-10T18:00:00Z", code=(CPT, "90834"))
OUTSIDE = "not shown: no behavioural-health outpatient visit"
TRIED = "supporting evidence found (1 × behavioural-health outpatient visit"


test_maintenance_needs_a_lower_level_that_failed = review_test(
    Review(
        MAINTENANCE, MAINTENANCE_QUOTE, "P8", "order-sign", P8_RENEWAL_AT, POLICY, base=(p8_phq9(15, 9),), text=TEXT
    ),
    [
        # A partial-hospital stay that ended the evening before the IOP (21:30 local, stored in UTC on the IOP's first
        # day) is a step down FROM a higher level, not a less intensive option that failed (was "supporting evidence
        # found": Encounter/P8-php) ...
        ("partial hospitalization ended the evening before, in UTC", PHP_STEP_DOWN, "unknown", OUTSIDE),
        # ... nor is a psychiatric inpatient stay that ended the day before.
        ("psychiatric inpatient stay ended the day before",
         p8_visit("P8-ip", "IMP", "2024-12-20T16:00:00Z", "2025-01-05T17:00:00Z", reason="F25.0"), "unknown", OUTSIDE),
        # Outpatient psychotherapy in December, and still the IOP was needed: a lower level tried (the clinician
        # confirms it could not hold the patient) ...
        ("outpatient psychotherapy in December", THERAPY_IN_DECEMBER, "unknown", TRIED),
        ("outpatient psychotherapy, clinician attests", (THERAPY_IN_DECEMBER, c8(MAINTENANCE, True)), "met",
         "attested yes"),
        # ... the clinician may say the lower level would do: the sentence's not-met.
        ("outpatient psychotherapy, clinician attests no", (THERAPY_IN_DECEMBER, c8(MAINTENANCE, False)), "not-met",
         "attested no"),
        ("video visit for schizoaffective disorder",
         p8_visit("P8-vr", "VR", "2024-11-20T17:00:00Z", "2024-11-20T17:30:00Z", reason="F25.0"), "unknown", TRIED),
        # A primary-care visit for hypertension is not behavioural-health treatment; a cancelled visit was not tried.
        ("primary-care visit for hypertension",
         p8_visit("P8-pcp", "AMB", "2024-12-12T17:00:00Z", "2024-12-12T17:20:00Z", code=(CPT, "99213"), reason="I10"),
         "unknown", OUTSIDE),
        ("cancelled psychotherapy",
         p8_visit("P8-op", "AMB", "2024-12-10T17:00:00Z", "2024-12-10T18:00:00Z", code=(CPT, "90834"),
                  status="cancelled"), "unknown", OUTSIDE),
        # The look-back counts local dates: 23:30 on 10-07 at the site (EDT; stored in UTC on 10-08) is the 91st day
        # before the program; 00:30 on 10-08 is the 90th.
        ("therapy late on the 91st day, stored in UTC",
         p8_visit("P8-op", "AMB", "2024-10-08T03:30:00Z", "2024-10-08T04:20:00Z", code=(CPT, "90834")), "unknown",
         OUTSIDE),
        ("therapy early on the 90th day, stored in UTC",
         p8_visit("P8-op", "AMB", "2024-10-08T04:30:00Z", "2024-10-08T05:20:00Z", code=(CPT, "90834")), "unknown",
         TRIED),
    ],
)  # fmt: skip


OTP_PLAN = "bh803.otp.3-plan-of-care"
NUCC_COUNSELLOR = "101YA0400X"  # Addiction (Substance Use Disorder) Counselor: not a §1842(b)(18)(C) practitioner


def plan_author(reference: str | None, *resources: dict[str, Any]) -> Any:
    """P8's treatment plan (golden: by Dr Ruiz, MD) authored by ``reference`` (None: no author); adds ``resources``."""

    def change(bundle: Bundle) -> None:
        plan = next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == "P8-tp")
        plan.pop("author")
        if reference:
            plan["author"] = {"reference": reference}
        add(bundle, *resources)

    return change


def practitioner(pid: str, system: str, code: str) -> dict[str, Any]:
    """A Practitioner qualified only by this code."""
    return {"resourceType": "Practitioner", "id": pid, "qualification": [{"code": {"coding": [{"system": system,
            "code": code}]}}]}  # fmt: skip


def role(rid: str, practitioner_reference: str | None) -> dict[str, Any]:
    """A PractitionerRole naming this practitioner (or none)."""
    named = {"practitioner": {"reference": practitioner_reference}} if practitioner_reference else {}
    return {"resourceType": "PractitionerRole", "id": rid, "active": True} | named


def nurse_plan_beside_the_psychiatrist(bundle: Bundle) -> None:
    """A second plan of the stay, by a registered nurse, beside Dr Ruiz's."""
    plan = next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == "P8-tp")
    add(bundle, practitioner("P8-rn", V2_0360, "RN"),
        plan | {"id": "P8-tp-nursing", "author": {"reference": "Practitioner/P8-rn"}})  # fmt: skip


UNRESOLVED = "not shown: no treatment plan of this stay by a physician or non-physician practitioner"

test_otp_plan_by_a_physician_or_npp = review_test(
    # “furnished in accordance with a physician or non-physician practitioner … certification and plan of care”
    Review(OTP_PLAN, Q_OTP_PLAN, "P8", "order-sign", P8_RENEWAL_AT, POLICY, base=(otp_continuation,), text=TEXT),
    [
        # The psychiatrist's plan, her PractitionerRole as author: a physician's plan.
        ("plan by the psychiatrist's role", plan_author("PractitionerRole/P8-ruiz-role",
                                                         role("P8-ruiz-role", "Practitioner/P8-ruiz")),
         "met", "CarePlan/P8-tp"),
        ("a nurse's plan beside the psychiatrist's", nurse_plan_beside_the_psychiatrist, "met", "CarePlan/P8-tp"),
        # A plan by someone the record identifies as neither a physician nor an NPP is no such plan (was met).
        ("plan by a registered nurse", plan_author("Practitioner/P8-rn", practitioner("P8-rn", V2_0360, "RN")),
         "not-met", "neither a physician nor a non-physician practitioner: CarePlan/P8-tp"),
        ("plan by an addiction counsellor's role",
         plan_author("PractitionerRole/P8-cadc-role", practitioner("P8-cadc", NUCC, NUCC_COUNSELLOR),
                     role("P8-cadc-role", "Practitioner/P8-cadc")),
         "not-met", "neither a physician nor a non-physician practitioner: CarePlan/P8-tp"),
        # An author the record does not resolve may be a physician: unknown, not not-met.
        ("author role not in the record", plan_author("PractitionerRole/P8-gone"), "unknown", UNRESOLVED),
        ("author role naming no practitioner", plan_author("PractitionerRole/P8-r0", role("P8-r0", None)), "unknown",
         UNRESOLVED),
        ("author practitioner not in the record", plan_author("Practitioner/P8-gone"), "unknown", UNRESOLVED),
        ("no author", plan_author(None), "unknown", UNRESOLVED),
        # A clinical social worker is an NPP (§1842(b)(18)(C)); "LICSW" as text only is not coded, so unknown.
        ("social worker qualified in text only", plan_author("Practitioner/P8-licsw"), "unknown", UNRESOLVED),
    ],
)  # fmt: skip


# US Core names a plan's author or an order's requester as a Practitioner or as a PractitionerRole: the role of a
# psychiatrist is a physician (a plan authored by Dr Ruiz's role was "no treatment plan by a physician": not-met).
RUIZ_ROLE_AUTHOR = plan_author("PractitionerRole/P8-ruiz-role", role("P8-ruiz-role", "Practitioner/P8-ruiz"))


def p7_order_by_the_psychiatrists_role(bundle: Bundle) -> None:
    """P7's order is requested by the role of a psychiatrist (MD), not by the nurse practitioner."""
    order = next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == "P7-order")
    order["requester"] = {"reference": "PractitionerRole/P7-md-role"}
    add(bundle, practitioner("P7-md", V2_0360, "MD"), role("P7-md-role", "Practitioner/P7-md"))


test_plan_of_care_by_the_physicians_role = review_test(
    Review("bh803.doc.2-plan-of-care-by-physician", PLAN_QUOTE, "P8", "order-sign", P8_RENEWAL_AT, POLICY),
    [("plan by the psychiatrist's role", RUIZ_ROLE_AUTHOR, "met", "treatment plan by a physician at 2025-01-07")],
)
test_treatment_plan_signed_by_the_physicians_role = review_test(
    Review("bh803.doc.6-tx-plan-physician-signed-goals", Q_TX_PLAN, "P8", "order-sign", P8_RENEWAL_AT, POLICY),
    [("plan by the psychiatrist's role", RUIZ_ROLE_AUTHOR, "met", "treatment plan by a physician: CarePlan/P8-tp")],
)
test_team_plan_under_the_physicians_role = review_test(
    Review("bh803.program.2-individualized-plan-mdt", Q_PLAN_MDT, "P8", "order-sign", P8_RENEWAL_AT, POLICY),
    [("plan by the psychiatrist's role", RUIZ_ROLE_AUTHOR, "met", "physician's treatment plan addressing")],
)
test_certified_by_the_physicians_role = review_test(
    Review("bh803.eligibility.1a-certified-by-physician", Q_CERTIFIED, "P7", "order-sign", P7_AT, POLICY),
    [("order by a psychiatrist's role", p7_order_by_the_psychiatrists_role, "met", "IOP order signed by a physician")],
)


def team_of_roles(bundle: Bundle) -> None:
    """P8's care team lists Dr Ruiz and the social worker by their PractitionerRoles."""
    team = next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == "P8-team")
    team["participant"] = [{"member": {"reference": f"PractitionerRole/{who}-role"}} for who in ("P8-ruiz", "P8-licsw")]
    add(bundle, role("P8-ruiz-role", "Practitioner/P8-ruiz"), role("P8-licsw-role", "Practitioner/P8-licsw"))


# "includes a multidisciplinary team approach": a care team that lists its members by role still has a physician and
# a social worker on it (was "no physician on the treatment plan's care team": not-met).
test_team_plan_with_members_by_role = review_test(
    Review("bh803.program.2-individualized-plan-mdt", Q_PLAN_MDT, "P8", "order-sign", P8_RENEWAL_AT, POLICY),
    [("care team members by role", team_of_roles, "met", "physician on the treatment plan's care team")],
)
test_treatment_plan_team_with_members_by_role = review_test(
    Review("bh803.doc.6-tx-plan-physician-signed-goals", Q_TX_PLAN, "P8", "order-sign", P8_RENEWAL_AT, POLICY),
    [("care team members by role", team_of_roles, "met", "clinician of another discipline than medicine")],
)
