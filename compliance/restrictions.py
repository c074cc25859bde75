"""Restrictions on a client: no deposits, no withdrawals, no trading, no login to the trader's room.

Each restriction is a row with who imposed it, why, from when and until when (empty: until lifted);
lifting it writes who lifted it and why on the same row. A restriction whose end date has passed no
longer blocks anything, and `restrictions_expire` (beat) closes it as lifted ("expired").

The apps below compliance ask through their hook points (the wallet's withdrawal and deposit checks,
the lead intake's check); the trader's room, above, asks `login_refusal`. What the client is told is
neutral: it says what is not available and whom to ask, never that compliance or a list is involved.

No trading sets the client's live trading accounts read-only on the platform (through trading's
services, after commit, in a Celery task) and remembers each account's access before; lifting puts
each account back as it was.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from compliance import permissions
from compliance.models import Restriction, RestrictionKind, RestrictionSource
from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import NotAllowed, ValidationFailed
from crm.lib.enqueue import task_send_on_commit
from crm.lib.payloads import user_ref
from crm.models import Client
from crm.permissions import user_can

logger = logging.getLogger("compliance.restrictions")

IMPOSE_PERMISSION = permissions.RESTRICTION_IMPOSE
LIFT_PERMISSION = permissions.RESTRICTION_LIFT
VIEW_PERMISSION = permissions.RESTRICTION_VIEW
EXPIRED = "expired"
MAX_REASON = 2000

# What the client is told, in neutral words.
CLIENT_MESSAGES = {
    RestrictionKind.DEPOSIT: gettext_lazy("Deposits are not available on your account at the moment. "
                                          "Please contact support."),
    RestrictionKind.WITHDRAWAL: gettext_lazy("Withdrawals are not available on your account at the moment. "
                                             "Please contact support."),
    RestrictionKind.TRADING: gettext_lazy("Trading is not available on your account at the moment. "
                                          "Please contact support."),
    RestrictionKind.LOGIN: gettext_lazy("We cannot sign you in at the moment. Please contact support."),
}


# What the sales floor reads (the client's timeline, a trading account's access change): that the client
# is restricted and from what, never why (a reason names a case, a list or a country: tipping off). The
# reason is on the Compliance tab, for those who may see restrictions.
STAFF_IMPOSED = {
    RestrictionKind.DEPOSIT: gettext_lazy("Deposits paused by compliance"),
    RestrictionKind.WITHDRAWAL: gettext_lazy("Withdrawals paused by compliance"),
    RestrictionKind.TRADING: gettext_lazy("Trading paused by compliance"),
    RestrictionKind.LOGIN: gettext_lazy("Trader's room sign-in paused by compliance"),
}
STAFF_LIFTED = {
    RestrictionKind.DEPOSIT: gettext_lazy("Deposits allowed again"),
    RestrictionKind.WITHDRAWAL: gettext_lazy("Withdrawals allowed again"),
    RestrictionKind.TRADING: gettext_lazy("Trading allowed again"),
    RestrictionKind.LOGIN: gettext_lazy("Trader's room sign-in allowed again"),
}


def staff_message(kind: str, *, lifted: bool = False) -> str:
    """The neutral words for staff outside compliance: what the client may not do (or may again)."""
    words = STAFF_LIFTED if lifted else STAFF_IMPOSED
    return str(words[RestrictionKind(kind)]) if kind in RestrictionKind.values else ""


# What an offboarded client is told (compliance.offboarding): the relationship is over, not paused; still
# nothing about why.
CLOSED_MESSAGES = {
    RestrictionKind.DEPOSIT: gettext_lazy("Your account has been closed: we no longer accept deposits. "
                                          "Please contact support about any remaining balance."),
    RestrictionKind.LOGIN: gettext_lazy("Your account has been closed, so you can no longer sign in. "
                                        "Please contact support about any remaining balance."),
}


def _now() -> dt.datetime:
    return timezone.now()


# --- reads ----------------------------------------------------------------------------------------------

def restrictions_open(*, client: Client | int, now: dt.datetime | None = None) -> list[Restriction]:
    """The client's restrictions in force now: not lifted and not past their end date."""
    now = now or _now()
    client_id = client if isinstance(client, int) else client.pk
    rows = Restriction.objects.filter(client_id=client_id, lifted_at__isnull=True).select_related("imposed_by")
    return [r for r in rows.order_by("imposed_at", "pk") if r.active_at(now)]


def restriction_in_force(*, client: Client | int, kind: str) -> Restriction | None:
    """The client's restriction of `kind` in force now, if any (one indexed query)."""
    return next((r for r in restrictions_open(client=client) if r.kind == kind), None)


def client_message(kind: str, *, source: str = "") -> str:
    if source == RestrictionSource.OFFBOARDING and kind in CLOSED_MESSAGES:
        return str(CLOSED_MESSAGES[RestrictionKind(kind)])
    return str(CLIENT_MESSAGES[RestrictionKind(kind)])


def _refusal(client: Client, kind: str) -> str | None:
    row = restriction_in_force(client=client, kind=kind)
    return client_message(kind, source=row.source) if row is not None else None


