"""Every write of trading that staff (or the system) start: servers, policies and leverage caps here;
accounts and balance operations in trading.accounts, prop-trading challenges in trading.prop and the
demo's deposits in trading.demo_funding, all offered to other apps from here (re-exported below).
trading.accounts sits below this module, trading.prop and trading.demo_funding, which build on its
services, so that this façade imports them without any of them importing it back.

Conventions as in crm.services: keyword-only arguments, actor first (`actor=None` is the system:
no permission check, the acting context supplies the audit actor); input validated before
anything is written; an audit row per change and a domain event where it belongs on the client's
timeline.

Who may get a live account and how much leverage a client's accounts may have: trading.policy.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext, ngettext

from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import DomainError, FieldErrors, NotAllowed, ValidationFailed
from crm.jobs import JobHandle, job_start
from crm.lib.enqueue import task_send_on_commit
from crm.lib.money import UnknownCurrency, currency_normalise
from crm.lib.validation import InvalidValue, country_normalise
from crm.models import Brand, Classification, Client, Job, User
from trading import crypto, summaries, sync
from trading.accounts import _attribute_history, _require
from trading.models import (
    OPENING_STAGES,
    Book,
    BrandTradingPolicy,
    ClientLeverageLimit,
    LeverageCap,
    PlatformKind,
    PlatformServer,
    TradingAccount,
    TradingGroup,
)
from trading.models import (
    BalanceKind as BalanceKind,  # re-exported: the kinds balance_operation_request takes
)
from trading.policy import (
    LEVERAGE_CAP_MAX,
    LeverageLimit,
    leverage_limit,
    rule_scope_text,
)
from trading.registry import adapter_discard

logger = logging.getLogger(__name__)


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


# --- lowering leverage in bulk -----------------------------------------------------------------------

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


def challenges_refresh(*, server_id: int) -> None:
    """Poll the server's account states now (the prop evaluator and its platform actions follow, as after
    every poll): for the demo seed and for staff who want a decision without waiting for beat."""
    sync.account_states_sync(server_id, force=True)


def trading_summaries_rebuild() -> int:
    """Recompute trading's read models (trading.summaries: retention per trader, exposure per brand)
    from the raw rows, for a bulk load that bypassed the services; how many traders."""
    return summaries.rebuild()


# Accounts and balance operations (trading.accounts).
from trading.accounts import (  # noqa: E402
    account_closes_resume as account_closes_resume,
)
from trading.accounts import (  # noqa: E402
    balance_comment as balance_comment,
)
from trading.accounts import (  # noqa: E402
    balance_operation_request as balance_operation_request,
)
from trading.accounts import (  # noqa: E402
    balance_operation_resolve as balance_operation_resolve,
)
from trading.accounts import (  # noqa: E402
    balance_operation_send as balance_operation_send,
)
from trading.accounts import (  # noqa: E402
    balance_operations_resolve_due as balance_operations_resolve_due,
)
from trading.accounts import (  # noqa: E402
    close_max_attempts as close_max_attempts,
)
from trading.accounts import (  # noqa: E402
    close_retry_seconds as close_retry_seconds,
)
from trading.accounts import (  # noqa: E402
    generate_trading_password as generate_trading_password,
)
from trading.accounts import (  # noqa: E402
    mapped_groups as mapped_groups,
)
from trading.accounts import (  # noqa: E402
    new_reference as new_reference,
)
from trading.accounts import (  # noqa: E402
    trading_account_close as trading_account_close,
)
from trading.accounts import (  # noqa: E402
    trading_account_close_attempt as trading_account_close_attempt,
)
from trading.accounts import (  # noqa: E402
    trading_account_open as trading_account_open,
)
from trading.accounts import (  # noqa: E402
    trading_account_register as trading_account_register,
)
from trading.accounts import (  # noqa: E402
    trading_account_reset_password as trading_account_reset_password,
)
from trading.accounts import (  # noqa: E402
    trading_account_set_access as trading_account_set_access,
)
from trading.accounts import (  # noqa: E402
    trading_account_set_group as trading_account_set_group,
)
from trading.accounts import (  # noqa: E402
    trading_account_set_leverage as trading_account_set_leverage,
)

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
from trading.prop import (  # noqa: E402
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


# A migration's deal history (trading.deal_history), for integrations.moving_in.
from trading.deal_history import DealsImported as DealsImported  # noqa: E402
from trading.deal_history import trading_deals_import as trading_deals_import  # noqa: E402
