"""Money: an exact amount with its currency, and the one place that knows each currency's decimals.

Rules every app follows (wallet, IB and trading alike):

* An amount is a ``Decimal`` next to a currency code, never a float: ``Money`` refuses a float
  (and a bool) at construction, and so does every helper here, because a binary fraction cannot
  hold 0.1 and the error surfaces as a cent (or a satoshi) lost in a ledger.
* Each currency's exponent (its minor unit: 2 for USD, 0 for JPY, 3 for KWD) comes from the ISO
  4217 table below; crypto assets and stablecoins, which ISO does not list, come from
  ``CRM_CURRENCY_EXPONENTS`` (defaults in ``DEFAULT_EXTRA_EXPONENTS``). A code found in neither is
  refused with ``UnknownCurrency``: a typo must not open an account in a currency nobody prices.
* One rounding rule, ``ROUNDING`` = ROUND_HALF_EVEN (banker's rounding), applied once, at the
  edge where an amount is posted (``Money.quantize`` / ``money_round``). Half-even is what ledgers
  use: rounding every half up biases a long series of postings upwards, half-even does not.
  Intermediate results (a conversion, a commission share) stay unrounded until they are posted.
* An amount a person typed is never rounded silently: ``Money.exact`` refuses more decimals than
  the currency has ("JPY has no decimals"), so that what is stored, sent and shown is what was asked.
* Arithmetic and ordering across two currencies raise ``CurrencyMismatch``; equality across
  currencies is simply False (Python equality must not raise: sets, dicts and ``in`` rely on it).
* Columns: ``MoneyAmountField`` (NUMERIC(28, 8): 8 decimals hold a satoshi, 20 integer digits any
  balance) and ``CurrencyField`` (up to 10 characters: USDT, USDC ...), validated against the table.
  Every stored amount is one of these; an intermediate result that is stored before it is posted
  (a commission line or share, summed and rounded once later) is an ``UnroundedAmountField``.
  ``Money`` refuses an amount of more than 20 integer digits (``AmountTooLarge``): no column holds it.
* Every amount and currency that arrives from outside (forms, query strings, webhooks, files, the
  API) is read by ``money_parse`` / ``amount_parse`` / ``amount_read`` / ``currency_normalise``,
  with one grammar: an amount is ASCII digits with at most one decimal point, digits on both sides
  of it ("1234.56", "0.5"), and a leading "-" only where the field allows a negative amount.
  Nothing else is read as a number, so nothing is guessed: no exponent ("1E1"), no other script's
  digits ("١", "１", "१०"), no "+", no grouping commas or spaces, no space around it, no ".5".
  A currency is its ISO 4217 code in capitals ("USD", never "usd"). Each refusal names the field
  and the problem: not a number, NaN or infinity, an exponent, too many digits for the columns or
  the currency, a sign where none is allowed, an unknown currency, a metal or fund code (XAU ...).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import cache
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import formats
from django.utils.translation import gettext, gettext_lazy, ngettext

from crm.lib.validation import InvalidValue

ROUNDING = ROUND_HALF_EVEN
MAX_DECIMALS = 8  # what MoneyAmountField stores: a satoshi, the smallest unit any default currency has
MAX_DIGITS = 28
MAX_INTEGER_DIGITS = MAX_DIGITS - MAX_DECIMALS  # 20: what the columns hold before the decimal point
MAX_TEXT_LENGTH = 60  # longer than any amount the columns hold, however it is grouped
CURRENCY_MAX_LENGTH = 10
_CODE_RE = re.compile(r"^[A-Z][A-Z0-9]{1,9}$")

# ISO 4217 active codes and their minor units (list one, as amended up to 2025). Codes whose minor
# unit ISO gives as "N.A." (gold, silver, SDR, testing and "no currency" codes) are left out: they
# are not amounts anyone posts. Withdrawn codes (HRK, SLL, ZWL, CUC ...) are left out too; an
# installation that still holds them adds them to CRM_CURRENCY_EXPONENTS.
_ISO_ZERO = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_ISO_THREE = "BHD IQD JOD KWD LYD OMR TND"
_ISO_FOUR = "CLF UYW"
_ISO_TWO = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD CAD
CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD
GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA
MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR
RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD
TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG
"""
ISO_4217_EXPONENTS: Mapping[str, int] = {
    **{code: 2 for code in _ISO_TWO.split()},
    **{code: 0 for code in _ISO_ZERO.split()},
    **{code: 3 for code in _ISO_THREE.split()},
    **{code: 4 for code in _ISO_FOUR.split()},
}

