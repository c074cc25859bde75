"""The month-end close: figures that tie to the ledger, months closed in order, a closed month
locked (by the database too), late news shown in the next month, the files finance downloads,
and who may see and close."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from decimal import Decimal

import pytest
from django.db import DatabaseError, transaction
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook
from pypdf import PdfReader

from crm.lib.money import Money
from crm.models import AuditLog, RoleCode
from tests.factories import make_brand, make_client, make_user
from tests.wallet.support import wire_deposit
from wallet.close import MonthNotClosable, month_close, month_figures
from wallet.ledger import Leg, clearing_account_for, ledger_post, wallet_account_for
from wallet.models import MonthClose
from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def at(year: int, month: int, day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=UTC)


@pytest.fixture
def world():
    brand = make_brand()
    wire = payment_provider_save(code=f"wire-{uuid.uuid4().hex[:6]}", name="Bank wire", kind="bank_wire", settings={
        "beneficiary": "Test Brokerage Ltd", "iban": "CY17002001280000001200527600", "bic": "BCYPCY2N",
        "bank_name": "Test Bank", "bank_address": "1 Test Street"})
    payment_method_save(brand=brand, method="bank_wire", direction="deposit", provider=wire,
                        currencies=[CurrencyRule("USD", Decimal("10"), None)], order=10)
    client = make_client(brand=brand, country="DE")
    finance = make_user(role_code=RoleCode.FINANCE, brand=brand, full_name="Fiona Finance")
    return brand, wire, client, finance


def paid_out(wire, client, amount: str, when: dt.datetime) -> None:
    """Money paid out of the wallet through the provider, as a withdrawal's capture posts it."""
    wallet = wallet_account_for(client=client, currency="USD")
    clearing = clearing_account_for(provider=wire.code, currency="USD", brand=client.brand_id)
    ledger_post(key=f"test-withdrawal:{uuid.uuid4()}", kind="withdrawal", occurred_at=when,
                legs=[Leg(wallet, -Money(amount, "USD")), Leg(clearing, Money(amount, "USD"))])


def line(figures, key: str) -> Money:
    return next(x.amount for x in figures.lines if x.key == key)


def test_a_month_ties_opening_movements_and_closing(world):
    _brand, wire, client, _finance = world
    wire_deposit(wire, client, "500.00", at(2026, 9, 20))
    wire_deposit(wire, client, "1000.00", at(2026, 10, 3))
    wire_deposit(wire, client, "250.00", at(2026, 10, 30))
    paid_out(wire, client, "300.00", at(2026, 10, 15))
    wire_deposit(wire, client, "75.00", at(2026, 11, 2))  # next month: not in October

    october = month_figures(provider=wire, currency="USD", period=dt.date(2026, 10, 1))

    assert october.opening == Money("500.00", "USD")
    assert line(october, "deposits") == Money("1250.00", "USD")
    assert next(x.count for x in october.lines if x.key == "deposits") == 2
    assert line(october, "withdrawals") == Money("-300.00", "USD")
    assert october.closing == Money("1450.00", "USD")
    assert october.ties and not october.problems


def test_closing_stores_the_figures_and_a_pdf_and_locks_the_month(world):
    _brand, wire, client, finance = world
    wire_deposit(wire, client, "1000.00", at(2026, 10, 3))

    row = month_close(actor=finance, provider=wire, currency="USD", period=dt.date(2026, 10, 1), note="signed off")

    assert row.closing_money == Money("1000.00", "USD")
    text = PdfReader(io.BytesIO(bytes(row.pdf))).pages[0].extract_text()
    assert "1,000.00" in text and "signed off" not in text
    assert "1 / 1" in text  # the page footer of the print stylesheet: the static CSS was read
    assert AuditLog.objects.filter(action="wallet.month_closed", object_id=str(row.code)).exists()
    # Closed twice: refused, naming the month.
    with pytest.raises(MonthNotClosable, match="2026-10"):
        month_close(actor=finance, provider=wire, currency="USD", period=dt.date(2026, 10, 1))
    # The database itself refuses to change or delete a closed month.
    for statement in (lambda: MonthClose.objects.filter(pk=row.pk).update(closing=Decimal("1")),
                      lambda: MonthClose.objects.filter(pk=row.pk).delete()):
        with pytest.raises(DatabaseError, match="is closed"), transaction.atomic():
            statement()
    assert MonthClose.objects.get(pk=row.pk).closing == Decimal("1000.00")


