"""Trading accounts and balance operations: opening an account, changing its leverage, group and
access, closing it, its password, and the balance operations that move money on it (request, send,
resolve). trading.services offers them to other apps; trading.prop and trading.demo_funding build on
them from here, below the services that re-export both, so that no module of trading imports one that
imports it back.

Services that change something on a trading platform call the platform *outside* any database
transaction (a platform call can take seconds, and what it did must not be rolled back by a later
database error), then record the outcome in one transaction. A platform that refuses raises
PlatformFailed; one that does not answer a write raises PlatformOutcomeUnknown, and the audit log
records that an unconfirmed attempt was made. Passwords are generated here and sent to the platform;
the client sees them once through a single-use link (trading.password_links), where they wait
encrypted until then. They are never logged, mailed or shown to staff.

Balance operations never apply twice: see BalanceOperation and `balance_operation_request`.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import string
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import DomainError, FieldErrors, NotAllowed, ValidationFailed
from crm.lib.enqueue import task_named, task_send_on_commit
from crm.lib.money import Money
from crm.lib.payloads import user_ref
from crm.lib.validation import InvalidValue
from crm.models import Client, User
from crm.permissions import user_can
from trading import summaries
from trading.adapters.base import AccessLevel as PlatformAccess
from trading.adapters.base import AccountChanges, AccountInfo, NewAccount, PlatformError
from trading.adapters.base import BalanceKind as PlatformBalanceKind
from trading.exceptions import (
    AccountClosed,
    AccountOpeningRefused,
    BalanceOperationOpen,
    LeverageAboveCap,
    PlatformFailed,
    PlatformOutcomeUnknown,
    PlatformUnsupportedAction,
)
from trading.models import (
    BALANCE_STATES,
    AccessLevel,
    BalanceOperation,
    BalanceState,
    CloseState,
    PasswordLinkPurpose,
    PlatformServer,
    TradingAccount,
)
from trading.models import (
    BalanceKind as BalanceKind,  # re-exported: the kinds balance_operation_request takes
)
from trading.password_links import password_link_issue
from trading.policy import (
    LeverageLimit,
    brand_policy,
    leverage_limit,
    leverage_refusal,
    live_account_refusal,
)
from trading.registry import adapter_discard, adapter_for

logger = logging.getLogger(__name__)
REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read over the phone
REFERENCE_LENGTH = 10  # 50 bits
REFERENCE_DRAWS = 5
REFERENCE_CONSTRAINT = "balanceop_unique_reference"
COMMENT_PREFIX = "CRM"
MAX_COMMENT = 31  # MT5 keeps 31 characters of a deal comment
PASSWORD_LENGTH = 12
PASSWORD_ALPHABET = "".join(c for c in string.ascii_letters + string.digits if c not in "0OoIl1")
MAX_BALANCE_AMOUNT = Decimal("1000000000")  # MT5 refuses one operation of this size (retcode 4005)
STALE_SEND = dt.timedelta(minutes=2)  # a PENDING row never sent this long after creation: send it


# --- helpers -----------------------------------------------------------------------------------------

def _require(actor: User | None, perm: str) -> None:
    if actor is not None and not user_can(actor, perm):
        raise NotAllowed()


def _platform_error(error: PlatformError) -> PlatformFailed:
    if error.outcome_unknown:
        return PlatformOutcomeUnknown(gettext("The trading platform did not answer (%(error)s); check the account "
                                              "before trying again.") % {"error": error.message})
    return PlatformFailed(gettext("The trading platform refused: %(error)s") % {"error": error.message})


def _account_snapshot(account: TradingAccount) -> dict[str, Any]:
    return {"server": account.server_id, "login": account.login, "client": str(account.client.code),
            "is_demo": account.is_demo, "account_type": account.account_type, "group": account.group,
            "currency": account.currency, "leverage": account.leverage, "access": account.access}


def _event_data(account: TradingAccount, **extra: Any) -> dict[str, Any]:
    return {"account": str(account.code), "login": account.login, "server": account.server_id,
            "server_name": account.server.name, **extra}


def _attribute_history(obj: Any, actor: User | None) -> None:
    """The history row names the service's actor even outside a request (simple_history reads
    `_history_user` before the acting context)."""
    if actor is not None:
        obj._history_user = actor


def _lock_account(account: TradingAccount) -> None:
    account.refresh_from_db(from_queryset=TradingAccount.objects.select_for_update(of=("self",)))


def generate_trading_password() -> str:
    """A strong platform password: 12 characters with upper case, lower case and digits (what MT5
    requires), from an alphabet without look-alike characters."""
    while True:
        candidate = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))
        if (any(c.islower() for c in candidate) and any(c.isupper() for c in candidate)
                and any(c.isdigit() for c in candidate)):
            return candidate


def mapped_groups(server: PlatformServer) -> list[str]:
    return sorted({spec["group"] for spec in (server.account_types or {}).values() if isinstance(spec, dict)})


# --- accounts -------------------------------------------------------------------------------------------

def _call_platform[R](server: PlatformServer, call: Callable[[Any], R], *, action: str, obj: Any = None,
                      object_type: str = "", object_id: str = "", actor: User | None = None) -> R:
    """Run one platform call. A refusal becomes PlatformFailed; a write without an answer is audited
    as an unconfirmed attempt, then raised as PlatformOutcomeUnknown."""
    try:
        return call(adapter_for(server))
    except PlatformError as error:
        adapter_discard(server)
        if error.outcome_unknown:
            with transaction.atomic():
                audit_record(action=f"{action}_unconfirmed", obj=obj, object_type=object_type,
                             object_id=object_id, after={"error": error.message}, actor=actor)
        raise _platform_error(error) from error


def _leverage_checked(*, leverage: int | None, offered: list[int], limit: LeverageLimit) -> int:
    """`leverage` (None: the highest allowed) if the server offers it and the client's cap allows it.
    Above the cap: LeverageAboveCap naming the cap and its rule."""
    allowed = [x for x in offered if limit.allows(x)]
    if leverage is None:
        if not allowed and offered:
            raise LeverageAboveCap(fields={"leverage": gettext(
                "No leverage this account type offers is within the cap. %(rule)s.") % {"rule": limit.rule}})
        leverage = max(allowed) if allowed else None
    if isinstance(leverage, int) and not isinstance(leverage, bool) and not limit.allows(leverage):
        message = leverage_refusal(leverage=leverage, limit=limit)
        raise LeverageAboveCap(message, fields={"leverage": message})
    if leverage is None or leverage not in allowed:
        raise ValidationFailed(fields={"leverage": gettext("Choose one of the allowed leverages: %(values)s.")
                                       % {"values": ", ".join(map(str, allowed)) or "—"}})
    return leverage


def trading_account_open(*, actor: User | None, client: Client, server: PlatformServer, account_type: str,
                         leverage: int | None = None, send_credentials: bool = True) -> TradingAccount:
    """Open a live or demo account for `client` on `server`. The account type picks the platform group
    (and whether it is a demo). A live account needs what the brand's policy asks of the client
    (AccountOpeningRefused naming the rule: the least stage, a verification). Leverage must be one
    the type allows within the client's cap (trading.policy.leverage_limit; LeverageAboveCap naming
    the rule); default: the highest allowed. The client gets a single-use link to see the password
    (trading.password_links), never the password itself. Event "trading.account_opened"."""
    _require(actor, "trading.add_tradingaccount")
    errors = FieldErrors()
    if server.brand_id != client.brand_id:
        errors.add("server", gettext("This server belongs to another brand."))
    if not server.is_active:
        errors.add("server", gettext("This server is not active."))
    spec = server.account_type(account_type)
    if spec is None:
        errors.add("account_type", gettext("Choose an account type of this server."))
    errors.raise_if_any()
    assert spec is not None
    demo = bool(spec.get("demo"))
    policy = brand_policy(server.brand_id)
    if not demo and (refusal := live_account_refusal(client=client, brand=server.brand, policy=policy)):
        raise AccountOpeningRefused(refusal)
    limit = leverage_limit(client=client, brand=server.brand, demo=demo,
                           policy=policy if policy.pk is not None else None)
    leverage = _leverage_checked(leverage=leverage, offered=list(spec.get("leverages", [])), limit=limit)
    if not adapter_for(server).capabilities.create_account:
        raise PlatformUnsupportedAction()
    password, investor = generate_trading_password(), generate_trading_password()
    request = NewAccount(group=spec["group"], leverage=leverage, name=client.full_name[:128],
                         password=password, investor_password=investor, email=client.email, phone=client.phone,
                         country=client.country, comment=f"CRM {client.code}")
    info: AccountInfo = _call_platform(server, lambda a: a.create_account(request), action="trading.account_open",
                                       object_type="crm.client", object_id=str(client.code), actor=actor)
    with transaction.atomic():
        account = TradingAccount(
            server=server, client=client, login=info.login, is_demo=demo,
            account_type=account_type, group=info.group, currency=spec.get("currency") or client.brand.default_currency,
            leverage=info.leverage, access=info.access.value, opened_at=info.registered_at,
        )
        _attribute_history(account, actor)
        account.save()
        summaries.retention_refresh(client_ids=[client.pk])
        audit_record(action="trading.account_open", obj=account, after=_account_snapshot(account), actor=actor)
        emit("trading.account_opened", client=client, actor=actor, data=_event_data(
            account, account_type=account_type, label=spec.get("label", account_type), is_demo=account.is_demo,
            leverage=account.leverage, group=account.group, currency=account.currency))
        if send_credentials:
            password_link_issue(account=account, purpose=PasswordLinkPurpose.OPENED, password=password,
                                investor_password=investor)
    return account


def _account_change(*, actor: User | None, account: TradingAccount, action: str, event: str, reason: str,
                    call: Callable[[Any], AccountInfo], apply: Callable[[TradingAccount, AccountInfo], None],
                    event_extra: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]) -> TradingAccount:
    info = _call_platform(account.server, call, action=action, obj=account, actor=actor)
    with transaction.atomic():
        _lock_account(account)
        before = _account_snapshot(account)
        apply(account, info)
        _attribute_history(account, actor)
        account.save()
        after = _account_snapshot(account)
        audit_record(action=action, obj=account, before=before, after=after, reason=reason, actor=actor)
        emit(event, client=account.client, actor=actor, data=_event_data(account, reason=reason,
                                                                          **event_extra(before, after)))
    return account


def trading_account_set_leverage(*, actor: User | None, account: TradingAccount, leverage: int,
                                 reason: str = "") -> TradingAccount:
    """Change an account's leverage: one its type allows, within its client's cap (LeverageAboveCap
    naming the rule). "trading.leverage_changed"."""
    _require(actor, "trading.change_tradingaccount")
    server = account.server
    spec = server.account_type(account.account_type) if account.account_type else None
    if spec is not None:
        offered = list(spec.get("leverages", []))
    else:
        offered = sorted({x for spec in server.account_types.values() for x in spec.get("leverages", [])})
    limit = leverage_limit(client=account.client, brand=server.brand, demo=account.is_demo)
    if leverage is None:
        raise ValidationFailed(fields={"leverage": gettext("Choose a leverage.")})
    leverage = _leverage_checked(leverage=leverage, offered=offered, limit=limit)
    return _account_change(
        actor=actor, account=account, action="trading.leverage_change", event="trading.leverage_changed",
        reason=reason, call=lambda a: a.update_account(account.login, AccountChanges(leverage=leverage)),
        apply=lambda acc, info: setattr(acc, "leverage", info.leverage),
        event_extra=lambda b, a: {"from": b["leverage"], "to": a["leverage"]},
    )


def trading_account_set_group(*, actor: User | None, account: TradingAccount, group: str,
                              reason: str = "") -> TradingAccount:
    """Move an account to another of the server's mapped groups. "trading.group_changed"."""
    _require(actor, "trading.change_tradingaccount")
    groups = mapped_groups(account.server)
    if group not in groups:
        raise ValidationFailed(fields={"group": gettext("Choose one of this server's groups.")})
    type_of = {spec["group"]: key for key, spec in account.server.account_types.items()}

    def apply(acc: TradingAccount, info: AccountInfo) -> None:
        acc.group = info.group
        acc.account_type = type_of.get(info.group, acc.account_type)

    return _account_change(
        actor=actor, account=account, action="trading.group_change", event="trading.group_changed",
        reason=reason, call=lambda a: a.update_account(account.login, AccountChanges(group=group)),
        apply=apply, event_extra=lambda b, a: {"from": b["group"], "to": a["group"]},
    )


