"""Issue 11's "Why", measured again against the current service on loopback: ``python -m benchmarks.safety``.

Each row reproduces one measurement of the issue and prints the figure the issue quoted (before) next to what
the service does now (after). Fake FHIR and JWKS servers are raw sockets on 127.0.0.1; the calls that depend on
gunicorn (deadlines, concurrency, body limit) go to ``iop-cds serve`` started as a real process; the rest use the
WSGI app in-process. Not a test and not part of ``benchmarks/run.py`` (RSS over ~2,000 calls is measured there).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from cds_service.config import Settings
from cds_service.hooks.app import create_app
from cds_service.hooks.services import service_for_hook
from cds_service.record.hook_requests import PREFETCH_KEY_OF_TYPE, build_hook_request, is_draft_order

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "fixtures" / "golden"
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "cards")]
from golden_calls import GOLDEN_CALLS  # noqa: E402

TOKEN = "ehr-access-token-1234567890"
Handler = Callable[[socket.socket, bytes], None]


# --- loopback servers --------------------------------------------------------------------------------------


class RawServer:
    """A loopback HTTP server answering each connection with ``handler``; keeps every request it received."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[bytes] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}/fhir"
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(30)
            try:
                request = b""
                while b"\r\n\r\n" not in request:
                    data = conn.recv(65536)
                    if not data:
                        return
                    request += data
                self.requests.append(request)
                self.handler(conn, request)
            except OSError:
                pass

    def close(self) -> None:
        self.stop.set()
        self.listener.close()

    def with_token(self) -> int:
        """Requests that carried the EHR's bearer token."""
        return sum(1 for r in self.requests if f"Bearer {TOKEN}".encode() in r)


def respond(conn: socket.socket, body: Any, status: str = "200 OK") -> None:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/fhir+json\r\nContent-Length: {len(data)}\r\n"
    conn.sendall(head.encode() + b"Connection: close\r\n\r\n" + data)


def path_of(request: bytes) -> str:
    return request.split(b" ", 2)[1].decode("latin-1")


def searchset(resources: list[dict[str, Any]], links: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
        "link": links or [],
    }


def stall_handler(stop: threading.Event) -> Handler:
    def handler(conn: socket.socket, request: bytes) -> None:
        stop.wait(15)

    return handler


def drip_handler(stop: threading.Event) -> Handler:
    """Headers at once, then one byte every 0.5 s of a body that never ends."""

    def handler(conn: socket.socket, request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nContent-Length: 1000000\r\n\r\n{")
        while not stop.wait(0.5):
            conn.sendall(b" ")

    return handler


class GoldenFhir:
    """A FHIR server holding one golden Bundle: reads by id, searches by type (``_id`` filters), paging none."""

    def __init__(self, bundle: dict[str, Any], fail_types: tuple[str, ...] = ()) -> None:
        self.resources = [e["resource"] for e in bundle["entry"] if not is_draft_order(e["resource"])]
        self.fail_types = fail_types
        self.server = RawServer(self.handle)

    def handle(self, conn: socket.socket, request: bytes) -> None:
        url = urlsplit(path_of(request))
        rest = url.path.removeprefix("/fhir/")
        rtype, _, rid = rest.partition("/")
        if rtype in self.fail_types:
            respond(conn, {"resourceType": "OperationOutcome", "issue": [{"code": "exception"}]}, "500 Server Error")
            return
        of_type = [r for r in self.resources if r["resourceType"] == rtype]
        if rid:
            found = [r for r in of_type if r.get("id") == rid]
            if found:
                respond(conn, found[0])
            else:
                respond(conn, {"resourceType": "OperationOutcome", "issue": [{"code": "not-found"}]}, "404 Not Found")
            return
        params = parse_qs(url.query)
        if "_id" in params:
            ids = set(params["_id"][0].split(","))
            of_type = [r for r in of_type if r.get("id") in ids]
        included = []
        if rtype == "Encounter":  # the prefetch's _include: everything no prefetch key covers
            included = [r for r in self.resources if r["resourceType"] not in PREFETCH_KEY_OF_TYPE]
            included = [r for r in included if r["resourceType"] != "Patient"]
        bundle = searchset(of_type)
        bundle["entry"] += [{"resource": r, "search": {"mode": "include"}} for r in included]
        respond(conn, bundle)


def golden(name: str) -> dict[str, Any]:
    return json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))


