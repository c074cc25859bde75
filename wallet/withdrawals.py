"""Withdrawals: what blocks one, the request (funds held at once), finance's decisions (one or two
approvers), the payout through the provider and how its outcome ends the hold.

The pipeline (wallet.models.withdrawals.TRANSITIONS):
  requested -> approved (automatically for small amounts of low-risk clients, else by finance; above
  the brand's four-eyes threshold by two different people) -> processing (the payout left) -> paid
  (the hold is captured into the provider's clearing account, the fee into the fee account) or
  failed (the hold is released). A pending withdrawal (requested, approved) is cancelled by the
  client or rejected by finance; both release the hold. A payout whose answer was lost is "unknown":
  only a status lookup by our merchant reference (`withdrawals_resolve_due`, on beat) moves it on,
  never a second blind send. A withdrawal a flag holds (wallet.withdrawal_flags: compliance's checks,
  a recent chargeback) is approved neither automatically nor by finance until the flag is gone; any
  flag keeps it from automatic approval.

Return to source reads the client's deposits from the ledger: transactions of kind "deposit"
crediting the client's wallet, with meta {"method", "provider", "card_fingerprint"?} (the deposit
code posts them so; see `deposited_by_source`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import Conflict, NotFound, ValidationFailed
from crm.lib.approvals import FourEyes
from crm.lib.enqueue import task_send_on_commit
from crm.lib.fieldcrypt import keyed_hashes
from crm.lib.money import Money, money_format
from crm.lib.validation import InvalidValue
from crm.models import Client
from crm.models.locks import client_lock
from crm.permissions import client_queryset_for_user, code_or_404, user_can
from plumbing.hooks import HookPoint
from plumbing.iban import iban_normalise
from wallet.deposits import refingerprint_deposits
from wallet.exceptions import Blocker, FourEyesRefused, MethodNotAvailable, ProviderError, WithdrawalBlocked
from wallet.instruments import earlier_fingerprints, instrument_fingerprint
from wallet.ledger import (
    Leg,
    available,
    clearing_account_for,
    ledger_hold,
    ledger_post,
    ledger_release,
    system_account_for,
    wallet_account_for,
)
from wallet.models import (
    AccountKind,
    LedgerBalance,
    LedgerLeg,
    LowRiskRule,
    MethodKind,
    PaymentMethod,
    PaymentProvider,
    Withdrawal,
    WithdrawalPolicy,
    WithdrawalState,
)
from wallet.models.withdrawals import OPEN_STATES, PENDING_STATES
from wallet.provider_selectors import (
    FeeQuote,
    MethodOption,
    method_check_amount,
    method_fee,
    method_quote,
    methods_for,
    provider_webhook_url,
)
from wallet.providers.base import ClientFacts, Operation, Outcome, PayoutRequest, WebhookKind
from wallet.withdrawal_flags import (
    RiskFlag,
    flag_kinds,
    withdrawal_flags,
    withdrawal_holds,
)

logger = logging.getLogger("wallet.withdrawals")
S = WithdrawalState
APPROVE_PERMISSION = "wallet.approve_withdrawal"
UNKNOWN_RECHECK = dt.timedelta(minutes=2)
MANUAL_PAYOUT_REASON = "to be paid from the bank by finance"


# --- blockers and the compliance hook point ---------------------------------------------------------

WithdrawalCheck = Callable[..., list[Blocker]]
# Compliance plugs its rules in here (called with client=, amount=, method=); each returns blockers.
withdrawal_checks: HookPoint[WithdrawalCheck] = HookPoint("wallet.withdrawal")
register_withdrawal_check = withdrawal_checks.register
unregister_withdrawal_check = withdrawal_checks.unregister
# What holds or flags a withdrawal (wallet.withdrawal_flags): the wallet's payment flags and what
# compliance registers at `risk_flag_checks` (register_risk_flag_check, called with client= and at=).


# --- selectors ---------------------------------------------------------------------------------------

def withdrawal_policy_for(*, brand: Any) -> WithdrawalPolicy:
    policy, _created = WithdrawalPolicy.objects.get_or_create(brand_id=getattr(brand, "pk", brand))
    return policy


@dataclass(frozen=True)
class SourceTotal:
    method: str
    provider: str
    card_fingerprint: str
    deposited: Money
    returned: Money  # withdrawn (or on its way) back to this source

    @property
    def refundable(self) -> Money:
        left = self.deposited - self.returned
        return left if left.amount > 0 else Money.zero(left.currency)


def deposited_by_source(*, client: Client, currency: str) -> list[SourceTotal]:
    """What the client deposited in `currency` per (method, provider, card fingerprint), from the
    ledger's "deposit" transactions crediting the client's wallet, less what open or paid
    withdrawals send back to the same method and provider."""
    wallet = wallet_account_for(client=client, currency=currency)
    rows = (LedgerLeg.objects.filter(account_id=wallet.pk, transaction__kind="deposit", amount__gt=0)
            .values_list("transaction__metadata", "amount"))
    totals: dict[tuple[str, str, str], Decimal] = {}
    for meta, amount in rows:
        meta = meta or {}
        key = (str(meta.get("method", "")), str(meta.get("provider", "")), str(meta.get("card_fingerprint", "")))
        totals[key] = totals.get(key, Decimal(0)) + amount
    out = []
    for (method, provider, fingerprint), total in sorted(totals.items()):
        returned = (Withdrawal.objects.filter(client=client, currency=currency, method=method, provider__code=provider)
                    .filter(state__in=[*OPEN_STATES, S.PAID]).aggregate(t=Sum("amount"))["t"] or Decimal(0))
        out.append(SourceTotal(method=method, provider=provider, card_fingerprint=fingerprint,
                               deposited=Money(total, currency), returned=Money(returned, currency)))
    return out


def _option(*, client: Client, method: PaymentMethod, currency: str) -> MethodOption | None:
    options = methods_for(brand=client.brand, country=client.country or "", currency=currency, direction="withdrawal")
    return next((o for o in options if o.method_code == str(method.code)), None)


def withdrawal_quote(*, client: Client, amount: Money, method: PaymentMethod) -> FeeQuote | None:
    """The fee of withdrawing ``amount`` by ``method`` and what is paid out, as withdrawal_request
    would book them; None when the method does not pay out the amount's currency to the client."""
    option = _option(client=client, method=method, currency=amount.currency)
    return method_quote(option, amount) if option is not None else None


