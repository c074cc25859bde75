"""Clients and notes through the API: scope for sessions (owner, colleague, outsider) and for keys."""

from __future__ import annotations

import pytest

from crm.models import AccessEvent, AccessKind, AuditLog, Client, Event, Note, RoleCode
from crm.services import client_share
from tests.crm.api_support import (
    API,
    KeyClient,
    assert_error,
    new_key,
    patch_json,
    post_json,
    session_client,
    world,
)
from tests.factories import make_client, make_user
from tests.writes import written

__all__ = ["world"]

pytestmark = pytest.mark.django_db


# --- sessions: owner, colleague, outsider ------------------------------------------------------


def test_owner_gets_their_client_with_contact_details_masked(world):
    client = world["client_a"]
    response = session_client(world["owner"]).get(f"{API}/clients/{client.code}")
    assert response.status_code == 200
    data = response.json()
    assert data["code"] == str(client.code)
    assert data["brand"] == "alpha"
    assert data["owner"] == str(world["owner"].code)
    assert data["contact_masked"] is True
    assert data["email"] == "a***@example.com"
    assert data["phone"] == "+44*******750"
    assert AccessEvent.objects.filter(user=world["owner"], client=client, kind=AccessKind.VIEW).count() == 1


@pytest.mark.parametrize("who", ["colleague", "outsider"])
def test_agent_cannot_get_a_client_outside_their_book(world, who):
    response = session_client(world[who]).get(f"{API}/clients/{world['client_a'].code}")
    assert_error(response, 404, "not_found")


def test_client_shared_with_a_colleague_becomes_visible_to_them(world):
    http = session_client(world["colleague"])
    path = f"{API}/clients/{world['client_a'].code}"
    assert_error(http.get(path), 404, "not_found")  # not theirs until shared
    client_share(actor=world["owner"], client=world["client_a"], user=world["colleague"])
    response = http.get(path)
    assert response.status_code == 200
    assert (response.json()["code"], response.json()["last_name"]) == (str(world["client_a"].code), "Haddad")


def test_owner_updates_their_client(world):
    client = world["client_a"]
    response = patch_json(session_client(world["owner"]), f"/clients/{client.code}",
                          {"last_name": "Haddad-Smith", "phone": "+33142685300", "tags": ["vip", "whale"]})
    assert response.status_code == 200, response.content
    client.refresh_from_db()
    assert (client.last_name, client.phone, client.tags) == ("Haddad-Smith", "+33142685300", ["vip", "whale"])
    assert response.json()["phone"] == "+33******300"
    event = Event.objects.get(name="client.updated", client=client)
    assert event.actor_id == world["owner"].pk
    assert event.data["fields"] == ["last_name", "phone", "tags"]


@pytest.mark.parametrize("who", ["colleague", "outsider"])
def test_agent_cannot_update_a_client_outside_their_book(world, who):
    client = world["client_a"]
    http = session_client(world[who])
    before = written()
    response = patch_json(http, f"/clients/{client.code}", {"last_name": "Hacked"})
    assert_error(response, 404, "not_found")
    client.refresh_from_db()
    assert client.last_name == "Haddad"
    assert written() == before


def test_session_list_shows_only_the_users_book(world):
    make_client(actor=world["colleague"], first_name="Cora")
    response = session_client(world["owner"]).get(f"{API}/clients")
    assert [c["code"] for c in response.json()["items"]] == [str(world["client_a"].code)]


def test_session_user_creates_a_client_of_their_brand_and_owns_it(world):
    response = post_json(session_client(world["owner"]), "/clients",
                         {"brand": "alpha", "first_name": "Nadia", "phone": "020 7183 8750", "country": "GB"})
    assert response.status_code == 201, response.content
    client = Client.objects.get(code=response.json()["code"])
    assert client.owner_id == world["owner"].pk
    assert client.phone == "+442071838750"


@pytest.mark.parametrize("brand", ["beta", "nope", None])
def test_session_user_cannot_create_a_client_outside_their_brands(world, brand):
    body = {"first_name": "Nadia"} | ({"brand": brand} if brand else {})
    response = post_json(session_client(world["owner"]), "/clients", body)
    assert "brand" in assert_error(response, 422, "invalid")["fields"]
    assert not Client.objects.filter(first_name="Nadia").exists()


def test_desk_manager_reassigns_a_desk_client(world):
    manager = make_user(role_code=RoleCode.DESK_MANAGER, desk=world["desk_a"])
    response = patch_json(session_client(manager), f"/clients/{world['client_a'].code}",
                          {"owner": str(world["colleague"].code), "reason": "Owner on leave"})
    assert response.status_code == 200, response.content
    assert response.json()["owner"] == str(world["colleague"].code)
    assert Event.objects.filter(name="client.assigned", client=world["client_a"]).exists()


