"""Dedupe under concurrency: two submissions of one person at the same moment make one client."""

from __future__ import annotations

import threading

import pytest
from django.db import IntegrityError, connection, connections, transaction

from crm.lib import dbroles
from crm.lib.fieldcrypt import keyed_hash
from crm.models import Client
from leads import dedupe
from leads.models import Channel, ContactKey, LeadTouch
from leads.services import lead_intake, lead_intake_batch
from tests.leads.conftest import lead_data
from tests.waiting import scaled


def _run_concurrently(calls):
    """Run each callable in its own thread (own database connection), all released at once."""
    barrier = threading.Barrier(len(calls))
    outcomes: list = [None] * len(calls)

    def worker(i, fn):
        try:
            barrier.wait(timeout=scaled(10))
            outcomes[i] = fn()
        except Exception as exc:  # the test asserts on it
            outcomes[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=scaled(60))
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_concurrent_submissions_of_one_person_make_one_client(world):
    for attempt in range(3):
        n = 50 + attempt
        calls = [
            (lambda n=n: lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(n))),
            (lambda n=n: lead_intake(brand=world.brand, channel=Channel.FORM, data=lead_data(n, consent=True,
                                                                                              email=f"AMIRA.{n}@example.com"))),
            (lambda n=n: lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(n, email=f"other{n}@example.com"))),
            (lambda n=n: lead_intake_batch(brand=world.brand, channel=Channel.API, items=[lead_data(n)])[0]),
        ]
        outcomes = _run_concurrently(calls)
        assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
        assert sorted(o.status for o in outcomes) == ["created", "duplicate", "duplicate", "duplicate"]
        assert len({o.client.pk for o in outcomes}) == 1
    assert Client.objects.count() == 3
    assert LeadTouch.objects.count() == 12


@pytest.mark.django_db
def test_the_database_refuses_a_second_client_for_one_key(world):
    first = lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(1))
    second = lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(2))
    # A key is stored as its keyed hash, never in clear.
    stored = dedupe.stored_value(("email", "amira.1@example.com"))
    assert not ContactKey.objects.filter(value="amira.1@example.com").exists()
    with pytest.raises(IntegrityError), transaction.atomic():
        ContactKey.objects.create(brand=world.brand, kind="email", value=stored, client=second.client)
    assert ContactKey.objects.get(value=stored).client == first.client
    assert connection.is_usable()



@pytest.mark.django_db
def test_a_key_or_touch_can_only_name_its_clients_brand(world):
    """The brand a contact key or a touch carries (what dedupe and the brand's lists go by) is its
    client's: the database refuses anything else, as it refuses a client that does not exist."""
    from tests.factories import make_brand

    client = lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(1)).client
    other = make_brand(code="other", name="Other Markets")
    attempts = [
        lambda: ContactKey.objects.create(brand=other, kind="email", value="someone@example.com", client=client),
        lambda: LeadTouch.objects.create(brand=other, client=client, channel=Channel.API),
        lambda: ContactKey.objects.create(brand=world.brand, kind="email", value="someone@example.com",
                                          client_id=987654),
    ]
    for attempt in attempts:
        with pytest.raises(IntegrityError, match="client_brand_fk"), transaction.atomic():
            attempt()
            connection.check_constraints()  # deferred to commit otherwise
    assert list(ContactKey.objects.filter(client=client).values_list("brand_id", flat=True)) == [world.brand.pk] * 2
    assert LeadTouch.objects.filter(client=client).count() == 1


def _contact_key_index_conditions(plan: dict) -> list[str]:
    """The index conditions of every scan of leads_contactkey in an EXPLAIN (FORMAT JSON) plan (a
    bitmap scan shows its index's condition as the heap scan's Recheck Cond)."""
    found = []
    if plan.get("Relation Name") == "leads_contactkey":
        found.append(plan.get("Index Cond") or plan.get("Recheck Cond") or "")
    for child in plan.get("Plans", []):
        found += _contact_key_index_conditions(child)
    return found


