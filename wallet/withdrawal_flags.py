"""Flags on a client's withdrawals: what finance should know before the money leaves, and what holds it.

Two sources, one shape (`RiskFlag`):

- the wallet's own payment flags, read from its deposits and withdrawals: failed deposit attempts in a
  row, several cards in a few days (card velocity), a payout destination first used within a few days
  of a deposit, a deposit paid by someone else (third-party funding), and a deposit charged back
  recently. The thresholds are settings (WALLET_FLAG_*); a payment flag only informs finance unless its
  kind is named in WALLET_FLAGS_THAT_HOLD (a chargeback always holds);
- the checks a higher app plugs in at `risk_flag_checks` (compliance: an open AML alert or case, a
  confirmed sanctions or PEP hit, a high risk band, a restriction in force), called with
  ``client=`` and ``at=`` and returning flags; the wallet never reads their tables, nor they its.

A flag that `holds` stops the withdrawal: it is never approved automatically, and finance's approval
(the first and the second of four eyes) is refused while it lasts. Nothing is stored: the flags are read
again at every decision, so a hold lifts the moment its cause is closed (no stale hold), and each
decision reads only what was known at its time (`at`: facts recorded after it do not count).

Who sees what: every flag's `label` (its kind) is shown to whoever sees the withdrawal in finance's
queue; its `reason` and `url` only to a user holding its `permission` (others read "Under compliance
review": the case content stays with compliance). The client sees neither: "Under review" at most.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from crm.lib.money import money_format
from crm.permissions import user_can
from plumbing.hooks import HookPoint
from wallet.models import (
    OPEN_DISPUTE_STATUSES,
    Deposit,
    DepositStatus,
    Dispute,
    DisputeKind,
    MethodKind,
    Withdrawal,
    WithdrawalState,
)
from wallet.models.deposits import DepositStatusChange


@dataclass(frozen=True)
class RiskFlag:
    """One thing finance should know about a client's withdrawal. `kind`: a stable code ("aml_alert",
    "card_velocity" ...); `label`: the kind in words, shown to anyone who sees the withdrawal; `reason`:
    the detail, shown with `url` only to a user holding `permission` ("" : anyone who sees the queue);
    `holds`: the withdrawal waits until the flag is gone; `since`: when its cause became known."""

    kind: str
    label: str
    reason: str
    holds: bool = True
    permission: str = ""
    url: str = ""
    since: dt.datetime | None = None


@dataclass(frozen=True)
class FlagShown:
    """A flag as one user may see it: the reason replaced and the link dropped without the permission."""

    kind: str
    label: str
    reason: str
    url: str
    holds: bool


RiskFlagCheck = Callable[..., list[RiskFlag]]
# Compliance plugs in here what holds or flags a client's withdrawals (called with client=, at=).
risk_flag_checks: HookPoint[RiskFlagCheck] = HookPoint("wallet.withdrawal_risk_flags")
register_risk_flag_check = risk_flag_checks.register
unregister_risk_flag_check = risk_flag_checks.unregister

# The payment flags' kinds.
FAILED_ATTEMPTS = "failed_attempts"
CARD_VELOCITY = "card_velocity"
NEW_DESTINATION = "new_destination"
THIRD_PARTY = "third_party_funding"
CHARGEBACK = "chargeback"


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def _holds(kind: str) -> bool:
    return kind in set(getattr(settings, "WALLET_FLAGS_THAT_HOLD", []) or [])


def _deposit_url(deposit: Deposit) -> str:
    return reverse("wallet_deposit_detail", args=[deposit.code])


def _failed_attempts(client_id: int, at: dt.datetime) -> list[RiskFlag]:
    """The newest finished deposit attempts, up to `at`, that failed one after another (open ones skipped)."""
    threshold = _setting("WALLET_FLAG_FAILED_DEPOSITS_IN_A_ROW", 3)
    if threshold <= 0:
        return []
    open_ = {DepositStatus.CREATED, DepositStatus.PENDING, DepositStatus.UNKNOWN}
    rows = (Deposit.objects.filter(client_id=client_id, created_at__lte=at).exclude(status__in=open_)
            .order_by("-created_at", "-id").values_list("status", flat=True)[:max(threshold, 1) * 4])
    run = 0
    for status in rows:
        if status != DepositStatus.FAILED:
            break
        run += 1
    if run < threshold:
        return []
    return [RiskFlag(kind=FAILED_ATTEMPTS, label=gettext("Failed deposit attempts"), holds=_holds(FAILED_ATTEMPTS),
                     reason=ngettext("%(count)d failed deposit attempt in a row.",
                                     "%(count)d failed deposit attempts in a row.", run) % {"count": run})]


def _card_velocity(client_id: int, at: dt.datetime) -> list[RiskFlag]:
    """Deposits (tried or paid) from several different cards within the last days before `at`."""
    cards, days = _setting("WALLET_FLAG_CARDS", 3), _setting("WALLET_FLAG_CARDS_DAYS", 7)
    if cards <= 0 or days <= 0:
        return []
    used = (Deposit.objects.filter(client_id=client_id, method=MethodKind.CARD, created_at__lte=at,
                                   created_at__gt=at - dt.timedelta(days=days))
            .exclude(instrument_fingerprint="").values("instrument_fingerprint").distinct().count())
    if used < cards:
        return []
    return [RiskFlag(kind=CARD_VELOCITY, label=gettext("Card velocity"), holds=_holds(CARD_VELOCITY),
                     reason=ngettext("%(cards)d different cards in the last %(days)d day.",
                                     "%(cards)d different cards in the last %(days)d days.", days)
                     % {"cards": used, "days": days})]


def _third_party(client_id: int, at: dt.datetime) -> list[RiskFlag]:
    """Credited deposits (not given back) whose payer is not the client by the shared name matcher."""
    rows = (Deposit.objects.filter(client_id=client_id, payer_is_client=False, succeeded_at__lte=at,
                                   status__in=[DepositStatus.SUCCEEDED, DepositStatus.PARTIALLY_REFUNDED])
            .order_by("-succeeded_at", "-id")[:3])
    return [RiskFlag(kind=THIRD_PARTY, label=gettext("Third-party funding"), holds=_holds(THIRD_PARTY),
                     reason=gettext("The deposit of %(amount)s on %(day)s was paid by %(payer)s, not the client.")
                     % {"amount": money_format(d.money), "day": timezone.localdate(d.succeeded_at).isoformat(),
                        "payer": d.payer_name or gettext("someone else")},
                     url=_deposit_url(d), permission="wallet.view_deposit", since=d.succeeded_at)
            for d in rows if d.succeeded_at is not None]


def _chargebacks(client_id: int, at: dt.datetime) -> list[RiskFlag]:
    """A chargeback still disputed (wallet.disputes: the amount may yet be debited), and deposits whose
    chargeback was lost within WALLET_CHARGEBACK_HOLD_DAYS before `at` (money paid out now may be owed
    back, or the acquirer may come again). A chargeback always holds; a retrieval request does not."""
    disputes = (Dispute.objects.filter(client_id=client_id, received_at__lte=at)
                .exclude(kind=DisputeKind.RETRIEVAL_REQUEST)
                .filter(Q(status__in=OPEN_DISPUTE_STATUSES) | Q(decided_at__gt=at))
                .select_related("deposit").order_by("-received_at", "-id")[:3])
    flags = [RiskFlag(kind=CHARGEBACK, label=gettext("Chargeback"), holds=True,
                      reason=gettext("The deposit of %(amount)s was charged back on %(day)s; the dispute is open "
                                     "until %(due)s.")
                      % {"amount": money_format(d.deposit.money), "day": timezone.localdate(d.received_at).isoformat(),
                         "due": timezone.localdate(d.due_at).isoformat()},
                      url=reverse("wallet_dispute_detail", args=[d.code]), permission="wallet.manage_dispute",
                      since=d.received_at) for d in disputes]
    days = _setting("WALLET_CHARGEBACK_HOLD_DAYS", 120)
    if days <= 0:
        return flags
    changes = (DepositStatusChange.objects.filter(deposit__client_id=client_id, to_status=DepositStatus.CHARGED_BACK,
                                                  at__lte=at, at__gt=at - dt.timedelta(days=days))
               .select_related("deposit").order_by("-at", "-id")[:3])
    return [*flags, *[RiskFlag(kind=CHARGEBACK, label=gettext("Chargeback"), holds=True,
                               reason=gettext("The deposit of %(amount)s was charged back on %(day)s.")
                               % {"amount": money_format(c.deposit.money), "day": timezone.localdate(c.at).isoformat()},
                               url=_deposit_url(c.deposit), permission="wallet.view_deposit", since=c.at)
                      for c in changes]]


def _new_destination(withdrawal: Withdrawal, at: dt.datetime) -> list[RiskFlag]:
    """The payout goes to a destination the client first asked for within N days after a deposit, and
    never paid in from (a destination added right after money came in is how funds are layered out).
    Not a card: a card payout goes back only to a card the client deposited with (return to source)."""
    days = _setting("WALLET_FLAG_NEW_DESTINATION_DAYS", 3)
    added = withdrawal.destination_added_at or withdrawal.requested_at
    if days <= 0 or added is None or added > at or withdrawal.method == MethodKind.CARD:
        return []
    deposits = Deposit.objects.filter(client_id=withdrawal.client_id, succeeded_at__lte=min(added, at))
    if withdrawal.destination_fingerprint and deposits.filter(
            instrument_fingerprint=withdrawal.destination_fingerprint).exists():
        return []
    recent = (deposits.filter(succeeded_at__gte=added - dt.timedelta(days=days)).order_by("-succeeded_at", "-id")
              .first())
    if recent is None or recent.succeeded_at is None:
        return []
    return [RiskFlag(kind=NEW_DESTINATION, label=gettext("New payout destination"), holds=_holds(NEW_DESTINATION),
                     reason=ngettext("%(destination)s was first used %(hours)s hours after a deposit of %(amount)s "
                                     "(within %(days)d day).",
                                     "%(destination)s was first used %(hours)s hours after a deposit of %(amount)s "
                                     "(within %(days)d days).", days)
                     % {"destination": withdrawal.destination_masked, "amount": money_format(recent.money),
                        "hours": max(0, int((added - recent.succeeded_at).total_seconds() // 3600)), "days": days},
                     url=_deposit_url(recent), permission="wallet.view_deposit", since=added)]


def client_risk_flags(*, client: Any, at: dt.datetime | None = None) -> list[RiskFlag]:
    """The flags on every withdrawal of `client` as known at `at` (now): the wallet's payment flags,
    then each registered check's."""
    at = at or timezone.now()
    client_id = getattr(client, "pk", client)
    flags = [*_chargebacks(client_id, at), *_failed_attempts(client_id, at), *_card_velocity(client_id, at),
             *_third_party(client_id, at)]
    for check in risk_flag_checks:
        flags.extend(check(client=client, at=at))
    return flags


