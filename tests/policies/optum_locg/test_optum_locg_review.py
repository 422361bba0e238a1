"""Optum LOCG 2021 IOP, reviewer cases: verdicts a reader of the policy text gives on messy, real-shaped records,
each one change from golden patient P4 (discharge from the IOP)."""

from __future__ import annotations

from typing import Any

from sentence_cases import Bundle, Review, ReviewRow, add, by_id, quote_is_in, review_test
from test_optum_locg_sentences import continued_stay

POLICY = "optum-locg"
TEXT = "optum-locg-2021-iop.txt"
P4_AT = "2025-02-28T12:05:00-05:00"  # P4: discharge from the IOP; the psychiatric follow-up is on 2025-03-18
BRIDGE = "optum-locg.discharge.10e-bridge-med-supply"
BRIDGE_QUOTE = (
    "A prescription for a supply of medication sufficient to bridge the time between discharge and the scheduled "
    "follow-up psychiatric assessment."
)


def dispense(**fields: Any) -> Any:
    """Change P4's discharge sertraline (a 14-day fill) dispenseRequest."""

    def change(bundle: Bundle) -> None:
        by_id(bundle, "P4-sertraline")["dispenseRequest"].update(fields)

    return change


BRIDGE_REVIEW = Review(BRIDGE, BRIDGE_QUOTE, "P4", "encounter-discharge", P4_AT, POLICY)


def test_bridge_quote_is_in_the_policy_text() -> None:
    assert quote_is_in(BRIDGE_QUOTE, TEXT)


test_bridge_counts_the_whole_prescription = review_test(
    BRIDGE_REVIEW,
    [
        # 14 days with one refill is 28 days from 02-28: past the 03-18 psychiatric follow-up.
        ("one refill covers the gap", dispense(numberOfRepeatsAllowed=1), "met", "supply lasts until"),
        # A fill stated in weeks: 3 weeks = 21 days, not 3 days.
        (
            "three-week fill in UCUM",
            dispense(
                expectedSupplyDuration={
                    "value": 3,
                    "unit": "weeks",
                    "system": "http://unitsofmeasure.org",
                    "code": "wk",
                }
            ),
            "met",
            "supply lasts until",
        ),
        (
            "three-week fill, unit text only",
            dispense(expectedSupplyDuration={"value": 3, "unit": "weeks"}),
            "met",
            "until",
        ),
        # An unreadable unit is not a short supply.
        ("unknown unit", dispense(expectedSupplyDuration={"value": 3, "unit": "fortnights"}), "unknown", "no supply"),
        # No refills: 14 days end on 03-14, before the 03-18 follow-up.
        ("no refills: short", dispense(numberOfRepeatsAllowed=0), "not-met", "ends before"),
        (
            "one week with one refill: short",
            dispense(expectedSupplyDuration={"value": 1, "code": "wk"}, numberOfRepeatsAllowed=1),
            "not-met",
            "ends before",
        ),
    ],
)


MEDS = "optum-locg.discharge.10b5-meds-dose-labs"
MEDS_QUOTE = "The names, dosages and frequencies of each medication"


def dosage(change: Any) -> Any:
    """Change P4's discharge sertraline's first dosageInstruction ("100 mg daily", 100 mg, once a day)."""

    def apply(bundle: Bundle) -> None:
        change(by_id(bundle, "P4-sertraline")["dosageInstruction"][0])

    return apply


def test_meds_quote_is_in_the_policy_text() -> None:
    assert quote_is_in(MEDS_QUOTE, TEXT)


test_dosage_written_or_structured = review_test(
    Review(MEDS, MEDS_QUOTE, "P4", "encounter-discharge", P4_AT, POLICY),
    [
        # "100 mg daily" written in the instruction text names the dose: documented, just not structured (was not-met).
        ("dose only in the instruction text", dosage(lambda d: d.pop("doseAndRate")), "unknown", "fall short"),
        # No dose anywhere: the plan does not give the dosage.
        (
            "no dose, structured or written",
            dosage(lambda d: [d.pop("doseAndRate"), d.pop("text")]),
            "not-met",
            "no dose or no frequency",
        ),
    ],
)