def trading_account_set_access(*, actor: User | None, account: TradingAccount, access: str,
                               reason: str = "") -> TradingAccount:
    """Full, close-only, read-only or disabled. "trading.access_changed"."""
    _require(actor, "trading.change_tradingaccount")
    if access not in AccessLevel.values:
        raise ValidationFailed(fields={"access": gettext("Choose an access level.")})
    level = PlatformAccess(access)
    if level not in adapter_for(account.server).capabilities.access_levels:
        raise ValidationFailed(fields={"access": gettext("This server cannot set that access level (close-only "
                                                         "needs a close-only group mapping).")})

    def apply(acc: TradingAccount, info: AccountInfo) -> None:
        acc.access = info.access.value
        acc.group = info.group

    return _account_change(
        actor=actor, account=account, action="trading.access_change", event="trading.access_changed",
        reason=reason, call=lambda a: a.set_access(account.login, level), apply=apply,
        event_extra=lambda b, a: {"from": b["access"], "to": a["access"]},
    )


CLOSE_REASON_MAX = 500
CLOSE_ERROR_MAX = 300
CLOSE_TASK_ROLES = ("dealer", "admin")


def close_max_attempts() -> int:
    """Failed attempts after which staff get a task to close the account by hand (retries stop)."""
    return max(1, int(getattr(settings, "TRADING_ACCOUNT_CLOSE_MAX_ATTEMPTS", 6)))