def withdrawal_flags(*, withdrawal: Withdrawal, at: dt.datetime | None = None,
                     client_flags: list[RiskFlag] | None = None) -> list[RiskFlag]:
    """The flags on `withdrawal` as known at `at` (now): its client's (`client_flags` when already
    read) and its own (a new payout destination). Holds first."""
    at = at or timezone.now()
    flags = client_risk_flags(client=withdrawal.client, at=at) if client_flags is None else client_flags
    flags = [*flags, *_new_destination(withdrawal, at)]
    return sorted(flags, key=lambda f: not f.holds)


def withdrawal_holds(*, withdrawal: Withdrawal, at: dt.datetime | None = None) -> list[RiskFlag]:
    """What holds `withdrawal` now: the flags that hold."""
    return [f for f in withdrawal_flags(withdrawal=withdrawal, at=at) if f.holds]


def flags_shown(*, user: Any, flags: Iterable[RiskFlag]) -> list[FlagShown]:
    """The flags as `user` may see them: the kind always; the reason and the link only with the flag's
    permission, else "Under compliance review" and no link."""
    out = []
    for f in flags:
        allowed = not f.permission or user_can(user, f.permission)
        out.append(FlagShown(kind=f.kind, label=f.label, holds=f.holds, url=f.url if allowed else "",
                             reason=f.reason if allowed else gettext("Under compliance review")))
    return out


