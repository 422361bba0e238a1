"""Medica MP9556: a reviewer's cases read from the policy sentences alone (issue 15), messy real-shaped data."""

from __future__ import annotations

from typing import Any

from sentence_cases import Bundle, SentenceCase, add, by_id, evaluate, sentence_test
from test_medica_sentences import (
    ADM,
    CONT,
    MN,
    P1,
    P2,
    P9,
    Q_A4,
    Q_A5,
    Q_A8A3,
    Q_C1A,
    Q_C2,
    Q_C4B,
    Q_C4E,
    Q_SUD2,
    Q_SUD3,
    Q_SUD4,
    Q_SUD5B,
    Change,
    adding,
    case,
    coded,
    condition,
    continuation_order_ends,
    edit,
    encounter,
    no_improvement,
    observation,
    order,
    plan_revised_during_stay,
    recode,
    removing,
)
from test_policy_medica import HCPCS, ICD, RXNORM

CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"


def _old_refusal(when: str) -> Change:
    """A consent to treatment the member refused years ago, in another program."""
    refusal: dict[str, Any] = {
        "resourceType": "Consent",
        "id": "P1-consent-2019",
        "status": "rejected",
        "patient": {"reference": f"Patient/{P1}"},
        "dateTime": when,
        "scope": {"coding": [{"system": CONSENT_SCOPE, "code": "treatment"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "provision": {"type": "deny"},
    }
    return lambda b: add(b, refusal)


def _housing_answer(when: str, answer: str) -> Change:
    """A social-needs screening answer (LOINC 71802-3 'Housing status')."""
    return lambda b: add(b, observation(P2, "71802-3", when, answer=answer))


def _integer_score(pid: str, loinc: str, when: str, value: int) -> Change:
    """A score recorded as valueInteger (as many EHRs store CIWA-Ar, COWS, PHQ-9 and GAD-7 totals)."""

    def change(b: Bundle) -> None:
        scored = observation(pid, loinc, when)
        scored["valueInteger"] = value
        add(b, scored)

    return change


def _gad7_final_as_integer(b: Bundle) -> None:
    """P9b's discharge-week GAD-7 of 9 recorded as valueInteger instead of a Quantity."""
    scored = by_id(b, "P9-gad7-2")
    scored["valueInteger"] = int(scored.pop("valueQuantity")["value"])


def _order_reason_only(code: str) -> Change:
    """The SUD is coded only as the IOP order's reason (no Condition resource for it)."""
    return edit("P9-order-1", reasonReference=[], reasonCode=[coded(ICD, code)])


def _mat_order(status: str) -> Change:
    """A buprenorphine prescription (RxNorm 1819) with the given status."""
    prescription = {
        "resourceType": "MedicationRequest",
        "id": "P9-bup",
        "status": status,
        "intent": "order",
        "subject": {"reference": f"Patient/{P9}"},
        "medicationCodeableConcept": coded(RXNORM, "1819"),
        "authoredOn": "2025-03-30",
    }
    return lambda b: add(b, prescription)


def _drug_screen(when: str, interpretation: str) -> Change:
    """A urine opiate screen (LOINC 59615-0) read POS or NEG."""

    def change(b: Bundle) -> None:
        screen = observation(P9, "59615-0", when)
        screen["interpretation"] = [coded(V3_INTERPRETATION, interpretation)]
        add(b, screen)

    return change


def _initial_plan_only(b: Bundle) -> None:
    """This stay's treatment plan, written on day 2 and never stored again."""
    plan_revised_during_stay(b)
    by_id(b, "P9-tp")["meta"]["lastUpdated"] = "2025-04-03T15:00:00Z"


V3_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


def _mat_handout(when: str) -> Change:
    """A documented education about medication-assisted treatment (local code mat-education)."""
    handout = {
        "resourceType": "DocumentReference",
        "id": "P9-mat-ed",
        "status": "current",
        "subject": {"reference": f"Patient/{P9}"},
        "type": coded("urn:iop-cds:local", "mat-education"),
        "date": when,
    }
    return lambda b: add(b, handout)


OLD_ALCOHOL_REMISSION = adding(lambda: condition(P9, "F10.21", onsetDateTime="2019-05-01"))
OPIOID_REMISSION = recode("P9-oud", ICD, "F11.21")
SUD = "medica.sud."
HAVE_HOUSING = "LA30189-7"
NO_HOUSING = "LA30190-5"

CASES: list[tuple[SentenceCase, str]] = [
    # “The individual expresses willingness to engage in treatment.”: a refusal of 2019 says nothing about this
    # admission; with no current consent the willingness is not documented (unknown), not refused.
    (
        case(
            ADM + "5-willing-to-engage", "unknown", Q_A5, "P1", edit("P1-consent", status="inactive"),
            _old_refusal("2019-06-12"), name="a-2019-refusal-is-not-this-admissions",
        ),
        "no consent to treatment given for this admission found in the record",
    ),
    (
        case(
            ADM + "5-willing-to-engage", "not-met", Q_A5, "P1", edit("P1-consent", status="inactive"),
            _old_refusal("2025-03-02T18:40:00-06:00"), name="refused-the-evening-before",
        ),
        "P1-consent-2019",
    ),
    (
        case(
            ADM + "5-willing-to-engage", "unknown", Q_A5, "P1", edit("P1-consent", dateTime="2019-02-27"),
            name="a-2019-consent-was-for-another-program",
        ),
        "consent to treatment given for this admission",
    ),
    # “Unstable living situation(s).”: the living situation is a present state; a 2019 screening answer "I have
    # housing" does not show it is stable now, and a newer answer outranks an older one.
    (
        case(
            ADM + "8a3-unstable-living", "unknown", Q_A8A3, "P2", _housing_answer("2019-04-01T10:00:00-05:00",
            HAVE_HOUSING), name="a-2019-have-housing-answer-is-stale",
        ),
        "",
    ),
    (
        case(
            ADM + "8a3-unstable-living", "met", Q_A8A3, "P2",
            _housing_answer("2024-01-05T10:00:00-06:00", HAVE_HOUSING),
            _housing_answer("2025-03-01T05:30:00Z", NO_HOUSING), name="newest-answer-homeless",
        ),
        "",
    ),
    (
        case(
            ADM + "8a3-unstable-living", "not-met", Q_A8A3, "P2",
            _housing_answer("2021-01-05T10:00:00-06:00", NO_HOUSING),
            _housing_answer("2025-03-01T05:30:00Z", HAVE_HOUSING), name="housed-since-2021",
        ),
        "",
    ),
    # “The individual is able to live in the community without the restrictions of a 24-hour supervised setting.”:
    # an inpatient Encounter left in-progress since 2023 with no end is a stale status, not where the member lives now.
    (
        case(
            ADM + "4-community-living-no-24h", "met", Q_A4, "P1",
            lambda b: add(b, encounter(P1, "IMP", "2023-01-05T22:10:00Z", None, status="in-progress",
                                       diagnosis=[{"condition": {"reference": "Condition/P1-dx"}}])),
            name="a-2023-in-progress-leftover-is-stale",
        ),
        "attested yes",
    ),
    # “The clinical plan of care is not primarily social, interpersonal, domiciliary, or respite care.”: a respite
    # order of 2019 left active is not this stay's plan of care; without it the item is the clinician's judgement.
    (
        case(
            CONT + "4b-not-social-custodial", "unknown", Q_C4B, "P9b", MN,
            lambda b: add(b, order(P9, HCPCS, "S5150", status="active", authoredOn="2019-05-01T10:00:00-05:00")),
            name="a-2019-respite-order-is-not-this-plan",
        ),
        "attestation",
    ),
    # “Active substance use is a substantial contributor to the current treatment episode.”: an opioid dependence
    # coded "in remission" beside a positive drug screen 3 days ago and a clinician's "yes" is no evidence against it.
    (
        case(SUD + "4-active-use-contributor", "met", Q_SUD4, "P9a", OPIOID_REMISSION,
             name="remission-code-beside-a-positive-screen"),
        "attested yes",
    ),
    # ... nor is a 2019 alcohol use disorder in remission when this order's reason is an active opioid use disorder.
    (
        case(SUD + "4-active-use-contributor", "met", Q_SUD4, "P9a", removing("P9-oud"), _order_reason_only("F11.20"),
             OLD_ALCOHOL_REMISSION, name="order-reason-active-beside-a-2019-remission"),
        "attested yes",
    ),
    # “The individual has symptomatology related to substance use disorder.”: the order's (dotless) reason code is a
    # documented active SUD; a 2019 remission code of another substance does not outweigh it.
    (
        case(SUD + "5b-sud-symptomatology", "met", Q_SUD5B, "P9a", removing("P9-oud"), _order_reason_only("F1120"),
             OLD_ALCOHOL_REMISSION, name="dotless-order-reason-beside-a-2019-remission"),
        "substance use disorder as the order's reason code",
    ),
    # ... and a remission code with a positive screen 3 days ago is conflicting evidence, for a clinician to confirm.
    (
        case(SUD + "5b-sud-symptomatology", "unknown", Q_SUD5B, "P9a", OPIOID_REMISSION,
             name="remission-code-beside-a-positive-screen"),
        "no active substance use disorder found",
    ),
    # “Signs or symptoms of withdrawal requiring acute management, if present, are manageable at the level of IOP
    # treatment.”: a CIWA-Ar of 21 recorded as valueInteger last night is severe alcohol withdrawal.
    (
        case(SUD + "2-withdrawal-manageable", "not-met", Q_SUD2, "P9a",
             _integer_score(P9, "75632-6", "2025-03-31T03:00:00Z", 21), name="ciwa-21-as-integer"),
        "latest CIWA-Ar 21",
    ),
    # ... and a COWS entered in error is no assessment at all (was met on it).
    (
        case(SUD + "2-withdrawal-manageable", "unknown", Q_SUD2, "P9a", edit("P9-cows-1", status="entered-in-error"),
             name="only-cows-entered-in-error"),
        "COWS",
    ),
    (
        case(ADM + "4-community-living-no-24h", "not-met", Q_A4, "P1",
             _integer_score(P1, "75632-6", "2025-03-03T05:40:00Z", 21), name="ciwa-21-as-integer"),
        "latest CIWA-Ar 21",
    ),
    # “The individual and/or family are made aware of the Medication Assisted Treatments available, as applicable”:
    # an opioid use disorder coded only as the order's reason makes it applicable ...
    (
        case(SUD + "3-mat-awareness", "unknown", Q_SUD3, "P9a", removing("P9-oud"), _order_reason_only("F11.20"),
             name="opioid-use-disorder-as-order-reason"),
        "not shown",
    ),
    # ... and a buprenorphine prescription entered in error shows no one was made aware of anything.
    (
        case(SUD + "3-mat-awareness", "unknown", Q_SUD3, "P9a", _mat_order("entered-in-error"),
             name="mat-order-entered-in-error"),
        "no medication for addiction treatment prescribed found",
    ),
    # ... nor does a MAT handout given in a 2019 program (was met).
    (
        case(SUD + "3-mat-awareness", "unknown", Q_SUD3, "P9a", _mat_handout("2019-08-14T16:00:00-05:00"),
             name="a-2019-mat-handout"),
        "not shown",
    ),
    (
        case(SUD + "3-mat-awareness", "met", Q_SUD3, "P9a", _mat_handout("2025-03-31T03:30:00Z"),
             name="mat-handout-last-evening"),
        "DocumentReference/P9-mat-ed",
    ),
    (
        case(SUD + "3-mat-awareness", "met", Q_SUD3, "P9a", _mat_order("stopped"), name="mat-prescribed-then-stopped"),
        "MedicationRequest/P9-bup",
    ),
    # “The treatment provided is leading to measurable clinical improvements in the moderately severe symptoms”:
    # GAD-7 14 → 9 is a 5-point fall whether the 9 is stored as a Quantity or as an integer.
    (
        case(CONT + "1a-measurable-improvement", "met", Q_C1A, "P9b", _gad7_final_as_integer,
             name="final-gad7-as-integer"),
        "GAD-7 14 (2025-03-28 10:00 -05:00) → 9",
    ),
    # ... “and/or behaviors that led to this admission”: for an opioid IOP, screens positive before admission and
    # negative since are a measurable improvement in the behaviour, whatever the anxiety score does (was not-met) ...
    (
        case(CONT + "1a-measurable-improvement", "met", Q_C1A, "P9b", no_improvement,
             _drug_screen("2025-04-16T15:00:00Z", "NEG"), name="sud-screens-turned-negative"),
        "negative drug screen in the last 14 days",
    ),
    # ... but not when the newest screens are positive again.
    (
        case(CONT + "1a-measurable-improvement", "not-met", Q_C1A, "P9b", no_improvement,
             _drug_screen("2025-04-16T15:00:00Z", "NEG"), _drug_screen("2025-04-19T02:30:00Z", "POS"),
             name="sud-screens-positive-again"),
        "GAD-7 14 (2025-03-28 10:00 -05:00) → 13",
    ),
    # “There must be ongoing reassessment and modifications to the clinical plan of care … if clinical plan of care
    # implemented is not leading to measurable clinical improvements”: the initial plan as first saved is no
    # modification (was met) ...
    (
        case(CONT + "2-reassessment-plan-modified", "unknown", Q_C2, "P9b", no_improvement, _initial_plan_only,
             name="initial-plan-never-revised"),
        "no treatment plan review during the stay found",
    ),
    # ... a revision stored late in the evening (UTC the next day) is one.
    (
        case(CONT + "2-reassessment-plan-modified", "met", Q_C2, "P9b", no_improvement, plan_revised_during_stay,
             lambda b: by_id(b, "P9-tp")["meta"].update(lastUpdated="2025-04-19T03:00:00Z"),
             name="plan-revised-in-the-evening"),
        "CarePlan/P9-tp",
    ),
]  # fmt: skip


test_review = sentence_test(CASES)


# Cases the plain builder cannot make: a source that failed to load, an unsigned draft saved in the EHR.
REQUEST_CASES: list[tuple[SentenceCase, dict[str, tuple[str, ...]], str]] = [
    # “symptomatology related to substance use disorder”: with the drug screens unreadable, a remission code cannot
    # be weighed against recent use, so it is unknown, not not-met.
    (
        case(SUD + "5b-sud-symptomatology", "unknown", Q_SUD5B, "P9a", OPIOID_REMISSION,
             name="remission-code-screens-unreadable"),
        {"unreadable": ("observations",)},
        "unknown, not a failure",
    ),
    # “Continued stay is not primarily for the purpose of bridging care to another program.”: a residential order
    # saved as a draft and never signed books no other program; the item stays the clinician's judgement.
    (
        case(CONT + "4e-not-bridging", "unknown", Q_C4E, "P9b", MN, continuation_order_ends,
             lambda b: add(b, order(P9, HCPCS, "H0019", id="P9-res-draft", occurrencePeriod={"start": "2025-05-19"})),
             name="unsigned-residential-draft"),
        {"drafts_in_record": ("P9-res-draft",)},
        "attestation",
    ),
    # “The clinical plan of care is not primarily social, interpersonal, domiciliary, or respite care.”: a respite
    # order saved unsigned in the record is no part of the plan of care (was not-met) ...
    (
        case(CONT + "4b-not-social-custodial", "unknown", Q_C4B, "P9b", MN,
             lambda b: add(b, order(P9, HCPCS, "S5150", id="P9-respite-draft", authoredOn="2025-04-20T23:10:00Z")),
             name="unsigned-respite-draft"),
        {"drafts_in_record": ("P9-respite-draft",)},
        "attestation",
    ),
    # ... one signed in this call is.
    (
        case(CONT + "4b-not-social-custodial", "not-met", Q_C4B, "P9b", MN,
             lambda b: add(b, order(P9, HCPCS, "S5150", id="P9-respite-draft", authoredOn="2025-04-21T09:55:00-05:00")),
             name="respite-signed-now"),
        {},
        "P9-respite-draft",
    ),
    (
        case(CONT + "4e-not-bridging", "not-met", Q_C4E, "P9b", MN, continuation_order_ends,
             lambda b: add(b, order(P9, HCPCS, "H0019", id="P9-res", status="active",
                                    occurrencePeriod={"start": "2025-05-19"})),
             name="signed-residential-order"),
        {},
        "P9-res",
    ),
]  # fmt: skip


REQUESTS = {case_.id: source for case_, source, _ in REQUEST_CASES}

# The status the sentence gives when a source fails or a draft sits unsigned in the record; the reason says why.
test_review_request = sentence_test(
    [(case_, reason) for case_, _, reason in REQUEST_CASES], judge=lambda case_: evaluate(case_, **REQUESTS[case_.id])
)
