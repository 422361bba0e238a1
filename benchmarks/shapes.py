"""Record shapes of the benchmark: how the resources of a record of a given size are spread over time and types.

- ``synthea-shifted``: today's generator (benchmarks.records) — Synthea histories copied and moved back three
  years per copy, so most evidence lies far from the evaluation time.
- ``dense-bh``: a dense recent behavioural-health history around the IOP episode: weekly therapy sessions with their
  procedures, notes and appointments, weekly PHQ-9 and GAD-7, care-plan revisions, medications and diagnoses over the
  two years before the discharge, and an earlier IOP program with its own sessions.
- ``pysynthea``: untrimmed PySynthea patients (``tietai-synthea``, its own seed, every resource type it writes,
  references as a FHIR server returns them) merged into the benchmark patient's record around the IOP episode.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.records import EPISODE, PATIENT_ID, _entries, build_bundle

Resource = dict[str, Any]
SUBJECT = {"reference": f"Patient/{PATIENT_ID}"}
HISTORY_END = datetime.fromisoformat("2025-03-20T16:00:00-04:00")
"""The dense history runs up to the day before the benchmark's discharge (benchmarks.latency.DISCHARGE_AT)."""
HISTORY_DAYS = 730
CPT = "http://www.ama-assn.org/go/cpt"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PRIOR_PROGRAM = "dense-prior-iop"
PRIOR_START = HISTORY_END - timedelta(days=400)
PRIOR_DAYS = 42

PYSYNTHEA_SEED = 20251201
PYSYNTHEA_REFERENCE_DATE = "20250320"
PYSYNTHEA_POPULATION = 16
PYSYNTHEA_CACHE = Path.home() / ".cache" / "iop-cds-bench" / f"pysynthea-{PYSYNTHEA_SEED}-{PYSYNTHEA_POPULATION}"


def _coded(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def _stamp(when: datetime) -> str:
    return when.isoformat(timespec="seconds")


def _visit(i: int, when: datetime) -> list[Resource]:
    """One weekly outpatient visit (or a session of the earlier IOP program): the encounter and what it produced."""
    in_prior = PRIOR_START <= when < PRIOR_START + timedelta(days=PRIOR_DAYS)
    enc_id = f"dense-enc-{i}"
    encounter: Resource = {
        "resourceType": "Encounter",
        "id": enc_id,
        "status": "finished",
        "class": {"system": ACT, "code": "AMB", "display": "ambulatory"},
        "type": [
            _coded(HCPCS, "S9480", "Intensive outpatient psychiatric services, per diem")
            if in_prior
            else _coded(CPT, "90834", "Psychotherapy, 45 minutes")
        ],
        "subject": SUBJECT,
        "period": {"start": _stamp(when), "end": _stamp(when + timedelta(minutes=50))},
        "participant": [{"individual": {"reference": "Practitioner/P5-pcp", "display": "Dr A. Shah"}}],
        "serviceProvider": {"reference": "Organization/P5-molina"},
    }
    if in_prior:
        encounter["partOf"] = {"reference": f"Encounter/{PRIOR_PROGRAM}"}
    link = {"reference": f"Encounter/{enc_id}"}
    code = ("90853", "Group psychotherapy") if in_prior else ("90834", "Psychotherapy, 45 minutes")
    return [
        encounter,
        {
            "resourceType": "Procedure",
            "id": f"dense-proc-{i}",
            "status": "completed",
            "subject": SUBJECT,
            "encounter": link,
            "code": _coded(CPT, *code),
            "performedPeriod": {"start": _stamp(when), "end": _stamp(when + timedelta(minutes=45))},
        },
        {
            "resourceType": "DocumentReference",
            "id": f"dense-note-{i}",
            "status": "current",
            "docStatus": "final",
            "subject": SUBJECT,
            "type": _coded(LOINC, "11506-3", "Progress note"),
            "date": _stamp(when + timedelta(hours=2)),
            "context": {"encounter": [link]},
            "content": [{"attachment": {"contentType": "text/plain", "title": "Progress note", "size": 2048}}],
        },
        {
            "resourceType": "Appointment",
            "id": f"dense-appt-{i}",
            "status": "fulfilled",
            "serviceType": [_coded(SNOMED, "722162001", "Psychology service")],
            "start": _stamp(when),
            "end": _stamp(when + timedelta(minutes=50)),
            "participant": [{"actor": SUBJECT, "status": "accepted"}],
        },
        _score(f"dense-phq9-{i}", "44261-6", "PHQ-9 total score", 8 + i % 12, when, link),
        _score(f"dense-gad7-{i}", "70274-6", "GAD-7 total score", 6 + i % 10, when, link),
    ]


def _score(rid: str, code: str, display: str, value: int, when: datetime, link: dict[str, str]) -> Resource:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "category": [
            _coded("http://terminology.hl7.org/CodeSystem/observation-category", "survey", "Survey"),
        ],
        "code": _coded(LOINC, code, display),
        "subject": SUBJECT,
        "encounter": link,
        "effectiveDateTime": _stamp(when + timedelta(minutes=5)),
        "valueInteger": value,
    }


