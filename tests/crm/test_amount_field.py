"""The amount field of the money forms (trader's room deposits, withdrawals, transfers; finance's
transfer): what people type is read by the one parser, never guessed."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django import forms

from crm.forms import AmountField


class _Form(forms.Form):
    amount = AmountField()


@pytest.mark.parametrize(("typed", "amount"), [
    ("250", Decimal("250")), ("1,234.56", Decimal("1234.56")), ("١٬٢٣٤٫٥", Decimal("1234.5")), (" 0.01 ", Decimal("0.01")),
])
def test_what_people_type_is_read_as_the_amount_they_meant(typed, amount):
    form = _Form({"amount": typed})
    assert form.is_valid() and form.cleaned_data["amount"] == amount


@pytest.mark.parametrize(("typed", "message"), [
    ("1,5", "Enter an amount such as 1234.56 or 1,234.56."),  # never 15 or 1.5
    ("lots", "Enter an amount such as 1234.56 or 1,234.56."),
    ("0", "Enter an amount above zero."),
    ("-20", "Enter an amount above zero."),
    ("9" * 41, "Enter an amount such as 1234.56 or 1,234.56."),
    ("", "This field is required."),
])
def test_an_amount_that_cannot_be_meant_is_refused_by_name(typed, message):
    form = _Form({"amount": typed})
    assert not form.is_valid() and form.errors["amount"] == [message]