# Crypto assets and stablecoins a brokerage is likely to hold accounts in. Native precisions above
# 8 (ETH has 18) are held at 8, what the columns store; stablecoins at their tokens' 6.
DEFAULT_EXTRA_EXPONENTS: Mapping[str, int] = {
    "BTC": 8, "ETH": 8, "LTC": 8, "BCH": 8, "DOGE": 8, "SOL": 8, "XRP": 6, "TRX": 6,
    "USDT": 6, "USDC": 6,
}


# ISO 4217 codes that are not cash: precious metals, bond-market units, the SDR, the testing and the
# "no currency" codes. Not in the table above; named apart so that the refusal says why.
NON_CASH_CODES: frozenset[str] = frozenset(
    "XAU XAG XPT XPD XDR XSU XUA XBA XBB XBC XBD XTS XXX".split())


class MoneyError(ValueError):
    """Base of the errors below; the ones about input are also `InvalidValue` (they name a field)."""


class CurrencyMismatch(MoneyError, TypeError):
    """Two amounts of different currencies were added, subtracted or ordered."""


class UnknownCurrency(InvalidValue, MoneyError):
    """The code is not an ISO 4217 currency nor one of CRM_CURRENCY_EXPONENTS."""


class NotCashCurrency(UnknownCurrency):
    """A metal, fund, testing or "no currency" code of ISO 4217 (XAU, XDR, XTS, XXX ...): not cash."""


class InvalidAmount(InvalidValue, MoneyError):
    """Not a finite decimal number (or a float, which is never accepted)."""


class AmountTooLarge(InvalidAmount):
    """More integer digits than the columns hold (NUMERIC(28, 8): 20), exponent notation included."""


class NegativeAmount(InvalidAmount):
    """Below zero (or zero) where only an amount above zero is allowed."""


class ExcessPrecision(InvalidValue, MoneyError):
    """More decimals than the currency has, where rounding would change what a person asked for."""


@cache
def _exponents(extra: tuple[tuple[str, Any], ...]) -> dict[str, int]:
    # Cached per configuration, so the configured table is validated once, not on every look-up.
    return {**ISO_4217_EXPONENTS, **exponents_check(dict(extra))}


_last_configured: tuple[Any, tuple[tuple[str, int], ...]] = (object(), ())  # the setting last seen, its table


def _configured() -> tuple[tuple[str, int], ...]:
    # On every amount's way in: the table is rebuilt only when the setting is another object
    # (override_settings in tests), not on each look-up.
    global _last_configured  # noqa: PLW0603 - a one-entry cache
    raw = getattr(settings, "CRM_CURRENCY_EXPONENTS", None)
    last_raw, last_table = _last_configured
    if raw is last_raw:
        return last_table
    merged = {**DEFAULT_EXTRA_EXPONENTS, **(raw or {})}
    table = tuple(sorted(merged.items(), key=lambda item: str(item[0])))
    _last_configured = (raw, table)
    return table


def exponents_check(table: Mapping[str, Any]) -> dict[str, int]:
    """Validate a CRM_CURRENCY_EXPONENTS mapping: codes of 2-10 capitals and digits, exponents
    0-8 (whole numbers). Raises ValueError naming the bad entry; settings call it at start-up."""
    checked: dict[str, int] = {}
    for code, exponent in table.items():
        if not isinstance(code, str) or not _CODE_RE.match(code):
            raise ValueError(f"CRM_CURRENCY_EXPONENTS: {code!r} is not a currency code (2-10 capitals and digits)")
        if isinstance(exponent, bool) or not isinstance(exponent, int) or not 0 <= exponent <= MAX_DECIMALS:
            raise ValueError(f"CRM_CURRENCY_EXPONENTS: {code} needs a whole number of decimals from 0 to "
                             f"{MAX_DECIMALS} (got {exponent!r})")
        checked[code] = exponent
    return checked


def currency_table() -> dict[str, int]:
    """Every known currency code with its exponent (ISO 4217 plus the configured extras)."""
    return dict(_exponents(_configured()))


