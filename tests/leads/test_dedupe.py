"""Dedupe under concurrency: two submissions of one person at the same moment make one client."""

from __future__ import annotations

import threading

import pytest
from django.db import IntegrityError, connection, connections, transaction

from crm.models import Client
from leads.models import Channel, ContactKey, LeadTouch
from leads.services import lead_intake, lead_intake_batch
from tests.leads.conftest import lead_data


def _run_concurrently(calls):
    """Run each callable in its own thread (own database connection), all released at once."""
    barrier = threading.Barrier(len(calls))
    outcomes: list = [None] * len(calls)

    def worker(i, fn):
        try:
            barrier.wait(timeout=10)
            outcomes[i] = fn()
        except Exception as exc:  # the test asserts on it
            outcomes[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
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
    with pytest.raises(IntegrityError), transaction.atomic():
        ContactKey.objects.create(brand=world.brand, kind="email", value="amira.1@example.com", client=second.client)
    assert ContactKey.objects.get(value="amira.1@example.com").client == first.client
    assert connection.is_usable()
