"""The busiest staff pages read the big tables through their indexes, and scale_seed writes a
brokerage whose ledger and audit chain hold.

The data set is made by demo.scale.scale_seed (the generator behind `manage.py scale_seed` and
benchmarks/scale_pages.py) at a modest size, committed and analysed as the generator leaves a
database; each page is requested as a member of staff would, and every SELECT it ran is EXPLAINed:
each must be one an index can serve, with no big table read whole (a Seq Scan).
"""

from __future__ import annotations

import functools
import itertools
import re
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count, Q
from django.db.models.functions import Collate, Lower
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.models import AccessEvent, Client, Event, Task, User
from crm.selectors import client_search
from demo.scale import ScaleRefused, scale_seed
from trading.models import Deal, Position, TradingAccount
from wallet.ledger import ledger_verify
from wallet.models import LedgerTransaction

CLIENTS = 6_000
DEALS = 60_000
EVENTS = 30_000

# Tables that grow with the brokerage: a page may not read any of them whole.
BIG_TABLES = ("crm_client", "crm_event", "crm_accessevent", "crm_task", "trading_deal", "trading_tradingaccount",
              "trading_position", "wallet_ledgerleg", "wallet_ledgertransaction", "wallet_ledgeraccount")
SEQ_SCAN = re.compile(r"Seq Scan on (\w+?)(?:_p\d{6})?\b")  # a month's partition counts as its table
# A scan of the clients' table itself: not of crm_clientuserobjectpermission (guardian's grants, a
# handful of rows in the agent's scope), whose plan is whatever its few rows make it.
CLIENT_INDEX_SCAN = re.compile(r"Index (?:Only )?Scan using (\w+) on crm_client\b")


def _http(user: User) -> Any:
    from django.test import Client as HttpClient
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    http = HttpClient(HTTP_HOST="localhost", raise_request_exception=True)
    http.force_login(user)
    if user.requires_2fa:
        device = TOTPDevice.objects.create(user=user, name="plans", confirmed=True)
        session = http.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return http


def _seq_scans(http: Any, url: str) -> list[str]:
    """'<table>: <statement>' for each SELECT of the page whose plan reads a big table whole."""
    with CaptureQueriesContext(connection) as captured:
        response = http.get(url)
    assert response.status_code == 200, url
    found = []
    with connection.cursor() as cursor:
        # On a test's modest tables the planner may rightly rather read a table whole; with that made
        # its last resort, a Seq Scan left in the plan means no index can serve the query, which on a
        # million rows is what turns a page from milliseconds into seconds.
        cursor.execute("SET enable_seqscan = off")
        try:
            for query in captured.captured_queries:
                sql = query["sql"]
                if not sql.lstrip().upper().startswith(("SELECT", "WITH")):
                    continue
                cursor.execute(f"EXPLAIN {sql}")
                plan = "\n".join(row[0] for row in cursor.fetchall())
                found += [f"{table}: {sql[:300]}\n{plan}" for table in SEQ_SCAN.findall(plan) if table in BIG_TABLES]
        finally:
            cursor.execute("RESET enable_seqscan")
    return found


def _user(prefix: str) -> User:
    return User.objects.filter(email__startswith=prefix).order_by("id")[:1].get()


@pytest.fixture
def brokerage(db: Any) -> None:
    """The brokerage in the test's transaction: for what the pages show and how many queries they run."""
    scale_seed(clients=CLIENTS, deals=DEALS, events=EVENTS)


@pytest.fixture
def analysed_brokerage(transactional_db: Any) -> None:
    """The brokerage as `manage.py scale_seed` leaves a database: committed, and analysed by the
    tables' owner. For the plans: the tests run as the application's role, whose ANALYZE skips the
    tables another role owns, and rows in the test's transaction are seen by no other connection. So
    the planner had no statistics of these rows: it planned on none, or on those autovacuum had last
    taken (of an empty table, or of an earlier test's rows), and its choice depended on which."""
    scale_seed(clients=CLIENTS, deals=DEALS, events=EVENTS)
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname, reltuples FROM pg_class WHERE relname IN ('crm_client', 'crm_event')")
        estimated = dict(cursor.fetchall())
    assert estimated["crm_client"] >= CLIENTS and estimated["crm_event"] >= EVENTS, estimated