def currency_normalise(value: str | None, *, field: str = "currency") -> str:
    """`value` itself when it is the code of a known currency, in capitals as ISO 4217 writes it
    ("USD"); UnknownCurrency (naming `field`) otherwise: "usd" or " USD" is refused, not corrected."""
    text = value if isinstance(value, str) else ""
    code = text.strip().upper()
    if not code:
        raise UnknownCurrency(field, gettext("Enter a currency code, such as USD or BTC."))
    if code in NON_CASH_CODES:
        raise NotCashCurrency(field, gettext("%(code)s is not cash (a precious metal, fund or testing code): "
                                             "choose a currency such as USD or EUR.") % {"code": code})
    known = _exponents(_configured())
    if text != code and code in known:
        raise UnknownCurrency(field, gettext("Write the currency code in capitals, without spaces: %(code)s.")
                              % {"code": code})
    if text not in known:
        raise UnknownCurrency(field, gettext("“%(code)s” is not a currency this CRM knows (ISO 4217 or "
                                             "CRM_CURRENCY_EXPONENTS).") % {"code": code[:CURRENCY_MAX_LENGTH]})
    return text


def currency_exponent(currency: str) -> int:
    """Decimals of `currency` (2 for USD, 0 for JPY, 3 for KWD, 8 for BTC)."""
    table = _exponents(_configured())
    exponent = table.get(currency) if isinstance(currency, str) else None  # a code as stored: no normalising
    return exponent if exponent is not None else table[currency_normalise(currency)]


_QUANTA = tuple(Decimal(1).scaleb(-exponent) for exponent in range(MAX_DECIMALS + 1))


def _quantum(exponent: int) -> Decimal:
    return _QUANTA[exponent]


