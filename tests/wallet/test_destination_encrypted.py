"""A withdrawal's destination is encrypted in its column and compared by its keyed hash: the table holds
no card number or IBAN, a client asks for a payout to an IBAN on the trader's room page and finance,
who approves it on the queue, sees the IBAN to send the money to; two clients paying out to one IBAN
typed with other spaces or case are found; a deposit's instrument fingerprint is the same keyed hash
(a deposit fingerprinted before the key ring is brought to it when its instrument is next seen); a new
key and its rotation keep all of it working; the migration encrypts existing destinations (and
decrypts them on the way back)."""
# ruff: noqa: F811 - pytest fixtures imported from the portal's conftest are redefined as arguments

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import timezone

from crm.audit import app_privileges_grant
from crm.lib import dbroles
from crm.lib.fieldcrypt import keyed_hash
from crm.lib.money import Money
from plumbing.envelope import DEFAULT_SCOPE, SEARCH_SCOPE, new_key
from portal.models import ClientLogin
from portal.services import portal_email_verify, verification_token
from tests.factories import make_client
from tests.migrating import leaves, migrate
from tests.portal.conftest import (  # noqa: F401 - fixtures
    _portal_budgets,
    brand,
    eager_celery,
    http,
    ip,
    register,
    sign_in,
)
from tests.wallet.withdrawal_support import CARD, build_world, deposit, kyc_approve
from wallet.demo import demo_wire_deposit
from wallet.instruments import instrument_fingerprint
from wallet.models import Deposit, Withdrawal, WithdrawalState
from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save
from wallet.selectors import clients_sharing_payout_destinations
from wallet.services import deposit_payer_record
from wallet.withdrawals import withdrawal_payout_send, withdrawal_request

S = WithdrawalState
IBAN = "GB82WEST12345698765432"
EWALLET = {"ewallet": "ann.lee@wallet.example"}


@pytest.fixture(autouse=True)
def _kyc_storage(settings, tmp_path):
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"


def _stored(w) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT destination::text, destination_fingerprint FROM wallet_withdrawal WHERE id = %s", [w.pk])
        return cursor.fetchone()


def _with_wire(world):
    world.wire = payment_provider_save(code=f"wire-{uuid.uuid4().hex[:6]}", name="Bank wire", kind="bank_wire",
                                       settings={"beneficiary": "Broker Ltd", "iban": "CY17002001280000001200527600",
                                                 "bic": "BCYPCY2N", "bank_name": "Bank"})
    world.wire_method = payment_method_save(
        brand=world.brand, method="bank_wire", direction="withdrawal", provider=world.wire, order=30,
        currencies=[CurrencyRule("USD", Decimal("100"), None, Decimal("15.00"))])
    deposit(world.client, "1000.00", method="bank_wire", provider=world.wire.code)
    return world


def _funded(world, name: str):
    client = make_client(brand=world.brand, email=f"{name}-{uuid.uuid4().hex[:6]}@example.com", country="GB",
                         stage="registered")
    kyc_approve(client)
    wire = getattr(world, "wire", None)
    deposit(client, "1000.00", method="bank_wire" if wire else "card", provider=(wire or world.provider).code)
    return client


@pytest.mark.django_db
def test_the_destination_is_stored_encrypted_beside_its_keyed_hash():
    world = build_world()
    w = withdrawal_request(client=world.client, amount=Money("100", "USD"), method=world.card, destination=CARD)
    destination, fingerprint = _stored(w)
    assert destination.startswith("enc1:") and "4242" not in destination
    assert fingerprint == keyed_hash(CARD, kind="instrument") == instrument_fingerprint("card", "4242 4242 4242 4242")
    assert Withdrawal.objects.get(pk=w.pk).destination == CARD
    assert Withdrawal.objects.get(pk=w.pk).destination_masked == "…4242"


@pytest.fixture
def room(brand, register, http):
    response = register(brand, email="nadia.hassan@example.com")
    assert response.status_code == 302
    login = ClientLogin.objects.get(email_hash=keyed_hash("nadia.hassan@example.com", kind="email"))
    portal_email_verify(token=verification_token(login))
    world = _with_wire(build_world(brand=brand, client=login.client, fund=None))
    assert sign_in(http, brand).status_code == 302
    return world