def test_the_busiest_pages_read_the_big_tables_through_indexes(analysed_brokerage):
    admin, agent = _user("admin@scale"), _user("agent.scale-atlas.1.0@")
    manager, dealer = _user("manager.scale-atlas.1@"), _user("dealer.scale-atlas@")
    client = Client.objects.filter(pk__in=Event.objects.filter(client__isnull=False).values("client_id")[:1]).get()
    profile = reverse("client_detail", args=[client.code])
    search = reverse("client_search")
    pages = [
        (admin, reverse("client_list")),
        (admin, f"{reverse('client_list')}?sort=name&page=3"),
        (agent, reverse("client_list")),
        (admin, profile),
        (admin, f"{profile}?tab=timeline"),
        (admin, f"{search}?q={client.last_name}"),
        (admin, f"{search}?q={client.first_name}"),
        (admin, f"{search}?q={client.first_name} {client.last_name[:3]}"),
        (admin, f"{search}?q={client.email[:8]}"),
        (admin, f"{search}?q={client.phone[-7:]}"),
        (agent, f"{search}?q={client.last_name}"),
        (manager, reverse("trading_retention")),
        (manager, f"{reverse('trading_retention')}?page=2"),
        (admin, reverse("trading_retention")),
        (dealer, reverse("trading_exposure")),
        (admin, reverse("trading_exposure")),
    ]
    problems = {f"{user.email} {url}": scans for user, url in pages if (scans := _seq_scans(_http(user), url))}
    assert not problems, "\n\n".join(f"{page}:\n" + "\n".join(scans) for page, scans in problems.items())


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _detail_of(line: str, depth: int) -> bool:
    """Whether an EXPLAIN line is a detail (Index Cond, Filter) of the node indented by `depth`."""
    return not line.lstrip().startswith("->") and _indent(line) > depth


def _whole_index_walks(http: Any, url: str) -> list[str]:
    """'<index>: <statement>' for each SELECT of the page that reads an index of the clients from
    its start, filtering row by row (an Index Scan with no Index Cond): on a million clients that
    is a read of the whole table in the index's order."""
    with CaptureQueriesContext(connection) as captured:
        assert http.get(url).status_code == 200, url
    found = []
    with connection.cursor() as cursor:
        # Without bitmap scans an OR of conditions on different columns has no index range to
        # read: the plan shows whether each way of matching is a range of an index of its own.
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("SET enable_bitmapscan = off")
        try:
            for query in captured.captured_queries:
                sql = query["sql"]
                if "crm_client" not in sql or not sql.lstrip("( ").upper().startswith(("SELECT", "WITH")):
                    continue
                cursor.execute(f"EXPLAIN {sql}")
                lines = [row[0] for row in cursor.fetchall()]
                for i, line in enumerate(lines):
                    scan = CLIENT_INDEX_SCAN.search(line)
                    if scan is None:
                        continue
                    depth = _indent(line)
                    node = list(itertools.takewhile(functools.partial(_detail_of, depth=depth), lines[i + 1:]))
                    if not any("Index Cond" in x for x in node):
                        found.append(f"{scan.group(1)}: {sql[:300]}\n" + "\n".join(lines))
        finally:
            cursor.execute("RESET enable_seqscan")
            cursor.execute("RESET enable_bitmapscan")
    return found


def test_search_reads_a_range_of_an_index_whatever_the_name(analysed_brokerage):
    # The regression this guards: one OR of every way to match, sorted by name, had PostgreSQL walk
    # the name index from "A" filtering each client, seconds for a common last name late in the
    # alphabet. Each way to match must be a range of an index.
    admin, agent = _user("admin@scale"), _user("agent.scale-atlas.1.0@")
    search = reverse("client_search")
    names = Client.objects.order_by("-last_name", "id").values("first_name", "last_name", "email")[:1].get()
    urls = [f"{search}?q={names['last_name']}", f"{search}?q={names['first_name']}",
            f"{search}?q={names['first_name']} {names['last_name'][:2]}", f"{search}?q={names['email'][:6]}"]
    problems = {f"{user.email} {url}": walks for user in (admin, agent) for url in urls
                if (walks := _whole_index_walks(_http(user), url))}
    assert not problems, "\n\n".join(f"{page}:\n" + "\n".join(walks) for page, walks in problems.items())


