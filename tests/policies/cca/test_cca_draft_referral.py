"""CCA: a referral for medication evaluation counts once sent; a draft saved unsigned refers no one (issue 15)."""

from __future__ import annotations

import pytest
from sentence_cases import SentenceCase, add, check, evaluate
from test_cca_sentences import CPT, MEDS_ACCESS, MEDS_TP, PATIENT, Change, coding, discharge, plan_activities, without


def _psychiatry_referral(status: str) -> Change:
    """A referral for medication evaluation and management (CPT 99214) on day 3 of the P6 stay."""
    referral = {
        "resourceType": "ServiceRequest",
        "id": f"P6-psych-referral-{status}",
        "status": status,
        "intent": "order",
        "subject": {"reference": PATIENT},
        "authoredOn": "2025-04-08T11:00:00-04:00",
        "code": coding(CPT, "99214"),
    }
    return lambda b: add(b, referral)


# P6 with medication management taken out of both plans and without the psychiatrist's prescription of the stay:
# only the referral can give the member access.
NO_MEDICATION_IN_PLANS = (
    plan_activities("P6-tp", "H0038", "G0410", "90834"),
    plan_activities("P6-dcp", "90834"),
    without("P6-sertraline"),
)

CASES: list[tuple[SentenceCase, str]] = [
    # “Provision of access to medication evaluation and medication management”: a referral left as a draft in the
    # record, never signed, gives no access (was met).
    (
        discharge("cca.components.08-med-eval-access", "not-met", MEDS_ACCESS, *NO_MEDICATION_IN_PLANS,
                  _psychiatry_referral("draft"), name="unsigned draft referral"),
        "no referral for psychiatric medication evaluation found",
    ),
    (
        discharge("cca.components.08-med-eval-access", "met", MEDS_ACCESS, *NO_MEDICATION_IN_PLANS,
                  _psychiatry_referral("active"), name="referral sent"),
        "P6-psych-referral-active",
    ),
    # “Medication evaluation and medication management delivered by the IOP or via a referral.”: likewise.
    (
        discharge("cca.assessment.3d-med-eval-mgmt", "not-met", MEDS_TP, *NO_MEDICATION_IN_PLANS,
                  _psychiatry_referral("draft"), name="unsigned draft referral"),
        "no referral for psychiatric medication evaluation found",
    ),
    (
        discharge("cca.assessment.3d-med-eval-mgmt", "met", MEDS_TP, *NO_MEDICATION_IN_PLANS,
                  _psychiatry_referral("completed"), name="referral completed"),
        "P6-psych-referral-completed",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("case_", "reason"), CASES, ids=lambda c: c.id if isinstance(c, SentenceCase) else "")
def test_a_referral_counts_once_sent(case_: SentenceCase, reason: str) -> None:
    """The status the sentence gives, and the reason names the referral (or its absence)."""
    check(case_)
    assert reason in evaluate(case_)[case_.criterion]["reason"]
