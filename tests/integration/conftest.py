"""Fixtures: one sekmet-fhir server per test session, loaded with the IOP episode and the Synthea patients."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from .sekmet import (
    EPISODE_FIXTURE,
    SYNTHEA_DIR,
    FhirServer,
    SekmetError,
    load_bundle,
    patient_id_of,
    running_sekmet,
)


@pytest.fixture(scope="session")
def fhir_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FhirServer]:
    """A sekmet-fhir server on 127.0.0.1 for the whole session; a failure to start fails, never skips."""
    try:
        with running_sekmet(tmp_path_factory.mktemp("sekmet")) as server:
            yield server
    except SekmetError as exc:
        pytest.fail(str(exc), pytrace=False)


@dataclass
class LoadedData:
    """What the session loaded into the server: patient id -> fixture bundle."""

    server: FhirServer
    bundles: dict[str, dict[str, Any]]
    episode_patient: str
    synthea_patients: list[str]


@pytest.fixture(scope="session")
def loaded_server(fhir_server: FhirServer) -> LoadedData:
    """The server with the hand-built IOP episode and every Synthea fixture patient loaded."""
    bundles: dict[str, dict[str, Any]] = {}
    episode = load_bundle(EPISODE_FIXTURE)
    fhir_server.transaction(episode)
    bundles[patient_id_of(episode)] = episode
    synthea: list[str] = []
    for path in sorted(SYNTHEA_DIR.glob("*.json")):
        bundle = load_bundle(path)
        fhir_server.transaction(bundle)
        pid = patient_id_of(bundle)
        bundles[pid] = bundle
        synthea.append(pid)
    return LoadedData(
        server=fhir_server, bundles=bundles, episode_patient=patient_id_of(episode), synthea_patients=synthea
    )
