"""The case pages and the staff API: the queue with its SLA, the case with the client's history
beside it (money with instruments, sign-ins, related clients), the operations, four-eyes on the page
and in the API, the report's PDF; officers of the client's brand only."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from compliance.cases import case_item_attach, case_narrative_set, case_review_start
from compliance.models import Case, Restriction
from crm.models import RoleCode
from tests.factories import make_brand, make_client, make_desk, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db, settings, tmp_path):
    settings.COMPLIANCE_CASE_STORAGE_DIR = tmp_path / "cases"
    brand = make_brand()
    desk = make_desk(brand=brand)
    agent = make_user(role_code=RoleCode.SALES_AGENT, desk=desk)
    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=brand, full_name="Karim Officer")
    officer2 = make_user(role_code=RoleCode.COMPLIANCE, brand=brand, full_name="Second Officer")
    outsider = make_user(role_code=RoleCode.COMPLIANCE, brand=make_brand())
    client = make_client(actor=agent, brand=brand, first_name="Omar", last_name="Saleh", email="omar@example.com")
    case = case_item_attach(client=client, kind="aml_alert", ref_id=41, summary="structuring v2", score=75).case
    return SimpleNamespace(brand=brand, agent=agent, officer=officer, officer2=officer2, outsider=outsider,
                           client=client, case=case)


def test_the_queue_shows_cases_by_due_date_with_overdue_ones_marked(world, client, login_verified, time_machine):
    other = make_client(actor=world.agent, brand=world.brand, first_name="Lina", email="lina@example.com")
    case_item_attach(client=other, kind="aml_alert", ref_id=42, summary="large deposit v1", score=95)
    login_verified(client, world.officer)
    time_machine.move_to(timezone.now() + dt.timedelta(hours=30))  # the critical case (24 h) is late
    page = client.get(reverse("compliance_case_queue")).content.decode()
    assert page.index("Lina") < page.index("Omar Saleh")  # the earliest due first
    assert page.count("data-overdue") == 1
    only_late = client.get(reverse("compliance_case_queue") + "?overdue=on").content.decode()
    assert "Lina" in only_late and "Omar Saleh" not in only_late


def test_the_case_page_shows_the_clients_history_beside_it(world, client, login_verified):
    login_verified(client, world.officer)
    page = client.get(reverse("compliance_case_detail", args=[world.case.code])).content.decode()
    for part in ("kyc", "money", "trading", "logins", "screening", "related"):
        assert f'data-history="{part}"' in page
    assert 'data-item="aml_alert-41"' in page and "structuring v2" in page


def test_related_clients_by_shared_sign_in_ip_and_browser_are_drawn(world, client, login_verified):
    from compliance.case_selectors import client_history
    from portal.models import ClientLogin, PortalSession

    twin = make_client(actor=world.agent, brand=world.brand, first_name="Twin", email="twin@example.com")
    for who, key in ((world.client, "a" * 32), (twin, "b" * 32)):
        login = ClientLogin.objects.create(client=who, brand=world.brand, email=who.email)
        PortalSession.objects.create(login=login, session_key=key, ip="203.0.113.9", user_agent="Firefox/140")
    history = client_history(client=world.client, user=world.officer)
    assert [(r["client"], sorted(link.via for link in r["links"])) for r in history.related] == [
        (twin, ["device", "ip"])]
    assert [(row.ip, row.device) for row in history.logins] == [("203.0.113.9", "Firefox/140")]
    login_verified(client, world.officer)
    page = client.get(reverse("compliance_case_detail", args=[world.case.code])).content.decode()
    assert "data-related-graph" in page and f'data-related="{twin.code}"' in page
    # An officer of another brand sees no case, and no related client of ours through one.
    assert client_history(client=world.client, user=world.outsider).related == []


def test_an_officer_restricts_the_client_from_the_case_page(world, client, login_verified):
    login_verified(client, world.officer)
    client.post(reverse("compliance_case_action", args=[world.case.code, "review"]))
    response = client.post(reverse("compliance_case_action", args=[world.case.code, "decide"]), {
        "decision": "restrict", "restrict": ["no_deposit", "no_withdrawal"], "reason": "Third-party cards"})
    assert response.status_code == 302
    world.case.refresh_from_db()
    assert (world.case.status, world.case.decision) == ("closed", "restrict")
    assert sorted(Restriction.objects.filter(client=world.client).values_list("kind", flat=True)) == [
        "no_deposit", "no_withdrawal"]


def test_a_decision_without_its_reason_is_refused_on_the_page_and_nothing_changes(world, client, login_verified):
    login_verified(client, world.officer)
    client.post(reverse("compliance_case_action", args=[world.case.code, "review"]))
    response = client.post(reverse("compliance_case_action", args=[world.case.code, "decide"]),
                           {"decision": "no_action", "reason": ""})
    assert response.status_code == 400
    world.case.refresh_from_db()
    assert world.case.status == "in_review"


def test_the_report_pdf_is_drafted_and_the_same_officer_cannot_approve_it(world, client, login_verified):
    case = case_review_start(case=world.case, actor=world.officer)
    case_narrative_set(case=case, actor=world.officer, narrative="Nine deposits of 9,900 USD in five days.")
    login_verified(client, world.officer)
    pdf = client.get(reverse("compliance_case_sar", args=[case.code]))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    client.post(reverse("compliance_case_action", args=[case.code, "decide"]),
                {"decision": "report", "reason": "Structuring"})
    refused = client.post(reverse("compliance_case_action", args=[case.code, "approve"]))
    assert refused.status_code == 409
    case.refresh_from_db()
    assert case.status == "pending_approval"
    client.logout()
    login_verified(client, world.officer2)
    assert client.post(reverse("compliance_case_action", args=[case.code, "approve"])).status_code == 302
    case.refresh_from_db()
    assert (case.status, case.decision, case.approved_by) == ("closed", "report", world.officer2)
    response = client.post(reverse("compliance_case_action", args=[case.code, "filing"]),
                           {"filed_on": timezone.localdate().isoformat(), "reference": "FIU-2026-0042"})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.sar_reference == "FIU-2026-0042"


def test_an_attachment_of_the_wrong_type_is_refused_naming_the_file(world, client, login_verified):
    from django.core.files.uploadedfile import SimpleUploadedFile

    login_verified(client, world.officer)
    response = client.post(reverse("compliance_case_action", args=[world.case.code, "attach"]),
                           {"file": SimpleUploadedFile("run.pdf", b"MZ\x90\x00program")})
    assert response.status_code == 400 and "Only PDF, PNG and JPEG" in response.content.decode()
    ok = client.post(reverse("compliance_case_action", args=[world.case.code, "attach"]),
                     {"file": SimpleUploadedFile("bank.pdf", b"%PDF-1.4\n%%EOF\n")})
    assert ok.status_code == 302
    [row] = world.case.attachments.all()
    download = client.get(reverse("compliance_case_attachment", args=[world.case.code, row.code]))
    assert download.content == b"%PDF-1.4\n%%EOF\n"


def test_officers_of_another_brand_and_sales_agents_find_no_case(world, client, login_verified):
    for user in (world.outsider, world.agent):
        client.logout()
        login_verified(client, user)
        assert client.get(reverse("compliance_case_detail", args=[world.case.code])).status_code == 404
        assert world.client.full_name not in client.get(reverse("compliance_case_queue")).content.decode()


def test_the_api_works_a_case_with_four_eyes(world, client, login_verified):
    login_verified(client, world.officer)
    base = f"/api/v1/compliance/cases/{world.case.code}"

    def post(path: str, body: dict[str, Any] | None = None) -> Any:
        return client.post(base + path, json.dumps(body or {}), content_type="application/json")

    listed = client.get("/api/v1/compliance/cases").json()
    assert [c["code"] for c in listed["items"]] == [str(world.case.code)]
    assert post("/review").json()["status"] == "in_review"
    refused = post("/decision", {"decision": "report", "reason": "Structuring"})
    assert refused.status_code == 422 and "narrative" in refused.json()["fields"]
    post("/narrative", {"narrative": "Facts"})
    assert post("/decision", {"decision": "report", "reason": "Structuring"}).json()["status"] == "pending_approval"
    same = post("/approval")
    assert same.status_code == 409 and same.json()["code"] == "second_officer_required"
    client.logout()
    login_verified(client, world.officer2)
    done = post("/approval").json()
    assert (done["status"], done["decision"], done["approved_by"]) == ("closed", "report", str(world.officer2.code))
    assert Case.objects.get(pk=world.case.pk).status == "closed"


@pytest.mark.parametrize("assignee", ["x", "1e3", "00000000-0000-0000-0000-00000000000g", "' OR 1=1 --"])
def test_the_api_queue_refuses_an_assignee_that_is_no_code_by_name(world, client, login_verified, assignee):
    login_verified(client, world.officer)
    refused = client.get("/api/v1/compliance/cases", {"assignee": assignee})
    assert refused.status_code == 422 and "assignee" in refused.json()["fields"]
    assert client.get("/api/v1/compliance/cases", {"assignee": str(world.officer.code)}).json()["items"] == []
