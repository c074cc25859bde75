"""The one parser of amounts and currencies from outside (crm.lib.money.money_parse, amount_parse,
amount_read, currency_normalise): every refusal names the problem, nothing else is ever raised, and
what it accepts fits the columns and reads back the same."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.lib.money import (
    MAX_DECIMALS,
    MAX_INTEGER_DIGITS,
    AmountTooLarge,
    ExcessPrecision,
    InvalidAmount,
    Money,
    MoneyError,
    NegativeAmount,
    NotCashCurrency,
    UnknownCurrency,
    amount_read,
    currency_exponent,
    money_parse,
)
from crm.lib.validation import InvalidValue

HOSTILE = ["NaN", "nan", "sNaN", "inf", "-inf", "Infinity", "1e400", "1E+400", "-1e400", "9" * 28, "9" * 38,
           "9" * 40, "1e-400", "\x00", "1\x00", "", " ", "0x10", "1_000", "١e٣", "--1", "1..2", "½", "²"]


@pytest.mark.parametrize(("amount", "error", "says"), [
    ("NaN", InvalidAmount, "NaN"),
    ("-inf", InvalidAmount, "Infinity"),
    ("Infinity", InvalidAmount, "Infinity"),
    ("1e400", InvalidAmount, "exponent"),
    ("9" * 28, AmountTooLarge, "too large"),
    ("lots", InvalidAmount, "Enter an amount"),
    ("-5", NegativeAmount, "above zero"),
    ("0", NegativeAmount, "above zero"),
    ("10.001", ExcessPrecision, "USD has at most 2 decimals"),
])
def test_what_a_person_types_is_refused_by_name(amount, error, says):
    with pytest.raises(error) as refused:
        money_parse(amount, "USD")
    assert refused.value.field == "amount" and says in refused.value.message


@pytest.mark.parametrize(("amount", "error", "says"), [
    ("1e400", InvalidAmount, "exponent"),
    ("9" * 38, AmountTooLarge, "too large"),
    ("NaN", InvalidAmount, "NaN"),
    ("0.000000001", ExcessPrecision, "8 decimals"),
    (Decimal("1e-9"), ExcessPrecision, "8 decimals"),
    (1.5, InvalidAmount, "never binary floating point"),
])
def test_what_a_machine_sends_is_refused_by_name(amount, error, says):
    with pytest.raises(error) as refused:
        amount_read(amount)
    assert says in refused.value.message


# What the probe of issue 57 had executed: a transfer of 10 USD from "1E1", refunds from "1E2", "१०" and
# ".5". One grammar for a person and a machine: ASCII digits, one point with digits on both sides, a
# "-" only where the field takes one; a currency in capitals.
NOT_AN_AMOUNT = ["1E1", "1e2", "1.5E+3", "١", "١٠", "１", "１０", "१०", "۱۲", "+1", " 1", "1 ", "\t1", ".5", "5.",
                 "1,000", "1 000", "1_000", "0x10", "1\n", "\u200f1", "1\u202e"]


@pytest.mark.parametrize("amount", NOT_AN_AMOUNT)
@pytest.mark.parametrize("typed", [True, False], ids=["typed", "sent"])
def test_anything_but_ascii_digits_and_one_point_is_refused_by_name(amount, typed):
    with pytest.raises(InvalidAmount) as refused:
        money_parse(amount, "USD", typed=typed, positive=False)
    assert refused.value.field == "amount" and refused.value.message


def test_a_sign_is_read_only_where_the_field_allows_one():
    assert money_parse("-1.50", "USD", positive=False).amount == Decimal("-1.50")
    assert amount_read("-1.50") == Decimal("-1.50")  # a fee line of a settlement file
    with pytest.raises(NegativeAmount, match="above zero"):
        money_parse("-1.50", "USD")
    with pytest.raises(InvalidAmount):
        money_parse("+1.50", "USD", positive=False)
    assert money_parse("0.5", "USD", typed=False) == Money("0.50", "USD")


@pytest.mark.parametrize("code", ["usd", "Usd", " USD", "USD ", "ｕｓｄ", "USD\n"])
def test_a_currency_is_its_iso_code_in_capitals(code):
    with pytest.raises(UnknownCurrency) as refused:
        money_parse("10", code)
    assert refused.value.field == "currency"


@pytest.mark.parametrize("code", ["XAU", "XAG", "XPT", "XPD", "XDR", "XXX", "XTS", "xau"])  # "xau": not cash either way
def test_metal_fund_and_testing_codes_are_refused_as_not_cash(code):
    with pytest.raises(NotCashCurrency) as refused:
        money_parse("10", code, currency_field="ccy")
    assert refused.value.field == "ccy" and "not cash" in refused.value.message


@pytest.mark.parametrize("code", ["ZZZ", "", "US\x00D", "U" * 500, None, 5])
def test_an_unknown_currency_is_refused_by_name(code):
    with pytest.raises(UnknownCurrency) as refused:
        money_parse("10", code)
    assert refused.value.field == "currency"


def test_money_refuses_an_amount_no_column_holds():
    with pytest.raises(AmountTooLarge):
        Money("1" + "0" * MAX_INTEGER_DIGITS, "USD")
    assert Money("9" * MAX_INTEGER_DIGITS, "USD").quantize().amount == Decimal("9" * MAX_INTEGER_DIGITS)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None, max_examples=400)
@given(text=st.one_of(st.text(), st.sampled_from(HOSTILE),
                      st.from_regex(r"\A[+-]?[0-9]{0,45}(\.[0-9]{0,12})?([eE][+-]?[0-9]{1,12})?\Z"),
                      st.sampled_from(NOT_AN_AMOUNT)),
       currency=st.one_of(st.sampled_from(["USD", "JPY", "KWD", "BTC", "XAU", "ZZZ", "usd"]), st.text(max_size=12)),
       typed=st.booleans(), positive=st.booleans())
def test_any_text_is_parsed_or_refused_by_name_and_what_is_accepted_fits_the_column(text, currency, typed, positive):
    try:
        money = money_parse(text, currency, typed=typed, positive=positive)
    except MoneyError as error:
        assert isinstance(error, InvalidValue) and error.field in ("amount", "currency") and error.message
        return
    exponent = currency_exponent(money.currency)
    sign, digits, power = money.amount.as_tuple()
    assert isinstance(power, int) and -power == exponent  # at the currency's minor unit
    assert len(digits) - exponent <= MAX_INTEGER_DIGITS and exponent <= MAX_DECIMALS  # fits NUMERIC(28, 8)
    assert not positive or money.amount > 0
    assert money_parse(money.text(), money.currency, typed=typed, positive=positive) == money  # round-trips
