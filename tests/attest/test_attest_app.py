"""The SMART attestation app against a test EHR: launch, PKCE, form, one QuestionnaireResponse, re-check, errors."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from browser.conftest import served
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from flask import Flask

from cds_service.attest.app import attest_blueprint
from cds_service.attest.questionnaires import QuestionnaireCatalogue
from cds_service.attest.smart import can_write
from cds_service.config import Settings
from cds_service.engine.mapping import Mappings
from cds_service.hooks.app import create_app
from cds_service.hooks.services import service_for_hook
from cds_service.record.hook_requests import build_hook_request
from cds_service.record.request import HookRequest

from .smart_ehr import CLIENT_ID, SmartEhr

PUBLIC = "http://localhost"
P2 = Path(__file__).resolve().parents[1] / "fixtures" / "golden" / "P2.json"
P2_AT = "2025-03-03T14:00:00-06:00"
SEVEN_A = "medica.adult-admission.7a-family-support"
SEVEN_B = "medica.adult-admission.7b-can-develop-supports"
USER = "Practitioner/P2-patient-psy"


@pytest.fixture(scope="module")
def p2_card_context(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The appContext of golden P2's documentation card, as the service answers the order-sign call."""
    tmp = tmp_path_factory.mktemp("p2-card")
    settings = Settings(
        auth=False, public_base_url=PUBLIC, feedback_db=str(tmp / "f.sqlite3"), replay_db=str(tmp / "r.sqlite3")
    )
    bundle = json.loads(P2.read_text(encoding="utf-8"))
    body = build_hook_request(bundle, "order-sign", at=P2_AT, policies=["medica"])
    answer = create_app(settings).test_client().post(f"/cds-services/{service_for_hook('order-sign')}", json=body)
    links = [link for card in answer.get_json()["cards"] for link in card.get("links", []) if link["type"] == "smart"]
    (link,) = links
    assert link["url"] == f"{PUBLIC}/attest/launch"
    return str(link["appContext"])


class Reevaluation:
    """Stands in for the hook pipeline: 7a/7b are unknown until a QuestionnaireResponse on the EHR answers them."""

    def __init__(self, ehr: SmartEhr) -> None:
        self.ehr = ehr
        self.calls: list[HookRequest] = []

    def __call__(self, request: HookRequest) -> dict[str, Any]:
        self.calls.append(request)
        answered = {i["linkId"]: i["answer"][0]["valueBoolean"] for qr in self.ehr.posted for i in qr["item"]}
        criteria = [
            {"id": k, "status": ("met" if answered[k] else "not-met") if k in answered else "unknown", "reason": "r"}
            for k in (SEVEN_A, SEVEN_B)
        ]
        named = ["medica.adult-admission.7-support-system"] if not answered else []
        context = {"iop-cds": {"policy": "medica", "phase": "admission", "named": ["x.other", *named]}}
        return {
            "cards": [{"links": [{"type": "smart", "appContext": json.dumps(context)}]}],
            "extension": {"iop-cds.evaluations": [{"policy": "medica", "phase": "admission", "criteria": criteria}]},
        }


