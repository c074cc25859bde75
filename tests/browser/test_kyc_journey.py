"""Issue 14's journey in a real browser, with a real Celery worker running the automatic checks (OCR and
MRZ of generated documents) and delivering the events (the first live account opens on the MT5 Web API
simulator, a separate process):

1. A client in the UK registers on a phone, verifies the address from the mail, answers the
   appropriateness questionnaire, uploads a clean passport and a utility bill and watches the status turn
   to approved. The brand has no live server yet: the dashboard says the account waits for one and offers
   the page to open one. An administrator adds the server: the worker opens the waiting account, and the
   dashboard shows it at 1:30, the FCA's default for a retail client in the UK (the brand has no caps of
   its own and a ceiling of 1:500).
2. A second client uploads a passport in another name: it waits for review; a compliance officer (with
   the second factor) rejects it as retryable on the staff review page; the client reads why, sends a
   correct passport and is approved.
"""

from __future__ import annotations

import re
import time
from datetime import date

import pytest
from django.core import mail
from django.urls import reverse

from crm.lib.fieldcrypt import keyed_hash
from crm.models import RoleCode
from kyc.models import Submission, SubmissionStatus
from portal.models import ClientLogin, ConsentDocument, ConsentKind
from tests.browser.support import MARKS, PASSWORD, login
from tests.crm.subprocess_env import celery_worker_running
from tests.crm.test_celery_worker import worker_queue  # noqa: F401  (fixture)
from tests.factories import make_brand, make_user
from tests.portal.kyc_docs import CITY, POSTCODE, STREET, bill_pdf, holder, passport_png
from tests.trading.conftest import MANAGER_PASSWORD, start_simulator, stop_simulator
from tests.trading.crm_fixtures import ACCOUNT_TYPES, server_values
from tests.waiting import scaled, scaled_ms

pytestmark = [*MARKS, pytest.mark.worker]

CLIENT_PASSWORD = "amber-harbour-4417"
DECIDED_MS = 240_000  # OCR of two documents on a slow machine, in a worker of one process


@pytest.fixture
def broker(db, settings, tmp_path):
    """A brand with its consents, the example questionnaire, no cap rules (a ceiling of 1:500), no live
    server yet (`add_server()` adds it on the simulator; live accounts need a verified client) and a
    compliance officer with the second factor set up."""
    from django_otp.oath import totp

    from crm.staff_services import otp_device_start, otp_setup_confirm
    from kyc.questionnaire import questionnaire_draft_save, questionnaire_version_publish
    from kyc.questionnaire_demo import demo_content
    from trading.registry import adapters_reset
    from trading.services import brand_trading_policy_set, platform_server_save

    settings.PORTAL_REGISTER_RATE_LIMIT = "1000/m"
    settings.PORTAL_LOGIN_RATE_LIMIT = "1000/m"
    settings.PORTAL_MAIL_RATE_LIMIT = "1000/m"
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"
    sim = start_simulator(tmp_path / "mt5sim")
    brand = make_brand(code="atlas-k", name="Atlas KYC", served_countries=["GB", "AE"])
    for kind in ConsentKind.values:
        ConsentDocument.objects.create(brand=brand, kind=kind, version="1", language="en", title=f"{kind} v1")
    types = {**ACCOUNT_TYPES, "standard": {**ACCOUNT_TYPES["standard"], "default": True,
                                           "leverages": [30, 50, 100, 200, 500]}}

    def add_server():
        return platform_server_save(actor=None, manager_password=MANAGER_PASSWORD,
                                    **server_values(sim, brand, account_types=types, name="Atlas Live"))

    brand_trading_policy_set(actor=None, brand=brand, max_leverage_live=500, max_leverage_demo=500,
                             live_min_stage="registered", live_requires_verification=True)
    questionnaire_version_publish(actor=None, version=questionnaire_draft_save(actor=None, brand=brand,
                                                                               content=demo_content()))
    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=brand, full_name="Carla Compliance",
                        email="carla@staff.example.com", password=PASSWORD)
    device = otp_device_start(user=officer)
    otp_setup_confirm(user=officer, device=device, token=f"{totp(device.bin_key, drift=-1):06d}")
    try:
        yield type("Broker", (), {"brand": brand, "add_server": staticmethod(add_server), "officer": officer,
                                  "sim": sim})
    finally:
        adapters_reset()
        stop_simulator(sim)


@pytest.fixture
def celery_worker(transactional_db, worker_queue, broker, settings, tmp_path):  # noqa: F811
    """`celery -A crm worker` on this test's own queue, against the test database, with the same private
    document storage."""
    log = tmp_path / "worker.log"
    # Its own kicks come back to it (the queue is its default queue).
    with celery_worker_running(worker_queue, log, KYC_STORAGE_DIR=str(settings.KYC_STORAGE_DIR)) as proc:
        yield proc