def test_late_news_about_a_closed_month_shows_in_the_next_month_and_never_changes_it(world):
    _brand, wire, client, finance = world
    wire_deposit(wire, client, "1000.00", at(2026, 9, 10))
    september = month_close(actor=finance, provider=wire, currency="USD", period=dt.date(2026, 9, 1))
    # A confirmation dated in September arrives after September was closed.
    wire_deposit(wire, client, "40.00", at(2026, 9, 29))
    wire_deposit(wire, client, "200.00", at(2026, 10, 5))

    again = month_figures(provider=wire, currency="USD", period=dt.date(2026, 9, 1))
    october = month_figures(provider=wire, currency="USD", period=dt.date(2026, 10, 1))

    assert again.closed == september and again.closing == Money("1000.00", "USD")
    assert october.opening == Money("1000.00", "USD") and october.previous == september
    assert line(october, "late") == Money("40.00", "USD")
    assert line(october, "deposits") == Money("200.00", "USD")
    assert october.closing == Money("1240.00", "USD") and october.ties


def test_months_close_in_order_and_only_once_ended(world):
    _brand, wire, client, finance = world
    wire_deposit(wire, client, "100.00", at(2026, 8, 10))
    month_close(actor=finance, provider=wire, currency="USD", period=dt.date(2026, 8, 1))

    with pytest.raises(MonthNotClosable, match="2026-09"):
        month_close(actor=finance, provider=wire, currency="USD", period=dt.date(2026, 10, 1))
    this_month = timezone.localdate().replace(day=1)
    with pytest.raises(MonthNotClosable, match="not ended"):
        month_close(actor=finance, provider=wire, currency="USD", period=this_month)
    month_close(actor=finance, provider=wire, currency="USD", period=dt.date(2026, 9, 1))
    with pytest.raises(MonthNotClosable, match="later month"):
        month_close(actor=finance, provider=wire, currency="USD", period=dt.date(2026, 7, 1))


def test_finance_sees_closes_a_month_and_downloads_the_files(world, client, login_verified):
    _brand, wire, customer, finance = world
    wire_deposit(wire, customer, "1000.00", at(2026, 10, 3))
    login_verified(client, finance)

    overview = client.get(reverse("wallet_close_list"))
    assert overview.status_code == 200 and "Bank wire" in overview.text
    page = client.get(reverse("wallet_close_detail", args=[wire.code, "USD", "2026-10"]))
    assert "Draft: not closed" in page.text and "Close the month" in page.text

    response = client.post(reverse("wallet_close_month", args=[wire.code, "USD", "2026-10"]), {"note": "ok"},
                           follow=True)
    assert "Closed and locked" in response.text and "Close the month" not in response.text

    pdf = client.get(reverse("wallet_close_download", args=[wire.code, "USD", "2026-10", "pdf"]))
    assert pdf["Content-Type"] == "application/pdf" and bytes(pdf.content) == bytes(MonthClose.objects.get().pdf)
    csv = client.get(reverse("wallet_close_download", args=[wire.code, "USD", "2026-10", "csv"]))
    assert "Closing,1000.00" in csv.content.decode("utf-8-sig")
    xlsx = client.get(reverse("wallet_close_download", args=[wire.code, "USD", "2026-10", "xlsx"]))
    cells = {row[0]: row[1] for row in load_workbook(io.BytesIO(xlsx.content)).active.iter_rows(values_only=True)}
    assert cells["Closing"] == Decimal("1000.00") or float(cells["Closing"]) == 1000.0
    # A month that cannot be closed says why and offers no button.
    refused = client.get(reverse("wallet_close_detail", args=[wire.code, "USD", "2026-12"]))
    assert "not ended" in refused.text and "Close the month" not in refused.text


def test_an_agent_cannot_see_or_close_a_month_and_anonymous_is_sent_to_log_in(world, client):
    _brand, wire, customer, _finance = world
    wire_deposit(wire, customer, "1000.00", at(2026, 10, 3))
    url = reverse("wallet_close_detail", args=[wire.code, "USD", "2026-10"])

    anonymous = client.get(url)
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    client.force_login(make_user(role_code=RoleCode.SALES_AGENT, brand=customer.brand))
    assert client.get(url).status_code == 404
    assert client.post(reverse("wallet_close_month", args=[wire.code, "USD", "2026-10"])).status_code == 404
    assert not MonthClose.objects.exists()


def test_a_bad_month_in_the_address_is_not_found(world, client, login_verified):
    _brand, wire, _customer, finance = world
    login_verified(client, finance)
    assert client.get(reverse("wallet_close_detail", args=[wire.code, "USD", "2026-13"])).status_code == 404
    assert client.get(reverse("wallet_close_detail", args=[wire.code, "XXX1", "2026-10"])).status_code == 404
    assert client.get(reverse("wallet_close_detail", args=["nobody", "USD", "2026-10"])).status_code == 404