def withdrawal_flags_for_queue(*, user: Any, withdrawals: Iterable[Withdrawal],
                               at: dt.datetime | None = None) -> dict[int, list[FlagShown]]:
    """Finance's queue: the flags of each withdrawal still to be decided (requested or approved), as
    `user` may see them, by withdrawal id; each client's flags read once."""
    at = at or timezone.now()
    by_client: dict[int, list[RiskFlag]] = {}
    out: dict[int, list[FlagShown]] = {}
    for w in withdrawals:
        if w.state not in (WithdrawalState.REQUESTED, WithdrawalState.APPROVED):
            continue
        if w.client_id not in by_client:
            by_client[w.client_id] = client_risk_flags(client=w.client, at=at)
        out[w.pk] = flags_shown(user=user, flags=withdrawal_flags(withdrawal=w, at=at,
                                                                  client_flags=by_client[w.client_id]))
    return out


def withdrawal_under_review(*, withdrawal: Withdrawal) -> bool:
    """What the client may know: a requested withdrawal is held ("Under review"), never why."""
    return withdrawal.state == WithdrawalState.REQUESTED and bool(withdrawal_holds(withdrawal=withdrawal))


def flag_kinds(flags: Iterable[RiskFlag]) -> list[str]:
    return [f.kind for f in flags]