def _first_live_account(page, base, client, worker):
    """Wait for the dashboard to list the live account the worker opens on kyc.approved. A delivery that
    failed (the platform slow on a loaded machine) is retried as beat would after its backoff; a missing
    account names the delivery's error and the worker's last lines."""
    from datetime import timedelta

    from django.db.models import Q
    from django.utils import timezone

    from crm.events import retry_due
    from crm.models import DeliveryStatus, EventDelivery
    from trading.models import TradingAccount

    retried = False
    started = time.monotonic()
    while time.monotonic() - started < scaled(90):
        page.goto(f"{base}/portal/")
        if page.locator("#accounts li.p-account").count():
            break
        failed = EventDelivery.objects.filter(Q(event__name="kyc.approved", event__client=client)
                                              | Q(event__name="trading.server_saved"), status=DeliveryStatus.FAILED)
        if failed.exists() and not retried:
            retry_due(now=timezone.now() + timedelta(hours=7))
            retried = True
            continue
        page.wait_for_timeout(1000)
    account = TradingAccount.objects.filter(client=client, is_demo=False).first()
    if account is None:
        deliveries = list(EventDelivery.objects.filter(event__client=client).values_list(
            "event__name", "handler", "status", "last_error"))
        tail = worker.log_path.read_text(errors="replace")[-3000:]
        pytest.fail(f"no live account for {client}: deliveries {deliveries}\nworker log:\n{tail}")
    return account


def _delivered(client, name):
    """Wait for the worker to have recorded event `name` for `client`."""
    from crm.models import Event

    started = time.monotonic()
    while not Event.objects.filter(client=client, name=name).exists():
        assert time.monotonic() - started < scaled(60), f"no {name} for {client}"
        time.sleep(0.2)


def _phone(browser):
    page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    page.set_default_timeout(scaled_ms(20_000))
    return page


def _register(page, base, brand, *, first, last, email, birth, phone):
    from portal.tasks import portal_mail_send_task

    page.goto(f"{base}/portal/{brand.code}/register/")
    page.fill("input[name=first_name]", first)
    page.fill("input[name=last_name]", last)
    page.fill("input[name=email]", email)
    page.fill("input[name=phone]", phone)  # each its own: a phone of another account is refused
    page.select_option("select[name=country]", "GB")
    page.fill("input[name=date_of_birth]", birth.isoformat())
    page.fill("input[name=password]", CLIENT_PASSWORD)
    page.check("input[name=accept_terms]")
    page.check("input[name=accept_privacy]")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/portal/{brand.code}/register/done/")
    login_row = ClientLogin.objects.get(email_hash=keyed_hash(email, kind="email"))
    mail.outbox.clear()
    portal_mail_send_task.run("verify", login_row.pk)  # the mail, sent here to read its link
    [link] = re.findall(r"https?://\S+/portal/verify/\S+/", mail.outbox[-1].body)
    page.goto(link)
    assert "Email address verified" in page.content()
    page.goto(f"{base}/portal/{brand.code}/login/")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", CLIENT_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/portal/")
    return login_row.client


def _address(page, base):
    page.goto(f"{base}/portal/verification/")
    page.wait_for_selector("#step-address")
    page.fill("input[name=address_line1]", STREET)
    page.fill("input[name=city]", CITY)
    page.fill("input[name=postcode]", POSTCODE)
    page.select_option("select[name=country]", "GB")
    page.click("#step-address button[type=submit]")


def _upload(page, tmp_path, passport: bytes, bill: bytes, tag: str):
    (tmp_path / f"passport-{tag}.png").write_bytes(passport)
    (tmp_path / f"bill-{tag}.pdf").write_bytes(bill)
    page.check("input[name=identity_kind][value=passport]")
    page.set_input_files("input[name=identity]", str(tmp_path / f"passport-{tag}.png"))
    page.check("input[name=address_kind][value=utility_bill]")
    page.set_input_files("input[name=address]", str(tmp_path / f"bill-{tag}.pdf"))
    page.click("#documents-form button[type=submit]")