def test_the_close_counts_the_reconciliation_breaks_still_open(db, django_capture_on_commit_callbacks):
    from tests.wallet.recon_support import DAY, build_world, csv_file, import_file, line, psp_deposit

    world = build_world()
    psp_deposit(world, "100.00", ref="pay_ok")
    psp_deposit(world, "40.00", ref="pay_unseen")  # the provider's file does not carry it
    import_file(world, django_capture_on_commit_callbacks, csv_file(line("pay_ok", "100.00"), line("pay_x", "5.00")))

    march = month_figures(provider=world.provider, currency="USD", period=DAY.replace(day=1))
    row = month_close(actor=world.finance, provider=world.provider, currency="USD", period=DAY.replace(day=1))

    assert march.open_breaks == 2 and row.open_breaks == 2  # missing at the provider, missing in the ledger
    assert line_of(march, "deposits") == Money("140.00", "USD")


def line_of(figures, key: str) -> Money:
    return next(x.amount for x in figures.lines if x.key == key)


def test_the_october_close_pdf_counts_octobers_open_breaks_on_a_letterhead_with_grouped_amounts(
        db, django_capture_on_commit_callbacks):
    from tests.wallet.recon_support import build_world, csv_file, import_file, line, psp_deposit

    world = build_world()
    oct5, oct6, oct7, nov3 = dt.date(2026, 10, 5), dt.date(2026, 10, 6), dt.date(2026, 10, 7), dt.date(2026, 11, 3)
    psp_deposit(world, "1234527.89", ref="pay_big", day=oct5)
    psp_deposit(world, "40.00", ref="pay_unseen", day=oct6)  # the provider's file does not carry it
    import_file(world, django_capture_on_commit_callbacks,
                csv_file(line("pay_big", "1234527.89", day=oct5), line("pay_x", "5.00", day=oct7)))
    # A break of November is not October's.
    import_file(world, django_capture_on_commit_callbacks, csv_file(line("pay_nov", "7.00", day=nov3)),
                name="november.csv")

    row = month_close(actor=world.finance, provider=world.provider, currency="USD", period=dt.date(2026, 10, 1))

    text = PdfReader(io.BytesIO(bytes(row.pdf))).pages[0].extract_text()
    assert row.open_breaks == 2  # missing at the provider and missing in the ledger, both of October
    assert "Reconciliation breaks still open 2" in " ".join(text.split())
    assert "1,234,567.89" in text and "1234567.89" not in text  # the deposits: 1,234,527.89 + 40.00
    assert text.lstrip().startswith(world.brand.name)  # the letterhead: the brand the provider serves


def test_a_closed_month_shows_the_breaks_open_at_the_close_beside_those_open_now_linked(
        db, django_capture_on_commit_callbacks, client, login_verified):
    """The close keeps its count; a break of the month found afterwards is not hidden by it: the
    page, the reprinted PDF and the CSV show both, and the page links to the breaks counted now."""
    from tests.wallet.recon_support import build_world, csv_file, import_file, line, psp_deposit

    world = build_world()
    oct5, oct9 = dt.date(2026, 10, 5), dt.date(2026, 10, 9)
    psp_deposit(world, "500.00", ref="pay_ok", day=oct5)
    import_file(world, django_capture_on_commit_callbacks, csv_file(line("pay_ok", "500.00", day=oct5)))
    row = month_close(actor=world.finance, provider=world.provider, currency="USD", period=dt.date(2026, 10, 1))
    assert row.open_breaks == 0
    # After the close, the provider's late file carries an October payment the ledger never saw.
    import_file(world, django_capture_on_commit_callbacks, csv_file(line("pay_late", "25.00", day=oct9)),
                name="late.csv")
    login_verified(client, world.finance)
    args = [world.provider.code, "USD", "2026-10"]

    page = client.get(reverse("wallet_close_detail", args=args)).text
    at_close = page.split("data-breaks-at-close", 1)[1].split("</tr>", 1)[0]
    now = page.split("data-breaks-now", 1)[1].split("</tr>", 1)[0]
    assert 'class="num">0</td>' in at_close and ">1</a>" in now
    link = now.split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert link.startswith(reverse("wallet_recon_breaks"))
    queue = client.get(link).text
    assert queue.count("data-break=") == 1 and "pay_late" in queue

    reprint = client.get(reverse("wallet_close_download", args=[*args, "pdf-now"]))
    text = " ".join(PdfReader(io.BytesIO(reprint.content)).pages[0].extract_text().split())
    assert reprint["Content-Type"] == "application/pdf"
    assert "Reconciliation breaks open at the close" in text and "still open now" in text
    counts = [text.split(label, 1)[1].split(")", 1)[1].split()[0] for label in
              ("open at the close", "still open now")]
    assert counts == ["0", "1"]
    assert row.pdf_sha256 in text.replace(" ", "")  # names the signed-off original it reprints
    signed = client.get(reverse("wallet_close_download", args=[*args, "pdf"]))
    assert bytes(signed.content) == bytes(row.pdf)  # the signed-off original is still the one stored
    csv = client.get(reverse("wallet_close_download", args=[*args, "csv"])).content.decode("utf-8-sig")
    assert "Open breaks at the close,0" in csv and "Open breaks now,1" in csv
