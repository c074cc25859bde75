"""Every amount a person reads, on every staff page, page of the trader's room and of the partner
portal, and in every PDF, at its currency's decimals.

The one formatter (crm.lib.money.money_format, the `money` template filter) places the amount by the
currency's minor unit and the language's marks. The sweep below builds a small brokerage through the
services (deposits in USD, EUR, JPY, KWD, BTC and USDT, a withdrawal paid, deals, a compliance case
with its report to the regulator, a partner's commission), crawls every staff page an administrator
reaches (tests/crawl.py), renders every report on its page and as the HTML its PDF is laid out from,
and fails naming the page and the amount wherever a number next to a currency code, or in a table
row whose currency is named in a cell, shows more decimals than that currency has. A second sweep
signs that brokerage's first client into the trader's room and a partner into the partner portal,
crawls their pages and downloads their statements the same way.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from decimal import Decimal
from html import unescape
from html.parser import HTMLParser
from typing import Any

import pytest
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import translation

from crm.lib.money import Money, currency_table, money_format
from crm.templatetags.crm_ui import money as money_filter
from crm.templatetags.crm_ui import money_number

NBSP = "\u00a0"


# --- the formatter --------------------------------------------------------------------------------

@pytest.mark.parametrize(("amount", "currency", "english", "arabic"), [
    ("2000.00000000", "USD", "2,000.00 USD", "2.000,00 USD"),
    ("1234567.891", "USD", "1,234,567.89 USD", "1.234.567,89 USD"),
    ("150000.00000000", "JPY", "150,000 JPY", "150.000 JPY"),
    ("250.12500000", "KWD", "250.125 KWD", "250,125 KWD"),
    ("1999.5", "BHD", "1,999.500 BHD", "1.999,500 BHD"),
    ("0.05", "BTC", "0.05000000 BTC", "0,05000000 BTC"),
    ("1500.5", "USDT", "1,500.500000 USDT", "1.500,500000 USDT"),
    ("-12.345", "EUR", "-12.34 EUR", "-12,34 EUR"),  # half-even: a computed figure, never truncated
])
def test_the_formatter_places_each_currency_by_its_minor_unit_in_both_languages(amount, currency, english, arabic):
    money = Money(amount, currency)
    with translation.override("en"):
        assert money_format(money) == english.replace(" ", NBSP)
        assert money_filter(Decimal(amount), currency) == english.replace(" ", NBSP)
        assert money_number(Decimal(amount), currency) == english.rsplit(" ", 1)[0]
    with translation.override("ar"):
        assert money_format(money) == arabic.replace(" ", NBSP)
        assert money_filter(money) == arabic.replace(" ", NBSP)


def test_crypto_decimals_come_from_the_currency_table(settings):
    settings.CRM_CURRENCY_EXPONENTS = {"USDT": 2, "ETH": 8}
    with translation.override("en"):
        assert money_format(Money("1500.5", "USDT")) == f"1,500.50{NBSP}USDT"
        assert money_format(Money("0.1", "ETH")) == f"0.10000000{NBSP}ETH"


# --- the checker ----------------------------------------------------------------------------------

# An amount as the English pages write it, grouped or not: "2,000.00", "2000.00000000", "-12.5".
_NUMBER = r"[-\u2212+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_CODE = r"[A-Z][A-Z0-9]{1,9}"
_NEAR = re.compile(rf"(?<![\w.,/:-])(?P<n1>{_NUMBER})\s*(?P<c1>{_CODE})\b"
                   rf"|\b(?P<c2>{_CODE})\s*(?P<n2>{_NUMBER})(?![\w.,/:-])")
_ALONE = re.compile(rf"^{_NUMBER}$")
_UNGROUPED = re.compile(r"^[-\u2212+]?\d{4,}")
# Rates, not amounts (a plan's "7.5000 USD per lot", an exchange rate "1 EUR = 1.085650 USD"): a
# rate keeps the decimals it was set with.
_PER_UNIT = re.compile(r"\s+per\s")
_RATE_OF_ONE = re.compile(rf"\b1\s*{_CODE}\s*=\s*$")
# Table columns that hold no amount although their row names a currency.
_NOT_AMOUNT_HEADER = re.compile(r"%|\blots?\b|\bvolume\b|\brate\b|\bprice\b", re.IGNORECASE)


def _decimals(number: str) -> int:
    return len(number.rsplit(".", 1)[1]) if "." in number else 0


class _Text(HTMLParser):
    """The text of a page in runs (a cell, a paragraph: no two cells are read as one sentence), and
    its tables' rows as lists of cell texts with the header above each."""

    _BREAKS = frozenset({"td", "th", "tr", "p", "li", "div", "dt", "dd", "h1", "h2", "h3", "h4", "br", "option",
                         "section", "table", "span", "button", "a", "label"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.runs: list[str] = []
        self.rows: list[tuple[list[str], list[str]]] = []  # (header, cells)
        self._run: list[str] = []
        self._skip = 0
        self._header: list[str] = []
        self._cells: list[str] | None = None
        self._cell: list[str] | None = None
        self._in_head = False

    def _flush(self) -> None:
        text = " ".join("".join(self._run).replace(NBSP, " ").split())
        if text:
            self.runs.append(text)
        self._run = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "textarea"):
            self._skip += 1
        if tag == "thead":
            self._in_head, self._header = True, []
        if tag == "tr":
            self._cells = []
        if tag in ("td", "th"):
            self._cell = []
        if tag in self._BREAKS and tag not in ("span", "a"):
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "textarea"):
            self._skip = max(0, self._skip - 1)
        if tag in ("td", "th") and self._cell is not None and self._cells is not None:
            self._cells.append(" ".join("".join(self._cell).replace(NBSP, " ").split()))
            self._cell = None
        if tag == "tr" and self._cells is not None:
            if self._in_head:
                self._header = self._cells
            else:
                self.rows.append((self._header, self._cells))
            self._cells = None
        if tag == "thead":
            self._in_head = False
        if tag == "table":
            self._header = []
        if tag in self._BREAKS and tag not in ("span", "a"):
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self._run.append(data)
        if self._cell is not None:
            self._cell.append(data)