@pytest.mark.django_db
def test_a_payout_to_an_iban_asked_on_the_room_page_is_approved_and_finance_sees_the_iban(room, http,
                                                                                         login_verified):
    response = http.post(reverse("portal:withdraw"), {"currency": "USD", "amount": "250",
                                                      "method": str(room.wire_method.code),
                                                      "destination": "gb82 west 1234 5698 7654 32"})
    assert response.status_code == 302
    w = Withdrawal.objects.get(client=room.client)
    destination, _ = _stored(w)
    assert destination.startswith("enc1:") and "WEST" not in destination.upper()
    assert "…5432" in http.get(reverse("portal:withdraw")).content.decode()  # the client sees it masked

    staff = HttpClient()
    login_verified(staff, room.finance)
    queue = staff.get(reverse("wallet_withdrawal_queue")).content.decode()
    assert "…5432" in queue and IBAN not in queue  # masked in the queue until it is to be sent
    assert staff.post(reverse("wallet_withdrawal_approve", args=[w.code])).status_code == 302
    w.refresh_from_db()
    assert w.state in (S.APPROVED, S.PROCESSING)
    withdrawal_payout_send(withdrawal_id=w.pk)  # what the commit hook does
    w.refresh_from_db()
    assert w.state == S.PROCESSING and w.awaits_manual_payout
    queue = staff.get(reverse("wallet_withdrawal_queue")).content.decode()
    assert f'data-iban>{IBAN}<' in queue  # finance copies the whole IBAN into the bank's screen


@pytest.mark.django_db
def test_two_clients_paying_out_to_one_iban_written_differently_are_found():
    world = _with_wire(build_world(fund=None))
    twin, stranger = _funded(world, "twin"), _funded(world, "stranger")
    for who, iban in ((world.client, "GB82 WEST 1234 5698 7654 32"), (twin, "gb82west12345698765432"),
                      (stranger, "DE89 3704 0044 0532 0130 00")):
        withdrawal_request(client=who, amount=Money("200", "USD"), method=world.wire_method,
                           destination={"bank_wire": iban})
    found = clients_sharing_payout_destinations(client=world.client)
    assert [client_id for client_id, _ in found] == [twin.pk]
    assert found[0][1] == "…5432"


def _legacy(kind: str, number: str) -> str:
    key = hashlib.sha256(b"wallet.instrument.v1" + settings.SECRET_KEY.encode()).digest()
    return hmac.new(key, f"{kind}:{number}".encode(), hashlib.sha256).hexdigest()


@pytest.mark.django_db
def test_a_wire_senders_iban_and_a_payout_iban_have_one_fingerprint_and_an_old_one_follows():
    from tests.compliance.aml_support import wire_world

    w = wire_world(first_name="Anna", last_name="Eriksson", country="SE")
    first, second = (demo_wire_deposit(provider=w.wire, client=w.client, amount=Money("500.00", "USD"),
                                       at=timezone.now(), n=n) for n in (1, 2))
    # A deposit fingerprinted before the key ring: the number is not kept, its fingerprint is all there is.
    Deposit.objects.filter(pk=first.pk).update(instrument_fingerprint=_legacy("iban", "SE4550000000058398257466"))
    deposit_payer_record(deposit=second, payer_name="Anna Eriksson", iban="se45 5000 0000 0583 9825 7466",
                         actor=w.officer)
    first.refresh_from_db()
    second.refresh_from_db()
    wanted = keyed_hash({"bank_wire": "SE45 5000 0000 0583 9825 7466"}, kind="instrument")
    assert second.instrument_fingerprint == wanted
    assert first.instrument_fingerprint == wanted  # the instrument seen again: the old fingerprint follows