def withdrawal_methods_for(*, client: Client, currency: str) -> list[MethodOption]:
    return methods_for(brand=client.brand, country=client.country or "", currency=currency, direction="withdrawal")


def _kyc_blocker(client: Client) -> Blocker | None:
    from crm.selectors import client_verified
    from kyc.selectors import withdrawal_block

    held = withdrawal_block(client=client)
    if held:
        return Blocker("kyc_expired", held)
    # The core's one verification state: an approval expired, withdrawn for review or rejected is not one.
    if not client_verified(client=client):
        return Blocker("kyc_not_approved", gettext("Your identity must be verified before you can withdraw."))
    return None


def _unknown_balance_operation(client: Client) -> bool:
    from trading.selectors import balance_operation_unknown

    return balance_operation_unknown(client=client)


def _today_total(client: Client, currency: str) -> Money:
    start = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    total = (Withdrawal.objects.filter(client=client, currency=currency, requested_at__gte=start)
             .exclude(state__in=[S.CANCELLED, S.REJECTED, S.FAILED]).aggregate(t=Sum("amount"))["t"])
    return Money(total or 0, currency)


def withdrawal_blockers(*, client: Client, amount: Money, method: PaymentMethod | None,
                        balance_return: bool = False) -> list[Blocker]:
    """Everything that stops `client` withdrawing `amount` by `method` now (empty: it may). The
    portal shows these before the client submits; `withdrawal_request` checks them again under the
    wallet's lock. `balance_return`: compliance returning an offboarded client's balance
    (`withdrawal_return_balance`): the client's own verification and the compliance checks do not
    stop it; the money, the method and return to source still do."""
    blockers: list[Blocker] = []
    kyc = None if balance_return else _kyc_blocker(client)
    if kyc:
        blockers.append(kyc)
    if _unknown_balance_operation(client):
        blockers.append(Blocker("balance_operation_unknown", gettext(
            "A transfer to or from your trading account is still being confirmed; try again shortly.")))
    if amount.amount <= 0:
        blockers.append(Blocker("amount_invalid", gettext("Enter an amount above zero.")))
        return blockers
    try:
        Money.exact(amount.amount, amount.currency)
    except InvalidValue as error:  # never rounded silently: what is held is what was asked for
        blockers.append(Blocker("amount_precision", error.message))
        return blockers
    option = _option(client=client, method=method, currency=amount.currency) if method is not None else None
    if option is None:
        blockers.append(Blocker("method_unavailable", gettext("Choose a withdrawal method available for %(currency)s.")
                                % {"currency": amount.currency}))
    else:
        try:
            method_check_amount(option, amount)
        except MethodNotAvailable as error:
            blockers.append(Blocker("method_limits", next(iter(error.fields.values()))[0]))
        if method_fee(option, amount).amount >= amount.amount:
            blockers.append(Blocker("fee_exceeds_amount", gettext("The fee would take the whole amount.")))
    left = available(wallet_account_for(client=client, currency=amount.currency))
    if left.amount < amount.amount:
        blockers.append(Blocker("insufficient_funds", gettext("You have %(available)s available to withdraw.")
                                % {"available": money_format(left)}))
    if option is not None:
        blockers.extend(_return_to_source(client, amount, option))
    limit = withdrawal_policy_for(brand=client.brand_id).daily_limit_for(amount.currency)
    if limit is not None:
        used = _today_total(client, amount.currency)
        if (used + amount).amount > limit.amount:
            blockers.append(Blocker("daily_limit", gettext(
                "The daily limit is %(limit)s; you can withdraw %(left)s more today.") % {
                "limit": money_format(limit), "left": money_format(max(limit - used, Money.zero(amount.currency),
                                                                       key=lambda m: m.amount))}))
    if not balance_return:
        for check in withdrawal_checks:
            blockers.extend(check(client=client, amount=amount, method=method))
    return blockers


def _return_to_source(client: Client, amount: Money, option: MethodOption) -> list[Blocker]:
    """Cards first: while the client's card deposits are not all returned, money goes back to a
    card of that provider, up to what it deposited. A card takes back no more than it deposited,
    so a card payout with no card deposit of that provider behind it is refused (money that came
    by wire does not leave to a card)."""
    sources = deposited_by_source(client=client, currency=amount.currency)
    if option.method == "card":
        mine = [s for s in sources if s.method == "card" and s.provider == option.provider_code]
        refundable = sum((s.refundable for s in mine), Money.zero(amount.currency))
        if not mine:
            return [Blocker("return_to_source_no_card", gettext(
                "Withdrawals to a card go back only to a card you deposited with, up to what it deposited. "
                "Choose another method."))]
        if not refundable.amount > 0:
            return [Blocker("return_to_source_no_card", gettext(
                "This card has taken back all it deposited. Choose another method."))]
        if amount.amount > refundable.amount:
            return [Blocker("return_to_source_limit", gettext(
                "A card takes back at most what it deposited: %(amount)s. Withdraw the rest by another method "
                "afterwards.") % {"amount": money_format(refundable)})]
        return []
    cards = [s for s in sources if s.method == "card" and s.refundable.amount > 0]
    if cards:
        owed = sum((s.refundable for s in cards), Money.zero(amount.currency))
        return [Blocker("return_to_source", gettext(
            "Withdraw to the card you deposited with first (up to %(amount)s).") % {"amount": money_format(owed)})]
    return []


