"""Optum LOCG: plans as EHRs record them (US Core category only) for the first-3-days plan duties and the discharge
crisis plan; a plan whose kind the record does not tell is unknown, not not-met, and only this episode's counts."""

from __future__ import annotations

from plan_cases import UNCLASSIFIED, assess_plan_only, local_category_only, of_an_earlier_episode, without
from sentence_cases import sentence_test
from test_optum_locg_sentences import SIX_B, TEN, d

TP_QUOTE = SIX_B + "Develop a treatment plan;"
DCP_QUOTE = SIX_B + "Develop an initial discharge plan."
CRISIS_QUOTE = TEN + "A crisis plan"
EARLIER = ("2024-09-02T14:00:00-04:00", "2024-09-02", "2024-10-11")  # P4's program began 2025-02-03

# P4's plans carry US Core's assess-plan beside their SNOMED kind: the golden patient is the "both codes" case.
test_plans = sentence_test(
    [
        (d("process.6b1-treatment-plan-3d", "met", TP_QUOTE, name="both codes"), "treatment plan at"),
        (d("process.6b1-treatment-plan-3d", "unknown", TP_QUOTE, assess_plan_only("P4-tp"), name="assess-plan only"),
         UNCLASSIFIED),
        (d("process.6b1-treatment-plan-3d", "unknown", TP_QUOTE, local_category_only("P4-tp"),
           name="local code only"),
         "CarePlan/P4-tp"),
        (d("process.6b1-treatment-plan-3d", "not-met", TP_QUOTE, assess_plan_only("P4-tp"),
           of_an_earlier_episode("P4-tp", *EARLIER), name="assess-plan only, of an earlier episode"),
         "no treatment plan by"),
        (d("process.6b1-treatment-plan-3d", "not-met", TP_QUOTE, without("P4-tp"), name="no plan at all"),
         "no treatment plan by"),
        (d("process.6b3-initial-dc-plan-3d", "unknown", DCP_QUOTE, assess_plan_only("P4-dcp"),
           name="assess-plan only"),
         UNCLASSIFIED),
        (d("process.6b3-initial-dc-plan-3d", "not-met", DCP_QUOTE, assess_plan_only("P4-dcp"),
           of_an_earlier_episode("P4-dcp", *EARLIER), name="assess-plan only, of an earlier episode"),
         "no discharge plan by"),
        (d("discharge.10b7-crisis-plan", "unknown", CRISIS_QUOTE, assess_plan_only("P4-crp"),
           name="assess-plan only, in force"),
         UNCLASSIFIED),
        (d("discharge.10b7-crisis-plan", "not-met", CRISIS_QUOTE, without("P4-crp"), name="no crisis plan"),
         "no active crisis plan"),
    ]
)  # fmt: skip
