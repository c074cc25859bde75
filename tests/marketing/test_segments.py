"""Segment definitions against plain SQL over the same data, built through the services: deposits and
withdrawals posted as the wallet posts them, deals stored by the trading sync, KYC approved by its
checks, partners attributed by an import, risk scored by compliance, sign-ins audited as the trader's
room audits them. Each definition's members are compared with a query written by hand over the
published views (not the compiler's), and with the clients a marketer would name."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from crm.exceptions import ValidationFailed
from crm.models import RoleCode
from marketing.engine import definition_clean, definition_count, definition_member_ids
from tests.compliance.aml_support import ago, deposit, trade, trading_account, withdrawal
from tests.factories import make_brand, make_client, make_user

pytestmark = pytest.mark.django_db

FUNDED_IDLE_SQL = """
SELECT c.id FROM crm_public_clients c
WHERE c.brand_id = %s AND c.language IN ('en', 'es')
  AND c.id IN (SELECT m.client_id FROM wallet_public_client_movements m WHERE m.kind = 'deposit')
  AND c.id NOT IN (SELECT a.client_id FROM trading_public_deals d JOIN trading_public_accounts a ON a.id = d.account_id
                   WHERE d.kind = 'trade' AND NOT a.is_demo AND d.time >= now() - interval '14 days')
ORDER BY c.id
"""

NET_DEPOSITS_SQL = """
SELECT c.id FROM crm_public_clients c
WHERE c.brand_id = %s AND coalesce((SELECT sum(m.amount) FROM wallet_public_client_movements m
                                   WHERE m.client_id = c.id AND m.currency = 'USD'
                                     AND m.kind IN ('deposit', 'withdrawal')), 0) < 300
ORDER BY c.id
"""

LOTS_SQL = """
SELECT c.id FROM crm_public_clients c
WHERE c.brand_id = %s AND (SELECT coalesce(sum(d.volume), 0) FROM trading_public_deals d
                           JOIN trading_public_accounts a ON a.id = d.account_id
                           WHERE a.client_id = c.id AND d.time >= now() - interval '30 days') >= 2
ORDER BY c.id
"""

FIRST_DEPOSIT_SQL = """
SELECT c.id FROM crm_public_clients c
WHERE c.brand_id = %s AND (SELECT min(m.occurred_at) FROM wallet_public_client_movements m
                           WHERE m.client_id = c.id AND m.kind = 'deposit') >= now() - interval '7 days'
ORDER BY c.id
"""


def plain(query: str, brand_id: int) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(query, [brand_id])
        return [row[0] for row in cursor.fetchall()]


def members(brand: Any, definition: dict[str, Any], user: Any = None) -> list[int]:
    return definition_member_ids(definition_clean(definition, brand=brand, user=user), brand_id=brand.pk)


@pytest.fixture
def book() -> Any:
    """A brand's clients: funded and idle, funded and trading, never funded, funded but French."""
    brand = make_brand()
    people = {}
    for name, language in (
        ("ana", "es"),
        ("ben", "en"),
        ("carl", "en"),
        ("dora", "fr"),
        ("eve", "en"),
        ("fay", "es"),
    ):
        people[name] = make_client(
            brand=brand, first_name=name.title(), language=language, country="GB", stage="registered"
        )
    # Ana: funded 40 days ago, last traded 20 days ago. Ben: funded, traded yesterday.
    deposit(people["ana"], "500.00", at=ago(days=40))
    trade(trading_account(people["ana"]), "1.5", at=ago(days=20))
    deposit(people["ben"], "250.00", at=ago(days=30))
    trade(trading_account(people["ben"]), "3", at=ago(days=1))
    # Carl never deposited. Dora (French) funded and idle. Eve funded 3 days ago, took 400 back.
    deposit(people["dora"], "1000.00", at=ago(days=10))
    deposit(people["eve"], "600.00", at=ago(days=3))
    withdrawal(people["eve"], "400.00", at=ago(days=2))
    # Fay funded in euros only, never traded.
    deposit(people["fay"], "200.00", at=ago(days=60), currency="EUR")
    other = make_client(brand=make_brand(), language="en")  # another brand: never a member
    deposit(other, "900.00", at=ago(days=50))
    return brand, people