def dispensed(quantity: dict[str, Any], *instructions: dict[str, Any], refills: int = 0) -> Any:
    """P4's sertraline with no expectedSupplyDuration: a dispensed quantity and these dosage instructions."""

    def change(bundle: Bundle) -> None:
        med = by_id(bundle, "P4-sertraline")
        med["dispenseRequest"] = {"quantity": quantity, "numberOfRepeatsAllowed": refills}
        med["dosageInstruction"] = list(instructions)

    return change


def take(dose: float, unit: str, timing: dict[str, Any], text: str = "") -> dict[str, Any]:
    """A structured dosage instruction (with its text, as EHRs send it)."""
    return {"text": text or f"take {dose:g} {unit}", "timing": timing, "doseAndRate": [{"doseQuantity": {
        "value": dose, "unit": unit, "system": "http://unitsofmeasure.org", "code": "{tbl}" if "tab" in unit else unit
    }}]}  # fmt: skip


DAILY = {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}}
TWICE_DAILY = {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}}


test_bridge_supply_from_quantity_and_daily_dose = review_test(
    BRIDGE_REVIEW,
    [
        # 30 tablets, one a day from the 02-28 discharge: until 03-30, past the 03-18 follow-up (was unknown).
        (
            "30 tablets, one a day",
            dispensed({"value": 30, "unit": "tablets"}, take(1, "tablet", DAILY)),
            "met",
            "until",
        ),
        # 30 tablets, one twice a day: 15 days, to 03-15, before 03-18 (was unknown).
        (
            "30 tablets, one twice a day",
            dispensed({"value": 30, "unit": "tablet"}, take(1, "tablet", TWICE_DAILY)),
            "not-met",
            "(15 days) ends before",
        ),
        # The same with one refill: 30 days.
        (
            "30 tablets twice a day, one refill",
            dispensed({"value": 30, "unit": "tablet"}, take(1, "tablet", TWICE_DAILY), refills=1),
            "met",
            "until",
        ),
        # 14 tablets of 100 mg, "100 mg daily": the dose is in mg, the quantity in tablets; the strength is not
        # structured, so the supply cannot be computed.
        (
            "dose in mg, quantity in tablets",
            dispensed({"value": 14, "unit": "tablet"}, take(100, "mg", DAILY)),
            "unknown",
            "nor a quantity and a structured daily dose",
        ),
        # "1 tab daily" only in text, or as needed: not structured.
        (
            "dose only in text",
            dispensed({"value": 30, "unit": "tablet"}, {"text": "1 tab daily"}),
            "unknown",
            "no supply duration",
        ),
        (
            "as needed",
            dispensed({"value": 30, "unit": "tablet"}, {**take(1, "tablet", DAILY), "asNeededBoolean": True}),
            "unknown",
            "no supply duration",
        ),
    ],
)


C_AT = "2025-02-20T10:00:00-05:00"  # P4 still in the program (since 2025-02-03): a renewal order is signed
AD = "optum-locg.continued.cs3-advance-directive"
AD_QUOTE = (
    "When clinically indicated, the provider and the member assess the need to create or update the member's "
    "advance directive."
)


def advance_directive(date: str, **extra: Any) -> Any:
    """An advance directive document (LOINC 42348-3) of P4 dated ``date``."""
    return lambda bundle: add(
        bundle,
        {
            "resourceType": "DocumentReference",
            "id": "ad",
            "status": "current",
            "subject": {"reference": "Patient/P4-patient"},
            "type": {"coding": [{"system": "http://loinc.org", "code": "42348-3"}]},
            "date": date,
        }
        | extra,
    )


def test_advance_directive_quote_is_in_the_policy_text() -> None:
    assert quote_is_in(AD_QUOTE, TEXT)


