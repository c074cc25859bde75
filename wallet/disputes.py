"""Payment disputes: a provider's retrieval request or chargeback on a confirmed deposit, worked by
finance to an outcome (the state machine is described in wallet.models.disputes).

Opening. The one webhook inbox hands a provider's chargeback to wallet.deposits, which calls
``dispute_receive`` with the deposit locked; a retrieval request reaches ``dispute_webhook_apply``
(a handler of the same inbox); finance may also open one by hand from the provider's report
(``dispute_open``). One case per deposit: a repeated notification finds it; a chargeback after a
retrieval request escalates it.

The ledger follows the case, each posting keyed by the deposit (so a notification, its repetition
and a decision post once between them):

- received (a chargeback): the provider took the amount, so its clearing account is credited and
  the brokerage's "disputes" suspense account debited; the amount (or what the wallet has
  available) is held on the client's wallet, so it cannot be withdrawn or transferred meanwhile;
- won: the provider gives the money back (clearing debited, suspense credited); the hold released;
- lost or accepted: the hold released, then the client's wallet is debited through
  ``ledger_chargeback`` against the suspense account (the shortfall, if the money was spent,
  becomes the client's debt), the deposit's fee first, as before; the deposit becomes charged back
  and ``wallet.deposit_charged_back`` is emitted (the IB engine's clawback, risk scoring).

Each step is a DisputeStep row, an audit row and an event naming the client
(``wallet.dispute_opened`` / ``_updated`` / ``_decided``): the client's timeline and compliance's
trail export read those, never these tables.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext

from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import NotFound, ValidationFailed
from crm.lib.money import Money, money_format
from crm.lib.private_files import PrivateStore
from wallet.exceptions import DisputeRefused
from wallet.ledger import (
    Leg,
    available,
    clearing_account_for,
    ledger_chargeback,
    ledger_hold,
    ledger_post,
    ledger_release,
    system_account_for,
    wallet_account_for,
)
from wallet.models import (
    DISPUTE_STATES,
    OPEN_DISPUTE_STATUSES,
    AccountKind,
    Deposit,
    DepositStatus,
    Dispute,
    DisputeEvidence,
    DisputeKind,
    DisputeStatus,
    DisputeStep,
    LedgerHold,
    PaymentProvider,
)
from wallet.models.deposits import DEPOSIT_STATES
from wallet.providers.base import WebhookKind, WebhookMessage
from wallet.providers.webhook_handlers import register_webhook_handler
from wallet.three_ds import three_ds_text

MANAGE_PERMISSION = "wallet.manage_dispute"
VIEW_PERMISSION = "wallet.view_dispute"
SUSPENSE_REF = "disputes"
S = DisputeStatus

# --- the evidence files: the private store KYC documents and case files use --------------------------

PNG, JPEG, PDF = "image/png", "image/jpeg", "application/pdf"
_EXTENSIONS = {PNG: "png", JPEG: "jpg", PDF: "pdf"}


def _storage_root() -> Path:
    configured = getattr(settings, "WALLET_DISPUTE_STORAGE_DIR", None)
    return Path(configured) if configured else Path(settings.VAR_DIR) / "wallet-dispute-files"


_STORE = PrivateStore(_storage_root)


def _max_bytes() -> int:
    return int(getattr(settings, "WALLET_DISPUTE_MAX_UPLOAD_BYTES", 20 * 1024 * 1024))


def dispute_evidence_limit() -> int:
    """The largest evidence file accepted, in bytes (WALLET_DISPUTE_MAX_UPLOAD_BYTES, 20 MB by default)."""
    return _max_bytes()


def _content_type(data: bytes) -> str:
    """PNG, JPEG or PDF by the file's first bytes (never its name); ValidationFailed on "file" else."""
    if not data:
        raise ValidationFailed(fields={"file": [gettext("Choose a file to attach (PDF, PNG or JPEG).")]})
    if len(data) > _max_bytes():
        raise ValidationFailed(fields={"file": [gettext("The file is larger than %(size)s.")
                                                % {"size": filesizeformat(_max_bytes())}]})
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data[:1024].lstrip().startswith(b"%PDF-"):
        return PDF
    raise ValidationFailed(fields={"file": [gettext("Only PDF, PNG and JPEG files can be attached to a dispute.")]})