def test_clients_are_verified_in_the_traders_room_and_get_a_live_account(live_server, browser, broker,
                                                                         celery_worker, tmp_path, settings):
    from django_otp.oath import totp

    from kyc.questionnaire_demo import ANSWERS_APPROPRIATE
    from trading.models import TradingAccount

    base = live_server.url
    settings.CRM_PUBLIC_URL = base

    # 1. Laura: questionnaire, a clean passport and bill, approved by the checks alone.
    laura_birth = date(1988, 3, 14)
    page = _phone(browser)
    laura = _register(page, base, broker.brand, first="Laura", last="Fischer", email="laura.fischer@example.com", phone="+442071838301",
                      birth=laura_birth)
    assert "Verify your identity" in page.inner_text("#kyc-panel")
    _address(page, base)
    page.wait_for_selector("#step-questionnaire")
    for question, answer in ANSWERS_APPROPRIATE.items():
        for option in [answer] if isinstance(answer, str) else answer:
            page.check(f"input[name=\"{question}\"][value=\"{option}\"]")
    page.click("#step-questionnaire button[type=submit]")
    page.wait_for_selector("#questionnaire-result[data-level=appropriate]")
    assert "Trade only with money you can afford to lose." in page.inner_text("#risk-warnings")
    page.click("#questionnaire-result a.p-btn")
    page.wait_for_selector("#step-documents")
    _upload(page, tmp_path, passport_png(holder("Laura", "Fischer", laura_birth)), bill_pdf("Laura Fischer"), "laura")
    page.wait_for_selector("#kyc-status[data-submission=checking]")
    assert "Checking your documents…" in page.inner_text("#kyc-status")
    # The partial is polled every 2 s: the page turns to approved without a reload.
    page.wait_for_selector("#kyc-status[data-status=approved]", timeout=scaled_ms(DECIDED_MS))
    assert "You are verified" in page.inner_text("#kyc-status")
    # No live server: the worker's delivery of kyc.approved records that Laura waits (staff see it), and
    # the dashboard says so and offers the page to open one.
    _delivered(laura, "portal.live_account_waiting")
    page.goto(f"{base}/portal/")
    waiting = page.inner_text("#account-setup[data-state=waiting]")
    assert "no live trading server ready yet" in waiting and "opens by itself" in waiting, waiting
    assert page.get_attribute("#open-live-account", "href") == reverse("portal:account_new")
    # An administrator adds the live server: the worker opens the waiting account on the platform, at
    # the FCA's 1:30 for a retail client in the UK although the brand allows 1:500 and has no caps.
    broker.add_server()
    account = _first_live_account(page, base, laura, celery_worker)
    row = page.inner_text("#accounts li.p-account")
    assert str(account.login) in row and "Atlas Live" in row and "1:30" in row and "USD" in row
    assert account.leverage == 30
    assert "Your identity is verified" in page.inner_text("#kyc-panel")

    # 2. Peter sends a passport in another name: review, rejected as retryable, resubmitted, approved.
    peter_birth = date(1979, 11, 2)
    page = _phone(browser)
    peter = _register(page, base, broker.brand, first="Peter", last="Novak", email="peter.novak@example.com", phone="+442071838302",
                      birth=peter_birth)
    _address(page, base)
    page.wait_for_selector("#step-questionnaire")
    for question, answer in ANSWERS_APPROPRIATE.items():
        for option in [answer] if isinstance(answer, str) else answer:
            page.check(f"input[name=\"{question}\"][value=\"{option}\"]")
    page.click("#step-questionnaire button[type=submit]")
    page.click("#questionnaire-result a.p-btn")
    _upload(page, tmp_path, passport_png(holder("Anna", "Eriksson", peter_birth), number="K1234567"),
            bill_pdf("Peter Novak"), "anna")
    page.wait_for_selector("#kyc-status[data-submission=review]", timeout=scaled_ms(DECIDED_MS))
    assert "Your documents are being reviewed" in page.inner_text("#kyc-status")
    submission = Submission.objects.get(client=peter, status=SubmissionStatus.REVIEW)
    assert "name_match" in submission.problems

    staff = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    staff.set_default_timeout(scaled_ms(20_000))
    login(staff, base, "carla@staff.example.com", home=False)
    staff.wait_for_url(re.compile(r"/2fa/verify/"))
    staff.fill("input[name=token]", f"{totp(broker.officer.totpdevice_set.get().bin_key):06d}")
    staff.click("button:has-text('Verify')")
    staff.wait_for_url(f"{base}/")
    staff.goto(f"{base}{reverse('kyc_submission', args=[submission.code])}")
    reject = staff.locator(f"form[action='{reverse('kyc_submission_action', args=[submission.code, 'reject'])}']")
    reject.locator("textarea[name=reason]").fill("The passport is not in your name: send your own passport.")
    reject.locator("button[type=submit]").click()
    staff.wait_for_load_state()
    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.REJECTED and submission.reviewer == broker.officer

    page.goto(f"{base}/portal/verification/")
    assert "The passport is not in your name: send your own passport." in page.inner_text("#kyc-status")
    page.click("#resubmit")
    page.wait_for_selector("#step-documents")
    _upload(page, tmp_path, passport_png(holder("Peter", "Novak", peter_birth), number="K7654321"),
            bill_pdf("Peter Novak"), "peter")
    page.wait_for_selector("#kyc-status[data-status=approved]", timeout=scaled_ms(DECIDED_MS))
    resubmitted = Submission.objects.filter(client=peter).order_by("-submitted_at").first()
    assert resubmitted.resubmission_of_id == submission.pk
    assert resubmitted.status == SubmissionStatus.APPROVED
    _first_live_account(page, base, peter, celery_worker)
    assert TradingAccount.objects.filter(client=peter, is_demo=False).count() == 1
    page.goto(f"{base}/portal/?lang=ar")
    assert page.locator("html").get_attribute("dir") == "rtl", (page.url, page.inner_text("body")[:500])