def deposit_refusal(*, client: Client) -> str | None:
    """The neutral sentence refusing a deposit of a client restricted from depositing (an offboarded
    client: that the account is closed), else None."""
    return _refusal(client, RestrictionKind.DEPOSIT)


def login_refusal(*, client: Client) -> str | None:
    """The neutral sentence refusing a trader's-room login (an offboarded client: that the account is
    closed), else None."""
    return _refusal(client, RestrictionKind.LOGIN)


def restrictions_for_client(*, client: Client, limit: int = 100) -> list[Restriction]:
    """Every restriction of the client, newest first, lifted ones included (the Compliance tab)."""
    return list(Restriction.objects.filter(client=client).select_related("imposed_by", "lifted_by")
                .order_by("-imposed_at", "-pk")[:limit])


# --- the wallet's hook points --------------------------------------------------------------------------

def withdrawal_check(*, client: Client, amount: Any = None, method: Any = None) -> list[Any]:
    """The wallet's compliance check (wallet.services.register_withdrawal_check): a Blocker with the
    neutral explanation while the client may not withdraw."""
    from wallet.selectors import Blocker

    if restriction_in_force(client=client, kind=RestrictionKind.WITHDRAWAL) is None:
        return []
    return [Blocker("restricted", client_message(RestrictionKind.WITHDRAWAL))]


def deposit_check(*, client: Client) -> str | None:
    """The wallet's deposit check (wallet.services.register_deposit_check)."""
    return deposit_refusal(client=client)


# --- writes ---------------------------------------------------------------------------------------------

def _require(by: Any, perm: str) -> None:
    if by is not None and not user_can(by, perm):
        raise NotAllowed()


def _clean(kinds: Iterable[str], reason: str, until: dt.datetime | None, source: str) -> tuple[list[str], str]:
    errors: dict[str, list[str]] = {}
    wanted = list(dict.fromkeys(str(k) for k in kinds))
    if not wanted:
        errors["kinds"] = [gettext("Choose at least one restriction.")]
    elif any(k not in RestrictionKind.values for k in wanted):
        errors["kinds"] = [gettext("Unknown restriction: %(kinds)s.")
                           % {"kinds": ", ".join(k for k in wanted if k not in RestrictionKind.values)}]
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = [gettext("Say why.")]
    elif len(reason) > MAX_REASON:
        errors["reason"] = [gettext("Keep the reason under %(max)d characters.") % {"max": MAX_REASON}]
    if until is not None and (timezone.is_naive(until) or until <= _now()):
        errors["until"] = [gettext("The end must be a moment in the future.")]
    if source not in RestrictionSource.values:
        errors["source"] = [gettext("Unknown source of a restriction.")]
    if errors:
        raise ValidationFailed(fields=errors)
    return wanted, reason


def _trading_sync_after_commit(restriction: Restriction) -> None:
    task_send_on_commit("compliance.tasks.restriction_trading_sync", restriction.pk)


@transaction.atomic
def impose_restriction(*, client: Client, kinds: Iterable[str], reason: str, by: Any,
                       until: dt.datetime | None = None,
                       source: str = RestrictionSource.MANUAL) -> list[Restriction]:
    """Restrict `client` from each of `kinds` (RestrictionKind values), for `reason`, until `until`
    (None: until lifted). `by`: the officer (None: the system, for a jurisdiction rule or a confirmed
    hit). A kind already in force keeps its restriction (returned as it is); one past its end is
    closed as expired first. Audited per restriction, event "compliance.restriction_imposed"; no
    trading sets the client's live accounts read-only after commit. Returns the restrictions in
    force for `kinds`. ValidationFailed names each bad input; NotAllowed without the permission."""
    _require(by, IMPOSE_PERMISSION)
    wanted, reason = _clean(kinds, reason, until, source)
    Client.objects.select_for_update(of=("self",), no_key=True).filter(pk=client.pk).first()  # the client's lock
    now = _now()
    current = {r.kind: r for r in Restriction.objects.select_for_update().filter(client=client, lifted_at__isnull=True)}
    out: list[Restriction] = []
    for kind in wanted:
        existing = current.get(kind)
        if existing is not None and existing.active_at(now):
            out.append(existing)
            continue
        if existing is not None:
            _close(existing, reason=EXPIRED, by=None, now=now)
        try:
            with transaction.atomic():
                row = Restriction.objects.create(client=client, kind=kind, source=source, reason=reason,
                                                 imposed_by=by, imposed_at=now, until=until)
        except IntegrityError:  # not reached under the client's lock; kept so a race can never stack two
            row = Restriction.objects.get(client=client, kind=kind, lifted_at__isnull=True)
            out.append(row)
            continue
        audit_record(action="compliance.restriction_imposed", obj=client, actor=by, reason=reason, after={
            "restriction": str(row.code), "kind": kind, "source": source,
            "until": until.isoformat() if until else None})
        emit("compliance.restriction_imposed", client=client, actor=by, data={
            "restriction": str(row.code), "kind": kind, "source": source, "reason": reason,
            "until": until.isoformat() if until else None, "by": user_ref(by)})
        if kind == RestrictionKind.TRADING:
            _trading_sync_after_commit(row)
        out.append(row)
    return out