def ids(people: dict[str, Any], *names: str) -> list[int]:
    return sorted(people[n].pk for n in names)


FUNDED_IDLE = {
    "match": "all",
    "conditions": [
        {"fact": "first_deposit", "op": "exists"},
        {"fact": "last_trade", "op": "not_within_days", "days": 14},
        {"fact": "language", "op": "in", "value": "en es"},
    ],
}


def test_funded_clients_who_have_not_traded_in_14_days_english_or_spanish(book):
    brand, people = book
    got = members(brand, FUNDED_IDLE)
    assert got == plain(FUNDED_IDLE_SQL, brand.pk)
    assert got == ids(people, "ana", "eve", "fay")  # not Ben (traded), Carl (unfunded), Dora (French)
    assert definition_count(definition_clean(FUNDED_IDLE, brand=brand), brand_id=brand.pk) == 3


def test_net_deposits_below_an_amount_count_a_client_without_any_as_zero(book):
    brand, people = book
    got = members(
        brand, {"conditions": [{"fact": "net_deposits", "op": "lt", "value": "300", "currency": "usd"}]}
    )
    assert got == plain(NET_DEPOSITS_SQL, brand.pk)
    # Ben 250, Eve 600 - 400, Carl none, Fay's euros are not dollars.
    assert got == ids(people, "ben", "carl", "eve", "fay")


def test_lots_in_a_window_and_first_deposit_in_the_last_days(book):
    brand, people = book
    lots = members(brand, {"conditions": [{"fact": "lots", "op": "gte", "value": "2", "days": 30}]})
    assert lots == plain(LOTS_SQL, brand.pk) == ids(people, "ben")
    first = members(brand, {"conditions": [{"fact": "first_deposit", "op": "within_days", "days": 7}]})
    assert first == plain(FIRST_DEPOSIT_SQL, brand.pk) == ids(people, "eve")
    older = members(brand, {"conditions": [{"fact": "first_deposit", "op": "older_than_days", "days": 35}]})
    assert older == ids(people, "ana", "fay")


def test_any_of_nested_groups(book):
    brand, people = book
    definition = {
        "match": "any",
        "conditions": [
            {"fact": "language", "op": "in", "value": ["fr"]},
            {
                "match": "all",
                "conditions": [
                    {"fact": "first_deposit_amount", "op": "gte", "value": "500", "currency": "USD"},
                    {"fact": "last_trade", "op": "exists"},
                ],
            },
        ],
    }
    assert members(brand, definition) == ids(people, "ana", "dora")


def test_partner_kyc_sign_in_and_registered_facts(book):
    from crm.audit import audit_record
    from ib.services import client_attribution_import, partner_create
    from plumbing.context import ActorContext, acting
    from tests.wallet.withdrawal_support import kyc_approve

    brand, people = book
    partner = partner_create(actor=None, brand=brand, display_name="Alpha IB", email="alpha@example.com")
    client_attribution_import(actor=None, client=people["ana"], partner=partner)
    kyc_approve(people["ben"])
    with acting(ActorContext(ip="203.0.113.9", user_agent="Firefox/128", source="web")):
        audit_record(action="portal.login", obj=people["carl"], actor=None)
    assert members(
        brand, {"conditions": [{"fact": "partner", "op": "in", "value": [str(partner.code)]}]}
    ) == ids(people, "ana")
    assert members(brand, {"conditions": [{"fact": "partner", "op": "not_exists"}]}) == ids(
        people, "ben", "carl", "dora", "eve", "fay"
    )
    assert members(brand, {"conditions": [{"fact": "kyc_approved", "op": "exists"}]}) == ids(people, "ben")
    assert members(brand, {"conditions": [{"fact": "last_login", "op": "within_days", "days": 1}]}) == ids(
        people, "carl"
    )
    assert len(members(brand, {"conditions": [{"fact": "registered", "op": "within_days", "days": 1}]})) == 6
    today = timezone.localdate().isoformat()
    assert members(brand, {"conditions": [{"fact": "registered", "op": "before", "value": today}]}) == []


