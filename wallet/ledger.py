"""The posting service: the only way money enters the ledger (wallet.models.ledger), and its reads.

Every write goes through `ledger_post` (holds, captures, reversals, conversions and chargebacks are
built on it), which:
- is idempotent: a key posts once; the same key again with the same movement returns the first
  transaction (`replayed` set); with another movement it raises `IdempotencyConflict`;
- validates before writing: at least two legs, no zero leg, each leg in its account's currency and
  rounded to it once (half-even), legs summing to zero per currency;
- sends one statement (wallet_ledger_post, migrations 0015 and 0022): the transaction's row, its
  legs (in their month's partition, which it makes if missing), the
  balance rows of every account involved locked in account-id order (so that postings over the
  same accounts in any order never deadlock), the check under those locks that no account that
  may not go negative (a client wallet) would end below zero in balance or in available
  (balance - held), the holds it captures, the balances. Made on its own, a posting is that one
  statement and its commit; inside a caller's transaction it is a savepoint of it.
The database holds the same rules (migrations 0002_ledger_sql, 0015): balanced legs, immutable
rows, wallets never negative.

Posting does not write an audit row: the ledger is its own record (immutable, with actor and
times), and the audit chain's lock would serialise every posting. Reversals and client debt,
which a person decides or must act on, are audited.

Callers in other apps (deposits, withdrawals, IB commissions, bonuses) use the account helpers
(`wallet_account_for`, `system_account_for`, ...) and post through these functions.
"""

from __future__ import annotations

import functools
import hashlib
import json
import operator
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, NamedTuple

import psycopg
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext
from psycopg import sql as psql

from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import Conflict, ValidationFailed
from crm.lib.money import Money, currency_normalise, money_format, to_decimal
from crm.lib.validation import InvalidValue
from crm.models import Client
from wallet.exceptions import (
    AlreadyReversed,
    IdempotencyConflict,
    InsufficientFunds,
    UnbalancedTransaction,
)
from wallet.models import (
    HOLD_STATES,
    AccountKind,
    HoldState,
    LedgerAccount,
    LedgerBalance,
    LedgerHold,
    LedgerLeg,
    LedgerTransaction,
    NormalSide,
)
from wallet.models.ledger import DEBIT_NORMAL_KINDS, NON_NEGATIVE_KINDS

KEY_MAX_LENGTH = 200


# The ledger's errors (UnbalancedTransaction, InsufficientFunds, ...) are in wallet.exceptions.


# --- accounts ----------------------------------------------------------------------------------------

def _normal_side(kind: str) -> str:
    return NormalSide.DEBIT if kind in DEBIT_NORMAL_KINDS else NormalSide.CREDIT


def _lookup(*, kind: str, currency: str, brand: Any = None, client: Any = None, trading_account: Any = None,
            owner_ref: str = "") -> dict[str, Any]:
    """What tells an account apart: its kind, currency and owner (ValidationFailed for a currency that is none)."""
    kind = AccountKind(kind)
    try:
        code = currency_normalise(currency)
    except InvalidValue as error:
        raise ValidationFailed(fields={error.field: error.message}) from None
    if client is not None:
        # A client's accounts are always in the client's brand, whatever the caller passed.
        brand = client.brand_id if hasattr(client, "brand_id") else (
            Client.objects.values_list("brand_id", flat=True).get(pk=client))
    return {"kind": kind, "currency": code, "brand_id": _pk(brand), "client_id": _pk(client),
            "trading_account_id": _pk(trading_account), "owner_ref": owner_ref}


def _open(lookup: dict[str, Any], name: str) -> LedgerAccount:
    """Open the account of `lookup` with its balance row. Safe under concurrency: the owner constraint
    makes a second opener find the first one's row."""
    with transaction.atomic():
        LedgerAccount.objects.bulk_create(
            [LedgerAccount(**lookup, name=name, normal_side=_normal_side(lookup["kind"]),
                           may_go_negative=lookup["kind"] not in NON_NEGATIVE_KINDS)],
            ignore_conflicts=True)
        account = LedgerAccount.objects.get(**lookup)
        LedgerBalance.objects.bulk_create(
            [LedgerBalance(account=account, currency=lookup["currency"], may_go_negative=account.may_go_negative)],
            ignore_conflicts=True)
    return account


def account_for(*, kind: str, currency: str, brand: Any = None, client: Any = None, trading_account: Any = None,
                owner_ref: str = "", name: str = "") -> LedgerAccount:
    """The account of `kind` for this owner and currency, opened (with its balance row) if missing."""
    lookup = _lookup(kind=kind, currency=currency, brand=brand, client=client, trading_account=trading_account,
                     owner_ref=owner_ref)
    return LedgerAccount.objects.filter(**lookup).order_by("pk").first() or _open(lookup, name)


_OWNER = ("kind", "currency", "brand_id", "client_id", "trading_account_id", "owner_ref")


