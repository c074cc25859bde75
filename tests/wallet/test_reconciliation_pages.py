"""Finance's reconciliation pages: the permission trio (finance officer, agent, anonymous), a file
uploaded from the page and imported by the job (its progress page), the same file refused with a
message, and a double-clicked resolution posting once."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as HttpClient
from django.urls import reverse

from crm.models import Job
from tests.wallet.recon_support import build_world, csv_file, line, psp_deposit, work
from wallet.models import LedgerTransaction, ReconciliationBreak, SettlementImport


@pytest.fixture
def world(db):
    return build_world()


@pytest.mark.parametrize("name", ["wallet_recon_home", "wallet_recon_breaks"])
def test_finance_sees_the_pages_an_agent_does_not_and_anonymous_is_sent_to_log_in(world, login_verified, name):
    url = reverse(name)
    finance = HttpClient()
    login_verified(finance, world.finance)
    assert finance.get(url).status_code == 200
    agent = HttpClient()
    agent.force_login(world.agent)
    assert agent.get(url).status_code == 404
    assert agent.post(reverse("wallet_recon_platform")).status_code == 404
    anonymous = HttpClient().get(url)
    assert anonymous.status_code == 302 and "login" in anonymous["Location"]


def test_a_file_uploaded_on_the_page_is_imported_by_the_job_and_the_same_file_is_refused(
        world, login_verified, django_capture_on_commit_callbacks):
    psp_deposit(world, "100.00", ref="pay_1")
    http = HttpClient()
    login_verified(http, world.finance)
    data = csv_file(line("pay_1", "100.00"), line("pay_2", "5.00"))
    with django_capture_on_commit_callbacks(execute=True):
        response = http.post(reverse("wallet_recon_import_start"), {
            "provider": world.provider.code, "file": SimpleUploadedFile("march.csv", data, "text/csv")})
    job = Job.objects.get(kind="wallet.settlement_import")
    assert response.status_code == 302 and response["Location"] == reverse("job_detail", args=[job.code])
    work()
    progress = http.get(reverse("job_detail", args=[job.code]))
    assert b"Lines matched" in progress.content
    imp = SettlementImport.objects.get()
    page = http.get(reverse("wallet_recon_import", args=[imp.code]))
    assert page.status_code == 200 and b"march.csv" in page.content
    breaks = http.get(reverse("wallet_recon_breaks"))
    assert b"pay_2" in breaks.content and b"pay_1" not in breaks.content
    again = http.post(reverse("wallet_recon_import_start"), {
        "provider": world.provider.code, "file": SimpleUploadedFile("march-copy.csv", data, "text/csv")})
    assert again.status_code == 400 and "already imported" in again.content.decode()
    assert SettlementImport.objects.count() == 1


def test_a_double_clicked_resolution_posts_once(world, login_verified, django_capture_on_commit_callbacks):
    from tests.wallet.recon_support import import_file

    imp = import_file(world, django_capture_on_commit_callbacks, csv_file(line("pay_x", "42.00")))
    brk = ReconciliationBreak.objects.get(settlement=imp)
    http = HttpClient()
    login_verified(http, world.finance)
    url = reverse("wallet_recon_break_resolve", args=[brk.code])
    form = {"resolution": "write_off", "note": "unknown payer"}
    first = http.post(url, form)
    second = http.post(url, form, follow=True)
    assert first.status_code == 302
    assert "resolved already" in second.content.decode()
    assert LedgerTransaction.objects.filter(ref_kind="recon_break", ref_code=str(brk.code)).count() == 1
    agent = HttpClient()
    agent.force_login(world.agent)
    assert agent.post(url, form).status_code == 404
