"""Medica MP9556 (IOP): who made the safety plan. "Developed in conjunction with the provider": a plan authored by the
provider's PractitionerRole is the provider's; an author the record does not resolve leaves it unknown (a plan is on
record, so never not-met). Cases on golden P1 at admission."""

from __future__ import annotations

from typing import Any

from sentence_cases import Bundle, add, by_id, sentence_test
from test_medica_sentences import ADM, Q_A6, case

TEXT = "medica-mp9556-iop.txt"
SAFETY_PLAN = ADM + "6-safety-plan"


def plan_by(author: dict[str, str], *resources: dict[str, Any]) -> Any:
    """P1's crisis plan (golden: by the social worker, with the member and spouse contributing) authored by ``author``
    alone, no contributors; adds ``resources``."""

    def change(bundle: Bundle) -> None:
        plan = by_id(bundle, "P1-crp")
        plan["author"] = author
        plan.pop("contributor", None)
        add(bundle, *resources)

    return change


PSY_ROLE = {
    "resourceType": "PractitionerRole",
    "id": "psy-role",
    "practitioner": {"reference": "Practitioner/P1-patient-psy"},
}

test_safety_plan_developed_with_the_provider = sentence_test(
    [
        (case(SAFETY_PLAN, "met", Q_A6, "P1", plan_by({"reference": "PractitionerRole/psy-role"}, PSY_ROLE),
              name="by-the-psychiatrist's-role"), "made with a provider"),
        (case(SAFETY_PLAN, "unknown", Q_A6, "P1", plan_by({"reference": "PractitionerRole/gone"}),
              name="by-a-role-not-in-the-record"), "made with a provider"),
        (case(SAFETY_PLAN, "unknown", Q_A6, "P1", plan_by({"display": "Dr Smith"}), name="by-display-only"),
         "made with a provider"),
        # The member wrote it alone: a plan is on record, whether a provider took part the record does not say.
        (case(SAFETY_PLAN, "unknown", Q_A6, "P1", plan_by({"reference": "Patient/P1-patient"}), name="by-the-member"),
         "made with a provider"),
    ],
    text=TEXT,
)  # fmt: skip