def evidence_content(evidence: DisputeEvidence) -> bytes:
    """The stored file of `evidence` (the caller checked the user may see its dispute)."""
    return _STORE.read(evidence.storage_name)


# --- helpers -------------------------------------------------------------------------------------------

def _key(deposit: Deposit, what: str) -> str:
    # The same keys as wallet.deposits' postings of this deposit: a chargeback is posted once.
    return f"psp:{deposit.provider.code}:{deposit.merchant_ref}:{what}"


def _suspense(deposit: Deposit) -> Any:
    return system_account_for(kind=AccountKind.SUSPENSE, currency=deposit.currency, brand=deposit.brand_id,
                              owner_ref=SUSPENSE_REF)


def _clearing(deposit: Deposit) -> Any:
    return clearing_account_for(provider=deposit.provider.code, currency=deposit.currency, brand=deposit.brand_id)


def _payload(dispute: Dispute, action: str, note: str = "") -> dict[str, Any]:
    return {"dispute": str(dispute.code), "deposit": str(dispute.deposit.code), "kind": dispute.kind,
            "action": action, "status": dispute.status, "reason_code": dispute.reason_code,
            "amount": dispute.money.text(), "currency": dispute.currency, "provider": dispute.provider.code,
            "method": dispute.method, "due": dispute.due_at.isoformat(), "note": note[:300]}


def _record(dispute: Dispute, action: str, *, before: str, actor: Any, note: str = "", event: str = "",
            step: bool = True, **extra: Any) -> None:
    """The step's row (when the state machine did not write one), its audit row and its event."""
    if step:
        DisputeStep.objects.create(dispute=dispute, action=action, from_status=before, to_status=dispute.status,
                                   actor=actor if getattr(actor, "pk", None) else None, note=note[:500])
    audit_record(action=f"wallet.dispute_{action}", obj=dispute, actor=actor if getattr(actor, "pk", None) else None,
                 reason=note, before={"status": before} if before else None,
                 after={"status": dispute.status, "kind": dispute.kind, "deposit": str(dispute.deposit.code),
                        "amount": dispute.money.text(), "currency": dispute.currency, **extra})
    emit(event or "wallet.dispute_updated", client=dispute.client, actor=actor if getattr(actor, "pk", None) else None,
         data=_payload(dispute, action, note))


def _move(dispute: Dispute, to: str, action: str, *, actor: Any, note: str = "", via: str | None = None,
          also: dict[str, Any] | None = None, event: str = "") -> None:
    before = dispute.status
    DISPUTE_STATES.move(dispute, to, via=via, also=also, save=tuple(also or ()) + ("updated_at",),
                        action=action, actor=actor if getattr(actor, "pk", None) else None, note=note[:500])
    _record(dispute, action, before=before, actor=actor, note=note, event=event, step=False)


def _locked(dispute: Dispute) -> Dispute:
    return (Dispute.objects.select_for_update(of=("self",))
            .select_related("deposit", "deposit__provider", "deposit__client", "client", "provider", "hold")
            .get(pk=dispute.pk))


def _due(received: dt.datetime, due_at: dt.datetime | None) -> dt.datetime:
    if due_at is not None:
        return due_at
    return received + dt.timedelta(days=int(getattr(settings, "WALLET_DISPUTE_RESPONSE_DAYS", 10)))


# --- money ---------------------------------------------------------------------------------------------