def withdrawals_for_client(*, client: Client) -> QuerySet[Withdrawal]:
    return Withdrawal.objects.filter(client=client).select_related("provider").order_by("-requested_at", "-id")


def withdrawal_get_for_client(*, client: Client, code: Any) -> Withdrawal:
    found = Withdrawal.objects.filter(client=client, code=code_or_404(code)).first()
    if found is None:
        raise NotFound()
    return found


def withdrawal_queue_for_user(*, user: Any) -> QuerySet[Withdrawal]:
    """Withdrawals of clients `user` may see, if `user` may decide them; the SLA's nearest first."""
    if not user_can(user, APPROVE_PERMISSION):
        return Withdrawal.objects.none()
    return (Withdrawal.objects.filter(client__in=client_queryset_for_user(user))
            .select_related("client", "provider", "first_approved_by", "second_approved_by")
            .order_by("due_at", "id"))


def withdrawal_get_for_user(*, user: Any, code: Any) -> Withdrawal:
    found = withdrawal_queue_for_user(user=user).filter(code=code_or_404(code)).first()
    if found is None:
        raise NotFound()
    return found


@dataclass(frozen=True)
class TrailStep:
    """One step of a withdrawal's decision trail, as finance reads it: when, who ("" : the system) and what."""

    at: dt.datetime
    who: str
    what: str
    reason: str


def _trail_words() -> dict[str, str]:
    return {
        "wallet.withdrawal_requested": gettext("Requested"),
        "wallet.balance_return_requested": gettext("Balance return requested by compliance"),
        "wallet.withdrawal_held": gettext("Held"),
        "wallet.withdrawal_first_approval": gettext("First approval"),
        "wallet.withdrawal_first_approval_sent_back": gettext("First approval sent back"),
        "wallet.withdrawal_approved": gettext("Approved"),
        "wallet.withdrawal_rejected": gettext("Rejected"),
        "wallet.withdrawal_cancelled": gettext("Cancelled"),
        "wallet.withdrawal_payout_manual": gettext("Waiting to be paid from the bank"),
        "wallet.withdrawal_paid": gettext("Paid"),
        "wallet.withdrawal_failed": gettext("Failed"),
    }


def withdrawal_trail(*, withdrawal: Withdrawal) -> list[TrailStep]:
    """The withdrawal's decisions in order, from its audit rows: requested, held (the kinds of hold;
    before the payout too), each approval and sending back with who made it, rejected, paid or failed.
    The caller has authorised the withdrawal (withdrawal_get_for_user)."""
    from crm.audit import audit_rows_shown
    from crm.models import AuditLog

    words = _trail_words()
    rows = audit_rows_shown(list(  # as the audit log shows them (an erased client's names masked)
        AuditLog.objects.filter(object_type="wallet.withdrawal", object_id=str(withdrawal.code),
                                action__in=list(words)).select_related("actor").order_by("at", "id")))
    steps = []
    for row in rows:
        what = words[row.action]
        after = row.after or {}
        if row.action == "wallet.withdrawal_held":
            what = (gettext("Held before the payout; its approvals withdrawn") if after.get("before_payout")
                    else what) + f" ({', '.join(after.get('holds') or [])})"
        elif row.action == "wallet.withdrawal_approved" and after.get("automatic"):
            what = gettext("Approved automatically")
        who = (row.actor.full_name or row.actor.email) if row.actor is not None else row.actor_label
        steps.append(TrailStep(at=row.at, who=who, what=what, reason=row.reason))
    return steps


# --- services ----------------------------------------------------------------------------------------

