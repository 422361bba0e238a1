"""Molina: plans as EHRs record them (US Core category only, a local code) for the 48-hour plan duties and the crisis
plan; a plan whose kind the record does not tell is unknown, not not-met, and only this episode's plan counts."""

from __future__ import annotations

from plan_cases import (
    UNCLASSIFIED,
    assess_plan_only,
    local_category_only,
    of_an_earlier_episode,
    with_us_core_category,
    without,
)
from sentence_cases import Bundle, add, by_id, sentence_test
from test_molina_sentences import Q_48H_DCP, Q_48H_TP, Q_CRISIS, discharge

TP = "molina.process.2b-initial-tp-48h"
DCP = "molina.process.2c-prelim-dc-plan-48h"
CRISIS = "molina.components.1c-crisis-safety-plan"
IN_TIME = "2025-03-04T16:00:00-05:00"  # the program began 2025-03-03 09:00: 31 hours in


def made_in_time(plan_id: str) -> object:
    """The plan was made 31 hours after admission."""

    def apply(bundle: Bundle) -> None:
        by_id(bundle, plan_id)["created"] = IN_TIME

    return apply


def addressing_diabetes_only(plan_id: str) -> object:
    """The plan addresses a type 2 diabetes on the problem list, nothing behavioural: a diabetes plan."""
    diabetes = {
        "resourceType": "Condition",
        "id": "P5-diabetes",
        "subject": {"reference": "Patient/P5-patient"},
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                       "code": "active"}]},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "E11.9"}]},
    }  # fmt: skip

    def apply(bundle: Bundle) -> None:
        add(bundle, diabetes)
        by_id(bundle, plan_id)["addresses"] = [{"reference": "Condition/P5-diabetes"}]

    return apply


test_plans = sentence_test(
    [
        (discharge(TP, "unknown", Q_48H_TP, assess_plan_only("P5-tp", created=IN_TIME), name="assess-plan only"),
         UNCLASSIFIED),
        (discharge(TP, "unknown", Q_48H_TP, local_category_only("P5-tp", created=IN_TIME), name="local code only"),
         "CarePlan/P5-tp"),
        (discharge(TP, "not-met", Q_48H_TP, assess_plan_only("P5-tp"),
                   of_an_earlier_episode("P5-tp", "2024-10-01T10:00:00-04:00", "2024-10-01", "2024-11-15"),
                   name="assess-plan only, of an earlier episode"),
         "no treatment plan by 2025-03-05 09:00 -05:00"),
        # a plan that addresses only a condition outside behavioural health is no candidate for the program's plan
        (discharge(TP, "not-met", Q_48H_TP, assess_plan_only("P5-tp", created=IN_TIME),
                   addressing_diabetes_only("P5-tp"), name="assess-plan only, a diabetes plan"),
         "no treatment plan by 2025-03-05 09:00 -05:00"),
        (discharge(TP, "not-met", Q_48H_TP, without("P5-tp"), name="no plan at all"),
         "no treatment plan by 2025-03-05 09:00 -05:00"),
        (discharge(TP, "met", Q_48H_TP, with_us_core_category("P5-tp"), made_in_time("P5-tp"),
                   name="both codes, in time"),
         "treatment plan at"),
        (discharge(TP, "not-met", Q_48H_TP, with_us_core_category("P5-tp"), name="both codes, late"),
         "after the due time"),
        # made after the due time: were it the treatment plan, it would still be late
        (discharge(TP, "not-met", Q_48H_TP, assess_plan_only("P5-tp"), name="assess-plan only, late"),
         "no treatment plan by 2025-03-05 09:00 -05:00"),
        (discharge(DCP, "unknown", Q_48H_DCP, assess_plan_only("P5-dcp", created=IN_TIME), name="assess-plan only"),
         UNCLASSIFIED),
        (discharge(DCP, "not-met", Q_48H_DCP, without("P5-dcp"), name="no plan at all"),
         "no discharge plan by"),
        (discharge(CRISIS, "unknown", Q_CRISIS, assess_plan_only("P5-tp"), name="assess-plan only plan of the stay"),
         UNCLASSIFIED),
        (discharge(CRISIS, "not-met", Q_CRISIS, name="only classified plans of other kinds"),
         "no crisis prevention or safety plan"),
    ]
)  # fmt: skip