def _receive_money(dispute: Dispute) -> None:
    """The provider took the disputed amount: post it to the disputes' suspense account and hold what
    the client's wallet has available of it."""
    deposit = dispute.deposit
    money = dispute.money
    ledger_post(key=_key(deposit, "chargeback-received"), kind="chargeback_received",
                legs=[Leg(_clearing(deposit), money), Leg(_suspense(deposit), -money)],
                memo=f"Chargeback received {dispute.provider_ref}".strip(), ref_kind="dispute",
                ref_code=str(dispute.code))
    wallet = wallet_account_for(client=deposit.client_id, currency=deposit.currency)
    free = available(wallet)
    held = Money(min(money.amount, max(free.amount, Decimal(0))), money.currency).quantize()
    if held.amount > 0:
        dispute.hold = ledger_hold(key=_key(deposit, "chargeback-hold"), account=wallet, amount=held,
                                   memo=gettext("Held while the chargeback is disputed."))
        dispute.save(update_fields=["hold", "updated_at"])


def _release_hold(dispute: Dispute, reason: str) -> None:
    if dispute.hold_id is not None:
        ledger_release(hold=LedgerHold.objects.get(pk=dispute.hold_id), reason=reason)


def _money_received(dispute: Dispute) -> bool:
    return dispute.kind != DisputeKind.RETRIEVAL_REQUEST


def _won_money(dispute: Dispute, actor: Any) -> None:
    if not _money_received(dispute):
        return
    _release_hold(dispute, gettext("The dispute was won."))
    deposit, money = dispute.deposit, dispute.money
    ledger_post(key=_key(deposit, "chargeback-reversed"), kind="chargeback_reversed",
                legs=[Leg(_clearing(deposit), -money), Leg(_suspense(deposit), money)], actor=actor,
                memo=f"Dispute won {dispute.provider_ref}".strip(), ref_kind="dispute", ref_code=str(dispute.code))


def _charged_back(deposit: Deposit, *, taken: Money, reference: str, actor: Any) -> None:
    """The (locked) deposit's chargeback was lost: it becomes charged back, once, with its history row,
    its audit row and ``wallet.deposit_charged_back`` (the IB engine's clawback, risk scoring)."""
    if deposit.status == DepositStatus.CHARGED_BACK:
        return
    by = actor if getattr(actor, "pk", None) else None
    note = gettext("The payment was charged back.")
    DEPOSIT_STATES.move(deposit, DepositStatus.CHARGED_BACK, also={"status_message": note},
                        save=("status_message", "updated_at"), note=note, event_id="", actor=by)
    audit_record(action="wallet.deposit_charged_back", obj=deposit, actor=by,
                 after={"amount": taken.text(), "chargeback": reference})
    emit("wallet.deposit_charged_back", client=deposit.client, actor=by, data={
        "deposit": str(deposit.code), "reversal": reference, "amount": taken.text(), "currency": taken.currency,
        "method": deposit.method, "provider": deposit.provider.code})


def _lost_money(dispute: Dispute, actor: Any) -> None:
    if not _money_received(dispute):
        return
    _release_hold(dispute, gettext("The dispute was lost: the amount is debited."))
    deposit = Deposit.objects.select_for_update(of=("self",)).select_related("provider", "client").get(
        pk=dispute.deposit_id)
    money = dispute.money
    suspense = _suspense(deposit)
    # The client got the amount less the fee: the fee, kept by the brokerage, goes back first
    # (not after a partial refund, whose own posting already charged the client in full).
    fee = deposit.fee_money if not deposit.refunded_money else Money.zero(deposit.currency)
    fee = fee if fee.amount <= money.amount else money
    if fee:
        fees = system_account_for(kind=AccountKind.FEES, currency=deposit.currency, brand=deposit.brand_id)
        ledger_post(key=_key(deposit, "chargeback-fee"), kind="chargeback_fee", legs=[
            Leg(fees, -fee), Leg(suspense, fee)], ref_kind="deposit", ref_code=str(deposit.code), actor=actor)
    rest = (money - fee).quantize()
    if rest.amount > 0:
        wallet = wallet_account_for(client=deposit.client, currency=deposit.currency)
        ledger_chargeback(key=_key(deposit, "chargeback"), wallet=wallet, clearing=suspense, amount=rest,
                          actor=actor, memo=f"Chargeback {dispute.provider_ref}".strip(), ref_kind="deposit",
                          ref_code=str(deposit.code))
    _charged_back(deposit, taken=money, reference=dispute.provider_ref, actor=actor)


