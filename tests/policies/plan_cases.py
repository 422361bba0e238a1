"""Plans as EHRs record them: a CarePlan that carries only US Core's category (or a local code) and says not which
plan it is, the same plan from an earlier episode, and one with both codes. Builders for the policies' plan tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sentence_cases import Bundle, by_id, drop

Change = Callable[[Bundle], None]

US_CORE_CAREPLAN = "http://hl7.org/fhir/us/core/CodeSystem/careplan-category"
ASSESS_PLAN = {"system": US_CORE_CAREPLAN, "code": "assess-plan", "display": "Assessment and Plan of Treatment"}
# What an Epic-style export sends beside (or instead of) US Core's code: a local category and its text.
LOCAL_CATEGORY = {"system": "urn:oid:1.2.840.114350.1.13.0.1.7.4.698084.10375", "code": "17", "display": "BH plan"}
UNCLASSIFIED = "a plan with no category that says which plan it is"


def assess_plan_only(plan_id: str, **fields: Any) -> Change:
    """The plan's category is US Core's assess-plan alone (the SNOMED kind dropped); ``fields`` overwrite others."""

    def apply(bundle: Bundle) -> None:
        plan = by_id(bundle, plan_id)
        plan["category"] = [{"coding": [ASSESS_PLAN], "text": "Assessment and Plan of Treatment"}]
        plan.update(fields)

    return apply


def local_category_only(plan_id: str, **fields: Any) -> Change:
    """The plan's category is a site's local code with its text, nothing standard."""

    def apply(bundle: Bundle) -> None:
        plan = by_id(bundle, plan_id)
        plan["category"] = [{"coding": [LOCAL_CATEGORY], "text": "Behavioral health plan"}]
        plan.update(fields)

    return apply


def with_us_core_category(plan_id: str) -> Change:
    """US Core's assess-plan added beside the plan's SNOMED kind (both codes, as US Core asks)."""

    def apply(bundle: Bundle) -> None:
        plan = by_id(bundle, plan_id)
        categories = plan.setdefault("category", [])
        if not any(c.get("code") == "assess-plan" for cat in categories for c in cat.get("coding", [])):
            categories.append({"coding": [ASSESS_PLAN]})

    return apply


def of_an_earlier_episode(plan_id: str, created: str, start: str, end: str) -> Change:
    """The plan was made, and closed, in an earlier episode (no encounter named: only its dates say so)."""

    def apply(bundle: Bundle) -> None:
        plan = by_id(bundle, plan_id)
        plan.update(status="completed", created=created, period={"start": start, "end": end})
        plan.pop("encounter", None)
        plan.setdefault("meta", {})["lastUpdated"] = f"{end}T12:00:00Z"

    return apply


def without(*plan_ids: str) -> Change:
    """No such plan in the record."""
    return lambda bundle: drop(bundle, lambda r: r.get("id") in plan_ids)
