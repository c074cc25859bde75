"""scale_seed (demo.scale: the generator behind `manage.py scale_seed` and benchmarks/scale_pages.py)
writes the sizes asked for, deals that pair up as positions, a ledger whose invariants hold, and an
audit chain that verifies. Apart from tests/crm/test_scale_plans.py, whose tests share one seeded
brokerage: this one needs an empty database to seed."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count, Q

from crm.models import AccessEvent, Client, Event, Task, User
from demo.scale import scale_seed
from trading.models import Deal, Position, TradingAccount
from wallet.ledger import ledger_verify
from wallet.models import LedgerTransaction


@pytest.mark.django_db(transaction=True)
def test_scale_seed_writes_the_sizes_asked_for_and_a_ledger_that_verifies():
    result = scale_seed(clients=2_000, deals=10_001, events=5_000, access=700, ledger=6_000)
    assert Client.objects.count() == 2_000
    assert Deal.objects.count() == 10_001
    assert Event.objects.filter(client__isnull=False, name__in=(
        "client.updated", "note.added", "task.created", "task.completed", "call.logged", "client.stage_changed",
        "email.sent", "client.assigned")).count() == 5_000
    assert AccessEvent.objects.count() == 700
    assert result.rows["trading_deal"] == 10_001
    # The deals are positions opened and closed: per position one deal in and at most one out, on
    # the other side, of the same symbol and volume; only a closing deal carries a profit; each
    # deal id once per server; a spread of symbols and both sides.
    pairs = list(Deal.objects.values("position_id").annotate(
        n=Count("id"), ins=Count("id", filter=Q(entry="in")), symbols=Count("symbol", distinct=True),
        volumes=Count("volume", distinct=True), sides=Count("side", distinct=True)))
    assert all(p["ins"] == 1 and p["symbols"] == 1 and p["volumes"] == 1 and p["sides"] == p["n"] for p in pairs)
    assert {p["n"] for p in pairs} <= {1, 2}
    assert not Deal.objects.filter(entry="in").exclude(profit=0).exists()
    assert Deal.objects.filter(entry="out").exclude(profit=0).count() > 0.9 * Deal.objects.filter(entry="out").count()
    assert Deal.objects.values("server_id", "deal_id").distinct().count() == 10_001
    assert Deal.objects.values("symbol").distinct().count() >= 10
    assert {"buy", "sell"} == set(Deal.objects.filter(entry="in").values_list("side", flat=True).distinct())
    # The ledger's own triggers ran at each batch's commit, and its invariants hold over all of it:
    # as many transactions as asked for, every live account funded and its money moved on.
    assert ledger_verify() == {}
    assert LedgerTransaction.objects.count() == 6_000
    live = TradingAccount.objects.filter(is_demo=False)
    with connection.cursor() as cursor:
        # No wallet is ever below zero: each one's legs summed in the order they were posted.
        cursor.execute("SELECT min(running) FROM (SELECT sum(l.amount) OVER (PARTITION BY l.account_id "
                       "ORDER BY l.recorded_at, l.transaction_id) AS running FROM wallet_ledgerleg l "
                       "JOIN wallet_ledgeraccount a ON a.id = l.account_id WHERE a.kind = 'client_wallet') w")
        assert cursor.fetchone()[0] >= 0
        # Every trading account's mirror received money; the deposits, fees and withdrawals through
        # the PSP are the ones their events tell (what the dashboard's money figures read).
        cursor.execute("SELECT count(*) FROM wallet_ledgeraccount a WHERE a.kind = 'trading_mirror' AND NOT EXISTS "
                       "(SELECT 1 FROM wallet_ledgerleg l WHERE l.account_id = a.id AND l.amount > 0)")
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT t.kind, count(DISTINCT t.id), -sum(l.amount) FILTER (WHERE a.kind = 'psp_clearing') "
                       "FROM wallet_ledgertransaction t JOIN wallet_ledgerleg l ON l.transaction_id = t.id "
                       "JOIN wallet_ledgeraccount a ON a.id = l.account_id GROUP BY t.kind")
        posted = {kind: (n, total) for kind, n, total in cursor.fetchall()}
        cursor.execute("SELECT name, count(*), sum((data->>'amount')::numeric), sum((data->>'fee')::numeric) "
                       "FROM crm_event WHERE name LIKE 'wallet.%%' GROUP BY name")
        told = {name: (n, total, fee) for name, n, total, fee in cursor.fetchall()}
        cursor.execute("SELECT sum(l.amount) FROM wallet_ledgerleg l JOIN wallet_ledgeraccount a ON a.id = l.account_id "
                       "WHERE a.kind = 'fees'")
        fees = cursor.fetchone()[0]
    assert set(posted) == {"deposit", "transfer", "withdrawal"}
    assert told["wallet.deposit_succeeded"][:2] == posted["deposit"]
    assert told["wallet.withdrawal_paid"][:2] == (posted["withdrawal"][0], -posted["withdrawal"][1])
    assert told["wallet.deposit_succeeded"][2] == fees > 0
    assert told["wallet.first_deposit"][0] == live.values("client_id").distinct().count()
    # The dropped indexes are back.
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
                       "WHERE x.indisvalid AND i.relname IN ('deal_account_time_idx', 'event_client_timeline_idx', "
                       "'client_owner_recent_idx', 'ledgerleg_account_time_idx')")
        assert cursor.fetchone()[0] == 4
        # Rebuilt on every month of the partitioned tables, not on the parent alone (which PostgreSQL
        # leaves invalid and unused: each month read whole).
        cursor.execute("SELECT count(*) FROM pg_index WHERE NOT indisvalid")
        assert cursor.fetchone()[0] == 0
        for table, index in (("trading_deal", "deal_account_time_idx"), ("crm_event", "event_client_timeline_idx"),
                             ("crm_accessevent", "access_client_recent_idx")):
            cursor.execute("SELECT (SELECT count(*) FROM pg_inherits WHERE inhparent = %s::regclass), "
                           "(SELECT count(*) FROM pg_inherits WHERE inhparent = %s::regclass)", [table, index])
            months, indexed = cursor.fetchone()
            assert months > 1 and indexed == months, (table, months, indexed)
    assert Position.objects.exists() and Task.objects.exists()
    # Each desk's clients are shared among all its agents (not all given to one of them).
    agents = User.objects.filter(role__code__in=("sales_agent", "retention_agent")).count()
    shares = [row["n"] for row in Client.objects.values("owner_id").annotate(n=Count("id"))]
    assert len(shares) == agents and max(shares) <= 2 * min(shares)
    call_command("audit_verify")  # the staff were made through the services; nothing else wrote audit rows