def close_retry_seconds(attempts: int) -> int:
    """The wait before the next attempt after `attempts` failed ones: a minute, doubling, at most an hour."""
    return int(min(3600, 60 * 2 ** max(0, attempts - 1)))


def _close_level(account: TradingAccount) -> PlatformAccess:
    levels = adapter_for(account.server).capabilities.access_levels
    return PlatformAccess.DISABLED if PlatformAccess.DISABLED in levels else PlatformAccess.READ_ONLY


def trading_account_close(*, actor: User | None, account: TradingAccount, reason: str) -> TradingAccount:
    """Close an account for good (the client's relationship ends): disabled on the platform through its
    adapter (read-only where the platform cannot disable a login), marked closed with the reason, and from
    then on it takes no deposit (balance_operation_request refuses with AccountClosed; what is on it may
    still be withdrawn). Closing a closed account changes nothing.

    The request is committed first (the account shows "closing", audited "trading.account_close_request"),
    then one attempt is made here (`trading_account_close_attempt`). When the platform cannot be reached,
    refuses for now or does not answer, the account stays closing and the attempt is repeated by a Celery
    task with backoff; an attempt after an unanswered one looks the account up on the platform first and
    sends again only when it is still enabled. Confirmed: audited "trading.account_close", event
    "trading.account_closed", once. Closing an account that is already closing makes an attempt now."""
    _require(actor, "trading.change_tradingaccount")
    text = (reason or "").strip()
    if not text:
        raise ValidationFailed(fields={"reason": gettext("Say why the account is closed.")})
    if len(text) > CLOSE_REASON_MAX:
        raise ValidationFailed(fields={"reason": gettext("At most %(n)s characters.") % {"n": CLOSE_REASON_MAX}})
    if account.closed_at is not None:
        return account
    with transaction.atomic():
        _lock_account(account)
        if account.closed_at is not None:  # closed meanwhile by another call
            return account
        if not account.is_closing:
            account.close_state, account.close_requested_at = CloseState.PENDING, timezone.now()
            account.closed_reason, account.close_attempts, account.close_error = text, 0, ""
            _attribute_history(account, actor)
            account.save(update_fields=["close_state", "close_requested_at", "closed_reason", "close_attempts",
                                        "close_error", "updated_at"])
            audit_record(action="trading.account_close_request", obj=account, reason=text, actor=actor,
                         after={"login": account.login, "close_state": account.close_state})
    closed = trading_account_close_attempt(account_id=account.pk, actor=actor)
    if closed.is_closing and closed.close_attempts < close_max_attempts():
        account_id, wait = closed.pk, close_retry_seconds(closed.close_attempts)
        transaction.on_commit(lambda: _close_retry_enqueue(account_id, wait))
    return closed