def _revision(i: int, when: datetime, latest: bool) -> list[Resource]:
    """A treatment-plan revision and a medication renewal (the latest ones still active)."""
    return [
        {
            "resourceType": "CarePlan",
            "id": f"dense-plan-{i}",
            "status": "active" if latest else "revoked",
            "intent": "plan",
            "subject": SUBJECT,
            "category": [_coded(SNOMED, "718347000", "Mental health care plan")],
            "created": _stamp(when),
            "period": {"start": when.date().isoformat()},
            "activity": [{"detail": {"status": "in-progress", "code": _coded(CPT, "90834", "Psychotherapy")}}],
        },
        {
            "resourceType": "MedicationRequest",
            "id": f"dense-med-{i}",
            "status": "active" if latest else "completed",
            "intent": "order",
            "subject": SUBJECT,
            "medicationCodeableConcept": _coded(RXNORM, "312938", "sertraline 100 MG Oral Tablet"),
            "authoredOn": when.date().isoformat(),
            "dosageInstruction": [{"text": "1 tablet daily"}],
            "dispenseRequest": {"validityPeriod": {"start": when.date().isoformat()}, "numberOfRepeatsAllowed": 1},
        },
    ]


def _diagnosis(i: int, when: datetime) -> Resource:
    code, display = [("F33.1", "Major depressive disorder, recurrent, moderate"), ("F41.1", "Generalized anxiety")][
        i % 2
    ]
    return {
        "resourceType": "Condition",
        "id": f"dense-cond-{i}",
        "clinicalStatus": _coded("http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"),
        "verificationStatus": _coded(
            "http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed", "Confirmed"
        ),
        "category": [_coded("http://terminology.hl7.org/CodeSystem/condition-category", "encounter-diagnosis", "Dx")],
        "code": _coded(ICD10, code, display),
        "subject": SUBJECT,
        "onsetDateTime": _stamp(when),
        "recordedDate": _stamp(when),
    }


def _prior_program() -> Resource:
    return {
        "resourceType": "Encounter",
        "id": PRIOR_PROGRAM,
        "status": "finished",
        "class": {"system": ACT, "code": "AMB"},
        "type": [_coded(HCPCS, "S9480", "Intensive outpatient psychiatric services, per diem")],
        "subject": SUBJECT,
        "period": {
            "start": PRIOR_START.date().isoformat(),
            "end": (PRIOR_START + timedelta(days=PRIOR_DAYS)).date().isoformat(),
        },
    }


def dense_bundle(size: int) -> dict[str, Any]:
    """About ``size`` resources: the P5 IOP episode plus visits spread evenly over the two years before discharge."""
    resources = _entries(EPISODE) + [_prior_program()]
    visits = max(1, (size - len(resources)) // 7)
    step = timedelta(days=HISTORY_DAYS) / visits
    for i in range(visits):
        when = HISTORY_END - step * (visits - i)
        resources += _visit(i, when)
        if i % 4 == 0 or i == visits - 1:
            resources += _revision(i, when, latest=i >= visits - 4)
        if i % 8 == 0:
            resources.append(_diagnosis(i, when))
    resources = resources[: max(size, len(_entries(EPISODE)))]
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}


