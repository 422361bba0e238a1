"""Medica MP9556: a reviewer's cases read from the policy sentences alone (issue 15), messy real-shaped data."""

from __future__ import annotations

from typing import Any

import pytest
from sentence_cases import SentenceCase, add, check, evaluate
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
    Q_C4B,
    Change,
    case,
    edit,
    encounter,
    observation,
    order,
)
from test_policy_medica import HCPCS

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
]  # fmt: skip


@pytest.mark.parametrize(("case_", "reason"), CASES, ids=lambda c: c.id if isinstance(c, SentenceCase) else "")
def test_review(case_: SentenceCase, reason: str) -> None:
    """The status the sentence gives, and the reason names the evidence (or its absence)."""
    check(case_)
    assert reason in evaluate(case_)[case_.criterion]["reason"]