def test_the_risk_band_is_for_compliance_only(book):
    from compliance.risk import risk_score_compute
    from compliance.services import jurisdiction_set

    brand, people = book
    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=brand)
    marketer = make_user(role_code=RoleCode.MARKETING, brand=brand)
    jurisdiction_set(brand=brand, country="GB", status="sanctioned", by=officer)
    risk_score_compute(client_id=people["dora"].pk, trigger="test")
    definition = {"conditions": [{"fact": "risk_band", "op": "in", "value": ["high"]}]}
    assert members(brand, definition, user=officer) == ids(people, "dora")
    with pytest.raises(ValidationFailed) as caught:
        definition_clean(definition, brand=brand, user=marketer)
    assert caught.value.fields == {"conditions.0.fact": ["Unknown fact “risk_band”."]}


def test_a_snapshot_keeps_who_matched_and_by_which_version_whatever_happens_after(book):
    from marketing.selectors import segment_count, snapshot_member_ids
    from marketing.services import segment_save, segment_snapshot_take

    brand, people = book
    marketer = make_user(role_code=RoleCode.MARKETING, brand=brand)
    segment = segment_save(actor=marketer, brand=brand, name="Funded, idle, en/es", definition=FUNDED_IDLE)
    first = segment_snapshot_take(actor=marketer, segment=segment, reason="win-back mail")
    assert snapshot_member_ids(snapshot=first) == ids(people, "ana", "eve", "fay")
    assert (first.member_count, first.version.number) == (3, 1)
    # Carl deposits: he matches now, not in the snapshot taken before.
    deposit(people["carl"], "100.00", at=ago(hours=1))
    assert segment_count(segment=segment) == 4
    assert snapshot_member_ids(snapshot=first) == ids(people, "ana", "eve", "fay")
    # A changed definition is a new version; the snapshot still names the one it was taken by.
    narrower = {
        **FUNDED_IDLE,
        "conditions": [
            *FUNDED_IDLE["conditions"],
            {"fact": "net_deposits", "op": "gte", "value": "300", "currency": "USD"},
        ],
    }
    segment = segment_save(
        actor=marketer, brand=brand, name=segment.name, definition=narrower, segment=segment
    )
    second = segment_snapshot_take(actor=marketer, segment=segment)
    assert (segment.version, second.version.number, snapshot_member_ids(snapshot=second)) == (
        2,
        2,
        ids(people, "ana"),
    )
    first.refresh_from_db()
    assert first.version.number == 1 and first.version.definition == definition_clean(
        FUNDED_IDLE, brand=brand
    )
    # Saving the same definition again is not a new version.
    segment = segment_save(actor=marketer, brand=brand, name="Renamed", definition=narrower, segment=segment)
    assert segment.version == 2 and segment.versions.count() == 2