@pytest.mark.django_db
@pytest.mark.parametrize("size", [1, 40], ids=["one lead", "a batch"])
def test_the_dedupe_lookup_probes_each_key_in_the_unique_index(world, size):
    """Every lookup of a contact key is an equality on the whole (brand, kind, value) index. A lookup
    by value alone can only walk the brand's keys, which is what it did, lead after lead. The single
    lead's locking lookup and the batch's lookup run this same function."""
    for start in (0, 1000):  # a brand with a couple of thousand people
        lead_intake_batch(brand=world.brand, channel=Channel.API, items=[lead_data(n) for n in range(start, start + 1000)])
    emails = [f"someone{n}@example.com" for n in range(size)]
    phones = [f"+4420718{n:05d}" for n in range(size)]
    with connection.cursor() as cursor:
        # With statistics, and without the seq scan a table this small would get, the planner shows
        # which index condition it can build: the value must be part of it, not a filter applied to
        # every key of the brand.
        cursor.execute("ANALYZE leads_contactkey, crm_client")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN (FORMAT JSON) SELECT * FROM leads_contact_keys_find(%s, %s::text[], %s::text[])",
                       [world.brand.pk, [keyed_hash(e, kind="email") for e in emails],
                        [keyed_hash(p, kind="phone") for p in phones]])
        plan = cursor.fetchone()[0][0]["Plan"]
    conditions = _contact_key_index_conditions(plan)
    assert len(conditions) == 2, plan
    assert all("kind" in c and "value" in c for c in conditions), conditions


def _scans(plan: dict) -> list[tuple[str, str]]:
    """(node type, table) of every scan of a table in an EXPLAIN (FORMAT JSON) plan."""
    found = [(plan["Node Type"], plan["Relation Name"])] if "Relation Name" in plan else []
    for child in plan.get("Plans", []):
        found += _scans(child)
    return found


@pytest.mark.django_db(transaction=True)  # committed, so that the owner's ANALYZE sees the rows
def test_a_batch_lookup_probes_the_indexes_however_the_planner_prices_a_scan(world):
    """A thousand-lead batch looks up two thousand keys. Matched against the whole array at once,
    the planner (with true statistics) preferred reading every contact key and every client of the
    brand, four times per batch, over two thousand index probes: tens of milliseconds per batch at
    a mid-size brand, growing with it. Each key is its own index probe, whatever the table's size."""
    for start in (0, 1000):
        lead_intake_batch(brand=world.brand, channel=Channel.API, items=[lead_data(n) for n in range(start, start + 1000)])
    emails = [f"someone{n}@example.com" for n in range(1000)]
    phones = [f"+4420718{n:05d}" for n in range(1000)]
    with dbroles.as_owner(), connection.cursor() as cursor:  # only a table's owner may ANALYZE it
        cursor.execute("ANALYZE leads_contactkey, crm_client")
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) SELECT * FROM leads_contact_keys_find(%s, %s::text[], %s::text[])",
                       [world.brand.pk, [keyed_hash(e, kind="email") for e in emails],
                        [keyed_hash(p, kind="phone") for p in phones]])
        plan = cursor.fetchone()[0][0]["Plan"]
    scans = [s for s in _scans(plan) if s[1] in ("leads_contactkey", "crm_client")]
    assert len(scans) == 4, plan
    assert {node for node, _table in scans} == {"Index Scan"}, scans
    # Keys that exist are still found: one person's email, another's phone.
    found = dedupe.keys_find(world.brand.pk, [("email", "amira.5@example.com"), ("phone", lead_data(1500)["phone"])])
    assert set(found.values()) == set(Client.objects.filter(
        email_hash__in=[keyed_hash(e, kind="email") for e in ["amira.5@example.com", lead_data(1500)["email"]]]
    ).values_list("pk", flat=True))