def accounts_for(*specs: Mapping[str, Any]) -> list[LedgerAccount]:
    """Several accounts at once, each `spec` holding account_for's arguments: read in one query (a
    posting's legs, say), any missing opened as account_for opens it. In the order of `specs`.
    Within ``accounts_known``, those it read are not asked for again."""
    lookups = [_lookup(**{key: value for key, value in spec.items() if key != "name"}) for spec in specs]
    known = _known_accounts.get()
    if known is not None:
        kept = [known.get(tuple(lookup[field] for field in _OWNER)) for lookup in lookups]
        if all(account is not None for account in kept):
            return [account for account in kept if account is not None]
    found = _accounts_read(lookups)
    missing = {tuple(lookup[field] for field in _OWNER): (lookup, str(spec.get("name", "")))
               for lookup, spec in zip(lookups, specs, strict=True)
               if tuple(lookup[field] for field in _OWNER) not in found}
    if len(missing) == 1:
        ((lookup, name),) = missing.values()
        found[tuple(lookup[field] for field in _OWNER)] = _open(lookup, name)
    elif missing:
        # Many new owners at once (an import's new clients): opened together, as _open opens one.
        with transaction.atomic():
            LedgerAccount.objects.bulk_create(
                [LedgerAccount(**lookup, name=name, normal_side=_normal_side(lookup["kind"]),
                               may_go_negative=lookup["kind"] not in NON_NEGATIVE_KINDS)
                 for lookup, name in missing.values()], ignore_conflicts=True)
            opened = _accounts_read([lookup for lookup, _name in missing.values()])
            LedgerBalance.objects.bulk_create(
                [LedgerBalance(account=account, currency=account.currency, may_go_negative=account.may_go_negative)
                 for account in opened.values()], ignore_conflicts=True)
        found.update(opened)
    return [found[tuple(lookup[field] for field in _OWNER)] for lookup in lookups]


def _accounts_read(lookups: Sequence[Mapping[str, Any]]) -> dict[tuple[Any, ...], LedgerAccount]:
    """The existing accounts of `lookups` (one query), by owner; the oldest where there are two."""
    found: dict[tuple[Any, ...], LedgerAccount] = {}
    query = functools.reduce(operator.or_, (Q(**lookup) for lookup in lookups))
    for account in LedgerAccount.objects.filter(query).order_by("pk"):
        found.setdefault(tuple(getattr(account, field) for field in _OWNER), account)
    return found


# The accounts a batch of postings reads once (accounts_known): owner -> account. An account's row
# never changes once opened (its balance is another row, locked by each posting), so it may be kept.
_known_accounts: ContextVar[dict[tuple[Any, ...], LedgerAccount] | None] = ContextVar("ledger_known_accounts",
                                                                                      default=None)


@contextmanager
def accounts_known(*specs: Mapping[str, Any]) -> Iterator[list[LedgerAccount]]:
    """Read the accounts of ``specs`` (accounts_for's) in one query, opening any missing, and within
    the block answer accounts_for from them (a batch of postings over the same accounts, each asking
    for its own). Yields them in the order of ``specs``."""
    accounts = accounts_for(*specs) if specs else []
    token = _known_accounts.set({tuple(getattr(account, field) for field in _OWNER): account
                                 for account in accounts})
    try:
        yield accounts
    finally:
        _known_accounts.reset(token)


def _pk(value: Any) -> int | None:
    if value is None or isinstance(value, int):
        return value
    pk: int = value.pk
    return pk


def wallet_account_for(*, client: Any, currency: str) -> LedgerAccount:
    """The client's wallet in `currency` (one per client and currency; never negative)."""
    return account_for(kind=AccountKind.CLIENT_WALLET, currency=currency, client=client)


def client_debt_account_for(*, client: Any, currency: str) -> LedgerAccount:
    """What the client owes the brokerage in `currency` (chargebacks after the money was spent)."""
    return account_for(kind=AccountKind.CLIENT_DEBT, currency=currency, client=client)


def mirror_account_for(*, trading_account: Any) -> LedgerAccount:
    """The mirror of a trading account's money on its platform, in the account's currency."""
    return account_for(kind=AccountKind.TRADING_MIRROR, currency=trading_account.currency,
                       trading_account=trading_account, brand=trading_account.client.brand_id)


def clearing_account_for(*, provider: str, currency: str, brand: Any = None) -> LedgerAccount:
    """A payment provider's clearing account: what the PSP owes us (or we owe it) in `currency`."""
    if not provider:
        raise ValidationFailed(fields={"provider": gettext("Name the payment provider.")})
    return account_for(kind=AccountKind.PSP_CLEARING, currency=currency, brand=brand, owner_ref=provider)


def system_account_for(*, kind: str, currency: str, brand: Any = None, owner_ref: str = "") -> LedgerAccount:
    """A brokerage account (bank, fees, bonus liability, IB payable, suspense, FX, revenue, equity)
    per brand (None: house-wide) and currency; `owner_ref` tells apart several of one kind
    (a bank account's name, a partner's code)."""
    if kind in {AccountKind.CLIENT_WALLET, AccountKind.CLIENT_DEBT, AccountKind.TRADING_MIRROR}:
        raise ValueError(f"{kind} accounts belong to a client or trading account")
    return account_for(kind=kind, currency=currency, brand=brand, owner_ref=owner_ref)


# --- posting -----------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Leg:
    """One line of a posting: `amount` credited to `account` (negative: debited)."""

    account: LedgerAccount
    amount: Money


