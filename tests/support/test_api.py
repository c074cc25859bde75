"""The support API: tickets within the caller's reach (a sales agent sees its own clients' tickets, a key
its brand's), the thread as the desk's page shows it (a compliance-sensitive ticket's notes never to a
sales role), opening, writing and moving tickets through the services (events, audit), bad input named
by field, and the idempotency key."""

from __future__ import annotations

from typing import Any

import pytest

from crm.models import AuditLog, Event
from support import services
from support.models import Ticket, TicketMessage
from tests.crm.api_support import API, KeyClient, assert_error, new_key, patch_json, post_json, session_client
from tests.factories import make_client
from tests.support.desk_world import build_desk_world, open_ticket

pytestmark = pytest.mark.django_db

PATH = "/support/tickets"


@pytest.fixture
def world(db):
    world = build_desk_world()
    world.ticket = open_ticket(world)
    world.theirs = make_client(brand=world.brand, first_name="Theo", last_name="Other", email="theo@helios.example.com",
                               owner=world.other_sales)
    world.their_ticket = open_ticket(world, client=world.theirs, subject="Spread on gold", category="trading")
    world.away = build_desk_world(code="away", name="Away Markets")
    world.away_ticket = open_ticket(world.away, subject="Away ticket")
    return world


def _key(world: Any, *scopes: str, brand: Any = None) -> KeyClient:
    return KeyClient(new_key(brand or world.brand, scopes=list(scopes), actor=world.admin))


def _refs(response: Any) -> set[str]:
    assert response.status_code == 200, response.content
    return {t["reference"] for t in response.json()["items"]}


# --- scope --------------------------------------------------------------------------------------------


def test_a_sales_agent_lists_and_opens_only_their_own_clients_tickets(world, login_verified):
    http = session_client(world.sales, login_verified)
    assert _refs(http.get(f"{API}{PATH}")) == {world.ticket.reference}
    assert http.get(f"{API}{PATH}/{world.ticket.reference}").status_code == 200
    # Another agent's client's ticket is missing for them, as one that does not exist.
    missing = assert_error(http.get(f"{API}{PATH}/{world.their_ticket.reference}"), 404, "ticket_unknown")
    assert missing == assert_error(http.get(f"{API}{PATH}/T999999"), 404, "ticket_unknown")
    assert_error(post_json(http, f"{PATH}/{world.their_ticket.reference}/messages", {"body": "x", "key": "k1"}), 404)
    assert_error(patch_json(http, f"{PATH}/{world.their_ticket.reference}", {"status": "on_hold"}), 404)
    world.their_ticket.refresh_from_db()
    assert world.their_ticket.status == "new"
    assert not TicketMessage.objects.filter(ticket=world.their_ticket, author=world.sales).exists()


def test_a_support_agent_sees_every_ticket_of_their_brand_and_none_of_another(world, login_verified):
    http = session_client(world.agent, login_verified)
    assert _refs(http.get(f"{API}{PATH}")) == {world.ticket.reference, world.their_ticket.reference}
    assert_error(http.get(f"{API}{PATH}/{world.away_ticket.reference}"), 404, "ticket_unknown")


def test_a_key_sees_its_brands_tickets_and_needs_the_scope(world):
    assert _refs(_key(world, "support:read").get(PATH)) == {world.ticket.reference, world.their_ticket.reference}
    assert_error(_key(world, "support:read").get(f"{PATH}/{world.away_ticket.reference}"), 404, "ticket_unknown")
    assert_error(_key(world, "clients:read").get(PATH), 403, "missing_scope")
    assert_error(_key(world, "support:read").post(PATH, {}), 403, "missing_scope")


def test_staff_without_the_desk_get_not_found(world, login_verified):
    from crm.models import RoleCode
    from tests.factories import make_user

    dealer = make_user(role_code=RoleCode.DEALER, brand=world.brand)  # no support.view_ticket
    http = session_client(dealer, login_verified)
    assert_error(http.get(f"{API}{PATH}"), 404, "not_found")
    assert_error(http.get(f"{API}{PATH}/{world.ticket.reference}"), 404)


# --- filters and pages --------------------------------------------------------------------------------