def _close_retry_enqueue(account_id: int, countdown: int) -> None:
    from kombu.exceptions import OperationalError

    try:
        task_named("trading.tasks.account_close_attempt").apply_async(args=[account_id], countdown=countdown)
    except OperationalError:  # the broker is down: the beat sweep (account_closes_resume) picks it up
        logger.warning("could not queue the next attempt to close account %s", account_id, exc_info=True)


def trading_account_close_attempt(*, account_id: int, actor: User | None = None) -> TradingAccount:
    """One attempt to get the closing account `account_id` disabled on the platform; never raises for a
    platform failure (the account stays closing and says why). A closed account, or one not asked to
    close, is returned unchanged.

    - "unknown" (the last send had no answer): the account is looked up first; already disabled (or
      read-only where the platform cannot disable), it is confirmed closed without sending anything;
      still enabled, the close is sent. Any failure here leaves it unknown (looked up again next time).
    - "pending": the close is sent. No answer: "unknown". A refusal or the platform down: still "pending".
    Each failure counts; at `close_max_attempts()` failures staff get a task (once)."""
    account = TradingAccount.objects.select_related("server", "client").get(pk=account_id)
    if account.closed_at is not None or not account.is_closing:
        return account
    info: AccountInfo | None = None
    unknown = account.close_state == CloseState.UNKNOWN
    try:
        level = _close_level(account)
        if unknown:
            seen = adapter_for(account.server).get_account(account.login)
            # Still enabled: the unanswered send was not applied, so sending it is no double close.
            info = seen if seen.access is level else adapter_for(account.server).set_access(account.login, level)
        elif account.access != level.value:
            info = adapter_for(account.server).set_access(account.login, level)
    except PlatformError as error:
        adapter_discard(account.server)
        return _close_failed(account, error=error, unknown=unknown or error.outcome_unknown, actor=actor)
    return _close_confirm(account, info=info, actor=actor)