def _fingerprint(*, kind: str, legs: Sequence[tuple[int, str, Decimal]], reverses_id: int | None,
                 rate: Decimal | None, rate_source: str, ref_kind: str, ref_code: str) -> str:
    content = {
        "kind": kind,
        "legs": sorted([account_id, currency, format(amount, "f")] for account_id, currency, amount in legs),
        "reverses": reverses_id, "rate": None if rate is None else format(rate.normalize(), "f"),
        "rate_source": rate_source, "ref": [ref_kind, ref_code],
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _check_key(key: str, field: str = "key") -> str:
    if not isinstance(key, str) or not key.strip():
        raise ValidationFailed(fields={field: gettext("Every posting needs an idempotency key.")})
    if len(key) > KEY_MAX_LENGTH:
        raise ValidationFailed(fields={field: gettext("An idempotency key has at most %(n)d characters.")
                                       % {"n": KEY_MAX_LENGTH}})
    return key


def _validated_legs(legs: Sequence[Leg]) -> list[tuple[LedgerAccount, Money]]:
    if len(legs) < 2:
        raise UnbalancedTransaction(gettext("A ledger transaction needs at least two legs."),
                                    fields={"legs": gettext("Add at least two legs.")})
    checked: list[tuple[LedgerAccount, Money]] = []
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for index, leg in enumerate(legs):
        if not isinstance(leg.amount, Money):
            raise TypeError("a leg's amount is Money")
        if leg.account.pk is None:
            raise ValueError("a leg's account must be saved (use the account_for helpers)")
        amount = leg.amount.quantize()  # rounded once, here, at the edge where it is posted
        field = f"legs[{index}]"
        if amount.currency != leg.account.currency:
            raise ValidationFailed(fields={field: gettext(
                "%(currency)s cannot be posted to an account in %(account)s.") % {
                "currency": amount.currency, "account": leg.account.currency}})
        if not amount:
            raise ValidationFailed(fields={field: gettext("A leg of zero moves nothing; leave it out.")})
        totals[amount.currency] += amount.amount
        checked.append((leg.account, amount))
    unbalanced = {currency: total for currency, total in totals.items() if total}
    if unbalanced:
        currency, total = sorted(unbalanced.items())[0]
        raise UnbalancedTransaction(
            gettext("The legs in %(currency)s sum to %(total)s instead of zero.") % {
                "currency": currency, "total": money_format(Money(total, currency))},
            fields={"legs": gettext("Debits and credits must be equal in every currency.")})
    return checked


_TX_COLUMNS = ("code", "idempotency_key", "fingerprint", "kind", "memo", "occurred_at", "recorded_at",
               "reverses_id", "rate", "rate_source", "actor_id", "metadata", "ref_kind", "ref_code")
_TX_FIELDS = ("id", *_TX_COLUMNS)
if tuple(f.attname for f in LedgerTransaction._meta.concrete_fields) != _TX_FIELDS:
    # ledger_post builds the posted transaction from these values in this order
    raise ImproperlyConfigured("wallet.ledger._TX_COLUMNS no longer lists LedgerTransaction's columns in order")


@contextmanager
def _cursor(db: Any = None) -> Iterator[Any]:
    """A cursor binding parameters on the server, for the posting path's fixed statements, which
    are executed with ``prepare=True``: prepared once per connection, so that a posting's
    statements are not parsed and planned anew each time (Django's own cursors bind on the client
    and its connections prepare nothing by themselves: prepare_threshold is None). Errors come out
    as Django's, as from connection.cursor()."""
    db = db if db is not None else connections[DEFAULT_DB_ALIAS]  # one look-up of the thread's connection
    db.ensure_connection()
    with db.wrap_database_errors, psycopg.Cursor(db.connection) as cursor:
        yield cursor


def _lock_balances(account_ids: Sequence[int]) -> dict[int, tuple[Decimal, Decimal, bool]]:
    """Lock the balance rows of `account_ids` (one statement, in id order) and read them."""
    with _cursor() as cursor:
        cursor.execute(
            "SELECT account_id, balance, held, may_go_negative FROM wallet_ledgerbalance "
            "WHERE account_id = ANY(%s) ORDER BY account_id FOR UPDATE", [sorted(set(account_ids))], prepare=True)
        return {row[0]: (row[1], row[2], row[3]) for row in cursor.fetchall()}


def _existing(key: str) -> LedgerTransaction | None:
    found = LedgerTransaction.objects.filter(idempotency_key=key).first()
    if found is not None:
        found.replayed = True
    return found


class _Prepared(NamedTuple):
    key: str
    checked: list[tuple[LedgerAccount, Money]]
    params: list[Any]
    values: list[Any]
    fingerprint: str
    now: datetime


def _prepared(*, key: str, kind: str, legs: Sequence[Leg], occurred_at: datetime | None, actor: Any,
              reverses: LedgerTransaction | None, memo: str, meta: Mapping[str, Any] | None, ref_kind: str,
              ref_code: str, rate: Decimal | None, rate_source: str, consume_holds: Sequence[LedgerHold]) -> _Prepared:
    """A posting validated (ledger_post's checks, its errors) and turned into wallet_ledger_post's parameters."""
    key = _check_key(key)
    if not kind:
        raise ValidationFailed(fields={"kind": gettext("Say what kind of posting this is.")})
    checked = _validated_legs(legs)
    if rate is not None:
        rate = to_decimal(rate, field="rate")
        if rate <= 0 or not rate_source:
            raise ValidationFailed(fields={"rate": gettext("A conversion rate is positive and names its source.")})
    now = timezone.now()
    leg_rows = [(account.pk, money.currency, money.amount) for account, money in checked]
    reverses_id = reverses.pk if reverses is not None else None
    fingerprint = _fingerprint(kind=kind, legs=leg_rows, reverses_id=reverses_id, rate=rate,
                               rate_source=rate_source, ref_kind=ref_kind, ref_code=ref_code)
    metadata = dict(meta or {})
    # In _TX_COLUMNS' order, which is the model's (the id first, from the statement).
    values = [uuid.uuid4(), key, fingerprint, kind, memo, occurred_at or now, now, reverses_id, rate, rate_source,
              _pk(actor), metadata, ref_kind, ref_code]
    deltas: dict[int, Decimal] = defaultdict(Decimal)
    held_deltas: dict[int, Decimal] = defaultdict(Decimal)
    for account_id, _currency, amount in leg_rows:
        deltas[account_id] += amount
    for hold in consume_holds:  # a hold's amount never changes; its state is checked under the lock
        held_deltas[hold.account_id] -= hold.amount
    lock_ids = sorted(deltas.keys() | held_deltas.keys())
    params = [*values[:11], json.dumps(metadata, cls=_JSONEncoder) if metadata else "{}", *values[12:],
              _array(row[0] for row in leg_rows), _array(row[1] for row in leg_rows),
              _array(row[2] for row in leg_rows), _array(lock_ids), _array(deltas.get(i, 0) for i in lock_ids),
              _array(held_deltas.get(i, 0) for i in lock_ids), _array(hold.pk for hold in consume_holds)]
    return _Prepared(key, checked, params, values, fingerprint, now)


def ledger_post(
    *,
    key: str,
    kind: str,
    legs: Sequence[Leg],
    occurred_at: datetime | None = None,
    actor: Any = None,
    reverses: LedgerTransaction | None = None,
    memo: str = "",
    meta: Mapping[str, Any] | None = None,
    ref_kind: str = "",
    ref_code: str = "",
    rate: Decimal | None = None,
    rate_source: str = "",
    consume_holds: Sequence[LedgerHold] = (),
    savepoint: bool = True,
) -> LedgerTransaction:
    """Post one balanced transaction (see the module's docstring for the rules). `consume_holds`:
    holds this posting captures (their amounts leave `held` as the legs leave the balance).
    Raises UnbalancedTransaction / ValidationFailed (nothing written), IdempotencyConflict,
    InsufficientFunds (naming what is available), AlreadyReversed, HoldNotOpen.

    Outside any transaction the posting is one statement, committed on its own; inside one it is
    a savepoint of it, so that a refusal leaves the caller's transaction usable. ``savepoint=False``
    (a caller whose whole transaction fails with a refusal, as a webhook's does): no savepoint, two
    round trips fewer; a refusal then leaves the caller's transaction to be rolled back."""
    prepared = _prepared(key=key, kind=kind, legs=legs, occurred_at=occurred_at, actor=actor, reverses=reverses,
                         memo=memo, meta=meta, ref_kind=ref_kind, ref_code=ref_code, rate=rate,
                         rate_source=rate_source, consume_holds=consume_holds)
    key, checked, params, values, fingerprint, now = prepared
    db = connections[DEFAULT_DB_ALIAS]
    if db.in_atomic_block or not db.get_autocommit():
        with transaction.atomic(savepoint=savepoint):
            tx_id = _post_statement(db, params, checked)
    else:
        tx_id = _post_statement(db, params, checked)
    if tx_id is None:
        existing = _existing(key)
        if existing is None:
            raise AlreadyReversed(gettext("This transaction has already been reversed."))
        if existing.fingerprint != fingerprint:
            raise IdempotencyConflict(gettext(
                "The key “%(key)s” was used for another posting (%(kind)s, %(code)s); a key posts one "
                "movement of money only.") % {"key": key, "kind": existing.kind, "code": existing.code})
        return existing
    tx = LedgerTransaction.from_db(db.alias, _TX_FIELDS, [tx_id, *values])
    for hold in consume_holds:
        # The statement captured them (refusing any hold not in HOLD_STATES.sources(CAPTURED)): the
        # objects in memory follow.
        hold.state, hold.capture_id, hold.resolved_at = HoldState.CAPTURED, tx_id, now
    return tx


def _array(values: Iterable[int | str | Decimal]) -> str:
    """A PostgreSQL array literal of ids, currency codes or amounts (none needs quoting: codes are
    capitals and digits), cheaper to send than a list psycopg would inspect element by element."""
    return "{" + ",".join(str(value) for value in values) + "}"


_POST = ("SELECT wallet_ledger_post(" + ", ".join(["%s"] * len(_TX_COLUMNS))
         + ", %s::bigint[], %s::text[], %s::numeric[], %s::bigint[], %s::numeric[], %s::numeric[], %s::bigint[])")


def _post_statement(db: Any, params: list[Any], checked: list[tuple[LedgerAccount, Money]]) -> int | None:
    """Send the posting (wallet_ledger_post, migration 0015); its refusals as the service's errors."""
    try:
        with _cursor(db) as cursor:
            cursor.execute(_POST, params, prepare=True)
            row = cursor.fetchone()
    except DatabaseError as error:
        _raise_refusal(error, checked)
        raise
    return row[0] if row else None


def _raise_refusal(error: DatabaseError, checked: Sequence[tuple[LedgerAccount, Money]]) -> None:
    """wallet_ledger_post's refusals (`error`) raised as the service's errors; any other error returns."""
    cause = error.__cause__
    sqlstate = getattr(cause, "sqlstate", None)
    detail = getattr(getattr(cause, "diag", None), "message_detail", None) or ""
    if sqlstate == "WLF01":
        account_id, available, requested = detail.split(" ")
        account = next(account for account, _money in checked if account.pk == int(account_id))
        raise InsufficientFunds(account=account, available=Money(Decimal(available), account.currency).quantize(),
                                requested=Money(Decimal(requested), account.currency).quantize()) from None
    if sqlstate == "WLH01":  # a hold the table does not let become captured (released or captured)
        raise HOLD_STATES.refusal(detail, HoldState.CAPTURED) from None


@dataclass(frozen=True, slots=True)
class Posting:
    """One posting for ledger_post_many: ledger_post's arguments (no holds, reversals or rates)."""

    key: str
    kind: str
    legs: Sequence[Leg]
    occurred_at: datetime | None = None
    actor: Any = None
    memo: str = ""
    meta: Mapping[str, Any] | None = None
    ref_kind: str = ""
    ref_code: str = ""


def ledger_post_many(postings: Sequence[Posting]) -> list[LedgerTransaction]:
    """ledger_post for many postings at once (a chunk of an imported history), in order, in the
    caller's transaction, which is required: the same checks, statement and errors as ledger_post,
    but the balance rows of every account the batch touches are locked first, in one statement and
    in account-id order (a batch holds its locks until commit, and never waits for one while holding
    another out of that order), and the postings' statements are sent together in psycopg's pipeline
    (one round trip for the batch instead of one or three per posting). A refusal of any posting
    raises it: the caller's transaction (or savepoint) then rolls the batch back. A key posted before
    comes back as from ledger_post (the earlier transaction, replayed; IdempotencyConflict for
    another movement). The transactions, in order."""
    db = connections[DEFAULT_DB_ALIAS]
    if not db.in_atomic_block:
        raise RuntimeError("ledger_post_many runs inside a transaction")
    prepared = [_prepared(key=p.key, kind=p.kind, legs=p.legs, occurred_at=p.occurred_at, actor=p.actor,
                          reverses=None, memo=p.memo, meta=p.meta, ref_kind=p.ref_kind, ref_code=p.ref_code,
                          rate=None, rate_source="", consume_holds=()) for p in postings]
    if not prepared:
        return []
    _lock_balances([account.pk for p in prepared for account, _money in p.checked])
    ids: list[int | None] = []
    try:
        with _cursor(db) as cursor:
            cursor.executemany(_POST, [p.params for p in prepared], returning=True)
            while True:
                row = cursor.fetchone()
                ids.append(row[0] if row else None)
                if not cursor.nextset():
                    break
    except DatabaseError as error:
        _raise_refusal(error, [leg for p in prepared for leg in p.checked])
        raise
    out = []
    for p, tx_id in zip(prepared, ids, strict=True):
        if tx_id is not None:
            out.append(LedgerTransaction.from_db(db.alias, _TX_FIELDS, [tx_id, *p.values]))
            continue
        existing = _existing(p.key)
        if existing is None or existing.fingerprint != p.fingerprint:
            raise IdempotencyConflict(gettext(
                "The key “%(key)s” was used for another posting; a key posts one movement of money only.")
                % {"key": p.key})
        out.append(existing)
    return out


class _JSONEncoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, Decimal | datetime):
            return str(o)
        if isinstance(o, Money):
            return {"amount": o.text(), "currency": o.currency}
        return super().default(o)


