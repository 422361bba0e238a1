"""CCA: plans as EHRs record them (US Core category only) for the provisional treatment plan and discharge planning
from admission; a plan whose kind the record does not tell is unknown, not not-met; an earlier episode's never
counts."""

from __future__ import annotations

from plan_cases import UNCLASSIFIED, assess_plan_only, local_category_only, of_an_earlier_episode, without
from sentence_cases import sentence_test
from test_cca_sentences import DC_PROCESS, PROVISIONAL, SIGNATURE, discharge

TP, DC = "cca.assessment.3-provisional-tp-1bd", "cca.discharge.1-planning-from-admission"
SIGNED = "cca.assessment.3h-member-signature-or-refusal"
EARLIER = ("2024-10-02T15:00:00-04:00", "2024-10-02", "2024-10-24")  # P6's program began 2025-04-04

# P6's treatment and discharge plans carry US Core's assess-plan beside their SNOMED kind ("both codes").
test_plans = sentence_test(
    [
        (discharge(TP, "met", PROVISIONAL, name="both codes"), "treatment plan of this stay at"),
        (discharge(TP, "unknown", PROVISIONAL, assess_plan_only("P6-tp"), name="assess-plan only"), UNCLASSIFIED),
        (discharge(TP, "unknown", PROVISIONAL, local_category_only("P6-tp"), name="local code only"),
         "CarePlan/P6-tp"),
        (discharge(TP, "not-met", PROVISIONAL, assess_plan_only("P6-tp"), of_an_earlier_episode("P6-tp", *EARLIER),
                   name="assess-plan only, of an earlier episode"),
         "no treatment plan of this stay by"),
        (discharge(TP, "not-met", PROVISIONAL, without("P6-tp"), name="no plan at all"),
         "no treatment plan of this stay by"),
        (discharge(DC, "met", DC_PROCESS, name="both codes"), "discharge plan of this stay at"),
        (discharge(DC, "unknown", DC_PROCESS, assess_plan_only("P6-dcp"), name="assess-plan only"), UNCLASSIFIED),
        (discharge(DC, "not-met", DC_PROCESS, assess_plan_only("P6-dcp"), of_an_earlier_episode("P6-dcp", *EARLIER),
                   name="assess-plan only, of an earlier episode"),
         "no discharge plan of this stay by"),
        # the member's refusal names the plan: whether it is a refusal of the treatment plan hangs on what the plan is
        (discharge(SIGNED, "met", SIGNATURE, name="refusal of a plan with both codes"), "documented refusal at"),
        (discharge(SIGNED, "unknown", SIGNATURE, assess_plan_only("P6-tp"), name="refusal of an assess-plan only plan"),
         UNCLASSIFIED),
    ]
)  # fmt: skip
