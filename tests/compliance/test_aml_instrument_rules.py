"""AML rules over payment instruments (wallet_public_payment_instruments), each at its threshold's edge with a
hand-made positive and negative: third-party funding, many instruments or a payout to a destination just
added, instruments shared between clients. Deposits and payouts go through the wallet's services."""

from __future__ import annotations

import pytest

from compliance.models import AmlRuleKind
from crm.models import RoleCode
from tests.compliance.aml_support import ago, paid, payout, rule, run, wire_world
from tests.factories import make_client, make_user

pytestmark = pytest.mark.django_db

K = AmlRuleKind
THIRD = {"checks": ["country", "name"], "min_amounts": {"USD": "100"}}


# --- third-party funding -------------------------------------------------------------------------------

def test_a_deposit_paid_by_another_given_name_fires_with_the_payer_named():
    w = wire_world(first_name="John", last_name="Smith", country="GB")
    rule(w, K.THIRD_PARTY_FUNDING, **THIRD)
    tx = paid(w, w.client, "100.00", name="PETER SMITH", country="GB", number="4000008260000000")
    alerts = run(w)
    assert [(a.transaction_ids, a.score) for a in alerts] == [([tx.pk], 70)]
    assert "paid by PETER SMITH, not the client" in alerts[0].summary
    assert alerts[0].facts["name_differs"] is True and alerts[0].facts["country_differs"] is False


@pytest.mark.parametrize("payer", ["JOSE GARCIA", "Jose Garcia", "GARCIA JOSE", "José María García"])
def test_transliteration_diacritics_and_order_are_the_same_person(payer):
    w = wire_world(first_name="José", last_name="García", country="ES")
    rule(w, K.THIRD_PARTY_FUNDING, **THIRD)
    paid(w, w.client, "500.00", name=payer, country="ES", number="4000007240000007")
    assert run(w) == []


def test_a_dropped_particle_is_the_same_person():
    w = wire_world(first_name="Ludwig", last_name="van Beethoven", country="DE")
    rule(w, K.THIRD_PARTY_FUNDING, **THIRD)
    paid(w, w.client, "500.00", name="LUDWIG BEETHOVEN", country="DE", number="4000002760000016")
    assert run(w) == []


def test_a_card_of_another_country_fires_from_the_smallest_amount_and_one_cent_under_does_not():
    w = wire_world(first_name="John", last_name="Smith", country="GB")
    rule(w, K.THIRD_PARTY_FUNDING, checks=["country", "name"], min_amounts={"USD": "150"})
    under = paid(w, w.client, "149.99", name="JOHN SMITH", country="NG", number="4000005660000002")
    at = paid(w, w.client, "150.00", name="JOHN SMITH", country="NG", number="4000005660000002")
    alerts = run(w)
    assert [(a.transaction_ids, a.score) for a in alerts] == [([at.pk], 50)]
    assert under.pk not in alerts[0].transaction_ids
    assert "of NG (the client lives in GB)" in alerts[0].summary


def test_a_rule_checking_the_name_only_leaves_the_country_alone_and_an_unknown_payer_never_fires():
    w = wire_world(first_name="John", last_name="Smith", country="GB")
    rule(w, K.THIRD_PARTY_FUNDING, checks=["name"], min_amounts={"USD": "0"})
    paid(w, w.client, "500.00", name="JOHN SMITH", country="NG", number="4000005660000002")
    paid(w, w.client, "500.00")  # the provider named nobody: cannot tell
    assert run(w) == []
    both = paid(w, w.client, "500.00", name="Jane Smith", country="NG", number="4000005660000002")
    assert [a.transaction_ids for a in run(w)] == [[both.pk]]


# --- many instruments, or a payout to a destination just added ------------------------------------------

MANY = {"min_instruments": 3, "days": 7, "new_destination_days": 3}