class Rig:
    """The attestation app (test client) wired to a served test EHR."""

    def __init__(self, ehr: SmartEhr, ehr_base: str, mappings: Mappings, **settings: Any) -> None:
        self.ehr = ehr
        self.iss = f"{ehr_base}/fhir"
        options: dict[str, Any] = {"public_base_url": PUBLIC, "attest_allowed_issuers": (self.iss,), **settings}
        self.settings = Settings(auth=False, **options)
        self.reevaluate = Reevaluation(ehr)
        app = Flask("attest-test")
        app.register_blueprint(
            attest_blueprint(self.settings, QuestionnaireCatalogue(self.settings, mappings), self.reevaluate)
        )
        self.client = app.test_client()
        ehr.redirect_uri = f"{PUBLIC}/attest/callback"
        ehr.stored[("Patient", "P2-patient")] = {
            "resourceType": "Patient",
            "id": "P2-patient",
            "name": [{"given": ["Dana"], "family": "Reyes"}],
            "birthDate": "1988-07-14",
        }
        ehr.stored[("Practitioner", "P2-patient-psy")] = {
            "resourceType": "Practitioner",
            "id": "P2-patient-psy",
            "name": [{"text": "Dr. Ana Ortiz, MD"}],
        }

    def launch(self, app_context: str, **query: str) -> Any:
        """Open the app as the EHR does; returns the app's answer to /attest/launch."""
        launch_id = self.ehr.new_launch("P2-patient", USER, app_context)
        return self.client.get("/attest/launch", query_string={"launch": launch_id, "iss": self.iss, **query})

    def authorize(self, launched: Any) -> str:
        """Follow the redirect to the EHR's authorize endpoint; returns the path+query it sends the browser back to."""
        assert launched.status_code == 302, launched.get_data(as_text=True)
        answer = requests.get(launched.headers["Location"], allow_redirects=False, timeout=10)
        assert answer.status_code == 302, answer.text
        back = urlsplit(answer.headers["Location"])
        assert f"{back.scheme}://{back.netloc}{back.path}" == f"{PUBLIC}/attest/callback"
        return f"{back.path}?{back.query}"

    def open_form(self, app_context: str) -> Any:
        callback = self.client.get(self.authorize(self.launch(app_context)))
        assert callback.status_code == 303 and callback.headers["Location"] == "/attest/form"
        return self.client.get("/attest/form")

    def csrf(self, page: Any) -> str:
        text = page.get_data(as_text=True)
        return text.split('name="csrf" value="', 1)[1].split('"', 1)[0]


@pytest.fixture
def rig(mappings: Mappings) -> Iterator[Rig]:
    ehr = SmartEhr()
    with served(ehr.make_app()) as base:
        yield Rig(ehr, base, mappings)


def test_the_launch_discovers_the_ehr_and_authorizes_with_pkce_s256_and_state(rig: Rig, p2_card_context: str) -> None:
    launched = rig.launch(p2_card_context)
    assert launched.status_code == 302
    target = urlsplit(launched.headers["Location"])
    params = {k: v[0] for k, v in parse_qs(target.query).items()}
    assert f"{target.scheme}://{target.netloc}{target.path}" == rig.iss.removesuffix("/fhir") + "/auth/authorize"
    assert params["response_type"] == "code" and params["client_id"] == CLIENT_ID
    assert params["redirect_uri"] == f"{PUBLIC}/attest/callback" and params["aud"] == rig.iss
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert len(params["state"]) >= 32 and params["launch"] in rig.ehr.launches
    assert {"launch", "openid", "fhirUser", "patient/QuestionnaireResponse.c"} <= set(params["scope"].split())
    cookie = launched.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/attest" in cookie


def test_the_form_lists_the_open_criteria_of_the_card_with_policy_text_and_citation(
    rig: Rig, p2_card_context: str
) -> None:
    page = rig.open_form(p2_card_context)
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Dana Reyes (born 1988-07-14)" in text and f"Dr. Ana Ortiz, MD ({USER})" in text
    criteria = json.loads(p2_card_context)["iop-cds"]["criteria"]
    assert SEVEN_A in criteria and SEVEN_B in criteria
    for key in criteria:
        assert f'id="yes-{key}"' in text and f'id="no-{key}"' in text and f'id="comment-{key}"' in text
    assert "The skills to develop supports or to join a self-help support system." in text
    assert "“The individual has the skills to develop supports”" in text
    assert rig.ehr.pkce_failures == 0