# --- opening -------------------------------------------------------------------------------------------

def dispute_receive(*, deposit: Deposit, kind: str, amount: Money | None, reason_code: str = "", reason: str = "",
                    provider_ref: str = "", due_at: dt.datetime | None = None, actor: Any = None) -> Dispute:
    """A provider disputes `deposit` (locked by the caller, in its transaction): open its case, or find
    the one open already (a repeated notification), or escalate a retrieval request to the chargeback
    that follows it. A chargeback's amount goes to the disputes' suspense account and is held on the
    client's wallet (see the module's docstring). Returns the case."""
    kind = DisputeKind(kind)
    now = timezone.now()
    money = (amount if amount is not None else (deposit.money - deposit.refunded_money)).quantize()
    if money.amount <= 0 or money.currency != deposit.currency:
        raise ValidationFailed(fields={"amount": gettext("A dispute is for an amount above zero in the "
                                                         "deposit's currency.")})
    existing = Dispute.objects.select_for_update(of=("self",)).filter(deposit=deposit).first()
    if existing is not None:
        existing = _locked(existing)
        if (existing.kind == DisputeKind.RETRIEVAL_REQUEST and kind != DisputeKind.RETRIEVAL_REQUEST
                and existing.is_open):
            _escalate(existing, kind=kind, money=money, reason_code=reason_code, reason=reason,
                      provider_ref=provider_ref, due_at=_due(now, due_at), actor=actor)
        return existing
    dispute = Dispute.objects.create(
        deposit=deposit, client=deposit.client, brand_id=deposit.brand_id, provider=deposit.provider,
        method=deposit.method, kind=kind, reason_code=reason_code[:40], reason=reason[:300],
        provider_ref=provider_ref[:200], amount=money.amount, currency=money.currency, due_at=_due(now, due_at),
        received_at=now)
    _record(dispute, "opened", before="", actor=actor, note=reason, event="wallet.dispute_opened")
    if _money_received(dispute):
        _receive_money(dispute)
    return dispute


def _escalate(dispute: Dispute, *, kind: str, money: Money, reason_code: str, reason: str, provider_ref: str,
              due_at: dt.datetime, actor: Any) -> None:
    before = dispute.status
    dispute.kind, dispute.amount, dispute.currency, dispute.due_at = kind, money.amount, money.currency, due_at
    dispute.reason_code = reason_code[:40] or dispute.reason_code
    dispute.reason = reason[:300] or dispute.reason
    dispute.provider_ref = provider_ref[:200] or dispute.provider_ref
    dispute.save(update_fields=["kind", "amount", "currency", "due_at", "reason_code", "reason", "provider_ref",
                                "updated_at"])
    if dispute.status == S.REPRESENTED:
        DISPUTE_STATES.move(dispute, S.EVIDENCE_GATHERING, via="escalate", save=("updated_at",),
                            action="escalated", actor=None, note=reason[:500])
        _record(dispute, "escalated", before=before, actor=actor, note=reason, step=False)
    else:
        _record(dispute, "escalated", before=before, actor=actor, note=reason)
    _receive_money(dispute)


@transaction.atomic
def dispute_open(*, deposit: Deposit, kind: str, reason_code: str, reason: str, due_at: dt.datetime | None,
                 actor: Any, amount: Money | None = None, provider_ref: str = "") -> Dispute:
    """Finance opens a case from the provider's report or portal (a retrieval request, most often).
    ValidationFailed for a deposit that was never credited or a kind that is not a dispute's."""
    if kind not in DisputeKind.values:
        raise ValidationFailed(fields={"kind": gettext("Choose a retrieval request, a chargeback or a "
                                                       "pre-arbitration.")})
    deposit = Deposit.objects.select_for_update(of=("self",)).select_related("provider", "client").get(pk=deposit.pk)
    if deposit.status not in {DepositStatus.SUCCEEDED, DepositStatus.PARTIALLY_REFUNDED}:
        raise ValidationFailed(fields={"deposit": gettext("Only a credited deposit can be disputed.")})
    return dispute_receive(deposit=deposit, kind=kind, amount=amount, reason_code=reason_code, reason=reason,
                           provider_ref=provider_ref, due_at=due_at, actor=actor)


