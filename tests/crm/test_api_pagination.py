"""Cursor pagination: every item exactly once, stable under ties and inserts; bad cursors refused."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
import time_machine

from crm.lib.pagination import CREATED_DESC, ID_ASC, InvalidCursor, decode_cursor, encode_cursor
from crm.models import Client, Event
from tests.crm.api_support import KeyClient, assert_error, new_key, world
from tests.factories import make_client

__all__ = ["world"]

pytestmark = pytest.mark.django_db


def walk(api: KeyClient, path: str, params: dict | None = None, *, limit: int) -> list[list[dict]]:
    pages: list[list[dict]] = []
    cursor = None
    while True:
        response = api.get(path, {**(params or {}), "limit": limit, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.content
        body = response.json()
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 100, "pagination does not end"


def test_walking_the_client_list_returns_every_client_once_newest_first(world):
    for n in range(9):
        make_client(brand=world["brand_a"], first_name=f"Walker{n}")
    api = KeyClient(new_key(world["brand_a"]))
    pages = walk(api, "/clients", limit=4)
    assert [len(p) for p in pages] == [4, 4, 2]
    codes = [c["code"] for page in pages for c in page]
    expected = list(Client.objects.filter(brand=world["brand_a"]).order_by("-created_at", "-id")
                    .values_list("code", flat=True))
    assert codes == [str(c) for c in expected]


def test_clients_created_in_the_same_instant_are_neither_skipped_nor_repeated(world):
    with time_machine.travel(datetime(2025, 3, 1, 12, 0, tzinfo=UTC), tick=False):
        made = {str(make_client(brand=world["brand_a"], first_name=f"Twin{n}").code) for n in range(7)}
    api = KeyClient(new_key(world["brand_a"]))
    codes = [c["code"] for page in walk(api, "/clients", {"q": "twin"}, limit=2) for c in page]
    assert len(codes) == len(set(codes)) == 7
    assert set(codes) == made


def test_clients_added_during_a_walk_do_not_disturb_it(world):
    for n in range(6):
        make_client(brand=world["brand_a"], first_name=f"Early{n}")
    api = KeyClient(new_key(world["brand_a"]))
    first = api.get("/clients", {"limit": 3}).json()
    make_client(brand=world["brand_a"], first_name="Latecomer")
    rest = walk_from(api, first["next_cursor"], limit=3)
    names = [c["first_name"] for c in first["items"] + rest]
    assert "Latecomer" not in names
    assert len(names) == len(set(names)) == 7  # six Early clients and Amira


def walk_from(api: KeyClient, cursor: str, *, limit: int) -> list[dict]:
    items: list[dict] = []
    while cursor:
        body = api.get("/clients", {"limit": limit, "cursor": cursor}).json()
        items += body["items"]
        cursor = body["next_cursor"]
    return items


def test_default_and_maximum_page_sizes(world):
    for n in range(55):
        make_client(brand=world["brand_a"], first_name=f"Many{n}")
    api = KeyClient(new_key(world["brand_a"]))
    body = api.get("/clients").json()
    assert len(body["items"]) == 50 and body["next_cursor"]
    assert len(api.get("/clients", {"limit": 200}).json()["items"]) == 56
    assert_error(api.get("/clients", {"limit": 201}), 422, "invalid")


def test_walking_the_event_feed_returns_every_event_once_in_id_order(world):
    for n in range(5):
        make_client(brand=world["brand_a"], first_name=f"Feed{n}")
    api = KeyClient(new_key(world["brand_a"]))
    ids = [e["id"] for page in walk(api, "/events", limit=2) for e in page]
    expected = list(Event.objects.filter(brand=world["brand_a"]).order_by("id").values_list("id", flat=True))
    assert ids == expected and len(ids) >= 6


def test_a_cursor_from_one_list_is_refused_by_another(world):
    make_client(brand=world["brand_a"], first_name="One")
    make_client(brand=world["brand_a"], first_name="Two")
    api = KeyClient(new_key(world["brand_a"]))
    event_cursor = api.get("/events", {"limit": 1}).json()["next_cursor"]
    assert_error(api.get("/clients", {"cursor": event_cursor}), 400, "invalid_cursor")


# --- the cursor codec ----------------------------------------------------------------------------


def _raw(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def test_cursor_round_trips_its_key_values():
    moment = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert decode_cursor(encode_cursor([moment, 42], CREATED_DESC), CREATED_DESC) == [moment, 42]
    assert decode_cursor(encode_cursor([7], ID_ASC), ID_ASC) == [7]


@pytest.mark.parametrize("cursor", [
    "", "!!!", "a" * 600, _raw([1]), _raw({"v": 2, "k": [1]}), _raw({"v": 1, "k": [1, 2]}),
    _raw({"v": 1, "k": [True]}), _raw({"v": 1, "k": ["7"]}), _raw({"v": 1, "k": [2**70]}),
    base64.urlsafe_b64encode(b"\xff\xfe").decode(),
])
def test_cursors_this_module_did_not_write_are_refused(cursor):
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor, ID_ASC)


@pytest.mark.parametrize("value", ["2025-01-01T00:00:00", "yesterday", 5])
def test_cursor_datetimes_must_be_aware_iso_strings(value):
    with pytest.raises(InvalidCursor):
        decode_cursor(_raw({"v": 1, "k": [value, 1]}), CREATED_DESC)


@pytest.mark.parametrize("path", ["/clients", "/events", "/tasks?status=all"])
def test_list_query_count_does_not_grow_with_the_page(world, path, django_assert_max_num_queries):
    from crm.services import task_create

    for n in range(25):
        client = make_client(brand=world["brand_a"], actor=world["owner"], first_name=f"Busy{n}")
        task_create(actor=world["owner"], title=f"Task {n}", assignee=world["owner"], client=client)
    api = KeyClient(new_key(world["brand_a"]))
    api.get("/clients")  # the key's first use records last_used_at
    path, _sep, query = path.partition("?")
    params = dict([query.split("=")]) if query else {}
    with django_assert_max_num_queries(3):  # the key, the page, and nothing per item
        response = api.get(path, {**params, "limit": 25})
    assert len(response.json()["items"]) == 25
