"""Writes of the payment configuration and of finance's incoming-wire records. Keyword-only,
atomic, audited; bad input is refused with the field named and nothing written."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext

from crm.audit import audit_record
from crm.exceptions import Conflict, FieldErrors
from crm.lib.money import Money, MoneyError, currency_normalise
from wallet.models import (
    AdapterKind,
    BankWireIncoming,
    Direction,
    MethodKind,
    PaymentMethod,
    PaymentMethodCurrency,
    PaymentProvider,
    SettlementMapping,
)
from wallet.providers.bank_wire import reference_normalise, references_in
from wallet.providers.base import SettlementLine
from wallet.providers.coinspaid import BASE_URLS as COINSPAID_BASE_URLS
from wallet.providers.paysafe import BASE_URLS as PAYSAFE_BASE_URLS
from wallet.providers.paysafe import PAYMENT_TYPES as PAYSAFE_PAYMENT_TYPES
from wallet.providers.praxis import BASE_URLS as PRAXIS_BASE_URLS
from wallet.providers.settlement import FIELDS, REQUIRED, ColumnMapping, parse_settlement


@transaction.atomic
def payment_provider_save(*, code: str, name: str, kind: str, base_url: str = "", api_key: str = "",
                          api_secret: str | None = None, webhook_secret: str | None = None,
                          settings: Mapping[str, Any] | None = None, is_enabled: bool = True,
                          timeout_seconds: int = 10, actor: Any = None) -> PaymentProvider:
    """Create or update the provider ``code``. A secret left None keeps the stored one."""
    errors = FieldErrors()
    if kind not in AdapterKind.values:
        errors.add("kind", gettext("Choose an adapter."))
    if not name.strip():
        errors.add("name", gettext("Enter a name."))
    if kind == AdapterKind.SIMULATOR and not base_url:
        errors.add("base_url", gettext("Enter the provider's API address."))
    if kind == AdapterKind.PRAXIS:
        # The sandbox or live address Praxis documents, unless one is given (a simulator's).
        environment = str((settings or {}).get("environment") or "sandbox")
        if environment not in PRAXIS_BASE_URLS:
            errors.add("environment", gettext("Choose sandbox or live."))
        base_url = base_url or PRAXIS_BASE_URLS.get(environment, "")
        if not str((settings or {}).get("application_key") or "").strip():
            errors.add("application_key", gettext("Enter the application key Praxis gave for this website."))
        if not api_key:
            errors.add("api_key", gettext("Enter the merchant id Praxis gave."))
    if kind == AdapterKind.COINSPAID:
        # The sandbox or live address CoinsPaid documents, unless one is given (a simulator's).
        environment = str((settings or {}).get("environment") or "sandbox")
        if environment not in COINSPAID_BASE_URLS:
            errors.add("environment", gettext("Choose sandbox or live."))
        base_url = base_url or COINSPAID_BASE_URLS.get(environment, "")
        if not api_key:
            errors.add("api_key", gettext("Enter the API key CoinsPaid gave."))
    if kind == AdapterKind.PAYSAFE:
        base_url = _paysafe_check(settings or {}, api_key=api_key, base_url=base_url, errors=errors)
    if not 1 <= timeout_seconds <= 120:
        errors.add("timeout_seconds", gettext("Between 1 and 120 seconds."))
    errors.raise_if_any()
    provider = PaymentProvider.objects.select_for_update().filter(code=code).first()
    before = _provider_facts(provider) if provider else None
    if provider is None:
        provider = PaymentProvider(code=code)
    provider.name, provider.kind, provider.base_url, provider.api_key = name.strip(), kind, base_url, api_key
    provider.settings, provider.is_enabled, provider.timeout_seconds = dict(settings or {}), is_enabled, timeout_seconds
    provider.set_secrets(api_secret=api_secret, webhook_secret=webhook_secret)
    provider.full_clean(exclude=["settings"])
    provider.save()
    audit_record(action="wallet.provider_saved", obj=provider, before=before, after=_provider_facts(provider),
                 actor=actor)
    return provider


def _paysafe_check(settings: Mapping[str, Any], *, api_key: str, base_url: str, errors: FieldErrors) -> str:
    """Paysafe's settings checked; its base URL: the one given (a simulator's) or the test or live one."""
    environment = str(settings.get("environment") or "sandbox")
    if environment not in PAYSAFE_BASE_URLS:
        errors.add("environment", gettext("Choose sandbox or live."))
    if str(settings.get("payment_type") or "SKRILL").upper() not in PAYSAFE_PAYMENT_TYPES:
        errors.add("payment_type", gettext("Choose Skrill or Neteller."))
    if not api_key:
        errors.add("api_key", gettext("Enter the API key's user name Paysafe gave."))
    return base_url or PAYSAFE_BASE_URLS.get(environment, "")


def _provider_facts(provider: PaymentProvider) -> dict[str, Any]:
    return {"code": provider.code, "name": provider.name, "kind": provider.kind, "base_url": provider.base_url,
            "enabled": provider.is_enabled, "secrets_set": bool(provider.api_secret_encrypted)}


@dataclass(frozen=True)
class CurrencyRule:
    currency: str
    minimum: Decimal = Decimal(0)
    maximum: Decimal | None = None
    fee_fixed: Decimal = Decimal(0)
    fee_percent: Decimal = Decimal(0)


@transaction.atomic
def payment_method_save(*, brand: Any, method: str, direction: str, provider: PaymentProvider,
                        currencies: Iterable[CurrencyRule], country: str = "", label: str = "",
                        is_enabled: bool = True, order: int = 100, actor: Any = None) -> PaymentMethod:
    """Create or replace the rule of ``method`` for ``brand``, ``country`` ("" = every country) and
    ``direction``, with its currencies (limits and fees)."""
    errors = FieldErrors()
    if method not in MethodKind.values:
        errors.add("method", gettext("Choose a method."))
    if direction not in Direction.values:
        errors.add("direction", gettext("Choose deposit or withdrawal."))
    country = (country or "").strip().upper()
    if country and (len(country) != 2 or not country.isalpha()):
        errors.add("country", gettext("A two-letter country code, or empty for every country."))
    rows: list[CurrencyRule] = []
    seen: set[str] = set()
    for rule in currencies:
        try:
            code = currency_normalise(rule.currency)
            minimum = Money.exact(rule.minimum, code, field="minimum")
            maximum = Money.exact(rule.maximum, code, field="maximum") if rule.maximum is not None else None
            fixed = Money.exact(rule.fee_fixed, code, field="fee_fixed")
        except (MoneyError, ValueError) as exc:
            errors.add("currencies", f"{rule.currency}: {exc}")
            continue
        if code in seen:
            errors.add("currencies", gettext("%(currency)s is listed twice.") % {"currency": code})
        seen.add(code)
        if minimum.amount < 0 or fixed.amount < 0 or rule.fee_percent < 0 or rule.fee_percent >= 100:
            errors.add("currencies", gettext("%(currency)s: limits and fees cannot be negative (fee under 100%%).")
                       % {"currency": code})
        if maximum is not None and maximum.amount < minimum.amount:
            errors.add("currencies", gettext("%(currency)s: the maximum is below the minimum.") % {"currency": code})
        rows.append(CurrencyRule(code, minimum.amount, maximum.amount if maximum else None, fixed.amount,
                                 rule.fee_percent))
    if not rows and not errors:
        errors.add("currencies", gettext("Add at least one currency."))
    errors.raise_if_any()
    existing = PaymentMethod.objects.select_for_update().filter(
        brand=brand, country=country, method=method, direction=direction).first()
    before = _method_facts(existing) if existing else None
    rule_row = existing or PaymentMethod(brand=brand, country=country, method=method, direction=direction)
    rule_row.provider, rule_row.label, rule_row.is_enabled, rule_row.order = provider, label, is_enabled, order
    rule_row.save()
    rule_row.currencies.all().delete()
    PaymentMethodCurrency.objects.bulk_create([
        PaymentMethodCurrency(method=rule_row, currency=r.currency, min_amount=r.minimum, max_amount=r.maximum,
                              fee_fixed=r.fee_fixed, fee_percent=r.fee_percent) for r in rows])
    audit_record(action="wallet.method_saved", obj=rule_row, before=before, after=_method_facts(rule_row), actor=actor)
    return rule_row


def _method_facts(rule: PaymentMethod) -> dict[str, Any]:
    return {"brand": rule.brand_id, "country": rule.country, "method": rule.method, "direction": rule.direction,
            "provider": rule.provider.code, "enabled": rule.is_enabled,
            "currencies": {c.currency: {"min": str(c.min_amount), "max": str(c.max_amount), "fee_fixed": str(c.fee_fixed),
                                        "fee_percent": str(c.fee_percent)} for c in rule.currencies.all()}}


@transaction.atomic
def settlement_mapping_save(*, provider: PaymentProvider, name: str, columns: Mapping[str, str],
                            file_type: str = "csv", header_row: int = 1, delimiter: str = ",",
                            date_format: str = "%Y-%m-%d", decimal_separator: str = ".",
                            thousands_separator: str = "", sign: str = "signed",
                            negative_kinds: Iterable[str] = ("refund", "payout", "chargeback"),
                            fee_negative: bool = False, kinds: Mapping[str, str] | None = None,
                            skip_kinds: Iterable[str] = (), default_currency: str = "",
                            actor: Any = None) -> SettlementMapping:
    """Create or replace the mapping ``name`` of ``provider``."""
    errors = FieldErrors()
    unknown = sorted(set(columns) - set(FIELDS))
    if unknown:
        errors.add("columns", gettext("Unknown fields: %(fields)s.") % {"fields": ", ".join(unknown)})
    missing = [f for f in REQUIRED if not columns.get(f) and not (f == "currency" and default_currency)]
    if missing:
        errors.add("columns", gettext("Name the column of: %(fields)s.") % {"fields": ", ".join(missing)})
    if file_type not in ("csv", "xlsx"):
        errors.add("file_type", gettext("CSV or XLSX."))
    if sign not in ("signed", "by_kind"):
        errors.add("sign", gettext("Choose how the file writes signs."))
    if decimal_separator == thousands_separator:
        errors.add("thousands_separator", gettext("The thousands separator must differ from the decimal one."))
    try:
        dt.date(2026, 1, 31).strftime(date_format)
        if "%" not in date_format:
            raise ValueError
    except ValueError:
        errors.add("date_format", gettext("A date format such as %Y-%m-%d or %d/%m/%Y."))
    errors.raise_if_any()
    mapping, _created = SettlementMapping.objects.update_or_create(provider=provider, name=name.strip(), defaults={
        "columns": dict(columns), "file_type": file_type, "header_row": header_row, "delimiter": delimiter,
        "date_format": date_format, "decimal_separator": decimal_separator,
        "thousands_separator": thousands_separator, "sign": sign, "negative_kinds": list(negative_kinds),
        "fee_negative": fee_negative, "kinds": dict(kinds or {}), "skip_kinds": list(skip_kinds),
        "default_currency": default_currency})
    audit_record(action="wallet.settlement_mapping_saved", obj=mapping, after={"provider": provider.code,
                 "name": mapping.name, "columns": mapping.columns}, actor=actor)
    return mapping


def settlement_lines(*, provider: PaymentProvider, data: bytes, filename: str,
                     mapping: SettlementMapping | None = None) -> Iterator[SettlementLine]:
    """The lines of a provider's settlement report: by ``mapping`` when given, else by the
    provider's own format (its adapter). SettlementParseError names a bad line's row and column."""
    if mapping is not None:
        return parse_settlement(data, filename, mapping.column_mapping())
    return iter(provider.adapter().parse_settlement(data, filename))


def column_mapping_of(mapping: SettlementMapping) -> ColumnMapping:
    return mapping.column_mapping()


@transaction.atomic
def bank_wire_incoming_record(*, provider: PaymentProvider, amount: Money, payer_name: str, value_date: dt.date,
                              reference_text: str = "", payer_account: str = "", bank_transaction_id: str = "",
                              note: str = "", actor: Any = None) -> BankWireIncoming:
    """Record a wire finance saw on the bank statement. Its reference is normalised when it is a
    valid one (typed anywhere in the text); matching it to a deposit is the deposit code's job."""
    errors = FieldErrors()
    if provider.kind != AdapterKind.BANK_WIRE:
        errors.add("provider", gettext("Choose a bank-wire provider."))
    if amount.amount <= 0:
        errors.add("amount", gettext("Enter an amount above zero."))
    elif not amount.is_quantized:
        errors.add("amount", gettext("%(currency)s has at most %(count)d decimals.")
                   % {"currency": amount.currency, "count": amount.exponent})
    if not payer_name.strip():
        errors.add("payer_name", gettext("Enter the payer's name as the bank shows it."))
    errors.raise_if_any()
    found = reference_normalise(reference_text) or next(iter(references_in(reference_text)), "")
    try:
        with transaction.atomic():
            wire = BankWireIncoming.objects.create(
                provider=provider, amount=amount.amount, currency=amount.currency, reference_text=reference_text.strip(),
                reference=found or "", payer_name=payer_name.strip(), payer_account=payer_account.strip(),
                value_date=value_date, bank_transaction_id=bank_transaction_id.strip(), note=note,
                recorded_by=actor if getattr(actor, "pk", None) else None)
    except IntegrityError:
        raise Conflict(gettext("This bank transaction is already recorded.")) from None
    audit_record(action="wallet.bank_wire_recorded", obj=wire, after={
        "amount": amount.text(), "currency": amount.currency, "reference_text": wire.reference_text,
        "reference": wire.reference, "payer": wire.payer_name, "value_date": value_date.isoformat()}, actor=actor)
    return wire


