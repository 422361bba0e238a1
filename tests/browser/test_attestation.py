"""The clinician's loop in Chromium against a real FHIR server: card → SMART launch → attest → re-evaluated card.

sekmet-fhir holds golden patient P2 (moved in time so the order is signed today); a test EHR (tests/attest/smart_ehr.py)
fronts it as ``iss``: SMART configuration, EHR launch with PKCE, a signed id_token, and FHIR calls forwarded to
sekmet with its static token. The service runs on a loopback port with that EHR on its allow-list.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from attest.dates import days_until_now, shift
from attest.smart_ehr import SmartEhr
from integration.sekmet import FhirServer, SekmetError, free_port, running_sekmet
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from cds_service.config import Settings
from cds_service.hooks.app import create_app
from cds_service.record.hook_requests import build_hook_request, is_draft_order

from .conftest import served

pytestmark = pytest.mark.integration

P2 = Path(__file__).resolve().parents[1] / "fixtures" / "golden" / "P2.json"
P2_AT = "2025-03-03T14:00:00-06:00"
PATIENT = "P2-patient"
USER = "Practitioner/P2-patient-psy"
SEVEN = "medica.adult-admission.7-support-system"
SEVEN_A = "medica.adult-admission.7a-family-support"
SEVEN_B = "medica.adult-admission.7b-can-develop-supports"


@dataclass
class Loop:
    fhir: FhirServer
    ehr: SmartEhr
    iss: str
    service: str
    bundle: dict[str, Any]

    def order_sign(self) -> dict[str, Any]:
        """The EHR's order-sign call in fetch mode (no prefetch): fhirServer = iss, a read token of the EHR."""
        body = build_hook_request(self.bundle, "order-sign", policies=["medica"], user_id=USER)
        body.pop("prefetch")
        body["hookInstance"] = str(uuid.uuid4())
        body["fhirServer"] = self.iss
        body["fhirAuthorization"] = {
            "access_token": self.ehr.cds_token(PATIENT),
            "token_type": "Bearer",
            "scope": "patient/*.rs",
            "subject": "iop-cds",
        }
        answer = requests.post(f"{self.service}/cds-services/iop-order-sign", json=body, timeout=60)
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    tmp = tmp_path_factory.mktemp("attestation-loop")
    days = days_until_now(P2_AT, datetime.now(UTC))
    bundle = shift(json.loads(P2.read_text(encoding="utf-8")), days)
    stored = [e["resource"] for e in bundle["entry"] if not is_draft_order(e["resource"])]
    try:
        with running_sekmet(tmp / "sekmet") as fhir:
            fhir.transaction(
                {
                    "resourceType": "Bundle",
                    "type": "transaction",
                    "entry": [
                        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
                        for r in stored
                    ],
                }
            )
            ehr = SmartEhr(upstream=fhir.base_url, upstream_token=fhir.token)
            with served(ehr.make_app()) as ehr_base:
                iss = f"{ehr_base}/fhir"
                port = free_port()
                settings = Settings(
                    auth=False,
                    public_base_url=f"http://127.0.0.1:{port}",
                    attest_allowed_issuers=(iss,),
                    fhir_time_budget_seconds=30.0,
                    feedback_db=str(tmp / "feedback.sqlite3"),
                    replay_db=str(tmp / "replay.sqlite3"),
                )
                with served(create_app(settings), port) as service:
                    ehr.redirect_uri = f"{service}/attest/callback"
                    yield Loop(fhir, ehr, iss, service, bundle)
    except SekmetError as exc:
        pytest.fail(str(exc), pytrace=False)


def statuses(response: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["status"] for e in response["extension"]["iop-cds.evaluations"] for c in e["criteria"]}


def attestation_link(response: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The documentation card's SMART link and its parsed appContext."""
    (link,) = [link for c in response["cards"] for link in c.get("links", []) if link["type"] == "smart"]
    return link, json.loads(link["appContext"])


def wait_for(browser: WebDriver, css: str) -> Any:
    return WebDriverWait(browser, 30).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css)))