def too_precise(html: str) -> list[str]:
    """Each amount in `html` (English marks) written with more decimals than its currency has, and
    each written next to its code in thousands without grouping (not by the formatter: "1500.00 USD")."""
    table = currency_table()
    parser = _Text()
    parser.feed(html)
    parser.close()
    found: list[str] = []
    for run in parser.runs:
        for m in _NEAR.finditer(run):
            number, code = (m["n1"], m["c1"]) if m["n1"] else (m["n2"], m["c2"])
            if _PER_UNIT.match(run, m.end()) or _RATE_OF_ONE.search(run[:m.start()]):
                continue
            if code in table and _decimals(number) > table[code]:
                found.append(f"{number} {code} (in “{run[:120]}”)")
            elif code in table and _UNGROUPED.match(number):
                found.append(f"{number} {code} not grouped by the formatter (in “{run[:120]}”)")
    for header, cells in parser.rows:
        codes = {cell for cell in cells if cell in table}
        if len(codes) != 1:
            continue
        code = codes.pop()
        for i, cell in enumerate(cells):
            column = header[i] if i < len(header) else ""
            if _ALONE.match(cell) and not _NOT_AMOUNT_HEADER.search(column) and _decimals(cell) > table[code]:
                found.append(f"{cell} in a {code} row (column “{column}”)")
    return found