def message_dispute_facts(message: WebhookMessage) -> tuple[str, str, dt.datetime | None]:
    """The reason code, reason and deadline a provider's notification carries (when it does)."""
    raw: Mapping[str, Any] = message.raw or {}
    inner = raw.get("data")
    data: Mapping[str, Any] = inner if isinstance(inner, Mapping) else raw
    code = str(data.get("reason_code") or data.get("reason") or "")
    text = str(data.get("reason_text") or data.get("reason") or "")
    due: dt.datetime | None = None
    for name in ("respond_by", "due_by", "deadline"):
        value = data.get(name)
        if value:
            try:
                due = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            except ValueError:
                due = None
            if due is not None and timezone.is_naive(due):
                due = timezone.make_aware(due, dt.UTC)
            break
    return code, text, due


@register_webhook_handler
def dispute_webhook_apply(provider: PaymentProvider, message: WebhookMessage, delivery: Any = None) -> bool:
    """The inbox's handler for retrieval requests (chargebacks reach wallet.deposits first): True when
    the deposit is ours (the case opened or found), False otherwise. Runs in the inbox's transaction."""
    if message.kind != WebhookKind.RETRIEVAL_REQUEST:
        return False
    deposit = (Deposit.objects.select_for_update(of=("self",)).select_related("provider", "client")
               .filter(provider=provider, merchant_ref=message.merchant_ref).first())
    if deposit is None:
        return False
    code, text, due = message_dispute_facts(message)
    dispute_receive(deposit=deposit, kind=DisputeKind.RETRIEVAL_REQUEST, amount=message.amount, reason_code=code,
                    reason=text, provider_ref=message.provider_ref, due_at=due)
    return True


# --- finance's work ------------------------------------------------------------------------------------

def _refuse_closed(dispute: Dispute) -> None:
    if not dispute.is_open:
        raise DisputeRefused(gettext("This dispute is closed (%(status)s): nothing more can be done on it.")
                             % {"status": dispute.get_status_display().lower()})


@transaction.atomic
def dispute_evidence_add(*, dispute: Dispute, title: str, data: bytes, actor: Any) -> DisputeEvidence:
    """Attach a file (PDF, PNG or JPEG, checked by content) to an open dispute; the first one moves it to
    evidence gathering. ValidationFailed for no file, an empty or unknown one, or no title."""
    title = title.strip()
    content_type = _content_type(data)
    if not title:
        raise ValidationFailed(fields={"title": [gettext("Say what the file shows.")]})
    dispute = _locked(dispute)
    _refuse_closed(dispute)
    name = _STORE.new_name(_EXTENSIONS[content_type])
    sha = hashlib.sha256(data).hexdigest()
    brand_code = getattr(dispute.brand, "code", "") if dispute.brand_id else ""
    if brand_code:
        _STORE.write(name, data, scope=brand_code)
    else:
        _STORE.write(name, data)
    evidence = DisputeEvidence.objects.create(dispute=dispute, title=title[:200], storage_name=name,
                                              content_type=content_type, size=len(data), sha256=sha, added_by=actor)
    if dispute.status == S.OPEN:
        DISPUTE_STATES.move(dispute, S.EVIDENCE_GATHERING, save=("updated_at",), action="evidence_added",
                            actor=actor, note=title[:500])
        _record(dispute, "evidence_added", before=S.OPEN, actor=actor, note=title, step=False, sha256=sha)
    else:
        _record(dispute, "evidence_added", before=dispute.status, actor=actor, note=title, sha256=sha)
    return evidence


