"""Every write of trading that staff (or the system) start: servers, accounts, balance operations.

Conventions as in crm.services: keyword-only arguments, actor first (`actor=None` is the system:
no permission check, the acting context supplies the audit actor); input validated before
anything is written; an audit row per change and a domain event where it belongs on the client's
timeline.

Services that change something on a trading platform call the platform *outside* any database
transaction (a platform call can take seconds, and what it did must not be rolled back by a later
database error), then record the outcome in one transaction. A platform that refuses raises
PlatformFailed; one that does not answer a write raises PlatformOutcomeUnknown, and the audit log
records that an unconfirmed attempt was made. Passwords are generated here, sent to the platform
and mailed to the client after commit; they are never stored or logged.

Balance operations never apply twice: see BalanceOperation and `balance_operation_request`.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import string
import zoneinfo
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext

from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import FieldErrors, NotAllowed, ValidationFailed
from crm.lib.money import Money, UnknownCurrency, currency_normalise
from crm.lib.payloads import user_ref
from crm.lib.validation import InvalidValue
from crm.models import Brand, Client, User
from crm.permissions import user_can
from trading import crypto
from trading.adapters.base import AccessLevel as PlatformAccess
from trading.adapters.base import AccountChanges, AccountInfo, NewAccount, PlatformError
from trading.adapters.base import BalanceKind as PlatformBalanceKind
from trading.exceptions import (
    BalanceOperationOpen,
    PlatformFailed,
    PlatformOutcomeUnknown,
    PlatformUnsupportedAction,
)
from trading.models import (
    AccessLevel,
    BalanceKind,
    BalanceOperation,
    BalanceState,
    BrandTradingPolicy,
    PlatformKind,
    PlatformServer,
    TradingAccount,
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


def _mail_client_after_commit(client: Client, template: str, context: dict[str, Any]) -> None:
    """Send `templates/emails/trading/<template>` to the client once the transaction commits, in the
    client's language. The context may hold a password: it lives only in this closure."""
    if not client.email:
        return
    language = client.language or client.brand.default_language or settings.LANGUAGE_CODE
    recipient = client.email

    def send() -> None:
        with translation.override(language):
            subject = render_to_string(f"emails/trading/{template}_subject.txt", context).strip()
            body = render_to_string(f"emails/trading/{template}.txt", context)
        send_mail(" ".join(subject.split()), body, settings.DEFAULT_FROM_EMAIL, [recipient])

    transaction.on_commit(send)


# --- servers -------------------------------------------------------------------------------------------

SERVER_FIELDS = (
    "brand", "name", "kind", "is_active", "host", "port", "manager_login", "ca_file", "verify_tls",
    "timeout_seconds", "server_tz", "server_tz_offset_minutes", "terminal_path", "account_types",
    "close_only_groups", "sync_enabled", "deal_poll_seconds", "state_poll_seconds", "deal_overlap_seconds",
    "deal_visibility_lag_seconds", "reconcile_days", "inactivity_days", "sync_lag_alert_seconds",
    "margin_call_enter_level", "margin_call_leave_level",
)


def _server_snapshot(server: PlatformServer) -> dict[str, Any]:
    data = {name: getattr(server, name) for name in SERVER_FIELDS if name != "brand"}
    data["brand"] = server.brand_id
    return data


def clean_account_types(value: Any, errors: FieldErrors) -> dict[str, dict[str, Any]]:
    """Account type mapping: {"key": {"label", "group", "leverages": [ints], "demo", "currency"}}."""
    if not isinstance(value, Mapping) or not value:
        errors.add("account_types", gettext("Map at least one account type to a platform group."))
        return {}
    cleaned: dict[str, dict[str, Any]] = {}
    for key, spec in value.items():
        name = str(key).strip()
        if not name or not name.replace("-", "").replace("_", "").isalnum() or len(name) > 40:
            errors.add("account_types", gettext("“%(key)s” is not a valid account type key.") % {"key": key})
            continue
        if not isinstance(spec, Mapping) or not str(spec.get("group") or "").strip():
            errors.add("account_types", gettext("Account type “%(key)s” needs a group.") % {"key": name})
            continue
        leverages = spec.get("leverages")
        if (not isinstance(leverages, list) or not leverages
                or not all(isinstance(x, int) and not isinstance(x, bool) and 1 <= x <= 10_000 for x in leverages)):
            errors.add("account_types", gettext("Account type “%(key)s” needs a list of leverages (whole numbers "
                                                "from 1 to 10000).") % {"key": name})
            continue
        try:
            currency = currency_normalise(str(spec.get("currency") or "USD"))
        except UnknownCurrency as error:
            errors.add("account_types", gettext("Account type “%(key)s”: %(error)s") % {"key": name,
                                                                                        "error": error.message})
            continue
        cleaned[name] = {
            "label": str(spec.get("label") or name)[:60],
            "group": str(spec["group"]).strip()[:64],
            "leverages": sorted(set(leverages)),
            "demo": bool(spec.get("demo", False)),
            "currency": currency,
        }
    return cleaned


