"""Program-level (deployment) attestations: what the IOP program attests about itself, beyond any patient record."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import yaml

from cds_service.engine.evaluator import Attestation
from cds_service.logs import log_event

logger = logging.getLogger("iop_cds.deployment")


class DeploymentAttestationError(ValueError):
    """The program attestation file is unreadable or malformed."""


@dataclass(frozen=True)
class ProgramAttestations:
    """Criterion id → the program's attested answer, valid until ``expires``."""

    program: str
    expires: date | None
    answers: dict[str, Attestation]

    def valid_at(self, now: datetime) -> dict[str, Attestation]:
        """The answers, or none once the file has expired."""
        if self.expires is not None and now.date() > self.expires:
            return {}
        return self.answers


def load_program_attestations(path: str, known_ids: set[str]) -> ProgramAttestations | None:
    """Read the YAML file (``program``, ``attested-by``, ``date``, ``expires``, ``criteria: {id: true|false}``)."""
    if not path:
        log_event(
            logger,
            "deployment.no-attestations",
            level=logging.WARNING,
            message="no program attestation file (IOP_CDS_PROGRAM_ATTESTATIONS_FILE): program-level criteria "
            "stay unknown; they never produce patient cards",
        )
        return None
    try:
        doc: Any = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DeploymentAttestationError(f"{path}: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("criteria"), dict):
        raise DeploymentAttestationError(
            f"{path}: expected a mapping with 'program' and 'criteria: {{id: true|false}}'"
        )
    problems = [f"{path}: criteria.{key}: unknown criterion id" for key in doc["criteria"] if key not in known_ids]
    problems += [
        f"{path}: criteria.{key}: answer must be true or false"
        for key, value in doc["criteria"].items()
        if not isinstance(value, bool)
    ]
    expires, attested = doc.get("expires"), doc.get("date")
    for name, value in (("expires", expires), ("date", attested)):
        if value is not None and not isinstance(value, date):
            problems.append(f"{path}: {name} must be a date (YYYY-MM-DD)")
    if problems:
        raise DeploymentAttestationError("; ".join(problems))
    authored = datetime.combine(attested or date.today(), time(0), tzinfo=UTC)
    source = f"program attestation ({doc.get('program', 'IOP program')}, {doc.get('attested-by', 'unsigned')})"
    answers = {key: Attestation(value, source, authored) for key, value in doc["criteria"].items()}
    result = ProgramAttestations(str(doc.get("program", "")), expires, answers)
    if expires is not None and expires < date.today():
        log_event(logger, "deployment.expired", level=logging.WARNING, file=path, expires=expires.isoformat())
    return result
