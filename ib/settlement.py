"""Settlement: commission runs' settled totals become money in the wallet's ledger, and partners
are paid out of it.

Posting
    A `CommissionSettlement` (ib.commissions.commission_run_settle) is posted once, by
    `settlement_post`, with the key "ib-settlement:<id>": the brand's IB commission expense
    account (a revenue account, owner_ref "ib-commissions": commission paid away reduces revenue)
    is debited and the partner's IB payable account (kind ib_payable, owner_ref = the partner's
    code) credited; a negative amount (a recalculation took commission away) posts the other way
    and may leave the payable below zero, which later commission then makes good.

Schedules
    Each partner has a settlement schedule (Partner.schedule: daily, weekly, monthly). The beat
    task (`settlements_run_due`, daily after the commission run) settles, for every closed period
    (a month before the current one), the latest finished regular run's totals of the partners
    whose schedule is due and that run has not settled yet, then posts them. A schedule is due when
    the partner was not paid a settlement yet on this day (daily), in this ISO week (weekly) or
    this month (monthly). A total that changes nothing is settled at once (its lines show as
    payable; no money moves). The IB manager's "settle" settles every total of a run at once.

Payouts
    A partner asks for an amount of its available payable balance (balance less what pending
    requests hold). With a linked client (Partner.client) the amount moves to that client's
    wallet at once, where the client's own withdrawal rules and finance's queue apply. Otherwise
    it is held on the payable account and finance pays it (the hold is captured into the brand's
    partner-payouts bank account) or rejects it (the hold is released).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Max, QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import Conflict, NotAllowed, NotFound, ValidationFailed
from crm.lib.money import Money, currency_normalise, money_parse
from crm.lib.validation import InvalidValue
from crm.models import Brand, Client, User
from crm.permissions import code_or_404, user_can, visible_brands
from ib.commissions import RUN, commission_run_settle
from ib.models import (
    PAYOUT_STATES,
    CommissionRun,
    CommissionSettlement,
    Partner,
    PartnerPayout,
    PartnerStatus,
    PayoutDestination,
    PayoutSchedule,
    PayoutState,
    RunKind,
    RunStatus,
)
from wallet.selectors import available, balances_of
from wallet.services import (
    AccountKind,
    Leg,
    ledger_hold,
    ledger_hold_capture,
    ledger_post,
    ledger_release,
    system_account_for,
    wallet_account_for,
)

if TYPE_CHECKING:
    from wallet.models import LedgerAccount, LedgerTransaction  # for annotations only

logger = logging.getLogger("ib.settlement")
DECIDE = "ib.decide_payout"
EXPENSE_REF = "ib-commissions"
PAYOUT_BANK_REF = "partner-payouts"


# --- accounts --------------------------------------------------------------------------------------

def payable_account_for(*, partner: Partner, currency: str) -> LedgerAccount:
    """The partner's IB payable account in `currency` (what the brokerage owes the partner)."""
    return system_account_for(kind=AccountKind.IB_PAYABLE, currency=currency, brand=partner.brand_id,
                              owner_ref=str(partner.code))


def expense_account_for(*, brand: Brand | int, currency: str) -> LedgerAccount:
    """The brand's IB commission expense in `currency` (debited by what partners earn)."""
    return system_account_for(kind=AccountKind.REVENUE, currency=currency, brand=brand, owner_ref=EXPENSE_REF)


@dataclass(frozen=True)
class PayableBalance:
    currency: str
    balance: Money  # posted to the partner, less what was paid out
    held: Money  # asked for and waiting for finance
    available: Money  # what the partner may ask for now


def payable_balances(partner: Partner) -> list[PayableBalance]:
    """The partner's payable balances, one per currency (one query)."""
    rows = balances_of(kind=AccountKind.IB_PAYABLE, brand=partner.brand_id, owner_ref=str(partner.code))
    return [PayableBalance(currency=row.balance.currency, balance=row.balance, held=row.held, available=row.available)
            for row in rows]


# --- posting ---------------------------------------------------------------------------------------