# --- holds -------------------------------------------------------------------------------------------

@transaction.atomic
def ledger_hold(*, key: str, account: LedgerAccount, amount: Money, memo: str = "", actor: Any = None) -> LedgerHold:
    """Set `amount` aside on `account` (a withdrawal awaiting approval): available drops, balance
    stays. Idempotent by `key`. InsufficientFunds if an account that may not go negative has less
    available."""
    key = _check_key(key)
    money = amount.quantize()
    if money.currency != account.currency:
        raise ValidationFailed(fields={"amount": gettext("%(currency)s cannot be held on an account in %(account)s.")
                                       % {"currency": money.currency, "account": account.currency}})
    if money.amount <= 0:
        raise ValidationFailed(fields={"amount": gettext("Enter an amount above zero.")})
    now = timezone.now()
    with _cursor() as cursor:
        cursor.execute(
            "INSERT INTO wallet_ledgerhold (code, idempotency_key, account_id, currency, amount, state, memo, actor_id, "
            "created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
            [uuid.uuid4(), key, account.pk, money.currency, money.amount, HoldState.HELD, memo, _pk(actor), now],
            prepare=True)
        row = cursor.fetchone()
    hold = LedgerHold.objects.get(idempotency_key=key)
    if row is None:
        if hold.account_id != account.pk or hold.money != money:
            raise IdempotencyConflict(gettext("The key “%(key)s” was used for another hold.") % {"key": key})
        return hold
    balance, held, may_go_negative = _lock_balances([account.pk])[account.pk]
    if not may_go_negative and balance - held < money.amount:
        raise InsufficientFunds(account=account, available=Money(balance - held, account.currency).quantize(),
                                requested=money)
    LedgerBalance.objects.filter(account_id=account.pk).update(held=F("held") + money.amount,
                                                               updated_at=timezone.now())
    return hold