def golden_request(name: str, policies: list[str] | None = None) -> dict[str, Any]:
    hook, at, policy, encounter = GOLDEN_CALLS[name]
    return build_hook_request(golden(name), hook, at=at, encounter_id=encounter, policies=policies or [policy])


def fetch_mode(body: dict[str, Any], base: str, keep: tuple[str, ...] = ("patient",)) -> dict[str, Any]:
    """The call with ``fhirServer`` and token, and only the prefetch keys in ``keep``."""
    body = copy.deepcopy(body)
    body["prefetch"] = {k: v for k, v in body["prefetch"].items() if k in keep}
    body["fhirServer"] = base
    body["fhirAuthorization"] = {"access_token": TOKEN, "token_type": "Bearer", "scope": "patient/*.read"}
    return body


# --- the service -------------------------------------------------------------------------------------------


def app_client(tmp: Path, **overrides: Any) -> Any:
    options: dict[str, Any] = {
        "auth": False,
        "feedback_db": str(tmp / "feedback.sqlite3"),
        "replay_db": str(tmp / "replay.sqlite3"),
        "log_level": "CRITICAL",
        **overrides,
    }
    settings = Settings(**options)
    return create_app(settings).test_client()


def post(client: Any, body: Any) -> Any:
    service = service_for_hook(body.get("hook", "order-sign")) if isinstance(body, dict) else "iop-order-sign"
    return client.post(f"/cds-services/{service}", json=body)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def served(tmp: Path, workers: int = 2) -> Iterator[str]:
    """``iop-cds serve`` as a real process (auth off); yields its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "HOME": str(tmp),
        "IOP_CDS_AUTH": "false",
        "IOP_CDS_FEEDBACK_DB": str(tmp / "feedback.sqlite3"),
        "IOP_CDS_REPLAY_DB": str(tmp / "replay.sqlite3"),
        "IOP_CDS_LOG_LEVEL": "WARNING",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    cli = Path(sys.executable).with_name("iop-cds")
    process = subprocess.Popen(
        [str(cli), "serve", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        else:
            raise RuntimeError("iop-cds serve did not start")
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def timed_post(base: str, body: dict[str, Any], timeout: float = 60) -> tuple[float, str]:
    """(seconds, status or failure) of one call over HTTP."""
    started = time.monotonic()
    try:
        response = requests.post(f"{base}/cds-services/{service_for_hook(body['hook'])}", json=body, timeout=timeout)
        outcome = str(response.status_code)
        if response.status_code == 200 and any(
            "could not be read" in c["summary"].lower() or "data gap" in c["summary"].lower()
            for c in response.json()["cards"]
        ):
            outcome += " + gap card"
    except requests.RequestException as exc:
        outcome = type(exc).__name__
    return time.monotonic() - started, outcome


def gap_card(body: dict[str, Any]) -> bool:
    """Whether the answer names a data gap (a card or the evaluations' gap list)."""
    evaluations = body.get("extension", {}).get("iop-cds.gaps") or body.get("extension", {}).get("iop-cds.data-gaps")
    texts = " ".join(c.get("summary", "") + " " + c.get("detail", "") for c in body.get("cards", [])).lower()
    return bool(evaluations) or "could not be read" in texts or "could not" in texts


# --- measurements ------------------------------------------------------------------------------------------

Row = tuple[str, str, str, str]


def token_confinement(tmp: Path) -> list[Row]:
    foreign = RawServer(lambda conn, request: respond(conn, searchset([])))

    def with_foreign_next(conn: socket.socket, request: bytes) -> None:
        respond(conn, searchset([], [{"relation": "next", "url": f"http://127.0.0.1:{foreign.port}/fhir/page2"}]))

    ehr = RawServer(with_foreign_next)
    client = app_client(tmp / "confinement")
    post(client, fetch_mode(golden_request("P1"), ehr.base))
    foreign_hits, to_ehr = foreign.with_token(), ehr.with_token()

    outside = RawServer(lambda conn, request: respond(conn, searchset([])))
    body = fetch_mode(golden_request("P1"), outside.base, keep=())
    body["context"]["patientId"] = "../../x"
    status = post(client, body).status_code
    escaped = sum(
        1 for r in outside.requests if not path_of(r).startswith("/fhir/") and f"Bearer {TOKEN}".encode() in r
    )
    for server in (foreign, ehr, outside):
        server.close()
    return [
        (
            "token: foreign `next` link",
            "requests to another host carrying the token",
            "16 of 16",
            f"{foreign_hits} of {foreign_hits + to_ehr} ({to_ehr} to the EHR)",
        ),
        (
            "token: patientId ../../x",
            "GETs outside the FHIR base with the token",
            "1 (GET /x)",
            f"{escaped} (answer {status})",
        ),
    ]


def deadlines(tmp: Path) -> list[Row]:
    stop = threading.Event()
    drip, stall = RawServer(drip_handler(stop)), RawServer(stall_handler(stop))
    prefetched = golden_request("P1")
    keep = tuple(k for k in prefetched["prefetch"] if k != "conditions")
    rows: list[Row] = []
    with served(tmp / "deadlines", workers=2) as base:
        took, outcome = timed_post(base, fetch_mode(prefetched, drip.base, keep))
        rows.append(
            ("deadline: drip-fed FHIR body", "time to answer", "30 s, connection reset", f"{took:.2f} s, {outcome}")
        )

        def stalled(_: int) -> tuple[float, str]:
            return timed_post(base, fetch_mode(prefetched, stall.base, keep))

        with ThreadPoolExecutor(max_workers=12) as pool:
            slow = [pool.submit(stalled, i) for i in range(8)]
            time.sleep(0.3)
            fast = [pool.submit(timed_post, base, prefetched) for _ in range(4)]
            fast_times = [f.result()[0] for f in fast]
            slow_times = [f.result()[0] for f in slow]
        rows.append(
            (
                "concurrency: 8 calls vs a stalled FHIR server, 2 workers",
                "max wait of a fully prefetched call",
                "14 s",
                f"{max(fast_times):.2f} s (stalled calls answered in ≤ {max(slow_times):.2f} s)",
            )
        )
        rows.append(slow_headers(base))
        rows.append(big_body(base))
    stop.set()
    drip.close()
    stall.close()
    rows.append(dns_stall(tmp))
    return rows


def slow_headers(base: str) -> Row:
    """50 connections that send their headers one byte a second; then how long /healthz takes."""
    port = int(base.rsplit(":", 1)[1])
    stop = threading.Event()
    sockets = []
    for _ in range(50):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"POST /cds-services/iop-order-sign HTTP/1.1\r\nHost: x\r\n")
        sockets.append(s)

    def trickle() -> None:
        while not stop.wait(1.0):
            for s in sockets:
                with contextlib.suppress(OSError):
                    s.sendall(b"X")

    threading.Thread(target=trickle, daemon=True).start()
    time.sleep(1.0)
    samples, status = [], "200"
    for _ in range(5):  # while the tricklers are connected, and after the header deadline has closed them
        started = time.monotonic()
        try:
            status = str(requests.get(f"{base}/healthz", timeout=20).status_code)
        except requests.RequestException as exc:
            status = type(exc).__name__
        samples.append(time.monotonic() - started)
        time.sleep(1.5)
    took = max(samples)
    stop.set()
    for s in sockets:
        s.close()
    return (
        "concurrency: 50 slow-header connections",
        "/healthz answer time (max of 5 over 7 s)",
        "starved",
        f"{took:.2f} s ({status})",
    )