def _close_failed(account: TradingAccount, *, error: PlatformError, unknown: bool, actor: User | None,
                  ) -> TradingAccount:
    with transaction.atomic():
        _lock_account(account)
        if account.closed_at is not None or not account.is_closing:
            return account
        account.close_state = CloseState.UNKNOWN if unknown else CloseState.PENDING
        account.close_attempts += 1
        account.close_error = (error.message or str(error))[:CLOSE_ERROR_MAX]
        account.save(update_fields=["close_state", "close_attempts", "close_error", "updated_at"])
        audit_record(action="trading.account_close_failed", obj=account, actor=actor,
                     after={"login": account.login, "close_state": account.close_state,
                            "attempts": account.close_attempts, "error": account.close_error})
        if account.close_attempts == close_max_attempts():
            _close_task_for_staff(account)
    logger.warning("account %s not closed yet (attempt %s, %s): %s", account.login, account.close_attempts,
                   account.close_state, account.close_error)
    return account


def _close_task_for_staff(account: TradingAccount) -> None:
    """The retries gave up: a dealer (else an administrator) of the brand gets a task to close it by hand."""
    from crm.permissions import staff_of_brand
    from crm.services import task_create

    staff = sorted(staff_of_brand(account.server.brand_id, roles=list(CLOSE_TASK_ROLES)),
                   key=lambda u: (getattr(u.role, "code", "") != "dealer", u.full_name, u.pk))
    if not staff:
        logger.error("no dealer or administrator to close account %s by hand", account.login)
        return
    title = gettext("Close trading account %(login)s on %(server)s by hand") % {
        "login": account.login, "server": account.server.name}
    description = gettext("The platform did not confirm closing this account after %(n)s attempts. Last error: "
                          "%(error)s. Disable the login on the platform, then close it again in the CRM.") % {
        "n": account.close_attempts, "error": account.close_error}
    try:
        task_create(actor=None, assignee=staff[0], client=account.client, title=title[:200],
                    description=description)
    except DomainError:  # the assignee may not see the client: the task then names the account only
        task_create(actor=None, assignee=staff[0], title=title[:200], description=description)


def _close_confirm(account: TradingAccount, *, info: AccountInfo | None, actor: User | None) -> TradingAccount:
    with transaction.atomic():
        _lock_account(account)
        if account.closed_at is not None:  # closed meanwhile by another call
            return account
        before = _account_snapshot(account)
        if info is not None:
            account.access, account.group = info.access.value, info.group
        account.closed_at, account.close_state, account.close_error = timezone.now(), CloseState.CLOSED, ""
        text = account.closed_reason
        _attribute_history(account, actor)
        account.save()
        audit_record(action="trading.account_close", obj=account, before=before,
                     after={**_account_snapshot(account), "closed_at": account.closed_at.isoformat(),
                            "attempts": account.close_attempts + 1},
                     reason=text, actor=actor)
        emit("trading.account_closed", client=account.client, actor=actor,
             data=_event_data(account, reason=text, access=account.access, by=user_ref(actor)))
    return account


def account_closes_resume(*, now: dt.datetime | None = None) -> int:
    """Beat: queue an attempt for each account still closing, untouched for two hours (longer than the
    longest backoff: its Celery retry was lost, the broker was down or a worker died) and whose attempts
    are not used up. An attempt that races a late retry is harmless: disabling is idempotent and the
    confirmation happens once, under the account's lock."""
    now = now or timezone.now()
    stale = now - dt.timedelta(hours=2)
    ids = list(TradingAccount.objects.filter(
        closed_at__isnull=True, close_state__in=[CloseState.PENDING, CloseState.UNKNOWN],
        close_attempts__lt=close_max_attempts(), updated_at__lt=stale).values_list("pk", flat=True))
    for account_id in ids:
        _close_retry_enqueue(account_id, 0)
    return len(ids)


def trading_account_reset_password(*, actor: User | None, account: TradingAccount, reason: str = "") -> None:
    """Set a new, generated trading password on the platform and email the client a single-use link
    to see it (trading.password_links). The password is never logged or shown to staff, and is kept
    only encrypted until the client sees it. "trading.password_reset"."""
    _require(actor, "trading.reset_trading_password")
    client = account.client
    if not client.email:
        raise ValidationFailed(fields={"__all__": gettext("The client has no email address to send the password "
                                                          "link to.")})
    password = generate_trading_password()
    _call_platform(account.server, lambda a: a.change_password(account.login, password),
                   action="trading.password_reset", obj=account, actor=actor)
    with transaction.atomic():
        audit_record(action="trading.password_reset", obj=account, after={"login": account.login,
                                                                          "sent_to": "client email"},
                     reason=reason, actor=actor)
        emit("trading.password_reset", client=client, actor=actor, data=_event_data(account, by=user_ref(actor)))
        password_link_issue(account=account, purpose=PasswordLinkPurpose.RESET, password=password)


