"""Cards about the evaluation itself: data that could not be read, and a patient with no matching coverage."""

from __future__ import annotations

from typing import Any

from cds_service.cards.kit import CARD_TYPE, CRD_CARD_TYPE, CardKit, ResponseInput
from cds_service.cards.templates import fill
from cds_service.record.patient_record import DataGap


def incomplete_card(kit: CardKit, gaps: list[DataGap]) -> dict[str, Any]:
    """The warning card naming each data source that could not be read, and why."""
    t = kit.templates["incomplete"]
    keys = ", ".join(g.key for g in gaps)
    listing = "\n".join(f"- `{g.key}`: {g.reason}" for g in gaps)
    source = {"label": "IOP requirements service", "topic": {"system": CRD_CARD_TYPE, "code": "coverage-info"}}
    return kit.card("incomplete", "warning", fill(t["summary"], keys=keys), fill(t["detail"], gaps=listing), source)


def no_coverage_card(kit: CardKit, data: ResponseInput) -> dict[str, Any]:
    """The info card for a patient whose evaluated policy has no matching active Coverage."""
    t = kit.templates["no-coverage"]
    stay = "IOP order" if data.hook == "order-sign" else "IOP encounter"
    first = data.evaluations[0]
    values = {"stay": stay, "policy": ", ".join(dict.fromkeys(e.policy.title for e in data.evaluations))}
    return kit.card(
        "no-coverage",
        "info",
        fill(t["summary"], **values),
        fill(t["detail"], **values),
        kit.source(data, first, CARD_TYPE["no-coverage"]),
    )