def test_filters_narrow_the_list_and_a_bad_value_is_named(world, login_verified):
    http = session_client(world.agent, login_verified)
    services.ticket_assign(ticket=world.ticket, assignee=world.agent, actor=world.admin)
    services.ticket_set_priority(ticket=world.their_ticket, priority="urgent", actor=world.admin)
    get = lambda **q: _refs(http.get(f"{API}{PATH}", q))  # noqa: E731
    assert get(assignee=str(world.agent.code)) == {world.ticket.reference}
    assert get(assignee="none") == {world.their_ticket.reference}
    assert get(priority="urgent") == {world.their_ticket.reference}
    assert get(client=str(world.theirs.code)) == {world.their_ticket.reference}
    assert get(desk="main") == {world.ticket.reference, world.their_ticket.reference}
    assert get(desk="elsewhere") == set()
    assert get(status="active", category="trading") == {world.their_ticket.reference}
    assert get(status="closed") == set()
    for name, value in (("status", "sleeping"), ("priority", "asap"), ("category", "gossip"),
                        ("assignee", "someone"), ("client", "not-a-code")):
        body = assert_error(http.get(f"{API}{PATH}", {name: value}), 422)
        assert name in body["fields"], (name, body)
    assert "colour" in assert_error(http.get(f"{API}{PATH}", {"colour": "red"}), 422)["fields"]


def test_the_list_pages_by_cursor_newest_first(world):
    for n in range(3):
        open_ticket(world, subject=f"Question {n}")
    key = _key(world, "support:read")
    first = key.get(PATH, {"limit": 2}).json()
    second = key.get(PATH, {"limit": 2, "cursor": first["next_cursor"]}).json()
    third = key.get(PATH, {"limit": 2, "cursor": second["next_cursor"]}).json()
    seen = [t["reference"] for page in (first, second, third) for t in page["items"]]
    assert len(seen) == len(set(seen)) == 5 and third["next_cursor"] is None
    assert seen == sorted(seen, reverse=True)  # references grow with time
    assert_error(key.get(PATH, {"cursor": "garbage"}), 400)


# --- the thread ---------------------------------------------------------------------------------------


def test_notes_of_a_compliance_matter_reach_compliance_never_sales(world, login_verified):
    services.ticket_mark_sensitive(ticket=world.ticket, sensitive=True, actor=world.officer)
    services.ticket_note(ticket=world.ticket, body="Client under AML case C-17: hold the answer", actor=world.officer)
    services.ticket_reply_staff(ticket=world.ticket, body="We are looking into it.", actor=world.agent)
    path = f"{API}{PATH}/{world.ticket.reference}"

    officer = session_client(world.officer, login_verified).get(path).json()
    assert "Client under AML case C-17: hold the answer" in [m["body"] for m in officer["messages"]]
    assert officer["notes_hidden"] == 0

    for user in (world.sales, world.agent):  # the sales floor and the desk: the thread with the client only
        shown = session_client(user, login_verified).get(path)
        assert shown.status_code == 200, shown.content
        assert "AML" not in shown.content.decode()
        assert shown.json()["notes_hidden"] == 1
        assert [m["kind"] for m in shown.json()["messages"]] == ["client_reply", "staff_reply"]

    keyed = _key(world, "support:read").get(f"{PATH}/{world.ticket.reference}")
    assert "AML" not in keyed.content.decode()
    assert [m["body"] for m in keyed.json()["messages"]] == [
        "I asked for 250 USD ten days ago and nothing has arrived.", "We are looking into it."]


def test_an_ordinary_tickets_notes_are_for_staff_not_for_keys(world, login_verified):
    services.ticket_note(ticket=world.ticket, body="Checked the PSP: pending", actor=world.agent)
    staff = session_client(world.sales, login_verified).get(f"{API}{PATH}/{world.ticket.reference}").json()
    assert "Checked the PSP: pending" in [m["body"] for m in staff["messages"]]
    keyed = _key(world, "support:read").get(f"{PATH}/{world.ticket.reference}").json()
    assert "internal_note" not in [m["kind"] for m in keyed["messages"]]


# --- opening ------------------------------------------------------------------------------------------


