"""Patient records of a chosen size, scaled up from realistic resources (an IOP episode plus Synthea histories)."""

from __future__ import annotations

import copy
import json
import re
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EPISODE = ROOT / "tests" / "fixtures" / "golden" / "P5.json"
HISTORIES = sorted((ROOT / "tests" / "fixtures" / "synthea").glob("*.json"))
PATIENT_ID = "P5-patient"
_DATE = re.compile(r'"(\d{4})-(\d{2})-(\d{2})')
_REF = re.compile(
    r'"(Patient|Encounter|Condition|CarePlan|Observation|Procedure|DocumentReference|MedicationRequest|'
    r'CareTeam|Goal|Coverage|Appointment)/([^"/]+)"'
)


def _entries(path: Path) -> list[dict[str, Any]]:
    return [e["resource"] for e in json.loads(path.read_text(encoding="utf-8"))["entry"]]


def _history_pool() -> list[dict[str, Any]]:
    """Synthea resources (not Patient/Coverage), interleaved by type so any prefix keeps the type mix."""
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for path in HISTORIES:
        for resource in _entries(path):
            if resource["resourceType"] not in {"Patient", "Coverage"}:
                by_type[resource["resourceType"]].append(resource)
    total = sum(len(v) for v in by_type.values())
    pool: list[dict[str, Any]] = []
    cursors = {t: 0.0 for t in by_type}
    while len(pool) < total:  # proportional interleaving
        for rtype, items in by_type.items():
            cursors[rtype] += len(items) / total
            while cursors[rtype] >= 1 and items:
                pool.append(items.pop())
                cursors[rtype] -= 1
    return pool


def _rebased(resource: dict[str, Any], copy_index: int, years_back: int) -> dict[str, Any]:
    """A copy pointing at the benchmark patient, with ids suffixed per copy and dates moved back by whole years."""
    text = json.dumps(resource)
    text = re.sub(r'"Patient/[^"]+"', f'"Patient/{PATIENT_ID}"', text)
    if copy_index:
        text = _REF.sub(lambda m: f'"{m[1]}/{m[2]}-c{copy_index}"' if m[1] != "Patient" else m[0], text)

        def shift(m: re.Match[str]) -> str:
            year, month, day = int(m[1]), int(m[2]), min(int(m[3]), 28)
            return f'"{date(year - years_back, month, day).isoformat()}'

        text = _DATE.sub(shift, text)
    out = json.loads(text)
    if copy_index:
        out["id"] = f"{out['id']}-c{copy_index}"
    return out


def build_bundle(size: int) -> dict[str, Any]:
    """A collection Bundle of about ``size`` resources: the P5 IOP episode plus scaled-up Synthea history."""
    episode = _entries(EPISODE)
    pool = _history_pool()
    resources = list(episode)
    copy_index = 0
    while len(resources) < size:
        for resource in pool:
            if len(resources) >= size:
                break
            resources.append(_rebased(resource, copy_index, years_back=copy_index * 3))
        copy_index += 1
    entries = [{"resource": copy.deepcopy(r)} for r in resources]
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def describe(bundle: dict[str, Any]) -> dict[str, int]:
    """Resource count per type."""
    counts: dict[str, int] = defaultdict(int)
    for entry in bundle["entry"]:
        counts[entry["resource"]["resourceType"]] += 1
    return dict(sorted(counts.items()))


if __name__ == "__main__":
    for n in (100, 1000, 10000):
        print(n, describe(build_bundle(n)))
