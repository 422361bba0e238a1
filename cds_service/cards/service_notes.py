"""Cards about the evaluation itself: data that could not be read, and a patient with no matching coverage."""

from __future__ import annotations

import re
from typing import Any

from cds_service.cards.kit import CARD_TYPE, CRD_CARD_TYPE, CardKit, ResponseInput
from cds_service.cards.templates import fill
from cds_service.cards.wording import FHIR_TYPES, source_words
from cds_service.record.patient_record import DataGap

_ANY_REFERENCE = re.compile(r"\b(?:{})/[A-Za-z0-9\-.]+".format("|".join(sorted(FHIR_TYPES))))
# Fetch errors that name no actor read better with the FHIR server as their subject.
_SERVER_PHRASES = (
    ("timed out", "the FHIR server timed out"),
    ("no answer within", "the FHIR server gave no answer within"),
    ("request failed", "the request to the FHIR server failed"),
    ("results truncated", "the FHIR server's results were truncated"),
    ("the answer", "the FHIR server's answer"),
    ("more than", "the FHIR server redirected more than"),
)


def problem_words(reason: str) -> str:
    """A data gap's reason as a sentence part: the FHIR server named as the actor, references not spelled out."""
    text = _ANY_REFERENCE.sub(lambda m: f"a {m[0].split('/', 1)[0]} record", reason.strip())
    for lead, words in _SERVER_PHRASES:
        if text.startswith(lead):
            return words + text[len(lead) :]
    return text


def incomplete_card(kit: CardKit, gaps: list[DataGap]) -> dict[str, Any]:
    """The warning card saying in words which of the patient's data could not be read, and why."""
    t = kit.templates["incomplete"]
    keys = ", ".join(dict.fromkeys(source_words(g.key, short=True) for g in gaps))
    listing = "\n".join(
        f"- {source_words(g.key)[:1].upper()}{source_words(g.key)[1:]} could not be read: {problem_words(g.reason)}"
        for g in gaps
    )
    source = {"label": "IOP requirements service", "topic": {"system": CRD_CARD_TYPE, "code": "coverage-info"}}
    return kit.card("incomplete", "warning", fill(t["summary"], keys=keys), fill(t["detail"], gaps=listing), source)


def no_coverage_card(kit: CardKit, data: ResponseInput, on_file: bool) -> dict[str, Any]:
    """The info card for a patient with no active Coverage; ``on_file``: one that is not in force is on file."""
    t = kit.templates["no-coverage"]
    stay = "IOP order" if data.hook == "order-sign" else "IOP encounter"
    first = data.evaluations[0]
    values = {"stay": stay, "policy": ", ".join(dict.fromkeys(e.policy.title for e in data.evaluations))}
    if data.hook == "order-sign":
        values["recorded"] = fill(t["lapsed" if on_file else "none"], **values) + " "
    return kit.card(
        "no-coverage",
        "info",
        fill(t["summary"], **values),
        fill(t["detail"], **values),
        kit.source(data, first, CARD_TYPE["no-coverage"]),
    )
