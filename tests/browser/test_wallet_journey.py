"""The wallet issue's journey in a real browser, against the real pieces: the PSP simulator (its hosted
checkout, its signed webhooks posted to the CRM's live server), the MT5 Web API simulator (the transfer's
balance operation) and a Celery worker (sending the operation and the payout, delivering the events):

A client deposits by card through the simulator's checkout and watches the deposit turn to succeeded,
sees the wallet's balance, moves part of it to the live trading account, requests a withdrawal to the
same card; a finance officer (with the second factor) approves it in the queue; the worker pays it out
and the client sees it paid. Then finance imports the provider's settlement file of the day with the
payment 0.50 short (an RQ worker runs the import job), and resolves the break it opens.
"""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import date
from decimal import Decimal

import django_rq
import pytest
from django.urls import reverse

from crm.lib.fieldcrypt import keyed_hash
from crm.models import RoleCode
from tests.browser.support import MARKS, PASSWORD, login
from tests.crm.subprocess_env import celery_worker_ready, celery_worker_running
from tests.crm.test_celery_worker import worker_queue  # noqa: F401  (fixture)
from tests.factories import make_brand, make_user
from tests.rq import work as rq_work
from tests.trading.conftest import MANAGER_PASSWORD, start_simulator, stop_simulator
from tests.trading.crm_fixtures import server_values
from tests.waiting import scaled, scaled_ms
from tests.wallet.conftest import API_KEY, API_SECRET, WEBHOOK_SECRET, start_psp, stop_psp

pytestmark = [*MARKS, pytest.mark.worker]

CLIENT_PASSWORD = "amber-harbour-4417"
SETTLED_MS = 60_000


@pytest.fixture
def worker_starting(transactional_db, worker_queue, live_server, settings, tmp_path):  # noqa: F811
    """`celery -A crm worker` on this test's own queue, against the test database, started before
    the brand is built (its start takes as long: both go on at once); the payout's notification
    address is the live server's. celery_worker waits until it is ready."""
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"
    with celery_worker_running(worker_queue, tmp_path / "worker.log", ready=False, CRM_PUBLIC_URL=live_server.url,
                               KYC_STORAGE_DIR=str(settings.KYC_STORAGE_DIR)) as proc:
        yield proc


@pytest.fixture
def money(db, settings, tmp_path, worker_starting):
    """A brand with card deposits and withdrawals on the PSP simulator, a live server on the MT5
    simulator, a verified client with a live account, and a finance officer with the second factor."""
    from django_otp.oath import totp

    from crm.staff_services import otp_device_start, otp_setup_confirm
    from portal.models import ClientLogin, ConsentDocument, ConsentKind
    from portal.services import (
        portal_email_verify,
        portal_first_live_account_open,
        portal_register,
        verification_token,
    )
    from tests.wallet.withdrawal_support import kyc_approve
    from trading.registry import adapters_reset
    from trading.services import brand_trading_policy_set, leverage_cap_save, platform_server_save
    from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save

    settings.PORTAL_REGISTER_RATE_LIMIT = "1000/m"
    settings.PORTAL_LOGIN_RATE_LIMIT = "1000/m"
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"
    mt5 = start_simulator(tmp_path / "mt5sim")
    psp = start_psp()
    brand = make_brand(code="atlas-w", name="Atlas Wallet", served_countries=["GB"])
    for kind in ConsentKind.values:
        ConsentDocument.objects.create(brand=brand, kind=kind, version="1", language="en", title=f"{kind} v1")
    server = platform_server_save(actor=None, manager_password=MANAGER_PASSWORD,
                                  **server_values(mt5, brand, name="Atlas Live"))
    brand_trading_policy_set(actor=None, brand=brand, max_leverage_live=500, max_leverage_demo=500,
                             live_min_stage="registered", live_requires_verification=True)
    # The brand's own cap for its UK retail clients (a brand's rule wins over the FCA's default of 1:30):
    # this journey is not about caps.
    leverage_cap_save(actor=None, brand=brand, country="GB", classification="retail", max_leverage=500)
    provider = payment_provider_save(code="psp-sim", name="PSP simulator", kind="simulator", base_url=psp.base_url,
                                     api_key=API_KEY, api_secret=API_SECRET, webhook_secret=WEBHOOK_SECRET)
    # The simulator's own fees (2.9 % + 0.30 a card payment, 1.00 a payout), as make run configures them.
    for direction, fixed, percent in (("deposit", "0.30", "2.9"), ("withdrawal", "1.00", "0")):
        payment_method_save(brand=brand, method="card", direction=direction, provider=provider, order=10,
                            currencies=[CurrencyRule("USD", Decimal("10"), Decimal("5000"), Decimal(fixed),
                                                     Decimal(percent))])
    registration = portal_register(brand=brand, language="en", first_name="Laura", last_name="Fischer",
                                   email="laura.fischer@example.com", phone="+442071838555", country="GB",
                                   date_of_birth=date(1988, 3, 14), password=CLIENT_PASSWORD, accept_terms=True,
                                   accept_privacy=True)
    login_row = ClientLogin.objects.get(email_hash=keyed_hash("laura.fischer@example.com", kind="email"))
    portal_email_verify(token=verification_token(login_row))
    client = login_row.client
    kyc_approve(client)
    account = portal_first_live_account_open(client=client)
    assert account is not None, registration
    finance = make_user(role_code=RoleCode.FINANCE, brand=brand, full_name="Fiona Finance",
                        email="fiona@staff.example.com", password=PASSWORD)
    device = otp_device_start(user=finance)
    otp_setup_confirm(user=finance, device=device, token=f"{totp(device.bin_key, drift=-1):06d}")
    try:
        yield type("Money", (), {"brand": brand, "client": client, "account": account, "finance": finance,
                                 "mt5": mt5, "psp": psp, "server": server})
    finally:
        adapters_reset()
        stop_psp(psp)
        stop_simulator(mt5)


