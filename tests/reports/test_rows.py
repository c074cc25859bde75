"""The reports' rows are typed: money in its row's currency, lots and counts in fields of their own."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from crm.lib.money import Money
from reports.catalogue import Result, WithdrawalsRow, _money_columns, _withdrawals_result
from reports.selectors import Figure


def test_a_volume_figure_reads_as_lots_and_a_money_figure_does_not():
    assert Figure("EURUSD", "", Decimal("12.50"), 7).lots == Decimal("12.50")
    with pytest.raises(ValueError, match="USD is money"):
        _ = Figure("stripe", "USD", Decimal("100"), 1).lots


def test_a_reports_money_fields_are_shown_as_money_of_the_rows_currency_and_counts_stay_numbers():
    result = _withdrawals_result([WithdrawalsRow("stripe", "USD", 3, Decimal("300.00")),
                                  WithdrawalsRow("wire", "USD", 1, Decimal("100.00")),
                                  WithdrawalsRow("wire", "JPY", 2, Decimal("15000"))])
    assert result.money_columns == _money_columns(WithdrawalsRow, "withdrawn") == (3,)
    assert [(r.provider, r.currency, r.share) for r in result.rows] == [
        ("stripe", "USD", Decimal("75.0")), ("wire", "USD", Decimal("25.0")), ("wire", "JPY", Decimal("100.0"))]
    shown = result.shown_rows
    assert shown[0][2] == 3 and shown[0][3] == Money(Decimal("300.00"), "USD")
    assert shown[2][3] == Money(Decimal("15000"), "JPY")
    assert result.exported_rows[2][3] == Decimal("15000")


def test_a_row_without_money_columns_is_shown_as_built():
    result = Result("r", ["Day", "Currency"], [(dt.date(2026, 1, 5), "USD")])
    assert result.shown_rows == [[dt.date(2026, 1, 5), "USD"]]
