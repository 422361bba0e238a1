"""The console's routes: off by default, its own sign-in when auth is on, pages over the mappings, try-it uploads."""

from __future__ import annotations

import html
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT_ROOT, load_fixture
from flask import Flask

from cds_service.config import Settings, SettingsError
from cds_service.console.access import COOKIE, ConsoleAccess
from cds_service.console.tryit import markdown
from cds_service.hooks.app import create_app
from cds_service.record.hook_requests import build_hook_request

TOKEN = "console-token-0123456789abcdef"
P3_AT = "2025-03-03T09:30:00-05:00"
ISSUERS = str(PROJECT_ROOT / "examples" / "trusted-issuers.sandbox.json")


def make_app(tmp: Path, **overrides: Any) -> Flask:
    options: dict[str, Any] = {
        "auth": False,
        "console": True,
        "feedback_db": str(tmp / "feedback.sqlite3"),
        "replay_db": str(tmp / "replay.sqlite3"),
        **overrides,
    }
    if options["auth"]:
        options.setdefault("trusted_issuers_file", ISSUERS)
    return create_app(Settings(**options))


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A client of an app with the console on and auth off (a developer's machine)."""
    return make_app(tmp_path_factory.mktemp("console"), console_max_upload_bytes=2 * 1024 * 1024).test_client()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A client of an app with auth on and a console token configured."""
    return make_app(tmp_path_factory.mktemp("guarded"), auth=True, console_token=TOKEN).test_client()


def error_of(page: str) -> str:
    """The problem a try-it page names."""
    found = re.search(r'id="upload-error"[^>]*>([^<]*)<', page)
    assert found, page[:2000]
    return html.unescape(found[1])


def try_it(client: Any, data: bytes | None = None, text: str = "", **form: str) -> Any:
    fields: dict[str, Any] = {"hook": "order-sign", "policy": "", "at": "", "encounter": "", "json": text, **form}
    if data is not None:
        fields["file"] = (io.BytesIO(data), "upload.json")
    return client.post("/console/try", data=fields, content_type="multipart/form-data")


# --- on and off, and who may open it -------------------------------------------------------------------------------


def test_the_console_is_a_404_unless_turned_on(client: Any) -> None:
    for path in ("/console", "/console/try", "/console/policies/medica", "/console/static/console.css"):
        assert client.get(path).status_code == 404
    assert client.post("/console/try", data={"json": "{}"}).status_code == 404


def test_the_setting_is_read_from_the_environment() -> None:
    settings = Settings.from_env({"IOP_CDS_CONSOLE": "1", "IOP_CDS_CONSOLE_TOKEN": TOKEN})
    assert settings.console and settings.console_token == TOKEN
    assert Settings.from_env({}).console is False
    assert settings.describe()["console_token"] == "set"  # never the secret in the start-up log line
    assert TOKEN not in json.dumps(settings.describe())
    with pytest.raises(SettingsError, match="IOP_CDS_CONSOLE_TOKEN"):
        Settings(console_token="short")


def test_with_auth_off_and_no_token_the_console_is_open(console: Any) -> None:
    page = console.get("/console")
    assert page.status_code == 200
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert "Sign out" not in page.get_data(as_text=True)


def test_with_auth_on_and_no_console_token_the_console_is_refused(tmp_path: Path) -> None:
    client = make_app(tmp_path, auth=True).test_client()
    for path in ("/console", "/console/login", "/console/try"):
        page = client.get(path)
        assert page.status_code == 403, path
        assert "IOP_CDS_CONSOLE_TOKEN" in page.get_data(as_text=True)
    assert client.post("/console/login", data={"token": "anything-at-all-long"}).status_code == 403


def test_with_auth_on_a_browser_signs_in_with_the_console_token(guarded: Any) -> None:
    guarded.delete_cookie(COOKIE, path="/console")
    first = guarded.get("/console/policies/cca")
    assert first.status_code == 302 and first.headers["Location"].startswith("/console/login?next=")
    assert "next=/console/policies/cca" in first.headers["Location"].replace("%2F", "/")
    wrong = guarded.post("/console/login", data={"token": "not-the-token-at-all", "next": "/console/policies/cca"})
    assert wrong.status_code == 401 and "not the console token" in wrong.get_data(as_text=True)
    assert guarded.get("/console").status_code == 302
    signed = guarded.post("/console/login", data={"token": TOKEN, "next": "/console/policies/cca"})
    assert signed.status_code == 302 and signed.headers["Location"] == "/console/policies/cca"
    cookie = signed.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie and TOKEN not in cookie
    assert guarded.get("/console/policies/cca").status_code == 200
    out = guarded.post("/console/logout")
    assert out.status_code == 302 and guarded.get("/console").status_code == 302


def test_a_script_may_use_the_token_as_a_bearer_header(guarded: Any) -> None:
    guarded.delete_cookie(COOKIE, path="/console")
    assert guarded.get("/console", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert guarded.get("/console", headers={"Authorization": "Bearer wrong-token-wrong-token"}).status_code == 302
    refused = guarded.post("/console/try", data={"json": "{}"})
    assert refused.status_code == 401  # a form post without the cookie is not evaluated


def test_a_forged_or_expired_cookie_is_refused() -> None:
    now = [1_000_000.0]
    access = ConsoleAccess(Settings(auth=True, console_token=TOKEN), clock=lambda: now[0])
    value, seconds = access.session_cookie()
    assert access.allows(value, None)
    expires, _, signature = value.partition(".")
    assert not access.allows(f"{int(expires) + 3600}.{signature}", None)  # a longer life is not signed
    assert not access.allows(value[:-1] + ("0" if value[-1] != "0" else "1"), None)
    other = ConsoleAccess(Settings(auth=True, console_token=TOKEN + "-rotated"), clock=lambda: now[0])
    assert not other.allows(value, None)  # rotating the token ends every session
    now[0] += seconds + 1
    assert not access.allows(value, None)


def test_sign_in_never_redirects_to_another_site(guarded: Any) -> None:
    for target in ("https://evil.example.org/console", "//evil.example.org/console", "/cds-services"):
        signed = guarded.post("/console/login", data={"token": TOKEN, "next": target})
        assert signed.headers["Location"] == "/console", target


# --- policies, criteria trees and value sets -----------------------------------------------------------------------


def test_the_index_lists_every_policy_with_its_payer(console: Any) -> None:
    page = console.get("/console").get_data(as_text=True)
    for key, payer in (
        ("optum-locg", "UnitedHealthcare"),
        ("medica", "Medica"),
        ("bh803", ""),
        ("cca", ""),
        ("molina", ""),
    ):
        assert f'href="/console/policies/{key}"' in page
        assert payer in page
    assert 'href="/console/valuesets/VS-MH"' in page


def test_a_policy_page_shows_each_criterion_with_citation_phase_rule_and_value_sets(console: Any) -> None:
    page = html.unescape(console.get("/console/policies/optum-locg").get_data(as_text=True))
    assert "Optum Level of Care Guidelines 2021" in page
    start = page.index('id="optum-locg.scope.mh-or-cooccurring"')
    block = page[start : page.index("</li>", start)]
    assert "The criteria apply to mental health and co-occurring conditions" in block
    assert "Intensive Outpatient Program (IOP) ¶2" in block
    assert "admission; continued stay; discharge" in block
    assert "<h4>met-if</h4>" in block and "exists: mh-nonsud-conditions" in block
    assert "in-valueset: VS-MH-NONSUD" in block and 'href="/console/valuesets/VS-MH-NONSUD"' in block
    assert "any-of" in page and "Any one of the admission criteria" in page  # the groups of the tree


def test_a_value_set_page_shows_codes_with_displays_and_who_reads_it(console: Any) -> None:
    page = html.unescape(console.get("/console/valuesets/BH803-NEUROCOG-SEVERE").get_data(as_text=True))
    assert "delirium or severe major neurocognitive disorder" in page
    assert "http://hl7.org/fhir/sid/icd-10-cm" in page
    assert "F05" in page and "Delirium due to known physiological condition" in page
    assert "2776000" in page  # a SNOMED CT code, shown without a display (the mappings carry none)
    assert "/console/policies/bh803#bh803." in page


def test_unknown_policies_and_value_sets_are_404_pages(console: Any) -> None:
    for path in ("/console/policies/aetna", "/console/valuesets/VS-NOPE"):
        page = console.get(path)
        assert page.status_code == 404 and page.mimetype == "text/html"


# --- try it --------------------------------------------------------------------------------------------------------


def test_a_golden_bundle_renders_its_cards_and_criteria(console: Any) -> None:
    page = try_it(console, (PROJECT_ROOT / "tests/fixtures/golden/P3.json").read_bytes(), policy="optum-locg", at=P3_AT)
    assert page.status_code == 200
    text = html.unescape(page.get_data(as_text=True))
    assert 'class="card indicator-critical"' in text
    assert "Severe withdrawal: Alcohol dependence with withdrawal delirium on 2025-02-20" in text
    assert "<strong>Finding:</strong>" in text  # the markdown detail as HTML
    assert "Refer for evaluation at a higher level of care" in text  # the suggestion button
    assert 'href="https://www.providerexpress.com/' in text  # the source link
    assert "optum-locg.admission.all.4-no-severe-withdrawal" in text or "optum-locg.admission" in text
    assert "Condition: Alcohol dependence with withdrawal delirium (F10.231)" in text  # evidence in words
    assert "Evaluated at 2025-03-03T09:30:00-05:00" in text


def test_a_hook_request_is_evaluated_on_its_prefetch_and_never_calls_its_server(console: Any) -> None:
    body = build_hook_request(load_fixture("golden/P3.json"), "order-sign", at=P3_AT, policies=["optum-locg"])
    body["fhirServer"] = "https://ehr.example.org/fhir"
    page = try_it(console, text=json.dumps(body))
    text = html.unescape(page.get_data(as_text=True))
    assert page.status_code == 200 and "Ignored fhirServer" in text and "indicator-critical" in text
    del body["prefetch"]["conditions"]
    missing = try_it(console, text=json.dumps(body))
    assert missing.status_code == 400 and "calls no FHIR server" in error_of(missing.get_data(as_text=True))


def test_record_text_in_a_card_is_escaped_not_run(console: Any) -> None:
    bundle = load_fixture("golden/P3.json")
    for entry in bundle["entry"]:
        if entry["resource"].get("id") == "P3-alcohol":
            entry["resource"]["code"]["text"] = '<img src=x onerror="alert(1)">'
    page = try_it(console, json.dumps(bundle).encode(), policy="optum-locg", at=P3_AT).get_data(as_text=True)
    assert "<img src=x" not in page and "&lt;img src=x" in page


def test_markdown_details_keep_raw_html_and_script_links_out() -> None:
    rendered = str(markdown("**bold** <script>alert(1)</script> [go](javascript:alert(1)) [policy](https://x.org/p)"))
    assert "<strong>bold</strong>" in rendered and "&lt;script&gt;" in rendered
    assert 'href="javascript:' not in rendered and 'href="https://x.org/p"' in rendered


@pytest.mark.parametrize(
    ("upload", "form", "problem"),
    [
        (b"this is not json", {}, "not valid JSON: Expecting value at line 1, column 1"),
        (b"[1, 2]", {}, "not an object (it is a list)"),
        (b'{"resourceType": "Patient", "id": "p"}', {}, "got a 'Patient' resource"),
        (b'{"resourceType": "Bundle", "type": "collection", "entry": []}', {}, "the bundle holds no Patient"),
        (b"\xff\xfe\x00binary", {}, "not UTF-8 text"),
        (b"", {}, "Nothing was uploaded"),
        (
            b'{"resourceType": "Bundle", "entry": []}',
            {"at": "2025-03-03 09:30"},
            "needs a date, a time and a UTC offset",
        ),
        (b'{"resourceType": "Bundle", "entry": []}', {"policy": "aetna"}, "Unknown policy 'aetna'"),
        (b'{"hook": "encounter-discharge", "context": {}}', {}, "is for the 'encounter-discharge' hook"),
        (b'{"hook": "order-sign", "hookInstance": "x", "context": {}}', {}, "breaks the CDS Hooks contract"),
    ],
)
def test_a_bad_upload_is_a_400_page_naming_the_problem(
    console: Any, upload: bytes, form: dict[str, str], problem: str
) -> None:
    page = try_it(console, upload, **form)
    assert page.status_code == 400 and page.mimetype == "text/html"
    assert problem in error_of(page.get_data(as_text=True))


def test_an_upload_over_the_limit_is_a_400_page_not_a_413(console: Any) -> None:
    just_over = b'{"resourceType": "Bundle", "entry": [], "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    page = try_it(console, just_over)
    assert page.status_code == 400 and "too big" in error_of(page.get_data(as_text=True))
    far_over = b"x" * (3 * 1024 * 1024)  # beyond what the form parser reads at all
    page = try_it(console, far_over)
    assert page.status_code == 400 and "at most 2.0 MB" in error_of(page.get_data(as_text=True))


def test_a_pasted_record_over_the_form_parsers_default_is_accepted_up_to_the_limit(console: Any) -> None:
    bundle = load_fixture("golden/P3.json")
    bundle["padding"] = "x" * (1024 * 1024)  # Werkzeug keeps only 500 KB of a text field unless told otherwise
    page = try_it(console, text=json.dumps(bundle), policy="optum-locg", at=P3_AT)
    assert page.status_code == 200 and "indicator-critical" in page.get_data(as_text=True)