def _partner_ref(partner: Partner) -> dict[str, str]:
    return {"code": str(partner.code), "name": partner.display_name}


@transaction.atomic
def settlement_post(*, settlement: CommissionSettlement) -> LedgerTransaction | None:
    """Post one settlement to the ledger (once: the key "ib-settlement:<id>"; posting it again
    posts nothing) and mark it posted. A zero amount posts no transaction (None) but is marked."""
    row = (CommissionSettlement.objects.select_for_update(of=("self",)).select_related("partner", "run")
           .get(pk=settlement.pk))
    if row.posted_at is not None:
        return None
    amount = Money(row.amount, row.currency).quantize()
    tx = None
    if amount:
        payable = payable_account_for(partner=row.partner, currency=row.currency)
        expense = expense_account_for(brand=row.brand_id, currency=row.currency)
        tx = ledger_post(key=f"ib-settlement:{row.pk}", kind="ib_commission", legs=[
            Leg(expense, -amount), Leg(payable, amount)],
            memo=f"IB commission {row.period:%Y-%m} run #{row.run.number}", ref_kind="ib_settlement",
            ref_code=str(row.run.code), meta={"partner": str(row.partner.code), "period": f"{row.period:%Y-%m}"})
        emit("ib.commission_settled", brand=row.brand_id, actor=None, data={
            "partner": _partner_ref(row.partner), "period": f"{row.period:%Y-%m}", "run": str(row.run.code),
            "currency": row.currency, "amount": amount.text(),
            "payable": Money(row.payable, row.currency).quantize().text()})
    row.posted_at = timezone.now()
    row.save(update_fields=["posted_at"])
    audit_record(action="ib.settlement_posted", obj=row.partner, actor=None,
                 after={"settlement": row.pk, "period": f"{row.period:%Y-%m}", "currency": row.currency,
                        "amount": amount.text(), "transaction": str(tx.code) if tx is not None else ""})
    settlement.posted_at = row.posted_at
    return tx


def settlements_post(rows: Iterable[CommissionSettlement]) -> int:
    """Post `rows` (each in its own transaction); how many moved money."""
    return sum(1 for row in rows if settlement_post(settlement=row) is not None)


def settlements_post_due() -> int:
    """Post every settlement not posted yet, oldest first; how many moved money."""
    return settlements_post(CommissionSettlement.objects.filter(posted_at__isnull=True).order_by("id"))


@transaction.atomic
def commission_run_settle_post(*, actor: User | None, run: CommissionRun) -> list[CommissionSettlement]:
    """The IB manager's "settle": settle the run's totals not settled yet and post them."""
    rows = commission_run_settle(actor=actor, run=run)
    settlements_post(rows)
    return rows


# --- schedules -------------------------------------------------------------------------------------

def schedule_due(*, schedule: str, today: dt.date, last: dt.date | None) -> bool:
    """Whether a partner on `schedule`, last settled on `last` (None: never), is due `today`."""
    if last is None:
        return True
    if schedule == PayoutSchedule.DAILY:
        return last < today
    if schedule == PayoutSchedule.WEEKLY:
        return last.isocalendar()[:2] < today.isocalendar()[:2]
    return (last.year, last.month) < (today.year, today.month)


def _last_settled(partner_ids: Iterable[int]) -> dict[int, dt.date]:
    # Settlements of nothing (a recalculation that changed nothing) do not count as a payment.
    rows = (CommissionSettlement.objects.filter(partner_id__in=list(partner_ids)).exclude(amount=0)
            .values("partner_id")
            .annotate(at=Max("settled_at")).values_list("partner_id", "at"))
    return {pid: at.astimezone(dt.UTC).date() for pid, at in rows}