@pytest.mark.parametrize(
    ("condition", "field", "words"),
    [
        ({"fact": "net_worth", "op": "gte", "value": "1"}, "conditions.0.fact", "Unknown fact"),
        (
            {"fact": "net_deposits", "op": "gte", "value": "lots", "currency": "USD"},
            "conditions.0.value",
            "Net deposits: give a number",
        ),
        (
            {"fact": "net_deposits", "op": "gte", "value": "5"},
            "conditions.0.currency",
            "Net deposits: give the currency",
        ),
        (
            {"fact": "last_trade", "op": "within_days", "days": "0"},
            "conditions.0.days",
            "Last trade: give a number of days",
        ),
        (
            {"fact": "last_trade", "op": "gte", "days": "5"},
            "conditions.0.op",
            "Last trade: the operator is one of",
        ),
        (
            {"fact": "country", "op": "in", "value": "Narnia"},
            "conditions.0.value",
            "Country: Enter a two-letter",
        ),
        ({"fact": "stage", "op": "in", "value": []}, "conditions.0.value", "Stage: give between 1"),
        (
            {"fact": "registered", "op": "before", "value": "31/12/2025"},
            "conditions.0.value",
            "Registered: give a date as YYYY-MM-DD",
        ),
        (
            {"fact": "stage", "op": "in", "value": "lead'); DROP TABLE crm_client; --"},
            "conditions.0.value",
            "Stage: unknown stage",
        ),
    ],
)
def test_bad_input_is_refused_with_an_error_naming_the_field(condition, field, words):
    brand = make_brand()
    with pytest.raises(ValidationFailed) as caught:
        definition_clean({"match": "all", "conditions": [condition]}, brand=brand)
    assert list(caught.value.fields) == [field]
    assert caught.value.fields[field][0].startswith(words), caught.value.fields


def test_a_hostile_value_is_a_parameter_never_sql(book):
    brand, people = book
    hostile = {"conditions": [{"fact": "source", "op": "in", "value": ["x' OR '1'='1"]}]}
    assert members(brand, hostile) == []
    assert members(
        brand, {"conditions": [{"fact": "source", "op": "not_in", "value": ["x' OR '1'='1"]}]}
    ) == ids(people, "ana", "ben", "carl", "dora", "eve", "fay")


def test_groups_nest_only_so_deep_and_the_group_shape_is_checked():
    brand = make_brand()
    deep: dict[str, Any] = {"fact": "stage", "op": "in", "value": ["lead"]}
    for _ in range(4):
        deep = {"match": "all", "conditions": [deep]}
    with pytest.raises(ValidationFailed) as caught:
        definition_clean(deep, brand=brand)
    # three levels of groups are allowed; the fourth is refused where it stands
    assert list(caught.value.fields) == ["conditions.0.conditions.0.conditions.0.conditions"]
    with pytest.raises(ValidationFailed) as caught:
        definition_clean({"match": "some", "conditions": "stage"}, brand=brand)
    assert set(caught.value.fields) == {"match", "conditions"}


def test_a_lots_window_that_starts_mid_day_counts_only_that_days_deals_from_its_start():
    """Windows count back from the moment the count is made, not from midnight: a trade an hour before
    the window opened, on the same day, is outside it, and one a minute after is in."""
    import datetime as dt

    brand = make_brand()
    early, late = make_client(brand=brand, language="en"), make_client(brand=brand, language="en")
    now = timezone.now().astimezone(dt.UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    start = now - dt.timedelta(days=30)
    trade(trading_account(early), "1", at=start - dt.timedelta(hours=1))
    trade(trading_account(early), "0.5", at=start + dt.timedelta(minutes=1))
    trade(trading_account(late), "1", at=start + dt.timedelta(minutes=1))

    def at_noon(condition: dict[str, Any]) -> list[int]:
        clean = definition_clean({"conditions": [condition]}, brand=brand)
        return definition_member_ids(clean, brand_id=brand.pk, now=now)

    assert at_noon({"fact": "lots", "op": "gte", "value": "1", "days": 30}) == [late.pk]
    assert at_noon({"fact": "lots", "op": "lt", "value": "1", "days": 30}) == [early.pk]
    assert at_noon({"fact": "trades", "op": "gte", "value": "2", "days": 31}) == [early.pk]
    assert at_noon({"fact": "trades", "op": "gte", "value": "1", "days": 30}) == sorted([early.pk, late.pk])
    with connection.cursor() as cursor:
        cursor.execute(LOTS_SQL.replace("now()", "%s").replace(">= 2", ">= 1"), [brand.pk, now])
        assert [row[0] for row in cursor.fetchall()] == [late.pk]
