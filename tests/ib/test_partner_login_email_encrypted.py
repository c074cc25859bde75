"""The partner portal login's email address is encrypted in its column and found by its keyed hash: the
table holds no address, a partner signs in through the partner login page whatever the case it types
the address in, and a second login of one address in another case is refused. The migration that
encrypts existing logins (and decrypts them on the way back) is walked in test_encryption_migrations.py."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, connection, transaction
from django.test import Client as HttpClient

from crm.exceptions import ValidationFailed
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
