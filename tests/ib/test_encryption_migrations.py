"""ib's two encryption migrations, forward and back, in one walk of the schema: 0019 encrypts the
partner portal logins' addresses, 0020 the partners', applications' and invitations' contact details,
and each decrypts its own on the way back, leaving the other's columns as they were.

One walk instead of one per migration, and each migration run once each way: every step renders the models of
its migration's ancestors again and re-renders the models related to each field it changes (most of the time of
such a test; tests/migrating.py). The rows are written at the newest migration, where the code encrypts them, so the
walk goes back first (0020, 0019, 0018: each migration decrypts its own columns on the way back) and then forward
(0019, 0020: each encrypts them again, and the code reads what it wrote), then to the newest again: six migration
steps where a walk from 0018 and back took twelve. Only ib's own migrations are walked: the later apps' migrations
that depend on ib's newest (support's tables, with a foreign key to a partner; monitoring's four-eyes fields) change
none of these columns, and unapplying them would drop and make again a whole app's tables at each end of the walk."""

from __future__ import annotations

import pytest
from django.db import connection
from psycopg import sql

from crm.audit import app_privileges_grant
from crm.lib import dbroles
from crm.lib.fieldcrypt import keyed_hash
from ib import onboarding, services
from ib.models import Partner, PartnerApplication, PartnerInvitation, PartnerLogin
from tests.factories import make_brand
from tests.ib.engine_world import make_world
from tests.migrating import leaves, migrate

PASSWORD = "Quiet-Harbour-9174"  # noqa: S105 - a test password
BEFORE_LOGINS = [("ib", "0018_published_views")]
LOGINS = [("ib", "0019_partner_login_email_encrypted")]  # and the contacts still plain
CONTACTS = [("ib", "0020_partner_contacts_encrypted")]
IB = frozenset({"ib"})


def _stored(table: str, pk: int, *columns: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT {columns} FROM {table} WHERE id = %s ORDER BY 1")
            .format(columns=sql.SQL(", ").join(map(sql.Identifier, columns)), table=sql.Identifier(table))
            .as_string(None),
            [pk],
        )
        return cursor.fetchall()


@pytest.mark.django_db(transaction=True)
def test_the_migrations_encrypt_existing_logins_and_contacts_and_decrypt_them_on_the_way_back(settings):
    settings.PARTNER_APPLY_RATE_LIMIT = "1000/m"
    w = make_world()
    login = w.services.partner_login_set_password(partner=w.master, password=PASSWORD, email="Mo@IB.example")
    brand = make_brand()
    partner = services.partner_create(actor=None, brand=brand, display_name="Mo", email="Mo@IB.example")
    application = onboarding.partner_application_submit(
        brand=brand,
        ip="203.0.113.9",
        company="Gulf Traders LLC",
        expected_clients=25,
        countries=["AE"],
        marketing_methods=["social"],
        contact_name="Layla Nasser",
        contact_email="layla@gulftraders.example",
        contact_phone="+971 50 123 4567",
        agree=True,
    )
    invitation = onboarding.partner_invite_send(actor=None, brand=brand, email="Ina@IB.example")
    plain = {
        ("ib_partner", partner.pk, "contact_email"): "Mo@IB.example",
        ("ib_historicalpartner", partner.pk, "contact_email"): "Mo@IB.example",
        ("ib_partnerapplication", application.pk, "contact_email"): "layla@gulftraders.example",
        ("ib_partnerapplication", application.pk, "contact_phone"): "+971501234567",
        ("ib_partnerinvitation", invitation.pk, "email"): "Ina@IB.example",
    }

    def contacts() -> dict[tuple[str, int, str], str]:
        return {
            (table, pk, column): value
            for table, pk, column in plain
            for (value,) in _stored(table, pk, column)
        }

    def login_encrypted() -> None:
        [(email, email_hash)] = _stored("ib_partnerlogin", login.pk, "email", "email_hash")
        assert email.startswith("enc1:") and "ib.example" not in email.lower()
        assert email_hash == keyed_hash("mo@ib.example", kind="email")
        assert PartnerLogin.objects.get(pk=login.pk).email == "Mo@IB.example"

    def contacts_encrypted() -> None:
        assert all(
            value.startswith("enc1:") and plain[where] not in value for where, value in contacts().items()
        )
        assert _stored("ib_partner", partner.pk, "contact_email_hash") == [
            (keyed_hash("mo@ib.example", kind="email"),)
        ]
        assert _stored("ib_partnerapplication", application.pk, "contact_email_hash") == [
            (keyed_hash("layla@gulftraders.example", kind="email"),)
        ]
        assert _stored("ib_partnerinvitation", invitation.pk, "email_hash") == [
            (keyed_hash("ina@ib.example", kind="email"),)
        ]
        with connection.cursor() as cursor:
            cursor.execute("SELECT contact_email_hash FROM ib_public_partners WHERE id = %s", [partner.pk])
            assert cursor.fetchone() == (keyed_hash("mo@ib.example", kind="email"),)
        assert Partner.objects.get(pk=partner.pk).contact_email == "Mo@IB.example"
        assert PartnerApplication.objects.get(pk=application.pk).contact_phone == "+971501234567"
        assert PartnerInvitation.objects.get(pk=invitation.pk).email == "Ina@IB.example"

    with dbroles.as_owner():  # migrations are the schema owner's work, as `manage.py migrate` does them
        newest = leaves()
        try:
            migrate(CONTACTS, only=IB)  # back to 0020: what the code wrote is still encrypted
            contacts_encrypted()
            login_encrypted()

            migrate(LOGINS, only=IB)  # 0020 back: the plain contacts in their old columns, logins untouched
            assert contacts() == plain
            login_encrypted()
            with connection.cursor() as cursor:
                cursor.execute("SELECT contact_email FROM ib_public_partners WHERE id = %s", [partner.pk])
                assert cursor.fetchone() == ("Mo@IB.example",)

            migrate(BEFORE_LOGINS, only=IB)  # 0019 back: the plain address in the login's old column
            assert _stored("ib_partnerlogin", login.pk, "email") == [("Mo@IB.example",)]
            assert contacts() == plain

            migrate(LOGINS, only=IB)  # 0019: the logins encrypted, the contacts not yet
            login_encrypted()
            assert contacts() == plain
            with connection.cursor() as cursor:
                cursor.execute("SELECT contact_email FROM ib_public_partners WHERE id = %s", [partner.pk])
                assert cursor.fetchone() == ("Mo@IB.example",)

            migrate(CONTACTS, only=IB)  # 0020: the contacts encrypted, beside their keyed hashes
            contacts_encrypted()
            login_encrypted()
        finally:
            migrate(newest, only=IB)  # and forward again, to the newest
            app_privileges_grant()
    login_encrypted()
    assert Partner.objects.get(pk=partner.pk).contact_email == "Mo@IB.example"
    assert PartnerInvitation.objects.get(pk=invitation.pk).email == "Ina@IB.example"
