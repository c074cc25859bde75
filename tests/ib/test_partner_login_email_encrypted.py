"""The partner portal login's email address is encrypted in its column and found by its keyed hash: the
table holds no address, a partner signs in through the partner login page whatever the case it types
the address in, a second login of one address in another case is refused, and the migration encrypts
existing logins (and decrypts them on the way back)."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test import Client as HttpClient

from crm.audit import app_privileges_grant
from crm.exceptions import ValidationFailed
from crm.lib import dbroles
from crm.lib.fieldcrypt import keyed_hash
from ib.models import PartnerLogin
from tests.ib.engine_world import make_world

PASSWORD = "Quiet-Harbour-9174"  # noqa: S105 - a test password
EMAIL = "m@ib.example"


def _stored(login) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT email, email_hash FROM ib_partnerlogin WHERE id = %s", [login.pk])
        return cursor.fetchone()


@pytest.fixture
def world(db):
    w = make_world()
    w.login = w.services.partner_login_set_password(partner=w.master, password=PASSWORD)
    return w


def test_the_login_email_is_stored_encrypted_beside_its_keyed_hash(world):
    email, email_hash = _stored(world.login)
    assert email.startswith("enc1:") and "ib.example" not in email
    assert email_hash == keyed_hash(EMAIL, kind="email")
    assert PartnerLogin.objects.get(pk=world.login.pk).email == EMAIL


@pytest.mark.parametrize("typed", [EMAIL, "M@IB.EXAMPLE", "  M@Ib.Example "])
def test_a_partner_signs_in_on_the_login_page_whatever_the_case(world, typed):
    http = HttpClient()
    response = http.post(f"/partners/{world.brand.code}/login/", {"email": typed, "password": PASSWORD})
    assert response.status_code == 302
    assert http.get("/partners/").status_code == 200


def test_a_second_login_of_one_address_in_another_case_is_refused(world):
    with pytest.raises(ValidationFailed) as taken:
        world.services.partner_login_set_password(partner=world.sub, password=PASSWORD, email="M@IB.example")
    assert "email" in taken.value.fields
    with pytest.raises(IntegrityError, match="ib_partnerlogin_email_brand_uniq"), transaction.atomic():
        PartnerLogin.objects.create(partner=world.sub, brand=world.brand, email="M@ib.EXAMPLE",
                                    password=make_password("x-Unused-pw-1"))


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_existing_logins_and_decrypts_them_on_the_way_back():
    before, after = [("ib", "0018_published_views")], [("ib", "0019_partner_login_email_encrypted")]
    w = make_world()
    login = w.services.partner_login_set_password(partner=w.master, password=PASSWORD, email="Mo@IB.example")
    with dbroles.as_owner():  # migrations are the schema owner's work, as `manage.py migrate` does them
        executor = MigrationExecutor(connection)
        leaves = executor.loader.graph.leaf_nodes()
        try:
            executor.migrate(before)
            Old = executor.loader.project_state(before).apps.get_model("ib", "PartnerLogin")
            assert Old.objects.get(pk=login.pk).email == "Mo@IB.example"

            executor = MigrationExecutor(connection)
            executor.migrate(after)
            email, email_hash = _stored(login)
            assert email.startswith("enc1:") and "ib.example" not in email.lower()
            assert email_hash == keyed_hash("mo@ib.example", kind="email")
            assert PartnerLogin.objects.get(pk=login.pk).email == "Mo@IB.example"

            executor = MigrationExecutor(connection)
            executor.migrate(before)  # and back: the plain address in its old column
            assert Old.objects.get(pk=login.pk).email == "Mo@IB.example"
            executor = MigrationExecutor(connection)
            executor.migrate(after)
            assert PartnerLogin.objects.get(pk=login.pk).email == "Mo@IB.example"
        finally:
            executor = MigrationExecutor(connection)
            executor.migrate(leaves)
            app_privileges_grant()
