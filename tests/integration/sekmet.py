"""A real FHIR server process (sekmet-fhir, in its own virtualenv) for the integration tests and benchmarks.

``sekmet-fhir==0.1.1`` pins its own FastAPI / pydantic / fhir.resources, so it lives in
``<repo>/.cache/sekmet-venv`` (git-ignored), created and pip-installed here on first use. A failed
installation fails the session with pip's output; it never skips silently.

The server runs as ``python -c <launcher> serve --config <tmp>/settings.yaml`` (the launcher is
sekmet's own ``sekmet`` console script, see ``_LAUNCHER``) on 127.0.0.1 and a free port, with an
in-memory SQLite database, the workflow simulator off and static bearer-token auth, so every request
the service makes must carry ``Authorization: Bearer <token>``. Searches page at sekmet's default of
20 entries, and at most MAX_PAGE_SIZE whatever ``_count`` asks, so large records always span pages.
The process is stopped (SIGTERM, then SIGKILL) at the end of the session; on Linux it also gets
SIGTERM if pytest itself dies.

Known sekmet-fhir 0.1.1 quirk this harness corrects (see _LAUNCHER): its search-parameter table has
no entry at all for QuestionnaireResponse, CareTeam and Goal, so ``QuestionnaireResponse?patient=X``,
``CareTeam?patient=X`` and ``Goal?patient=X`` ignore ``patient`` (a warning OperationOutcome entry
with ``search.mode = outcome`` says "parameter ignored") and return that type's resources of EVERY
patient. The launcher adds the standard R4 definitions (patient, subject, status, ...) to the table
before the app starts; everything else is stock sekmet-fhir.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
SEKMET_SPEC = "sekmet-fhir==0.1.1"
SEKMET_VENV = REPO_ROOT / ".cache" / "sekmet-venv"
FIXTURES = REPO_ROOT / "tests" / "fixtures"
SYNTHEA_DIR = FIXTURES / "synthea"
EPISODE_FIXTURE = FIXTURES / "iop-episode-basic.json"
FHIR_TOKEN = "iop-cds-integration-token"  # the static bearer token sekmet accepts (test-only, not a secret)
START_TIMEOUT_S = 60.0
MAX_PAGE_SIZE = 100  # the most entries sekmet returns per page, whatever _count asks for; default page: 20
PIP_TIMEOUT_S = 600

# Runs inside the sekmet venv. Adds the search parameters sekmet-fhir 0.1.1 lacks (only where the type
# has no definition of that name, so a fixed sekmet is left alone), caps the page size the server
# hands out (SEKMET_MAX_PAGE_SIZE; sekmet's own cap is 1000, which a client asking _count=1000 would
# never page past), then runs sekmet's own CLI.


class SekmetError(RuntimeError):
    """The FHIR server could not be installed, started or loaded."""


_LAUNCHER = r"""
import sys
from sekmet.fhir import search_params as sp
_MISSING = {
    "QuestionnaireResponse": ["patient:reference:subject:Patient", "subject:reference:subject",
                              "status:token:status", "authored:date:authored", "encounter:reference:encounter",
                              "questionnaire:uri:questionnaire", "author:reference:author",
                              "identifier:token:identifier"],
    "CareTeam": ["patient:reference:subject:Patient", "subject:reference:subject", "status:token:status",
                 "encounter:reference:encounter", "participant:reference:participant.member",
                 "category:token:category", "date:date:period", "identifier:token:identifier"],
    "Goal": ["patient:reference:subject:Patient", "subject:reference:subject",
             "lifecycle-status:token:lifecycleStatus", "category:token:category",
             "start-date:date:startDate", "target-date:date:target.dueDate", "identifier:token:identifier"],
}
for rtype, lines in _MISSING.items():
    table = sp.PARAMS.setdefault(rtype, {})
    for line in lines:
        bits = line.split(":")
        if bits[0] not in table:
            table[bits[0]] = sp.SearchParam(bits[0], bits[1], tuple(bits[2].split("|")),
                                            bits[3] if len(bits) > 3 else None)
import os
from sekmet.fhir import search as _search
if os.environ.get("SEKMET_MAX_PAGE_SIZE"):
    _search.MAX_COUNT = int(os.environ["SEKMET_MAX_PAGE_SIZE"])