def test_a_key_opens_a_ticket_for_its_client_once_per_key(world):
    key = _key(world, "support:read", "support:write")
    body = {"client": str(world.client.code), "category": "deposit", "subject": "Card declined",
            "body": "My card was declined twice.", "key": "app-7731"}
    made = key.post(PATH, body)
    assert made.status_code == 201, made.content
    ticket = Ticket.objects.get(reference=made.json()["reference"])
    assert (ticket.client, ticket.channel, ticket.desk, ticket.status) == (world.client, "api", world.desk, "new")
    assert ticket.first_response_due is not None  # the SLA clock runs
    assert made.json()["messages"][0]["kind"] == "client_reply"
    assert Event.objects.filter(name="support.ticket.opened", client=world.client,
                                data__ticket=ticket.reference).count() == 1
    assert AuditLog.objects.filter(action="support.ticket_opened", object_id=ticket.reference).exists()

    again = key.post(PATH, body)
    assert again.status_code == 200 and again.json()["reference"] == ticket.reference
    assert Ticket.objects.filter(client=world.client, subject="Card declined").count() == 1
    assert Event.objects.filter(name="support.ticket.opened", data__ticket=ticket.reference).count() == 1


def test_opening_refuses_bad_input_naming_the_field(world, login_verified):
    key = _key(world, "support:write")
    good = {"client": str(world.client.code), "category": "deposit", "subject": "Card declined",
            "body": "Declined twice.", "key": "k"}
    for field, value in (("category", "gossip"), ("subject", ""), ("body", ""), ("client", "nope"),
                         ("subject", "x" * 201), ("key", "")):
        body = assert_error(key.post(PATH, {**good, field: value}), 422)
        assert field in body["fields"], (field, body)
    assert "client" in assert_error(key.post(PATH, {**good, "client": str(world.away.client.code)}), 422)["fields"]
    assert "priority" in assert_error(key.post(PATH, {**good, "priority": "urgent"}), 422)["fields"]
    assert "colour" in assert_error(key.post(PATH, {**good, "colour": "red"}), 422)["fields"]
    # A sales agent opens for their own client, not for a colleague's.
    http = session_client(world.sales, login_verified)
    assert "client" in assert_error(post_json(http, PATH, {**good, "client": str(world.theirs.code)}), 422)["fields"]
    assert not Ticket.objects.filter(subject="Card declined").exists()


def test_staff_open_a_ticket_on_the_clients_behalf_with_a_priority(world, login_verified):
    http = session_client(world.agent, login_verified)
    made = post_json(http, PATH, {"client": str(world.client.code), "category": "account", "subject": "Phone call",
                                  "body": "Client called: wants to change the email.", "priority": "high", "key": "c1"})
    assert made.status_code == 201, made.content
    assert made.json()["priority"] == "high" and made.json()["channel"] == "api"
    assert made.json()["messages"][0]["author"] == str(world.agent.code)


# --- writing ------------------------------------------------------------------------------------------


def test_an_agent_answers_and_the_ticket_waits_for_the_client(world, login_verified):
    http = session_client(world.agent, login_verified)
    path = f"{PATH}/{world.ticket.reference}/messages"
    answered = post_json(http, path, {"body": "The payment left on Monday.", "key": "a1"})
    assert answered.status_code == 201, answered.content
    assert answered.json()["kind"] == "staff_reply" and answered.json()["author"] == str(world.agent.code)
    world.ticket.refresh_from_db()
    assert world.ticket.status == "pending_client" and world.ticket.first_response_at is not None
    assert world.ticket.assignee == world.agent
    assert Event.objects.filter(name="support.ticket.answered", data__ticket=world.ticket.reference).count() == 1
    # The same key again: the first answer, nothing more written or mailed.
    again = post_json(http, path, {"body": "The payment left on Monday.", "key": "a1"})
    assert again.status_code == 200 and again.json()["id"] == answered.json()["id"]
    assert TicketMessage.objects.filter(ticket=world.ticket, kind="staff_reply").count() == 1
    assert Event.objects.filter(name="support.ticket.answered", data__ticket=world.ticket.reference).count() == 1
    # A note, then a bad status named.
    note = post_json(http, path, {"body": "Asked finance.", "internal": True, "key": "a2"})
    assert note.status_code == 201 and note.json()["kind"] == "internal_note"
    assert "status" in assert_error(post_json(http, path, {"body": "x", "status": "closed", "key": "a3"}), 422)["fields"]
    assert "body" in assert_error(post_json(http, path, {"body": "", "key": "a4"}), 422)["fields"]


