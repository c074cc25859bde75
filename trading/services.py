"""Every write of trading that staff (or the system) start: servers, accounts, balance operations.

Conventions as in crm.services: keyword-only arguments, actor first (`actor=None` is the system:
no permission check, the acting context supplies the audit actor); input validated before
anything is written; an audit row per change and a domain event where it belongs on the client's
timeline.

Services that change something on a trading platform call the platform *outside* any database
transaction (a platform call can take seconds, and what it did must not be rolled back by a later
database error), then record the outcome in one transaction. A platform that refuses raises
PlatformFailed; one that does not answer a write raises PlatformOutcomeUnknown, and the audit log
records that an unconfirmed attempt was made. Passwords are generated here and sent to the platform;
the client sees them once through a single-use link (trading.password_links), where they wait
encrypted until then. They are never logged, mailed or shown to staff.

Who may get a live account and how much leverage a client's accounts may have: trading.policy.

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
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import DomainError, FieldErrors, NotAllowed, ValidationFailed
from crm.jobs import JobHandle, job_start
from crm.lib.enqueue import task_named, task_send_on_commit
from crm.lib.money import Money, UnknownCurrency, currency_normalise
from crm.lib.payloads import user_ref
from crm.lib.validation import InvalidValue, country_normalise
from crm.models import Brand, Classification, Client, Job, User
from crm.permissions import user_can
from trading import crypto, summaries
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
    OPENING_STAGES,
    AccessLevel,
    BalanceOperation,
    BalanceState,
    Book,
    BrandTradingPolicy,
    ClientLeverageLimit,
    CloseState,
    LeverageCap,
    PasswordLinkPurpose,
    PlatformKind,
    PlatformServer,
    TradingAccount,
    TradingGroup,
)
from trading.models import (
    BalanceKind as BalanceKind,  # re-exported: the kinds balance_operation_request takes
)
from trading.password_links import password_link_issue
from trading.policy import (
    LEVERAGE_CAP_MAX,
    LeverageLimit,
    brand_policy,
    leverage_limit,
    leverage_refusal,
    live_account_refusal,
    rule_scope_text,
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
    """Account type mapping: {"key": {"label", "group", "leverages": [ints], "demo", "currency", "default"}}
    ("default": true marks the live type a client's first live account gets)."""
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
            # The live type a client's first account gets (portal, on approval); kept only when set.
            **({"default": True} if spec.get("default") is True else {}),
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
    call_level = server.margin_call_enter_level
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
    _server_clock_check(server, errors)
    server.account_types = clean_account_types(server.account_types, errors)
    _close_only_groups_check(server, errors)
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
    if before is not None and Decimal(server.margin_call_enter_level) != Decimal(call_level):
        summaries.retention_refresh_server(server_id=server.pk)  # who is under the level changed
    audit_record(action="trading.server_create" if before is None else "trading.server_update", obj=server,
                 before=before, after=after | {"manager_password_changed": bool(manager_password)}, actor=actor)
    adapter_discard(server)
    live_types = sum(1 for spec in (server.account_types or {}).values()
                     if isinstance(spec, dict) and spec.get("group") and not spec.get("demo"))
    if server.is_active and live_types:
        # Verified clients of the brand may be waiting for a live server (the trader's room opens
        # their first live account on this event).
        emit("trading.server_saved", brand=server.brand_id, actor=actor, data={
            "server": server.pk, "server_name": server.name, "live_types": live_types})
    return server


@transaction.atomic
def platform_server_import(*, actor: User | None, brand: Brand, name: str, kind: str = PlatformKind.MT5_WEB,
                           host: str = "", manager_login: int = 0, server_tz: str = "",
                           account_types: Any = None) -> PlatformServer:
    """A brand's platform server as another CRM's migration names it, recorded without its
    credentials: inactive, not synced, until an administrator completes its connection (host,
    manager login and password) and activates it on the server's page. Its accounts and deals can
    be imported meanwhile. `account_types` as platform_server_save's (the types the imported
    accounts name). ValidationFailed naming each field; a name the brand has already is refused."""
    _require(actor, "trading.add_platformserver")
    errors = FieldErrors()
    name = " ".join(str(name or "").split())[:120]
    if not name:
        errors.add("name", gettext("This field is required."))
    elif PlatformServer.objects.filter(brand=brand, name=name).exists():
        errors.add("name", gettext("This brand already has a server with this name."))
    if kind not in PlatformKind.values:
        errors.add("kind", gettext("Choose a platform."))
    types = clean_account_types(account_types, errors)
    server = PlatformServer(brand=brand, name=name, kind=kind, host=str(host or "")[:255],
                            manager_login=int(manager_login or 0), server_tz=str(server_tz or "")[:64],
                            account_types=types, is_active=False, sync_enabled=False)
    _server_clock_check(server, errors)
    errors.raise_if_any()
    _attribute_history(server, actor)
    server.save()
    audit_record(action="trading.server_import", obj=server, after=_server_snapshot(server), actor=actor)
    return server


def _server_clock_check(server: PlatformServer, errors: FieldErrors) -> None:
    """The server's time zone is a known one; its fixed offset is within 14 hours of UTC."""
    if server.server_tz:
        try:
            zoneinfo.ZoneInfo(server.server_tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            errors.add("server_tz", gettext("Unknown time zone."))
    if not -14 * 60 <= int(server.server_tz_offset_minutes or 0) <= 14 * 60:
        errors.add("server_tz_offset_minutes", gettext("Use an offset between -840 and 840 minutes."))


def _close_only_groups_check(server: PlatformServer, errors: FieldErrors) -> None:
    """Each close-only mapping names one of the account types' groups and the group it moves to."""
    groups = {spec["group"].lower() for spec in server.account_types.values()}
    close_only = server.close_only_groups or {}
    if not isinstance(close_only, Mapping) or not all(isinstance(k, str) and isinstance(v, str) and v
                                                       for k, v in close_only.items()):
        errors.add("close_only_groups", gettext("Map group names to close-only group names."))
    elif any(k.lower() not in groups for k in close_only):
        errors.add("close_only_groups", gettext("Every mapped group must be one of the account types' groups."))


@transaction.atomic
def brand_trading_policy_set(*, actor: User | None, brand: Brand, max_leverage_live: int, max_leverage_demo: int,
                             live_min_stage: str | None = None,
                             live_requires_verification: bool | None = None) -> BrandTradingPolicy:
    """Set a brand's policy: its leverage ceilings over every server it uses (whole numbers from 1 to
    3000; the demo ceiling not below the live one, so that a demo trades as a live account can) and
    who may get a live account (the least stage; whether a verification is needed). None keeps
    what is set (a new policy: the defaults). New accounts and leverage changes are held to it at
    once; existing accounts keep their leverage (selectors.accounts_above_cap lists those above)."""
    _require(actor, "trading.change_platformserver")
    errors = FieldErrors()
    for name, label, value in (("max_leverage_live", gettext("Maximum live leverage"), max_leverage_live),
                               ("max_leverage_demo", gettext("Maximum demo leverage"), max_leverage_demo)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= LEVERAGE_CAP_MAX:
            errors.add(name, gettext("%(field)s: use a whole number from 1 to %(max)s.")
                       % {"field": label, "max": LEVERAGE_CAP_MAX})
    if not errors and max_leverage_demo < max_leverage_live:
        errors.add("max_leverage_demo", gettext("The demo cap (1:%(demo)s) must not be below the live cap "
                                                "(1:%(live)s): a demo account should trade as a live one can.")
                   % {"demo": max_leverage_demo, "live": max_leverage_live})
    stages = [s.value for s in OPENING_STAGES]  # the choices of BrandTradingPolicy.live_min_stage
    if live_min_stage is not None and live_min_stage not in stages:
        errors.add("live_min_stage", gettext("Choose one of the stages offered."))
    errors.raise_if_any()
    policy = BrandTradingPolicy.objects.select_for_update().filter(brand=brand).first()
    created = policy is None
    if policy is None:
        policy = BrandTradingPolicy(brand=brand)
    before = None if created else _policy_snapshot(policy)
    policy.max_leverage_live, policy.max_leverage_demo = max_leverage_live, max_leverage_demo
    if live_min_stage is not None:
        policy.live_min_stage = live_min_stage
    if live_requires_verification is not None:
        policy.live_requires_verification = bool(live_requires_verification)
    _attribute_history(policy, actor)
    policy.save()
    audit_record(action="trading.brand_policy_update", obj=policy, before=before,
                 after={"brand": brand.code, **_policy_snapshot(policy)}, actor=actor)
    return policy


def _policy_snapshot(policy: BrandTradingPolicy) -> dict[str, Any]:
    return {"max_leverage_live": policy.max_leverage_live, "max_leverage_demo": policy.max_leverage_demo,
            "live_min_stage": policy.live_min_stage, "live_requires_verification": policy.live_requires_verification}


def brand_leverage_cap(brand_id: int, *, demo: bool) -> int | None:
    """The brand's ceiling (not a client's cap: see trading.policy.leverage_limit)."""
    policy = BrandTradingPolicy.objects.filter(brand_id=brand_id).first()
    if policy is None:
        return None
    return policy.max_leverage_demo if demo else policy.max_leverage_live


# --- leverage cap rules -------------------------------------------------------------------------------

def _cap_snapshot(cap: LeverageCap) -> dict[str, Any]:
    return {"brand": cap.brand.code, "country": cap.country, "classification": cap.classification,
            "max_leverage": cap.max_leverage}


@transaction.atomic
def leverage_cap_save(*, actor: User | None, brand: Brand, country: str, classification: str, max_leverage: int,
                      cap: LeverageCap | None = None) -> LeverageCap:
    """Create (`cap` None) or change a cap rule of `brand` for live accounts of its clients in
    `country` (ISO code, "" any) of `classification` ("" any); at least one of the two. One rule
    per country and classification. Audited ("trading.leverage_cap_create" / "_update")."""
    _require(actor, "trading.change_platformserver")
    errors = FieldErrors()
    try:
        country = country_normalise(country if isinstance(country, str) else None)
    except InvalidValue as error:
        errors.add("country", error.message)
    if not isinstance(classification, str) or classification not in ["", *Classification.values]:
        errors.add("classification", gettext("Choose retail, professional, eligible counterparty or any."))
    if isinstance(max_leverage, bool) or not isinstance(max_leverage, int) or not 1 <= max_leverage <= LEVERAGE_CAP_MAX:
        errors.add("max_leverage", gettext("Give the cap as a whole number from 1 to %(max)s (30 means 1:30).")
                   % {"max": LEVERAGE_CAP_MAX})
    if not errors and not country and not classification:
        errors.add("__all__", gettext("Name a country, a classification or both: the cap for every client of the "
                                      "brand is its live ceiling."))
    errors.raise_if_any()
    clash = LeverageCap.objects.filter(brand=brand, country=country, classification=classification)
    if cap is not None:
        clash = clash.exclude(pk=cap.pk)
    if clash.exists():
        raise ValidationFailed(fields={"__all__": gettext("%(brand)s already has a cap for %(who)s.") % {
            "brand": brand.name, "who": rule_scope_text(country=country, classification=classification)}})
    before = None
    if cap is None:
        cap = LeverageCap(brand=brand)
    else:
        cap.refresh_from_db(from_queryset=LeverageCap.objects.select_for_update(of=("self",)))
        before = _cap_snapshot(cap)
    cap.country, cap.classification, cap.max_leverage = country, classification, max_leverage
    _attribute_history(cap, actor)
    cap.save()
    audit_record(action="trading.leverage_cap_create" if before is None else "trading.leverage_cap_update",
                 obj=cap, before=before, after=_cap_snapshot(cap), actor=actor)
    return cap


@transaction.atomic
def leverage_cap_delete(*, actor: User | None, cap: LeverageCap) -> None:
    """Remove a cap rule (less specific rules and the brand's ceiling apply again). Audited."""
    _require(actor, "trading.change_platformserver")
    before = _cap_snapshot(cap)
    _attribute_history(cap, actor)
    audit_record(action="trading.leverage_cap_delete", obj=cap, before=before, after=None, actor=actor)
    cap.delete()


def allowed_leverages(server: PlatformServer, account_type: str, *, client: Client | None = None) -> list[int]:
    """The leverages an account of `account_type` may have: the server's mapping, within `client`'s
    cap (trading.policy.leverage_limit), or within the brand's ceiling when no client is named."""
    spec = server.account_type(account_type)
    if spec is None:
        return []
    limit = _limit_for(server, demo=bool(spec.get("demo")), client=client)
    return [x for x in spec.get("leverages", []) if limit.allows(x)]


def _limit_for(server: PlatformServer, *, demo: bool, client: Client | None) -> LeverageLimit:
    if client is None:
        return LeverageLimit(cap=brand_leverage_cap(server.brand_id, demo=demo))
    return leverage_limit(client=client, brand=server.brand, demo=demo)


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


LOWER_JOB_KIND = "trading.leverage_lower"


def leverage_lower_start(*, actor: User, brand: Brand, cap: int, demo: bool) -> Job:
    """Start a background job (crm.jobs) that lowers every open account of `brand` whose cap is
    `cap` (live or demo) and whose leverage is above it, among those `actor` may see, to the
    highest leverage its type allows within its cap, through trading_account_set_leverage (each
    change on the platform first, audited, with its event). The accounts are the ones above the cap
    now; the job checks each again before changing it."""
    from trading.selectors import accounts_above_cap

    _require(actor, "trading.change_tradingaccount")
    ids = list(accounts_above_cap(user=actor, brand=brand).filter(leverage_cap=cap, is_demo=demo)
               .values_list("pk", flat=True))
    if not ids:
        message = gettext("No account is above 1:%(cap)s any more.") % {"cap": cap}
        raise ValidationFailed(message, fields={"__all__": message})
    kind = gettext("demo") if demo else gettext("live")
    return job_start(kind=LOWER_JOB_KIND, actor=actor, brand=brand, total=len(ids),
                     title=ngettext("Lower %(count)s %(kind)s account of %(brand)s to 1:%(cap)s",
                                    "Lower %(count)s %(kind)s accounts of %(brand)s to 1:%(cap)s", len(ids))
                     % {"count": len(ids), "kind": kind, "brand": brand.name, "cap": cap},
                     func="trading.jobs.leverage_lower", kwargs={"account_ids": ids, "cap": cap},
                     link=reverse("trading_policy_edit", args=[brand.code]))


LOWERED, SKIPPED, FAILED = "lowered", "skipped", "failed"


def _lower_one(*, actor: User | None, account: TradingAccount | None) -> tuple[str, int | None, str]:
    """Lower one account to its cap: (outcome, the new leverage, what happened in words)."""
    if account is None or account.is_archived:
        return SKIPPED, None, gettext("The account is archived or gone.")
    server = account.server
    limit = leverage_limit(client=account.client, brand=server.brand, demo=account.is_demo)
    if limit.allows(account.leverage):
        return SKIPPED, None, gettext("Already within its cap.")
    spec = server.account_type(account.account_type) if account.account_type else None
    offered = spec.get("leverages", []) if spec else [x for t in server.account_types.values()
                                                      for x in t.get("leverages", [])]
    within = [x for x in offered if limit.allows(x)]
    if not within:
        return FAILED, None, gettext("Its account type offers no leverage within the cap. %(rule)s.") % {
            "rule": limit.rule}
    target = max(within)
    try:
        changed = trading_account_set_leverage(actor=actor, account=account, leverage=target,
                                               reason=gettext("Lowered to the cap: %(rule)s") % {"rule": limit.rule})
    except DomainError as error:
        return FAILED, None, error.message
    return LOWERED, changed.leverage, limit.rule


def leverage_lower_run(*, handle: JobHandle, account_ids: list[int], cap: int) -> dict[str, int]:
    """The job of leverage_lower_start: one account at a time, each on its own (a platform that
    refuses or does not answer fails that account only, and nothing of it is written). The result
    file names every account with its outcome; the counts say how many were lowered, skipped or
    failed."""
    actor = handle.job.started_by
    counts = {LOWERED: 0, SKIPPED: 0, FAILED: 0}
    labels = {LOWERED: gettext("lowered"), SKIPPED: gettext("skipped"), FAILED: gettext("failed")}
    with handle.csv_result(f"leverage-1-{cap}.csv") as writer:
        writer.writerow([gettext("Login"), gettext("Server"), gettext("Client"), gettext("Leverage before"),
                         gettext("Leverage after"), gettext("Outcome"), gettext("Detail")])
        for done, pk in enumerate(account_ids, start=1):
            account = (TradingAccount.objects.select_related("server__brand", "client__brand")
                       .filter(pk=pk).first())
            before = account.leverage if account is not None else None
            outcome, after, detail = _lower_one(actor=actor, account=account)
            counts[outcome] += 1
            writer.writerow([account.login if account else pk, account.server.name if account else "",
                             account.client.full_name if account else "", f"1:{before}" if before else "",
                             f"1:{after}" if after else "", labels[outcome], detail])
            handle.progress(done, lowered=counts[LOWERED], skipped=counts[SKIPPED], failed=counts[FAILED])
    handle.set_result_rows(len(account_ids))
    return counts


# --- a client's own leverage limit ------------------------------------------------------------------

@transaction.atomic
def client_leverage_limit_record(*, client: Client, source: str, max_leverage: int | None, reason: str,
                                 reference: str, set_at: dt.datetime) -> ClientLeverageLimit | None:
    """Record the client's leverage limit from `source` (the appropriateness questionnaire), which
    trading.policy.leverage_limit applies on top of the brand's caps from now on. A decision older
    than the one recorded is ignored (None): events may be delivered out of order. Audited; the
    client's open live accounts above it are lowered after commit (client_accounts_lower)."""
    if source not in ClientLeverageLimit.Source.values:
        raise ValidationFailed(fields={"source": gettext("Unknown source of a leverage limit.")})
    if max_leverage is not None and (not isinstance(max_leverage, int) or max_leverage < 1):
        raise ValidationFailed(fields={"max_leverage": gettext("The limit must be a whole number from 1.")})
    row = ClientLeverageLimit.objects.select_for_update().filter(client=client, source=source).first()
    before = None
    if row is not None:
        if row.set_at > set_at:
            return None
        before = {"max_leverage": row.max_leverage, "reason": row.reason, "reference": row.reference}
    else:
        row = ClientLeverageLimit(client=client, source=source)
    row.max_leverage, row.reason, row.reference, row.set_at = max_leverage, reason[:64], reference[:64], set_at
    row.save()
    audit_record(action="trading.client_leverage_limit", obj=client, before=before, after={
        "source": source, "max_leverage": max_leverage, "reason": row.reason, "reference": row.reference})
    if max_leverage is not None:
        task_send_on_commit("trading.tasks.client_accounts_lower", client.pk)
    return row


def client_accounts_lower(*, client_id: int) -> dict[str, int]:
    """Lower the client's open live accounts whose leverage is above their cap now (the client's own
    limit included) to the highest leverage their type offers within it, one by one, as the bulk
    lowering does (each on the platform first, audited, "trading.leverage_changed"; the system acts).
    An account the platform refuses stays as it is and is counted as failed."""
    counts = {LOWERED: 0, SKIPPED: 0, FAILED: 0}
    accounts = (TradingAccount.objects.select_related("server__brand", "client__brand")
                .filter(client_id=client_id, is_demo=False, is_archived=False).order_by("pk"))
    for account in accounts:
        outcome, _after, detail = _lower_one(actor=None, account=account)
        counts[outcome] += 1
        if outcome == FAILED:
            logger.warning("account %s above its cap was not lowered: %s", account.login, detail)
    return counts


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


def trading_summaries_rebuild() -> int:
    """Recompute trading's read models (trading.summaries: retention per trader, exposure per brand)
    from the raw rows, for a bulk load that bypassed the services; how many traders."""
    return summaries.rebuild()


# The demo's deposits to live accounts (trading.demo_funding): the wallet registers how it funds one.
from trading.demo_funding import (  # noqa: E402
    balance_operation_send_now as balance_operation_send_now,
)
from trading.demo_funding import (  # noqa: E402
    register_demo_funder as register_demo_funder,
)
from trading.demo_funding import (  # noqa: E402
    unregister_demo_funder as unregister_demo_funder,
)

# Prop-trading challenges (trading.prop): the writes the wallet calls around a fee and a payout.
from trading.prop import (  # noqa: E402 - trading.prop imports this module's services lazily
    challenge_create as challenge_create,
)
from trading.prop import (  # noqa: E402
    challenge_open_account as challenge_open_account,
)
from trading.prop import (  # noqa: E402
    challenge_payout_take as challenge_payout_take,
)
from trading.prop import (  # noqa: E402
    challenge_product_save as challenge_product_save,
)
from trading.prop import (  # noqa: E402
    challenges_act as challenges_act,
)
from trading.prop import (  # noqa: E402
    challenges_evaluate as challenges_evaluate,
)
from trading.prop import (  # noqa: E402
    challenges_refresh as challenges_refresh,
)


@transaction.atomic
def trading_group_book_set(*, actor: User | None, server: PlatformServer, group: str, book: str) -> TradingGroup | None:
    """Say which book a platform group of `server` is (`"a"`, `"b"`), or `""` to say nothing (the
    group's row is removed). Administrators only (`actor=None`: the system); audited with the
    book before and after. Deals already counted take the new book at the read models' next rebuild."""
    if actor is not None and not getattr(actor, "is_administrator", False):
        raise NotAllowed(gettext("Only administrators say which book a group is."))
    name = (group or "").strip()
    if not name or len(name) > 64:
        raise ValidationFailed(fields={"group": gettext("Give the group's name as the platform spells it "
                                                        "(at most 64 characters).")})
    if book not in ("", *Book.values):
        raise ValidationFailed(fields={"book": gettext("Choose A-book, B-book or none, not %(book)r.") % {"book": book}})
    current = TradingGroup.objects.select_for_update().filter(server=server, name=name).first()
    before = {"book": current.book if current else ""}
    if not book:
        if current is not None:
            current.delete()
            audit_record(action="trading.group_book_set", obj=server, actor=actor, before=before,
                         after={"group": name, "book": ""})
        return None
    if current is None:
        current = TradingGroup.objects.create(server=server, name=name, book=book)
    elif current.book != book:
        current.book = book
        current.save(update_fields=["book", "updated_at"])
    audit_record(action="trading.group_book_set", obj=server, actor=actor, before=before,
                 after={"group": name, "book": book})
    return current