@transaction.atomic
def ledger_release(*, hold: LedgerHold, reason: str = "") -> LedgerHold:
    """Give a held amount back to available. Releasing a released hold does nothing; a captured
    one raises HoldNotOpen (HOLD_STATES' refusal, naming both states)."""
    _lock_balances([hold.account_id])
    current = LedgerHold.objects.select_for_update().get(pk=hold.pk)
    if current.state == HoldState.RELEASED:
        return current
    HOLD_STATES.check(current, HoldState.RELEASED)
    now = timezone.now()
    LedgerBalance.objects.filter(account_id=current.account_id).update(held=F("held") - current.amount,
                                                                       updated_at=now)
    memo = f"{current.memo}\n{reason}".strip() if reason else current.memo
    HOLD_STATES.move(current, HoldState.RELEASED, also={"resolved_at": now, "memo": memo}, save=())
    return current


def ledger_hold_capture(*, hold: LedgerHold, key: str, to_account: LedgerAccount, kind: str = "withdrawal",
                        memo: str = "", actor: Any = None, ref_kind: str = "", ref_code: str = "") -> LedgerTransaction:
    """Post the held amount from the hold's account to `to_account`, consuming the hold."""
    amount = hold.money
    return ledger_post(key=key, kind=kind, legs=[Leg(hold.account, -amount), Leg(to_account, amount)],
                       memo=memo, actor=actor, ref_kind=ref_kind, ref_code=ref_code, consume_holds=[hold])


# --- corrections, conversions, chargebacks -------------------------------------------------------------

