"""The amount field of the money forms (trader's room deposits, withdrawals, transfers; finance's
transfer): what people type is read by the one parser, never guessed."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django import forms

from crm.views.ui.forms import AmountField


class _Form(forms.Form):
    amount = AmountField()


# Surrounding spaces are the form's to trim (Django's text fields do), not the parser's to guess at.
@pytest.mark.parametrize(("typed", "amount"), [
    ("250", Decimal("250")), ("1234.56", Decimal("1234.56")), ("0.5", Decimal("0.5")), (" 0.01 ", Decimal("0.01")),
])
def test_what_people_type_is_read_as_the_amount_they_meant(typed, amount):
    form = _Form({"amount": typed})
    assert form.is_valid() and form.cleaned_data["amount"] == amount


@pytest.mark.parametrize(("typed", "message"), [
    ("1,5", "Enter an amount in the digits 0-9 with a point before any decimals, such as 1234.56, without "
            "spaces, signs or grouping."),  # never 15 or 1.5
    ("1,234.56", "Enter an amount in the digits 0-9 with a point before any decimals, such as 1234.56, without "
                 "spaces, signs or grouping."),
    ("١٬٢٣٤٫٥", "Write the amount in the digits 0-9, such as 1234.56."),
    ("1E1", "Write the amount out in digits, without an exponent (“1e3”)."),
    ("lots", "Enter an amount in the digits 0-9 with a point before any decimals, such as 1234.56, without "
             "spaces, signs or grouping."),
    ("0", "Enter an amount above zero."),
    ("-20", "Enter an amount above zero."),
    ("9" * 41, "Enter an amount such as 1234.56."),
    ("", "This field is required."),
])
def test_an_amount_that_cannot_be_meant_is_refused_by_name(typed, message):
    form = _Form({"amount": typed})
    assert not form.is_valid() and form.errors["amount"] == [message]


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["min_amount", "max_amount", "min_annual_income", "min_net_worth"])
def test_the_lead_scoring_thresholds_are_read_by_the_one_grammar(field):
    from leads.forms import ScoringRuleForm

    for typed in ("1E1", "١٠", "+1", ".5"):
        assert field in ScoringRuleForm({field: typed}).errors, typed
    form = ScoringRuleForm({field: "10000.50"})
    form.is_valid()
    assert field not in form.errors and form.cleaned_data[field] == Decimal("10000.50")