@transaction.atomic
def dispute_represent(*, dispute: Dispute, note: str, actor: Any) -> Dispute:
    """Finance sent the representment (the evidence package) to the provider: the case waits for its
    decision. Needs a note saying what was sent and at least one piece of evidence."""
    if not note.strip():
        raise ValidationFailed(fields={"note": [gettext("Say what was sent to the provider.")]})
    dispute = _locked(dispute)
    _refuse_closed(dispute)
    if not dispute.evidence.exists():
        raise ValidationFailed(fields={"note": [gettext("Attach the evidence before sending the representment.")]})
    _move(dispute, S.REPRESENTED, "represented", actor=actor, note=note,
          also={"represented_at": timezone.now(), "represented_by": actor, "representment_note": note.strip()})
    return dispute


@transaction.atomic
def dispute_accept(*, dispute: Dispute, reason: str, actor: Any) -> Dispute:
    """Finance does not fight the dispute: it is lost (the wallet debited as for a lost one)."""
    if not reason.strip():
        raise ValidationFailed(fields={"reason": [gettext("Say why the dispute is accepted.")]})
    dispute = _locked(dispute)
    _refuse_closed(dispute)
    if dispute.status == S.REPRESENTED:
        raise DisputeRefused(gettext("The representment was sent: record the provider's outcome instead."))
    _lost_money(dispute, actor)
    _move(dispute, S.ACCEPTED, "accepted", actor=actor, note=reason, event="wallet.dispute_decided",
          also={"decided_at": timezone.now(), "decided_by": actor, "outcome_note": reason.strip()[:500]})
    return dispute


@transaction.atomic
def dispute_outcome_record(*, dispute: Dispute, outcome: str, note: str, actor: Any) -> Dispute:
    """The provider's decision: won (the money comes back, the hold released) or lost (the wallet
    debited, the deposit charged back). DisputeRefused on a closed dispute; ValidationFailed for an
    outcome that is neither."""
    if outcome not in (S.WON, S.LOST):
        raise ValidationFailed(fields={"outcome": [gettext("Choose won or lost.")]})
    dispute = _locked(dispute)
    _refuse_closed(dispute)
    if outcome == S.WON:
        _won_money(dispute, actor)
    else:
        _lost_money(dispute, actor)
    _move(dispute, outcome, str(outcome), actor=actor, note=note, event="wallet.dispute_decided",
          also={"decided_at": timezone.now(), "decided_by": actor, "outcome_note": note.strip()[:500]})
    return dispute


# --- reads ---------------------------------------------------------------------------------------------

def dispute_list_for_user(user: Any) -> QuerySet[Dispute]:
    """The disputes of clients within `user`'s scope (the caller checked the permission)."""
    from crm.permissions import client_queryset_for_user

    return (Dispute.objects.filter(client_id__in=client_queryset_for_user(user).values("id"))
            .select_related("client", "provider", "deposit"))


def dispute_get_for_user(*, user: Any, code: Any) -> Dispute:
    """A dispute of a client within `user`'s scope, if `user` works disputes; NotFound otherwise."""
    from crm.permissions import code_or_404, user_can

    if not user_can(user, MANAGE_PERMISSION):
        raise NotFound()
    found = dispute_list_for_user(user).filter(code=code_or_404(code)).first()
    if found is None:
        raise NotFound()
    return found


def dispute_queue_for_user(*, user: Any, include_closed: bool = False) -> list[Dispute]:
    """The open disputes by urgency: past their deadline first (the oldest deadline first), then by the
    days left; each with `days_left` (negative: overdue by that many days)."""
    qs = dispute_list_for_user(user)
    if not include_closed:
        qs = qs.filter(status__in=OPEN_DISPUTE_STATUSES)
    rows = list(qs.order_by("due_at", "id")[:500])
    now = timezone.now()
    for d in rows:
        d.days_left = (d.due_at - now).days  # type: ignore[attr-defined]  # for the template only
        d.overdue = d.due_at < now  # type: ignore[attr-defined]  # for the template only
    return rows


