"""One deadline for all FHIR work of a call, against real loopback servers that stall, drip, redirect or flood."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from cds_service.config import Settings
from cds_service.hooks.protocol import ProtocolError, parse_hook_request
from cds_service.record.fhir_client import FhirClient
from cds_service.record.gather import gather_record
from cds_service.record.prefetch import PREFETCH_TEMPLATES

Handler = Callable[[socket.socket, bytes], None]
TOKEN = "secret-token-123"


@pytest.fixture
def server() -> Iterator[Callable[[Handler], str]]:
    """Start a loopback HTTP server whose connections are answered by a handler; yields a starter -> base URL."""
    sockets: list[socket.socket] = []
    stop = threading.Event()

    def start(handler: Handler) -> str:
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(0.2)
        sockets.append(listener)

        def serve() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except (TimeoutError, OSError):
                    continue
                threading.Thread(target=answer, args=(conn,), daemon=True).start()

        def answer(conn: socket.socket) -> None:
            with conn:
                request = b""
                while b"\r\n\r\n" not in request:
                    data = conn.recv(65536)
                    if not data:
                        return
                    request += data
                try:
                    handler(conn, request)
                except OSError:
                    pass

        threading.Thread(target=serve, daemon=True).start()
        return f"http://127.0.0.1:{listener.getsockname()[1]}/fhir"

    yield start
    stop.set()
    for listener in sockets:
        listener.close()


def respond(body: bytes, status: str = "200 OK", headers: str = "") -> Handler:
    def handler(conn: socket.socket, request: bytes) -> None:
        head = f"HTTP/1.1 {status}\r\nContent-Type: application/fhir+json\r\nContent-Length: {len(body)}\r\n{headers}"
        conn.sendall(head.encode() + b"Connection: close\r\n\r\n" + body)

    return handler


def drip(conn: socket.socket, request: bytes) -> None:
    """Headers at once, then one byte of a never-ending body every 0.2 s (for at most 10 s)."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nContent-Length: 100000\r\n\r\n{")
    for _ in range(50):
        time.sleep(0.2)
        conn.sendall(b" ")


def stall(conn: socket.socket, request: bytes) -> None:
    """Accept and never answer (for at most 10 s)."""
    time.sleep(10)


def hook(server_url: str, patient: str = "p1") -> object:
    body = {
        "hook": "encounter-discharge",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/1", "patientId": patient, "encounterId": "e1"},
        "fhirServer": server_url,
        "fhirAuthorization": {"access_token": TOKEN, "token_type": "Bearer", "scope": "patient/*.read"},
    }
    return parse_hook_request(body, "encounter-discharge")


@pytest.mark.parametrize("handler", [drip, stall], ids=["drip-fed body", "stalled headers"])
def test_a_slow_server_cannot_hold_the_call_past_the_budget(server, handler: Handler) -> None:
    base = server(handler)
    settings = Settings(auth=False, fhir_time_budget_seconds=1.0)
    started = time.monotonic()
    gathered = gather_record(hook(base), PREFETCH_TEMPLATES["encounter-discharge"], settings)
    took = time.monotonic() - started
    assert took < 1.0 + 0.6, f"the call took {took:.2f} s on a 1 s budget"
    assert {g.key for g in gathered.gaps} == set(PREFETCH_TEMPLATES["encounter-discharge"])


def test_an_answer_over_the_byte_cap_is_a_gap(server) -> None:
    big = b'{"resourceType": "Patient", "id": "p1", "text": "' + b"x" * 200_000 + b'"}'
    base = server(respond(big))
    client = FhirClient(base, TOKEN, time.monotonic() + 5, 5, max_bytes=100_000)
    result = client.read("Patient/p1")
    assert result.resources == [] and "larger than the 100,000 bytes allowed" in result.error


def test_json_nested_a_thousand_deep_is_a_gap_not_a_crash(server) -> None:
    base = server(respond(b"[" * 100_000 + b"]" * 100_000))
    result = FhirClient(base, TOKEN, time.monotonic() + 5, 5).read("Patient/p1")
    assert result.error and "nested too deeply" in result.error


def test_a_redirect_outside_the_fhir_base_is_not_followed(server) -> None:
    seen: list[bytes] = []

    def elsewhere(conn: socket.socket, request: bytes) -> None:
        seen.append(request)
        respond(b'{"resourceType": "Patient", "id": "p1"}')(conn, request)

    target = server(elsewhere)
    base = server(respond(b"", "302 Found", f"Location: {target}/Patient/p1\r\n"))
    result = FhirClient(base, TOKEN, time.monotonic() + 5, 5).read("Patient/p1")
    assert "another server" in result.error and seen == []


def test_a_redirect_under_the_base_is_followed(server) -> None:
    def handler(conn: socket.socket, request: bytes) -> None:
        if b"GET /fhir/Patient/p1 " in request:
            respond(b"", "301 Moved Permanently", "Location: /fhir/Patient/p1-new\r\n")(conn, request)
        else:
            respond(b'{"resourceType": "Patient", "id": "p1-new"}')(conn, request)

    result = FhirClient(server(handler), TOKEN, time.monotonic() + 5, 5).read("Patient/p1")
    assert result.error is None and result.resources[0]["id"] == "p1-new"


def test_a_link_that_climbs_out_of_the_base_path_is_refused() -> None:
    client = FhirClient("https://ehr.example/tenant-a/fhir", TOKEN, time.monotonic() + 5, 5)
    result = client.search("../../tenant-b/fhir/Condition")
    assert "outside the FHIR base" in result.error and result.requests == 0


@pytest.mark.parametrize("patient", ["../../x", "p1?_format=xml", "p1/_history", "a" * 65, "p 1"])
def test_a_context_id_that_is_not_a_fhir_id_is_rejected_naming_the_field(patient: str) -> None:
    with pytest.raises(ProtocolError) as raised:
        hook("https://ehr.example/fhir", patient)
    assert raised.value.field == "context.patientId"


def test_a_fhir_server_url_without_a_host_is_rejected() -> None:
    with pytest.raises(ProtocolError) as raised:
        hook("http://[::1")
    assert raised.value.field == "fhirServer"
