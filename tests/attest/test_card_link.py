"""The documentation card's SMART link: the service's own app by default, with a DTR-shaped appContext."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cds_service.config import Settings
from cds_service.hooks.app import create_app
from cds_service.hooks.services import service_for_hook
from cds_service.record.hook_requests import build_hook_request

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden"
BASE = "https://cds.example.org"


def smart_links(tmp_path: Path, name: str, hook: str, at: str, policy: str, **settings: Any) -> list[dict[str, Any]]:
    options: dict[str, Any] = {"public_base_url": BASE, **settings}
    app = create_app(
        Settings(auth=False, feedback_db=str(tmp_path / "f.db"), replay_db=str(tmp_path / "r.db"), **options)
    )
    bundle = json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
    body = build_hook_request(bundle, hook, at=at, policies=[policy])
    client = app.test_client()
    answer = client.post(f"/cds-services/{service_for_hook(hook)}", json=body).get_json()
    links = [link for card in answer["cards"] for link in card.get("links", []) if link["type"] == "smart"]
    for link in links:  # the Questionnaire each link names is served by this very service
        for canonical in json.loads(link["appContext"])["questionnaire"]:
            url, _, version = canonical.partition("|")
            served = client.get(url.removeprefix(BASE)).get_json()
            assert served["url"] == url and served["version"] == (version or served["version"])
            assert not any(ch.isspace() for ch in canonical)
    return links


def test_the_link_launches_the_services_own_app_naming_questionnaire_order_coverage_and_open_criteria(
    tmp_path: Path,
) -> None:
    (link,) = smart_links(tmp_path, "P2", "order-sign", "2025-03-03T14:00:00-06:00", "medica")
    assert link["url"] == f"{BASE}/attest/launch" and link["type"] == "smart"
    context = json.loads(link["appContext"])
    # Medica's version has spaces, which a canonical cannot carry: the bare URL (Optum's "2021" keeps |version).
    assert context["questionnaire"] == [f"{BASE}/fhir/Questionnaire/iop-cds-medica-admission"]
    (order,) = [json.loads(o) for o in context["order"]]
    assert order["resourceType"] == "ServiceRequest" and order["id"] == "P2-order" and order["status"] == "draft"
    assert context["coverage"] == ["Coverage/P2-patient-coverage"]
    ours = context["iop-cds"]
    assert ours["hook"] == "order-sign" and ours["policy"] == "medica" and ours["phase"] == "admission"
    assert link["label"] == f"Attest {len(ours['named'])} requirement(s)"
    # A composite item on the card (Medica #7: 7a or 7b) is answered through its open criteria.
    assert "medica.adult-admission.7-support-system" in ours["named"]
    assert "medica.adult-admission.7-support-system" not in ours["criteria"]
    assert {"medica.adult-admission.7a-family-support", "medica.adult-admission.7b-can-develop-supports"} <= set(
        ours["criteria"]
    )


def test_a_discharge_link_names_the_encounter_and_no_order(tmp_path: Path) -> None:
    (link,) = smart_links(tmp_path, "P4", "encounter-discharge", "2025-02-28T12:05:00-05:00", "optum-locg")
    context = json.loads(link["appContext"])
    assert context["order"] == []
    assert context["iop-cds"]["hook"] == "encounter-discharge" and context["iop-cds"]["encounter"] == "P4-prog"
    assert context["questionnaire"][0].startswith(f"{BASE}/fhir/Questionnaire/iop-cds-optum-locg-discharge|")


@pytest.mark.parametrize(
    ("settings", "url"),
    [
        (
            {"attestation_app_url": "https://dtr.example.org/launch", "public_base_url": BASE},
            "https://dtr.example.org/launch",
        ),
        ({"public_base_url": "", "bind": "127.0.0.1:9090"}, "http://127.0.0.1:9090/attest/launch"),
    ],
)
def test_a_setting_points_the_link_elsewhere(tmp_path: Path, settings: dict[str, Any], url: str) -> None:
    base = settings["public_base_url"] or f"http://{settings['bind']}"
    app = create_app(
        Settings(auth=False, feedback_db=str(tmp_path / "f.db"), replay_db=str(tmp_path / "r.db"), **settings)
    )
    bundle = json.loads((GOLDEN / "P3.json").read_text(encoding="utf-8"))
    body = build_hook_request(bundle, "order-sign", at="2025-03-03T09:30:00-05:00", policies=["optum-locg"])
    answer = app.test_client().post("/cds-services/iop-order-sign", json=body).get_json()
    (link,) = [link for card in answer["cards"] for link in card.get("links", []) if link["type"] == "smart"]
    assert link["url"] == url
    assert json.loads(link["appContext"])["questionnaire"] == [
        f"{base}/fhir/Questionnaire/iop-cds-optum-locg-admission|2021"
    ]
