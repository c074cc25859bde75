"""Clients' contact details are found by keyed hashes (HMAC-SHA256 under a key from the key ring, never
from the database): the search by a whole email or phone, merge candidates and calls matched to their
caller work from the hash alone; a new hash key is picked up at once and a rotation hashes every row
again; the CRM refuses to start without the keys."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection

from crm.lib.fieldcrypt import EncryptedTextField, check_keys, keyed_hash
from crm.lib.keyring import keyring
from crm.models import RoleCode
from crm.selectors import client_search
from crm.services import client_update
from leads.selectors import merge_candidates
from plumbing.envelope import SEARCH_SCOPE, new_key
from tests.crm.api_support import API, KeyClient, session_client, world
from tests.crm.api_support import new_key as api_key
from tests.factories import make_client, make_desk, make_user

pytestmark = pytest.mark.django_db
__all__ = ["world"]  # the API tests' fixture


@pytest.fixture
def agent():
    return make_user(role_code=RoleCode.SALES_AGENT, desk=make_desk())


def _stored(client) -> tuple[str, str, str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT email, phone, email_hash, phone_hash FROM crm_client WHERE id = %s", [client.pk])
        return cursor.fetchone()


def _blank_contact_columns(client) -> None:
    # What the table holds once the contact details are encrypted: no searchable text beside the hashes.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE crm_client SET email = '', phone = '' WHERE id = %s", [client.pk])


def test_a_clients_email_and_phone_are_hashed_with_the_search_key_not_stored_as_such(key_ring, agent):
    client = make_client(actor=agent, email=" John.Smith@Example.com ", phone="020 7183 8750", country="GB")
    _email, _phone, email_hash, phone_hash = _stored(client)
    search = keyring()[SEARCH_SCOPE]
    key = search.keys[search.current]
    assert email_hash == hmac.new(key, b"email\x00john.smith@example.com", hashlib.sha256).hexdigest()
    assert phone_hash == hmac.new(key, b"phone\x00+442071838750", hashlib.sha256).hexdigest()
    # Not a plain hash anyone could recompute from a list of addresses.
    assert email_hash != hashlib.sha256(b"john.smith@example.com").hexdigest()


@pytest.mark.parametrize("q", ["john.smith@example.com", "JOHN.SMITH@EXAMPLE.COM"])
def test_the_search_finds_a_client_by_a_whole_email_through_its_hash(key_ring, agent, q):
    john = make_client(actor=agent, email="john.smith@example.com", phone="020 7183 8750", country="GB")
    make_client(actor=agent, email="john.smithers@example.com")
    _blank_contact_columns(john)
    assert [c.code for c in client_search(user=agent, q=q)] == [john.code]
    assert client_search(user=agent, q="john.smith@example.org") == []


@pytest.mark.parametrize("q", ["+44 20 7183 8750", "0044 20 7183 8750", "+442071838750"])
def test_the_search_finds_a_client_by_a_whole_phone_number_through_its_hash(key_ring, agent, q):
    john = make_client(actor=agent, email="john.smith@example.com", phone="020 7183 8750", country="GB")
    make_client(actor=agent, phone="+34 612 345 678")
    _blank_contact_columns(john)
    assert [c.code for c in client_search(user=agent, q=q)] == [john.code]


def test_the_search_stays_within_the_callers_scope(key_ring, agent):
    other_agent = make_user(role_code=RoleCode.SALES_AGENT, desk=make_desk())
    make_client(actor=other_agent, email="hidden@example.com")
    assert client_search(user=agent, q="hidden@example.com") == []


def test_a_changed_email_or_phone_is_found_by_its_new_hash_only(key_ring, agent):
    client = make_client(actor=agent, email="old@example.com", phone="+442071838750")
    client_update(actor=agent, client=client, email="new@example.com", phone="+34612345678")
    _blank_contact_columns(client)
    assert [c.code for c in client_search(user=agent, q="new@example.com")] == [client.code]
    assert [c.code for c in client_search(user=agent, q="+34 612 345 678")] == [client.code]
    assert client_search(user=agent, q="old@example.com") == []
    assert client_search(user=agent, q="+44 20 7183 8750") == []


def test_merge_candidates_match_by_the_hashed_email_and_phone(key_ring, agent):
    client = make_client(actor=agent, first_name="Ann", email="ann@example.com", phone="+442071838750")
    same_email = make_client(actor=agent, first_name="Bea", email="ANN@example.com", brand=client.brand)
    same_phone = make_client(actor=agent, first_name="Cy", phone="+442071838750", brand=client.brand)
    make_client(actor=agent, first_name="Dee", email="dee@example.com", brand=client.brand)
    found = {c.pk for c in merge_candidates(user=agent, client=client)}
    assert found == {same_email.pk, same_phone.pk}


def test_a_new_search_key_keeps_old_hashes_found_and_the_rotation_hashes_every_row_again(key_ring, agent):
    client = make_client(actor=agent, email="rotate@example.com", phone="+442071838750")
    before = _stored(client)
    ring = json.loads(key_ring.read_text())
    ring[SEARCH_SCOPE]["keys"]["h-new"] = new_key()
    ring[SEARCH_SCOPE]["current"] = "h-new"
    key_ring.write_text(json.dumps(ring))

    # Until the rotation, the rows' hashes under the old key are still found.
    assert [c.code for c in client_search(user=agent, q="rotate@example.com")] == [client.code]
    call_command("encryption_rotate_columns")
    after = _stored(client)
    assert after[2:] != before[2:]
    assert after[2] == keyed_hash("rotate@example.com", kind="email")

    for old in [k for k in ring[SEARCH_SCOPE]["keys"] if k != "h-new"]:
        del ring[SEARCH_SCOPE]["keys"][old]
    key_ring.write_text(json.dumps(ring))
    assert [c.code for c in client_search(user=agent, q="rotate@example.com")] == [client.code]
    assert [c.code for c in client_search(user=agent, q="+44 20 7183 8750")] == [client.code]


def test_without_keys_the_crm_refuses_to_start_and_says_what_to_set(settings):
    settings.CRM_ENCRYPTION_KEYS = ""
    settings.CRM_ENCRYPTION_KEY_FILE = ""
    [problem] = check_keys()
    assert problem.id == "crm.E100" and "CRM_ENCRYPTION_KEY_FILE" in problem.msg
    with pytest.raises(SystemCheckError, match="CRM_ENCRYPTION_KEY_FILE"):
        call_command("check")


def test_a_key_ring_without_the_search_key_is_refused_by_name(settings):
    settings.CRM_ENCRYPTION_KEY_FILE = ""
    settings.CRM_ENCRYPTION_KEYS = json.dumps({"default": {"current": "k1", "keys": {"k1": new_key()}}})
    [problem] = check_keys()
    assert '"#search"' in problem.msg
    with pytest.raises(SystemCheckError, match="#search"):
        call_command("check")


def test_an_encrypted_column_cannot_be_searched_by_its_text():
    from kyc.models import Submission

    assert isinstance(Submission._meta.get_field("document_number"), EncryptedTextField)
    with pytest.raises(TypeError, match='"document_number" is encrypted.*keyed hash'):
        Submission.objects.filter(document_number="P1234567").exists()


# --- the contact details encrypted in their columns ------------------------------------------------

def _raw(sql: str, params: list) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def test_a_clients_email_and_phone_are_stored_encrypted_in_the_table_and_its_history(key_ring, agent):
    client = make_client(actor=agent, email="Layla.Haddad@Example.com", phone="+44 20 7183 8750", country="GB")
    email, phone = _raw("SELECT email, phone FROM crm_client WHERE id = %s", [client.pk])
    for stored in (email, phone):
        assert stored.startswith("enc1:")
    assert "haddad" not in email.lower() and "example" not in email.lower() and "2071838750" not in phone
    history = _raw("SELECT email, phone FROM crm_historicalclient WHERE id = %s ORDER BY history_id DESC LIMIT 1",
                   [client.pk])
    assert all(value.startswith("enc1:") for value in history)
    assert "haddad" not in history[0].lower()
    # Through the model, the values as given (the service normalised them).
    client.refresh_from_db()
    assert (client.email, client.phone) == ("layla.haddad@example.com", "+442071838750")
    assert client.history.first().email == "layla.haddad@example.com"


def test_an_integration_reads_the_contact_details_in_clear_and_a_session_masked(key_ring, world):
    client = world["client_a"]
    body = KeyClient(api_key(client.brand)).get(f"/clients/{client.code}").json()
    assert (body["email"], body["phone"]) == ("amira.haddad@example.com", "+442071838750")
    masked = session_client(world["owner"]).get(f"{API}/clients/{client.code}").json()
    assert masked["email"] == "a***@example.com"


def test_the_encrypted_contact_columns_cannot_be_searched_by_their_text():
    from crm.models import Client

    with pytest.raises(TypeError, match='"email" is encrypted'):
        Client.objects.filter(email__istartswith="john").exists()
    with pytest.raises(TypeError, match='"phone" is encrypted'):
        Client.objects.filter(phone__endswith="8750").exists()


def test_a_new_column_key_rotation_re_encrypts_the_contact_details_and_the_search_still_finds_them(key_ring, agent):
    client = make_client(actor=agent, email="rotor@example.com", phone="+442071838750", country="GB")
    before = _raw("SELECT email, phone FROM crm_client WHERE id = %s", [client.pk])
    ring = json.loads(key_ring.read_text())
    ring["default"]["keys"]["k-new"] = new_key()
    ring["default"]["current"] = "k-new"
    key_ring.write_text(json.dumps(ring))

    call_command("encryption_rotate_columns")
    after = _raw("SELECT email, phone FROM crm_client WHERE id = %s", [client.pk])
    assert all(value.startswith("enc1:k-new:") for value in after)
    assert after != before
    # The old key may now leave the ring: everything opens with the new one.
    ring["default"]["keys"] = {"k-new": ring["default"]["keys"]["k-new"]}
    key_ring.write_text(json.dumps(ring))
    client.refresh_from_db()
    assert (client.email, client.phone) == ("rotor@example.com", "+442071838750")
    assert [c.code for c in client_search(user=agent, q="ROTOR@example.com")] == [client.code]
    assert [c.code for c in client_search(user=agent, q="+44 (20) 7183-8750")] == [client.code]


def test_the_search_no_longer_finds_a_client_by_the_start_of_an_email_or_the_end_of_a_phone(key_ring, agent):
    make_client(actor=agent, email="john.smith@example.com", phone="+442071838750", country="GB")
    assert client_search(user=agent, q="john.smith@") == []
    assert client_search(user=agent, q="8750") == []
    # Typed without its "+", a whole number with its country code is still found.
    assert len(client_search(user=agent, q="44 20 7183 8750")) == 1


def test_without_keys_the_web_server_refuses_to_start_by_name(settings):
    from crm.lib.fieldcrypt import keys_problems

    settings.CRM_ENCRYPTION_KEYS = ""
    settings.CRM_ENCRYPTION_KEY_FILE = ""
    [problem] = keys_problems()
    assert "CRM_ENCRYPTION_KEY_FILE" in problem


def test_a_clients_date_of_birth_is_stored_encrypted_and_shown_on_the_profile(key_ring, agent):
    import datetime as dt

    from django.test import Client as HttpClient
    from django.urls import reverse

    client = make_client(actor=agent, first_name="Layla", date_of_birth=dt.date(1984, 3, 9), country="GB")
    (stored,) = _raw("SELECT date_of_birth FROM crm_client WHERE id = %s", [client.pk])
    assert stored.startswith("enc1:") and "1984" not in stored
    (history,) = _raw("SELECT date_of_birth FROM crm_historicalclient WHERE id = %s ORDER BY history_id DESC "
                      "LIMIT 1", [client.pk])
    assert history.startswith("enc1:") and "1984" not in history
    client.refresh_from_db()
    assert client.date_of_birth == dt.date(1984, 3, 9)
    client_update(actor=agent, client=client, date_of_birth="1985-04-10")
    client.refresh_from_db()
    assert client.date_of_birth == dt.date(1985, 4, 10)
    http = HttpClient()
    http.force_login(agent)
    html = http.get(reverse("client_detail", args=[client.code])).content.decode()
    assert "1985" in html
    # Cleared, it is NULL, not an encrypted blank.
    client_update(actor=agent, client=client, date_of_birth=None)
    assert _raw("SELECT date_of_birth FROM crm_client WHERE id = %s", [client.pk]) == (None,)