def test_the_checker_finds_amounts_beside_their_code_and_in_a_rows_currency():
    assert too_precise("<p>Deposited 2000.00000000 USD today</p>") == [
        "2000.00000000 USD (in “Deposited 2000.00000000 USD today”)"]
    assert too_precise("<td>USD 12.345</td>")
    assert too_precise(f"<td>1,500{NBSP}JPY.</td><td>0.50000000 BTC</td><td>250.125 KWD</td>") == []
    assert too_precise("<td>150000.5 JPY</td>")
    assert too_precise("<td>1500.00 USD</td>") == [
        "1500.00 USD not grouped by the formatter (in “1500.00 USD”)"]
    table = ("<table><thead><tr><th>Day</th><th>Currency</th><th>Deposited</th><th>Share %</th></tr></thead>"
             "<tbody><tr><td>1 Mar</td><td>{code}</td><td>{amount}</td><td>12.5</td></tr></tbody></table>")
    assert too_precise(table.format(code="USD", amount="2000.00000000")) == [
        "2000.00000000 in a USD row (column “Deposited”)"]
    assert too_precise(table.format(code="USD", amount="2,000.00")) == []
    assert too_precise(table.format(code="JPY", amount="2,000")) == []  # the share is no amount
    # A choice's text is read too (a payment method's limits).
    assert too_precise("<select><option>Card (10.00 EUR – 20000.00 EUR)</option></select>") == [
        "20000.00 EUR not grouped by the formatter (in “Card (10.00 EUR – 20000.00 EUR)”)"]
    # Rates are no amounts: per lot, and one unit of a currency in another; the amount beside them is.
    assert too_precise("<dd>7.5000 USD per lot</dd><dd>1 EUR = 1.085650 USD</dd>") == []
    assert too_precise("<dd>2 × 7.5000 = 15.0000 USD</dd>") == ["15.0000 USD (in “2 × 7.5000 = 15.0000 USD”)"]
    # Text that is not an amount: a symbol, a version, a time.
    assert too_precise("<p>EURUSD 1.08565, v2.10.3, 12:30:15 UTC, Bank wire BTC 2026-10</p>") == []


# --- the sweep ------------------------------------------------------------------------------------

_n = itertools.count(1)
# Staff pages this sweep leaves out, each with why.
NOT_SWEPT = {
    "/monitoring/budget/": "alert budgets and recall rates, no amount; it replays the desk's scores (seconds a render)",
}


class _PdfCapture:
    """Stands for weasyprint.HTML: keeps the HTML each PDF is laid out from, lays nothing out."""

    documents: list[str] = []  # noqa: RUF012 - reset per test by the fixture

    def __init__(self, *, string: str, url_fetcher: Any = None, **_: Any) -> None:
        self.documents.append(string)

    def write_pdf(self, *_: Any, **__: Any) -> bytes:
        return b"%PDF-1.7\n% captured by the test\n"


@pytest.fixture
def pdfs(monkeypatch) -> list[str]:
    import weasyprint

    _PdfCapture.documents = []
    monkeypatch.setattr(weasyprint, "HTML", _PdfCapture)
    return _PdfCapture.documents


def _brokerage(settings, tmp_path) -> Any:
    """The reporting world (USD and EUR wires, a withdrawal paid, deals) plus deposits in JPY, KWD,
    BTC and USDT, a partner the first client is attributed to, an AML alert on the JPY deposit and a
    compliance case about that client with its narrative, all through the services."""
    from compliance.aml import aml_evaluate, aml_rule_create
    from compliance.cases import case_item_attach, case_narrative_set, case_review_start
    from compliance.models import AmlAlert, AmlRuleKind
    from crm.models import RoleCode
    from ib.services import client_attribution_import, partner_create
    from tests.factories import make_user
    from tests.reports.world import build, settle
    from wallet.demo import demo_wire_deposit, demo_wire_provider
    from wallet.services import CurrencyRule, payment_method_save

    settings.COMPLIANCE_CASE_STORAGE_DIR = tmp_path / "cases"
    w = build()
    wire = demo_wire_provider()
    payment_method_save(brand=w.brand, method="bank_wire", direction="deposit", provider=wire, currencies=[
        CurrencyRule(c, Decimal(minimum), Decimal(maximum)) for c, minimum, maximum in (
            ("USD", "100", "20000"), ("EUR", "100", "20000"), ("JPY", "1000", "5000000"), ("KWD", "10", "5000"),
            ("BTC", "0.001", "5"), ("USDT", "10", "20000"))],
        order=200)
    yesterday = w.now - dt.timedelta(days=1)
    for amount in (Money("150000", "JPY"), Money("250.125", "KWD"), Money("0.05", "BTC"), Money("1500.5", "USDT")):
        demo_wire_deposit(provider=wire, client=w.c1, amount=amount, at=yesterday, n=1000 + next(_n))
    # A partner whose client trades: the IB earnings set the revenue the client brought against it.
    w.partner = partner_create(actor=None, brand=w.brand, display_name="Gulf Partners", email="gulf@ib.example")
    client_attribution_import(actor=None, client=w.c1, partner=w.partner, touched_at=w.now - dt.timedelta(days=30))
    settle()
    w.officer = make_user(role_code=RoleCode.COMPLIANCE, brand=w.brand)
    # A large-transaction rule that the JPY deposit trips: an AML alert with its transactions.
    aml_rule_create(brand=w.brand, kind=AmlRuleKind.LARGE_TRANSACTION, name="Large", actor=w.officer,
                    parameters={"amounts": {"JPY": "100000"}, "direction": "both"},
                    effective_from=w.now - dt.timedelta(days=400))
    report = aml_evaluate(since=w.now - dt.timedelta(days=2), until=w.now + dt.timedelta(minutes=1), brand_id=w.brand.pk)
    w.alert = AmlAlert.objects.get(pk__in=report.raised)
    case = case_item_attach(client=w.c1, kind="aml_alert", ref_id=7, summary="deposits in five currencies", score=80).case
    case = case_review_start(case=case, actor=w.officer)
    w.case = case_narrative_set(case=case, actor=w.officer, narrative="Deposits in five currencies in one day.")
    return w


