"""FHIR R4 Questionnaires generated from ``mappings/``: one per policy and phase, one item per attestable criterion.

An item is a ``boolean`` question whose ``linkId`` is the criterion id (what ``engine.evaluator`` reads back from
a QuestionnaireResponse) and whose ``text`` is the requirement. Two extensions carry the citation and the policy
quote for machines; a nested ``display`` item shows the citation to any renderer, and a nested optional ``text``
item (``<criterion id>.comment``) takes the clinician's comment.

Validation uses ``fhir.resources.R4B`` (fhir.resources 8 ships no plain R4 package; R4B left Questionnaire and
QuestionnaireResponse as R4 defined them, and ``record.orders`` validates with R4B too).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from cds_service.cards.documentation import questionnaire_id, questionnaire_url
from cds_service.config import Settings
from cds_service.engine.mapping import Mappings
from cds_service.engine.policy import PHASES, Criterion, Policy

PHASE_TITLES = {"admission": "admission", "continued-stay": "continued stay", "discharge": "discharge"}
COMMENT_SUFFIX = ".comment"
CITATION_SUFFIX = ".citation"
_QUOTE = re.compile(r"[“\"]([^”\"]+)[”\"]")


def extension_url(settings: Settings, name: str) -> str:
    """The URL of one of the service's Questionnaire item extensions (``criterion-citation``, ``policy-quote``)."""
    return f"{settings.public_base()}/fhir/StructureDefinition/{name}"


def policy_quote(citation: str) -> str:
    """The policy's own words inside a citation (the quoted part), or "" when it quotes nothing."""
    return " … ".join(m.strip() for m in _QUOTE.findall(citation))


def attestable_criteria(policy: Policy, phase: str) -> list[Criterion]:
    """The criteria of a phase that a clinician's QuestionnaireResponse can decide (program-level ones cannot)."""
    return [c for c in policy.criteria() if c.evaluated_in(phase) and c.tier != "program"]


def _item(settings: Settings, criterion: Criterion) -> dict[str, Any]:
    extensions = [{"url": extension_url(settings, "criterion-citation"), "valueString": criterion.citation}]
    quote = policy_quote(criterion.citation)
    if quote:
        extensions.append({"url": extension_url(settings, "policy-quote"), "valueString": quote})
    return {
        "extension": extensions,
        "linkId": criterion.id,
        "text": criterion.text,
        "type": "boolean",
        "required": False,
        "item": [
            {"linkId": criterion.id + CITATION_SUFFIX, "text": criterion.citation, "type": "display"},
            {"linkId": criterion.id + COMMENT_SUFFIX, "text": "Comment (optional)", "type": "text", "required": False},
        ],
    }


def _name(policy_key: str, phase: str) -> str:
    words = re.split(r"[^A-Za-z0-9]+", f"iop cds {policy_key} {phase} attestation")
    return "".join(w[:1].upper() + w[1:] for w in words if w)


def build_questionnaire(settings: Settings, policy: Policy, phase: str) -> dict[str, Any]:
    """The Questionnaire of one policy and phase (valid FHIR R4, checked with fhir.resources)."""
    resource: dict[str, Any] = {
        "resourceType": "Questionnaire",
        "id": questionnaire_id(policy.key, phase),
        "url": questionnaire_url(settings, policy.key, phase),
        "name": _name(policy.key, phase),
        "title": f"{policy.title}: {PHASE_TITLES.get(phase, phase)} attestations",
        "status": "active",
        "subjectType": ["Patient"],
        "publisher": "iop-cds",
        "description": (
            f"Requirements of {policy.title} ({policy.payer}) at {PHASE_TITLES.get(phase, phase)} that structured "
            "data may leave undecided. Answer yes (met) or no (not met); each answer counts for the attestation "
            "validity window."
        ),
        "item": [_item(settings, c) for c in attestable_criteria(policy, phase)],
    }
    if policy.version:
        resource["version"] = policy.version
    from fhir.resources.R4B.questionnaire import Questionnaire  # loaded on first use: 0.2 s off every start-up

    Questionnaire.model_validate(resource)
    return resource


@dataclass(frozen=True)
class QuestionnaireEntry:
    """One generated Questionnaire with what the app needs to find and render it."""

    policy: str
    phase: str
    resource: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.resource["id"])

    @property
    def url(self) -> str:
        return str(self.resource["url"])

    @property
    def version(self) -> str:
        return str(self.resource.get("version", ""))

    def item(self, link_id: str) -> dict[str, Any] | None:
        """The top-level question with this linkId (a criterion id)."""
        return next((i for i in self.resource["item"] if i["linkId"] == link_id), None)


class QuestionnaireCatalogue:
    """Every policy's Questionnaires, generated from the loaded mappings on first use (phases with no item skipped)."""

    def __init__(self, settings: Settings, mappings: Mappings) -> None:
        self.settings = settings
        self.mappings = mappings

    @cached_property
    def entries(self) -> dict[str, QuestionnaireEntry]:
        """Questionnaire id → entry, in policy then phase order."""
        entries: dict[str, QuestionnaireEntry] = {}
        for key in sorted(self.mappings.policies):
            policy = self.mappings.policies[key]
            for phase in PHASES:
                if attestable_criteria(policy, phase):
                    entry = QuestionnaireEntry(key, phase, build_questionnaire(self.settings, policy, phase))
                    entries[entry.id] = entry
        return entries

    def get(self, qid: str) -> QuestionnaireEntry | None:
        return self.entries.get(qid)

    def by_canonical(self, canonical: str) -> QuestionnaireEntry | None:
        """The Questionnaire a canonical reference names (``url`` or ``url|version``; a wrong version matches none)."""
        url, _, version = canonical.partition("|")
        found = next((e for e in self.entries.values() if e.url == url), None)
        if found is None or (version and version != found.version):
            return None
        return found

    def search(self, url: str | None) -> list[QuestionnaireEntry]:
        """Entries matching a ``url`` search parameter (canonical, optionally ``|version``); all without one."""
        if url is None:
            return list(self.entries.values())
        found = self.by_canonical(url)
        return [found] if found else []