# --- balance operations -----------------------------------------------------------------------------

def new_reference() -> str:
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


def _violated_constraint(error: IntegrityError) -> str | None:
    """The name of the constraint PostgreSQL reports as violated (psycopg's diagnostics), if any."""
    diag = getattr(error.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)


def balance_comment(reference: str, reason: str = "") -> str:
    """What the platform gets as the deal comment: the reference first (so it is never cut), then as
    much of the reason as fits in MT5's 31 characters."""
    head = f"{COMMENT_PREFIX} {reference}"
    tail = " ".join((reason or "").split())
    return (f"{head} {tail}" if tail else head)[:MAX_COMMENT].rstrip()


def balance_operation_request(*, actor: User | None, account: TradingAccount, kind: str, amount: Decimal,
                              reason: str = "", send: bool = True) -> BalanceOperation:
    """Move money on a trading account without ever applying it twice.

    Writes the operation as PENDING with a fresh reference and commits it (event
    "trading.balance_requested"); only then is the platform called with the reference in the
    comment (`balance_operation_send`). Called inside an outer transaction, the send is queued as
    a Celery task that runs after that transaction commits; otherwise it runs here, after the
    commit. A negative amount (a withdrawal) is refused while any operation of the account is
    pending or unknown (BalanceOperationOpen)."""
    _require(actor, "trading.add_balanceoperation")
    errors = FieldErrors()
    if kind not in BalanceKind.values:
        errors.add("kind", gettext("Choose a kind of operation."))
    # Exact at the account currency's exponent, never rounded: what staff typed is what is stored,
    # sent and shown ("1000.5" for a JPY account is refused, not sent as 1000).
    try:
        value = Money.exact(amount, account.currency).amount
    except InvalidValue as error:
        errors.add(error.field, error.message)
        value = Decimal(0)
    if not errors and value == 0:
        errors.add("amount", gettext("The amount must not be zero."))
    if abs(value) >= MAX_BALANCE_AMOUNT:
        errors.add("amount", gettext("The amount is too large."))
    errors.raise_if_any()
    if PlatformBalanceKind(kind) not in adapter_for(account.server).capabilities.balance_kinds:
        raise PlatformUnsupportedAction()
    if account.is_archived:
        raise ValidationFailed(fields={"__all__": gettext("This account is archived.")})
    if account.closed_at is not None and value > 0:
        raise AccountClosed()
    operation = _balance_operation_create(actor=actor, account=account, kind=kind, amount=value,
                                          reason=(reason or "").strip()[:200])
    if send:
        if connection.in_atomic_block:
            task_send_on_commit("trading.tasks.balance_operation_send", operation.pk)
        else:
            operation = balance_operation_send(operation_id=operation.pk)
    return operation


@transaction.atomic
def _balance_operation_create(*, actor: User | None, account: TradingAccount, kind: str, amount: Decimal,
                              reason: str) -> BalanceOperation:
    _lock_account(account)  # serialises requests per account: the open-operation check below holds
    if amount < 0 and BalanceOperation.objects.filter(
            account=account, state__in=[BalanceState.PENDING, BalanceState.UNKNOWN]).exists():
        raise BalanceOperationOpen()
    for _attempt in range(REFERENCE_DRAWS):
        reference = new_reference()
        try:
            with transaction.atomic():
                operation = BalanceOperation.objects.create(
                    reference=reference, account=account, kind=kind, amount=amount, currency=account.currency,
                    comment=balance_comment(reference, reason), reason=reason, requested_by=actor,
                )
            break
        except IntegrityError as error:
            # Only a collision of the 50-bit reference is worth another draw; any other violation
            # (a check constraint, a foreign key) is a real error and surfaces as itself.
            if _violated_constraint(error) != REFERENCE_CONSTRAINT:
                raise
    else:
        raise RuntimeError(f"could not draw a unique balance operation reference in {REFERENCE_DRAWS} tries")
    audit_record(action="trading.balance_request", obj=operation, after=_operation_snapshot(operation), actor=actor)
    emit("trading.balance_requested", client=account.client, actor=actor,
         data=_operation_data(operation, account))
    return operation


def _operation_snapshot(op: BalanceOperation) -> dict[str, Any]:
    return {"reference": op.reference, "account": str(op.account.code), "login": op.account.login,
            "kind": op.kind, "amount": str(op.amount), "currency": op.currency, "comment": op.comment,
            "state": op.state, "platform_ticket": op.platform_ticket, "attempts": op.attempts, "error": op.error}