def test_no_staff_page_or_pdf_shows_more_decimals_than_the_currency_has(db, settings, tmp_path, login_verified,
                                                                       pdfs):
    from reports.catalogue import REPORTS, Params, report_build, result_csv, result_pdf
    from reports.selectors import Period, dashboard_scope
    from tests.crawl import crawl

    w = _brokerage(settings, tmp_path)
    wrong: dict[str, list[str]] = {}
    seen: dict[str, str] = {}  # where -> its text

    def check(where: str, html: str) -> None:
        seen[where] = unescape(html).replace(NBSP, " ")
        if found := too_precise(html):
            wrong[where] = found

    admin = HttpClient()
    login_verified(admin, w.admin)
    for page in crawl(admin, skip=NOT_SWEPT):
        check(page.link, page.response.content.decode())
    # The compliance officer's case page and the report to the regulator (drafted as a PDF).
    officer = HttpClient()
    login_verified(officer, w.officer)
    check("case page", officer.get(reverse("compliance_case_detail", args=[w.case.code])).content.decode())
    assert officer.get(reverse("compliance_case_sar", args=[w.case.code])).status_code == 200
    check("AML alert page", officer.get(reverse("compliance_aml_alert", args=[w.alert.code])).content.decode())
    # This month's close of the wires in USD, on its page and in its PDF; the client's wallet statement.
    close = ["bank-wire", "USD", f"{w.now:%Y-%m}"]
    check("close page", admin.get(reverse("wallet_close_detail", args=close)).content.decode())
    assert admin.get(reverse("wallet_close_download", args=[*close, "pdf-now"])).status_code == 200
    assert admin.get(reverse("wallet_client_statement", args=[w.c1.code]), {"currency": "USD"}).status_code == 200
    # Every report over the days the money moved, on its page and in its PDF.
    period = Period(w.now.date() - dt.timedelta(days=3), w.now.date())
    query = f"?from={period.start:%Y-%m-%d}&to={period.end:%Y-%m-%d}"
    built = {}
    for name in REPORTS:
        check(f"report {name}", admin.get(reverse("reports_report", args=[name]) + query).content.decode())
        built[name] = report_build(name=name, user=w.admin, scope=dashboard_scope(w.admin), params=Params(period=period))
        result_pdf(built[name], Params(period=period))
    for html in pdfs:
        title = re.search(r"<title>(.*?)</title>", html, re.S)
        check(f"PDF {unescape(title.group(1)).strip() if title else '?'}", html)
    assert not wrong, "\n".join(f"{where}: {'; '.join(found)}" for where, found in sorted(wrong.items()))
    # The sweep read what it was meant to: every currency's amounts, on the pages and in the PDFs.
    assert len(seen) > 60
    sar = next(text for where, text in seen.items() if where.startswith("PDF Suspicious activity report"))
    for text in (seen["case page"], sar):
        for amount in ("1,000.00 USD", "150,000 JPY", "250.125 KWD", "0.05000000 BTC", "1,500.500000 USDT"):
            assert amount in text
    assert "150,000 JPY" in seen["report daily_money"] and "150,000 JPY" in seen["PDF Daily money report"]
    assert "1,000.00 USD" in seen["report agent_league"] and "-75.00 USD" in seen["report top_traders"]
    assert "150,000 JPY" in seen["AML alert page"] and "1,950.00 USD" in seen["close page"]
    assert any(where.startswith("PDF Wallet statement") and "1,000.00 USD" in text for where, text in seen.items())
    # The files keep the amounts as plain numbers, at the currency's decimals too.
    exported = result_csv(built["daily_money"]).decode()
    assert ",150000," in exported and ",250.125," in exported and "00000000" not in exported
    assert "Gulf Partners" in seen["report ib_earnings"] and "400.00 USD" in seen["report withdrawals_by_provider"]


