"""crm.lib.bulk.write, the intake's one-statement writer: what it stores for what a row leaves out."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, connection, transaction

from crm.lib import bulk
from leads.models import Channel, ContactKey, LeadContactState, LeadScore, LeadTouch
from leads.services import lead_intake
from tests.leads.conftest import lead_data


@pytest.mark.django_db
def test_a_left_out_column_takes_what_django_would_store_and_per_row_defaults_differ(world):
    client = lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(1)).client
    at = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
    rows = [{"brand_id": world.brand.pk, "client_id": client.pk, "channel": Channel.IMPORT, "created_at": at}
            for _ in range(3)]
    bulk.write([(LeadTouch, rows, False)])

    touches = list(LeadTouch.objects.filter(client=client, channel=Channel.IMPORT))
    assert len(touches) == 3
    # uuid4 is drawn per row (a unique column), not once for the whole write.
    assert len({t.code for t in touches}) == 3
    # Text left out is "", JSON left out is its default, times keep their microseconds.
    assert [(t.utm_source, t.landing_page, t.declared, t.payload, t.is_repeat) for t in touches] == [("", "", {}, {}, False)] * 3
    assert {t.created_at for t in touches} == {at}


def test_a_left_out_column_without_a_per_row_default_travels_once():
    """Only a default drawn per row (uuid4) is sent with every row; a left-out column with a fixed
    default, or none at all (NULL, ""), is sent once for the whole table."""
    at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    rows = [{"client_id": n, "owner_id": 7, "assigned_at": at} for n in (1, 2, 3)]
    records, constant = bulk._records(LeadContactState, rows, False)
    assert records == [{"client_id": 1}, {"client_id": 2}, {"client_id": 3}]
    assert constant == {"owner_id": 7, "assigned_at": at, "desk_id": None, "due_at": None, "contacted_at": None,
                        "contacted_via": "", "contacted_by_id": None, "escalated_at": None, "escalations": 0}
    touches, _ = bulk._records(LeadTouch, [{"client_id": 1}, {"client_id": 2}], False)
    assert len({t["code"] for t in touches}) == 2


@pytest.mark.django_db
def test_values_every_row_shares_are_stored_in_every_row_and_lookalikes_stay_apart(world):
    """What every row has in common travels once; each row still gets it, a value only one row
    differs in is that row's own, and values == cannot tell apart (1 and True inside JSON) stay
    as each row gave them."""
    client = lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(1)).client
    at = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
    rows = [{"brand_id": world.brand.pk, "client_id": client.pk, "channel": Channel.IMPORT, "created_at": at,
             "utm_source": "google", "payload": {"n": 1}, "is_repeat": False} for _ in range(4)]
    rows[1]["payload"] = {"n": True}
    rows[3]["utm_source"] = "bing"
    rows[3]["is_repeat"] = True
    bulk.write([(LeadTouch, rows, False)])

    touches = list(LeadTouch.objects.filter(client=client, channel=Channel.IMPORT).order_by("id"))
    assert [(t.utm_source, t.payload, t.is_repeat, t.created_at, t.brand_id) for t in touches] == [
        ("google", {"n": 1}, False, at, world.brand.pk), ("google", {"n": True}, False, at, world.brand.pk),
        ("google", {"n": 1}, False, at, world.brand.pk), ("bing", {"n": 1}, True, at, world.brand.pk)]
    assert type(touches[0].payload["n"]) is int and type(touches[1].payload["n"]) is bool


@pytest.mark.django_db
def test_a_value_json_cannot_carry_is_refused_by_name_and_nothing_is_written(world):
    client = lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(1))
    before = LeadTouch.objects.count()
    good = {"code": uuid.uuid4(), "brand_id": world.brand.pk, "client_id": client.client.pk, "channel": Channel.API,
            "payload": {"seen": [1, 2]}}
    bad = {**good, "code": uuid.uuid4(), "payload": {"seen": {1, 2}}}
    with pytest.raises(TypeError, match="cannot write set"), transaction.atomic():
        bulk.write([(LeadTouch, [good, bad], False)])
    assert LeadTouch.objects.count() == before


@pytest.mark.django_db
def test_a_copied_row_needs_every_column_of_its_table(world):
    """AsInserted copies what the source table has; a column it lacks must be given, or the write
    is refused naming it before anything is sent."""
    client = lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(1)).client
    row = {"brand_id": world.brand.pk, "client_id": client.pk, "channel": Channel.API}
    with pytest.raises(ValueError, match=r"LeadScore\.touch is neither a column of LeadTouch"):
        bulk.write([(LeadTouch, [row], False), (LeadScore, bulk.AsInserted(LeadTouch, {"computed_at": None}), False)])


def _foreign_keys_wait_for_commit() -> bool:
    """Whether a row breaking a foreign key of the contact-key table is taken for now (checked at
    commit) in the current transaction; the row is dropped again either way."""
    with connection.cursor() as cursor:
        cursor.execute("SAVEPOINT probe")
        try:
            cursor.execute("INSERT INTO leads_contactkey (brand_id, kind, value, client_id, created_at) "
                           "VALUES (%s, 'email', 'probe@example.com', 987654, now())", [987654])
            taken = True
        except IntegrityError:
            taken = False
        cursor.execute("ROLLBACK TO SAVEPOINT probe")
    return taken


@pytest.mark.django_db
def test_writes_in_a_pipeline_are_stored_and_foreign_keys_wait_for_commit_again_afterwards(world):
    client = lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(1)).client
    assert _foreign_keys_wait_for_commit()
    with transaction.atomic():
        with bulk.pipelined(LeadTouch, ContactKey):
            for n in range(3):
                bulk.write([(LeadTouch, [{"brand_id": world.brand.pk, "client_id": client.pk,
                                          "channel": Channel.IMPORT, "source": f"part {n}"}], False)])
            # A query inside the block waits for what was sent before it.
            assert LeadTouch.objects.filter(channel=Channel.IMPORT).count() == 3
        assert sorted(LeadTouch.objects.filter(channel=Channel.IMPORT).values_list("source", flat=True)) == [
            "part 0", "part 1", "part 2"]
        assert _foreign_keys_wait_for_commit()


@pytest.mark.django_db
def test_a_pipelined_write_is_handed_over_while_postgresql_is_still_busy(world):
    """Python prepares a batch's next chunk while PostgreSQL stores the last one: a chunk the size
    of a batch's (over half a megabyte) is handed over at once, not trickled across as PostgreSQL
    gets round to reading it, over a Unix socket (the embedded server's) as over TCP."""
    client = lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(1)).client
    rows = [{"brand_id": world.brand.pk, "client_id": client.pk, "channel": Channel.IMPORT,
             "payload": {"n": n, "note": "x" * 2000}} for n in range(300)]
    with transaction.atomic(), bulk.pipelined(LeadTouch):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(1.5)")
        started = time.monotonic()
        bulk.write([(LeadTouch, rows, False)])
        handed_over = time.monotonic() - started
    assert handed_over < 0.75, f"the write waited {handed_over:.2f} s for PostgreSQL"
    assert LeadTouch.objects.filter(client=client, channel=Channel.IMPORT).count() == 300