@transaction.atomic
def ledger_reverse(*, transaction: LedgerTransaction, key: str, reason: str, actor: Any = None) -> LedgerTransaction:
    """Post the mirror image of `transaction`, pointing at it. One reversal per transaction
    (AlreadyReversed otherwise); a reversal is not itself reversed (post the movement again).
    InsufficientFunds if the money has left a wallet since."""
    original = transaction
    if original.reverses_id is not None:
        raise Conflict(gettext("A reversal cannot be reversed; post the movement again instead."),
                       code="ledger_reversal_of_reversal")
    if not reason.strip():
        raise ValidationFailed(fields={"reason": gettext("Say why the transaction is reversed.")})
    legs = [Leg(leg.account, -leg.money) for leg in original.legs.select_related("account").order_by("id")]
    reversal = ledger_post(key=key, kind="reversal", legs=legs, reverses=original, memo=reason, actor=actor,
                           ref_kind=original.ref_kind, ref_code=original.ref_code)
    if not reversal.replayed:
        audit_record(action="wallet.ledger_reversed", obj=original, actor=actor, reason=reason,
                     after={"reversal": str(reversal.code)})
    return reversal


def ledger_convert(*, key: str, source: LedgerAccount, target: LedgerAccount, amount: Money, rate: Decimal,
                   rate_source: str, actor: Any = None, memo: str = "", ref_kind: str = "",
                   ref_code: str = "") -> LedgerTransaction:
    """Move `amount` out of `source` and its value at `rate` (target units per source unit, from
    `rate_source`) into `target`, through the FX accounts of both currencies, so that every
    currency balances on its own. The converted amount is rounded once, half-even."""
    rate = to_decimal(rate, field="rate")
    if amount.currency != source.currency:
        raise ValidationFailed(fields={"amount": gettext("Convert an amount in the source account's currency.")})
    if source.currency == target.currency:
        raise ValidationFailed(fields={"target": gettext("Choose an account in another currency.")})
    if rate <= 0 or not rate_source:
        raise ValidationFailed(fields={"rate": gettext("A conversion rate is positive and names its source.")})
    converted = Money(amount.amount * rate, target.currency).quantize()
    brand = source.brand_id
    fx_source = system_account_for(kind=AccountKind.FX, currency=source.currency, brand=brand)
    fx_target = system_account_for(kind=AccountKind.FX, currency=target.currency, brand=brand)
    return ledger_post(key=key, kind="conversion", legs=[
        Leg(source, -amount), Leg(fx_source, amount), Leg(fx_target, -converted), Leg(target, converted),
    ], rate=rate, rate_source=rate_source, actor=actor, memo=memo, ref_kind=ref_kind, ref_code=ref_code,
        meta={"converted": converted.text()})


@transaction.atomic
def ledger_chargeback(*, key: str, wallet: LedgerAccount, clearing: LedgerAccount, amount: Money, actor: Any = None,
                      memo: str = "", ref_kind: str = "", ref_code: str = "") -> LedgerTransaction:
    """A provider took `amount` back: debit the client's wallet for what it has available and the
    client's debt account for the shortfall (then emit wallet.client_debt for finance), credit
    the clearing account for all of it. Held amounts (pending withdrawals) are left alone."""
    key = _check_key(key)
    if wallet.kind != AccountKind.CLIENT_WALLET or wallet.client_id is None:
        raise ValidationFailed(fields={"wallet": gettext("A chargeback debits a client's wallet.")})
    money = amount.quantize()
    if money.amount <= 0:
        raise ValidationFailed(fields={"amount": gettext("Enter an amount above zero.")})
    debt = client_debt_account_for(client=wallet.client, currency=wallet.currency)
    locked = _lock_balances([wallet.pk, clearing.pk, debt.pk])
    # After the locks: a concurrent chargeback with this key, which held them first, is visible now.
    existing = _existing(key)
    if existing is not None:
        if existing.kind != "chargeback" or existing.ref_kind != ref_kind or existing.ref_code != ref_code:
            raise IdempotencyConflict(gettext("The key “%(key)s” was used for another posting.") % {"key": key})
        return existing
    balance, held, _negative = locked[wallet.pk]
    covered = Money(min(money.amount, max(balance - held, Decimal(0))), money.currency)
    shortfall = money - covered
    legs = [Leg(clearing, money)]
    if covered:
        legs.append(Leg(wallet, -covered))
    if shortfall:
        legs.append(Leg(debt, -shortfall))
    tx = ledger_post(key=key, kind="chargeback", legs=legs, actor=actor, memo=memo, ref_kind=ref_kind,
                     ref_code=ref_code, meta={"shortfall": shortfall.text()})
    if shortfall:
        reference = f"{ref_kind}:{ref_code}" if ref_kind else ""
        emit("wallet.client_debt", client=wallet.client, actor=actor, data={
            "transaction": str(tx.code), "debt_account": str(debt.code), "shortfall": shortfall.text(),
            "charged_back": money.text(), "currency": money.currency, "reference": reference})
        audit_record(action="wallet.client_debt", obj=tx, actor=actor, reason=memo,
                     after={"shortfall": shortfall.text(), "currency": money.currency, "client": str(getattr(wallet.client, "code", ""))})
    return tx


# --- reads -------------------------------------------------------------------------------------------

def balance(account: LedgerAccount) -> Money:
    """The account's balance now (positive: credit), from its balance row."""
    row = LedgerBalance.objects.get(account_id=account.pk)
    return Money(row.balance, row.currency).quantize()


def available(account: LedgerAccount) -> Money:
    """Balance minus what holds set aside."""
    row = LedgerBalance.objects.get(account_id=account.pk)
    return Money(row.balance - row.held, row.currency).quantize()


def normal_balance(account: LedgerAccount, money: Money) -> Money:
    """`money` with the sign an accountant reads for this account (assets shown positive)."""
    return -money if account.normal_side == NormalSide.DEBIT else money