# --- the trader's room and the partner portal -----------------------------------------------------

PASSWORD = "Quiet-Harbour-9174"  # noqa: S105 - a test password
# The rooms' own pages: a client's or partner's session reaches no staff page (they redirect to a login).
ROOMS = ("/portal/", "/partners/")


def _trader(w: Any, settings: Any) -> HttpClient:
    """The brokerage's first client (deposits in six currencies, a withdrawal paid, two accounts with
    deals) registers in the trader's room with the address the brokerage knows, has bought a prop
    challenge (waiting for its account), and signs in."""
    from crm.services import client_update
    from portal.services import portal_email_verify, portal_register, verification_token
    from trading.prop import challenge_create, challenge_product_save

    for limit in ("PORTAL_REGISTER_RATE_LIMIT", "PORTAL_LOGIN_RATE_LIMIT", "PORTAL_MAIL_RATE_LIMIT"):
        setattr(settings, limit, "1000/m")
    client_update(actor=None, client=w.c1, email="ada.k@example.com", reason="the client's address")
    login = portal_register(brand=w.brand, language="en", first_name="Ada", last_name="Kovacs",
                            email="ada.k@example.com", phone="+442071838111", country="DE",
                            date_of_birth=dt.date(1990, 4, 2), password=PASSWORD, accept_terms=True,
                            accept_privacy=True).login
    assert login is not None and login.client_id == w.c1.pk
    portal_email_verify(token=verification_token(login))
    product = challenge_product_save(
        actor=None, brand=w.brand, key="ten-k", name="10K Challenge", server=w.server, account_type="standard",
        currency="USD", account_size="10000", fee="99.5", daily_loss_pct="5", daily_loss_basis="balance",
        max_loss_pct="10", max_loss_mode="static",
        phases=[{"name": "Phase 1", "profit_target_pct": "10", "min_trading_days": 0, "time_limit_days": 30}])
    challenge_create(client=w.c1, product=product, purchase_ref="sweep-challenge-1")
    trader = HttpClient(REMOTE_ADDR="10.20.30.40")
    signed = trader.post(reverse("portal:login_brand", args=[w.brand.code]),
                         {"email": "ada.k@example.com", "password": PASSWORD})
    assert signed.status_code == 302, signed.content.decode()[:2000]
    return trader


def _partner() -> tuple[Any, HttpClient]:
    """The partner portal's world (tests.ib: a partner tree, commission lines computed and settled
    in USD), its partner's own client depositing in JPY and KWD too, the partner signed in."""
    from ib import commissions
    from tests.ib.test_partner_portal import portal_world, sign_in

    w = portal_world()
    commissions.deposit_record(client=w.own, amount=Money("150000", "JPY"), at=dt.datetime(2024, 3, 3, tzinfo=dt.UTC),
                               reference="dep-maria-jpy")
    commissions.deposit_record(client=w.own, amount=Money("250.125", "KWD"), at=dt.datetime(2024, 3, 3, tzinfo=dt.UTC),
                               reference="dep-maria-kwd")
    http, response = sign_in(w)
    assert response.status_code == 302
    return w, http


