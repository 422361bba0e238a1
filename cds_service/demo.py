"""The demo: run the service on 127.0.0.1, call both hooks for bundled example patients, print what came back."""

from __future__ import annotations

import json
import logging
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import requests
from werkzeug.serving import make_server

from cds_service.config import PROJECT_ROOT, Settings
from cds_service.hooks.app import create_app
from cds_service.hooks.services import service_for_hook
from cds_service.record.hook_requests import build_hook_request

EXAMPLES = PROJECT_ROOT / "tests" / "fixtures" / "golden"
MARK = {"met": "✓", "not-met": "✗", "unknown": "?", "pending": "…", "not-applicable": "-"}


@dataclass(frozen=True)
class DemoCase:
    """One example call: a patient file, the hook, when, and which stay is discharged."""

    file: str
    hook: str
    at: str
    story: str
    encounter_id: str | None = None


CASES = (
    DemoCase(
        "P1.json", "order-sign", "2025-03-03T10:00:00-06:00", "Medica adult admission with every requirement documented"
    ),
    DemoCase(
        "P10.json",
        "order-sign",
        "2025-03-03T16:00:00-06:00",
        "Medica adolescent with a sparse record: mostly undocumented",
    ),
    DemoCase(
        "P3.json", "order-sign", "2025-03-03T10:00:00-05:00", "Optum step-down admission with delirium-tremens risk"
    ),
    DemoCase("P4.json", "encounter-discharge", "2025-02-28T12:05:00-05:00", "Optum discharge audit"),
    DemoCase(
        "P5.json",
        "encounter-discharge",
        "2025-03-21T12:10:00-04:00",
        "Molina discharge audit with 48-hour failures",
        "P5-prog",
    ),
)


def _patient_name(bundle: dict[str, Any]) -> str:
    for entry in bundle.get("entry", []):
        resource = entry.get("resource", {})
        if resource.get("resourceType") == "Patient":
            name = (resource.get("name") or [{}])[0]
            return " ".join([*name.get("given", []), name.get("family", "")]).strip() or resource.get("id", "?")
    return "?"


def render_response(result: dict[str, Any], out: TextIO) -> None:
    """Print cards, coverage information and each policy's criteria in a readable form."""
    for card in result.get("cards", []):
        out.write(f"  [{card['indicator'].upper():8}] {card['summary']}\n")
    if not result.get("cards"):
        out.write("  (no cards: nothing to flag)\n")
    for action in result.get("systemActions", []):
        resource = action["resource"]
        for ext in resource.get("extension", []):
            parts = {p["url"]: p for p in ext.get("extension", [])}
            if "covered" in parts:
                out.write(
                    f"  coverage information on {resource['resourceType']}/{resource.get('id')}: "
                    f"covered={parts['covered']['valueCode']}\n"
                )
    for evaluation in result.get("extension", {}).get("iop-cds.evaluations", []):
        counts = Counter(
            "superseded" if c.get("superseded") else c["status"] for c in evaluation["criteria"] if "." in c["id"]
        )
        tally = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        out.write(f"  {evaluation['policy']} / {evaluation['phase']}: {evaluation['outcome']} ({tally})\n")
        for criterion in evaluation["criteria"]:
            decisive = "." in criterion["id"] and not criterion.get("superseded")  # an alternative already met
            if criterion["status"] in {"not-met", "unknown", "pending"} and decisive:
                out.write(f"    {MARK[criterion['status']]} {criterion['id']}: {criterion['reason']}\n")


def run_demo(out: TextIO, examples: Path = EXAMPLES) -> int:
    """Serve the app on a free local port with auth off, call each example case, print the answers; 0 on success."""
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(
            program_attestations_file=str(PROJECT_ROOT / "examples" / "program-attestations.yaml"),
            auth=False,
            log_level="WARNING",
            feedback_db=f"{scratch}/feedback.sqlite3",
            replay_db=f"{scratch}/replay.sqlite3",
        )
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = make_server("127.0.0.1", 0, create_app(settings), threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{server.server_port}"
        try:
            services = requests.get(f"{base}/cds-services", timeout=10).json()["services"]
            out.write(
                f"iop-cds demo: service running at {base} with {len(services)} CDS services "
                f"({', '.join(s['id'] for s in services)})\n"
            )
            failures = 0
            for case in CASES:
                path = examples / case.file
                if not path.exists():
                    out.write(f"\n(skipped {case.file}: not found in {examples})\n")
                    continue
                bundle = json.loads(path.read_text(encoding="utf-8"))
                body = build_hook_request(bundle, case.hook, at=case.at, encounter_id=case.encounter_id)
                out.write(f"\n== {case.hook} · {_patient_name(bundle)} ({path.stem}) · {case.story}\n")
                response = requests.post(f"{base}/cds-services/{service_for_hook(case.hook)}", json=body, timeout=30)
                if response.status_code != 200:
                    failures += 1
                    out.write(f"  HTTP {response.status_code}: {response.text[:300]}\n")
                    continue
                render_response(response.json(), out)
            out.write("\nLegend: ✗ not met  ? needs documentation or attestation  … not due yet\n")
            return 1 if failures else 0
        finally:
            server.shutdown()
            thread.join(timeout=5)