def _operation_data(op: BalanceOperation, account: TradingAccount) -> dict[str, Any]:
    return _event_data(account, operation=str(op.code), reference=op.reference, kind=op.kind,
                       amount=str(op.amount), currency=op.currency, state=op.state, ticket=op.platform_ticket)


def _settle(operation_id: int, *, from_states: tuple[str, ...], state: str, event: str, ticket: int | None = None,
            error: str = "", next_check_at: dt.datetime | None = None) -> BalanceOperation | None:
    """Move an operation to `state` if it is still in one of `from_states` (a conditional, locked
    transition: two settlers can never both succeed); audit and event. None if it had moved on."""
    with transaction.atomic():
        op = (BalanceOperation.objects.select_for_update(of=("self",)).select_related("account__client",
                                                                                     "account__server")
              .filter(pk=operation_id).first())
        if op is None or op.state not in from_states:
            return None
        before = _operation_snapshot(op)
        BALANCE_STATES.move(op, state, save=("updated_at",), also={
            "platform_ticket": ticket if ticket is not None else op.platform_ticket, "error": error[:2000],
            "next_check_at": next_check_at,
            "resolved_at": timezone.now() if state in BALANCE_STATES.terminal else op.resolved_at})
        # The event first: its row takes a key-share lock on the client before the audit chain's
        # lock is held, so a sync that changed the client and waits for the chain cannot deadlock here.
        emit(event, client=op.account.client, data=_operation_data(op, op.account))
        audit_record(action=f"trading.balance_{state}", obj=op, before=before, after=_operation_snapshot(op))
        return op


def balance_operation_send(*, operation_id: int) -> BalanceOperation:
    """Send a committed PENDING operation to the platform, once. APPLIED with the ticket on an
    answer, FAILED on a refusal (nothing applied), UNKNOWN when the answer was lost."""
    op = BalanceOperation.objects.select_related("account__server", "account__client").get(pk=operation_id)
    if op.state != BalanceState.PENDING or op.sent_at is not None:
        return op
    account, server = op.account, op.account.server
    adapter = adapter_for(server)
    try:
        # The platform's own clock bounds the later look-up; a failure here sends nothing.
        platform_before = adapter.server_time().utc
    except PlatformError as error:
        adapter_discard(server)
        return _settle(op.pk, from_states=(BalanceState.PENDING,), state=BalanceState.FAILED,
                       event="trading.balance_failed", error=f"not sent: {error}") or _reload(op)
    with transaction.atomic():
        claimed = BalanceOperation.objects.filter(pk=op.pk, state=BalanceState.PENDING, sent_at__isnull=True).update(
            sent_at=timezone.now(), platform_time_before=platform_before, attempts=op.attempts + 1,
            updated_at=timezone.now())
    if not claimed:
        return _reload(op)  # another worker is sending it
    # Committed as sent before the call: whatever happens next, it is never sent again.
    try:
        ticket = adapter.apply_balance_operation(account.login, PlatformBalanceKind(op.kind), op.amount, op.comment)
    except PlatformError as error:
        adapter_discard(server)
        if error.outcome_unknown:
            return _settle(op.pk, from_states=(BalanceState.PENDING,), state=BalanceState.UNKNOWN,
                           event="trading.balance_unknown", error=str(error),
                           next_check_at=_first_check_at(server)) or _reload(op)
        return _settle(op.pk, from_states=(BalanceState.PENDING,), state=BalanceState.FAILED,
                       event="trading.balance_failed", error=str(error)) or _reload(op)
    except ValueError as error:  # refused by the adapter before sending (comment, amount)
        return _settle(op.pk, from_states=(BalanceState.PENDING,), state=BalanceState.FAILED,
                       event="trading.balance_failed", error=str(error)) or _reload(op)
    return _settle(op.pk, from_states=(BalanceState.PENDING, BalanceState.UNKNOWN), state=BalanceState.APPLIED,
                   event="trading.balance_applied", ticket=ticket) or _reload(op)


def _reload(op: BalanceOperation) -> BalanceOperation:
    return BalanceOperation.objects.select_related("account__server", "account__client").get(pk=op.pk)


def _first_check_at(server: PlatformServer) -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=min(server.deal_visibility_lag_seconds, 60))