def balance_as_of(account: LedgerAccount, at: datetime) -> Money:
    """The balance the ledger held at `at`: the sum of the legs recorded up to then."""
    total = LedgerLeg.objects.filter(account_id=account.pk, recorded_at__lte=at).aggregate(total=Sum("amount"))["total"]
    return Money(total or 0, account.currency).quantize()


@dataclass(frozen=True)
class WalletBalance:
    account: LedgerAccount
    balance: Money
    held: Money
    available: Money


def wallet_balances_for_client(client: Any) -> list[WalletBalance]:
    """The client's wallets, one per currency, by currency."""
    rows = (LedgerBalance.objects.select_related("account")
            .filter(account__client_id=_pk(client) or 0, account__kind=AccountKind.CLIENT_WALLET)
            .order_by("currency"))
    return [WalletBalance(account=row.account, balance=Money(row.balance, row.currency).quantize(),
                          held=Money(row.held, row.currency).quantize(),
                          available=Money(row.balance - row.held, row.currency).quantize()) for row in rows]


def wallet_balances_for_clients(client_ids: Iterable[int]) -> dict[int, list[WalletBalance]]:
    """wallet_balances_for_client for many clients in one query (an import's reconciliation): by client id,
    each client's wallets by currency (a client without any is left out)."""
    rows = (LedgerBalance.objects.select_related("account")
            .filter(account__client_id__in=list(client_ids), account__kind=AccountKind.CLIENT_WALLET)
            .order_by("account__client_id", "currency"))
    out: dict[int, list[WalletBalance]] = {}
    for row in rows:
        out.setdefault(row.account.client_id or 0, []).append(WalletBalance(
            account=row.account, balance=Money(row.balance, row.currency).quantize(),
            held=Money(row.held, row.currency).quantize(), available=Money(row.balance - row.held, row.currency).quantize()))
    return out


def balances_of(*, kind: str, brand: Any, owner_ref: str) -> list[WalletBalance]:
    """The balances of one owner's system accounts of `kind` in `brand` (a partner's payable, say),
    one per currency, by currency (one query)."""
    brand_id = _pk(brand)
    rows = LedgerBalance.objects.select_related("account").filter(account__kind=kind, account__owner_ref=owner_ref)
    rows = (rows.filter(account__brand_id=brand_id) if brand_id is not None
            else rows.filter(account__brand__isnull=True)).order_by("currency")
    return [WalletBalance(account=row.account, balance=Money(row.balance, row.currency).quantize(),
                          held=Money(row.held, row.currency).quantize(),
                          available=Money(row.balance - row.held, row.currency).quantize()) for row in rows]


@dataclass(frozen=True)
class StatementLine:
    transaction: LedgerTransaction
    recorded_at: datetime
    amount: Money
    running_balance: Money


def statement_lines(account: LedgerAccount, *, start: datetime | None = None,
                    end: datetime | None = None) -> tuple[Money, list[StatementLine]]:
    """The account's opening balance at `start` and its legs from `start` to `end` (inclusive)
    in the order they were recorded, each with the balance after it."""
    opening = balance_as_of(account, start) if start is not None else Money.zero(account.currency)
    legs = LedgerLeg.objects.filter(account_id=account.pk).select_related("transaction").order_by("recorded_at", "id")
    if start is not None:
        legs = legs.filter(recorded_at__gt=start)
    if end is not None:
        legs = legs.filter(recorded_at__lte=end)
    running = opening
    lines = []
    for leg in legs:
        running = running + leg.money
        lines.append(StatementLine(transaction=leg.transaction, recorded_at=leg.recorded_at, amount=leg.money,
                                   running_balance=running))
    return opening, lines