# What code writes (str() of a Decimal, "1E-8" included): ASCII only, no space, no "_" grouping.
_CODE_DECIMAL = re.compile(r"\A[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_NON_FINITE = re.compile(r"\A[+-]?(?:s?nan[0-9]*|inf|infinity)\Z", re.IGNORECASE)


def to_decimal(value: Any, *, field: str = "amount") -> Decimal:
    """A finite Decimal from a Decimal, an int or decimal text as code writes it (str() of a
    Decimal: ASCII digits, exponent notation included); a float or bool is refused. For what
    arrives from outside, read with `amount_parse` / `amount_read`: their grammar is stricter."""
    if isinstance(value, bool) or isinstance(value, float):
        # The float has already lost the exact value; accepting it would hide that.
        raise InvalidAmount(field, gettext("Amounts are exact decimals, never binary floating point."))
    try:
        if isinstance(value, Decimal):
            result = value
        elif isinstance(value, int):
            result = Decimal(value)
        elif isinstance(value, str) and (_CODE_DECIMAL.match(value) or _NON_FINITE.match(value)):
            result = Decimal(value)
        else:
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        raise InvalidAmount(field, gettext("Enter an amount.")) from None
    if result.is_nan():
        raise InvalidAmount(field, gettext("“NaN” (not a number) is not an amount."))
    if result.is_infinite():
        raise InvalidAmount(field, gettext("Infinity is not an amount."))
    return result


def amount_in_range(amount: Decimal, *, field: str = "amount") -> Decimal:
    """`amount` itself, or AmountTooLarge when it has more integer digits than the columns hold."""
    # adjusted(): the power of ten of the first digit, with no arithmetic that an exponent such as
    # 1e999999999 could overflow (abs() and comparisons round in the context first).
    if amount and amount.adjusted() >= MAX_INTEGER_DIGITS:
        raise AmountTooLarge(field, ngettext("The amount is too large: at most %(count)d digit before the decimal point.",
                                             "The amount is too large: at most %(count)d digits before the decimal "
                                             "point.", MAX_INTEGER_DIGITS) % {"count": MAX_INTEGER_DIGITS})
    return amount


def money_round(amount: Decimal, currency: str) -> Decimal:
    """`amount` rounded to `currency`'s minor unit by the one rule (half-even)."""
    return to_decimal(amount).quantize(_quantum(currency_exponent(currency)), rounding=ROUNDING)


def decimal_text(value: Decimal) -> str:
    """`value` as plain decimal text without trailing zeros, never in exponent notation ("-300", "250.5",
    "0.00012"): for JSON and command output, where str() of a normalised Decimal gives "-3E+2"."""
    text = format(to_decimal(value).normalize(), "f")
    return "0" if text in ("-0", "0") else text


# --- parsing what arrives from outside -----------------------------------------------------------------

# The one grammar of an amount from outside: ASCII digits, at most one decimal point with digits on
# both sides, a leading "-" where the field allows one. Python's \\d would take any script's digits.
_AMOUNT = re.compile(r"\A(-?)[0-9]+(?:\.[0-9]+)?\Z")
_EXPONENT = re.compile(r"\A[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)e[+-]?[0-9]+\Z", re.IGNORECASE)


def _amount_text(text: str, *, field: str, signed: bool) -> Decimal:
    """`text` read by the one grammar (see the module's docstring), each refusal by name."""
    if len(text) > MAX_TEXT_LENGTH:
        raise AmountTooLarge(field, gettext("The amount is too long to be one: enter it as 1234.56."))
    match = _AMOUNT.match(text)
    if match is None:
        if _NON_FINITE.match(text):
            to_decimal(text, field=field)  # raises, naming NaN or infinity
        if _EXPONENT.match(text):
            raise InvalidAmount(field, gettext("Write the amount out in digits, without an exponent (“1e3”)."))
        if any(ch.isdigit() and not ch.isascii() for ch in text):
            raise InvalidAmount(field, gettext("Write the amount in the digits 0-9, such as 1234.56."))
        raise InvalidAmount(field, gettext("Enter an amount in the digits 0-9 with a point before any decimals, "
                                           "such as 1234.56, without spaces, signs or grouping."))
    if match.group(1) and not signed:
        raise NegativeAmount(field, gettext("Enter an amount above zero."))
    return amount_in_range(Decimal(text), field=field)


def amount_parse(text: str, *, field: str = "amount", signed: bool = False) -> Decimal:
    """A Decimal from what a person typed, by the one grammar: "1234.56", "250", "0.5" ("-20" too
    with ``signed``). Refused by name (InvalidAmount or a subclass, naming `field`): anything else,
    such as "1,234.56", "1e3", "+1", " 1", ".5", "١٠" or "１"; NaN or infinity; a sign where none is
    allowed (NegativeAmount); more digits than the columns hold (AmountTooLarge). A Decimal or int
    (already a number) is taken as it is, within the columns."""
    if not isinstance(text, str):
        amount = amount_in_range(to_decimal(text, field=field), field=field)
        if amount < 0 and not signed:
            raise NegativeAmount(field, gettext("Enter an amount above zero."))
        return amount
    return _amount_text(text, field=field, signed=signed)


def amount_read(value: Any, *, field: str = "amount") -> Decimal:
    """An amount a machine sent (a PSP's webhook or answer, a settlement file, an API call): a
    Decimal, an int, or text by the same grammar as `amount_parse`, a leading "-" allowed ("1.5E+3"
    and the like are refused: no exponent), within what the columns hold (at most 20 integer digits
    and 8 decimals). A float or bool is refused, and so are NaN, infinity and anything that is not a
    number, each by name (InvalidAmount naming `field`)."""
    if isinstance(value, str):
        amount = _amount_text(value, field=field, signed=True)
    else:
        amount = amount_in_range(to_decimal(value, field=field), field=field)
    if amount != amount.quantize(_quantum(MAX_DECIMALS), rounding=ROUNDING):
        raise ExcessPrecision(field, ngettext("An amount has at most %(count)d decimal.",
                                              "An amount has at most %(count)d decimals.", MAX_DECIMALS)
                              % {"count": MAX_DECIMALS})
    return amount


def money_parse(amount: Any, currency: Any, *, field: str = "amount", currency_field: str = "currency",
                typed: bool = True, positive: bool = True) -> Money:
    """The one reader of an amount and its currency from outside: the currency (`currency_normalise`:
    unknown codes, metals and funds refused), the amount (`amount_parse` for what a person typed,
    `amount_read` for what a machine sent when ``typed=False``), at most the currency's decimals
    (`Money.exact`), and above zero unless ``positive=False`` (which also lets a person type "-"). Every refusal is an InvalidValue
    (a MoneyError) naming `field` or `currency_field`; nothing else is raised."""
    code = currency_normalise(currency if isinstance(currency, str) else "", field=currency_field)
    value = amount_parse(amount, field=field, signed=not positive) if typed else amount_read(amount, field=field)
    if positive and value <= 0:
        raise NegativeAmount(field, gettext("Enter an amount above zero."))
    return Money.exact(value, code, field=field)


# --- the value ---------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, eq=False)
class Money:
    """An immutable amount in a currency. ``Money("0.005", "BTC")``; never from a float."""

    amount: Decimal
    currency: str

    def __init__(self, amount: Decimal | int | str, currency: str) -> None:
        object.__setattr__(self, "amount", amount_in_range(to_decimal(amount)))
        object.__setattr__(self, "currency", currency_normalise(currency))

    # -- construction
    @classmethod
    def parse(cls, text: str, currency: str, *, field: str = "amount") -> Money:
        """From user text (see `amount_parse`), exact for the currency (see `exact`)."""
        return cls.exact(amount_parse(text, field=field), currency, field=field)

    @classmethod
    def exact(cls, amount: Decimal | int | str, currency: str, *, field: str = "amount") -> Money:
        """The amount at the currency's exponent, refused (ExcessPrecision, naming `field`) if that
        would round it: "1000.5 JPY" is an error, not 1000 JPY."""
        value = cls(to_decimal(amount, field=field), currency)
        quantized = value.quantize()
        if quantized.amount != value.amount:
            exponent = value.exponent
            if exponent == 0:
                message = gettext("%(currency)s has no decimals: enter a whole amount.") % {"currency": value.currency}
            else:
                message = ngettext("%(currency)s has at most %(count)d decimal.",
                                   "%(currency)s has at most %(count)d decimals.", exponent) % {
                    "currency": value.currency, "count": exponent}
            raise ExcessPrecision(field, message)
        return quantized

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency).quantize()

    @classmethod
    def from_minor(cls, units: int, currency: str) -> Money:
        """From an integer count of minor units (cents, satoshis), as PSPs often send amounts."""
        if isinstance(units, bool) or not isinstance(units, int):
            raise InvalidAmount("amount", gettext("Minor units are a whole number."))
        code = currency_normalise(currency)
        return cls(Decimal(units).scaleb(-currency_exponent(code)), code)

    @classmethod
    def _checked(cls, amount: Decimal, currency: str) -> Money:
        # For amounts and codes this class has already checked (arithmetic on Money, rounding).
        value = object.__new__(cls)
        object.__setattr__(value, "amount", amount)
        object.__setattr__(value, "currency", currency)
        return value

    # -- reading
    @property
    def exponent(self) -> int:
        # The code was checked on the way in; the table is looked up again in case the setting changed.
        return currency_exponent(self.currency)

    def quantize(self) -> Money:
        """Rounded to the currency's minor unit by the one rule (half-even). Idempotent."""
        return Money._checked(self.amount.quantize(_quantum(self.exponent), rounding=ROUNDING), self.currency)

    @property
    def is_quantized(self) -> bool:
        return self.amount == self.amount.quantize(_quantum(self.exponent), rounding=ROUNDING)

    def minor_units(self) -> int:
        """The amount as a whole count of minor units; ExcessPrecision if it is not one."""
        exact = Money.exact(self.amount, self.currency)
        return int(exact.amount.scaleb(exact.exponent))

    def text(self) -> str:
        """Plain, exact text at the currency's exponent ("0.00500000"), for wires and audit rows."""
        value = self.amount if not self.is_quantized else self.quantize().amount
        return format(value, "f")

    def __str__(self) -> str:
        return f"{self.text()} {self.currency}"

    def __repr__(self) -> str:
        return f"Money('{self.amount}', '{self.currency}')"

    # -- arithmetic
    def _same(self, other: object, op: str) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"cannot {op} Money and {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot {op} {self.currency} and {other.currency}")
        return other

    def __add__(self, other: object) -> Money:
        return Money(self.amount + self._same(other, "add").amount, self.currency)

    def __sub__(self, other: object) -> Money:
        return Money(self.amount - self._same(other, "subtract").amount, self.currency)

    def __mul__(self, factor: object) -> Money:
        if isinstance(factor, Money):
            raise TypeError("cannot multiply two amounts of money")
        return Money(self.amount * to_decimal(factor, field="factor"), self.currency)

    __rmul__ = __mul__

    def __truediv__(self, divisor: object) -> Money:
        if isinstance(divisor, Money):
            raise TypeError("divide the amounts, not the Money values")
        return Money(self.amount / to_decimal(divisor, field="divisor"), self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __pos__(self) -> Money:
        return self

    def __abs__(self) -> Money:
        return Money(abs(self.amount), self.currency)

    def __bool__(self) -> bool:
        return bool(self.amount)

    # -- comparison
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        return self.currency == other.currency and self.amount == other.amount

    def __hash__(self) -> int:
        return hash((self.currency, self.amount))

    def __lt__(self, other: object) -> bool:
        return self.amount < self._same(other, "compare").amount

    def __le__(self, other: object) -> bool:
        return self.amount <= self._same(other, "compare").amount

    def __gt__(self, other: object) -> bool:
        return self.amount > self._same(other, "compare").amount

    def __ge__(self, other: object) -> bool:
        return self.amount >= self._same(other, "compare").amount


def money_format(money: Money, *, use_l10n: bool | None = None) -> str:
    """For display in the active language: its decimal and grouping marks, the currency's decimals,
    the code after the amount ("1,234.50 USD"; Arabic: "1.234,50 USD"). Rounded half-even if the
    amount has more decimals than the currency (a computed figure), never truncated."""
    value = money.quantize().amount
    number = formats.number_format(value, decimal_pos=money.exponent, use_l10n=use_l10n, force_grouping=True)
    return f"{number}\u00a0{money.currency}"


def amount_format(amount: Decimal | int | str, currency: str, *, use_l10n: bool | None = None) -> str:
    """`money_format` of a stored amount and its currency code (two columns of a row, a model's
    ``__str__``): what a person reads of it. A code the table no longer knows (removed from
    CRM_CURRENCY_EXPONENTS), or no amount yet, shows the stored figure with its code rather than failing."""
    try:
        return money_format(Money(amount, currency), use_l10n=use_l10n)
    except MoneyError:
        return f"{amount} {currency}"


# --- model fields ------------------------------------------------------------------------------------

def currency_validator(value: str) -> None:
    """Django validator for currency columns and form fields."""
    try:
        currency_normalise(value)
    except UnknownCurrency as error:
        raise ValidationError(error.message, code="unknown_currency") from None


# The plugin of django-stubs fills these in per column (nullable or not), as for Django's own fields.
_ST = TypeVar("_ST", contravariant=True)
_GT = TypeVar("_GT", covariant=True)


class MoneyAmountField(models.DecimalField[_ST, _GT]):
    """NUMERIC(28, 8): an amount of any known currency, a satoshi included. Store amounts already
    quantised (`Money.quantize` / `Money.exact`); the column only makes room for them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", MAX_DIGITS)
        kwargs.setdefault("decimal_places", MAX_DECIMALS)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if kwargs.get("max_digits") == MAX_DIGITS:
            del kwargs["max_digits"]
        if kwargs.get("decimal_places") == MAX_DECIMALS:
            del kwargs["decimal_places"]
        return name, path, args, kwargs


UNROUNDED_MAX_DIGITS = 48
UNROUNDED_DECIMALS = 20


class UnroundedAmountField(models.DecimalField[_ST, _GT]):
    """NUMERIC(48, 20): an amount before it is posted (a commission line, a beneficiary's share of a
    batch, a period's gross and carry), kept unrounded so that a total is rounded once, from the
    exact sum, as the rules above say. An amount that is posted, held, paid or entered is a
    `MoneyAmountField`, at its currency's exponent; this column is never shown without rounding."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", UNROUNDED_MAX_DIGITS)
        kwargs.setdefault("decimal_places", UNROUNDED_DECIMALS)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if kwargs.get("max_digits") == UNROUNDED_MAX_DIGITS:
            del kwargs["max_digits"]
        if kwargs.get("decimal_places") == UNROUNDED_DECIMALS:
            del kwargs["decimal_places"]
        return name, path, args, kwargs


class CurrencyField(models.CharField[_ST, _GT]):
    """A currency code of up to 10 characters (USDT, USDC), validated against the currency table."""

    default_validators = [currency_validator]  # noqa: RUF012 - Django's own class attribute

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", CURRENCY_MAX_LENGTH)
        if not args:
            kwargs.setdefault("verbose_name", gettext_lazy("currency"))
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if kwargs.get("max_length") == CURRENCY_MAX_LENGTH:
            del kwargs["max_length"]
        return name, path, args, kwargs


def money_fields(*, amount_verbose: str | None = None, null: bool = False,
                 default: Decimal | None = None) -> tuple[MoneyAmountField[Any, Any], CurrencyField[Any, Any]]:
    """An (amount, currency) pair of columns for a model: ``amount, currency = money_fields()``."""
    amount_kwargs: dict[str, Any] = {"null": null, "blank": null}
    if amount_verbose is not None:
        amount_kwargs["verbose_name"] = amount_verbose
    if default is not None:
        amount_kwargs["default"] = default
    return MoneyAmountField(**amount_kwargs), CurrencyField()