def test_a_key_writes_the_clients_message_and_not_the_desks(world):
    services.ticket_reply_staff(ticket=world.ticket, body="Which card?", actor=world.agent)
    key = _key(world, "support:write")
    path = f"{PATH}/{world.ticket.reference}/messages"
    wrote = key.post(path, {"body": "The Visa ending 4242.", "key": "m1"})
    assert wrote.status_code == 201, wrote.content
    assert wrote.json()["kind"] == "client_reply" and wrote.json()["channel"] == "api"
    world.ticket.refresh_from_db()
    assert world.ticket.status == "open"
    assert "internal" in assert_error(key.post(path, {"body": "x", "internal": True, "key": "m2"}), 422)["fields"]
    assert_error(key.patch(f"{PATH}/{world.ticket.reference}", {"status": "on_hold"}), 403, "staff_only")


def test_a_reused_message_key_on_another_ticket_is_a_conflict(world, login_verified):
    http = session_client(world.agent, login_verified)
    assert post_json(http, f"{PATH}/{world.ticket.reference}/messages", {"body": "a", "key": "same"}).status_code == 201
    body = assert_error(post_json(http, f"{PATH}/{world.their_ticket.reference}/messages",
                                  {"body": "b", "key": "same"}), 409, "idempotency_key_reused")
    assert "key" in body["fields"]


def test_finance_reads_tickets_but_may_not_answer(world, login_verified):
    from crm.models import RoleCode
    from tests.factories import make_user

    finance = make_user(role_code=RoleCode.FINANCE, brand=world.brand)
    http = session_client(finance, login_verified)
    assert http.get(f"{API}{PATH}/{world.ticket.reference}").status_code == 200
    assert_error(post_json(http, f"{PATH}/{world.ticket.reference}/messages", {"body": "x", "key": "f"}), 403)
    assert_error(patch_json(http, f"{PATH}/{world.ticket.reference}", {"status": "on_hold"}), 403)


# --- moving -------------------------------------------------------------------------------------------


def test_staff_move_status_assignee_and_priority_through_the_lifecycle(world, login_verified):
    http = session_client(world.agent, login_verified)
    path = f"{PATH}/{world.ticket.reference}"
    moved = patch_json(http, path, {"status": "on_hold", "assignee": str(world.agent.code), "priority": "urgent"})
    assert moved.status_code == 200, moved.content
    assert (moved.json()["status"], moved.json()["assignee"], moved.json()["priority"]) == (
        "on_hold", str(world.agent.code), "urgent")
    assert AuditLog.objects.filter(action="support.ticket_assigned", object_id=world.ticket.reference).exists()
    assert patch_json(http, path, {"status": "on_hold"}).status_code == 200  # already so: nothing changes
    resolved = patch_json(http, path, {"status": "resolved"})
    assert resolved.json()["status"] == "resolved" and resolved.json()["resolved_at"] is not None
    assert Event.objects.filter(name="support.ticket.closed", data__ticket=world.ticket.reference).count() == 1
    reopened = patch_json(http, path, {"status": "open", "reason": "Client still waiting"})
    assert reopened.json()["status"] == "open" and reopened.json()["reopen_count"] == 1
    assert patch_json(http, path, {"assignee": None}).json()["assignee"] is None


def test_refused_moves_name_the_field_and_change_nothing(world, login_verified):
    http = session_client(world.agent, login_verified)
    path = f"{PATH}/{world.ticket.reference}"
    away_agent = world.away.agent
    body = assert_error(patch_json(http, path, {"status": "on_hold", "assignee": str(away_agent.code)}), 422)
    assert "assignee" in body["fields"]
    for field, value in (("status", "merged"), ("status", None), ("priority", "asap"), ("assignee", "nope")):
        body = assert_error(patch_json(http, path, {field: value}), 422)
        assert field in body["fields"], (field, body)
    world.ticket.refresh_from_db()
    assert (world.ticket.status, world.ticket.assignee) == ("new", None)
    services.ticket_close(ticket=world.ticket, actor=world.agent)
    body = assert_error(patch_json(http, path, {"status": "resolved"}), 409, "ticket_refused")
    assert "status" in body["fields"]