def test_saving_writes_one_completed_questionnaire_response_and_shows_what_changed(
    rig: Rig, p2_card_context: str
) -> None:
    page = rig.open_form(p2_card_context)
    form = {"csrf": rig.csrf(page), f"answer-{SEVEN_A}": "yes", f"answer-{SEVEN_B}": "no"}
    form[f"comment-{SEVEN_B}"] = "No peer group yet; will revisit."
    saved = rig.client.post("/attest/form", data=form)
    assert saved.status_code == 303 and saved.headers["Location"] == "/attest/done"
    (qr,) = rig.ehr.posted
    QuestionnaireResponse.model_validate(qr)
    assert qr["status"] == "completed" and qr["subject"] == {"reference": "Patient/P2-patient"}
    assert qr["author"] == {"reference": USER}
    assert qr["questionnaire"] == f"{PUBLIC}/fhir/Questionnaire/iop-cds-medica-admission"
    assert qr["authored"][-6:] in {"-05:00", "-04:00"}  # the site's zone (America/New_York), with its offset
    answers = {i["linkId"]: i["answer"][0] for i in qr["item"]}
    assert answers == {
        SEVEN_A: {"valueBoolean": True},
        SEVEN_B: {
            "valueBoolean": False,
            "item": [
                {
                    "linkId": f"{SEVEN_B}.comment",
                    "text": "Comment",
                    "answer": [{"valueString": "No peer group yet; will revisit."}],
                }
            ],
        },
    }
    # Re-evaluated before and after, in fetch mode against the EHR with the SMART token, for the card's order.
    before, after = rig.reevaluate.calls
    for call in (before, after):
        assert call.hook == "order-sign" and call.fhir_server == rig.iss and call.prefetch == {}
        assert call.fhir_authorization is not None and call.fhir_authorization.access_token in rig.ehr.tokens
        assert call.extension == {"iop-cds.policies": ["medica"]}
        assert [e["resource"]["id"] for e in call.context["draftOrders"]["entry"]] == ["P2-order"]
    done = rig.client.get("/attest/done").get_data(as_text=True)
    assert 'Saved as <span id="written">QuestionnaireResponse/' in done
    row_a = done.split(f'data-criterion="{SEVEN_A}"', 1)[1].split("</tr>", 1)[0]
    assert '<td class="before">not documented</td><td class="after">met</td>' in row_a
    row_b = done.split(f'data-criterion="{SEVEN_B}"', 1)[1].split("</tr>", 1)[0]
    assert '<td class="after">not met</td>' in row_b
    assert '<b id="open-after">1</b>' in done and '<span id="open-before">2</span>' in done
    # The token has done its work: the session no longer holds it, so the form cannot be sent again.
    again = rig.client.get("/attest/form")
    assert again.status_code == 400 and "expired or is unknown" in again.get_data(as_text=True)


def test_a_form_with_no_answer_is_shown_again_and_writes_nothing(rig: Rig, p2_card_context: str) -> None:
    page = rig.open_form(p2_card_context)
    answer = rig.client.post("/attest/form", data={"csrf": rig.csrf(page)})
    assert answer.status_code == 400 and "Answer at least one requirement" in answer.get_data(as_text=True)
    assert rig.ehr.posted == []


def error_of(response: Any) -> tuple[int, str]:
    text = response.get_data(as_text=True)
    return response.status_code, text.split('data-kind="', 1)[1].split('"', 1)[0] if 'data-kind="' in text else ""


@pytest.mark.parametrize("query", [{}, {"launch": "abc"}, {"iss": "https://ehr.example/fhir"}])
def test_a_launch_without_launch_or_iss_is_refused_with_a_page_that_says_so(rig: Rig, query: dict[str, str]) -> None:
    answer = rig.client.get("/attest/launch", query_string=query)
    assert error_of(answer) == (400, "launch")
    assert "Open the attestation app from the IOP documentation card" in answer.get_data(as_text=True)
    assert "Set-Cookie" not in answer.headers


def test_an_iss_not_on_the_allow_list_never_gets_a_request_or_a_token(rig: Rig, p2_card_context: str) -> None:
    answer = rig.launch(p2_card_context, iss="https://attacker.example/fhir")
    assert error_of(answer) == (403, "iss")
    assert "https://attacker.example/fhir is not on the list" in answer.get_data(as_text=True)
    assert "Set-Cookie" not in answer.headers