def pysynthea_patients(needed: int) -> list[list[Resource]]:
    """Resource lists of PySynthea patients (generated once with a fixed seed, then cached) holding ``needed``."""
    if not (PYSYNTHEA_CACHE / "done").exists():
        _generate_pysynthea(PYSYNTHEA_POPULATION)
    patients: list[list[Resource]] = []
    total = 0
    for path in sorted((PYSYNTHEA_CACHE / "fhir").glob("*.json")):
        patients.append(_entries(path))
        total += len(patients[-1])
        if total >= needed:
            return patients
    raise RuntimeError(f"{PYSYNTHEA_POPULATION} PySynthea patients hold {total} resources, fewer than {needed}")


def _generate_pysynthea(population: int) -> None:
    synthea = shutil.which("synthea") or str(Path(sys.executable).with_name("synthea"))
    if not Path(synthea).exists():
        raise RuntimeError("the pysynthea shape needs the bench extra: pip install -e '.[bench]'")
    shutil.rmtree(PYSYNTHEA_CACHE, ignore_errors=True)
    PYSYNTHEA_CACHE.parent.mkdir(parents=True, exist_ok=True)
    command = [synthea, "-p", str(population), "-s", str(PYSYNTHEA_SEED), "-r", PYSYNTHEA_REFERENCE_DATE]
    subprocess.run([*command, "-o", str(PYSYNTHEA_CACHE), "--log-level", "error"], check=True, capture_output=True)
    (PYSYNTHEA_CACHE / "done").write_text(str(population), encoding="utf-8")


def _as_server_references(resources: list[Resource], patient_uuid: str) -> list[Resource]:
    """``urn:uuid:`` references (a transaction Bundle's) as ``Type/id`` (a FHIR server's); the patient's as ours."""
    types = {r.get("id"): r["resourceType"] for r in resources}
    text = json.dumps(resources)
    text = text.replace(f'"urn:uuid:{patient_uuid}"', f'"Patient/{PATIENT_ID}"')
    for rid, rtype in types.items():
        if isinstance(rid, str) and rid:
            text = text.replace(f'"urn:uuid:{rid}"', f'"{rtype}/{rid}"')
    return json.loads(text)


def pysynthea_bundle(size: int) -> dict[str, Any]:
    """About ``size`` resources: the P5 IOP episode plus whole, untrimmed PySynthea patients as the history.

    Each patient's own Patient and Coverage are left out: the record is the benchmark patient's, with its payer.
    """
    episode = _entries(EPISODE)
    resources = list(episode)
    for patient in pysynthea_patients(size):
        person = next(r for r in patient if r["resourceType"] == "Patient")
        kept = [r for r in patient if r["resourceType"] not in {"Patient", "Coverage"}]
        resources += _as_server_references(kept, person["id"])
        if len(resources) >= size:
            break
    resources = resources[: max(size, len(episode))]
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}


def pysynthea_available() -> bool:
    """Whether PySynthea is installed (the ``bench`` extra) or its patients are already cached."""
    return (
        PYSYNTHEA_CACHE.exists()
        or shutil.which("synthea") is not None
        or Path(sys.executable).with_name("synthea").exists()
    )


SHAPES: dict[str, Callable[[int], dict[str, Any]]] = {
    "synthea-shifted": build_bundle,
    "dense-bh": dense_bundle,
    "pysynthea": pysynthea_bundle,
}


def available_shapes() -> list[str]:
    """The shapes this environment can build."""
    return [name for name in SHAPES if name != "pysynthea" or pysynthea_available()]


if __name__ == "__main__":
    from benchmarks.records import describe

    for shape in available_shapes():
        for n in (100, 1000, 10000):
            print(shape, n, describe(SHAPES[shape](n)))