def settlements_run_due(*, now: dt.datetime | None = None) -> list[CommissionSettlement]:
    """The beat task's work: for every brand and closed period, settle the latest finished regular
    run's totals of the partners whose schedule is due (and that the run has not settled), then
    post every unposted settlement. Returns the settlements written."""
    now = now or timezone.now()
    today = now.astimezone(dt.UTC).date()
    open_period = today.replace(day=1)
    latest = (CommissionRun.objects.filter(kind=RunKind.REGULAR, period__lt=open_period)
              .values("brand_id", "period").annotate(number=Max("number")))
    written: list[CommissionSettlement] = []
    for key in latest:
        run = CommissionRun.objects.filter(brand_id=key["brand_id"], period=key["period"], kind=RunKind.REGULAR,
                                           number=key["number"], status=RunStatus.DONE).first()
        if run is None:
            continue
        done = set(run.settlements.values_list("partner_id", flat=True))
        totals = list(run.totals.exclude(partner_id__in=done).values_list("partner_id", "delta"))
        if not totals:
            continue
        waiting = {pid for pid, _delta in totals}
        moving = {pid for pid, delta in totals if delta}
        schedules = dict(Partner.objects.filter(pk__in=waiting).values_list("pk", "schedule"))
        last = _last_settled(waiting)
        # A partner whose totals change nothing is settled at once (its lines show as payable, no
        # money moves); the others when their schedule is due.
        due = [pid for pid in sorted(waiting)
               if pid not in moving or schedule_due(schedule=schedules[pid], today=today, last=last.get(pid))]
        if not due:
            continue
        try:
            written += commission_run_settle(actor=None, run=run, partners=due)
        except Conflict as error:  # a newer run arrived meanwhile: tomorrow settles that one
            logger.warning("settlement skipped", extra={"run": str(run.code), "why": error.message})
    settlements_post_due()
    return written


# --- payouts ---------------------------------------------------------------------------------------

def _payout_event(name: str, payout: PartnerPayout, *, actor: User | None) -> None:
    data: dict[str, Any] = {"payout": str(payout.code), "partner": _partner_ref(payout.partner),
                            "amount": payout.money.text(), "currency": payout.currency,
                            "destination": payout.destination, "state": payout.state}
    if payout.reason:
        data["reason"] = payout.reason
    emit(name, brand=payout.brand_id, actor=actor, data=data)


def _amount(amount: Money | str, currency: str) -> Money:
    try:
        code = currency_normalise(currency, field="currency")
        if isinstance(amount, Money):
            money = Money.exact(amount.amount, amount.currency, field="amount")
        else:
            money = money_parse(str(amount), code)  # the one parser: typed text, the currency's decimals, above zero
    except InvalidValue as error:
        raise ValidationFailed(fields={error.field: error.message}) from None
    if money.currency != code:
        raise ValidationFailed(fields={"currency": gettext("The amount is in another currency.")})
    if money.amount <= 0:
        raise ValidationFailed(fields={"amount": gettext("Enter an amount above zero.")})
    return money


@transaction.atomic
def payout_request(*, partner: Partner, amount: Money | str, currency: str) -> PartnerPayout:
    """The partner asks for `amount` (Money, or the text typed, in `currency`) of its available
    payable balance: paid to its linked client's wallet at once, or held for finance. Raises
    ValidationFailed naming the field (nothing written) for a bad amount or one above what is
    available."""
    money = _amount(amount, currency)
    # One request at a time per partner: the balance check below and the hold see the same balance.
    partner = Partner.objects.select_for_update(of=("self",)).select_related("client").get(pk=partner.pk)
    if partner.status != PartnerStatus.ACTIVE:
        raise Conflict(gettext("Only an active partner can ask for a payout."))
    payable = payable_account_for(partner=partner, currency=money.currency)
    free = available(payable)
    if money.amount > free.amount:
        raise ValidationFailed(fields={"amount": gettext("You can ask for at most %(available)s.")
                                       % {"available": free}})
    client = partner.client
    if client is not None and client.brand_id != partner.brand_id:
        client = None
    payout = PartnerPayout.objects.create(
        brand_id=partner.brand_id, partner=partner, currency=money.currency, amount=money.amount,
        destination=PayoutDestination.CLIENT_WALLET if client is not None else PayoutDestination.BANK, client=client)
    if client is not None:
        wallet = wallet_account_for(client=client, currency=money.currency)
        payout.transaction = ledger_post(
            key=f"ib-payout:{payout.code}", kind="ib_payout", legs=[Leg(payable, -money), Leg(wallet, money)],
            memo=f"Partner payout {payout.code}", ref_kind="ib_payout", ref_code=str(payout.code),
            meta={"partner": str(partner.code)})
        PAYOUT_STATES.move(payout, PayoutState.PAID, also={"decided_at": timezone.now()})  # saved below
    else:
        payout.hold = ledger_hold(key=f"ib-payout:{payout.code}:hold", account=payable, amount=money,
                                  memo=f"Partner payout {payout.code}")
    payout.save(update_fields=["transaction", "state", "decided_at", "hold"])
    audit_record(action="ib.payout_requested", obj=partner, actor=None,
                 after={"payout": str(payout.code), "amount": money.text(), "currency": money.currency,
                        "destination": payout.destination, "client": str(client.code) if client else ""})
    _payout_event("ib.payout_requested", payout, actor=None)
    return payout