def rooms_sweep(trader: HttpClient, partner: HttpClient, *, period: str) -> tuple[dict[str, list[str]],
                                                                                    dict[str, str]]:
    """Crawl the trader's room as `trader` and the partner portal as `partner`, download the
    client's wallet statements in each currency and the partner's statement of `period` (their PDFs
    captured by the `pdfs` fixture), and check each page: what was shown wrong, and each page's text."""
    from tests.crawl import crawl

    wrong: dict[str, list[str]] = {}
    seen: dict[str, str] = {}

    def check(where: str, html: str) -> None:
        seen[where] = unescape(html).replace(NBSP, " ")
        if found := too_precise(html):
            wrong[where] = found

    for http in (trader, partner):
        for page in crawl(http, skip={"/portal/logout/": "ends the session", "/partners/logout/": "ends the session"}):
            if page.link.startswith(ROOMS):
                check(page.link, page.response.content.decode())
    for currency in ("USD", "EUR", "JPY", "KWD", "BTC", "USDT"):
        check(f"deposit form in {currency}",
              trader.get(reverse("portal:wallet_deposit_new"), {"currency": currency}).content.decode())
        response = trader.get(reverse("portal:wallet_statement"), {"currency": currency})
        assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert partner.get("/partners/earnings/statement/", {"period": period}).status_code == 200
    return wrong, seen


def test_no_page_of_the_trader_or_the_partner_shows_more_decimals_than_the_currency_has(db, settings, tmp_path,
                                                                                      pdfs):
    w = _brokerage(settings, tmp_path)
    trader = _trader(w, settings)
    _ib, partner = _partner()
    wrong, seen = rooms_sweep(trader, partner, period="2024-03")
    for html in pdfs:
        title = re.search(r"<title>(.*?)</title>", html, re.S)
        where = f"PDF {unescape(title.group(1)).strip() if title else '?'} #{pdfs.index(html)}"
        seen[where] = unescape(html).replace(NBSP, " ")
        if found := too_precise(html):
            wrong[where] = found
    assert not wrong, "\n".join(f"{where}: {'; '.join(found)}" for where, found in sorted(wrong.items()))
    # The sweep read what it was meant to: the rooms' pages, their amounts in every currency, the PDFs.
    pages = sorted(seen)
    assert sum(p.startswith("/portal/") for p in pages) > 10, pages
    assert sum(p.startswith("/partners/") for p in pages) > 6, pages
    room = "\n".join(text for where, text in seen.items() if where.startswith(("/portal/", "deposit form")))
    for amount in ("1,000.00 USD", "150,000 JPY", "250.125 KWD", "0.05000000 BTC", "1,500.500000 USDT", "400.00 USD",
                   "10,000.00 USD", "20,000.00 USD", "5,000,000 JPY"):
        assert amount in room, amount
    partners = "\n".join(text for where, text in seen.items() if where.startswith("/partners/"))
    for amount in ("150,000 JPY", "250.125 KWD", "250.00 USD", "3.00 USD"):
        assert amount in partners, (amount, re.findall(r"[\d,.]+ [A-Z]{3,4}", partners))
    statements = [text for where, text in seen.items() if where.startswith("PDF")]
    assert len(statements) >= 7 and any("150,000 JPY" in text for text in statements)
    # And it fails on an amount written past its decimals: the formatter planted to write every
    # amount as "2000.00000000 USD", the rooms' pages and statements are found wrong.
    planted = f"2000.00000000{NBSP}USD"
    import crm.lib.money
    import crm.templatetags.crm_ui

    with pytest.MonkeyPatch.context() as patch:
        for module in (crm.lib.money, crm.templatetags.crm_ui):
            patch.setattr(module, "money_format", lambda money, **_: planted)
        pdfs.clear()
        for link, http in (("/portal/wallet/", trader), ("/portal/wallet/withdraw/", trader),
                           ("/portal/challenges/", trader), ("/partners/earnings/", partner),
                           ("/partners/clients/", partner)):
            assert "2000.00000000 USD" in "; ".join(too_precise(http.get(link).content.decode())), link
        trader.get(reverse("portal:wallet_statement"), {"currency": "JPY"})
        assert "2000.00000000 USD" in "; ".join(too_precise(pdfs[0]))