def big_body(base: str) -> Row:
    body = b'{"hook": "order-sign", "hookInstance": "' + b"x" * (50 * 1024 * 1024) + b'"}'
    try:
        status = str(
            requests.post(
                f"{base}/cds-services/iop-order-sign",
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=60,
            ).status_code
        )
    except requests.RequestException as exc:
        status = f"connection closed ({type(exc).__name__})"
    return ("limits: 50 MB request body", "answer", "accepted", status)


def dns_stall(tmp: Path) -> Row:
    """A fhirServer whose name lookup hangs 10 s (getaddrinfo patched in-process: no resolver to stall here)."""
    real = socket.getaddrinfo

    def stalling(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "stalled-dns.example":
            time.sleep(10)
        return real(host, *args, **kwargs)

    client = app_client(tmp / "dns")
    prefetched = golden_request("P1")
    keep = tuple(k for k in prefetched["prefetch"] if k != "conditions")
    socket.getaddrinfo = stalling  # type: ignore[assignment]
    try:
        started = time.monotonic()
        response = post(client, fetch_mode(prefetched, "http://stalled-dns.example/fhir", keep))
        took = time.monotonic() - started
    finally:
        socket.getaddrinfo = real  # type: ignore[assignment]
    gap = " + gap card" if response.status_code == 200 and gap_card(response.get_json()) else ""
    return (
        "deadline: DNS lookup stalls 10 s",
        "time to answer",
        "5.0 s+ (outside every timeout)",
        f"{took:.2f} s, {response.status_code}{gap}",
    )


def statuses(response: Any) -> dict[str, str]:
    return {
        f"{e['policy']}:{c['id']}": c["status"]
        for e in response.get_json()["extension"]["iop-cds.evaluations"]
        for c in e["criteria"]
    }


def silent_failures(tmp: Path) -> list[Row]:
    client = app_client(tmp / "silent", fhir_time_budget_seconds=30.0)
    differ = []
    for name in GOLDEN_CALLS:
        if name == "P9b":
            continue
        prefetched = golden_request(name)
        server = GoldenFhir(golden(name))
        fetched = fetch_mode(prefetched, server.server.base, keep=("patient", "encounter"))
        if statuses(post(client, prefetched)) != statuses(post(client, fetched)):
            differ.append(name)
        server.server.close()

    failing = GoldenFhir(golden("P1"), fail_types=("Practitioner", "Organization"))
    body = fetch_mode(golden_request("P1"), failing.server.base, keep=("patient",))
    answer = post(client, body).get_json()
    failing.server.close()
    lookups = [g for g in answer.get("extension", {}).get("iop-cds.gaps", []) if "referenced" in json.dumps(g)]
    named = bool(lookups) or "referenced" in json.dumps(answer.get("cards", []))

    other = GoldenFhir(golden("P1"))
    for resource in other.resources:
        if resource["resourceType"] == "Condition":
            resource["subject"] = {"reference": "Patient/someone-else"}
    body = fetch_mode(
        golden_request("P1"),
        other.server.base,
        keep=tuple(k for k in golden_request("P1")["prefetch"] if k != "conditions"),
    )
    answer = post(client, body).get_json()
    other.server.close()
    mentions = "someone-else" in json.dumps(answer) or "another patient" in json.dumps(answer).lower()
    return [
        (
            "gaps: fetch mode vs full prefetch",
            "golden calls whose statuses differ",
            "2 (P4, P6)",
            f"{len(differ)} {differ}",
        ),
        (
            "gaps: Practitioner/Organization lookup fails (500)",
            "named as a gap",
            "no (criteria turn not-met)",
            "yes" if named else "no",
        ),
        (
            "gaps: Conditions of another patient",
            "dropped and named",
            "evaluated as this patient's",
            "yes" if mentions else "no",
        ),
    ]


def mutations(tmp: Path, count: int, seed: int = 11) -> Row:
    """``count`` bodies mutated from the golden requests (plus the shapes the issue names): how many get a 5xx."""
    rng = random.Random(seed)
    client = app_client(tmp / "mutations")
    bases = [golden_request(n) for n in sorted(GOLDEN_CALLS)]
    junk: list[Any] = [None, 0, -1, 1e308, True, "", "x" * 300, [], {}, [[]], {"a": {}}, "9999-12-31T23:59:59Z", "０"]
    named: list[Any] = []
    p1 = golden_request("P1")
    for mutate in (
        lambda b: b["prefetch"]["conditions"]["entry"][0]["resource"]["code"]["coding"][0].update(
            system=["a"], code=["b"]
        ),
        lambda b: b["prefetch"]["conditions"].update(entry={"resource": {}}),
        lambda b: b["prefetch"]["conditions"].update(link="next"),
        lambda b: b["extension"].update({"iop-cds.evaluation-time": "0001-01-01T00:00:00Z"}),
        lambda b: b["extension"].update({"iop-cds.evaluation-time": "9999-12-31T23:59:59Z"}),
        lambda b: b.update(fhirServer="http://[::1"),
        lambda b: b.update(
            fhirServer="http://127.0.0.1:9/fhir", fhirAuthorization={"access_token": "tökén€", "token_type": "Bearer"}
        ),
    ):
        body = copy.deepcopy(p1)
        with contextlib.suppress(Exception):
            mutate(body)
        named.append(body)
    deep: Any = {}
    for _ in range(1000):
        deep = {"a": deep}
    named.append({**copy.deepcopy(p1), "context": {**p1["context"], "x": deep}})

    def paths(node: Any, trail: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
        yield trail
        if isinstance(node, dict):
            for key, value in node.items():
                yield from paths(value, (*trail, key))
        elif isinstance(node, list):
            for i, value in enumerate(node[:3]):
                yield from paths(value, (*trail, i))

    path_lists = [list(paths(b)) for b in bases]
    fives = unevaluated = 0
    kinds: dict[int, int] = {}
    for i in range(count):
        if i < len(named):
            body = named[i]
        else:
            k = rng.randrange(len(bases))
            body = copy.deepcopy(bases[k])
            for _ in range(rng.randint(1, 3)):
                trail = rng.choice(path_lists[k][1:])
                parent = body
                try:
                    for step in trail[:-1]:
                        parent = parent[step]
                    if rng.random() < 0.2 and isinstance(parent, dict):
                        parent.pop(trail[-1], None)
                    else:
                        parent[trail[-1]] = copy.deepcopy(rng.choice(junk))
                except (KeyError, IndexError, TypeError):
                    continue
        try:
            text = json.dumps(body)
        except (RecursionError, ValueError):
            text = "{" * 2000
        response = client.post(
            f"/cds-services/{rng.choice(['iop-order-sign', 'iop-encounter-discharge'])}",
            data=text,
            content_type="application/json",
        )
        kinds[response.status_code] = kinds.get(response.status_code, 0) + 1
        fives += response.status_code >= 500
        unevaluated += response.status_code == 200 and b"cannot evaluate (incident" in response.get_data()
    spread = ", ".join(f"{status}: {n}" for status, n in sorted(kinds.items()))
    return (
        "no 5xx from input: mutated bodies",
        f"5xx of {count} ({spread})",
        "54 of 3,000",
        f"{fives} ({unevaluated} record(s) the engine could not read: gap card)",
    )


def resources_and_limits(tmp: Path) -> list[Row]:
    rows: list[Row] = []
    folder = tmp / "broken"
    folder.mkdir()
    client = app_client(tmp / "fds", feedback_db=str(folder))  # a folder: the store cannot be opened
    feedback = {
        "feedback": [{"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": "2025-03-03T10:00:00Z"}]
    }
    before = len(os.listdir("/proc/self/fd"))
    codes = {client.post("/cds-services/iop-order-sign/feedback", json=feedback).status_code for _ in range(50)}
    after = len(os.listdir("/proc/self/fd"))
    rows.append(
        (
            "resources: feedback store unavailable",
            "descriptors left open after 50 answers " + "/".join(map(str, sorted(codes))),
            "50 (one per 503)",
            str(after - before),
        )
    )

    from cds_service.engine.mapping import load_mappings

    mappings = load_mappings(Settings().mappings_dir)
    valueset = next(iter(mappings.valuesets.values()))
    largest = 0
    for i in range(200_000):
        valueset.contains("http://snomed.info/sct", f"made-up-{i}")
        largest = max(largest, len(valueset._cache))
    rows.append(
        (
            "resources: value-set lookup cache",
            "largest size over 200,000 made-up codes",
            "200,000 (unbounded)",
            f"{largest:,}",
        )
    )

    many = {"feedback": feedback["feedback"] * 10_000}
    limited = app_client(tmp / "items")
    status = limited.post("/cds-services/iop-order-sign/feedback", json=many).status_code
    rows.append(("limits: 10,000 feedback items", "answer", "accepted", f"{status} (at most 100 per request)"))

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    from cds_service.logs import JsonFormatter

    handler.setFormatter(JsonFormatter())
    logged = app_client(tmp / "logged", log_level="INFO")
    logging.getLogger("iop_cds").addHandler(handler)
    try:
        body = golden_request("P1")
        body["hookInstance"] = "h" * (5 * 1024 * 1024)
        post(logged, body)
    finally:
        logging.getLogger("iop_cds").removeHandler(handler)
    longest = max((len(line) for line in stream.getvalue().splitlines()), default=0)
    rows.append(
        ("limits: 5 MB hookInstance", "longest log line (characters)", "5,242,880+ (logged whole)", f"{longest:,}")
    )
    return rows


def jwt_rows(tmp: Path) -> list[Row]:
    import jwt as pyjwt
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from jwt.algorithms import ECAlgorithm

    from cds_service.hooks.auth import AuthError, ClientAuthenticator

    iss, aud = "https://ehr.example.org", "http://localhost/cds-services"
    private = ec.generate_private_key(ec.SECP384R1())
    jwk = {**json.loads(ECAlgorithm.to_jwk(private.public_key())), "kid": "local", "use": "sig", "alg": "ES384"}
    rsa_private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    folder = tmp / "jwt"
    folder.mkdir()
    (folder / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    (folder / "issuers.json").write_text(
        json.dumps({"issuers": [{"iss": iss, "jwks_file": "jwks.json", "jku": ["https://ehr.example.org/jwks"]}]})
    )
    settings = Settings(
        auth=True,
        trusted_issuers_file=str(folder / "issuers.json"),
        replay_db=str(folder / "replay.sqlite3"),
        feedback_db=str(folder / "feedback.sqlite3"),
    )
    stop = threading.Event()
    dead = RawServer(stall_handler(stop))
    jku = f"http://127.0.0.1:{dead.port}/jwks"

    def token(kid: str = "local", key: Any = private, alg: str = "ES384", with_jku: bool = True) -> str:
        now = int(time.time())
        claims = {"iss": iss, "aud": aud, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}
        headers = {"kid": kid, **({"jku": jku} if with_jku else {})}
        return pyjwt.encode(claims, key, algorithm=alg, headers=headers)

    authenticator = ClientAuthenticator(settings)
    authenticator.issuers[iss].jku = (jku,)  # the stalled loopback URL stands for an unreachable jku
    started = time.monotonic()
    ok = sum(1 for _ in range(10) if authenticator.verify(f"Bearer {token()}", aud))
    local_took = (time.monotonic() - started) / 10

    times = []
    for i in range(10):
        started = time.monotonic()
        with contextlib.suppress(AuthError):
            authenticator.verify(f"Bearer {token(kid=f'made-up-{i}')}", aud)
        times.append(time.monotonic() - started)

    client = create_app(settings).test_client()
    mismatch = client.get(
        "/cds-services", headers={"Authorization": f"Bearer {token(key=rsa_private, alg='RS256', with_jku=False)}"}
    )
    lower = client.get("/cds-services", headers={"Authorization": f"bearer {token(with_jku=False)}"})
    stop.set()
    dead.close()

    port = free_port()
    env = {
        **os.environ,
        "HOME": str(folder),
        "IOP_CDS_AUTH": "true",
        "IOP_CDS_TRUSTED_ISSUERS_FILE": str(folder / "issuers.json"),
    }
    env.pop("IOP_CDS_PUBLIC_BASE_URL", None)
    cli = Path(sys.executable).with_name("iop-cds")
    refused = subprocess.run(
        [str(cli), "serve", "--bind", f"127.0.0.1:{port}"], env=env, capture_output=True, timeout=60
    )
    return [
        (
            "JWT: kid in jwks_file, jku unreachable",
            "accepted / time per call",
            "fails offline (jku always fetched)",
            f"{ok} of 10, {local_took * 1000:.1f} ms, {dead.with_token()} fetches",
        ),
        (
            "JWT: made-up kid, 10 calls",
            "time per call (first, rest max)",
            "2 s every call",
            f"{times[0]:.2f} s, then ≤ {max(times[1:]) * 1000:.1f} ms; {len(dead.requests)} fetch(es)",
        ),
        ("JWT: alg of another key type (RS256 under an EC kid)", "answer", "500", str(mismatch.status_code)),
        ("JWT: scheme `bearer` (lower case)", "answer", "(#11 asks: accept it)", str(lower.status_code)),
        (
            "JWT: auth on, no IOP_CDS_PUBLIC_BASE_URL",
            "serve",
            "starts; aud checked against the Host header",
            f"refuses to start (exit {refused.returncode})",
        ),
    ]


def crd_rows(tmp: Path) -> list[Row]:
    from test_coverage_information_profile import extensions_in, validate

    from cds_service.cards.coverage_info import EXT_COVERAGE_INFORMATION

    client = app_client(tmp / "crd")
    services = client.get("/cds-services").get_json()["services"]
    versions = {str(s.get("extension", {}).get("davinci-crd.version")) for s in services}

    problems, checked = 0, 0
    for name in GOLDEN_CALLS:
        for policy in ("medica", "optum-locg", "molina", "cca", "bh803"):
            answer = post(client, golden_request(name, [policy])).get_json()
            for resource_type, information in extensions_in(answer):
                checked += 1
                problems += bool(validate(information, resource_type))

    no_coverage = golden_request("P1")
    no_coverage["prefetch"]["coverage"] = searchset([])
    actions = post(client, no_coverage).get_json().get("systemActions")

    other_payer = {
        "url": EXT_COVERAGE_INFORMATION,
        "extension": [{"url": "coverage", "valueReference": {"reference": "Coverage/other-payer"}}],
    }
    with_other = golden_request("P1")
    for entry in with_other["context"]["draftOrders"]["entry"]:
        entry["resource"].setdefault("extension", []).append(other_payer)
    kept = any(
        e == other_payer
        for action in post(client, with_other).get_json().get("systemActions", [])
        for e in action["resource"].get("extension", [])
    )

    unknown = golden_request("P1")
    for entry in unknown["prefetch"]["coverage"]["entry"]:
        entry["resource"]["payor"] = [{"display": "Acme Health Plan"}]
        entry["resource"].pop("class", None)
    unknown.pop("extension", None)
    unknown["extension"] = {"iop-cds.evaluation-time": GOLDEN_CALLS["P1"][1]}
    summaries = [c["summary"] for c in post(client, unknown).get_json().get("cards", [])]
    default_payer = any("Medica" in s for s in summaries)

    failed = golden_request("P1")
    failed["prefetch"]["coverage"] = {"resourceType": "OperationOutcome", "issue": [{"code": "timeout"}]}
    cards = [c["summary"] for c in post(client, failed).get_json().get("cards", [])]
    contradiction = any("no active coverage" in s.lower() for s in cards)
    return [
        (
            "CRD: coverage-information vs the 2.2.1 StructureDefinition",
            "extensions with a problem",
            "all (detail.category not a code)",
            f"{problems} of {checked}",
        ),
        ("CRD: discovery davinci-crd.version", "declared", "no", ", ".join(sorted(versions))),
        ("CRD: order-sign, no readable Coverage", "systemActions", "none", f"{len(actions or [])} update(s)"),
        (
            "CRD: another payer's coverage-information on the order",
            "kept in the update",
            "dropped",
            "yes" if kept else "no",
        ),
        (
            "CRD: patient of an unknown payer",
            "cards labelled with the default payer",
            "yes",
            "yes" if default_payer else "no",
        ),
        (
            "CRD: Coverage query failed",
            "'No active coverage' card next to the gap card",
            "yes",
            "yes" if contradiction else "no",
        ),
    ]


def table(rows: list[Row]) -> str:
    headers = ("Why (issue 11)", "measure", "before (issue)", "after (now)")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("-|-".join("-" * w for w in widths))
    lines += [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run every measurement and print the before/after table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.safety", description=__doc__.splitlines()[0])
    parser.add_argument("--mutations", type=int, default=3000, help="mutated bodies to send (default 3000)")
    args = parser.parse_args(argv)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="iop-cds-safety-") as folder:
        tmp = Path(folder)
        for measure in (token_confinement, deadlines, silent_failures, resources_and_limits, jwt_rows, crd_rows):
            started = time.monotonic()
            rows += measure(tmp)
            print(f"{measure.__name__}: {time.monotonic() - started:.1f} s", file=sys.stderr)
        rows.append(mutations(tmp, args.mutations))
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
