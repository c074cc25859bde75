"""Issue 64's data-rights journey in a real browser: a client asks for a copy of their data in the
trader's room, a compliance officer builds it from the request's page (a django-rq job, its progress on
the job's page; an RQ burst worker takes it here as the worker would) and the client downloads the ZIP:
it opens, holds index.html and their name, and nothing of the AML case opened about them. Another client,
with a deposit and its payout through the wallet's deposit and withdrawal code (so their transactions
are held), asks for erasure: the officer reads the plan (erased, anonymised, held with the legal basis and
the end date) and approves it. Then every staff page where a client's name shows (the client list, the
client's page and each of its tabs, search, the tasks, the notifications, the jobs, the audit log, the
compliance pages, the dashboards) holds nothing of the old first and last names (the audit log's rows show
them masked), and the audit chain still verifies on the audit page."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.lib.fieldcrypt import keyed_hash
from crm.lib.money import Money
from crm.models import RoleCode
from tests.browser.support import MARKS, PASSWORD, login
from tests.factories import make_brand, make_desk, make_user
from tests.rq import empty as rq_empty
from tests.rq import work as rq_work
from tests.waiting import scaled_ms

pytestmark = MARKS

CLIENT_PASSWORD = "amber-harbour-4417"
A = ("Ottilie", "Brandvold", "ottilie.brandvold@example.com", "+442071838561")
B = ("Zenobia", "Quartermaine", "zenobia.quartermaine@example.com", "+442071838562")
AML_SUMMARY = "Round-tripping through a shell company in Vanuatu"


def _register(brand: Any, first: str, last: str, email: str, phone: str) -> Any:
    from portal.models import ClientLogin
    from portal.services import portal_email_verify, portal_register, verification_token

    portal_register(brand=brand, language="en", first_name=first, last_name=last, email=email, phone=phone,
                    country="GB", date_of_birth=date(1984, 5, 7), password=CLIENT_PASSWORD, accept_terms=True,
                    accept_privacy=True)
    login_row = ClientLogin.objects.get(email_hash=keyed_hash(email, kind="email"))
    portal_email_verify(token=verification_token(login_row))
    return login_row.client


@pytest.fixture
def rights(db, settings, tmp_path):
    """A brand taking and paying bank wires; client A with a compliance case (an AML alert attached);
    client B verified, with a wire deposit and its payout (nothing left in the wallet), owned by an agent
    who has a task about them; a compliance officer with the second factor."""
    from django_otp.oath import totp

    from compliance.services import case_item_attach
    from crm.services import task_create
    from crm.staff_services import otp_device_start, otp_setup_confirm
    from portal.models import ConsentDocument, ConsentKind
    from tests.wallet.withdrawal_support import kyc_approve
    from wallet.demo import demo_wire_deposit, demo_wire_methods, demo_wire_provider
    from wallet.models import PaymentMethod
    from wallet.withdrawals import (
        withdrawal_approve,
        withdrawal_mark_paid,
        withdrawal_payout_send,
        withdrawal_request,
    )

    settings.PORTAL_REGISTER_RATE_LIMIT = "1000/m"
    settings.PORTAL_LOGIN_RATE_LIMIT = "1000/m"
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"
    settings.COMPLIANCE_DATA_REQUEST_DIR = tmp_path / "data-requests"
    settings.COMPLIANCE_CASE_STORAGE_DIR = tmp_path / "cases"
    rq_empty()
    brand = make_brand(code="atlas-d", name="Atlas Data", served_countries=["GB"])
    for kind in ConsentKind.values:
        ConsentDocument.objects.create(brand=brand, kind=kind, version="1", language="en", title=f"{kind} v1")
    wire = demo_wire_provider()
    demo_wire_methods(brand=brand, wire=wire)
    agent = make_user(role_code=RoleCode.SALES_AGENT, desk=make_desk(brand=brand), full_name="Sam Sales",
                      email="sam@staff.example.com", password=PASSWORD)
    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=brand, full_name="Karim Haddad",
                        email="karim@staff.example.com", password=PASSWORD)
    finance = make_user(role_code=RoleCode.FINANCE, brand=brand, full_name="Fiona Finance")
    device = otp_device_start(user=officer)
    otp_setup_confirm(user=officer, device=device, token=f"{totp(device.bin_key, drift=-1):06d}")

    a = _register(brand, *A)
    case_item_attach(client=a, kind="aml_alert", ref_id="rights-1", summary=AML_SUMMARY, score=70)

    b = _register(brand, *B)
    kyc_approve(b)
    demo_wire_deposit(provider=wire, client=b, amount=Money("250.00", "USD"),
                      at=timezone.now() - dt.timedelta(days=3), n=1)
    method = PaymentMethod.objects.get(brand=brand, method="bank_wire", direction="withdrawal")
    wd = withdrawal_request(client=b, amount=Money("250.00", "USD"), method=method,
                            destination={"bank_wire": "GB82 WEST 1234 5698 7654 32"})
    wd = withdrawal_approve(withdrawal=wd, actor=finance)
    wd = withdrawal_payout_send(withdrawal_id=wd.pk)
    withdrawal_mark_paid(withdrawal=wd, actor=finance, bank_reference="REF-RIGHTS-1")
    task_create(actor=agent, title=f"Call {B[0]} {B[1]} about the payout", assignee=officer, client=b)
    return SimpleNamespace(brand=brand, officer=officer, agent=agent, a=a, b=b)


def _room(browser: Any, base: str, brand: Any, email: str) -> Any:
    page = browser.new_context(viewport={"width": 390, "height": 844}, accept_downloads=True).new_page()
    page.set_default_timeout(scaled_ms(20_000))
    page.goto(f"{base}/portal/{brand.code}/login/")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", CLIENT_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/portal/")
    return page


def _ask(page: Any, base: str, kind: str) -> None:
    page.goto(f"{base}{reverse('portal:my_data')}")
    page.click(f"button[data-ask={kind}]")
    page.wait_for_url(f"{base}{reverse('portal:my_data')}")
    page.wait_for_selector("#my-data-requests li[data-status=received]")


def _officer(browser: Any, base: str, user: Any) -> Any:
    from django_otp.oath import totp

    page = browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True).new_page()
    page.set_default_timeout(scaled_ms(20_000))
    login(page, base, user.email, home=False)
    page.wait_for_url(re.compile(r"/2fa/verify/"))
    page.fill("input[name=token]", f"{totp(user.totpdevice_set.get().bin_key):06d}")
    page.click("button:has-text('Verify')")
    page.wait_for_url(f"{base}/")
    return page


def _open_request(page: Any, base: str, client: Any) -> None:
    """From the officers' list of open requests to the client's one."""
    page.goto(f"{base}{reverse('compliance_data_requests')}")
    page.locator("main a", has_text=client.full_name).first.click()
    page.wait_for_url(re.compile(r"/compliance/data-requests/[0-9a-f-]{36}/$"))


def test_a_client_downloads_their_data_and_another_is_erased_leaving_no_name_and_an_intact_chain(
        live_server, browser, rights):
    from compliance.data_request_models import DataSubjectRequest
    from crm.audit import verify_chain

    base = live_server.url

    # 1. Client A asks for a copy of their data in the trader's room.
    room_a = _room(browser, base, rights.brand, A[2])
    _ask(room_a, base, "access")

    # 2. The officer builds it from the request's page; the job's page shows its progress.
    staff = _officer(browser, base, rights.officer)
    _open_request(staff, base, rights.a)
    staff.click("[data-action=export]")
    staff.wait_for_selector("[data-request-status=in_progress]")
    staff.click("main dl.kv a[href*='/jobs/']")
    staff.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}/"))
    assert staff.get_attribute("[data-job-status]", "data-job-status") == "queued"
    rq_work()
    staff.reload()
    assert staff.get_attribute("[data-job-status]", "data-job-status") == "done", staff.inner_text("main")
    request_a = DataSubjectRequest.objects.get(client=rights.a)
    staff.goto(f"{base}{reverse('compliance_data_request', args=[request_a.code])}")
    staff.wait_for_selector("[data-request-status=fulfilled]")
    assert staff.locator("[data-withheld=cases]").count() == 1  # the officers see what was withheld

    # 3. Client A downloads the ZIP: it opens, with index.html, their name and nothing of the case.
    room_a.goto(f"{base}{reverse('portal:my_data')}")
    with room_a.expect_download() as download:
        room_a.click(f"li[data-request='{request_a.code}'] a[data-download]")
    with open(download.value.path(), "rb") as handle:
        archive = zipfile.ZipFile(io.BytesIO(handle.read()))
    assert archive.testzip() is None
    names = archive.namelist()
    assert "index.html" in names and "profile.json" in names, names
    everything = "\n".join(archive.read(n).decode("utf-8", "replace") for n in names)
    assert f"{A[0]} {A[1]}" in archive.read("index.html").decode()
    assert A[1] in archive.read("profile.json").decode()
    assert AML_SUMMARY not in everything and "aml_alert" not in everything

    # 4. Client B asks for erasure; the officer reads the plan and approves it.
    room_b = _room(browser, base, rights.brand, B[2])
    _ask(room_b, base, "erasure")
    _open_request(staff, base, rights.b)
    plan = staff.locator("[data-plan]")
    assert "anonymised" in plan.locator("[data-plan-item=profile]").inner_text()
    assert "erased" in plan.locator("[data-plan-item=notes]").inner_text()
    held = plan.locator("[data-plan-item=transactions]").inner_text()
    until = timezone.localdate().year + 5  # five years after the payout ended the relationship
    assert "held" in held and "AML record keeping" in held and str(until) in held, held
    assert staff.locator("[data-blocker]").count() == 0
    staff.click("[data-action=erase]")
    staff.wait_for_selector("[data-request-status=fulfilled]")
    staff.wait_for_selector("[data-outcome]")

    # 5. The old name is gone from every page where staff see a client's name.
    code = str(rights.b.code)
    client_page = reverse("client_detail", args=[code])
    pages = [reverse("home"), reverse("client_list"), f"{reverse('client_list')}?q={B[1]}",
             f"{reverse('client_search')}?q={B[1]}", f"{reverse('client_search')}?q={B[0]}", client_page,
             reverse("task_list"), reverse("notification_list"), reverse("job_list"), reverse("audit_list"),
             f"{reverse('audit_list')}?object_id={code}", reverse("compliance_dashboard"),
             reverse("compliance_data_requests"), f"{reverse('compliance_data_requests')}?status=",
             reverse("compliance_case_queue"), reverse("compliance_aml_alerts"), reverse("compliance_screening_queue"),
             reverse("compliance_retention")]
    staff.goto(f"{base}{client_page}")
    tabs = sorted({href for href in staff.eval_on_selector_all(
        "a[href*='tab=']", "els => els.map(e => e.getAttribute('href'))") if href.startswith(client_page)})
    assert len(tabs) >= 5, tabs
    pages += tabs
    pages.append(reverse("compliance_data_request", args=[DataSubjectRequest.objects.get(client=rights.b).code]))
    found = {}
    for url in pages:
        response = staff.goto(f"{base}{url}")
        assert response is not None and response.ok, (url, response and response.status)
        text = staff.content()
        if B[0] in url or B[1] in url:  # a search for the old name echoes it (box, chip): the erased client must not be found
            assert code not in text, url
            continue
        hits = [name for name in B[:2] if name.lower() in text.lower()]
        if hits:
            found[url] = [line.strip()[:200] for line in text.splitlines() if any(h in line for h in hits)][:3]
    # The audit log's pages too: its rows keep the names they recorded (the chain hashes them) and show them
    # masked with the day of the erasure.
    assert not found, found
    staff.goto(f"{base}{client_page}")
    assert f"Erased client {code[:8]}" in staff.inner_text("main")
    staff.goto(f"{base}{reverse('audit_list')}?object_id={code}")
    assert re.search(r"\[erased \d{4}-\d{2}-\d{2}\]", staff.inner_text("main")), staff.inner_text("main")

    # 6. The audit chain still verifies, on the audit page and walked here.
    staff.goto(f"{base}{reverse('audit_list')}")
    staff.click("form[action$='/audit/verify/'] button")
    staff.wait_for_selector("#chain-status .message")
    assert "intact" in staff.inner_text("#chain-status"), staff.inner_text("#chain-status")
    report = verify_chain()
    assert report.ok, report.problem