def balance_operation_resolve(*, operation_id: int) -> BalanceOperation:
    """Settle an UNKNOWN operation by looking its reference up on the platform. Found: APPLIED with
    that ticket. Not found once the platform's clock has passed the send time plus the request
    timeout plus the deal visibility lag: FAILED (it was not applied; a new operation is safe).
    Otherwise it stays UNKNOWN and is checked again later."""
    op = BalanceOperation.objects.select_related("account__server", "account__client").get(pk=operation_id)
    if op.state != BalanceState.UNKNOWN:
        return op
    server = op.account.server
    adapter = adapter_for(server)
    since = (op.platform_time_before or op.created_at) - dt.timedelta(hours=1)
    try:
        platform_now = adapter.server_time().utc
        ticket = adapter.find_balance_operation(op.account.login, op.reference, since)
    except PlatformError as error:
        adapter_discard(server)
        BalanceOperation.objects.filter(pk=op.pk, state=BalanceState.UNKNOWN).update(
            error=f"look-up failed: {error}"[:2000], next_check_at=timezone.now() + dt.timedelta(minutes=1),
            updated_at=timezone.now())
        return _reload(op)
    if ticket is not None:
        return _settle(op.pk, from_states=(BalanceState.UNKNOWN,), state=BalanceState.APPLIED,
                       event="trading.balance_applied", ticket=ticket) or _reload(op)
    sent = op.platform_time_before or platform_now
    conclusive_at = sent + dt.timedelta(seconds=server.timeout_seconds + server.deal_visibility_lag_seconds)
    if platform_now >= conclusive_at:
        return _settle(op.pk, from_states=(BalanceState.UNKNOWN,), state=BalanceState.FAILED,
                       event="trading.balance_failed",
                       error=gettext("Not found on the platform after its deal visibility lag: not applied.")) \
            or _reload(op)
    wait = max(30.0, (conclusive_at - platform_now).total_seconds())
    BalanceOperation.objects.filter(pk=op.pk, state=BalanceState.UNKNOWN).update(
        next_check_at=timezone.now() + dt.timedelta(seconds=wait), updated_at=timezone.now())
    return _reload(op)


def balance_operations_resolve_due(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Beat: look up UNKNOWN operations that are due; turn PENDING ones whose send died mid-call
    into UNKNOWN; send PENDING ones that were never sent."""
    now = now or timezone.now()
    counts = {"resolved": 0, "stale": 0, "sent": 0}
    for op in BalanceOperation.objects.filter(state=BalanceState.PENDING, sent_at__isnull=False).select_related(
            "account__server"):
        if op.sent_at is not None and op.sent_at + dt.timedelta(seconds=op.account.server.timeout_seconds) + STALE_SEND < now:
            if _settle(op.pk, from_states=(BalanceState.PENDING,), state=BalanceState.UNKNOWN,
                       event="trading.balance_unknown", error="the send did not finish", next_check_at=now):
                counts["stale"] += 1
    for pk in BalanceOperation.objects.filter(state=BalanceState.PENDING, sent_at__isnull=True,
                                              created_at__lt=now - STALE_SEND).values_list("pk", flat=True):
        balance_operation_send(operation_id=pk)
        counts["sent"] += 1
    due = BalanceOperation.objects.filter(state=BalanceState.UNKNOWN).filter(
        Q(next_check_at__isnull=True) | Q(next_check_at__lte=now)).values_list("pk", flat=True)
    for pk in list(due):
        if balance_operation_resolve(operation_id=pk).state != BalanceState.UNKNOWN:
            counts["resolved"] += 1
    return counts


@transaction.atomic
def trading_account_register(*, actor: User | None, client: Client, server: PlatformServer, login: int,
                             account_type: str, currency: str = "", leverage: int = 100,
                             opened_at: dt.datetime | None = None) -> TradingAccount:
    """Record in the CRM an account that already exists on the platform (a migration from another
    CRM): nothing is sent to the platform. Idempotent by (server, login) when the client matches;
    the login of another client is refused."""
    _require(actor, "trading.add_tradingaccount")
    errors = FieldErrors()
    if server.brand_id != client.brand_id:
        errors.add("server", gettext("This server belongs to another brand."))
    spec = server.account_type(account_type)
    if spec is None:
        errors.add("account_type", gettext("Choose an account type of this server."))
    if login <= 0:
        errors.add("login", gettext("Enter a positive login."))
    errors.raise_if_any()
    assert spec is not None
    existing = TradingAccount.objects.filter(server=server, login=login).first()
    if existing is not None:
        if existing.client_id != client.pk:
            errors.add("login", gettext("This login belongs to another client."))
            errors.raise_if_any()
        return existing
    account = TradingAccount(server=server, client=client, login=login, is_demo=bool(spec.get("demo")),
                             account_type=account_type, group=spec["group"],
                             currency=currency or spec.get("currency") or client.brand.default_currency,
                             leverage=leverage, opened_at=opened_at)
    _attribute_history(account, actor)
    account.save()
    summaries.retention_refresh(client_ids=[client.pk])
    audit_record(action="trading.account_register", obj=account, after=_account_snapshot(account), actor=actor)
    return account