# What must hold of the whole ledger at every moment; each query lists the rows that break it, and
# `_SUBJECTS` says what those rows are (a transaction's id, an account's id, a currency, a trigger).
_INVARIANTS: dict[str, str] = {
    # The database's own guards come first: without them the rest could be rewritten unnoticed.
    # The legs' triggers exist once per monthly partition too: any copy switched off counts.
    "ledger_triggers_missing_or_disabled": "SELECT name FROM unnest(%(triggers)s::text[]) AS name WHERE NOT EXISTS "
                                           "(SELECT 1 FROM pg_trigger WHERE tgname = name) OR EXISTS "
                                           "(SELECT 1 FROM pg_trigger WHERE tgname = name AND tgenabled = 'D') "
                                           "ORDER BY name",
    "unbalanced_transactions": "SELECT DISTINCT transaction_id FROM wallet_ledgerleg GROUP BY transaction_id, currency "
                               "HAVING sum(amount) <> 0 ORDER BY transaction_id",
    "transactions_with_fewer_than_two_legs": "SELECT t.id FROM wallet_ledgertransaction t LEFT JOIN wallet_ledgerleg l "
                                             "ON l.transaction_id = t.id GROUP BY t.id HAVING count(l.id) < 2 "
                                             "ORDER BY t.id",
    "reversals_not_mirroring_their_original": "SELECT r.id FROM wallet_ledgertransaction r "
                                              "WHERE r.reverses_id IS NOT NULL AND EXISTS (SELECT 1 FROM "
                                              "wallet_ledgerleg l WHERE l.transaction_id IN (r.id, r.reverses_id) "
                                              "GROUP BY l.account_id HAVING sum(l.amount) <> 0) ORDER BY r.id",
    "reversals_of_reversals": "SELECT r.id FROM wallet_ledgertransaction r JOIN wallet_ledgertransaction o "
                              "ON o.id = r.reverses_id WHERE o.reverses_id IS NOT NULL ORDER BY r.id",
    "currencies_not_summing_to_zero": "SELECT currency FROM wallet_ledgerleg GROUP BY currency HAVING sum(amount) <> 0",
    "negative_client_wallets": "SELECT b.account_id FROM wallet_ledgerbalance b JOIN wallet_ledgeraccount a "
                               "ON a.id = b.account_id WHERE a.kind = 'client_wallet' "
                               "AND (b.balance < 0 OR b.available < 0)",
    "held_plus_available_not_balance": "SELECT account_id FROM wallet_ledgerbalance "
                                       "WHERE held + available <> balance OR held < 0",
    "balances_not_sum_of_legs": "SELECT b.account_id FROM wallet_ledgerbalance b LEFT JOIN (SELECT account_id, "
                                "sum(amount) AS total FROM wallet_ledgerleg GROUP BY account_id) l "
                                "ON l.account_id = b.account_id WHERE b.balance <> coalesce(l.total, 0)",
    "held_not_open_holds": "SELECT b.account_id FROM wallet_ledgerbalance b LEFT JOIN (SELECT account_id, "
                           "sum(amount) AS total FROM wallet_ledgerhold WHERE state = 'held' GROUP BY account_id) h "
                           "ON h.account_id = b.account_id WHERE b.held <> coalesce(h.total, 0)",
}
_SUBJECTS: dict[str, str] = {
    "ledger_triggers_missing_or_disabled": "trigger", "unbalanced_transactions": "transaction",
    "transactions_with_fewer_than_two_legs": "transaction", "reversals_not_mirroring_their_original": "transaction",
    "reversals_of_reversals": "transaction", "currencies_not_summing_to_zero": "currency",
    "negative_client_wallets": "account", "held_plus_available_not_balance": "account",
    "balances_not_sum_of_legs": "account", "held_not_open_holds": "account",
}
# The triggers of migration 0002 (rewritten by 0015) that keep legs balanced and rows immutable.
LEDGER_TRIGGERS = ("wallet_ledgerleg_balanced", "wallet_ledgerleg_immutable", "wallet_ledgertransaction_has_legs",
                   "wallet_ledgertransaction_immutable")


def ledger_verify() -> dict[str, list[Any]]:
    """Every invariant of the ledger that does not hold, with the rows (transaction, account,
    currency or trigger) that break it, in the order of `_INVARIANTS`; an empty dict when the
    ledger is sound. Reads every leg: for checks and month-end, not for pages."""
    problems: dict[str, list[Any]] = {}
    with connection.cursor() as cursor:
        for name, sql in _INVARIANTS.items():
            cursor.execute(sql, {"triggers": list(LEDGER_TRIGGERS)} if "%(triggers)s" in sql else None)
            rows = [row[0] for row in cursor.fetchall()]
            if rows:
                problems[name] = rows
    return problems


# The per-row checks a bulk load may pause (ledger_balance_checks_paused): the rules they keep are
# ledger_verify's "unbalanced_transactions" and "transactions_with_fewer_than_two_legs".
BALANCE_TRIGGERS = ((LedgerLeg._meta.db_table, "wallet_ledgerleg_balanced"),
                    (LedgerTransaction._meta.db_table, "wallet_ledgertransaction_has_legs"))


@contextmanager
def ledger_balance_checks_paused() -> Iterator[None]:
    """For a bulk load into an empty database (a load generator, a benchmark's setup), as the
    schema's owner: the ledger's per-row balance triggers switched off while the block writes
    millions of postings, and on again after it. Each leg otherwise queues a check that runs at
    its commit, one index probe per row; `ledger_verify` makes the same checks over every row in
    one pass, and the caller must run it after the block (it also reports a trigger left off, as
    a load killed inside the block would leave one). The immutability triggers stay on. Outside
    any transaction only: the switch takes the tables' exclusive lock, and a caller's open
    transaction holding rows of theirs would wait on it forever. Connects as the owner on a
    connection of its own (crm.lib.dbroles)."""
    from crm.lib import dbroles

    if connection.in_atomic_block:
        raise RuntimeError("ledger_balance_checks_paused() runs outside any transaction")
    def switch(state: Literal["DISABLE", "ENABLE"]) -> None:
        owner = dbroles.connect_as_owner()
        try:
            owner.autocommit = True
            with owner.cursor() as cursor:
                for table, trigger in BALANCE_TRIGGERS:
                    cursor.execute(psql.SQL("ALTER TABLE {} {} TRIGGER {}").format(
                        psql.Identifier(table), psql.SQL(state), psql.Identifier(trigger)))
        finally:
            owner.close()

    switch("DISABLE")
    try:
        yield
    finally:
        switch("ENABLE")


def ledger_problem_rows(name: str, rows: Sequence[Any]) -> list[dict[str, Any]]:
    """The rows `ledger_verify` listed under `name`, each named as a person would look it up: a
    transaction by its code, kind and time, an account by its code, kind and currency."""
    subject = _SUBJECTS.get(name, "")
    if subject == "transaction":
        found = {tx.pk: tx for tx in LedgerTransaction.objects.filter(pk__in=rows)}
        return [{"transaction": str(found[pk].code), "id": pk, "kind": found[pk].kind,
                 "recorded_at": found[pk].recorded_at.isoformat()} if pk in found else {"transaction": None, "id": pk}
                for pk in rows]
    if subject == "account":
        accounts = {a.pk: a for a in LedgerAccount.objects.filter(pk__in=rows)}
        return [{"account": str(accounts[pk].code), "id": pk, "kind": accounts[pk].kind,
                 "currency": accounts[pk].currency} if pk in accounts else {"account": None, "id": pk} for pk in rows]
    return [{subject or "row": row} for row in rows]
