"""Global search and the client list: what matches, scope, and that the Client indexes are used."""

from __future__ import annotations

import pytest
from django.db import connection

from crm.models import RoleCode, Stage
from crm.selectors import client_list, client_search
from crm.services import client_stage_change, client_update
from tests.factories import make_brand, make_client, make_desk, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent():
    return make_user(role_code=RoleCode.SALES_AGENT, desk=make_desk())


@pytest.fixture
def john(agent):
    return make_client(actor=agent, first_name="John", last_name="Smith", email="john.smith@example.com",
                       phone="020 7183 8750", country="GB")


@pytest.fixture
def maria(agent):
    return make_client(actor=agent, first_name="Maria", last_name="Cruz Garcia", email="mcruz@example.org",
                       phone="+34 612 345 678", country="ES")


def _codes(results):
    return [c.code for c in results]


@pytest.mark.parametrize("q", ["John Smi", "john smith", "Smith John", "smi", "JOH", "  John   Smith "])
def test_search_by_name_words(agent, john, maria, q):
    assert _codes(client_search(user=agent, q=q)) == [john.code]


@pytest.mark.parametrize("q", ["Maria Cruz Ga", "cruz garc", "Cruz Garcia Maria"])
def test_search_by_multi_word_last_name(agent, john, maria, q):
    assert _codes(client_search(user=agent, q=q)) == [maria.code]


@pytest.mark.parametrize("q", ["john.smith@example.com", "JOHN.Smith@Example.COM", " john.smith@example.com "])
def test_search_by_a_whole_email_in_any_case(agent, john, maria, q):
    assert _codes(client_search(user=agent, q=q)) == [john.code]


@pytest.mark.parametrize("q", ["JOHN.SMITH@", "john.sm", "john.smith@example"])
def test_the_start_of_an_email_finds_nobody_the_emails_are_encrypted(agent, john, maria, q):
    assert client_search(user=agent, q=q) == []


@pytest.mark.parametrize("q", ["+44 20 7183 8750", "0044-20-7183-8750", "+44 (20) 7183 8750", "+442071838750",
                               "44 20 7183 8750"])
def test_search_by_a_whole_phone_number_with_its_country_code_in_any_format(agent, john, maria, q):
    assert _codes(client_search(user=agent, q=q)) == [john.code]


@pytest.mark.parametrize("q", ["8750", "183 8750", "020 7183 8750"])
def test_the_end_of_a_phone_number_finds_nobody_the_phones_are_encrypted(agent, john, maria, q):
    assert client_search(user=agent, q=q) == []


def test_search_by_full_code_and_by_code_prefix(agent, john, maria):
    assert _codes(client_search(user=agent, q=str(john.code))) == [john.code]
    assert _codes(client_search(user=agent, q=str(john.code)[:8].upper())) == [john.code]
    assert _codes(client_search(user=agent, q=str(john.code)[:13])) == [john.code]


def test_short_code_prefix_is_not_a_code_search(agent, john):
    assert client_search(user=agent, q=str(john.code)[:6]) == []


def test_search_needs_four_digits_for_a_phone(agent, john):
    assert client_search(user=agent, q="750") == []


def test_search_with_nothing_to_match_returns_nothing(agent, john):
    assert client_search(user=agent, q="   ") == []
    assert client_search(user=agent, q="nobody") == []


def test_search_is_scoped_to_what_the_user_may_see(agent, john, maria):
    colleague = make_user(role_code=RoleCode.SALES_AGENT, brand=john.brand)
    assert client_search(user=colleague, q="John") == []
    assert client_search(user=colleague, q=str(john.code)) == []
    assert client_search(user=colleague, q="+44 20 7183 8750") == []
    admin = make_user(role_code=RoleCode.ADMIN)
    assert _codes(client_search(user=admin, q="+44 20 7183 8750")) == [john.code]


def test_search_respects_the_limit(agent):
    for i in range(5):
        make_client(actor=agent, first_name="Ann", last_name=f"Lee{i}")
    assert len(client_search(user=agent, q="ann", limit=3)) == 3


def _bitmap_scans_only(cursor) -> None:
    """On a test's tiny table the planner may rather walk any index whole and filter. A bitmap
    scan needs a condition its index can answer, so with only bitmap scans allowed the plan
    shows which index serves the search."""
    for setting in ("enable_seqscan", "enable_indexscan", "enable_indexonlyscan"):
        cursor.execute(f"SET LOCAL {setting} = off")


@pytest.mark.parametrize(("q", "indexes"), [
    ("+44 20 7183 8750", ["client_phone_hash_idx"]),
    ("JOHN.SMITH@example.com", ["client_email_hash_idx"]),
    # A last name's start is a range of either index on lower(last_name) (the search dropdown's
    # client_name_search_idx leads with it).
    ("Smith", ["client_last_name_idx", "client_name_search_idx"]),
    ("John Smi", ["client_first_name_idx"]),
])
def test_search_uses_the_client_indexes(agent, john, q, indexes):
    admin = make_user(role_code=RoleCode.ADMIN)  # no scope subquery: the plan shows the search itself
    qs = client_list(user=admin, q=q)
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        _bitmap_scans_only(cursor)
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert any(index in plan for index in indexes), plan


def test_code_prefix_search_uses_the_unique_code_index(agent, john):
    admin = make_user(role_code=RoleCode.ADMIN)
    sql, params = client_list(user=admin, q=str(john.code)[:8]).query.sql_with_params()
    with connection.cursor() as cursor:
        _bitmap_scans_only(cursor)
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "crm_client_code_key" in plan


# --- client list ------------------------------------------------------------------------------

def test_client_list_filters(agent, john, maria):
    client_update(actor=agent, client=maria, tags=["VIP"], language="es")
    client_stage_change(actor=agent, client=john, stage=Stage.REGISTERED)
    assert _codes(client_list(user=agent, stage=Stage.REGISTERED)) == [john.code]
    assert _codes(client_list(user=agent, country="es")) == [maria.code]
    assert _codes(client_list(user=agent, tag="vip")) == [maria.code]
    assert _codes(client_list(user=agent, language="ES")) == [maria.code]
    assert _codes(client_list(user=agent, q="cruz")) == [maria.code]
    assert _codes(client_list(user=agent, owner=agent.code)) == _codes(client_list(user=agent))
    assert _codes(client_list(user=agent, brand=make_brand())) == []


def test_client_list_orders(agent, john, maria):
    assert _codes(client_list(user=agent, order="last_name")) == [maria.code, john.code]
    assert _codes(client_list(user=agent, order="-last_name")) == [john.code, maria.code]
    assert _codes(client_list(user=agent, order="-created_at")) == [maria.code, john.code]
    assert _codes(client_list(user=agent, order="password")) == [maria.code, john.code]
