"""What the core promises other apps' SQL (crm.selectors.CLIENTS_VIEW): clients, which the commission
engine, the platform reconciliation and the leads' dedupe lookup read. A change of the core that
breaks the promise fails here."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from psycopg import sql

from crm import selectors
from crm.lib.fieldcrypt import keyed_hash, keyed_hashes
from crm.services import client_update
from tests.factories import make_brand, make_client
from tests.published_views import assert_as_declared, view_rows

pytestmark = pytest.mark.django_db


def test_the_view_has_exactly_its_declared_columns_and_types():
    assert [v.name for v in selectors.PUBLISHED_VIEWS] == ["crm_public_clients", "crm_public_origins"]
    assert_as_declared(selectors.CLIENTS_VIEW)


def test_a_client_created_and_changed_through_the_services_shows_as_declared():
    brand = make_brand()
    client = make_client(brand=brand, email="Ann.Lee@Example.com", phone="+442071838750", country="GB",
                         tags=["vip"])
    row = view_rows(selectors.CLIENTS_VIEW, "id = %s", [client.pk])
    # The contact details are encrypted in the table: the view shows their keyed hashes, never them.
    assert row == [{"id": client.pk, "brand_id": brand.pk, "country": "GB",
                    "email_hash": keyed_hash("ann.lee@example.com", kind="email"),
                    "phone_hash": keyed_hash("+442071838750", kind="phone"), "tags": ["vip"],
                    "created_at": client.created_at, "desk_id": client.desk_id, "stage": client.stage,
                    "language": client.language, "owner_id": client.owner_id, "source": client.source,
                    "campaign": client.campaign}]
    client_update(actor=None, client=client, reason="moved", country="DE", tags=["vip", "merged"])
    row = view_rows(selectors.CLIENTS_VIEW, "id = %s", [client.pk])[0]
    assert (row["country"], row["tags"]) == ("DE", ["vip", "merged"])
    # Matched the way readers match it: by the keyed hashes of the wanted values, under every key.
    hashes = keyed_hashes("ANN.LEE@example.com", kind="email")
    assert view_rows(selectors.CLIENTS_VIEW, "email_hash = ANY(%s)", [hashes])[0]["id"] == client.pk
    hashes = keyed_hashes("+442071838750", kind="phone")
    assert view_rows(selectors.CLIENTS_VIEW, "phone_hash = ANY(%s)", [hashes])[0]["id"] == client.pk


@pytest.mark.parametrize(("column", "index"), [("email_hash", "client_email_hash_idx"),
                                               ("phone_hash", "client_phone_hash_idx")])
def test_the_lookups_readers_make_are_served_by_the_client_indexes(column, index):
    """The dedupe lookup probes clients by keyed hash, one index probe a key: the view keeps those
    indexes usable (it is inlined, its columns are the table's)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(sql.SQL("EXPLAIN SELECT id FROM {view} WHERE {column} = %s AND {column} <> ''").format(
            view=sql.Identifier(selectors.CLIENTS_VIEW.name), column=sql.Identifier(column)).as_string(None), ["ab12"])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert index in plan, plan


def test_a_clients_own_registration_shows_where_it_came_from_and_staff_actions_do_not():
    """crm_public_origins: what monitoring's multi-accounting and partner detectors read."""
    from crm.audit import audit_record
    from plumbing.context import ActorContext, acting
    from tests.factories import make_user

    assert_as_declared(selectors.ORIGINS_VIEW)
    brand = make_brand()
    client = make_client(brand=brand)
    with acting(ActorContext(ip="203.0.113.9", user_agent="Firefox/128", source="web")):
        own = audit_record(action="portal.login", obj=client, actor=None)
    staff = make_user(brand=brand)
    with acting(ActorContext(user=staff, ip="198.51.100.1", source="web")):
        audit_record(action="client.viewed", obj=client)
    audit_record(action="portal.login", obj=client, actor=None)  # no request: no IP
    rows = view_rows(selectors.ORIGINS_VIEW, "object_id = %s", [str(client.code)])
    assert rows == [{"id": own.pk, "at": own.at, "action": "portal.login", "object_type": "crm.client",
                     "object_id": str(client.code), "client_id": client.pk, "brand_id": brand.pk,
                     "ip": "203.0.113.9", "user_agent": "Firefox/128"}]
