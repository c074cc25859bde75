"""Payment notifications through the whole intake path, per connector of the provider registry.

For each connector in CONNECTORS (one entry per provider that sends webhooks: the PSP simulator's,
Praxis Cashier's, Paysafe's and CoinsPaid's; adding one is one entry), N deposits are first asked for through the deposit service (wallet.deposits
.deposit_create: the provider saved through the configuration service, its simulator running as its
own process, one hosted checkout each; not measured). Then the provider's "approved" notification of
each deposit, signed as the provider documents it, is POSTed to the webhook endpoint
(/wallet/webhooks/<provider>/, in process through Django's test client: URL routing, the middleware
and the view included), one after the other as a provider's sender does. The request does what must
happen before the provider is answered: the adapter's signature check, the look-up of the deposit it
names, and the one webhook inbox's INSERT (crm.lib.webhooks: stored, deduplicated, marked pending),
committed on its own, answered as the provider expects (Praxis: a signed {"status": 0}). Then, as in
production, the stored notifications are applied by the worker in batches (wallet.webhook_batches):
the status mapping (the deposit's state machine) and the ledger posting (the deposit credited, fee to
the brand), many notifications per transaction. The worker here is a pool of one thread in this
process, running what the Celery task runs (wallet.webhook_batches.webhook_batches_run), queued by
the same trigger the request's commit fires (at most one run queued at a time), concurrently with
the requests; its events are not dispatched (no Celery worker runs). Paysafe's notification is PAYMENT_COMPLETED (the payment settled; its handle's PAYABLE
event would first make the CRM call Paysafe); CoinsPaid's a confirmed deposit_exchange callback
(BTC converted into the deposit's currency). Every answer must be 200 and every deposit succeeded afterwards, with the
ledger balanced. The time measured runs from the first POST to the commit of the batch that holds
the last notification's ledger posting.

The limit, in the same run: the same inbox rows (those the path stored, their event ids marked so
that they count as new) inserted into the inbox table with plain SQL on a plain psycopg connection:
executemany of one INSERT per row, each row its own committed transaction (autocommit, pipelined),
as each notification must be stored durably before its provider is answered. Inserting them all in
one transaction (executemany) and with COPY is logged for comparison. ratio = value / limit.

Figures (one JSON line each):
- payment_webhooks.<connector>_per_s: notifications per second through the intake path, from the
  first POST to the last posting committed; limit: the plain SQL inserts per second of the same rows.
  Goal: >= 500 notifications/s and ratio >= 0.3.

Run: python benchmarks/payment_webhooks.py [--quick] [--keep] [--deposits N] [--only psp_sim,praxis,paysafe,coinspaid]
     [--profile] [--in-request]
"""

from __future__ import annotations

import base64
import contextlib
import cProfile
import hashlib
import hmac
import io
import json
import pstats
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (
    BenchEnv,
    argument_parser,
    finish,
    log,
    prepare,
    raw_connection,
    record,
    sized,
    timed,
)

GOAL_PER_S = 500.0
GOAL_RATIO = 0.3
CURRENCY = "USD"
AMOUNT = "100.00"
CARD_HOLDER = "Ann Smith"
SETUP_THREADS = 6


# --- the connectors --------------------------------------------------------------------------------
# One entry per provider that sends webhooks: its simulator (run for the set-up's deposits), the
# provider saved to reach it, and its "approved" notification of a deposit, signed as documented.

@dataclass(frozen=True)
class Connector:
    name: str  # in the figure's name
    code: str  # the provider's code, as in the webhook URL
    method: str  # the method kind its deposits are asked for with
    simulator: str  # the module run with --port 0
    simulator_args: tuple[str, ...]
    save: Callable[[str], Any]  # base URL -> the provider, saved through the configuration service
    approved: Callable[[Any, int], tuple[dict[str, str], bytes]]  # (deposit, n) -> headers, body


PSP_KEY, PSP_SECRET, PSP_WEBHOOK = "pk_bench", "sk-bench-secret", "whsec-bench"
PRAXIS_MERCHANT, PRAXIS_APP, PRAXIS_SECRET = "API-Bench-Merchant", "bench-application", "praxis-bench-secret"