def open_disputes_of_client(*, client_id: int) -> QuerySet[Dispute]:
    """The client's chargebacks still open (a retrieval request takes no money, so it holds nothing)."""
    return (Dispute.objects.filter(client_id=client_id, status__in=OPEN_DISPUTE_STATUSES)
            .exclude(kind=DisputeKind.RETRIEVAL_REQUEST).select_related("deposit"))


def chargebacks_for_client(*, client_id: int, since: dt.datetime, until: dt.datetime | None = None) -> int:
    """How many chargebacks (and pre-arbitrations; not retrieval requests) of the client's deposits the
    providers raised from `since` up to `until` (now), whatever became of them: as known at `until`."""
    qs = Dispute.objects.filter(client_id=client_id, received_at__gte=since).exclude(
        kind=DisputeKind.RETRIEVAL_REQUEST)
    if until is not None:
        qs = qs.filter(received_at__lte=until)
    return qs.count()


@dataclass(frozen=True)
class RatioRow:
    month: dt.date
    provider: str
    method: str
    currency: str
    deposits: int
    deposit_amount: Decimal
    chargebacks: int
    chargeback_amount: Decimal

    @property
    def count_ratio(self) -> Decimal | None:
        return (Decimal(self.chargebacks) * 100 / self.deposits).quantize(Decimal("0.01")) if self.deposits else None

    @property
    def amount_ratio(self) -> Decimal | None:
        if not self.deposit_amount:
            return None
        return (self.chargeback_amount * 100 / self.deposit_amount).quantize(Decimal("0.01"))

    @property
    def deposit_text(self) -> str:
        return money_format(Money(self.deposit_amount, self.currency))

    @property
    def chargeback_text(self) -> str:
        return money_format(Money(self.chargeback_amount, self.currency))


def chargeback_ratios(*, user: Any, months: int = 6) -> list[RatioRow]:
    """Per month, provider, method and currency: the chargebacks received (count and amount; retrieval
    requests are not chargebacks) over the deposits credited, as acquirers count them (by the month each
    happened), newest month first; within the user's scope."""
    from crm.permissions import client_queryset_for_user

    today = timezone.now()
    start = (today.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
             - dt.timedelta(days=31 * (months - 1))).replace(day=1)
    clients = client_queryset_for_user(user).values("id")
    deposits = (Deposit.objects.filter(client_id__in=clients, succeeded_at__gte=start)
                .annotate(month=TruncMonth("succeeded_at", tzinfo=dt.UTC))
                .values("month", "provider__code", "method", "currency")
                .annotate(n=Count("id"), total=Sum("amount")).order_by())
    chargebacks = (Dispute.objects.filter(client_id__in=clients, received_at__gte=start)
                   .exclude(kind=DisputeKind.RETRIEVAL_REQUEST)
                   .annotate(month=TruncMonth("received_at", tzinfo=dt.UTC))
                   .values("month", "provider__code", "method", "currency")
                   .annotate(n=Count("id"), total=Sum("amount")).order_by())
    table: dict[tuple[Any, ...], list[Any]] = {}
    for row in deposits:
        key = (row["month"].date(), row["provider__code"], row["method"], row["currency"])
        table.setdefault(key, [0, Decimal(0), 0, Decimal(0)])[0:2] = [row["n"], row["total"] or Decimal(0)]
    for row in chargebacks:
        key = (row["month"].date(), row["provider__code"], row["method"], row["currency"])
        table.setdefault(key, [0, Decimal(0), 0, Decimal(0)])[2:4] = [row["n"], row["total"] or Decimal(0)]
    out = [RatioRow(month=k[0], provider=k[1], method=k[2], currency=k[3], deposits=v[0], deposit_amount=v[1],
                    chargebacks=v[2], chargeback_amount=v[3]) for k, v in table.items()]
    return sorted(out, key=lambda r: (-r.month.toordinal(), r.provider, r.method, r.currency))


@dataclass(frozen=True)
class GeneratedEvidence:
    title: str
    lines: list[str]