def _locked_open(payout: PartnerPayout, to: str) -> PartnerPayout:
    """The payout, locked, if it may move `to` (PAYOUT_STATES: PayoutTransitionRefused once decided)."""
    row = PartnerPayout.objects.select_for_update(of=("self",)).select_related("partner", "hold").get(pk=payout.pk)
    PAYOUT_STATES.check(row, to)
    return row


def _require_decider(actor: User, brand_id: int) -> None:
    if not user_can(actor, DECIDE):
        raise NotAllowed()
    if not (actor.is_administrator or actor.all_brands or actor.brands.filter(pk=brand_id).exists()):
        raise NotFound()


@transaction.atomic
def payout_pay(*, actor: User, payout: PartnerPayout) -> PartnerPayout:
    """Finance paid the request (by bank): the hold is captured into the brand's partner-payouts
    bank account."""
    _require_decider(actor, payout.brand_id)
    row = _locked_open(payout, PayoutState.PAID)
    assert row.hold is not None  # noqa: S101 - a requested bank payout always holds its amount
    bank = system_account_for(kind=AccountKind.BANK, currency=row.currency, brand=row.brand_id,
                              owner_ref=PAYOUT_BANK_REF)
    row.transaction = ledger_hold_capture(hold=row.hold, key=f"ib-payout:{row.code}", to_account=bank,
                                          kind="ib_payout", memo=f"Partner payout {row.code}", actor=actor,
                                          ref_kind="ib_payout", ref_code=str(row.code))
    PAYOUT_STATES.move(row, PayoutState.PAID, also={"decided_at": timezone.now(), "decided_by": actor},
                       save=("transaction",))
    audit_record(action="ib.payout_paid", obj=row, actor=actor,
                 before={"state": PayoutState.REQUESTED}, after={"state": row.state, "amount": row.money.text()})
    _payout_event("ib.payout_decided", row, actor=actor)
    return row


@transaction.atomic
def payout_reject(*, actor: User, payout: PartnerPayout, reason: str) -> PartnerPayout:
    """Finance refused the request: the hold is released, the amount available to the partner again."""
    _require_decider(actor, payout.brand_id)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(fields={"reason": gettext("Say why the payout is rejected.")})
    row = _locked_open(payout, PayoutState.REJECTED)
    if row.hold is not None:
        ledger_release(hold=row.hold, reason=reason)
    PAYOUT_STATES.move(row, PayoutState.REJECTED, save=(),
                       also={"decided_at": timezone.now(), "decided_by": actor, "reason": reason[:500]})
    audit_record(action="ib.payout_rejected", obj=row, actor=actor, reason=reason,
                 before={"state": PayoutState.REQUESTED}, after={"state": row.state})
    _payout_event("ib.payout_decided", row, actor=actor)
    return row


