"""The busiest staff pages read the big tables through their indexes (what scale_seed itself
writes: tests/crm/test_scale_seed.py).

The data set is made by demo.scale.scale_seed (the generator behind `manage.py scale_seed` and
benchmarks/scale_pages.py) at a modest size, once for the module, committed and analysed as the
generator leaves a database; each page is requested as a member of staff would, and every SELECT it ran is EXPLAINed:
each must be one an index can serve, with no big table read whole (a Seq Scan).
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models.functions import Collate, Lower
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.models import Client, Event, User
from crm.selectors import client_search
from demo.scale import ScaleRefused, scale_seed

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


@pytest.fixture(scope="module")
def _seeded(django_db_setup: Any, django_db_blocker: Any) -> Iterator[None]:
    """The brokerage as `manage.py scale_seed` leaves a database: committed, and analysed by the
    tables' owner. For the plans: the tests run as the application's role, whose ANALYZE skips the
    tables another role owns, and rows in a test's transaction are seen by no other connection. So
    the planner would have no statistics of these rows: it would plan on none, or on those autovacuum
    had last taken (of an empty table, or of an earlier test's rows), and its choice would depend on
    which.

    Made once for the module (seeding was most of its time when each test seeded its own) and
    emptied after it; each test reads it in a transaction of its own, rolled back, so what one test writes
    (a client shared with an agent) no other sees."""
    with django_db_blocker.unblock():
        scale_seed(clients=CLIENTS, deals=DEALS, events=EVENTS)
        with connection.cursor() as cursor:
            cursor.execute("SELECT relname, reltuples FROM pg_class WHERE relname IN ('crm_client', 'crm_event')")
            estimated = dict(cursor.fetchall())
        assert estimated["crm_client"] >= CLIENTS and estimated["crm_event"] >= EVENTS, estimated
    try:
        yield
    finally:
        with django_db_blocker.unblock():  # as a transactional test's end empties the database
            call_command("flush", verbosity=0, interactive=False, reset_sequences=False)


@pytest.fixture
def brokerage(_seeded: None, db: Any) -> None:
    """The seeded brokerage, in the test's own transaction."""


def test_the_busiest_pages_read_the_big_tables_through_indexes(brokerage):
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


def test_search_reads_a_range_of_an_index_whatever_the_name(brokerage):
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
    brokerage,
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