@pytest.mark.django_db
def test_a_broken_row_sent_in_a_pipeline_fails_the_block_by_name_and_nothing_is_kept(world):
    client = lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(1)).client
    before = LeadTouch.objects.count()
    good = {"brand_id": world.brand.pk, "client_id": client.pk, "channel": Channel.IMPORT}
    with pytest.raises(IntegrityError, match="client_id"), transaction.atomic(), bulk.pipelined(LeadTouch):
        bulk.write([(LeadTouch, [good], False)])
        bulk.write([(LeadTouch, [{**good, "client_id": 987654}], False)])
        bulk.write([(LeadTouch, [good], False)])
    assert LeadTouch.objects.count() == before


@pytest.mark.django_db
def test_without_pipeline_mode_a_pipelined_block_writes_as_usual(world, monkeypatch):
    """A libpq older than 14 has no pipeline mode: the block then waits on each write instead."""
    import psycopg

    monkeypatch.setattr(psycopg.Pipeline, "is_supported", classmethod(lambda cls: False))
    client = lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(1)).client
    with transaction.atomic(), bulk.pipelined(LeadTouch):
        bulk.write([(LeadTouch, [{"brand_id": world.brand.pk, "client_id": client.pk, "channel": Channel.IMPORT}],
                     False)])
        assert connection.connection._pipeline is None
        assert LeadTouch.objects.filter(channel=Channel.IMPORT).count() == 1