def dispute_generated_evidence(dispute: Dispute) -> list[GeneratedEvidence]:
    """What the CRM already knows that answers a dispute, as far as the data exists: the client's KYC
    documents, where and on what device the deposit was asked, the terms the client accepted, the
    trading since, the payer and 3-D Secure as the provider reported them."""
    from crm.selectors import trail_audit_rows
    from kyc.selectors import documents_for_client, kyc_status
    from trading.selectors import accounts_for_client

    deposit, client = dispute.deposit, dispute.client
    out: list[GeneratedEvidence] = []
    docs = list(documents_for_client(client=client).order_by("created_at")[:20])
    out.append(GeneratedEvidence(gettext("KYC documents"), [
        gettext("KYC status: %(status)s") % {"status": kyc_status(client=client)},
        *[f"{d.get_kind_display()} {d.side} · {d.created_at:%Y-%m-%d} · sha256 {d.sha256[:16]}…" for d in docs],
    ] if docs else [gettext("No KYC documents on file.")]))
    start = deposit.created_at - dt.timedelta(minutes=5)
    created = list(trail_audit_rows(brand_id=deposit.brand_id, actions=["wallet.deposit_created"], start=start,
                                    end=deposit.created_at + dt.timedelta(minutes=5))
                   .filter(object_id__in=[str(deposit.pk), str(deposit.code)])[:1])
    out.append(GeneratedEvidence(gettext("IP address and device of the deposit"), [
        gettext("IP %(ip)s · %(agent)s") % {"ip": created[0].ip or gettext("not recorded"),
                                            "agent": created[0].user_agent or gettext("device not recorded")}
    ] if created else [gettext("Not recorded for this deposit.")]))
    payer = [gettext("Payer: %(name)s%(client)s") % {
        "name": deposit.payer_name or gettext("not reported"),
        "client": gettext(" (the client)") if deposit.payer_is_client else ""}]
    if deposit.instrument_last4:
        payer.append(gettext("Instrument ending %(last4)s, issued in %(country)s")
                     % {"last4": deposit.instrument_last4, "country": deposit.instrument_country or "?"})
    payer.append(gettext("3-D Secure: %(result)s") % {"result": three_ds_text(deposit)})
    out.append(GeneratedEvidence(gettext("Payment and 3-D Secure"), payer))
    terms = list(trail_audit_rows(brand_id=deposit.brand_id, actions=["portal.register", "portal.consent_accepted"],
                                  start=client.created_at - dt.timedelta(days=1), end=timezone.now(),
                                  object_type="crm.client", object_id=str(client.code))[:5])
    out.append(GeneratedEvidence(gettext("Terms accepted"), [
        f"{row.at:%Y-%m-%d %H:%M} UTC · {row.action} · IP {row.ip or '-'}" for row in terms
    ] or [gettext("No acceptance recorded in the CRM.")]))
    accounts = accounts_for_client(client=client, days=90)
    out.append(GeneratedEvidence(gettext("Trading history (90 days)"), [
        gettext("Account %(login)s: %(deals)d deals, %(trades)d trades, volume %(volume)s, profit %(profit)s")
        % {"login": getattr(a.account, "login", ""), "deals": a.deals, "trades": a.trades, "volume": a.volume,
           "profit": a.profit} for a in accounts
    ] or [gettext("No trading accounts.")]))
    return out


def dispute_steps(dispute: Dispute) -> Iterable[DisputeStep]:
    return dispute.steps.select_related("actor").order_by("at", "id")


__all__ = ["MANAGE_PERMISSION", "VIEW_PERMISSION", "chargeback_ratios", "chargebacks_for_client", "dispute_accept", "dispute_evidence_add",
           "dispute_evidence_limit",
           "dispute_generated_evidence", "dispute_get_for_user", "dispute_list_for_user", "dispute_open",
           "dispute_outcome_record", "dispute_queue_for_user", "dispute_receive", "dispute_represent",
           "dispute_steps", "dispute_webhook_apply", "evidence_content", "open_disputes_of_client"]

