"""Outcomes to CDS cards and CRD coverage information (being built; see issue 4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cds_service.config import Settings
from cds_service.engine import PolicyEvaluation
from cds_service.mapping import Mappings
from cds_service.record import DataGap, PatientRecord, Resource
from cds_service.routing import RoutingDecision


@dataclass
class ResponseInput:
    """Everything the card layer needs from one hook call."""

    hook: str
    evaluations: list[PolicyEvaluation]
    routing: RoutingDecision
    gaps: list[DataGap]
    now: datetime
    orders: list[Resource]
    record: PatientRecord
    encounter_id: str | None = None
    configuration: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


class CardBuilder:
    """Builds the CDS Hooks response (cards + systemActions) from evaluations."""

    def __init__(self, settings: Settings, mappings: Mappings) -> None:
        self.settings = settings
        self.mappings = mappings

    def build(self, data: ResponseInput) -> dict[str, Any]:
        return {"cards": []}
