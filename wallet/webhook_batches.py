"""Payment notifications applied in batches: the provider is answered once its notification is
stored; the status mapping and the ledger posting run afterwards, in the worker, many notifications
per transaction.

The request (wallet.webhooks, crm.lib.webhooks step 6) does only what must happen before the
provider is answered: the signature check, then, for a deposit's payment notification (pending,
succeeded, failed) of a deposit the CRM has, one INSERT of the inbox row (in one statement with the
look-up of the deposit: stored so only if it is there), committed on its own: accepted (the one accepted row per provider and event id: a copy is a duplicate and changes
nothing), ``pending``, with what the adapter read from it in ``message``. A notification of a
deposit the CRM does not know (yet) is not stored this way: it goes through the inbox's steps at
once and is answered 404, so that the provider sends it again. Anything else (refunds,
chargebacks, retrievals, payouts) is applied at once, as before.

Once the row is committed, ``webhook_batch_trigger`` queues one run of the Celery task
wallet.tasks.webhook_batches_apply (at most one queued at a time: a Redis key set with the queueing,
removed as the run starts, expiring by itself should the task be lost), and beat runs the same
every WALLET_WEBHOOK_SWEEP_SECONDS (``webhook_batches_sweep``), so nothing stored is left behind.

A run takes the pending rows in batches of WALLET_WEBHOOK_BATCH_SIZE, oldest first, locked with
SKIP LOCKED (two workers never take one row), and in one transaction per batch: the batch's
deposits locked in one statement in id order (two batches never wait on each other in a cycle),
each notification applied by the deposits' handler (wallet.deposits.deposit_webhook_apply: the
state machine, the ledger posting with the provider payment's key, the events; the accounts they
post to read once for the batch: wallet.ledger.accounts_known; the events and audit rows written
together when the batch is done: crm.lib.bulk.rows_gathered; the payers' earlier fingerprints looked
up once: ``_earlier_dropped``), and the rows marked applied in one UPDATE. A row is applied exactly once: it leaves ``pending`` in the
transaction that applies it. No savepoint per notification: when one fails, the batch is rolled
back and done again without it, and the failing one is then tried alone; if it fails alone too,
the reason is kept in its ``detail``, it stays pending, later batches pass it by and the sweep
tries it again (alone) until it goes through.

WALLET_WEBHOOK_BATCH_INLINE (the test settings') applies the stored rows right after the INSERT, in
the request, instead of queueing the task: the same batch code, with no worker to wait for.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet

from crm.lib.bulk import rows_gathered
from crm.lib.enqueue import task_named
from crm.lib.money import Money
from crm.lib.redis import get_redis
from wallet.deposits import deposit_webhook_apply, deposits_for_webhooks, deposits_known
from wallet.instruments import PayerDetails
from wallet.ledger import accounts_known
from wallet.models import AccountKind, Deposit, PaymentProvider, WebhookDelivery, WebhookOutcome
from wallet.providers.base import WebhookKind, WebhookMessage

logger = logging.getLogger("wallet.webhooks")

BATCHED_KINDS = frozenset({WebhookKind.DEPOSIT_PENDING, WebhookKind.DEPOSIT_SUCCEEDED, WebhookKind.DEPOSIT_FAILED})
QUEUED_KEY = "wallet:webhook-batches-queued"
QUEUED_SECONDS = 60  # a queued run lost with its worker: the next notification queues another after this


# --- the request ---------------------------------------------------------------------------------------

def webhook_batch_columns(provider: PaymentProvider, note: WebhookMessage) -> dict[str, Any] | None:
    """The inbox row's columns for a notification applied later in a batch, or None to apply it now:
    batches on (WALLET_WEBHOOK_BATCHES) and a deposit's payment notification. Stored so only if
    ``webhook_batch_deposits`` finds the deposit, in the INSERT's own statement (crm.lib.webhooks
    ``later_if``)."""
    if not settings.WALLET_WEBHOOK_BATCHES or note.kind not in BATCHED_KINDS or not note.merchant_ref:
        return None
    return {"pending": True, "message": message_dump(note)}


def webhook_batch_deposits(provider: PaymentProvider, note: WebhookMessage) -> QuerySet[Deposit]:
    """The deposits of this provider the notification names (an indexed look-up). None found: the
    notification is applied now, which answers 404 so that the provider sends it again."""
    refs = Q(merchant_ref=note.merchant_ref)
    if provider.standing_addresses and note.provider_ref:
        refs |= Q(provider_ref=note.provider_ref[:200])
    return Deposit.objects.filter(refs, provider=provider)


def webhook_batch_stored(row: WebhookDelivery) -> None:
    """A pending row was stored: applied now (WALLET_WEBHOOK_BATCH_INLINE) or by the worker once committed."""
    if settings.WALLET_WEBHOOK_BATCH_INLINE:
        webhook_batches_apply()
        return
    # robust: the row is stored whatever happens to the queueing (the sweep finds it).
    transaction.on_commit(webhook_batch_trigger, robust=True)


def webhook_batch_trigger() -> None:
    """Queue one run of the batches unless one is queued already."""
    # The process's one client (crm.lib.redis), not the cache's, which builds a client for each call.
    if get_redis().set(QUEUED_KEY, "1", nx=True, ex=QUEUED_SECONDS):
        task_named("wallet.tasks.webhook_batches_apply").delay()


# --- what the adapter read, kept on the row -------------------------------------------------------------

def _money(value: Money | None) -> dict[str, str] | None:
    return None if value is None else {"amount": format(value.amount, "f"), "currency": value.currency}


def _money_from(value: Mapping[str, str] | None) -> Money | None:
    return None if not value else Money(value["amount"], value["currency"])


def message_dump(note: WebhookMessage) -> dict[str, Any]:
    """The verified notification as JSON, for ``message_load``. Of ``raw`` only its "data" is kept
    (what the adapter made of the provider's document: the failure reason, the risk score; the
    document itself is the row's body)."""
    data = note.raw.get("data") if isinstance(note.raw, Mapping) else None
    payer = note.payer
    return {
        "kind": str(note.kind), "event_id": note.event_id, "provider_ref": note.provider_ref,
        "merchant_ref": note.merchant_ref, "amount": _money(note.amount), "fee": _money(note.fee),
        "occurred_at": note.occurred_at.isoformat(), "sequence": note.sequence, "payment_ref": note.payment_ref,
        "batch_id": note.batch_id,
        "payer": None if payer is None else {"name": payer.name, "country": payer.country,
                                             "fingerprint": payer.fingerprint, "earlier": list(payer.earlier),
                                             "last4": payer.last4},
        # default=str: a Decimal or a time the adapter put there, as text
        "data": json.loads(json.dumps(data, default=str)) if isinstance(data, Mapping) else None,
    }


def message_load(stored: Mapping[str, Any]) -> WebhookMessage:
    """The notification ``message_dump`` kept."""
    payer = stored.get("payer")
    return WebhookMessage(
        kind=WebhookKind(stored["kind"]), event_id=stored["event_id"], provider_ref=stored["provider_ref"],
        merchant_ref=stored["merchant_ref"], amount=_money_from(stored.get("amount")),
        fee=_money_from(stored.get("fee")), occurred_at=dt.datetime.fromisoformat(stored["occurred_at"]),
        sequence=int(stored.get("sequence") or 0), payment_ref=stored.get("payment_ref") or "",
        batch_id=stored.get("batch_id") or "",
        payer=None if payer is None else PayerDetails(name=payer["name"], country=payer["country"],
                                                      fingerprint=payer["fingerprint"],
                                                      earlier=tuple(payer["earlier"]), last4=payer["last4"]),
        raw={"data": stored["data"]} if stored.get("data") is not None else {})


# --- the worker ----------------------------------------------------------------------------------------

class _NotApplied(Exception):  # noqa: N818 - internal: one notification of a batch failed
    def __init__(self, row_id: int, error: BaseException) -> None:
        super().__init__(row_id, error)
        self.row_id, self.error = row_id, error


def webhook_batches_run() -> int:
    """What the queued task does: the queue is free again for the next notification's trigger, then
    every pending row is applied. Returns how many were applied."""
    get_redis().delete(QUEUED_KEY)
    return webhook_batches_apply()


def webhook_batches_sweep() -> int:
    """Beat's: every pending row, those that failed before included (each tried alone)."""
    return webhook_batches_apply(retry_failed=True)


def webhook_batches_apply(*, size: int | None = None, retry_failed: bool = False) -> int:
    """Apply the pending rows, batch after batch, until none is left (with ``retry_failed``, the
    rows that failed before too). Returns how many were applied."""
    size = size or int(settings.WALLET_WEBHOOK_BATCH_SIZE)
    done = 0
    while True:
        applied, taken = _batch(size, retry_failed=retry_failed)
        done += applied
        if taken < size or not applied:
            return done


def _batch(size: int, *, retry_failed: bool) -> tuple[int, int]:
    """One batch: (rows applied, rows taken)."""
    left_out: list[int] = []
    applied = 0
    while True:
        try:
            with transaction.atomic():
                rows = _rows_locked(size - len(left_out), retry_failed=retry_failed, without=left_out)
                _apply_rows(rows)
                applied = len(rows)
            break
        except _NotApplied as failed:  # done again without it, which is then tried alone
            left_out.append(failed.row_id)
    taken = applied + len(left_out)
    for row_id in left_out:
        applied += _apply_alone(row_id)
    return applied, taken


def _rows_locked(size: int, *, retry_failed: bool, without: Sequence[int] = ()) -> list[WebhookDelivery]:
    if size <= 0:
        return []
    rows = (WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",)).select_related("provider")
            .filter(pending=True).exclude(pk__in=list(without)))
    if not retry_failed:
        rows = rows.filter(detail="")
    return list(rows.order_by("pk")[:size])


def _deposits_locked(notes: Sequence[tuple[WebhookDelivery, WebhookMessage]]) -> list[Deposit]:
    """The deposits the notifications name, locked in one statement, in id order, as the deposits'
    handler takes them (wallet.deposits.deposits_for_webhooks: it reads none of them again)."""
    merchant: dict[int, set[str]] = defaultdict(set)
    standing: dict[int, set[str]] = defaultdict(set)
    for row, note in notes:
        if row.provider_id is None:
            continue
        merchant[row.provider_id].add(note.merchant_ref)
        if note.provider_ref and row.provider is not None and row.provider.standing_addresses:
            standing[row.provider_id].add(note.provider_ref[:200])
    refs = [Q(provider_id=pid, merchant_ref__in=sorted(values)) for pid, values in merchant.items()]
    refs += [Q(provider_id=pid, provider_ref__in=sorted(values)) for pid, values in standing.items()]
    if not refs:
        return []
    query = refs[0]
    for more in refs[1:]:
        query |= more
    return list(deposits_for_webhooks().filter(query).order_by("pk"))


def _accounts(deposits: Sequence[Deposit]) -> list[dict[str, Any]]:
    """The accounts a deposit's credit posts to (wallet.deposits: the client's wallet, the provider's
    clearing account, the brand's fees), for all of them, once each."""
    specs: dict[tuple[Any, ...], dict[str, Any]] = {}
    for d in deposits:
        for spec in ({"kind": AccountKind.CLIENT_WALLET, "currency": d.currency, "client": d.client},
                     {"kind": AccountKind.PSP_CLEARING, "currency": d.currency, "brand": d.brand_id,
                      "owner_ref": d.provider.code},
                     {"kind": AccountKind.FEES, "currency": d.currency, "brand": d.brand_id}):
            specs.setdefault((spec["kind"], spec["currency"], spec.get("brand"), d.client_id if "client" in spec
                              else None, spec.get("owner_ref", "")), spec)
    return list(specs.values())


def _earlier_dropped(notes: list[tuple[WebhookDelivery, WebhookMessage]],
                     ) -> list[tuple[WebhookDelivery, WebhookMessage]]:
    """The notifications with their payers' earlier fingerprints (the number's hash under keys no longer
    current: wallet.instruments) kept only where a deposit still holds one, found for the whole batch
    in one query: the deposits' code brings those deposits to the current fingerprint, and asks for
    each payer's otherwise, nearly always finding none."""
    earlier = {value for _row, note in notes if note.payer is not None for value in note.payer.earlier if value}
    if not earlier:
        return notes
    held = set(Deposit.objects.filter(instrument_fingerprint__in=sorted(earlier))
               .values_list("instrument_fingerprint", flat=True).distinct())
    return [(row, note if note.payer is None or not note.payer.earlier else replace(
        note, payer=replace(note.payer, earlier=tuple(value for value in note.payer.earlier if value in held))))
        for row, note in notes]


def _apply_rows(rows: Sequence[WebhookDelivery]) -> None:
    """Apply ``rows`` in the caller's transaction; _NotApplied (the transaction to roll back) for the
    first that fails."""
    notes = _earlier_dropped([(row, message_load(row.message or {})) for row in rows])
    deposits = _deposits_locked(notes)
    unknown: list[int] = []
    with accounts_known(*_accounts(deposits)), deposits_known(deposits, complete=True), rows_gathered():
        for row, note in notes:
            try:
                if row.provider is None or not deposit_webhook_apply(row.provider, note, row):
                    unknown.append(row.pk)
            except Exception as error:  # noqa: BLE001 - whatever one notification raises must not stop the others
                raise _NotApplied(row.pk, error) from error
    ids = [row.pk for row in rows]
    if unknown:  # the deposit it was stored for is not the one it names: refused, as the inbox would
        logger.warning("webhook for an unknown payment", extra={"rows": unknown})
        WebhookDelivery.objects.filter(pk__in=unknown).update(
            pending=False, outcome=WebhookOutcome.UNKNOWN_PAYMENT,
            detail="no deposit, refund or payout knows this reference")
    WebhookDelivery.objects.filter(pk__in=[i for i in ids if i not in set(unknown)]).update(pending=False, detail="")


def _apply_alone(row_id: int) -> int:
    """Try one row that failed in its batch on its own; its failure kept on it. 1 if applied."""
    try:
        with transaction.atomic():
            rows = list(WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
                        .select_related("provider").filter(pk=row_id, pending=True))
            _apply_rows(rows)
            return len(rows)
    except _NotApplied as failed:
        error = failed.error
        logger.error("webhook not applied: it stays pending for the sweep",
                     extra={"row": row_id, "error": type(error).__name__}, exc_info=error)
        detail = f"not applied yet: {type(error).__name__}: {error}"[:300]
        WebhookDelivery.objects.filter(pk=row_id, pending=True).update(detail=detail)
        return 0