test_advance_directive_assessed_in_this_stay = review_test(
    Review(AD, AD_QUOTE, "P4", "order-sign", C_AT, POLICY, base=(continued_stay,)),
    [
        # Made during the stay: the provider and the member assessed the need and created it.
        ("made during the stay", advance_directive("2025-02-10T15:00:00-05:00"), "met", "DocumentReference/ad"),
        # On file since 2012: it exists, but nothing shows the need was assessed in this stay (was met).
        ("on file since 2012", advance_directive("2012-05-01"), "unknown", "from before this episode"),
        # Entered in error: no advance directive at all (was met).
        (
            "entered in error",
            advance_directive("2025-02-10T15:00:00-05:00", status="entered-in-error"),
            "unknown",
            "no advance directive made or updated during this stay",
        ),
        # Written on the inpatient unit the day before the IOP began: that stay's, not this one's (was met).
        (
            "the inpatient unit's",
            advance_directive("2025-02-02T10:00:00-05:00", context={"encounter": [{"reference": "Encounter/P4-ip"}]}),
            "unknown",
            "made in another stay or program",
        ),
        # A Consent with the advance-directive scope recorded during the stay, stored in UTC.
        (
            "advance-directive Consent in UTC",
            lambda bundle: add(
                bundle,
                {
                    "resourceType": "Consent",
                    "id": "adr",
                    "status": "active",
                    "patient": {"reference": "Patient/P4-patient"},
                    "dateTime": "2025-02-11T02:30:00Z",
                    "scope": {
                        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "adr"}]
                    },
                },
            ),
            "met",
            "Consent/adr",
        ),
    ],
)


P4_DISCHARGE_PLAN_QUOTE = (
    "The final discharge plan should be provided to the Care Advocate at least 24 hours prior to the anticipated "
    "date of discharge."
)
ACTIVE_QUOTE = "There continues to be evidence that the member is receiving active treatment"


def plan_last_updated(when: str) -> Any:
    """P4's discharge plan (anticipated discharge 2025-02-28) last revised at ``when``."""
    return lambda bundle: by_id(bundle, "P4-dcp").__setitem__("meta", {"lastUpdated": when})


def sessions_cancelled(*ids: str) -> Any:
    """These sessions of P4 were cancelled."""
    return lambda bundle: [by_id(bundle, i).__setitem__("status", "cancelled") for i in ids]


def test_checked_quotes_are_in_the_policy_text() -> None:
    assert quote_is_in(P4_DISCHARGE_PLAN_QUOTE, TEXT) and quote_is_in(ACTIVE_QUOTE, TEXT)


test_final_plan_revised_24_hours_before = review_test(
    Review("optum-locg.discharge.9c-final-plan-to-care-advocate-24h", P4_DISCHARGE_PLAN_QUOTE, "P4",
           "encounter-discharge", P4_AT, POLICY),
    [
        # Revised at 22:30 on 02-26 at the site (stored in UTC on 02-27): more than 24 hours before the 02-28
        # discharge date; sending it to the Care Advocate is for the clinician to confirm.
        ("plan revised late on 02-26, in UTC", plan_last_updated("2025-02-27T03:30:00Z"), "unknown",
         "supporting evidence found"),
        # Revised on the morning of the discharge: the final plan could not have gone 24 hours before.
        ("plan revised on the discharge day", plan_last_updated("2025-02-28T10:00:00-05:00"), "unknown",
         "no discharge plan last revised at least 24 hours before"),
    ],
)  # fmt: skip

test_active_treatment_reads_this_weeks_sessions = review_test(
    Review("optum-locg.continued.cs5-active-tx-progress", ACTIVE_QUOTE, "P4", "order-sign", C_AT, POLICY,
           base=(continued_stay,)),
    [
        # Sessions in the last 7 days are evidence of active treatment (the expectation of improvement is the
        # clinician's); cancelled ones are not.
        ("sessions this week", (), "unknown", "3 × IOP session in the last 7 days"),
        ("this week's sessions cancelled", sessions_cancelled("P4-sess-14", "P4-sess-17", "P4-sess-19"), "unknown",
         "no IOP session in the last 7 days found"),
    ],
)  # fmt: skip


