"""One audit run of the committed known-truth population, shared by the tests that read its results."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cds_service.audit.job import AuditSummary, run_audit
from cds_service.config import Settings

POPULATION = Path(__file__).resolve().parents[1] / "fixtures" / "population"
SHARED = ("Practitioner", "Organization", "Location")


@dataclass
class AuditRun:
    """Where a run wrote its results, and what it returned."""

    out: Path
    summary: AuditSummary


def audit_settings(tmp: Path) -> Settings:
    """Settings as the CLI builds them (auth off), with the service's SQLite files in a temporary folder."""
    return Settings(auth=False, feedback_db=str(tmp / "feedback.sqlite3"), replay_db=str(tmp / "replay.sqlite3"))


def truth() -> dict[str, Any]:
    """What the generator injected into the committed population."""
    return json.loads((POPULATION / "truth.json").read_text(encoding="utf-8"))


def export_resources(folder: Path = POPULATION) -> list[tuple[str, dict[str, Any]]]:
    """(file name, resource) for every readable line of the export's NDJSON files."""
    found = []
    for path in sorted(folder.glob("*.ndjson*")):
        opener = gzip.open if path.name.endswith(".gz") else open
        try:
            with opener(path, "rt", encoding="utf-8") as handle:
                for line in handle:
                    try:
                        found.append((path.name, json.loads(line)))
                    except ValueError:
                        continue
        except EOFError:
            continue
    return found


@pytest.fixture(scope="session")
def two_worker_run(tmp_path_factory: pytest.TempPathFactory) -> AuditRun:
    """The committed population audited on a LocalCluster of two (thread) workers."""
    tmp = tmp_path_factory.mktemp("audit-2")
    out = tmp / "out"
    summary = run_audit(
        POPULATION,
        out,
        settings=audit_settings(tmp),
        workers=2,
        processes=False,
        as_of=datetime(2025, 11, 1, tzinfo=UTC),
    )
    return AuditRun(out, summary)
