"""Reads of the payment configuration: which methods a client may use, their limits and fees."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import QuerySet
from django.urls import reverse
from django.utils.translation import gettext

from crm.lib.money import Money, currency_normalise, money_format
from crm.lib.public_url import public_url
from crm.models import Brand
from wallet.exceptions import MethodNotAvailable
from wallet.models import PaymentMethod, PaymentProvider


@dataclass(frozen=True)
class MethodOption:
    """One way a client of a brand in a country may move ``currency`` in ``direction``."""

    method_code: str  # PaymentMethod.code (uuid text)
    method: str  # card | ewallet | crypto | bank_wire
    label: str
    provider_code: str
    adapter_kind: str
    currency: str
    minimum: Money
    maximum: Money | None
    fee_fixed: Money
    fee_percent: Decimal


def methods_for(*, brand: Brand, country: str, currency: str, direction: str) -> list[MethodOption]:
    """The enabled methods of ``brand`` for a client in ``country`` taking ``currency`` in
    ``direction``, in the brand's order. A rule of the country itself replaces the brand's
    every-country rule for the same method (even a disabled one: it switches the method off there)."""
    code = currency_normalise(currency)
    country = (country or "").strip().upper()
    rules = list(PaymentMethod.objects.filter(brand=brand, direction=direction, country__in=["", country])
                 .select_related("provider").prefetch_related("currencies"))
    chosen: dict[str, PaymentMethod] = {}
    for rule in sorted(rules, key=lambda r: bool(r.country)):  # every-country first, the country's own wins
        chosen[rule.method] = rule
    out: list[MethodOption] = []
    for rule in sorted(chosen.values(), key=lambda r: (r.order, r.method)):
        if not rule.is_enabled or not rule.provider.is_enabled:
            continue
        row = next((c for c in rule.currencies.all() if c.currency == code), None)
        if row is None:
            continue
        out.append(MethodOption(
            method_code=str(rule.code), method=rule.method, label=rule.label or rule.get_method_display(),
            provider_code=rule.provider.code, adapter_kind=rule.provider.kind, currency=code,
            minimum=Money(row.min_amount, code).quantize(),
            maximum=Money(row.max_amount, code).quantize() if row.max_amount is not None else None,
            fee_fixed=Money(row.fee_fixed, code).quantize(), fee_percent=row.fee_percent))
    return out


def method_fee(option: MethodOption, amount: Money) -> Money:
    """The fee of moving ``amount`` by ``option``: fixed + percent, rounded once to the currency."""
    return (option.fee_fixed + amount * (option.fee_percent / Decimal(100))).quantize()


@dataclass(frozen=True)
class FeeQuote:
    """What moving ``amount`` by a method costs the client, before they confirm: the method's
    ``fee`` and the ``net`` left (credited to the wallet for a deposit, paid out for a withdrawal)."""

    amount: Money
    fee: Money
    net: Money


def method_quote(option: MethodOption, amount: Money) -> FeeQuote:
    """The fee and what is left of ``amount`` (in the option's currency) by ``option``, as the
    deposit or withdrawal made now would book them (method_fee)."""
    money = amount.quantize()
    fee = method_fee(option, money)
    return FeeQuote(amount=money, fee=fee, net=(money - fee).quantize())


def method_fee_text(option: MethodOption) -> str:
    """The method's fee in words, as a choice list shows it: "no fee", "2.8% + 0.30 USD", "1.5%"."""
    percent = option.fee_percent.normalize() if option.fee_percent else Decimal(0)
    if not option.fee_fixed.amount and not percent:
        return gettext("no fee")
    parts = [f"{percent:f}%"] if percent else []
    if option.fee_fixed.amount:
        parts.append(money_format(option.fee_fixed))
    return gettext("fee %(fee)s") % {"fee": " + ".join(parts)}


def method_check_amount(option: MethodOption, amount: Money) -> None:
    """MethodNotAvailable (naming the amount) when ``amount`` is outside the method's limits."""
    if amount.currency != option.currency:
        raise MethodNotAvailable(fields={"currency": gettext("%(method)s does not take %(currency)s.")
                                         % {"method": option.label, "currency": amount.currency}})
    if amount.amount < option.minimum.amount:
        raise MethodNotAvailable(fields={"amount": gettext("The minimum for %(method)s is %(min)s.")
                                         % {"method": option.label, "min": money_format(option.minimum)}})
    if option.maximum is not None and amount.amount > option.maximum.amount:
        raise MethodNotAvailable(fields={"amount": gettext("The maximum for %(method)s is %(max)s.")
                                         % {"method": option.label, "max": money_format(option.maximum)}})


def provider_list() -> QuerySet[PaymentProvider]:
    return PaymentProvider.objects.order_by("name")


def method_list() -> QuerySet[PaymentMethod]:
    return (PaymentMethod.objects.select_related("brand", "provider").prefetch_related("currencies")
            .order_by("brand__name", "direction", "country", "order", "method"))


def method_get(code: str) -> PaymentMethod | None:
    """The payment method with `code` (its provider loaded), or None."""
    return PaymentMethod.objects.select_related("provider").filter(code=code).first()


def provider_get(code: str) -> PaymentProvider | None:
    return PaymentProvider.objects.filter(code=code).first()


def provider_webhook_url(provider: PaymentProvider) -> str:
    """Where `provider` posts its notifications about what we asked of it (a payment, a refund, a
    payout): this CRM's public address and the provider's webhook path."""
    return public_url(reverse("wallet_webhook", args=[provider.code]))
