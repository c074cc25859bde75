"""Notifications page: list, mark one / all read, open one."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm.models import Notification
from crm.services import notification_send
from tests.crm.ui_fixtures import htmx_headers

pytest_plugins = ["tests.crm.ui_fixtures"]
pytestmark = pytest.mark.django_db


@pytest.fixture
def inbox(scene):
    owner = scene["owner"]
    first = notification_send(user=owner, kind="test", title="Task reminder", body="Call Amira",
                              url=reverse("client_detail", args=[scene["client"].code]))
    second = notification_send(user=owner, kind="test", title="New client assigned")
    others = notification_send(user=scene["colleague"], kind="test", title="Colleague's notice")
    return {"first": first, "second": second, "others": others, **scene}


def test_list_shows_only_my_notifications(client, inbox):
    client.force_login(inbox["owner"])
    html = client.get(reverse("notification_list")).content.decode()
    assert "Task reminder" in html and "New client assigned" in html
    assert "Colleague's notice" not in html
    assert "Mark all as read" in html


def test_mark_one_read_over_htmx_updates_list_and_bell(client, inbox):
    client.force_login(inbox["owner"])
    html = client.post(reverse("notification_mark_read"), {"id": inbox["second"].pk}, **htmx_headers()).content.decode()
    assert Notification.objects.get(pk=inbox["second"].pk).read_at is not None
    assert Notification.objects.get(pk=inbox["first"].pk).read_at is None
    assert 'hx-swap-oob="true"' in html  # the bell refreshes too
    assert '<span class="bell-count num">1</span>' in html


def test_mark_all_read(client, inbox):
    client.force_login(inbox["owner"])
    response = client.post(reverse("notification_mark_read"))
    assert response.status_code == 302
    assert not Notification.objects.filter(user=inbox["owner"], read_at__isnull=True).exists()
    assert Notification.objects.get(pk=inbox["others"].pk).read_at is None


def test_cannot_mark_someone_elses_notification(client, inbox):
    client.force_login(inbox["owner"])
    client.post(reverse("notification_mark_read"), {"id": inbox["others"].pk})
    assert Notification.objects.get(pk=inbox["others"].pk).read_at is None


def test_opening_a_notification_marks_it_read_and_follows_its_link(client, inbox):
    client.force_login(inbox["owner"])
    response = client.post(reverse("notification_open", args=[inbox["first"].pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("client_detail", args=[inbox["client"].code])
    assert Notification.objects.get(pk=inbox["first"].pk).read_at is not None


def test_opening_someone_elses_notification_goes_nowhere(client, inbox):
    client.force_login(inbox["owner"])
    response = client.post(reverse("notification_open", args=[inbox["others"].pk]))
    assert response["Location"] == reverse("notification_list")
    assert Notification.objects.get(pk=inbox["others"].pk).read_at is None


def test_empty_inbox(client, scene):
    client.force_login(scene["manager"])
    html = client.get(reverse("notification_list")).content.decode()
    assert "No notifications" in html