@pytest.mark.django_db
def test_a_new_key_and_its_rotation_keep_destinations_readable_and_found(key_ring):
    world = build_world()
    twin = _funded(world, "twin")
    old = withdrawal_request(client=world.client, amount=Money("50", "USD"), method=world.card, destination=CARD)
    before = _stored(old)
    ring = json.loads(key_ring.read_text())
    for scope in (DEFAULT_SCOPE, SEARCH_SCOPE):
        ring[scope]["keys"]["k-new"] = new_key()
        ring[scope]["current"] = "k-new"
    key_ring.write_text(json.dumps(ring))
    again = withdrawal_request(client=world.client, amount=Money("50", "USD"), method=world.card,
                               destination={"card": "4242 4242 4242 4242"})
    assert again.destination_added_at == old.requested_at  # found under the old search key
    withdrawal_request(client=twin, amount=Money("50", "USD"), method=world.card, destination=CARD)
    assert [pk for pk, _ in clients_sharing_payout_destinations(client=twin)] == [world.client.pk]

    call_command("encryption_rotate_columns")
    after = _stored(old)
    assert after[0].startswith("enc1:k-new:") and after[1] == keyed_hash(CARD, kind="instrument") != before[1]
    for scope in (DEFAULT_SCOPE, SEARCH_SCOPE):
        ring[scope]["keys"] = {"k-new": ring[scope]["keys"]["k-new"]}
    key_ring.write_text(json.dumps(ring))
    assert Withdrawal.objects.get(pk=old.pk).destination == CARD
    assert {pk for pk, _ in clients_sharing_payout_destinations(client=twin)} == {world.client.pk}


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_existing_destinations_and_decrypts_them_on_the_way_back():
    before, after = [("wallet", "0022_ledger_legs_partitioned_by_month")], [("wallet", "0023_withdrawal_destination_encrypted")]
    from tests.compliance.aml_support import wire_world

    w = _with_wire(build_world(fund=None))
    wire = wire_world(first_name="Anna", last_name="Eriksson", country="GB")
    paid_in = demo_wire_deposit(provider=wire.wire, client=wire.client, amount=Money("500.00", "USD"),
                                at=timezone.now(), n=1)
    deposit_payer_record(deposit=paid_in, payer_name="Anna Eriksson", iban=IBAN, actor=wire.officer)
    payout = withdrawal_request(client=w.client, amount=Money("200", "USD"), method=w.wire_method,
                                destination={"bank_wire": "gb82 west 1234 5698 7654 32"})
    card = withdrawal_request(client=w.client, amount=Money("50", "USD"), method=w.ewallet, destination=EWALLET)
    with dbroles.as_owner():  # migrations are the schema owner's work, as `manage.py migrate` does them
        newest = leaves()
        try:
            migrate(before)
            with connection.cursor() as cursor:
                cursor.execute("SELECT destination, destination_fingerprint FROM wallet_withdrawal "
                               "WHERE id = ANY(%s) ORDER BY id", [[payout.pk, card.pk]])
                rows = cursor.fetchall()
                cursor.execute("SELECT instrument_fingerprint FROM wallet_deposit WHERE id = %s", [paid_in.pk])
                [(deposit_fp,)] = cursor.fetchall()
                cursor.execute("SELECT destination_key FROM wallet_public_payout_destinations WHERE withdrawal_id = %s",
                               [card.pk])
                [(md5,)] = cursor.fetchall()
            assert [json.loads(r[0]) if isinstance(r[0], str) else r[0] for r in rows] == [{"bank_wire": IBAN}, EWALLET]
            assert [r[1] for r in rows] == [_legacy("iban", IBAN), _legacy("ewallet", "ANN.LEE@WALLET.EXAMPLE")]
            assert deposit_fp == _legacy("iban", IBAN) and len(md5) == 32

            migrate(after)
            stored = _stored(payout)
            assert stored[0].startswith("enc1:") and IBAN not in stored[0]
            assert stored[1] == keyed_hash({"bank_wire": IBAN}, kind="instrument")
            assert Deposit.objects.get(pk=paid_in.pk).instrument_fingerprint == stored[1]
            assert Withdrawal.objects.get(pk=card.pk).destination == EWALLET
            with connection.cursor() as cursor:
                cursor.execute("SELECT destination_key FROM wallet_public_payout_destinations WHERE withdrawal_id = %s",
                               [card.pk])
                assert cursor.fetchone()[0] == keyed_hash(EWALLET, kind="instrument")

            migrate(before)  # and back again, then forward
            migrate(after)
            assert Withdrawal.objects.get(pk=payout.pk).destination == {"bank_wire": IBAN}
            assert _stored(payout)[1] == Deposit.objects.get(pk=paid_in.pk).instrument_fingerprint
        finally:
            migrate(newest)
            app_privileges_grant()
