"""The partner programme's API: partners, their referred clients, a month's commission lines (with the
stable key the partner pages use, paged without repeats across lines of one instant) and the
settlements, scoped per key's brand and per IB manager."""

from __future__ import annotations

from typing import Any

import pytest

from crm.models import RoleCode
from ib import commissions as cs
from ib import settlement as st
from ib.selectors import partner_lines
from tests.crm.api_support import API, KeyClient, assert_error, new_key, session_client
from tests.factories import make_brand, make_user
from tests.ib.engine_world import MARCH, add_client, make_world, round_trip, store, t

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> Any:
    """Master → Sub → Leaf; the Leaf's client closed three 1-lot trades at one instant on 4 March,
    March was computed and settled."""
    w = make_world()
    deals = []
    for _ in range(3):
        deals += round_trip(w.account, opened=t(4, 10), closed=t(4, 11))
    store(w, deals)
    w.run = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    st.commission_run_settle_post(actor=None, run=w.run)
    w.second_client = add_client(w, w.leaf)
    w.other = make_brand()
    w.manager = make_user(role_code=RoleCode.IB_MANAGER, brand=w.brand)
    w.other_manager = make_user(role_code=RoleCode.IB_MANAGER, brand=w.other)
    w.agent = make_user(role_code=RoleCode.SALES_AGENT, brand=w.brand)
    return w


def _key(world: Any, *scopes: str, brand: Any = None) -> KeyClient:
    return KeyClient(new_key(brand or world.brand, scopes=list(scopes)))


def _pages(api: KeyClient, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = api.get(path, {**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.content
        items += response.json()["items"]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return items


def test_partners_are_listed_for_the_keys_brand_with_filters(world):
    api = _key(world, "ib:read")
    listed = _pages(api, "/partners", limit=2)
    assert {p["display_name"] for p in listed} == {"Master", "Sub", "Leaf"}
    subs = api.get("/partners", {"parent": str(world.sub.code)}).json()["items"]
    assert [p["code"] for p in subs] == [str(world.leaf.code)]
    leaf = api.get(f"/partners/{world.leaf.code}").json()
    assert leaf["parent"] == str(world.sub.code) and leaf["kind"] == "ib"
    assert "status" in assert_error(api.get("/partners", {"status": "sleeping"}), 422, "invalid")["fields"]
    assert _key(world, "ib:read", brand=world.other).get("/partners").json()["items"] == []


def test_a_partner_is_404_for_another_brands_key_and_403_without_the_scope(world):
    for path in (f"/partners/{world.leaf.code}", f"/partners/{world.leaf.code}/clients",
                 f"/partners/{world.leaf.code}/settlements"):
        assert_error(_key(world, "ib:read", brand=world.other).get(path), 404, "not_found")
        assert_error(_key(world, "clients:read").get(path), 403, "missing_scope")


def test_staff_read_partners_as_ib_managers_of_their_brand(world, login_verified):
    path = f"{API}/partners/{world.leaf.code}"
    assert session_client(world.manager, login_verified).get(path).status_code == 200
    assert_error(session_client(world.other_manager, login_verified).get(path), 404, "not_found")
    assert_error(session_client(world.agent).get(path), 404, "not_found")
    assert session_client(world.agent).get(f"{API}/partners").json()["items"] == []


def test_a_partners_referred_clients_newest_first(world):
    items = _pages(_key(world, "ib:read"), f"/partners/{world.leaf.code}/clients", limit=1)
    assert [c["client"] for c in items] == [str(world.second_client.code), str(world.client.code)]
    assert _key(world, "ib:read").get(f"/partners/{world.master.code}/clients").json()["items"] == []


def test_commission_lines_of_a_month_page_across_lines_of_one_instant_with_their_stable_keys(world):
    api = _key(world, "ib:read")
    items = _pages(api, f"/partners/{world.leaf.code}/commission-lines", period="2024-03", limit=2)
    expected = {line.key for line in partner_lines(world.leaf)}
    assert len(items) == 3 and {i["key"] for i in items} == expected  # each line once over two pages
    line = items[0]
    assert line["amount"] == "5" and line["currency"] == "USD" and line["level"] == 0
    assert line["client"] == str(world.client.code) and line["login"] == world.account.login
    assert line["business_time"] == "2024-03-04T11:00:00+00:00" and line["payable"] is True
    assert api.get(f"/partners/{world.leaf.code}/commission-lines", {"period": "2024-02"}).json()["items"] == []
    for bad in ("March", "2024-13", "2999-01"):
        body = assert_error(api.get(f"/partners/{world.leaf.code}/commission-lines", {"period": bad}), 422)
        assert "period" in body["fields"], body
    assert "period" in assert_error(api.get(f"/partners/{world.leaf.code}/commission-lines"), 422)["fields"]


def test_settlements_list_what_was_paid_per_month_and_currency(world):
    items = _key(world, "ib:read").get(f"/partners/{world.leaf.code}/settlements").json()["items"]
    assert [(s["period"], s["currency"], s["amount"]) for s in items] == [("2024-03", "USD", "15")]
