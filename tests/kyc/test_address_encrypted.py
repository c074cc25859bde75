"""A client's address of residence is encrypted in its columns: the profile table and its history hold
no street or city, the published view shows a keyed hash instead of the squeezed street, the officer's
KYC tab and the edit form still show the address, the audit log keeps it masked, clients at one address
written differently are still found (before and after a key change and its rotation), and the
migration encrypts existing rows and their history (and decrypts them on the way back)."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from crm.audit import app_privileges_grant
from crm.lib import dbroles
from crm.lib.fieldcrypt import keyed_hash
from crm.models import AuditLog
from kyc import selectors
from kyc.models import KycProfile
from kyc.selectors import clients_sharing_address
from kyc.services import kyc_profile_save
from plumbing.envelope import DEFAULT_SCOPE, SEARCH_SCOPE, new_key
from tests.factories import make_brand, make_client
from tests.migrating import apps_at, leaves, migrate

pytestmark = pytest.mark.django_db

STREET, FLAT, CITY = "221B Baker Street", "Flat 2", "Marylebone"


def _raw(sql: str, params: list) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _stored(client) -> tuple:
    return _raw("SELECT address_line1, address_line2, city, postcode, country, address_hash FROM kyc_kycprofile "
                "WHERE client_id = %s", [client.pk])


def _lives_at(client, line: str, postcode: str = "NW1 6XE", country: str = "GB") -> None:
    kyc_profile_save(client=client, actor=None, address_line1=line, address_line2=FLAT, city=CITY, postcode=postcode,
                     country=country)


def test_the_street_and_city_are_stored_encrypted_in_the_table_and_its_history():
    client = make_client()
    _lives_at(client, STREET)
    line1, line2, city, postcode, country, address_hash = _stored(client)
    for stored in (line1, line2, city):
        assert stored.startswith("enc1:")
    assert "baker" not in line1.lower() and "flat" not in line2.lower() and "marylebone" not in city.lower()
    assert (postcode, country) == ("NW1 6XE", "GB")  # an area, kept in clear
    assert address_hash == keyed_hash(STREET, kind="address") and "baker" not in address_hash
    history = _raw("SELECT address_line1, address_line2, city FROM kyc_historicalkycprofile WHERE client_id = %s "
                   "ORDER BY history_id DESC LIMIT 1", [client.pk])
    assert all(value.startswith("enc1:") for value in history)
    assert "baker" not in history[0].lower()
    # Through the model, the address as given.
    profile = KycProfile.objects.get(client=client)
    assert profile.address_text == f"{STREET}, {FLAT}, {CITY}, NW1 6XE, GB"
    assert profile.history.first().address_line1 == STREET


def test_the_published_view_shows_a_keyed_hash_not_the_street():
    me, flatmate = make_client(), make_client()
    _lives_at(me, STREET)
    _lives_at(flatmate, "221 b, baker-street.", postcode="nw16xe")
    with connection.cursor() as cursor:
        cursor.execute("SELECT line_key, postcode_key FROM kyc_public_addresses WHERE client_id = ANY(%s)",
                       [[me.pk, flatmate.pk]])
        rows = cursor.fetchall()
    assert rows == [(keyed_hash(STREET, kind="address"), "nw16xe")] * 2
    assert selectors.ADDRESSES_VIEW.name == "kyc_public_addresses"


def test_the_audit_log_keeps_the_address_masked():
    client = make_client()
    _lives_at(client, STREET)
    entry = AuditLog.objects.filter(action="kyc.profile_save", object_id=str(client.code)).latest("id")
    assert entry.after["address_line1"] == "2***" and entry.after["city"] == "M***"
    assert entry.after["postcode"] == "NW1 6XE" and "Baker" not in json.dumps(entry.after)


def test_the_officers_kyc_tab_and_the_edit_form_show_the_address(kyc_world, client, login_verified):
    login_verified(client, kyc_world.officer)
    tab = client.get(reverse("client_detail", args=[kyc_world.client.code]) + "?tab=kyc").content.decode()
    assert "1 High Street, London, SW1A 1AA, GB" in tab
    form = client.get(reverse("kyc_address_edit", args=[kyc_world.client.code])).content.decode()
    assert 'value="1 High Street"' in form and 'value="London"' in form


def test_a_key_change_and_its_rotation_keep_clients_at_one_address_found(key_ring):
    brand = make_brand()
    me, flatmate, later = (make_client(brand=brand) for _ in range(3))
    _lives_at(me, STREET)
    _lives_at(flatmate, "221b, baker street.", postcode="NW1-6XE")
    before = _stored(me)
    ring = json.loads(key_ring.read_text())
    for scope in (DEFAULT_SCOPE, SEARCH_SCOPE):
        ring[scope]["keys"]["k-new"] = new_key()
        ring[scope]["current"] = "k-new"
    key_ring.write_text(json.dumps(ring))

    # Before the rotation: a client saved under the new keys is found with those under the old ones.
    _lives_at(later, "221B, Baker Street")
    assert [pk for pk, _ in clients_sharing_address(client=later)] == sorted([me.pk, flatmate.pk])

    call_command("encryption_rotate_columns")
    after = _stored(me)
    assert all(value.startswith("enc1:k-new:") for value in after[:3]) and after[:3] != before[:3]
    assert after[5] == keyed_hash(STREET, kind="address") != before[5]
    # The old keys may now leave the ring: everything opens and matches with the new ones.
    for scope in (DEFAULT_SCOPE, SEARCH_SCOPE):
        ring[scope]["keys"] = {"k-new": ring[scope]["keys"]["k-new"]}
    key_ring.write_text(json.dumps(ring))
    assert KycProfile.objects.get(client=me).address_line1 == STREET
    assert [pk for pk, _ in clients_sharing_address(client=me)] == sorted([flatmate.pk, later.pk])
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(DISTINCT line_key) FROM kyc_public_addresses WHERE client_id = ANY(%s)",
                       [[me.pk, flatmate.pk, later.pk]])
        assert cursor.fetchone()[0] == 1


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_existing_addresses_and_their_history_and_decrypts_them_on_the_way_back():
    before, after = [("kyc", "0008_submission_encrypted")], [("kyc", "0009_profile_address_encrypted")]
    me, flatmate = make_client(), make_client()
    with dbroles.as_owner():  # migrations are the schema owner's work, as `manage.py migrate` does them
        newest = leaves()
        try:
            migrate(before)
            state = apps_at(before)
            Old, OldHistory = state.get_model("kyc", "KycProfile"), state.get_model("kyc", "HistoricalKycProfile")
            for client, line in ((me, STREET), (flatmate, "221b, baker street")):
                old = Old.objects.create(client_id=client.pk, address_line1=line, address_line2=FLAT, city=CITY,
                                         postcode="NW1 6XE", country="GB")
                OldHistory.objects.create(id=old.pk, client_id=client.pk, address_line1=line, address_line2=FLAT,
                                          city=CITY, postcode="NW1 6XE", country="GB", status="unverified",
                                          can_resubmit=True, level="", history_date="2026-01-01T00:00:00Z",
                                          history_type="+")

            migrate(after)
            line1, line2, city, _postcode, _country, address_hash = _stored(me)
            assert all(v.startswith("enc1:") for v in (line1, line2, city)) and "baker" not in line1.lower()
            assert address_hash == keyed_hash(STREET, kind="address")
            history = _raw("SELECT address_line1, city FROM kyc_historicalkycprofile WHERE client_id = %s",
                           [me.pk])
            assert all(v.startswith("enc1:") for v in history)
            assert KycProfile.objects.get(client=me).address_text == f"{STREET}, {FLAT}, {CITY}, NW1 6XE, GB"
            assert [pk for pk, _ in clients_sharing_address(client=me)] == [flatmate.pk]

            migrate(before)  # and back: the plain values in their old columns
            assert _raw("SELECT address_line1, city FROM kyc_kycprofile WHERE client_id = %s", [me.pk]) == (
                STREET, CITY)
            assert _raw("SELECT address_line1 FROM kyc_historicalkycprofile WHERE client_id = %s",
                        [me.pk]) == (STREET,)
        finally:  # and forward again (the step after `before` is `after`), to the newest
            migrate(newest)
            app_privileges_grant()
