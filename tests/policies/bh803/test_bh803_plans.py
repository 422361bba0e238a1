"""BH803: the physician's plan of care as EHRs record it (US Core category only); a plan whose kind the record does
not tell is unknown, not not-met, and a plan of an earlier episode never counts."""

from __future__ import annotations

from plan_cases import UNCLASSIFIED, assess_plan_only, of_an_earlier_episode, without
from sentence_cases import sentence_test
from test_bh803_sentences import Q_PLAN_BY_PHYSICIAN, continued

PLAN = "bh803.doc.2-plan-of-care-by-physician"
EARLIER = ("2024-06-04T10:00:00-07:00", "2024-06-04", "2024-07-19")  # P8's program began 2025-01-06

# P8's plan carries US Core's assess-plan beside its SNOMED kind ("both codes").
test_plans = sentence_test(
    [
        (continued(PLAN, "met", Q_PLAN_BY_PHYSICIAN, name="both codes"), "treatment plan by a physician"),
        (continued(PLAN, "unknown", Q_PLAN_BY_PHYSICIAN, assess_plan_only("P8-tp"), name="assess-plan only"),
         UNCLASSIFIED),
        (continued(PLAN, "not-met", Q_PLAN_BY_PHYSICIAN, assess_plan_only("P8-tp"),
                   of_an_earlier_episode("P8-tp", *EARLIER), name="assess-plan only, of an earlier episode"),
         "no treatment plan by a physician"),
        (continued(PLAN, "not-met", Q_PLAN_BY_PHYSICIAN, without("P8-tp"), name="no plan at all"),
         "no treatment plan by a physician"),
    ]
)  # fmt: skip