def test_denied_authorization_is_a_page_and_nothing_is_written(rig: Rig, p2_card_context: str) -> None:
    rig.ehr.deny = True
    answer = rig.client.get(rig.authorize(rig.launch(p2_card_context)))
    assert error_of(answer) == (403, "denied")
    assert "Authorization was denied" in answer.get_data(as_text=True)
    assert rig.ehr.posted == [] and rig.ehr.codes == {}


def test_a_state_mismatch_is_refused_and_the_code_is_never_exchanged(rig: Rig, p2_card_context: str) -> None:
    callback = rig.authorize(rig.launch(p2_card_context))
    path, query = callback.split("?", 1)
    params = {k: v[0] for k, v in parse_qs(query).items()}
    params["state"] = "forged-" + params["state"]
    answer = rig.client.get(path, query_string=params)
    assert error_of(answer) == (400, "state")
    assert params["code"] in rig.ehr.codes  # still unredeemed


def test_a_callback_without_a_session_is_refused(rig: Rig, p2_card_context: str) -> None:
    callback = rig.authorize(rig.launch(p2_card_context))
    rig.client.delete_cookie("iop_cds_attest", path="/attest")
    assert error_of(rig.client.get(callback)) == (400, "session")


def test_a_refused_fhir_write_is_a_page_with_the_ehrs_reason(rig: Rig, p2_card_context: str) -> None:
    page = rig.open_form(p2_card_context)
    rig.ehr.refuse_writes = True
    answer = rig.client.post("/attest/form", data={"csrf": rig.csrf(page), f"answer-{SEVEN_A}": "yes"})
    assert error_of(answer) == (502, "write")
    text = answer.get_data(as_text=True)
    assert "The EHR refused to save the attestation" in text
    assert "HTTP 422: QuestionnaireResponse writes are disabled in this EHR" in text
    assert len(rig.reevaluate.calls) == 1  # only the check before; nothing changed


def test_a_form_post_without_the_sessions_csrf_token_is_refused(rig: Rig, p2_card_context: str) -> None:
    rig.open_form(p2_card_context)
    answer = rig.client.post("/attest/form", data={"csrf": "guess", f"answer-{SEVEN_A}": "yes"})
    assert error_of(answer) == (400, "csrf") and rig.ehr.posted == []


def test_a_launch_without_the_cards_app_context_says_where_to_start(rig: Rig) -> None:
    answer = rig.client.get(rig.authorize(rig.launch(json.dumps({"questionnaire": []}))))
    assert error_of(answer) == (400, "context")
    assert "names no IOP Questionnaire" in answer.get_data(as_text=True)


def test_an_id_token_the_ehr_did_not_sign_is_refused(rig: Rig, p2_card_context: str) -> None:
    rig.ehr.foreign_id_token = True
    answer = rig.client.get(rig.authorize(rig.launch(p2_card_context)))
    assert error_of(answer) == (400, "context")
    assert "the id_token could not be verified" in answer.get_data(as_text=True)
    assert rig.reevaluate.calls == []  # nothing is read with a token whose user is unproven


def test_a_token_without_write_access_to_questionnaire_responses_is_refused_before_the_form(
    rig: Rig, p2_card_context: str
) -> None:
    rig.ehr.granted_scope = "launch openid fhirUser patient/*.rs"
    answer = rig.client.get(rig.authorize(rig.launch(p2_card_context)))
    assert error_of(answer) == (400, "context")
    assert "no scope to create a QuestionnaireResponse" in answer.get_data(as_text=True)