def _psp_save(base_url: str) -> Any:
    from wallet.provider_services import payment_provider_save

    return payment_provider_save(code="psp-sim", name="PSP simulator", kind="simulator", base_url=base_url,
                                 api_key=PSP_KEY, api_secret=PSP_SECRET, webhook_secret=PSP_WEBHOOK)


def _psp_approved(deposit: Any, n: int) -> tuple[dict[str, str], bytes]:
    """payment.succeeded as the PSP simulator sends it (wallet.psp_simulator: X-Psp-Signature, hex
    HMAC-SHA256 with the webhook secret over "<timestamp>.<body>")."""
    event_id = f"evt_{uuid.uuid4().hex[:16]}"
    number = "4242424242424242"
    body = json.dumps({"id": event_id, "type": "payment.succeeded", "created": _now_iso(), "data": {
        "object": "payment", "id": deposit.provider_ref, "merchant_ref": deposit.merchant_ref, "amount": AMOUNT,
        "currency": CURRENCY, "fee": "3.20", "status": "succeeded", "method": "card", "sequence": 2,
        "payer": {"name": CARD_HOLDER, "country": "DE", "last4": number[-4:],
                  "fingerprint": hashlib.sha256(f"card:{number}:{n % 50}".encode()).hexdigest()}}},
        separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    signature = hmac.new(PSP_WEBHOOK.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Psp-Event-Id": event_id, "X-Psp-Timestamp": timestamp, "X-Psp-Signature": signature}, body


def _praxis_save(base_url: str) -> Any:
    from wallet.provider_services import payment_provider_save

    return payment_provider_save(code="praxis", name="Praxis Cashier", kind="praxis", base_url=base_url,
                                 api_key=PRAXIS_MERCHANT, api_secret=PRAXIS_SECRET,
                                 settings={"application_key": PRAXIS_APP, "environment": "sandbox"})


PRAXIS_SIGNED = ("merchant_id", "application_key", "timestamp", "customer.customer_token", "session.order_id",
                 "transaction.tid", "transaction.currency", "transaction.amount", "transaction.conversion_rate",
                 "transaction.processed_currency", "transaction.processed_amount")


def _praxis_approved(deposit: Any, n: int) -> tuple[dict[str, str], bytes]:
    """An approved sale's notification as Praxis documents it (API 1.3): GT-Authentication, SHA-384
    hex of the signed fields' values in order (null skipped) followed by the merchant secret."""
    minor = int(deposit.amount * 100)
    number = "4111111111111111"
    token = hashlib.sha1(str(deposit.client.code).encode()).hexdigest()[:32]  # noqa: S324 - an id, not a secret
    doc = {
        "merchant_id": PRAXIS_MERCHANT, "application_key": PRAXIS_APP, "conversion_rate": "1.000000",
        "customer": {"customer_token": token, "country": "DE", "first_name": "Ann", "last_name": "Smith",
                     "avs_alert": 0, "verification_alert": None},
        "session": {"auth_token": uuid.uuid4().hex, "intent": "payment", "session_status": "active",
                    "order_id": deposit.merchant_ref, "currency": CURRENCY, "amount": minor, "conversion_rate": None,
                    "processed_currency": None, "processed_amount": None, "payment_method": None, "gateway": None,
                    "cid": str(deposit.client.code), "variable1": None, "variable2": None, "variable3": None},
        "transaction": {
            "transaction_type": "sale", "transaction_status": "approved", "tid": 100_000 + n,
            "transaction_id": f"psp-{uuid.uuid4().hex[:12]}", "currency": CURRENCY, "amount": minor,
            "conversion_rate": "1.000000", "processed_currency": CURRENCY, "processed_amount": minor, "fee": 0,
            "fee_included": 0, "fee_type": None, "payment_method": "Credit Card", "payment_processor": "SimProcessor",
            "gateway": None, "wallet": None, "is_async": 0, "is_cascade": 0, "cascade_level": 0,
            "reference_id": None, "withdrawal_request_id": None, "created_by": "INTERNET", "edited_by": "INTERNET",
            "status_code": "SC-002", "status_details": "Approved",
            "card": {"card_token": hashlib.sha256(f"card:{number}:{n % 50}".encode()).hexdigest()[:32],
                     "card_type": "VISA", "card_data_type": "card", "card_number": f"{number[:6]}******{number[-4:]}",
                     "card_exp": "12/2030", "card_issuer_name": "Simulated Bank", "card_issuer_country": "DE",
                     "card_holder": CARD_HOLDER}},
        "version": "1.3", "timestamp": int(time.time()),
    }
    values = []
    for path in PRAXIS_SIGNED:
        value: Any = doc
        for step in path.split("."):
            value = value.get(step) if isinstance(value, dict) else None
        if value is not None:
            values.append(str(value))
    signature = hashlib.sha384(("".join(values) + PRAXIS_SECRET).encode()).hexdigest()
    return {"GT-Authentication": signature}, json.dumps(doc, separators=(",", ":")).encode()


PAYSAFE_USER, PAYSAFE_PASSWORD, PAYSAFE_HMAC = "bench-api-user", "bench-api-password", "bench-hmac-key"


def _paysafe_save(base_url: str) -> Any:
    from wallet.provider_services import payment_provider_save

    return payment_provider_save(code="paysafe", name="Paysafe", kind="paysafe", base_url=base_url + "/paymenthub/v1",
                                 api_key=PAYSAFE_USER, api_secret=PAYSAFE_PASSWORD, webhook_secret=PAYSAFE_HMAC,
                                 settings={"environment": "sandbox"})


def _paysafe_approved(deposit: Any, n: int) -> tuple[dict[str, str], bytes]:
    """PAYMENT_COMPLETED of a Skrill payment as Paysafe documents its webhooks (the payment's
    settlement; the handle's PAYABLE event would make the CRM call Paysafe first): the Signature
    header, base64 of HMAC-SHA256 of the raw body with the webhook HMAC key."""
    payment_id = str(uuid.uuid4())
    body = json.dumps({
        "id": str(uuid.uuid4()), "type": "PAYMENT", "eventType": "PAYMENT_COMPLETED", "resourceId": payment_id,
        "mode": "test", "eventDate": _now_iso(), "attemptNumber": 1,
        "payload": {"id": payment_id, "merchantRefNum": deposit.merchant_ref, "amount": int(deposit.amount * 100),
                    "currencyCode": CURRENCY, "paymentType": "SKRILL",
                    "skrill": {"consumerId": f"client{n % 50}@wallet.test"}, "status": "COMPLETED",
                    "txnTime": _now_iso()}}, separators=(",", ":")).encode()
    signature = base64.b64encode(hmac.new(PAYSAFE_HMAC.encode(), body, hashlib.sha256).digest()).decode()
    return {"Signature": signature}, body


COINSPAID_KEY, COINSPAID_SECRET = "coinspaid-bench-key", "coinspaid-bench-secret"


def _coinspaid_save(base_url: str) -> Any:
    from wallet.provider_services import payment_provider_save

    return payment_provider_save(code="coinspaid", name="CoinsPaid", kind="coinspaid", base_url=base_url + "/api/v2",
                                 api_key=COINSPAID_KEY, api_secret=COINSPAID_SECRET,
                                 settings={"environment": "sandbox", "deposit_currency": "BTC"})


def _coinspaid_approved(deposit: Any, n: int) -> tuple[dict[str, str], bytes]:
    """A confirmed deposit_exchange callback (BTC sent to the deposit's address, converted into the
    deposit's currency) as CoinsPaid documents it: X-Processing-Signature, hex HMAC-SHA512 of the raw
    body with the API secret, and X-Processing-Key."""
    address = str(deposit.instructions.get("address") or "")
    body = json.dumps({
        "id": 500_000 + n, "type": "deposit_exchange",
        "crypto_address": {"id": 600_000 + n, "currency": "BTC", "address": address,
                           "foreign_id": deposit.merchant_ref, "tag": None},
        "currency_sent": {"currency": "BTC", "amount": "0.00150000"},
        "currency_received": {"currency": CURRENCY, "amount": AMOUNT, "amount_minus_fee": "99.00"},
        "transactions": [{"id": 700_000 + n, "currency": "BTC", "transaction_type": "blockchain", "type": "deposit",
                          "address": address, "tag": None, "amount": "0.00150000", "txid": uuid.uuid4().hex * 2,
                          "riskscore": "0.1", "confirmations": 3}],
        "fees": [{"type": "deposit", "currency": CURRENCY, "amount": "1.00"}], "error": "", "status": "confirmed",
    }, separators=(",", ":")).encode()
    signature = hmac.new(COINSPAID_SECRET.encode(), body, hashlib.sha512).hexdigest()
    return {"X-Processing-Key": COINSPAID_KEY, "X-Processing-Signature": signature}, body


CONNECTORS = (
    Connector("psp_sim", "psp-sim", "card", "wallet.psp_simulator",
              ("--api-key", PSP_KEY, "--api-secret", PSP_SECRET, "--webhook-secret", PSP_WEBHOOK,
               "--control-token", "bench-control"), _psp_save, _psp_approved),
    Connector("praxis", "praxis", "card", "wallet.praxis_simulator",
              ("--merchant-id", PRAXIS_MERCHANT, "--application-key", PRAXIS_APP, "--merchant-secret", PRAXIS_SECRET,
               "--control-token", "bench-control"), _praxis_save, _praxis_approved),
    Connector("paysafe", "paysafe", "skrill", "wallet.paysafe_simulator",
              ("--api-user", PAYSAFE_USER, "--api-password", PAYSAFE_PASSWORD, "--hmac-key", PAYSAFE_HMAC,
               "--control-token", "bench-control"), _paysafe_save, _paysafe_approved),
    Connector("coinspaid", "coinspaid", "crypto", "wallet.coinspaid_simulator",
              ("--api-key", COINSPAID_KEY, "--api-secret", COINSPAID_SECRET, "--control-token", "bench-control"),
              _coinspaid_save, _coinspaid_approved),
)


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


# --- set-up (not measured) -------------------------------------------------------------------------

def _brand() -> Any:
    from crm.models import Brand

    return Brand.objects.create(code="bench", name="Bench")


def _deposits(connector: Connector, brand: Any, base_url: str, count: int) -> list[Any]:
    """``count`` deposits asked for through the deposit service, spread over count / 10 clients."""
    from decimal import Decimal

    from django.db import connection

    from crm.lib.money import Money
    from crm.services.client_creation import client_create
    from wallet.deposits import deposit_create
    from wallet.models import DepositStatus
    from wallet.provider_services import CurrencyRule, payment_method_save

    provider = connector.save(base_url)
    payment_method_save(brand=brand, method=connector.method, direction="deposit", provider=provider,
                        currencies=[CurrencyRule(CURRENCY, Decimal("10"), Decimal("5000"))], order=10)
    clients = [client_create(actor=None, brand=brand, first_name="Ann", last_name="Smith", country="DE",
                             email=f"{connector.name}-{i}@bench.example.com") for i in range(max(1, count // 10))]
    def one(i: int) -> Any:
        try:
            deposit = deposit_create(client=clients[i % len(clients)], amount=Money(AMOUNT, CURRENCY),
                                     method=connector.method,
                                     return_url="https://crm.example.com/portal/wallet/deposit/return/")
        finally:
            connection.close()  # this thread's own
        if deposit.status != DepositStatus.PENDING:
            raise SystemExit(f"{connector.code}: a deposit ended {deposit.status}: {deposit.status_message}")
        return deposit

    with ThreadPoolExecutor(max_workers=SETUP_THREADS) as pool:  # the set-up only: its time is not measured
        deposits = list(pool.map(one, range(count)))
    return deposits


# --- measured ----------------------------------------------------------------------------------------

class _Worker:
    """The worker's pool, one thread of this process: what the Celery task wallet.tasks
    .webhook_batches_apply runs, queued by the request's trigger (wallet.webhook_batches)."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.runs: list[Future[int]] = []

    def queue(self) -> None:
        self.runs.append(self.pool.submit(self._run))

    @staticmethod
    def _run() -> int:
        from wallet.webhook_batches import webhook_batches_run

        return webhook_batches_run()  # on the thread's connection, kept between runs as a worker's is

    def wait(self) -> int:
        """Until every queued run is done; how many notifications they applied."""
        done = 0
        while self.runs:
            done += self.runs.pop(0).result()
        return done

    def __enter__(self) -> _Worker:
        from wallet import tasks

        self.patched = tasks.webhook_batches_apply
        self.patched.delay = self.queue  # type: ignore[method-assign,assignment]  # the task queued into this pool
        return self

    @staticmethod
    def _close() -> None:
        from django.db import connection

        connection.close()  # looked up in the pool's thread: its own

    def __exit__(self, *exc: object) -> None:
        del self.patched.delay  # the task's own again
        self.pool.submit(self._close).result()
        self.pool.shutdown(wait=True)


def _intake(connector: Connector, notes: list[tuple[dict[str, str], bytes]], *, profile: bool) -> float:
    """POST every notification to the webhook endpoint, one after the other, while the worker applies
    them; the seconds until the last one is applied."""
    from django.test import Client as HttpClient
    from django.urls import reverse

    http = HttpClient(HTTP_HOST="localhost", raise_request_exception=True)
    url = reverse("wallet_webhook", args=[connector.code])
    profiler = cProfile.Profile() if profile else None
    statements: dict[str, list[float]] = {}

    def timed_sql(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            statements.setdefault(sql[:160], []).append(time.perf_counter() - began)

    with contextlib.ExitStack() as stack:
        worker = stack.enter_context(_Worker())
        if profiler is not None:
            from django.db import connection

            stack.enter_context(connection.execute_wrapper(timed_sql))
            profiler.enable()
        start = time.perf_counter()
        for headers, body in notes:
            answer = http.post(url, data=body, content_type="application/json", headers=headers)
            if answer.status_code != 200:
                raise SystemExit(f"{connector.code}: answered {answer.status_code}: {answer.content[:300]!r}")
        posted = time.perf_counter() - start
        applied = worker.wait()
        elapsed = time.perf_counter() - start
    if profiler is not None:
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(60)
        stats.sort_stats("tottime").print_stats(40)
        slowest = sorted(statements.items(), key=lambda item: -sum(item[1]))[:60]
        lines = "\n".join(f"{sum(t) * 1000:8.0f} ms {len(t):5d}x  {sql}" for sql, t in slowest)
        each = sum(len(t) for t in statements.values()) / max(1, len(notes))
        log(f"profile of {connector.code}'s requests (the worker's thread is not profiled):\n{out.getvalue()}\n"
            f"the requests' SQL, slowest in all ({each:.1f} statements per notification through Django's "
            f"cursor):\n{lines}")
    log(f"{connector.code}: {len(notes)} notifications answered in {posted:.2f} s ({len(notes) / posted:,.0f}/s), "
        f"{applied} applied by the worker {elapsed - posted:.2f} s after the last answer")
    return elapsed


def _checked(connector: Connector, deposits: list[Any]) -> None:
    from wallet.ledger import ledger_verify
    from wallet.models import Deposit, DepositStatus

    succeeded = Deposit.objects.filter(pk__in=[d.pk for d in deposits], status=DepositStatus.SUCCEEDED).count()
    if succeeded != len(deposits):
        raise SystemExit(f"{connector.code}: {succeeded} of {len(deposits)} deposits credited")
    problems = ledger_verify()
    if problems:
        raise SystemExit(f"the ledger does not verify: {problems}")


COLUMNS = ("event_id", "headers", "body", "remote_addr", "received_at", "signature_ok", "detail", "provider_id",
           "provider_code", "kind", "provider_ref", "merchant_ref", "outcome")


def _plain_inserts(env: BenchEnv, connector: Connector, first_id: int) -> float:
    """The inbox rows the path stored for ``connector`` (ids above ``first_id``), inserted again with
    plain SQL, one committed transaction per row; the rows per second. The bulk variants are logged."""
    from psycopg import sql
    from psycopg.types.json import Jsonb

    table = sql.Identifier("wallet_webhookdelivery")
    columns = sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
    select = sql.SQL("SELECT {} FROM {} WHERE provider_code = %s AND id > %s ORDER BY id").format(columns, table)
    insert = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        table, columns, sql.SQL(", ").join(sql.Placeholder() * len(COLUMNS)))
    copy_in = sql.SQL("COPY {} ({}) FROM STDIN").format(table, columns)
    clear = sql.SQL("DELETE FROM {} WHERE event_id LIKE 'plain:%%'").format(table)
    with raw_connection(env) as conn:
        rows = [(f"plain:{row[0]}", Jsonb(row[1]), *row[2:])
                for row in conn.execute(select, (connector.code, first_id)).fetchall()]
        conn.commit()
        conn.autocommit = True
        with conn.cursor() as cursor:
            start = time.perf_counter()
            cursor.executemany(insert, rows)  # autocommit: each row its own transaction
            per_row = time.perf_counter() - start
        conn.execute(clear)
        conn.autocommit = False
        with conn.cursor() as cursor:
            start = time.perf_counter()
            with conn.transaction():
                cursor.executemany(insert, rows)
            one_tx = time.perf_counter() - start
            conn.execute(clear)
            conn.commit()
            start = time.perf_counter()
            with conn.transaction(), cursor.copy(copy_in) as copy:
                for row in rows:
                    copy.write_row(row)
            copied = time.perf_counter() - start
            conn.execute(clear)
            conn.commit()
    n = len(rows)
    log(f"{connector.code}: plain SQL, {n} rows: {n / per_row:,.0f}/s one transaction each, "
        f"{n / one_tx:,.0f}/s in one transaction, {n / copied:,.0f}/s by COPY")
    return n / per_row


def _run(env: BenchEnv, connector: Connector, brand: Any, count: int, *, profile: bool) -> None:
    from tests.simulators import simulator_start, simulator_stop
    from wallet.models import WebhookDelivery

    proc, listening = simulator_start(connector.simulator, *connector.simulator_args, what=f"{connector.code} simulator")
    try:
        warm = min(20, max(2, count // 20))
        with timed(f"{connector.code}: {count + warm} deposits through deposit_create"):
            deposits = _deposits(connector, brand, f"http://127.0.0.1:{listening['port']}", count + warm)
    finally:
        simulator_stop(proc)
    notes = [connector.approved(deposit, n) for n, deposit in enumerate(deposits)]
    _intake(connector, notes[:warm], profile=False)  # the first requests load what every later one reuses
    first_id = WebhookDelivery.objects.order_by("-id").values_list("id", flat=True).first() or 0
    elapsed = _intake(connector, notes[warm:], profile=profile)
    _checked(connector, deposits)
    value = count / elapsed
    log(f"{connector.code}: {count} notifications in {elapsed:.2f} s")
    limit = _plain_inserts(env, connector, first_id)
    record(f"payment_webhooks.{connector.name}_per_s", value=value, unit="notifications/s", limit=limit,
           goal=f">= {GOAL_PER_S:.0f} notifications/s; ratio >= {GOAL_RATIO} (limit: plain SQL inserts of the "
                f"same inbox rows, one transaction each)",
           size=f"{count} approved deposits' notifications, one sender, {max(1, (count + warm) // 10)} clients")


def main(argv: list[str]) -> int:
    parser = argument_parser(__doc__)
    parser.add_argument("--deposits", type=int, default=None, help="notifications per connector (1,000; --quick 200)")
    parser.add_argument("--only", default="", help="connectors by name, comma-separated (default: all)")
    parser.add_argument("--profile", action="store_true", help="cProfile of the measured intake, on stderr")
    parser.add_argument("--in-request", action="store_true",
                        help="apply each notification in its request, as before the worker's batches (to compare)")
    args = parser.parse_args(argv)
    count = args.deposits or sized(args, 1_000, 200, 5)
    chosen = [c for c in CONNECTORS if not args.only or c.name in args.only.split(",")]
    if not chosen:
        raise SystemExit(f"no connector named {args.only!r}: {', '.join(c.name for c in CONNECTORS)}")
    env = prepare(args)
    from django.conf import settings

    settings.CRM_PUBLIC_URL = "https://crm.example.com"  # the notification URL the providers are given
    # production's: applied by the worker (_Worker); --in-request: in the request, as before the batches
    settings.WALLET_WEBHOOK_BATCHES = not args.in_request
    settings.WALLET_WEBHOOK_BATCH_INLINE = False
    brand = _brand()
    for connector in chosen:
        _run(env, connector, brand, count, profile=args.profile)
    finish(env)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