FAMILY = "optum-locg.process.6c1-family-contact-48h"
FAMILY_QUOTE = (
    "The provider does the following within 48 hours of admission with the member's documented consent: … Contacts "
    "the member's family/social supports to discuss participating in treatment and discharge planning"
)
MOTHER = {
    "resourceType": "RelatedPerson",
    "id": "P4-mother",
    "active": True,
    "patient": {"reference": "Patient/P4-patient"},
}
FAMILY_CONSENT = {
    "resourceType": "Consent",
    "id": "P4-family-consent",
    "status": "active",
    "patient": {"reference": "Patient/P4-patient"},
    "dateTime": "2025-02-03T09:20:00-05:00",
    "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
    "provision": {"type": "permit", "actor": [{"reference": {"reference": "RelatedPerson/P4-mother"}}]},
}


def mother_present(encounter_id: str) -> Any:
    """The member's mother (consent to share on file) takes part in Encounter ``encounter_id``."""

    def change(bundle: Bundle) -> None:
        add(bundle, MOTHER, FAMILY_CONSENT)
        by_id(bundle, encounter_id)["participant"] = [{"individual": {"reference": "RelatedPerson/P4-mother"}}]

    return change


def family_meeting_on_the_unit(bundle: Bundle) -> None:
    """A family meeting with the mother on the inpatient unit on 02-02, the day before the IOP began."""
    mother_present("P4-ip")(bundle)
    by_id(bundle, "P4-ip")["period"] = {"start": "2025-02-02T14:00:00-05:00", "end": "2025-02-02T16:00:00-05:00"}


test_family_contact_by_this_provider = review_test(
    Review(FAMILY, FAMILY_QUOTE, "P4", "encounter-discharge", P4_AT, POLICY, text=TEXT),
    [
        # The mother joins the first IOP session: evidence of the contact (the clinician confirms the rest).
        ("mother at the first session", mother_present("P4-sess-03"), "unknown", "supporting evidence found"),
        # The unit's family meeting the evening before is the inpatient provider's, not this provider's contact (was
        # "supporting evidence found").
        ("family meeting on the inpatient unit", family_meeting_on_the_unit, "unknown",
         "no contact with family or supports"),
    ],
)  # fmt: skip


NEXT_LOC = "optum-locg.discharge.10b1-next-loc-provider-location"
NEXT_LOC_QUOTE = "The next level of care, its location, and the name(s) of the provider(s) who will deliver treatment;"
RATIONALE = "optum-locg.discharge.10b2-referral-rationale"
RATIONALE_QUOTE = "The rationale for the referral;"


def referral_as(status: str) -> Any:
    """P4's referral to the next level of care with this status; the therapy appointment names no provider."""

    def change(bundle: Bundle) -> None:
        by_id(bundle, "P4-referral")["status"] = status
        by_id(bundle, "P4-therapy")["participant"].pop()

    return change


# "The discharge plan must include ALL of the following": what the plan names, sent or still a draft; a referral
# entered in error names nothing.
REFERRAL_ROWS: list[ReviewRow] = [
    ("referral draft", referral_as("draft"), "met", "ServiceRequest/P4-referral"),
    ("referral entered-in-error", referral_as("entered-in-error"), "not-met", "found in the record"),
]
test_discharge_plan_names_the_next_level_of_care = review_test(
    Review(NEXT_LOC, NEXT_LOC_QUOTE, "P4", "encounter-discharge", P4_AT, POLICY, text=TEXT), REFERRAL_ROWS
)
test_discharge_plan_names_the_referral_rationale = review_test(
    Review(RATIONALE, RATIONALE_QUOTE, "P4", "encounter-discharge", P4_AT, POLICY, text=TEXT), REFERRAL_ROWS
)