@pytest.fixture
def celery_worker(worker_starting, worker_queue, money):  # noqa: F811
    """The worker, ready (once the brand is built)."""
    celery_worker_ready(worker_starting, worker_queue)
    return worker_starting


def _until(page, url: str, selector: str, worker, what: str, state=lambda: "") -> None:
    """Reload `url` until `selector` shows (the worker and the simulators are other processes)."""
    started = time.monotonic()
    while time.monotonic() - started < scaled(SETTLED_MS / 1000):
        page.goto(url)
        if page.locator(selector).count():
            return
        page.wait_for_timeout(1000)
    tail = worker.log_path.read_text(errors="replace")[-3000:]
    pytest.fail(f"{what} did not happen within {time.monotonic() - started:.0f} s: {state()}\nworker log:\n{tail}")


def test_a_client_deposits_transfers_and_withdraws_and_finance_pays_it(live_server, browser, money,
                                                                       celery_worker, settings, tmp_path):
    from django_otp.oath import totp

    from wallet.models import Deposit, Transfer, Withdrawal

    base = live_server.url
    settings.CRM_PUBLIC_URL = base  # the simulator posts its webhooks to the live server
    page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    page.set_default_timeout(scaled_ms(20_000))
    page.goto(f"{base}/portal/{money.brand.code}/login/")
    page.fill("input[name=email]", "laura.fischer@example.com")
    page.fill("input[name=password]", CLIENT_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/portal/")

    # 1. A card deposit through the simulator's hosted checkout.
    page.goto(f"{base}{reverse('portal:wallet_deposit_new')}?currency=USD")
    page.fill("input[name=amount]", "500")
    page.click("button:has-text('Continue to payment')")
    page.wait_for_selector("input[name=card_number]")
    assert page.url.startswith(money.psp.base_url)
    page.fill("input[name=card_number]", "4242 4242 4242 4242")
    page.click("button[type=submit]")
    deposit = Deposit.objects.get(client=money.client)
    page.wait_for_url(re.compile(re.escape(reverse("portal:wallet_deposit", args=[deposit.code]))))
    # The page follows the status by itself until the signed webhook arrived.
    page.wait_for_selector("#deposit-status[data-status=succeeded]", timeout=scaled_ms(SETTLED_MS))
    page.goto(f"{base}{reverse('portal:wallet')}")
    assert "485.20" in page.inner_text("main")  # 500 less the card's fee of 14.80

    # 2. 200 of it to the live trading account; the list follows the transfer by itself.
    page.goto(f"{base}{reverse('portal:wallet_transfer')}")
    page.select_option("select[name=source]", "wallet")
    page.select_option("select[name=target]", str(money.account.code))
    page.fill("input[name=amount]", "200")
    page.click("form[method=post] button.p-btn")
    page.wait_for_selector("tr[data-transfer]")
    transfer = Transfer.objects.get(client=money.client)
    page.wait_for_selector(f"tr[data-transfer='{transfer.code}']:has-text('Completed')", timeout=scaled_ms(SETTLED_MS))
    truth = next(a for a in money.mt5.truth()["accounts"] if a["Login"] == str(money.account.login))
    assert Decimal(truth["Balance"]) == Decimal("200.00")

    # 3. A withdrawal of 100 back to the card: it waits for finance.
    page.goto(f"{base}{reverse('portal:withdraw')}")
    page.fill("input[name=amount]", "100")
    page.fill("input[name=destination]", "4242424242424242")
    page.click("button:has-text('Request the withdrawal')")
    page.wait_for_selector("td:has-text('Requested')")  # the list under the form, once the request is in
    withdrawal = Withdrawal.objects.get(client=money.client)
    assert withdrawal.state == "requested", withdrawal.reason

    # 4. Finance approves it in the queue (second factor first).
    staff = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    staff.set_default_timeout(scaled_ms(20_000))
    login(staff, base, "fiona@staff.example.com", home=False)
    staff.wait_for_url(re.compile(r"/2fa/verify/"))
    staff.fill("input[name=token]", f"{totp(money.finance.totpdevice_set.get().bin_key):06d}")
    staff.click("button:has-text('Verify')")
    staff.wait_for_url(f"{base}/")
    staff.goto(f"{base}{reverse('wallet_withdrawal_queue')}")
    staff.locator(f"form[action='{reverse('wallet_withdrawal_approve', args=[withdrawal.code])}'] button").click()
    staff.wait_for_url(re.compile(re.escape(reverse("wallet_withdrawal_queue"))))
    assert "Approved." in staff.inner_text("main")

    # 5. The worker sends the payout; the provider pays its day's batch and its webhook ends the
    # withdrawal; the client sees it paid.
    _until(page, f"{base}{reverse('portal:withdraw')}", "td:has-text('Processing')", celery_worker,
           "sending the payout", state=lambda: list(Withdrawal.objects.values_list("state", "reason")))
    money.psp.control("/_sim/payouts/process", {})
    _until(page, f"{base}{reverse('portal:withdraw')}", "td:has-text('Paid')", celery_worker, "the payout",
           state=lambda: list(Withdrawal.objects.values_list("state", "reason", "first_approved_by")))
    page.goto(f"{base}{reverse('portal:wallet')}")
    assert "185.20" in page.inner_text("main")  # 485.20 in, 200 to the account, 100 paid out (99 and the fee)

    # 6. Finance reconciles the provider's settlement file of the day, where the card payment arrived
    # 0.50 short: the import runs as a job an RQ worker takes, the break waits in the queue, finance
    # writes the difference off and the adjustment is posted once.
    from wallet.models import ReconciliationBreak
    from wallet.reconciliation import simulator_settlement_fetch

    provider = deposit.provider
    day = date.fromisoformat(money.psp.control("/_sim/status")["today"])
    rows = list(csv.reader(io.StringIO(simulator_settlement_fetch(provider=provider, day=day).decode())))
    assert sorted(row[2] for row in rows[1:]) == ["payment", "payout"], rows  # the header names the columns
    amount = rows[0].index("amount")
    for row in rows[1:]:
        if row[2] == "payment":
            row[amount] = str(Decimal(row[amount]) - Decimal("0.50"))
    statement = tmp_path / "settlement.csv"
    with statement.open("w", newline="") as out:
        csv.writer(out, lineterminator="\n").writerows(rows)
    staff.goto(f"{base}{reverse('wallet_recon_home')}")
    staff.select_option("select[name=provider]", provider.code)
    staff.set_input_files("input[name=file]", str(statement))
    staff.click("form[enctype] button[type=submit]")
    staff.wait_for_url(re.compile(r"/jobs/"))
    # An RQ burst worker takes the job, in this process as the reconciliation's own tests run it (a
    # `manage.py rqworker` of its own cost a fresh Python and Django, 20 s on a loaded machine;
    # tests/crm/test_jobs.py and tests/leads/test_import.py run the command itself).
    rq_work()
    staff.reload()
    status = staff.get_attribute("[data-job-status]", "data-job-status")
    if status != "done":
        failed = django_rq.get_queue("default").failed_job_registry.get_job_ids()
        pytest.fail(f"the import job is {status}: {staff.inner_text('main')}\nfailed jobs: {failed}")
    staff.goto(f"{base}{reverse('wallet_recon_breaks')}")
    opened = list(ReconciliationBreak.objects.filter(status="open").values_list("kind", "difference"))
    assert opened == [("amount_mismatch", Decimal("-0.50"))], opened
    brk = ReconciliationBreak.objects.get(status="open")
    row = staff.locator(f"tr[data-break='{brk.code}']")
    assert "0.50" in row.inner_text()
    row.locator("select[name=resolution]").select_option("write_off")
    row.locator("input[name=note]").fill("Short by the bank's charge; written off.")
    row.locator("button[type=submit]").click()
    staff.wait_for_url(re.compile(re.escape(reverse("wallet_recon_breaks"))))
    assert "Break resolved." in staff.inner_text("main")
    assert staff.locator(f"tr[data-break='{brk.code}']").count() == 0
    brk.refresh_from_db()
    assert (brk.status, brk.resolution, brk.resolved_by_id) == ("resolved", "write_off", money.finance.pk)
    assert brk.adjustment is not None