def test_agent_may_not_reassign_their_own_client(world):
    before = written()
    response = patch_json(session_client(world["owner"]), f"/clients/{world['client_a'].code}",
                          {"owner": str(world["colleague"].code)})
    assert_error(response, 403, "forbidden")
    world["client_a"].refresh_from_db()
    assert world["client_a"].owner == world["owner"]
    assert written() == before  # no history row, no "client.assigned", no audit entry, no notification


# --- API keys: the brand is the scope ----------------------------------------------------------


def test_key_sees_every_client_of_its_brand_and_none_of_another(world):
    other_a = make_client(actor=world["colleague"], first_name="Cora")
    api = KeyClient(new_key(world["brand_a"]))
    codes = {c["code"] for c in api.get("/clients").json()["items"]}
    assert codes == {str(world["client_a"].code), str(other_a.code)}
    assert_error(api.get(f"/clients/{world['client_b'].code}"), 404, "not_found")


def test_key_cannot_change_or_annotate_another_brands_client(world):
    api = KeyClient(new_key(world["brand_a"]))
    code = world["client_b"].code
    before = written()
    assert_error(api.patch(f"/clients/{code}", {"last_name": "Hacked"}), 404, "not_found")
    assert_error(api.post(f"/clients/{code}/notes", {"body": "hello"}), 404, "not_found")
    assert_error(api.get(f"/clients/{code}/notes"), 404, "not_found")
    world["client_b"].refresh_from_db()
    assert world["client_b"].last_name == "Berg"
    assert not Note.objects.filter(client=world["client_b"]).exists()
    assert written() == before


def test_key_gets_contact_details_in_full(world):
    data = KeyClient(new_key(world["brand_a"])).get(f"/clients/{world['client_a'].code}").json()
    assert (data["email"], data["phone"], data["contact_masked"]) == (
        "amira.haddad@example.com", "+442071838750", False)


def test_key_creates_a_client_in_its_own_brand_only(world):
    api = KeyClient(new_key(world["brand_a"]))
    response = api.post("/clients", {"first_name": "Lena", "email": "LENA@Example.com", "country": "de",
                                     "phone": "030 901820", "utm_source": "google", "tags": ["Webinar"]})
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["brand"], data["email"], data["phone"], data["country"], data["tags"]) == (
        "alpha", "lena@example.com", "+4930901820", "DE", ["webinar"])
    assert data["owner"] is None
    body = assert_error(api.post("/clients", {"first_name": "Lena", "brand": "beta"}), 422, "invalid")
    assert list(body["fields"]) == ["brand"]


def test_key_assigns_an_owner_of_its_brand_but_not_of_another(world):
    api = KeyClient(new_key(world["brand_a"]))
    ok = api.post("/clients", {"first_name": "Lena", "owner": str(world["colleague"].code)})
    assert ok.status_code == 201, ok.content
    assert ok.json()["owner"] == str(world["colleague"].code)
    assert ok.json()["desk"] == str(world["desk_a"].code)
    bad = api.post("/clients", {"first_name": "Lena", "owner": str(world["outsider"].code)})
    assert list(assert_error(bad, 422, "invalid")["fields"]) == ["owner"]
    unknown = api.post("/clients", {"first_name": "Lena", "owner": "8c4f7ef6-0a43-4f5a-9d40-2f7b1d7f6a10"})
    assert list(assert_error(unknown, 422, "invalid")["fields"]) == ["owner"]


def test_patch_changes_only_the_fields_sent_all_or_nothing(world):
    client = world["client_a"]
    api = KeyClient(new_key(world["brand_a"]))
    before = AuditLog.objects.count()
    # A good field with a bad one: nothing is written.
    response = api.patch(f"/clients/{client.code}", {"last_name": "New", "stage": "funded", "country": "XX"})
    assert list(assert_error(response, 422, "invalid")["fields"]) == ["country"]
    client.refresh_from_db()
    assert (client.last_name, client.stage) == ("Haddad", "lead")
    assert AuditLog.objects.count() == before

    response = api.patch(f"/clients/{client.code}", {"stage": "registered", "email": None})
    assert response.status_code == 200, response.content
    client.refresh_from_db()
    assert (client.stage, client.email, client.first_name) == ("registered", "", "Amira")
    assert Event.objects.filter(name="client.stage_changed", client=client, data__to="registered").exists()


