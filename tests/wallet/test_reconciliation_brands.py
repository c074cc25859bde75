"""Reconciliation scoped by brand: finance limited to a brand sees and resolves only that brand's
imports, breaks and month-end closes ("missing" and "not allowed" look the same: 404); a provider
shared by brands is reconciled by finance of every brand, and its breaks are each of the brand
whose money they are about, or house-wide when nothing says whose."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as HttpClient
from django.urls import reverse

from crm.exceptions import NotFound
from crm.models import RoleCode
from tests.factories import make_user
from tests.wallet.recon_support import DAY, build_world, csv_file, import_file, line, psp_deposit
from wallet.close import month_close
from wallet.models import LedgerTransaction, MonthClose, ReconciliationBreak, SettlementImport
from wallet.reconciliation import break_resolve, breaks_for_queue, settlement_import_start


@pytest.fixture
def two(db):
    """Two brands, each with its own provider and finance officer."""
    return build_world(), build_world()


def _http(login_verified, user) -> HttpClient:
    http = HttpClient()
    login_verified(http, user)
    return http


def test_finance_of_another_brand_can_neither_see_nor_resolve_a_break(two, login_verified,
                                                                      django_capture_on_commit_callbacks):
    alpha, beta = two
    imp = import_file(alpha, django_capture_on_commit_callbacks, csv_file(line("pay_alpha", "42.00")))
    brk = ReconciliationBreak.objects.get(settlement=imp)
    assert (imp.brand_id, brk.brand_id) == (alpha.brand.pk, alpha.brand.pk)

    own = _http(login_verified, alpha.finance)
    assert "pay_alpha" in own.get(reverse("wallet_recon_breaks")).content.decode()
    assert own.get(reverse("wallet_recon_import", args=[imp.code])).status_code == 200

    other = _http(login_verified, beta.finance)
    assert "pay_alpha" not in other.get(reverse("wallet_recon_breaks"), {"status": "all"}).content.decode()
    home = other.get(reverse("wallet_recon_home")).content.decode()
    assert imp.file_name not in home and "42.00" not in home
    assert other.get(reverse("wallet_recon_import", args=[imp.code])).status_code == 404
    url = reverse("wallet_recon_break_resolve", args=[brk.code])
    assert other.post(url, {"resolution": "write_off", "note": "not mine"}).status_code == 404
    assert list(breaks_for_queue(user=beta.finance, status="")) == []
    with pytest.raises(NotFound):
        break_resolve(actor=beta.finance, brk=brk, resolution="write_off", note="not mine")
    brk.refresh_from_db()
    assert brk.status == "open"
    assert not LedgerTransaction.objects.filter(ref_kind="recon_break").exists()

    # Its own finance resolves it.
    assert own.post(url, {"resolution": "write_off", "note": "unknown payer"}).status_code == 302
    brk.refresh_from_db()
    assert brk.status == "resolved"


def test_finance_imports_only_files_of_providers_serving_their_brands(two, login_verified):
    alpha, beta = two
    data = csv_file(line("pay_x", "1.00"))
    with pytest.raises(NotFound):
        settlement_import_start(actor=beta.finance, provider=alpha.provider, data=data, file_name="alpha.csv")
    other = _http(login_verified, beta.finance)
    form = other.get(reverse("wallet_recon_home")).content.decode()
    assert f'value="{beta.provider.code}"' in form and f'value="{alpha.provider.code}"' not in form
    answer = other.post(reverse("wallet_recon_import_start"), {
        "provider": alpha.provider.code, "file": SimpleUploadedFile("alpha.csv", data, "text/csv")})
    assert answer.status_code == 400 and "Select a valid choice" in answer.content.decode()
    assert not SettlementImport.objects.exists()


def test_a_shared_providers_breaks_are_each_of_the_brand_whose_money_they_are_about(
        two, login_verified, django_capture_on_commit_callbacks):
    alpha, _beta = two
    shared = build_world(provider=alpha.provider)  # a second brand paid through the same provider
    everyone = make_user(role_code=RoleCode.FINANCE, all_brands=True, full_name="Group Finance")
    alpha_tx = psp_deposit(alpha, "10.00", ref="pay_alpha")
    shared_tx = psp_deposit(shared, "20.00", ref="pay_shared")

    # Only finance of every brand takes the shared provider's file.
    with pytest.raises(NotFound):
        settlement_import_start(actor=alpha.finance, provider=alpha.provider, data=csv_file(line("x", "1")),
                                file_name="x.csv")
    imp = import_file(SimpleWorld(everyone, alpha.provider), django_capture_on_commit_callbacks,
                      csv_file(line("pay_stranger", "5.00")))
    assert imp.brand_id is None
    kinds = {(b.kind, b.brand_id) for b in ReconciliationBreak.objects.filter(settlement=imp)}
    assert kinds == {("missing_at_provider", alpha.brand.pk), ("missing_at_provider", shared.brand.pk),
                     ("missing_in_ledger", None)}

    def seen(user) -> set[tuple[str, int | None]]:
        return {(b.kind, b.transaction_id) for b in breaks_for_queue(user=user)}

    assert seen(alpha.finance) == {("missing_at_provider", alpha_tx.pk)}
    assert seen(shared.finance) == {("missing_at_provider", shared_tx.pk)}
    assert seen(everyone) == {("missing_at_provider", alpha_tx.pk), ("missing_at_provider", shared_tx.pk),
                              ("missing_in_ledger", None)}
    assert _http(login_verified, alpha.finance).get(reverse("wallet_recon_import", args=[imp.code])).status_code == 404


def test_finance_of_every_brand_a_provider_serves_imports_and_sees_its_shared_files(
        two, login_verified, django_capture_on_commit_callbacks):
    alpha, beta = two
    shared = build_world(provider=alpha.provider)  # alpha's provider serves a second brand too
    both = make_user(role_code=RoleCode.FINANCE, brands=[alpha.brand, shared.brand], full_name="Both Brands")
    psp_deposit(alpha, "10.00", ref="pay_alpha")

    imp = import_file(SimpleWorld(both, alpha.provider), django_capture_on_commit_callbacks,
                      csv_file(line("pay_stranger", "5.00")))
    assert imp.brand_id is None  # house-wide: the file speaks for both brands
    stranger = ReconciliationBreak.objects.get(settlement=imp, kind="missing_in_ledger")
    assert stranger.brand_id is None

    http = _http(login_verified, both)
    home = http.get(reverse("wallet_recon_home")).content.decode()
    assert imp.file_name in home  # the file it imported is listed, not "no file imported yet"
    assert http.get(reverse("wallet_recon_import", args=[imp.code])).status_code == 200
    assert stranger in list(breaks_for_queue(user=both, status=""))
    # Finance of one of the two brands, or of another brand, still sees neither.
    for outsider in (alpha.finance, beta.finance):
        assert imp.file_name not in _http(login_verified, outsider).get(reverse("wallet_recon_home")).content.decode()
        assert stranger not in list(breaks_for_queue(user=outsider, status=""))


def test_month_end_closes_of_another_brands_provider_are_out_of_reach(two, login_verified):
    alpha, beta = two
    psp_deposit(alpha, "100.00", ref="pay_alpha")
    period = DAY.strftime("%Y-%m")
    detail = reverse("wallet_close_detail", args=[alpha.provider.code, "USD", period])

    assert _http(login_verified, alpha.finance).get(detail).status_code == 200
    other = _http(login_verified, beta.finance)
    assert other.get(detail).status_code == 404
    assert other.post(reverse("wallet_close_month", args=[alpha.provider.code, "USD", period])).status_code == 404
    assert other.get(reverse("wallet_close_download", args=[alpha.provider.code, "USD", period, "csv"])).status_code == 404
    assert alpha.provider.code not in other.get(reverse("wallet_close_list")).content.decode()
    with pytest.raises(NotFound):
        month_close(actor=beta.finance, provider=alpha.provider, currency="USD", period=DAY.replace(day=1))
    assert not MonthClose.objects.exists()


class SimpleWorld:
    """What recon_support.import_file needs: who imports, and which provider's file."""

    def __init__(self, finance, provider) -> None:
        self.finance, self.provider = finance, provider
