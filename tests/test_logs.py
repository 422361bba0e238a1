"""JSON log lines: one object per line, hookInstance/service/status/duration on every call, never a token."""

from __future__ import annotations

import copy
import io
import json
import logging
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import responses
from cryptography.hazmat.primitives.asymmetric import ec
from test_app import empty_prefetch
from test_protocol import DISCHARGE, ORDER_SIGN

from cds_service.config import Settings
from cds_service.hooks.app import create_app
from cds_service.logs import JsonFormatter, configure_logging, log_event

FHIR = "https://ehr.example/fhir"
FHIR_TOKEN = "fhir-access-token-3c1e9d"
INSTANCE = DISCHARGE["hookInstance"]


class Lines:
    """Every record logged anywhere (root logger, DEBUG and up), rendered as the service renders it."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(JsonFormatter())
        self.handler.setLevel(logging.DEBUG)

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def events(self, event: str) -> list[dict[str, Any]]:
        """The parsed lines of one event, in order."""
        parsed = [json.loads(line) for line in self.text.splitlines()]
        return [p for p in parsed if p.get("event") == event]


@pytest.fixture
def lines() -> Iterator[Lines]:
    capture = Lines()
    root = logging.getLogger()
    level = root.level
    root.addHandler(capture.handler)
    root.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        root.removeHandler(capture.handler)
        root.setLevel(level)


def _record(fields: dict[str, Any] | None = None, exc_info: Any = None) -> logging.LogRecord:
    record = logging.LogRecord("iop_cds.test", logging.WARNING, __file__, 1, "something %s", ("happened",), exc_info)
    if fields is not None:
        record.fields = fields
    return record


def test_a_record_is_one_json_object_on_one_line() -> None:
    line = JsonFormatter().format(_record({"event": "x", "hookInstance": INSTANCE, "nested": {"a": [1, 2]}}))
    assert "\n" not in line
    payload = json.loads(line)
    assert payload["level"] == "warning" and payload["logger"] == "iop_cds.test"
    assert payload["message"] == "something happened" and payload["hookInstance"] == INSTANCE
    assert payload["nested"] == {"a": [1, 2]} and payload["time"].endswith("+00:00")


def test_none_values_and_secret_keys_are_left_out() -> None:
    fields = {
        "event": "x",
        "empty": None,
        "access_token": "s1",
        "authorization": "Bearer s2",
        "token": "s3",
        "jwt": "s4",
        "fhirAuthorization": {"access_token": "s5"},
    }
    line = JsonFormatter().format(_record(fields))
    assert set(json.loads(line)) == {"time", "level", "logger", "message", "event"}
    assert not re.search(r"s[1-5]\b", line)


def test_values_that_are_not_json_are_written_as_text() -> None:
    payload = json.loads(JsonFormatter().format(_record({"path": Path("/x"), "when": time.gmtime(0)[:3]})))
    assert payload["path"] == "/x" and payload["when"] == [1970, 1, 1]


def test_an_exception_is_kept_inside_the_one_line() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        line = JsonFormatter().format(_record({}, sys.exc_info()))
    assert "\n" not in line and "RuntimeError: boom" in json.loads(line)["exception"]


def test_log_event_names_the_event_and_its_level(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="iop_cds")
    log_event(logging.getLogger("iop_cds.test"), "thing.done", level=logging.ERROR, count=3, skipped=None)
    record = caplog.records[-1]
    assert record.levelno == logging.ERROR and record.getMessage() == "thing.done"
    assert record.fields == {"event": "thing.done", "count": 3, "skipped": None}


def test_configure_logging_installs_one_json_handler_however_often_it_is_called() -> None:
    service_logger = logging.getLogger("iop_cds")
    level = service_logger.level
    try:
        configure_logging("warning")
        configure_logging("DEBUG")
        assert sum(isinstance(h.formatter, JsonFormatter) for h in service_logger.handlers) == 1
        assert service_logger.level == logging.DEBUG and service_logger.propagate
    finally:
        service_logger.setLevel(level)


def _request_line(lines: Lines) -> dict[str, Any]:
    found = lines.events("http.request")
    assert len(found) == 1, lines.text
    return found[0]


@pytest.mark.parametrize(
    ("service", "body", "status"),
    [
        ("iop-encounter-discharge", {**DISCHARGE, "prefetch": empty_prefetch("iop-encounter-discharge")}, 200),
        ("iop-order-sign", {**ORDER_SIGN, "prefetch": empty_prefetch("iop-order-sign")}, 200),
        ("iop-encounter-discharge", DISCHARGE, 412),
        ("iop-order-sign", {**ORDER_SIGN, "context": {}}, 400),
        ("iop-order-sign", DISCHARGE, 400),
    ],
)
def test_every_call_logs_hook_instance_service_status_and_duration(
    client: Any, lines: Lines, service: str, body: dict[str, Any], status: int
) -> None:
    assert client.post(f"/cds-services/{service}", json=body).status_code == status
    line = _request_line(lines)
    assert line["hookInstance"] == INSTANCE and line["service"] == service and line["status"] == status
    assert isinstance(line["duration_ms"], int | float) and line["duration_ms"] >= 0
    assert line["method"] == "POST" and line["path"] == f"/cds-services/{service}" and line["level"] == "info"


def test_the_invalid_field_is_logged_with_the_hook_instance(client: Any, lines: Lines) -> None:
    client.post("/cds-services/iop-order-sign", json={**ORDER_SIGN, "context": {"userId": "Practitioner/u1"}})
    (invalid,) = lines.events("hook.invalid")
    assert invalid["field"] == "context.patientId" and invalid["hookInstance"] == INSTANCE


def test_calls_without_a_hook_instance_still_log_status_and_duration(client: Any, lines: Lines) -> None:
    client.get("/cds-services")
    line = _request_line(lines)
    assert line["status"] == 200 and "hookInstance" not in line and line["duration_ms"] >= 0


def test_the_evaluation_is_logged_under_the_hook_instance(client: Any, lines: Lines) -> None:
    client.post("/cds-services/iop-order-sign", json={**ORDER_SIGN, "prefetch": empty_prefetch("iop-order-sign")})
    (evaluated,) = lines.events("hook.evaluated")
    assert evaluated["hookInstance"] == INSTANCE and evaluated["service"] == "iop-order-sign"
    assert evaluated["cards"] >= 1 and evaluated["duration_ms"] >= 0


def _fhir_server(mock: responses.RequestsMock, echo: bool) -> None:
    """A FHIR server that refuses conditions (401), fails care plans (500) and finds no goals.

    With ``echo`` its error diagnostics repeat the request's Authorization header, as careless servers do.
    """

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        said = request.headers.get("Authorization", "") if echo else "internal error"
        if "/Condition" in request.url:
            return 401, {}, json.dumps({"resourceType": "OperationOutcome", "issue": [{"diagnostics": said}]})
        if "/CarePlan" in request.url:
            outcome = {"resourceType": "OperationOutcome", "issue": [{"code": "exception", "diagnostics": said}]}
            return 500, {}, json.dumps(outcome)
        return 200, {}, json.dumps({"resourceType": "Bundle", "type": "searchset", "entry": []})

    mock.add_callback(responses.GET, re.compile(rf"{FHIR}/.*"), callback=answer)


def _call_with_fhir_token(client: Any, echo: bool) -> Any:
    prefetch = empty_prefetch("iop-encounter-discharge")
    for key in ("conditions", "careplans", "goals"):
        del prefetch[key]
    body = {
        **copy.deepcopy(DISCHARGE),
        "prefetch": prefetch,
        "fhirServer": FHIR,
        "fhirAuthorization": {
            "access_token": FHIR_TOKEN,
            "token_type": "Bearer",
            "expires_in": 30,
            "scope": "patient/*.read",
            "subject": "iop-cds",
        },
    }
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        _fhir_server(mock, echo)
        response = client.post("/cds-services/iop-encounter-discharge", json=body)
        assert {c.request.headers["Authorization"] for c in mock.calls} == {f"Bearer {FHIR_TOKEN}"}
    assert response.status_code == 200
    return response


def test_the_fhir_access_token_is_used_but_never_logged(client: Any, lines: Lines) -> None:
    response = _call_with_fhir_token(client, echo=False)
    assert len(lines.events("gather.fetched")) == 3 and FHIR_TOKEN not in response.get_data(as_text=True)
    assert FHIR_TOKEN not in lines.text, [line for line in lines.text.splitlines() if FHIR_TOKEN in line]


def test_a_fhir_server_echoing_the_token_does_not_put_it_in_logs_or_cards(client: Any, lines: Lines) -> None:
    response = _call_with_fhir_token(client, echo=True)
    assert FHIR_TOKEN not in lines.text and FHIR_TOKEN not in response.get_data(as_text=True)


def test_the_token_of_an_invalid_request_is_never_logged(client: Any, lines: Lines) -> None:
    body = {**DISCHARGE, "fhirAuthorization": {"access_token": FHIR_TOKEN, "token_type": "Bearer"}}
    assert client.post("/cds-services/iop-encounter-discharge", json=body).status_code == 400  # no fhirServer
    body = {**body, "fhirServer": FHIR, "fhirAuthorization": {"access_token": FHIR_TOKEN, "token_type": FHIR_TOKEN}}
    assert client.post("/cds-services/iop-encounter-discharge", json=body).status_code == 400
    assert len(lines.events("hook.invalid")) == 2 and FHIR_TOKEN not in lines.text


def test_a_rejected_client_jwt_is_never_logged(tmp_path: Path, lines: Lines) -> None:
    trusted = ec.generate_private_key(ec.SECP256R1())
    stranger = ec.generate_private_key(ec.SECP256R1())
    from jwt.algorithms import ECAlgorithm

    jwk = {**json.loads(ECAlgorithm.to_jwk(trusted.public_key())), "kid": "k1", "use": "sig"}
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    (tmp_path / "issuers.json").write_text(
        json.dumps({"issuers": [{"iss": "https://ehr.example", "jwks_file": "jwks.json"}]})
    )
    settings = Settings(
        trusted_issuers_file=str(tmp_path / "issuers.json"),
        feedback_db=str(tmp_path / "f.sqlite3"),
        replay_db=str(tmp_path / "r.sqlite3"),
    )
    client = create_app(settings).test_client()
    now = int(time.time())
    claims = {"iss": "https://ehr.example", "aud": "http://localhost/cds-services", "iat": now, "exp": now + 60}
    forged = jwt.encode({**claims, "jti": "j1"}, stranger, algorithm="ES256", headers={"kid": "k1"})
    untrusted = jwt.encode({**claims, "iss": "https://evil.example", "jti": "j2"}, stranger, algorithm="ES256")
    for token in (forged, untrusted, "not.a.jwt"):
        assert client.get("/cds-services", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert len(lines.events("auth.rejected")) == 3
    for token in (forged, untrusted):
        assert all(part not in lines.text for part in token.split("."))
    good = jwt.encode({**claims, "jti": "j3"}, trusted, algorithm="ES256", headers={"kid": "k1"})
    assert client.get("/cds-services", headers={"Authorization": f"Bearer {good}"}).status_code == 200
    assert all(part not in lines.text for part in good.split("."))
