"""Tasks and the event feed through the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import Event, RoleCode, Task
from crm.services import task_create
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


# --- tasks ---------------------------------------------------------------------------------------


def test_session_user_creates_a_task_for_themselves_and_lists_it(world):
    http = session_client(world["owner"])
    due = (timezone.now() + timedelta(days=1)).isoformat()
    response = post_json(http, "/tasks", {"title": "Call Amira", "client": str(world["client_a"].code), "due_at": due})
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["assignee"] == str(world["owner"].code)
    assert data["client"] == str(world["client_a"].code)
    assert [t["code"] for t in http.get(f"{API}/tasks").json()["items"]] == [data["code"]]


def test_session_task_list_is_the_users_own(world):
    task_create(actor=world["owner"], title="Mine", assignee=world["owner"])
    task_create(actor=world["colleague"], title="Theirs", assignee=world["colleague"])
    titles = [t["title"] for t in session_client(world["owner"]).get(f"{API}/tasks").json()["items"]]
    assert titles == ["Mine"]


@pytest.mark.parametrize("who", ["colleague", "outsider"])
def test_agent_cannot_open_or_complete_someone_elses_task(world, who):
    task = task_create(actor=world["owner"], title="Private", assignee=world["owner"], client=world["client_a"])
    http = session_client(world[who])
    before = written()
    assert_error(http.get(f"{API}/tasks/{task.code}"), 404, "not_found")
    assert_error(patch_json(http, f"/tasks/{task.code}", {"done": True}), 404, "not_found")
    task.refresh_from_db()
    assert task.done_at is None
    assert written() == before


def test_session_user_cannot_create_a_task_about_a_client_they_cannot_see(world):
    response = post_json(session_client(world["colleague"]), "/tasks",
                         {"title": "Snoop", "client": str(world["client_a"].code)})
    assert list(assert_error(response, 422, "invalid")["fields"]) == ["client"]


def test_completing_and_reopening_a_task(world):
    task = task_create(actor=world["owner"], title="Send docs", assignee=world["owner"])
    http = session_client(world["owner"])
    done = patch_json(http, f"/tasks/{task.code}", {"done": True})
    assert done.status_code == 200 and done.json()["is_done"] is True
    assert [t["code"] for t in http.get(f"{API}/tasks", {"status": "done"}).json()["items"]] == [str(task.code)]
    assert http.get(f"{API}/tasks").json()["items"] == []
    reopened = patch_json(http, f"/tasks/{task.code}", {"done": False})
    assert reopened.json()["is_done"] is False
    assert [e.name for e in Event.objects.filter(name__startswith="task.").order_by("id")] == [
        "task.created", "task.completed", "task.reopened"]


def test_key_lists_tasks_about_its_brands_clients_only(world):
    mine = task_create(actor=world["owner"], title="About A", assignee=world["owner"], client=world["client_a"])
    task_create(actor=world["outsider"], title="About B", assignee=world["outsider"], client=world["client_b"])
    task_create(actor=world["owner"], title="No client", assignee=world["owner"])
    api = KeyClient(new_key(world["brand_a"]))
    assert [t["code"] for t in api.get("/tasks", {"status": "all"}).json()["items"]] == [str(mine.code)]


def test_key_lists_overdue_tasks(world):
    late = task_create(actor=world["owner"], title="Late", assignee=world["owner"], client=world["client_a"],
                       due_at=timezone.now() - timedelta(hours=1))
    task_create(actor=world["owner"], title="Later", assignee=world["owner"], client=world["client_a"],
                due_at=timezone.now() + timedelta(hours=1))
    api = KeyClient(new_key(world["brand_a"]))
    assert [t["code"] for t in api.get("/tasks", {"status": "overdue"}).json()["items"]] == [str(late.code)]


def test_key_creates_a_task_for_a_staff_member_who_can_see_the_client(world):
    api = KeyClient(new_key(world["brand_a"]))
    code = str(world["client_a"].code)
    ok = api.post("/tasks", {"title": "Welcome call", "client": code, "assignee": str(world["owner"].code)})
    assert ok.status_code == 201, ok.content
    task = Task.objects.get(code=ok.json()["code"])
    assert task.created_by is None and task.assignee == world["owner"]
    blind = api.post("/tasks", {"title": "x", "client": code, "assignee": str(world["colleague"].code)})
    assert list(assert_error(blind, 422, "invalid")["fields"]) == ["assignee"]
    incomplete = api.post("/tasks", {"title": "x"})
    assert set(assert_error(incomplete, 422, "invalid")["fields"]) == {"client", "assignee"}
    foreign = api.post("/tasks", {"title": "x", "client": str(world["client_b"].code),
                                  "assignee": str(world["outsider"].code)})
    assert list(assert_error(foreign, 422, "invalid")["fields"]) == ["client"]


def test_key_cannot_touch_a_task_of_another_brand(world):
    task = task_create(actor=world["outsider"], title="B", assignee=world["outsider"], client=world["client_b"])
    api = KeyClient(new_key(world["brand_a"]))
    before = written()
    assert_error(api.get(f"/tasks/{task.code}"), 404, "not_found")
    assert_error(api.patch(f"/tasks/{task.code}", {"done": True}), 404, "not_found")
    task.refresh_from_db()
    assert task.done_at is None
    assert written() == before  # no "task.completed", no history row, no audit entry


def test_task_times_need_a_time_zone(world):
    response = post_json(session_client(world["owner"]), "/tasks", {"title": "x", "due_at": "2030-01-01T10:00:00"})
    assert list(assert_error(response, 422, "invalid")["fields"]) == ["due_at"]


def test_a_due_date_in_9999_is_422_in_words(world):
    response = post_json(session_client(world["owner"]), "/tasks", {"title": "x", "due_at": "9999-01-01T10:00:00Z"})
    body = assert_error(response, 422, "invalid")
    assert list(body["fields"]) == ["due_at"] and "five years" in body["fields"]["due_at"][0]


# --- the event feed -------------------------------------------------------------------------------


def test_key_reads_its_brands_events_only(world):
    api = KeyClient(new_key(world["brand_a"]))
    items = api.get("/events").json()["items"]
    assert {e["brand"] for e in items} == {"alpha"}
    assert {e["client"] for e in items if e["client"]} == {str(world["client_a"].code)}
    created = next(e for e in items if e["name"] == "client.created")
    assert created["actor"] == str(world["owner"].code)


def test_event_feed_filters_by_name_client_since_and_after_id(world):
    other = make_client(brand=world["brand_a"], first_name="Other")
    api = KeyClient(new_key(world["brand_a"]))
    api.patch(f"/clients/{other.code}", {"stage": "registered"})
    names = [e["name"] for e in api.get("/events", {"client": str(other.code)}).json()["items"]]
    assert names == ["client.created", "client.stage_changed"]
    stage_changes = api.get("/events", {"name": "client.stage_changed"}).json()["items"]
    assert [e["client"] for e in stage_changes] == [str(other.code)]
    last = stage_changes[-1]
    assert api.get("/events", {"after_id": last["id"]}).json()["items"] == []
    assert api.get("/events", {"since": last["occurred_at"]}).json()["items"][0]["id"] == last["id"]


def test_session_event_feed_follows_the_users_scope(world):
    owner_items = session_client(world["owner"]).get(f"{API}/events").json()["items"]
    assert {e["client"] for e in owner_items} == {str(world["client_a"].code)}
    assert session_client(world["colleague"]).get(f"{API}/events").json()["items"] == []


def test_administrator_session_reads_every_event(world, login_verified):
    admin = make_user(role_code=RoleCode.ADMIN)
    items = session_client(admin, login_verified).get(f"{API}/events", {"limit": 200}).json()["items"]
    assert {e["brand"] for e in items if e["brand"]} >= {"alpha", "beta"}


def test_events_carry_no_contact_details_in_clear(world):
    api = KeyClient(new_key(world["brand_a"]))
    api.patch(f"/clients/{world['client_a'].code}", {"email": "new.address@example.com"})
    body = api.get("/events", {"name": "client.updated"}).content.decode()
    assert "new.address@example.com" not in body and "amira.haddad@example.com" not in body


def test_patch_reschedules_a_task_and_rearms_its_reminder(world):
    now = timezone.now()
    task = task_create(actor=world["owner"], title="Call back", assignee=world["owner"], client=world["client_a"],
                       due_at=now + timedelta(hours=2), remind_at=now + timedelta(hours=1))
    Task.objects.filter(pk=task.pk).update(reminded_at=now)  # the old reminder already went out
    http = session_client(world["owner"])
    new_due, new_remind = now + timedelta(days=2), now + timedelta(days=1, hours=23)
    response = patch_json(http, f"/tasks/{task.code}", {"due_at": new_due.isoformat(),
                                                        "remind_at": new_remind.isoformat()})
    assert response.status_code == 200, response.content
    task.refresh_from_db()
    assert (task.due_at, task.remind_at, task.reminded_at) == (new_due, new_remind, None)
    assert Event.objects.filter(name="task.rescheduled", client=world["client_a"]).count() == 1


def test_patch_keeps_fields_it_does_not_name_and_null_clears_one(world):
    due = timezone.now() + timedelta(days=1)
    task = task_create(actor=world["owner"], title="Send docs", assignee=world["owner"], due_at=due,
                       remind_at=due - timedelta(hours=1))
    http = session_client(world["owner"])
    assert patch_json(http, f"/tasks/{task.code}", {"remind_at": None}).status_code == 200
    task.refresh_from_db()
    assert (task.due_at, task.remind_at) == (due, None)


def test_patch_refuses_a_reminder_after_the_due_time_naming_the_field(world):
    due = timezone.now() + timedelta(days=1)
    task = task_create(actor=world["owner"], title="Send docs", assignee=world["owner"], due_at=due)
    response = patch_json(http := session_client(world["owner"]), f"/tasks/{task.code}",
                          {"remind_at": (due + timedelta(hours=1)).isoformat()})
    assert_error(response, 422, "invalid")
    assert "remind_at" in response.json()["fields"]
    assert http.get(f"{API}/tasks/{task.code}").json()["due_at"] is not None
    task.refresh_from_db()
    assert task.remind_at is None