def test_an_api_key_cannot_make_a_client_funded(world):
    """Funded is proven by a first deposit: a key that sends it is refused by name, with nothing
    changed (not even the other fields of the request)."""
    client = world["client_a"]
    api = KeyClient(new_key(world["brand_a"]))
    before = AuditLog.objects.count()
    body = assert_error(api.patch(f"/clients/{client.code}", {"stage": "funded", "last_name": "New"}), 409,
                        "stage_refused")
    assert "from Lead to Funded" in body["message"] and "first deposit" in body["message"]
    assert list(body["fields"]) == ["stage"]
    client.refresh_from_db()
    assert (client.stage, client.last_name) == ("lead", "Haddad")
    assert AuditLog.objects.count() == before
    assert not Event.objects.filter(name="client.stage_changed", client=client).exists()
    created = api.post("/clients", {"first_name": "Rich", "stage": "funded"})
    assert assert_error(created, 409, "stage_refused")["fields"]["stage"]
    assert not Client.objects.filter(first_name="Rich").exists()


@pytest.mark.parametrize(("params", "expected"), [
    ({"stage": "funded"}, {"funded"}),
    ({"country": "DE"}, {"german"}),
    ({"tag": "vip"}, {"amira"}),
    ({"q": "hadd"}, {"amira"}),
    ({"q": "+44 20 7183 8750"}, {"amira"}),
    ({"q": "AMIRA.HADDAD@example.com"}, {"amira"}),
    ({"language": "de"}, {"german"}),
])
def test_key_list_filters(world, params, expected):
    api = KeyClient(new_key(world["brand_a"]))
    make_client(brand=world["brand_a"], first_name="German", country="DE", language="de")
    make_client(brand=world["brand_a"], first_name="Funded", stage="funded")  # through its proofs
    names = {c["first_name"].lower() for c in api.get("/clients", params).json()["items"]}
    assert names == expected


def test_a_filter_given_twice_is_refused_not_read_as_its_last_value(world):
    api = KeyClient(new_key(world["brand_a"]))
    make_client(brand=world["brand_a"], first_name="German", country="DE")
    body = assert_error(api.http.get(f"{API}/clients?country=FR&country=DE", **api.headers), 422)
    assert list(body["fields"]) == ["country"]
    assert api.get("/clients", {"country": "DE"}).status_code == 200


def test_list_filters_by_owner_desk_and_creation_time_for_keys_and_sessions(world):
    manager = make_user(role_code=RoleCode.DESK_MANAGER, desk=world["desk_a"])
    colleague_client = make_client(actor=world["colleague"], first_name="Cora")
    api = KeyClient(new_key(world["brand_a"]))
    for http_get in (api.get, lambda path, params: session_client(manager).get(f"{API}{path}", params)):
        by_owner = http_get("/clients", {"owner": str(world["colleague"].code)}).json()["items"]
        assert [c["code"] for c in by_owner] == [str(colleague_client.code)]
        by_desk = http_get("/clients", {"desk": str(world["desk_a"].code)}).json()["items"]
        assert len(by_desk) == 2
        after = colleague_client.created_at.isoformat()
        newer = http_get("/clients", {"created_after": after}).json()["items"]
        assert [c["code"] for c in newer] == [str(colleague_client.code)]
        older = http_get("/clients", {"created_before": after}).json()["items"]
        assert [c["code"] for c in older] == [str(world["client_a"].code)]


# --- notes ---------------------------------------------------------------------------------------


def test_key_adds_and_reads_notes_without_an_author(world):
    api = KeyClient(new_key(world["brand_a"]))
    code = world["client_a"].code
    created = api.post(f"/clients/{code}/notes", {"body": "Signed up for the webinar."})
    assert created.status_code == 201, created.content
    assert created.json()["author"] is None
    items = api.get(f"/clients/{code}/notes").json()["items"]
    assert [n["body"] for n in items] == ["Signed up for the webinar."]
    assert Event.objects.filter(name="note.added", client=world["client_a"], actor__isnull=True).exists()


def test_notes_follow_the_client_for_sessions(world):
    code = world["client_a"].code
    owner = session_client(world["owner"])
    assert post_json(owner, f"/clients/{code}/notes", {"body": "Call back Tuesday."}).status_code == 201
    items = owner.get(f"{API}/clients/{code}/notes").json()["items"]
    assert [(n["body"], n["author"]) for n in items] == [("Call back Tuesday.", str(world["owner"].code))]
    before = written()
    for who in ("colleague", "outsider"):
        http = session_client(world[who])
        assert_error(http.get(f"{API}/clients/{code}/notes"), 404, "not_found")
        assert_error(post_json(http, f"/clients/{code}/notes", {"body": "x"}), 404, "not_found")
    assert written() == before
    assert [n.body for n in Note.objects.filter(client=world["client_a"])] == ["Call back Tuesday."]


def test_blank_note_is_refused(world):
    api = KeyClient(new_key(world["brand_a"]))
    body = assert_error(api.post(f"/clients/{world['client_a'].code}/notes", {"body": "   "}), 422, "invalid")
    assert list(body["fields"]) == ["body"]