def test_three_instruments_within_the_days_fire_and_two_do_not():
    w = wire_world()
    rule(w, K.MANY_INSTRUMENTS, **MANY)
    a = paid(w, w.client, "100.00", number="4000008260000000", at=ago(days=6.9))
    b = paid(w, w.client, "100.00", number="4000002760000016", at=ago(days=3))
    again = paid(w, w.client, "100.00", number="4000008260000000", at=ago(days=2))
    assert run(w, since=ago(days=8)) == []  # two instruments, three deposits
    c = paid(w, w.client, "100.00", number="4000002500000003")
    alerts = run(w)
    assert [(a_.transaction_ids, a_.facts["instruments"]) for a_ in alerts] == [
        (sorted([a.pk, b.pk, again.pk, c.pk]), 3)]


def test_an_instrument_just_outside_the_days_does_not_count():
    w = wire_world()
    rule(w, K.MANY_INSTRUMENTS, **MANY)
    paid(w, w.client, "100.00", number="4000008260000000", at=ago(days=7, hours=1))
    paid(w, w.client, "100.00", number="4000002760000016", at=ago(days=3))
    paid(w, w.client, "100.00", number="4000002500000003")
    assert run(w, since=ago(days=8)) == []


def test_a_payout_to_a_destination_added_within_the_days_fires_unless_the_client_paid_in_from_it(time_machine):
    w = wire_world(first_name="John", last_name="Smith")
    finance = make_user(role_code=RoleCode.FINANCE, brand=w.brand)
    rule(w, K.MANY_INSTRUMENTS, **MANY)
    paid(w, w.client, "3000.00", name="John Smith", number="GB82WEST12345698765432", kind="iban")
    own = payout(w, w.client, "100.00", iban="GB82 WEST 1234 5698 7654 32", finance=finance)
    fresh = payout(w, w.client, "100.00", iban="DE89370400440532013000", finance=finance)
    alerts = run(w)
    assert [a.transaction_ids for a in alerts] == [[fresh.capture_id]]
    assert own.capture_id not in alerts[0].transaction_ids
    assert "a destination added" in alerts[0].summary


def test_a_payout_to_a_destination_added_the_days_before_or_more_does_not_fire(time_machine):
    w = wire_world()
    finance = make_user(role_code=RoleCode.FINANCE, brand=w.brand)
    rule(w, K.MANY_INSTRUMENTS, **MANY)
    paid(w, w.client, "3000.00", number="4000008260000000")
    time_machine.move_to(ago(days=4))
    payout(w, w.client, "100.00", iban="DE89370400440532013000", finance=finance)  # added 4 days ago
    time_machine.move_to(ago(days=-4, hours=-0.01))
    later = payout(w, w.client, "100.00", iban="DE89370400440532013000", finance=finance)
    assert later.destination_added_at < later.requested_at
    assert [a.transaction_ids for a in run(w)] == []


# --- instruments shared between clients -----------------------------------------------------------------

SHARED = {"min_clients": 2, "days": 30}


def test_a_card_another_client_of_the_brand_used_fires_for_both_with_every_transaction():
    w = wire_world()
    other = make_client(brand=w.brand, country="GB", stage="registered")
    rule(w, K.SHARED_INSTRUMENTS, **SHARED)
    theirs = paid(w, other, "100.00", number="4000008260000000", at=ago(days=29))
    mine = paid(w, w.client, "100.00", number="4000008260000000")
    alerts = run(w)
    assert [(a.client_id, a.transaction_ids, a.facts["clients"]) for a in alerts] == [
        (w.client.pk, sorted([theirs.pk, mine.pk]), 2)]
    assert alerts[0].facts["other_clients"] == [other.pk]


def test_a_use_before_the_days_another_card_or_another_brand_do_not_fire():
    w = wire_world()
    other = make_client(brand=w.brand, country="GB", stage="registered")
    elsewhere = wire_world()
    rule(w, K.SHARED_INSTRUMENTS, **SHARED)
    paid(w, other, "100.00", number="4000008260000000", at=ago(days=30, hours=1))
    paid(w, other, "100.00", number="4000002760000016")
    paid(elsewhere, elsewhere.client, "100.00", number="4000008260000000")
    paid(w, w.client, "100.00", number="4000008260000000")
    assert run(w) == []
