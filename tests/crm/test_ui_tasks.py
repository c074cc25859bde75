"""My tasks page: status filters, completing and reopening in place."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import Task
from crm.services import task_complete, task_create
from tests.crm.ui_fixtures import htmx_headers
from tests.writes import written

pytest_plugins = ["tests.crm.ui_fixtures"]
pytestmark = pytest.mark.django_db


@pytest.fixture
def tasks(scene):
    owner, now = scene["owner"], timezone.now()
    overdue = task_create(actor=owner, title="Overdue call", assignee=owner, client=scene["client"],
                          due_at=now - timedelta(hours=3))
    later = task_create(actor=owner, title="Later call", assignee=owner, due_at=now + timedelta(days=3))
    done = task_create(actor=owner, title="Finished call", assignee=owner)
    task_complete(actor=owner, task=done)
    not_mine = task_create(actor=scene["manager"], title="Manager's own", assignee=scene["manager"])
    return {"overdue": overdue, "later": later, "done": done, "not_mine": not_mine, **scene}


@pytest.mark.parametrize(
    ("status", "shown", "hidden"),
    [
        ("open", {"Overdue call", "Later call"}, {"Finished call", "Manager's own"}),
        ("overdue", {"Overdue call"}, {"Later call", "Finished call"}),
        ("done", {"Finished call"}, {"Overdue call", "Later call"}),
    ],
)
def test_status_filter(client, tasks, status, shown, hidden):
    client.force_login(tasks["owner"])
    html = client.get(f"{reverse('task_list')}?status={status}").content.decode()
    for title in shown:
        assert title in html
    for title in hidden:
        assert title not in html


def test_task_list_links_to_the_client_and_flags_overdue(client, tasks):
    client.force_login(tasks["owner"])
    html = client.get(reverse("task_list")).content.decode()
    assert reverse("client_detail", args=[tasks["client"].code]) in html
    assert "overdue" in html


def test_htmx_status_switch_returns_only_the_task_table(client, tasks):
    client.force_login(tasks["owner"])
    html = client.get(f"{reverse('task_list')}?status=done", **htmx_headers()).content.decode()
    assert "<html" not in html and html.lstrip().startswith('<div id="task-table"')


def test_complete_and_reopen_over_htmx_swap_the_row(client, tasks):
    client.force_login(tasks["owner"])
    task = tasks["later"]
    html = client.post(reverse("task_complete", args=[task.code]), {"view": "list"}, **htmx_headers()).content.decode()
    assert html.lstrip().startswith(f'<li class="task is-done" id="task-{task.code}"')
    assert Task.objects.get(pk=task.pk).done_at is not None
    html = client.post(reverse("task_reopen", args=[task.code]), {"view": "list"}, **htmx_headers()).content.decode()
    assert html.lstrip().startswith(f'<li class="task" id="task-{task.code}"')
    assert Task.objects.get(pk=task.pk).done_at is None


def test_complete_without_htmx_redirects_back(client, tasks):
    client.force_login(tasks["owner"])
    response = client.post(reverse("task_complete", args=[tasks["later"].code]), {"next": "/tasks/?status=open"})
    assert response.status_code == 302 and response["Location"] == "/tasks/?status=open"


def test_complete_ignores_an_outside_next_url(client, tasks):
    client.force_login(tasks["owner"])
    response = client.post(reverse("task_complete", args=[tasks["later"].code]), {"next": "https://evil.example/"})
    assert response["Location"] == reverse("task_list")


def test_outsider_cannot_complete_someone_elses_task(client, tasks):
    client.force_login(tasks["outsider"])
    before = written()
    response = client.post(reverse("task_complete", args=[tasks["overdue"].code]), **htmx_headers())
    assert response.status_code == 404
    assert Task.objects.get(pk=tasks["overdue"].pk).done_at is None
    assert written() == before


def test_colleague_cannot_complete_a_task_about_a_client_they_cannot_see(client, tasks):
    client.force_login(tasks["colleague"])
    before = written()
    response = client.post(reverse("task_complete", args=[tasks["overdue"].code]))
    assert response.status_code == 404
    tasks["overdue"].refresh_from_db()
    assert not tasks["overdue"].is_done
    assert written() == before


def test_task_toggle_needs_post(client, tasks):
    client.force_login(tasks["owner"])
    assert client.get(reverse("task_complete", args=[tasks["later"].code])).status_code == 405
