"""The portal login's email address is encrypted in its column and found by its keyed hash: the table
holds no address, a client signs in through the public login page whatever the case they type it in,
registering again with the address in another case is the same person, the client's profile shows
the address, a new search key and its rotation keep the sign-in working, and the migration encrypts
existing logins (and decrypts them on the way back)."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.hashers import make_password
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from crm.audit import app_privileges_grant
from crm.lib import dbroles
from crm.lib.fieldcrypt import keyed_hash
from plumbing.envelope import DEFAULT_SCOPE, SEARCH_SCOPE, new_key
from portal.models import ClientLogin
from tests.factories import make_client
from tests.migrating import apps_at, leaves, migrate
from tests.portal.conftest import sign_in

EMAIL = "nadia.hassan@example.com"


def _stored(login) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT email, email_hash FROM portal_clientlogin WHERE id = %s", [login.pk])
        return cursor.fetchone()


def test_the_login_email_is_stored_encrypted_beside_its_keyed_hash(registered):
    email, email_hash = _stored(registered.login)
    assert email.startswith("enc1:") and "nadia" not in email.lower() and "example" not in email.lower()
    assert email_hash == keyed_hash(EMAIL, kind="email")
    assert ClientLogin.objects.get(pk=registered.login.pk).email == EMAIL


@pytest.mark.parametrize("typed", [EMAIL, "NADIA.HASSAN@EXAMPLE.COM", "  Nadia.Hassan@Example.com "])
def test_a_client_signs_in_through_the_login_page_whatever_the_case(registered, http, typed):
    response = sign_in(http, registered.brand, email=typed)
    assert response.status_code == 302 and response["Location"] == reverse("portal:home")
    profile = http.get(reverse("portal:profile")).content.decode()
    assert EMAIL in profile  # the client's own address, shown to them


def test_registering_again_in_another_case_is_the_same_person(registered, register):
    response = register(registered.brand, email="NADIA.Hassan@example.COM")
    assert response.status_code == 302
    assert ClientLogin.objects.filter(brand=registered.brand).count() == 1


def test_the_database_refuses_a_second_login_of_one_address_in_another_case(registered):
    other = make_client(brand=registered.brand)
    with pytest.raises(IntegrityError, match="portal_login_brand_email_uniq"), transaction.atomic():
        ClientLogin.objects.create(client=other, brand=registered.brand, email="Nadia.HASSAN@example.com",
                                   password=make_password("x-Unused-pw-1"))


def test_a_new_key_and_its_rotation_keep_the_sign_in_working(registered, http, key_ring):
    before = _stored(registered.login)
    ring = json.loads(key_ring.read_text())
    for scope in (DEFAULT_SCOPE, SEARCH_SCOPE):
        ring[scope]["keys"]["k-new"] = new_key()
        ring[scope]["current"] = "k-new"
    key_ring.write_text(json.dumps(ring))
    # Hashed under the old search key, still found until the rotation hashes it again.
    assert sign_in(http, registered.brand, email=EMAIL.upper()).status_code == 302
    http.post(reverse("portal:logout"))

    call_command("encryption_rotate_columns")
    after = _stored(registered.login)
    assert after[0].startswith("enc1:k-new:") and after[1] == keyed_hash(EMAIL, kind="email") != before[1]
    for scope in (DEFAULT_SCOPE, SEARCH_SCOPE):
        ring[scope]["keys"] = {"k-new": ring[scope]["keys"]["k-new"]}
    key_ring.write_text(json.dumps(ring))
    assert sign_in(http, registered.brand, email=EMAIL.upper()).status_code == 302


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_existing_logins_and_decrypts_them_on_the_way_back():
    before, after = [("portal", "0004_notification_event_no_constraint")], [("portal", "0005_login_email_encrypted")]
    client = make_client()
    with dbroles.as_owner():  # migrations are the schema owner's work, as `manage.py migrate` does them
        newest = leaves()
        try:
            migrate(before)
            Old = apps_at(before).get_model("portal", "ClientLogin")
            old = Old.objects.create(client_id=client.pk, brand_id=client.brand_id, email="Nadia.Hassan@Example.com",
                                     password=make_password("x-Unused-pw-1"))

            migrate(after)
            email, email_hash = _stored(old)
            assert email.startswith("enc1:") and "nadia" not in email.lower()
            assert email_hash == keyed_hash(EMAIL, kind="email")
            assert ClientLogin.objects.get(pk=old.pk).email == "Nadia.Hassan@Example.com"

            migrate(before)  # and back: the plain address in its old column
            assert Old.objects.get(pk=old.pk).email == "Nadia.Hassan@Example.com"
        finally:  # and forward again (the step after `before` is `after`), to the newest
            migrate(newest)
            app_privileges_grant()