def _close(restriction: Restriction, *, reason: str, by: Any, now: dt.datetime) -> None:
    restriction.lifted_at, restriction.lifted_by, restriction.lift_reason = now, by, reason
    restriction.save(update_fields=["lifted_at", "lifted_by", "lift_reason"])
    audit_record(action="compliance.restriction_lifted", obj=restriction.client, actor=by, reason=reason,
                 before={"restriction": str(restriction.code), "kind": restriction.kind,
                         "reason": restriction.reason, "source": restriction.source},
                 after={"lifted": now.isoformat()})
    emit("compliance.restriction_lifted", client=restriction.client, actor=by, data={
        "restriction": str(restriction.code), "kind": restriction.kind, "reason": reason, "by": user_ref(by)})
    if restriction.kind == RestrictionKind.TRADING:
        _trading_sync_after_commit(restriction)


@transaction.atomic
def lift_restriction(*, restriction: Restriction, reason: str, by: Any) -> Restriction:
    """Lift `restriction`, saying why. Audited, event "compliance.restriction_lifted"; a no-trading
    restriction puts the accounts back as they were, after commit. Lifting a lifted one is refused
    (ValidationFailed), as is an empty reason."""
    _require(by, LIFT_PERMISSION)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(fields={"reason": [gettext("Say why the restriction is lifted.")]})
    if len(reason) > MAX_REASON:
        raise ValidationFailed(fields={"reason": [gettext("Keep the reason under %(max)d characters.")
                                                  % {"max": MAX_REASON}]})
    row = Restriction.objects.select_for_update().select_related("client").get(pk=restriction.pk)
    if row.lifted_at is not None:
        raise ValidationFailed(gettext("This restriction was already lifted."),
                               fields={"reason": [gettext("This restriction was already lifted.")]})
    _close(row, reason=reason, by=by, now=_now())
    return row


def restrictions_expire(*, now: dt.datetime | None = None) -> int:
    """Close every restriction whose end date has passed (lifted, reason "expired", by nobody), each in
    its own transaction; a no-trading one gives the accounts back. Returns how many. Idempotent."""
    now = now or _now()
    done = 0
    for pk in list(Restriction.objects.filter(lifted_at__isnull=True, until__lte=now).values_list("pk", flat=True)):
        with transaction.atomic():
            row = Restriction.objects.select_for_update().select_related("client").filter(
                pk=pk, lifted_at__isnull=True).first()
            if row is not None:
                _close(row, reason=EXPIRED, by=None, now=now)
                done += 1
    return done


# --- no trading on the platform ------------------------------------------------------------------------

def restriction_trading_sync(*, restriction_id: int) -> dict[str, int]:
    """Make the platform match a no-trading restriction: in force, each live account not yet read-only
    is set read-only (its access before remembered on the restriction); lifted or expired, each account
    it changed goes back to its access before, unless another no-trading restriction is in force. The
    platform is called outside any transaction (trading's services). An account the platform refuses
    is logged and counted; the task retries. Idempotent."""
    from trading.exceptions import PlatformFailed
    from trading.selectors import live_accounts_for_client
    from trading.services import trading_account_set_access

    row = Restriction.objects.select_related("client").get(pk=restriction_id)
    client = row.client
    counts = {"changed": 0, "failed": 0}
    now = _now()
    if row.active_at(now):
        accounts = list(live_accounts_for_client(client=client).filter(is_archived=False).select_related("server"))
        for account in accounts:
            if account.access == "read_only":
                continue
            before = account.access
            try:
                # The account's change is on the client's timeline: the neutral words, not the reason.
                trading_account_set_access(actor=None, account=account, access="read_only",
                                           reason=staff_message(RestrictionKind.TRADING))
            except PlatformFailed as error:
                counts["failed"] += 1
                logger.warning("account %s not set read-only: %s", account.login, error.message)
                continue
            counts["changed"] += 1
            with transaction.atomic():
                locked = Restriction.objects.select_for_update().get(pk=row.pk)
                locked.trading_before = {**locked.trading_before, str(account.code): before}
                locked.save(update_fields=["trading_before"])
        return counts
    if restriction_in_force(client=client, kind=RestrictionKind.TRADING) is not None:
        return counts  # another no-trading restriction holds the accounts
    for account in live_accounts_for_client(client=client).filter(code__in=list(row.trading_before)).select_related("server"):
        before = row.trading_before.get(str(account.code), "full")
        if account.access != "read_only" or before == "read_only":
            continue
        try:
            trading_account_set_access(actor=None, account=account, access=before,
                                       reason=staff_message(RestrictionKind.TRADING, lifted=True))
        except PlatformFailed as error:
            counts["failed"] += 1
            logger.warning("account %s not given back its access: %s", account.login, error.message)
            continue
        counts["changed"] += 1
    return counts