@transaction.atomic
def platform_server_save(*, actor: User | None, server: PlatformServer | None = None,
                         manager_password: str = "", **values: Any) -> PlatformServer:
    """Create (`server=None`) or change a platform server. `manager_password` empty keeps the stored
    one (it is write-only); a new server needs one. Audited without the password."""
    _require(actor, "trading.add_platformserver" if server is None else "trading.change_platformserver")
    errors = FieldErrors()
    unknown = set(values) - set(SERVER_FIELDS)
    if unknown:
        raise ValueError(f"unknown server fields: {sorted(unknown)}")
    if server is None:
        server = PlatformServer()
        before = None
    else:
        server.refresh_from_db(from_queryset=PlatformServer.objects.select_for_update(of=("self",)))
        before = _server_snapshot(server)
    for name, value in values.items():
        setattr(server, name, value)
    if server.brand_id is None:
        errors.add("brand", gettext("Choose a brand."))
    if server.kind not in PlatformKind.values:
        errors.add("kind", gettext("Choose a platform."))
    if not (server.name or "").strip():
        errors.add("name", gettext("This field is required."))
    if not (server.host or "").strip():
        errors.add("host", gettext("This field is required."))
    if server.server_tz:
        try:
            zoneinfo.ZoneInfo(server.server_tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            errors.add("server_tz", gettext("Unknown time zone."))
    if not -14 * 60 <= int(server.server_tz_offset_minutes or 0) <= 14 * 60:
        errors.add("server_tz_offset_minutes", gettext("Use an offset between -840 and 840 minutes."))
    server.account_types = clean_account_types(server.account_types, errors)
    groups = {spec["group"].lower() for spec in server.account_types.values()}
    close_only = server.close_only_groups or {}
    if not isinstance(close_only, Mapping) or not all(isinstance(k, str) and isinstance(v, str) and v
                                                       for k, v in close_only.items()):
        errors.add("close_only_groups", gettext("Map group names to close-only group names."))
    elif any(k.lower() not in groups for k in close_only):
        errors.add("close_only_groups", gettext("Every mapped group must be one of the account types' groups."))
    if Decimal(server.margin_call_leave_level) <= Decimal(server.margin_call_enter_level):
        errors.add("margin_call_leave_level",
                   gettext("The margin call must end above the level where it starts."))
    if manager_password:
        server.manager_password_encrypted = crypto.encrypt(manager_password)
    elif not server.manager_password_encrypted:
        errors.add("manager_password", gettext("This field is required."))
    if server.brand_id and PlatformServer.objects.filter(brand_id=server.brand_id, name=server.name).exclude(
            pk=server.pk).exists():
        errors.add("name", gettext("This brand already has a server with this name."))
    errors.raise_if_any()
    _attribute_history(server, actor)
    server.save()
    after = _server_snapshot(server)
    audit_record(action="trading.server_create" if before is None else "trading.server_update", obj=server,
                 before=before, after=after | {"manager_password_changed": bool(manager_password)}, actor=actor)
    adapter_discard(server)
    return server


LEVERAGE_CAP_MAX = 3000  # 1:3000 is the highest leverage any retail platform offers


@transaction.atomic
def brand_trading_policy_set(*, actor: User | None, brand: Brand, max_leverage_live: int,
                             max_leverage_demo: int) -> BrandTradingPolicy:
    """Set a brand's leverage caps (over every server it uses): whole numbers from 1 to 3000. New
    accounts and leverage changes are held to them; existing accounts keep their leverage
    (selectors.accounts_above_cap lists those above)."""
    _require(actor, "trading.change_platformserver")
    errors = FieldErrors()
    for name, label, value in (("max_leverage_live", gettext("Maximum live leverage"), max_leverage_live),
                               ("max_leverage_demo", gettext("Maximum demo leverage"), max_leverage_demo)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= LEVERAGE_CAP_MAX:
            errors.add(name, gettext("%(field)s: use a whole number from 1 to %(max)s.")
                       % {"field": label, "max": LEVERAGE_CAP_MAX})
    errors.raise_if_any()
    policy = BrandTradingPolicy.objects.select_for_update().filter(brand=brand).first()
    created = policy is None
    if policy is None:
        policy = BrandTradingPolicy(brand=brand)
    before = None if created else {"max_leverage_live": policy.max_leverage_live,
                                   "max_leverage_demo": policy.max_leverage_demo}
    policy.max_leverage_live, policy.max_leverage_demo = max_leverage_live, max_leverage_demo
    _attribute_history(policy, actor)
    policy.save()
    audit_record(action="trading.brand_policy_update", obj=policy, before=before,
                 after={"brand": brand.code, "max_leverage_live": max_leverage_live,
                        "max_leverage_demo": max_leverage_demo}, actor=actor)
    return policy


def brand_leverage_cap(brand_id: int, *, demo: bool) -> int | None:
    policy = BrandTradingPolicy.objects.filter(brand_id=brand_id).first()
    if policy is None:
        return None
    return policy.max_leverage_demo if demo else policy.max_leverage_live


def allowed_leverages(server: PlatformServer, account_type: str) -> list[int]:
    """The leverages an account of `account_type` may have: the server's mapping, within the brand's cap."""
    spec = server.account_type(account_type)
    if spec is None:
        return []
    cap = brand_leverage_cap(server.brand_id, demo=bool(spec.get("demo")))
    return [x for x in spec.get("leverages", []) if cap is None or x <= cap]


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


def trading_account_open(*, actor: User | None, client: Client, server: PlatformServer, account_type: str,
                         leverage: int | None = None, send_credentials: bool = True) -> TradingAccount:
    """Open a live or demo account for `client` on `server`. The account type picks the platform group
    (and whether it is a demo); leverage must be one the type allows within the brand's cap
    (default: the highest allowed). The login's password goes to the client by email.
    Event "trading.account_opened"."""
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
    allowed = allowed_leverages(server, account_type)
    if leverage is None:
        leverage = max(allowed) if allowed else None
    if leverage is None or leverage not in allowed:
        errors.add("leverage", gettext("Choose one of the allowed leverages: %(values)s.")
                   % {"values": ", ".join(map(str, allowed)) or "—"})
    errors.raise_if_any()
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
            server=server, client=client, login=info.login, is_demo=bool(spec.get("demo")),
            account_type=account_type, group=info.group, currency=spec.get("currency") or client.brand.default_currency,
            leverage=info.leverage, access=info.access.value, opened_at=info.registered_at,
        )
        _attribute_history(account, actor)
        account.save()
        audit_record(action="trading.account_open", obj=account, after=_account_snapshot(account), actor=actor)
        emit("trading.account_opened", client=client, actor=actor, data=_event_data(
            account, account_type=account_type, label=spec.get("label", account_type), is_demo=account.is_demo,
            leverage=account.leverage, group=account.group, currency=account.currency))
        if send_credentials:
            _mail_client_after_commit(client, "account_opened", {
                "client": client, "account": account, "server_name": server.name, "password": password,
                "investor_password": investor, "site_name": settings.CRM_SITE_NAME,
            })
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
    """Change an account's leverage (one its type allows within the brand's cap). "trading.leverage_changed"."""
    _require(actor, "trading.change_tradingaccount")
    allowed = allowed_leverages(account.server, account.account_type) if account.account_type else []
    if not allowed:
        cap = brand_leverage_cap(account.server.brand_id, demo=account.is_demo)
        allowed = sorted({x for spec in account.server.account_types.values() for x in spec.get("leverages", [])
                          if cap is None or x <= cap})
    if leverage not in allowed:
        raise ValidationFailed(fields={"leverage": gettext("Choose one of the allowed leverages: %(values)s.")
                                       % {"values": ", ".join(map(str, allowed)) or "—"}})
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


def trading_account_reset_password(*, actor: User | None, account: TradingAccount, reason: str = "") -> None:
    """Set a new, generated trading password on the platform and email it to the client. The
    password is never stored, logged or shown to staff. "trading.password_reset"."""
    _require(actor, "trading.reset_trading_password")
    client = account.client
    if not client.email:
        raise ValidationFailed(fields={"__all__": gettext("The client has no email address to send the password "
                                                          "to.")})
    password = generate_trading_password()
    _call_platform(account.server, lambda a: a.change_password(account.login, password),
                   action="trading.password_reset", obj=account, actor=actor)
    with transaction.atomic():
        audit_record(action="trading.password_reset", obj=account, after={"login": account.login,
                                                                          "sent_to": "client email"},
                     reason=reason, actor=actor)
        emit("trading.password_reset", client=client, actor=actor, data=_event_data(account, by=user_ref(actor)))
        _mail_client_after_commit(client, "password_reset", {
            "client": client, "account": account, "server_name": account.server.name, "password": password,
            "site_name": settings.CRM_SITE_NAME,
        })


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
    operation = _balance_operation_create(actor=actor, account=account, kind=kind, amount=value,
                                          reason=(reason or "").strip()[:200])
    if send:
        if connection.in_atomic_block:
            from trading.tasks import balance_operation_send_task

            pk = operation.pk
            transaction.on_commit(lambda: balance_operation_send_task.delay(pk))
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
        op.state = state
        if ticket is not None:
            op.platform_ticket = ticket
        op.error = error[:2000]
        op.next_check_at = next_check_at
        if state in (BalanceState.APPLIED, BalanceState.FAILED):
            op.resolved_at = timezone.now()
        op.save(update_fields=["state", "platform_ticket", "error", "next_check_at", "resolved_at", "updated_at"])
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
        if op.sent_at + dt.timedelta(seconds=op.account.server.timeout_seconds) + STALE_SEND < now:
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
