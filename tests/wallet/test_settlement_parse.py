"""Settlement reports read by a saved column mapping (CSV and XLSX), so that any provider's file is
read without code; a bad line is named by row and column and nothing of the file is taken."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import Workbook

from crm.exceptions import ValidationFailed
from crm.lib.money import Money
from wallet.exceptions import SettlementParseError
from wallet.provider_services import payment_provider_save, settlement_lines, settlement_mapping_save

SIM_CSV = (b"provider_reference,merchant_reference,type,amount,currency,fee,value_date,batch_id\n"
           b"pay_1,dep-1,payment,100.00,USD,3.20,2026-03-02,S20260302\n"
           b"po_1,wd-1,payout,-75.00,USD,1.00,2026-03-02,B20260302-1\n")


@pytest.fixture
def provider(db):
    return payment_provider_save(code="acme", name="Acme Pay", kind="simulator", base_url="http://127.0.0.1:9",
                                 api_key="k", api_secret="s", webhook_secret="w")


def _acme_mapping(provider, **overrides):
    values = dict(provider=provider, name="Acme daily", columns={
        "provider_ref": "Transaction ID", "merchant_ref": "Order", "kind": "Type", "amount": "Gross",
        "currency": "Ccy", "fee": "Commission", "value_date": "Value date", "batch_id": "Payout batch"},
        delimiter=";", date_format="%d/%m/%Y", decimal_separator=",", thousands_separator=".", sign="by_kind",
        kinds={"SALE": "payment", "RFND": "refund", "CB": "chargeback", "TOTAL": "total"},
        negative_kinds=["refund", "chargeback"], skip_kinds=["total"])
    values.update(overrides)
    return settlement_mapping_save(**values)


def test_the_simulators_file_is_read_natively(provider):
    lines = list(settlement_lines(provider=provider, data=SIM_CSV, filename="2026-03-02.csv"))

    assert [(line.row, line.kind, line.amount, line.fee) for line in lines] == [
        (2, "payment", Money("100.00", "USD"), Money("3.20", "USD")),
        (3, "payout", Money("-75.00", "USD"), Money("1.00", "USD"))]
    assert lines[1].batch_id == "B20260302-1" and lines[0].value_date == dt.date(2026, 3, 2)


def test_a_csv_is_read_by_its_saved_mapping(provider):
    mapping = _acme_mapping(provider)
    data = (b"Transaction ID;Order;Type;Gross;Ccy;Commission;Value date;Payout batch\n"
            b"T-1;dep-9;SALE;1.250,50;EUR;36,56;03/03/2026;\n"
            b"T-2;dep-9;RFND;250,00;EUR;0;04/03/2026;\n"
            b";;TOTAL;1.000,50;EUR;;;\n")

    lines = list(settlement_lines(provider=provider, data=data, filename="acme.csv", mapping=mapping))

    assert [(line.provider_ref, line.kind, line.amount) for line in lines] == [
        ("T-1", "payment", Money("1250.50", "EUR")), ("T-2", "refund", Money("-250.00", "EUR"))]
    assert lines[0].fee == Money("36.56", "EUR") and lines[1].value_date == dt.date(2026, 3, 4)


def test_a_bad_line_names_its_row_and_column(provider):
    mapping = _acme_mapping(provider)
    data = (b"Transaction ID;Order;Type;Gross;Ccy;Commission;Value date;Payout batch\n"
            b"T-1;dep-9;SALE;100,00;EUR;1;03/03/2026;\n"
            b"T-2;dep-9;SALE;ten euros;EUR;1;03/03/2026;\n")

    with pytest.raises(SettlementParseError) as bad:
        list(settlement_lines(provider=provider, data=data, filename="acme.csv", mapping=mapping))

    assert bad.value.row == 3 and bad.value.column == "Gross"
    assert "Row 3" in bad.value.message and "Gross" in bad.value.message and "ten euros" in bad.value.message


@pytest.mark.parametrize("gross", ["1e2", "\u0661\u0660\u0660", "\uff11\uff10\uff10", "+100", "NaN"])
def test_an_amount_outside_the_one_grammar_is_named_not_read(provider, gross):
    data = SIM_CSV.replace(b"100.00", gross.encode())
    with pytest.raises(SettlementParseError) as bad:
        list(settlement_lines(provider=provider, data=data, filename="2026-03-02.csv"))
    assert bad.value.row == 2 and bad.value.column == "amount"


def test_a_bad_date_and_an_unknown_currency_are_named(provider):
    mapping = _acme_mapping(provider)
    head = "Transaction ID;Order;Type;Gross;Ccy;Commission;Value date;Payout batch\n"
    with pytest.raises(SettlementParseError) as bad_date:
        list(settlement_lines(provider=provider, data=(head + "T-1;d;SALE;1;EUR;0;2026-13-45;\n").encode(),
                              filename="a.csv", mapping=mapping))
    with pytest.raises(SettlementParseError) as bad_currency:
        list(settlement_lines(provider=provider, data=(head + "T-1;d;SALE;1;EURO;0;03/03/2026;\n").encode(),
                              filename="a.csv", mapping=mapping))

    assert (bad_date.value.row, bad_date.value.column) == (2, "Value date")
    assert (bad_currency.value.row, bad_currency.value.column) == (2, "Ccy")


def test_a_file_without_a_mapped_column_is_refused_naming_it(provider):
    mapping = _acme_mapping(provider)

    with pytest.raises(SettlementParseError) as missing:
        list(settlement_lines(provider=provider, data=b"Transaction ID;Order;Type\nT-1;d;SALE\n", filename="a.csv",
                              mapping=mapping))

    assert missing.value.column == "Gross" and missing.value.row == 1


def _xlsx(rows) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_an_xlsx_report_is_read_by_its_mapping_with_a_title_above_the_header(provider):
    mapping = settlement_mapping_save(provider=provider, name="Acme monthly", file_type="xlsx", header_row=2, columns={
        "provider_ref": "Reference", "merchant_ref": "Merchant ref", "kind": "Kind", "amount": "Amount",
        "currency": "Currency", "fee": "Fee", "value_date": "Date"})
    data = _xlsx([["Acme Pay settlement, March 2026"],
                  ["Reference", "Merchant ref", "Kind", "Amount", "Currency", "Fee", "Date"],
                  ["X-1", "dep-1", "payment", 99.9, "USD", 2.5, dt.datetime(2026, 3, 2)],
                  ["X-2", "wd-1", "payout", "-40.00", "USD", "1", "2026-03-02"]])

    lines = list(settlement_lines(provider=provider, data=data, filename="acme.xlsx", mapping=mapping))

    assert [(line.row, line.amount, line.fee, line.value_date) for line in lines] == [
        (3, Money("99.9", "USD"), Money("2.5", "USD"), dt.date(2026, 3, 2)),
        (4, Money("-40.00", "USD"), Money("1", "USD"), dt.date(2026, 3, 2))]


def test_a_bad_xlsx_row_is_named(provider):
    mapping = settlement_mapping_save(provider=provider, name="Acme xlsx", file_type="xlsx", columns={
        "provider_ref": "Reference", "amount": "Amount", "currency": "Currency", "value_date": "Date"})
    data = _xlsx([["Reference", "Amount", "Currency", "Date"], ["X-1", 10, "USD", "2026-03-02"],
                  ["", 10, "USD", "2026-03-02"]])

    with pytest.raises(SettlementParseError) as bad:
        list(settlement_lines(provider=provider, data=data, filename="a.xlsx", mapping=mapping))

    assert (bad.value.row, bad.value.column) == (3, "Reference")


def test_a_file_that_is_not_a_workbook_is_refused(provider):
    mapping = settlement_mapping_save(provider=provider, name="Acme xlsx", file_type="xlsx", columns={
        "provider_ref": "Reference", "amount": "Amount", "currency": "Currency", "value_date": "Date"})

    with pytest.raises(SettlementParseError):
        list(settlement_lines(provider=provider, data=b"not a zip", filename="a.xlsx", mapping=mapping))


def test_a_mapping_without_the_required_columns_is_refused_naming_them(provider):
    with pytest.raises(ValidationFailed) as refused:
        settlement_mapping_save(provider=provider, name="Broken", columns={"provider_ref": "Ref", "colour": "C"},
                                date_format="dd/mm")

    assert set(refused.value.fields) == {"columns", "date_format"}
    assert "colour" in " ".join(refused.value.fields["columns"])
    assert "amount" in " ".join(refused.value.fields["columns"])
