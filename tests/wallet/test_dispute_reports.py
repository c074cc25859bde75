"""A provider's dispute report (issue 60: "a chargeback or retrieval request from a provider, webhook or
the provider's report file, opens a dispute case"): the command and finance's page read the whole
file first, name every bad row by row and column and write nothing then; good rows open the cases as
a provider's notification does (the amount held on the wallet); the same report again changes nothing;
a chargeback row after a retrieval request escalates it; nobody reaches another brand's deposits."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from crm.models import AuditLog, RoleCode
from tests.crm.api_support import session_client
from tests.factories import make_brand, make_client, make_user
from tests.wallet.test_disputes import World
from wallet.ledger import available
from wallet.models import Dispute, DisputeKind, DisputeStatus

D = Decimal


@pytest.fixture(autouse=True)
def _storage(settings, tmp_path):
    settings.WALLET_DISPUTE_STORAGE_DIR = tmp_path / "disputes"
    settings.KYC_STORAGE_DIR = tmp_path / "kyc"


@pytest.fixture
def world(db, psp, hooks, settings):
    settings.CRM_PUBLIC_URL = hooks.url.removesuffix("/hooks")
    return World(psp, hooks)


def _run(tmp_path, text, *args):
    path = tmp_path / "report.csv"
    path.write_text(text)
    out = io.StringIO()
    call_command("wallet_disputes_import", "psp-sim", str(path), *args, stdout=out)
    return out.getvalue()


def test_a_report_opens_the_chargebacks_it_lists_once_and_a_dry_run_writes_nothing(world, tmp_path):
    first, second = world.pay("100.00"), world.pay("40.00")
    report = ("Transaction ID;Type;Amount;Currency;Reason Code;Reason;Deadline;Case ID\n"
              f"{first.provider_ref};First Chargeback;60.00;USD;10.4;Fraud, card absent;2030-03-15;CB-1\n"
              f"{second.merchant_ref};RFI;;;;Copy of the receipt asked;;RR-2\n")

    assert "would open 2" in _run(tmp_path, report, "--dry-run")
    assert not Dispute.objects.exists()
    assert available(world.wallet()).amount == D("139.00")

    assert "opened 2, escalated 0, already known 0" in _run(tmp_path, report)
    chargeback = Dispute.objects.get(deposit=first)
    assert (chargeback.kind, chargeback.status, chargeback.amount, chargeback.reason_code, chargeback.provider_ref) == (
        DisputeKind.CHARGEBACK, DisputeStatus.OPEN, D("60.00"), "10.4", "CB-1")
    assert chargeback.due_at == dt.datetime(2030, 3, 15, 23, 59, 59, tzinfo=dt.UTC)
    retrieval = Dispute.objects.get(deposit=second)
    assert (retrieval.kind, retrieval.amount, retrieval.reason) == (
        DisputeKind.RETRIEVAL_REQUEST, D("40.00"), "Copy of the receipt asked")
    # The chargeback holds its 60 on the wallet; a retrieval request takes no money.
    assert available(world.wallet()).amount == D("79.00")
    audits = AuditLog.objects.filter(action="wallet.dispute_report_imported").count()

    assert "opened 0, escalated 0, already known 2" in _run(tmp_path, report)
    assert Dispute.objects.count() == 2 and available(world.wallet()).amount == D("79.00")
    assert AuditLog.objects.filter(action="wallet.dispute_report_imported").count() == audits + 1

    escalation = f"reference,kind,amount,currency\n{second.provider_ref},chargeback,40,USD\n"
    assert "opened 0, escalated 1, already known 0" in _run(tmp_path, escalation)
    retrieval.refresh_from_db()
    assert retrieval.kind == DisputeKind.CHARGEBACK
    assert available(world.wallet()).amount == D("39.00")


def test_every_bad_row_is_named_and_nothing_is_opened(world, tmp_path):
    paid = world.pay("100.00")
    other, third = world.pay("20.00"), world.pay("30.00")
    report = ("reference,kind,amount,currency,due_date\n"
              f"{paid.provider_ref},chargeback,150,USD,\n"
              "nobody-knows-this,chargeback,,,\n"
              f"{other.provider_ref},refund request,,,\n"
              f"{third.merchant_ref},chargeback,10,EUR,31/12/2030\n"
              f"{paid.merchant_ref},chargeback,,,\n")
    with pytest.raises(CommandError) as raised:
        _run(tmp_path, report)
    text = str(raised.value)
    assert "row 2, column amount: More than is left of the deposit (100" in text
    assert "row 3, column reference: No deposit of PSP simulator has the reference 'nobody-knows-this'" in text
    assert "row 4, column kind: 'refund request' is not a dispute kind" in text
    assert "row 5, column currency: The deposit is in USD." in text
    assert "row 5, column due_date: '31/12/2030' is not a date" in text
    assert "row 6, column reference: The same payment as row 2." in text
    assert not Dispute.objects.exists()
    with pytest.raises(CommandError, match="no kind column"):
        _run(tmp_path, f"reference,amount\n{paid.provider_ref},10\n")


def test_finance_checks_then_imports_a_report_on_the_page(world, login_verified):
    paid = world.pay("100.00")
    browser = session_client(world.finance, login_verified)
    url = reverse("wallet_dispute_report")
    assert f'href="{url}"' in browser.get(reverse("wallet_dispute_queue")).content.decode()

    def upload(text):
        return browser.post(url, {"action": "check", "provider": "psp-sim",
                                  "file": SimpleUploadedFile("report.csv", text.encode())})

    bad = upload(f"reference,kind\n{paid.provider_ref},maybe\n")
    assert bad.status_code == 400 and "row 2, column kind" in bad.content.decode()
    assert "value=\"import\"" not in bad.content.decode()

    checked = upload(f"reference,kind,reason_code,due_date\n{paid.provider_ref},chargeback,13.1,2030-03-15\n")
    page = checked.content.decode()
    assert checked.status_code == 200 and 'data-effect="open"' in page and "opens a case" in page
    assert "2030-03-15 23:59 UTC" in page  # the day the provider gave, shown as the CRM reads it
    assert not Dispute.objects.exists()

    done = browser.post(url, {"action": "import"}, follow=True)
    assert "1 disputes opened" in done.content.decode()
    dispute = Dispute.objects.get(deposit=paid)
    assert dispute.reason_code == "13.1" and str(dispute.code) in done.content.decode()
    # The report was used: importing again without checking asks for the check.
    again = browser.post(url, {"action": "import"}, follow=True)
    assert "Check the report again" in again.content.decode()


def test_finance_of_another_brand_does_not_reach_the_deposit(world, login_verified, tmp_path):
    paid = world.pay("100.00")
    stranger_brand = make_brand()
    make_client(brand=stranger_brand)
    stranger = make_user(role_code=RoleCode.FINANCE, brand=stranger_brand)
    browser = session_client(stranger, login_verified)
    response = browser.post(reverse("wallet_dispute_report"), {
        "action": "check", "provider": "psp-sim",
        "file": SimpleUploadedFile("r.csv", f"reference,kind\n{paid.provider_ref},chargeback\n".encode())})
    assert response.status_code == 400 and "No deposit of PSP simulator has the reference" in response.content.decode()
    assert not Dispute.objects.exists()