def test_search_finds_a_common_last_name_in_name_order(brokerage):
    admin = _user("admin@scale")
    last = Client.objects.order_by("-last_name").values_list("last_name", flat=True)[:1].get()
    expected = list(Client.objects.filter(last_name__iexact=last).order_by(
        Collate(Lower("last_name"), "C"), Collate(Lower("first_name"), "C"), "id").values_list("pk", flat=True)[:10])
    found = [c.pk for c in client_search(user=admin, q=last.upper(), limit=10)]
    assert len(expected) == 10
    assert found == expected


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


def test_scale_seed_refuses_a_database_that_has_clients(brokerage):
    with pytest.raises(ScaleRefused, match="already has clients"):
        scale_seed(clients=10, deals=0, events=0)


def test_retention_and_exposure_find_their_rows_once_per_page_view(brokerage):
    from trading.forms import RetentionFilterForm
    from trading.retention import retention_queryset

    manager, dealer = _user("manager.scale-atlas.1@"), _user("dealer.scale-atlas@")
    with CaptureQueriesContext(connection) as captured:
        html = _http(manager).get(reverse("trading_retention")).content.decode()
    captured_list = captured.captured_queries
    counts = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT COUNT(*)")
              and "trading_tradingaccount" in q["sql"]]
    assert counts == []  # the traders are counted from their read model's rows, not every account
    capped = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT COUNT(*)")
              and "trading_retentionsummary" in q["sql"]]
    assert len(capped) == 1 and "LIMIT" in capped[0]  # up to a cap: never every trader of a brokerage
    listed = retention_queryset(user=manager, filters=RetentionFilterForm(None, user=manager).filters()).count()
    assert listed > 50  # more than one page
    assert f"{listed:,} traders" in html or f"{listed} traders" in html

    # Both read their per-trader and per-brand read models (trading.summaries), not every account or
    # open position: the list is one statement over the retention rows, the exposure one over its rows.
    lists = [q["sql"] for q in captured_list if "trading_retentionsummary" in q["sql"]
             and not q["sql"].startswith("SELECT COUNT(*)") and "ORDER BY" in q["sql"]]
    assert len(lists) == 1 and "trading_accountequityday" not in lists[0]
    # A desk manager's desks by the rows' own desk (its index), not by naming each of their clients.
    assert '"trading_retentionsummary"."desk_id" IN' in lists[0]
    with CaptureQueriesContext(connection) as captured:
        html = _http(dealer).get(reverse("trading_exposure")).content.decode()
    assert [q for q in captured.captured_queries if "trading_position" in q["sql"]] == []
    assert len([q for q in captured.captured_queries if "trading_exposurerow" in q["sql"]]) == 1
    assert 'id="exposure-as-of"' in html and "EURUSD" in html


def test_an_agents_list_reads_the_book_from_the_owners_index_alone_and_still_shows_what_is_shared(
    analysed_brokerage,
):
    """An agent's capped count and first page are read from the owner's index alone (its brand
    carried in it), never by fetching each client of the book; a client shared with the agent is
    in the list all the same. On the analysed brokerage: with no statistics of the test's rows the
    planner may as well start from the agent's brand and filter its clients by owner, as it once
    did on CI."""
    from crm.services.client_sharing import client_share

    admin, agent = _user("admin@scale"), _user("agent.scale-atlas.1.0@")
    http = _http(agent)
    with CaptureQueriesContext(connection) as captured:
        assert http.get(reverse("client_list")).status_code == 200
    [count_sql] = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT COUNT(*)")]
    with connection.cursor() as cursor:
        # Bitmaps and whole-table reads made the planner's last resort: whatever the test's modest
        # tables would favour, the plan shows what the index can serve.
        cursor.execute("SET enable_seqscan = off; SET enable_bitmapscan = off")
        try:
            cursor.execute(f"EXPLAIN {count_sql}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("RESET enable_seqscan; RESET enable_bitmapscan")
    assert "Index Only Scan using client_owner_recent_idx" in plan, plan

    other = Client.objects.filter(brand_id=agent.brands.get().pk).exclude(owner=agent).order_by("id").first()
    assert other.code.hex not in http.get(reverse("client_list")).content.decode().replace("-", "")
    client_share(actor=admin, client=other, user=agent)
    listed = http.get(f"{reverse('client_list')}?q={other.last_name}&sort=name").content.decode()
    assert str(other.code) in listed