def _amounts(table: dict[str, Any] | None, field: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for currency, value in (table or {}).items():
        try:
            amount = Money(Decimal(str(value)), currency).quantize()
        except Exception:  # noqa: BLE001 - any bad entry is the user's input, named below
            amount = None
        if amount is None or amount.amount <= 0:
            raise ValidationFailed(fields={field: gettext("%(currency)s: enter an amount above zero.")
                                           % {"currency": currency}})
        out[amount.currency] = amount.text()
    return out


@transaction.atomic
def withdrawal_policy_save(*, brand: Any, actor: Any, auto_approve_below: dict[str, Any] | None = None,
                           four_eyes_above: dict[str, Any] | None = None, daily_limit: dict[str, Any] | None = None,
                           sla_hours: int = 24, low_risk_rule: str = LowRiskRule.KYC_APPROVED_NO_FLAGS,
                           refund_four_eyes_above: dict[str, Any] | None = None,
                           ) -> WithdrawalPolicy:
    """Set the brand's withdrawal thresholds (per currency), SLA and low-risk rule, and the amount above
    which a deposit's refund needs a second person (wallet.deposits.REFUND_APPROVAL)."""
    if low_risk_rule not in LowRiskRule.values:
        raise ValidationFailed(fields={"low_risk_rule": gettext("Choose who counts as low risk.")})
    if not 1 <= sla_hours <= 24 * 14:
        raise ValidationFailed(fields={"sla_hours": gettext("Between 1 hour and two weeks.")})
    policy = WithdrawalPolicy.objects.select_for_update().filter(brand_id=getattr(brand, "pk", brand)).first()
    policy = policy or WithdrawalPolicy(brand_id=getattr(brand, "pk", brand))
    before = {"auto": policy.auto_approve_below, "four_eyes": policy.four_eyes_above, "daily": policy.daily_limit,
              "refund_four_eyes": policy.refund_four_eyes_above,
              "sla_hours": policy.sla_hours, "low_risk": policy.low_risk_rule} if policy.pk else None
    policy.auto_approve_below = _amounts(auto_approve_below, "auto_approve_below")
    policy.four_eyes_above = _amounts(four_eyes_above, "four_eyes_above")
    policy.daily_limit = _amounts(daily_limit, "daily_limit")
    policy.refund_four_eyes_above = _amounts(refund_four_eyes_above, "refund_four_eyes_above")
    policy.sla_hours, policy.low_risk_rule = sla_hours, low_risk_rule
    policy.save()
    audit_record(action="wallet.withdrawal_policy_saved", obj=policy, actor=actor, before=before, after={
        "auto": policy.auto_approve_below, "four_eyes": policy.four_eyes_above, "daily": policy.daily_limit,
        "refund_four_eyes": policy.refund_four_eyes_above,
        "sla_hours": policy.sla_hours, "low_risk": policy.low_risk_rule})
    return policy


def _low_risk(client: Client, policy: WithdrawalPolicy, flags: list[RiskFlag]) -> bool:
    """Low risk, as the brand's rule says: verified and no flag at all (a payment flag that only
    informs finance still keeps the withdrawal from being approved without a person)."""
    if policy.low_risk_rule != LowRiskRule.KYC_APPROVED_NO_FLAGS:
        return False
    return _kyc_blocker(client) is None and not flags


def _payload(w: Withdrawal) -> dict[str, Any]:
    return {"withdrawal": str(w.code), "amount": w.money.text(), "currency": w.currency, "method": w.method,
            "provider": w.provider.code, "state": w.state}


def _bank_destination(destination: dict[str, str]) -> dict[str, str]:
    """A wire's destination with its IBAN checked and in electronic form: finance copies it into the
    bank's payment screen, so a mistyped one is refused here, not by the bank days later."""
    key = MethodKind.BANK_WIRE if MethodKind.BANK_WIRE in destination else next(iter(destination))
    typed = str(destination[key])
    iban = iban_normalise(typed)
    if iban is None:
        raise ValidationFailed(fields={"destination": gettext(
            "%(value)s is not a valid IBAN: check the country code, the length and every character.")
            % {"value": typed.strip()[:40]}})
    return {**destination, key: iban}


def _mask(destination: dict[str, str]) -> str:
    value = next(iter(destination.values()), "") if destination else ""
    value = str(value).replace(" ", "")
    return f"…{value[-4:]}" if len(value) > 4 else value


@transaction.atomic
def withdrawal_request(*, client: Client, amount: Money, method: PaymentMethod, destination: dict[str, str],
                       actor: Any = None, balance_return: bool = False) -> Withdrawal:
    """Request a withdrawal of `amount` from the client's wallet in its currency to `destination` by
    `method`. Checks every blocker under the wallet's lock (WithdrawalBlocked naming them), holds the
    amount (available drops, balance stays) and, for a small amount of a low-risk client under the
    brand's threshold, approves it and sends the payout after commit. `actor`: staff requesting for
    the client, or None for the client."""
    if not destination or not all(str(v).strip() for v in destination.values()):
        raise ValidationFailed(fields={"destination": gettext("Say where the money should be paid.")})
    if method.method == MethodKind.BANK_WIRE:
        destination = _bank_destination(destination)
    try:
        amount = Money.exact(amount.amount, amount.currency)
    except InvalidValue as error:
        raise ValidationFailed(fields={"amount": error.message}) from None
    wallet = wallet_account_for(client=client, currency=amount.currency)
    # The client's lock first (crm.models.locks): a KYC change of the client (an expiry, an approval
    # withdrawn) commits before the blockers below read the verification, or waits for this.
    client_lock(client)
    # The wallet's lock: requests of one client and currency are checked and held one at a time.
    LedgerBalance.objects.select_for_update().get(account_id=wallet.pk)
    blockers = withdrawal_blockers(client=client, amount=amount, method=method, balance_return=balance_return)
    if blockers:
        raise WithdrawalBlocked(blockers)
    option = _option(client=client, method=method, currency=amount.currency)
    assert option is not None  # noqa: S101 - a missing option is a blocker above
    policy = withdrawal_policy_for(brand=client.brand_id)
    four_eyes = policy.four_eyes_limit(amount.currency)
    now = timezone.now()
    # The destination's keyed hash (Withdrawal.destination_fingerprint: an IBAN as "iban" whatever the
    # method, so that a wire's sender and a payout's account compare), under every search key: a
    # withdrawal hashed before a key change is still this destination's.
    fingerprints = keyed_hashes(destination, kind="instrument")
    first_asked = (Withdrawal.objects.filter(client=client, destination_fingerprint__in=fingerprints)
                   .order_by("requested_at").values_list("destination_added_at", "requested_at").first()
                   if fingerprints else None)
    kind, number = next(iter(destination.items()))
    refingerprint_deposits(instrument_fingerprint(str(kind), str(number)),
                           earlier_fingerprints(str(kind), str(number)))
    w = Withdrawal(client=client, brand_id=client.brand_id, amount=amount.amount, currency=amount.currency,
                   destination_added_at=(first_asked[0] or first_asked[1]) if first_asked else now,
                   fee=method_fee(option, amount).amount, method=option.method, payment_method=method,
                   provider=method.provider, destination_masked=_mask(destination),
                   requested_by=actor, requested_at=now, due_at=now + dt.timedelta(hours=policy.sla_hours),
                   needs_two_approvals=four_eyes is not None and amount.amount > four_eyes.amount)
    w.destination = dict(destination)  # encrypted in its column; its fingerprint made on save
    w.merchant_ref = f"wd-{w.code.hex}"
    w.hold = ledger_hold(key=f"withdrawal:{w.code}", account=wallet, amount=amount, actor=actor,
                         memo=f"withdrawal {w.code}")
    w.save()
    audit_record(action="wallet.withdrawal_requested", obj=w, actor=actor, after=_payload(w))
    emit("wallet.withdrawal_requested", client=client, actor=actor, data=_payload(w))
    # What was known when it was asked for decides the automatic approval; the kinds of what holds it
    # are audited (never the reasons, nor an event the client's side could read: tipping off).
    flags = withdrawal_flags(withdrawal=w, at=now)
    holds = [f for f in flags if f.holds]
    if holds:
        audit_record(action="wallet.withdrawal_held", obj=w, actor=None, after={"holds": flag_kinds(holds)})
    auto = policy.auto_limit(amount.currency)
    if (auto is not None and amount.amount <= auto.amount and not w.needs_two_approvals and not balance_return
            and _low_risk(client, policy, flags)):
        w.state_set(S.APPROVED, reason="automatic")
        w.auto_approved = True
        w.save(update_fields=["state", "auto_approved", "updated_at"])
        audit_record(action="wallet.withdrawal_approved", obj=w, actor=None, after={"automatic": True})
        emit("wallet.withdrawal_approved", client=client, actor=None, data=_payload(w))
        _enqueue_payout(w)
    return w


@transaction.atomic
def withdrawal_return_balance(*, client: Client, currency: str, method: PaymentMethod, destination: dict[str, str],
                              actor: Any, reason: str) -> Withdrawal:
    """Compliance returns what is left in an offboarded client's wallet in `currency`: a withdrawal of the
    whole available amount by `method` to `destination`, requested by `actor` (an officer) with `reason`,
    waiting in finance's withdrawal queue like any other (never approved automatically). The client's own
    verification and the compliance checks do not stop it; an empty wallet, the method's limits and return
    to source do (WithdrawalBlocked naming them). Audited "wallet.balance_return_requested"."""
    if actor is None:
        raise ValidationFailed(fields={"actor": gettext("A member of staff returns a balance.")})
    text = (reason or "").strip()
    if not text:
        raise ValidationFailed(fields={"reason": gettext("Say why the balance is returned.")})
    wallet = wallet_account_for(client=client, currency=currency)
    client_lock(client)
    LedgerBalance.objects.select_for_update().get(account_id=wallet.pk)
    left = available(wallet)
    if left.amount <= 0:
        raise WithdrawalBlocked([Blocker("nothing_to_return", gettext("Nothing is left to return in %(currency)s.")
                                         % {"currency": currency})])
    w = withdrawal_request(client=client, amount=left, method=method, destination=destination, actor=actor,
                           balance_return=True)
    audit_record(action="wallet.balance_return_requested", obj=w, actor=actor, reason=text[:2000],
                 after={**_payload(w), "client": str(client.code)})
    return w


def _enqueue_payout(w: Withdrawal) -> None:
    task_send_on_commit("wallet.tasks.withdrawal_payout", w.pk)


def _locked(withdrawal: Withdrawal) -> Withdrawal:
    return Withdrawal.objects.select_for_update().get(pk=withdrawal.pk)


# Above the brand's four-eyes amount (WithdrawalPolicy.four_eyes_above, read into needs_two_approvals when
# the withdrawal is requested) the first approval waits for a second, different approver; the proposal
# waits on the withdrawal's own fields (first_approved_by/at; the second in second_approved_by).
WITHDRAWAL_APPROVAL = FourEyes(
    name="withdrawal approval", proposer_field="first_approved_by", value_fields=("first_approved_at",),
    approver_field="second_approved_by", error=FourEyesRefused, audit=audit_record,
    same_person_code=FourEyesRefused.default_code,
    # The approval is audited by "wallet.withdrawal_approved", written with the state it moves to.
    actions={"proposed": "wallet.withdrawal_first_approval", "sent_back": "wallet.withdrawal_first_approval_sent_back"},
    needed=lambda w, values: bool(w.needs_two_approvals),
    same_person_approve=gettext_lazy("A second person must approve this withdrawal."),
    same_person_send_back=gettext_lazy("A second person must review this first approval."),
    not_pending=gettext_lazy("This withdrawal has no first approval waiting for a second person."),
)


def _requested(w: Withdrawal) -> None:
    if w.state != S.REQUESTED:
        raise Conflict(gettext("Only a requested withdrawal can be approved; this one is %(state)s.")
                       % {"state": w.get_state_display().lower()}, code="withdrawal_not_requested")


def _not_held(w: Withdrawal, now: dt.datetime) -> None:
    """Conflict "withdrawal_held" while a flag holds the withdrawal (read now: a hold whose cause
    compliance closed is gone), naming the kinds of hold, which finance may know."""
    holds = withdrawal_holds(withdrawal=w, at=now)
    if holds:
        raise Conflict(gettext("This withdrawal is held (%(holds)s); it can be approved once the hold is lifted.")
                       % {"holds": ", ".join(dict.fromkeys(f.label for f in holds))}, code="withdrawal_held")


@transaction.atomic
def withdrawal_approve(*, withdrawal: Withdrawal, actor: Any) -> Withdrawal:
    """Finance approves. Above the four-eyes threshold the first approval is recorded and a second,
    by another person, approves (WITHDRAWAL_APPROVAL; FourEyesRefused for the same person twice).
    Neither while a flag holds it (wallet.withdrawal_flags; Conflict "withdrawal_held"). The payout
    is sent after commit."""
    w = _locked(withdrawal)
    _requested(w)
    now = timezone.now()
    _not_held(w, now)
    if WITHDRAWAL_APPROVAL.needed(w, {}) and WITHDRAWAL_APPROVAL.pending(w) is None:
        WITHDRAWAL_APPROVAL.propose(w, actor=actor, values={"first_approved_at": now}, save=("updated_at",),
                                    after=_payload(w))
        return w
    if WITHDRAWAL_APPROVAL.needed(w, {}):
        w.second_approved_at = now
        WITHDRAWAL_APPROVAL.approve(w, actor=actor, save=("second_approved_at", "updated_at"))
    else:
        w.first_approved_by, w.first_approved_at = actor, now
    w.state_set(S.APPROVED, actor=actor)
    w.save()
    audit_record(action="wallet.withdrawal_approved", obj=w, actor=actor, after=_payload(w))
    emit("wallet.withdrawal_approved", client=w.client, actor=actor, data=_payload(w))
    _enqueue_payout(w)
    return w


@transaction.atomic
def withdrawal_first_approval_send_back(*, withdrawal: Withdrawal, actor: Any, reason: str) -> Withdrawal:
    """A second approver disagrees with the first approval of a withdrawal above the four-eyes amount:
    the first approval is withdrawn, with the reason, and the withdrawal waits for two approvals again
    (still requested; turning it down is withdrawal_reject). Not by the first approver (FourEyesRefused)."""
    text = reason.strip()
    if not text:
        raise ValidationFailed(fields={"reason": gettext("Say why the first approval is sent back.")})
    w = _locked(withdrawal)
    _requested(w)
    WITHDRAWAL_APPROVAL.send_back(w, actor=actor, reason=text, save=("updated_at",), after=_payload(w))
    return w


def _end_pending(withdrawal: Withdrawal, *, to: str, actor: Any, reason: str, action: str) -> Withdrawal:
    w = _locked(withdrawal)
    if w.state not in PENDING_STATES:
        raise Conflict(gettext("This withdrawal is already %(state)s.") % {"state": w.get_state_display().lower()},
                       code="withdrawal_not_pending")
    w.state_set(to, actor=actor, reason=reason)
    w.reason, w.completed_at = reason, timezone.now()
    w.save(update_fields=["state", "reason", "completed_at", "updated_at"])
    ledger_release(hold=w.hold, reason=reason or to)
    audit_record(action=action, obj=w, actor=actor, reason=reason, after=_payload(w))
    emit(action, client=w.client, actor=actor, data=_payload(w))
    return w


@transaction.atomic
def withdrawal_reject(*, withdrawal: Withdrawal, actor: Any, reason: str) -> Withdrawal:
    """Finance turns a pending withdrawal down, saying why; the hold is released."""
    if not reason.strip():
        raise ValidationFailed(fields={"reason": gettext("Say why the withdrawal is rejected.")})
    return _end_pending(withdrawal, to=S.REJECTED, actor=actor, reason=reason.strip(),
                        action="wallet.withdrawal_rejected")


@transaction.atomic
def withdrawal_cancel(*, withdrawal: Withdrawal, actor: Any = None) -> Withdrawal:
    """The client (or staff for the client) cancels a pending withdrawal; the hold is released."""
    return _end_pending(withdrawal, to=S.CANCELLED, actor=actor, reason="", action="wallet.withdrawal_cancelled")


def _facts(client: Client) -> ClientFacts:
    return ClientFacts(reference=str(client.code), email=client.email or "", first_name=client.first_name or "",
                       last_name=client.last_name or "", country=client.country or "")


def _held_before_payout(w: Withdrawal, holds: list[RiskFlag]) -> Withdrawal:
    """A hold that appeared after the withdrawal was approved (an AML alert raised, a case opened, a
    chargeback ...): nothing is sent. The withdrawal goes back to finance's queue (requested, route
    "held"), its approvals withdrawn, so that finance decides again once the hold is lifted; the amount
    stays held. Audited "wallet.withdrawal_held" with the kinds of hold (never their reasons) and who
    had approved it; no event (the client's side reads "Under review", never why). The caller holds the
    row's lock."""
    approved = {"automatic": w.auto_approved,
                "first_approved_by": str(w.first_approved_by.code) if w.first_approved_by else None,
                "second_approved_by": str(w.second_approved_by.code) if w.second_approved_by else None}
    w.state_set(S.REQUESTED, via="held", reason="held before the payout: " + ", ".join(flag_kinds(holds)))
    w.auto_approved = False
    w.first_approved_by = w.second_approved_by = None
    w.first_approved_at = w.second_approved_at = None
    w.save(update_fields=["state", "auto_approved", "first_approved_by", "first_approved_at", "second_approved_by",
                          "second_approved_at", "updated_at"])
    audit_record(action="wallet.withdrawal_held", obj=w, actor=None, before={"state": S.APPROVED, **approved},
                 after={"holds": flag_kinds(holds), "before_payout": True, "state": w.state})
    return w


def withdrawal_payout_send(*, withdrawal_id: int) -> Withdrawal:
    """Send an approved withdrawal's payout (the Celery task's body). The row is claimed first
    (processing, committed) so that a second worker does nothing; the answer then moves it on. A
    lost answer leaves it unknown for `withdrawals_resolve_due`. The holds are read again just before
    (what appeared since the approval counts): a held withdrawal is not paid but goes back to finance
    (`_held_before_payout`)."""
    with transaction.atomic():
        w = Withdrawal.objects.select_for_update(of=("self",)).select_related("client", "provider").get(pk=withdrawal_id)
        if w.state != S.APPROVED:
            return w
        holds = withdrawal_holds(withdrawal=w, at=timezone.now())
        if holds:
            return _held_before_payout(w, holds)
        if w.provider.manual_payout:
            # No payout API: the withdrawal waits in finance's queue to be paid from the bank.
            w.state_set(S.PROCESSING, reason=MANUAL_PAYOUT_REASON)
            w.next_check_at = None
            w.save(update_fields=["state", "next_check_at", "updated_at"])
            audit_record(action="wallet.withdrawal_payout_manual", obj=w, actor=None, after=_payload(w))
            return w
        w.state_set(S.PROCESSING)
        w.next_check_at = timezone.now() + UNKNOWN_RECHECK  # if this worker dies before the answer
        w.save(update_fields=["state", "next_check_at", "updated_at"])
    request = PayoutRequest(merchant_ref=w.merchant_ref, amount=w.payout_money, method=w.method,
                            destination=w.destination, client=_facts(w.client),
                            webhook_url=provider_webhook_url(w.provider))
    adapter = w.provider.adapter()
    try:
        result = adapter.payout(request)
        outcome, provider_ref, reason, batch_id = result.outcome, result.provider_ref, result.reason, result.batch_id
    except ProviderError as error:
        outcome = Outcome.UNKNOWN if error.outcome_unknown else Outcome.FAILED
        provider_ref, reason, batch_id = "", error.code, ""
    finally:
        adapter.close()
    return _apply_outcome(withdrawal_id=w.pk, outcome=outcome, provider_ref=provider_ref, reason=reason,
                          batch_id=batch_id)


@transaction.atomic
def _apply_outcome(*, withdrawal_id: int, outcome: str, provider_ref: str = "", reason: str = "",
                   fee: Money | None = None, batch_id: str = "", actor: Any = None) -> Withdrawal:
    # The withdrawal's row alone (crm.models.locks): the ledger locks the balances, then the hold, itself.
    w = Withdrawal.objects.select_for_update(of=("self",)).select_related("client", "provider", "hold").get(
        pk=withdrawal_id)
    ref_learned = bool(provider_ref) and not w.provider_ref
    if ref_learned:
        w.provider_ref = provider_ref
    batch_changed = bool(batch_id) and batch_id != w.provider_batch_id
    if batch_changed:
        # The provider's latest word: a payout it moved to another batch is settled in that one.
        w.provider_batch_id = batch_id[:200]
    now = timezone.now()
    if outcome == Outcome.SUCCEEDED and w.state in (S.PROCESSING, S.UNKNOWN):
        _capture(w)
        w.state_set(S.PAID, actor=actor, reason=reason)
        w.completed_at, w.next_check_at = now, None
    elif outcome == Outcome.FAILED and w.state in (S.PROCESSING, S.UNKNOWN, S.APPROVED):
        w.state_set(S.FAILED, actor=actor, reason=reason)
        w.reason, w.completed_at, w.next_check_at = reason[:500], now, None
        ledger_release(hold=w.hold, reason=f"payout failed: {reason}")
    elif outcome == Outcome.PENDING and w.state in (S.PROCESSING, S.UNKNOWN):
        if w.state == S.UNKNOWN:
            w.state_set(S.PROCESSING, reason="found at the provider")
        w.next_check_at = None
    elif outcome == Outcome.UNKNOWN and w.state in (S.PROCESSING, S.UNKNOWN):
        if w.state == S.PROCESSING:
            w.state_set(S.UNKNOWN, reason=reason)
        w.next_check_at = now + UNKNOWN_RECHECK
    elif outcome == Outcome.NOT_FOUND and w.state in (S.PROCESSING, S.UNKNOWN):
        # The provider never got it: send it again, under the same merchant reference.
        if w.state == S.PROCESSING:
            w.state_set(S.UNKNOWN, reason="not found at the provider")
        w.state_set(S.APPROVED, reason="not found at the provider: sending again")
        w.next_check_at = None
        _enqueue_payout(w)
    else:
        if batch_changed or ref_learned:  # nothing moved, but what the provider told is kept
            w.save(update_fields=["provider_ref", "provider_batch_id", "updated_at"])
        return w
    w.save()
    if w.state in (S.PAID, S.FAILED):
        action = "wallet.withdrawal_paid" if w.state == S.PAID else "wallet.withdrawal_failed"
        audit_record(action=action, obj=w, actor=actor, reason=w.reason, after=_payload(w))
        emit(action, client=w.client, actor=actor, data=_payload(w))
    return w


def _manual(withdrawal: Withdrawal) -> Withdrawal:
    """The withdrawal locked, if it waits to be paid from the bank; else Conflict."""
    w = Withdrawal.objects.select_for_update(of=("self",)).select_related("provider").get(pk=withdrawal.pk)
    if not w.awaits_manual_payout:
        raise Conflict(gettext("Only a withdrawal waiting to be paid from the bank can be marked by hand; "
                               "this one is %(state)s.") % {"state": w.get_state_display().lower()},
                       code="withdrawal_not_manual")
    return w


@transaction.atomic
def withdrawal_mark_paid(*, withdrawal: Withdrawal, actor: Any, bank_reference: str) -> Withdrawal:
    """Finance sent the wire from the bank: the bank's reference is recorded as the payout's (the
    bank statement's line is matched by it in reconciliation) and the hold is captured."""
    reference = " ".join(bank_reference.split())
    if not reference:
        raise ValidationFailed(fields={"bank_reference": gettext("Give the bank's reference of the transfer.")})
    if len(reference) > 200:
        raise ValidationFailed(fields={"bank_reference": gettext(
            "The bank's reference is at most 200 characters.")})
    w = _manual(withdrawal)
    return _apply_outcome(withdrawal_id=w.pk, outcome=Outcome.SUCCEEDED, provider_ref=reference,
                          reason="paid from the bank", actor=actor)


@transaction.atomic
def withdrawal_mark_failed(*, withdrawal: Withdrawal, actor: Any, reason: str) -> Withdrawal:
    """The wire could not be sent (or came back): the withdrawal fails and the hold is released."""
    reason = " ".join(reason.split())
    if not reason:
        raise ValidationFailed(fields={"reason": gettext("Say why the transfer could not be made.")})
    w = _manual(withdrawal)
    return _apply_outcome(withdrawal_id=w.pk, outcome=Outcome.FAILED, reason=reason, actor=actor)


def _capture(w: Withdrawal) -> None:
    """The hold leaves the wallet: what was paid out to the provider's clearing account, the fee
    to the brand's fee account."""
    wallet = w.hold.account
    clearing = clearing_account_for(provider=w.provider.code, currency=w.currency, brand=w.brand_id)
    legs = [Leg(wallet, -w.money), Leg(clearing, w.payout_money)]
    if w.fee:
        legs.append(Leg(system_account_for(kind=AccountKind.FEES, currency=w.currency, brand=w.brand_id), w.fee_money))
    meta = {"method": w.method, "provider": w.provider.code, "provider_ref": w.provider_ref}
    if w.provider_batch_id:
        meta["batch_id"] = w.provider_batch_id
    w.capture = ledger_post(key=f"withdrawal:{w.code}:paid", kind="withdrawal", legs=legs, consume_holds=[w.hold],
                            ref_kind="withdrawal", ref_code=str(w.code), meta=meta)


def withdrawal_resolve(*, withdrawal_id: int) -> Withdrawal:
    """Look an unknown (or long-silent) payout up at the provider by our merchant reference and act
    on what it says."""
    w = Withdrawal.objects.select_related("provider").get(pk=withdrawal_id)
    if w.state not in (S.UNKNOWN, S.PROCESSING) or w.provider.manual_payout:
        return w
    adapter = w.provider.adapter()
    try:
        status = adapter.fetch_status(merchant_ref=w.merchant_ref, operation=Operation.PAYOUT)
    except ProviderError as error:
        logger.warning("withdrawal lookup failed", extra={"withdrawal": str(w.code), "code": error.code})
        return _apply_outcome(withdrawal_id=w.pk, outcome=Outcome.UNKNOWN, reason=error.code)
    finally:
        adapter.close()
    return _apply_outcome(withdrawal_id=w.pk, outcome=status.outcome, provider_ref=status.provider_ref,
                          reason=status.reason, batch_id=status.batch_id)


def withdrawals_resolve_due(*, now: dt.datetime | None = None) -> int:
    """Beat: look up every payout whose outcome is unknown, or whose sender went silent, when due."""
    now = now or timezone.now()
    due = list(Withdrawal.objects.filter(state__in=[S.UNKNOWN, S.PROCESSING], next_check_at__lte=now)
               .values_list("pk", flat=True))
    for pk in due:
        withdrawal_resolve(withdrawal_id=pk)
    return len(due)


def withdrawal_webhook(provider: PaymentProvider, message: Any, delivery: Any) -> bool:
    """The webhook handler of payouts: payout_succeeded / payout_failed of one of our withdrawals, and
    payout_pending (on its way at the provider: acknowledged; a payout whose outcome was unknown is
    known to be processing again)."""
    outcomes = {WebhookKind.PAYOUT_SUCCEEDED: Outcome.SUCCEEDED, WebhookKind.PAYOUT_FAILED: Outcome.FAILED,
                WebhookKind.PAYOUT_PENDING: Outcome.PENDING}
    if message.kind not in outcomes:
        return False
    w = Withdrawal.objects.filter(provider=provider).filter(
        Q(merchant_ref=message.merchant_ref) | Q(provider_ref=message.provider_ref, provider_ref__gt="")).first()
    if w is None:
        return False
    _apply_outcome(withdrawal_id=w.pk, outcome=outcomes[message.kind], provider_ref=message.provider_ref,
                   reason=str(message.raw.get("data", {}).get("failure_reason", "")) if message.raw else "",
                   batch_id=message.batch_id)
    return True


def clients_sharing_payout_destinations(*, client: Client, limit: int = 20) -> list[tuple[int, str]]:
    """Other clients who were paid out (or asked to be) to a destination this client used too: a
    card token or an account number, compared by its keyed hash (spaces and case aside). [(client id, the destination
    masked)], one row per pair, in one query (a compliance case shows them as related clients)."""
    own = Withdrawal.objects.filter(client=client).exclude(destination_fingerprint="").values("destination_fingerprint")
    rows = (Withdrawal.objects.filter(destination_fingerprint__in=own).exclude(client=client)
            .values_list("client_id", "destination_masked").distinct().order_by("client_id", "destination_masked"))
    return list(rows[:limit])