def test_attesting_two_criteria_in_the_browser_closes_them_on_the_next_order_sign(
    loop: Loop, browser: WebDriver, screenshot: Callable[[str], Path]
) -> None:
    first = loop.order_sign()
    assert statuses(first)[SEVEN_A] == "unknown" and statuses(first)[SEVEN_B] == "unknown"
    link, context = attestation_link(first)
    named = context["iop-cds"]["named"]
    assert SEVEN in named and {SEVEN_A, SEVEN_B} <= set(context["iop-cds"]["criteria"])
    assert link["url"] == f"{loop.service}/attest/launch"
    assert link["label"] == f"Attest {len(named)} requirement(s)"
    questionnaire = requests.get(context["questionnaire"][0].split("|")[0], timeout=10).json()
    assert {SEVEN_A, SEVEN_B} <= {i["linkId"] for i in questionnaire["item"]}

    # The EHR launches the card's SMART link: launch id bound to the appContext, iss = its FHIR base.
    launch = loop.ehr.new_launch(PATIENT, USER, link["appContext"])
    browser.get(f"{link['url']}?{urlencode({'launch': launch, 'iss': loop.iss})}")
    wait_for(browser, "#attest-form")
    assert (
        browser.find_element(By.ID, "patient").text.startswith(PATIENT)
        or "born" in browser.find_element(By.ID, "patient").text
    )
    shown = [e.get_attribute("data-criterion") for e in browser.find_elements(By.CSS_SELECTOR, "section.item")]
    assert shown == context["iop-cds"]["criteria"]
    item_b = browser.find_element(By.ID, f"item-{SEVEN_B}").text
    assert "The skills to develop supports" in item_b and "The individual has the skills to develop supports" in item_b
    screenshot("form")
    browser.find_element(By.ID, f"yes-{SEVEN_A}").click()
    browser.find_element(By.ID, f"yes-{SEVEN_B}").click()
    browser.find_element(By.ID, f"comment-{SEVEN_B}").send_keys("Attends a weekly peer group since January.")
    browser.find_element(By.ID, "submit").click()
    wait_for(browser, "#saved")
    screenshot("done")
    for key in (SEVEN_A, SEVEN_B):
        row = browser.find_element(By.CSS_SELECTOR, f'tr[data-criterion="{key}"]')
        assert row.find_element(By.CSS_SELECTOR, ".before").text == "not documented"
        assert row.find_element(By.CSS_SELECTOR, ".after").text == "met"
    assert browser.find_element(By.ID, "open-before").text == str(len(named))
    assert browser.find_element(By.ID, "open-after").text == str(len(named) - 1)

    # One completed QuestionnaireResponse on the FHIR server, by the user, answering both criteria.
    (qr,) = loop.fhir.search_all(f"QuestionnaireResponse?patient={PATIENT}")
    assert qr["status"] == "completed" and qr["author"] == {"reference": USER}
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}", qr["authored"])
    assert {i["linkId"]: i["answer"][0]["valueBoolean"] for i in qr["item"]} == {SEVEN_A: True, SEVEN_B: True}

    # The next order-sign: both criteria met on the attestation, the card names one requirement fewer.
    second = loop.order_sign()
    assert statuses(second)[SEVEN_A] == "met" and statuses(second)[SEVEN_B] == "met"
    assert statuses(second)[SEVEN] == "met"
    link_after, context_after = attestation_link(second)
    assert context_after["iop-cds"]["named"] == [k for k in named if k != SEVEN]
    assert link_after["label"] == f"Attest {len(named) - 1} requirement(s)"
    # Every request the service and the app made to the EHR carried an EHR-issued token, never sekmet's own.
    assert all(a.removeprefix("Bearer ") in loop.ehr.tokens for a in loop.ehr.seen_authorizations)


def test_the_error_pages_a_clinician_can_meet(
    loop: Loop, browser: WebDriver, screenshot: Callable[[str], Path]
) -> None:
    browser.get(f"{loop.service}/attest/launch")
    assert "The app needs a launch from the EHR" in wait_for(browser, "#error").text
    screenshot("launch-missing")
    browser.get(f"{loop.service}/attest/launch?{urlencode({'launch': 'x', 'iss': 'https://other-ehr.example/fhir'})}")
    assert "This EHR is not configured" in wait_for(browser, "#error").text
    screenshot("iss-not-allowed")
    first = loop.order_sign()
    link, _ = attestation_link(first)
    loop.ehr.deny = True
    try:
        launch = loop.ehr.new_launch(PATIENT, USER, link["appContext"])
        browser.get(f"{link['url']}?{urlencode({'launch': launch, 'iss': loop.iss})}")
        assert "Authorization was denied" in wait_for(browser, "#error").text
        screenshot("access-denied")
    finally:
        loop.ehr.deny = False
    stored_before = len(loop.fhir.search_all(f"QuestionnaireResponse?patient={PATIENT}"))
    loop.ehr.refuse_writes = True
    try:
        launch = loop.ehr.new_launch(PATIENT, USER, link["appContext"])
        browser.get(f"{link['url']}?{urlencode({'launch': launch, 'iss': loop.iss})}")
        wait_for(browser, "#attest-form")
        browser.find_elements(By.CSS_SELECTOR, 'input[type="radio"][value="no"]')[0].click()
        browser.find_element(By.ID, "submit").click()
        text = wait_for(browser, "#error").text
        assert "The EHR refused to save the attestation" in text and "HTTP 422" in text
        screenshot("write-refused")
    finally:
        loop.ehr.refuse_writes = False
    assert len(loop.fhir.search_all(f"QuestionnaireResponse?patient={PATIENT}")) == stored_before