@pytest.mark.parametrize(
    ("scope", "writes"),
    [
        ("patient/QuestionnaireResponse.c", True),
        ("user/QuestionnaireResponse.cruds", True),
        ("patient/*.cu", True),
        ("patient/QuestionnaireResponse.write", True),
        ("patient/*.*", True),
        ("patient/QuestionnaireResponse.rs", False),
        ("patient/*.read launch openid", False),
        ("patient/Observation.c", False),
        ("patient/QuestionnaireResponse.cz", False),
    ],
)
def test_which_granted_scopes_allow_the_write(scope: str, writes: bool) -> None:
    assert can_write(scope, "QuestionnaireResponse") is writes


def test_the_smart_token_never_reaches_the_logs(
    rig: Rig, p2_card_context: str, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    page = rig.open_form(p2_card_context)
    rig.client.post("/attest/form", data={"csrf": rig.csrf(page), f"answer-{SEVEN_A}": "yes"})
    tokens = list(rig.ehr.tokens)
    assert tokens
    logged = "\n".join(f"{r.getMessage()} {getattr(r, 'fields', '')}" for r in caplog.records)
    logged += capsys.readouterr().err
    assert not any(token in logged for token in tokens)


def test_an_ehr_that_embeds_the_app_cross_site_gets_a_samesite_none_secure_cookie(
    mappings: Mappings, p2_card_context: str
) -> None:
    ehr = SmartEhr()
    with served(ehr.make_app()) as base:
        rig = Rig(ehr, base, mappings, attest_cookie_samesite="None")
        cookie = rig.launch(p2_card_context).headers["Set-Cookie"]
    assert "SameSite=None" in cookie and "Secure" in cookie and "HttpOnly" in cookie


def test_a_strict_samesite_setting_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="IOP_CDS_ATTEST_COOKIE_SAMESITE"):
        Settings(attest_cookie_samesite="Strict")


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"code_challenge_methods_supported": ["plain"]}, "does not offer PKCE with S256"),
        ({"code_challenge_methods_supported": None}, "does not offer PKCE with S256"),
        ({"capabilities": ["launch-standalone"]}, "capabilities lacks launch-ehr"),
        ({"token_endpoint": None}, "lacks token_endpoint"),
    ],
)
def test_an_ehr_without_what_an_ehr_launch_with_pkce_needs_is_a_page_before_any_redirect(
    rig: Rig, p2_card_context: str, overrides: dict[str, Any], says: str
) -> None:
    rig.ehr.config_overrides = overrides
    answer = rig.launch(p2_card_context)
    assert error_of(answer) == (502, "discovery") and says in answer.get_data(as_text=True)
    assert "Set-Cookie" not in answer.headers


def test_a_discharge_launch_re_evaluates_the_encounter_and_links_the_response_to_it(rig: Rig, tmp_path: Path) -> None:
    settings = Settings(
        auth=False, public_base_url=PUBLIC, feedback_db=str(tmp_path / "f.db"), replay_db=str(tmp_path / "r.db")
    )
    bundle = json.loads((P2.parent / "P4.json").read_text(encoding="utf-8"))
    body = build_hook_request(bundle, "encounter-discharge", at="2025-02-28T12:05:00-05:00", policies=["optum-locg"])
    answer = create_app(settings).test_client().post("/cds-services/iop-encounter-discharge", json=body).get_json()
    (link,) = [link for card in answer["cards"] for link in card.get("links", []) if link["type"] == "smart"]
    page = rig.open_form(link["appContext"])
    first = json.loads(link["appContext"])["iop-cds"]["criteria"][0]
    saved = rig.client.post("/attest/form", data={"csrf": rig.csrf(page), f"answer-{first}": "yes"})
    assert saved.status_code == 303
    (qr,) = rig.ehr.posted
    assert qr["encounter"] == {"reference": "Encounter/P4-prog"}
    assert qr["questionnaire"] == f"{PUBLIC}/fhir/Questionnaire/iop-cds-optum-locg-discharge|2021"
    for call in rig.reevaluate.calls:
        assert call.hook == "encounter-discharge" and call.encounter_id == "P4-prog"
        assert "draftOrders" not in call.context and call.extension == {"iop-cds.policies": ["optum-locg"]}