from sekmet.cli import app
sys.argv = ["sekmet", *sys.argv[1:]]
app()
"""


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _installed_version(python: Path) -> str | None:
    if not python.exists():
        return None
    probe = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('sekmet-fhir'))"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return probe.stdout.strip() if probe.returncode == 0 else None


def ensure_sekmet() -> Path:
    """The sekmet venv's python, creating the venv and installing sekmet-fhir when needed."""
    python = _venv_python(SEKMET_VENV)
    wanted = SEKMET_SPEC.split("==", 1)[1]
    if _installed_version(python) == wanted:
        return python
    SEKMET_VENV.parent.mkdir(parents=True, exist_ok=True)
    log: list[str] = []
    if not python.exists():
        made = subprocess.run([sys.executable, "-m", "venv", str(SEKMET_VENV)], capture_output=True, text=True)
        log.append(f"$ {sys.executable} -m venv {SEKMET_VENV}\n{made.stdout}{made.stderr}")
        if made.returncode != 0:
            raise SekmetError("could not create the sekmet-fhir virtualenv:\n" + "\n".join(log))
    command = [
        str(python),
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--timeout",
        "120",
        "--retries",
        "5",
        SEKMET_SPEC,
    ]
    try:
        pip = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
        log.append(f"$ {' '.join(command)}\n{pip.stdout}{pip.stderr}")
        failed = pip.returncode != 0
    except subprocess.TimeoutExpired as exc:
        log.append(f"$ {' '.join(command)}\ntimed out after {PIP_TIMEOUT_S} s\n{exc.stdout or ''}{exc.stderr or ''}")
        failed = True
    if failed or _installed_version(python) != wanted:
        raise SekmetError(f"installing {SEKMET_SPEC} into {SEKMET_VENV} failed:\n" + "\n".join(log)[-8000:])
    return python


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: deliver SIGTERM to the server if the pytest process dies without tearing down."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


@dataclass
class FhirServer:
    """A running sekmet-fhir process: its base URL, the bearer token it accepts, and helpers."""

    base_url: str
    token: str
    process: subprocess.Popen[bytes]
    log_path: Path
    max_page_size: int = MAX_PAGE_SIZE
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.session.headers.update({"Authorization": f"Bearer {self.token}", "Accept": "application/fhir+json"})

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""

    def transaction(self, bundle: dict[str, Any]) -> dict[str, Any]:
        """POST a transaction Bundle; fails the test with the server's answer when it is rejected."""
        response = self.session.post(
            self.base_url,
            data=json.dumps(bundle),
            headers={"Content-Type": "application/fhir+json", "Prefer": "return=minimal"},
            timeout=300,
        )
        if response.status_code != 200:
            raise SekmetError(
                f"transaction rejected by the FHIR server ({response.status_code}): {response.text[:3000]}"
            )
        return response.json()

    def search_all(self, query: str, page_size: int = 1000) -> list[dict[str, Any]]:
        """Every resource a search matches (``search.mode`` match/include), following ``next`` links."""
        url = f"{self.base_url}/{query}"
        url += ("&" if "?" in url else "?") + f"_count={page_size}"
        found: list[dict[str, Any]] = []
        for _ in range(1000):
            response = self.session.get(url, timeout=60)
            response.raise_for_status()
            bundle = response.json()
            for entry in bundle.get("entry", []):
                if entry.get("search", {}).get("mode", "match") != "outcome":
                    found.append(entry["resource"])
            url = next((link["url"] for link in bundle.get("link", []) if link.get("relation") == "next"), None)
            if url is None:
                return found
        raise AssertionError(f"more than 1000 pages for {query}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError, AttributeError):
        process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, AttributeError):
            process.kill()
        process.wait(timeout=15)


@contextmanager
def running_sekmet(workdir: Path) -> Iterator[FhirServer]:
    """A sekmet-fhir server on 127.0.0.1 working in ``workdir``; stopped when the block ends."""
    python = ensure_sekmet()
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/fhir"
    settings = {
        "host": "127.0.0.1",
        "port": port,
        "base_url": base_url,
        "data_dir": str(workdir / "data"),
        "db_path": ":memory:",
        "simulator": {"enabled": False},
        "server_auth": {"types": ["bearer"], "tokens": [FHIR_TOKEN]},
        "validation": {"inbound": "strict"},
        "log_inbound": False,
        "own_private_key_path": str(workdir / "keys" / "sekmet_private.pem"),
    }
    config = workdir / "settings.yaml"
    config.write_text(json.dumps(settings, indent=2), encoding="utf-8")  # JSON is YAML
    log_path = workdir / "sekmet.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEKMET_")}
    env["SEKMET_CONFIG"] = str(config)
    env["PYTHONUNBUFFERED"] = "1"
    env["SEKMET_MAX_PAGE_SIZE"] = str(MAX_PAGE_SIZE)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(python), "-c", _LAUNCHER, "serve", "--config", str(config)],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
    server = FhirServer(base_url=base_url, token=FHIR_TOKEN, process=process, log_path=log_path)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise SekmetError(
                    f"sekmet-fhir exited with {process.returncode} before answering:\n{server.log_tail()}"
                )
            try:
                if requests.get(f"{base_url}/metadata", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise SekmetError(
                    f"sekmet-fhir did not answer GET /fhir/metadata within {START_TIMEOUT_S:.0f} s:\n"
                    f"{server.log_tail()}"
                )
            time.sleep(0.2)
        yield server
    finally:
        server.session.close()
        _stop(process)


def load_bundle(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def patient_id_of(bundle: dict[str, Any]) -> str:
    return next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
