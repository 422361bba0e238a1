"""Medica: the safety plan as EHRs record it (US Core category only). "Has a documented safety plan" is a state: a
plan in force that does not say which plan it is leaves it unknown, naming the plan to confirm."""

from __future__ import annotations

from plan_cases import UNCLASSIFIED, assess_plan_only, with_us_core_category, without
from sentence_cases import sentence_test
from test_medica_sentences import ADM, Q_A6, case

SAFETY = ADM + "6-safety-plan"

test_plans = sentence_test(
    [
        (case(SAFETY, "met", Q_A6, "P1", with_us_core_category("P1-crp"), name="both codes"), "CarePlan/P1-crp"),
        (case(SAFETY, "unknown", Q_A6, "P1", assess_plan_only("P1-crp"), name="assess-plan only"), UNCLASSIFIED),
        (case(SAFETY, "unknown", Q_A6, "P1", without("P1-crp"), name="no plan at all"), "not documented"),
    ]
)  # fmt: skip