def payout_queryset_for_user(user: Any) -> QuerySet[PartnerPayout]:
    """The payouts finance may decide: holders of "ib.decide_payout", of their brands."""
    if not user_can(user, DECIDE):
        return PartnerPayout.objects.none()
    qs = PartnerPayout.objects.select_related("partner", "brand", "client")
    if user.is_administrator or user.all_brands:
        return qs
    return qs.filter(brand__in=visible_brands(user))


def payout_get_for_user(user: Any, code: Any) -> PartnerPayout:
    try:
        return payout_queryset_for_user(user).get(code=code_or_404(code))
    except PartnerPayout.DoesNotExist:
        raise NotFound() from None


# --- staff: runs -----------------------------------------------------------------------------------

def run_queryset_for_user(user: Any) -> QuerySet[CommissionRun]:
    """Commission runs (regular and what-if) of the brands `user` works for (holders of
    "ib.run_commissions")."""
    if not user_can(user, RUN):
        return CommissionRun.objects.none()
    qs = CommissionRun.objects.select_related("brand", "job")
    if user.is_administrator or user.all_brands:
        return qs
    return qs.filter(brand__in=visible_brands(user))


def run_get_for_user(user: Any, code: Any) -> CommissionRun:
    try:
        return run_queryset_for_user(user).get(code=code_or_404(code))
    except CommissionRun.DoesNotExist:
        raise NotFound() from None


def run_summaries(run_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Per run: how many partner totals, their payable per currency, and how many are settled."""
    from django.db.models import Count, Sum

    from ib.models import CommissionTotal

    out: dict[int, dict[str, Any]] = {pk: {"partners": 0, "payable": [], "settled": 0} for pk in run_ids}
    for run_id, currency, partners, payable in (
            CommissionTotal.objects.filter(run_id__in=run_ids).values("run_id", "currency")
            .annotate(n=Count("id"), total=Sum("payable")).order_by("run_id", "currency")
            .values_list("run_id", "currency", "n", "total")):
        out[run_id]["partners"] += partners
        out[run_id]["payable"].append(Money(payable, currency).quantize())
    for run_id, n in (CommissionSettlement.objects.filter(run_id__in=run_ids).values("run_id")
                      .annotate(n=Count("id")).values_list("run_id", "n")):
        out[run_id]["settled"] = n
    return out


def run_can_settle(run: CommissionRun) -> bool:
    """Whether the IB manager's "settle" would settle something: the period's latest finished
    regular run with a total it has not settled."""
    if run.kind != RunKind.REGULAR or run.status != RunStatus.DONE:
        return False
    latest = (CommissionRun.objects.filter(brand_id=run.brand_id, period=run.period, kind=RunKind.REGULAR)
              .exclude(status=RunStatus.FAILED).aggregate(n=Max("number"))["n"])
    if run.number != latest:
        return False
    return run.totals.count() > run.settlements.count()


@transaction.atomic
def partner_settlement_set(*, actor: User | None, partner: Partner, schedule: str, client: Client | None) -> Partner:
    """How often the partner's commission is settled (daily, weekly, monthly), and its own client
    record (None: none), whose wallet its payouts then go to."""
    if actor is not None:
        if not user_can(actor, "ib.manage_partners"):
            raise NotAllowed()
        if not (actor.is_administrator or actor.all_brands or actor.brands.filter(pk=partner.brand_id).exists()):
            raise NotFound()
    if schedule not in PayoutSchedule.values:
        raise ValidationFailed(fields={"schedule": gettext("Choose daily, weekly or monthly.")})
    if client is not None and client.brand_id != partner.brand_id:
        raise ValidationFailed(fields={"client": gettext("The client belongs to another brand.")})
    row = Partner.objects.select_for_update().get(pk=partner.pk)
    before = {"schedule": row.schedule, "client": row.client_id}
    row.schedule, row.client = schedule, client
    row.save(update_fields=["schedule", "client"])
    audit_record(action="ib.partner_settlement_set", obj=row, actor=actor, before=before,
                 after={"schedule": schedule, "client": client.pk if client is not None else None})
    partner.schedule, partner.client = schedule, client
    return partner
