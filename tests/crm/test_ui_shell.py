"""The page shell: layout, navigation, language direction, the notification bell, the dashboard."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm.models import RoleCode, Stage
from crm.services import notification_send, task_create
from tests.crm.ui_fixtures import htmx_headers
from tests.factories import make_client, make_user

pytest_plugins = ["tests.crm.ui_fixtures"]
pytestmark = pytest.mark.django_db


def test_pages_need_a_login(client, scene):
    for name in ("home", "client_list", "task_list", "notification_list", "user_settings"):
        response = client.get(reverse(name))
        assert response.status_code == 302, name
        assert response["Location"].startswith(reverse("login")), name


def test_shell_has_search_bell_user_menu_and_navigation(client, scene):
    client.force_login(scene["owner"])
    html = client.get(reverse("client_list")).content.decode()
    assert 'hx-get="/search/"' in html
    assert 'id="notification-bell"' in html
    assert f'action="{reverse("logout")}"' in html
    assert reverse("user_settings") in html
    assert f'<a href="{reverse("client_list")}" aria-current="page">' in html
    assert f'<a href="{reverse("home")}" aria-current' not in html
    assert 'lang="en" dir="ltr"' in html
    assert "X-CSRFToken" in html
    assert "/static/vendor/htmx/htmx.min.js" in html
    assert "cdn" not in html.lower()


def test_agent_navigation_leaves_out_administration(client, scene):
    client.force_login(scene["owner"])
    html = client.get(reverse("home")).content.decode()
    assert "Clients" in html and "My tasks" in html
    assert "API keys" not in html


def test_arabic_user_gets_a_right_to_left_page(client, scene):
    client.force_login(scene["owner"])
    client.post(reverse("user_settings"), {"language": "ar", "timezone": "Asia/Dubai"})
    html = client.get(reverse("client_list")).content.decode()
    assert 'lang="ar" dir="rtl"' in html
    assert "العملاء" in html  # "Clients"


def test_bell_polls_in_the_background_every_15_seconds(client, scene):
    client.force_login(scene["owner"])
    html = client.get(reverse("home")).content.decode()
    bell = html[html.index('id="notification-bell"'):]
    bell = bell[: bell.index("</a>")]
    assert 'hx-trigger="every 15s"' in bell
    assert '"X-Background": "1"' in bell
    assert f'hx-get="{reverse("notification_badge")}"' in bell


def test_badge_shows_unread_count_and_newest_title(client, scene):
    notification_send(user=scene["owner"], kind="test", title="First")
    newest = notification_send(user=scene["owner"], kind="test", title="Deposit request waiting")
    client.force_login(scene["owner"])
    html = client.get(reverse("notification_badge"), HTTP_X_BACKGROUND="1", **htmx_headers()).content.decode()
    assert '<span class="bell-count num">2</span>' in html
    assert f'data-newest-id="{newest.pk}"' in html
    assert 'data-newest-title="Deposit request waiting"' in html
    assert "<html" not in html


def test_badge_without_unread_has_no_count(client, scene):
    client.force_login(scene["owner"])
    html = client.get(reverse("notification_badge")).content.decode()
    assert "bell-count" not in html
    assert 'data-newest-id="0"' in html


def test_background_poll_does_not_count_as_activity(client, scene):
    client.force_login(scene["owner"])
    client.get(reverse("home"))
    session = client.session
    session["crm_last_activity"] = "2000-01-01T00:00:00+00:00"
    session.save()
    # A poll long after the last action: it neither refreshes activity nor keeps the session alive.
    response = client.get(reverse("notification_badge"), HTTP_X_BACKGROUND="1", **htmx_headers())
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith(reverse("login"))


def test_background_poll_leaves_last_activity_alone(client, scene):
    client.force_login(scene["owner"])
    client.get(reverse("home"))
    before = client.session["crm_last_activity"]
    client.get(reverse("notification_badge"), HTTP_X_BACKGROUND="1", **htmx_headers())
    assert client.session["crm_last_activity"] == before


# --- dashboard ----------------------------------------------------------------------------------

def test_dashboard_counts_clients_in_scope_by_stage(client, scene):
    owner = scene["owner"]
    make_client(actor=owner, stage=Stage.FUNDED)
    make_client(actor=owner, stage=Stage.FUNDED)
    make_client(actor=scene["colleague"], stage=Stage.FUNDED)  # not the owner's
    client.force_login(owner)
    response = client.get(reverse("home"))
    stages = {s["stage"]: s["count"] for s in response.context["stages"]}
    assert stages[Stage.FUNDED] == 2
    assert stages[Stage.LEAD] == 1
    assert response.context["client_total"] == 3
    assert f'{reverse("client_list")}?stage=funded' in response.content.decode()


def test_dashboard_lists_tasks_due_today_and_overdue_but_not_later(client, scene):
    from datetime import timedelta

    from django.utils import timezone

    owner = scene["owner"]
    now = timezone.now()
    task_create(actor=owner, title="Late call", assignee=owner, due_at=now - timedelta(days=2))
    task_create(actor=owner, title="Next month call", assignee=owner, due_at=now + timedelta(days=30))
    client.force_login(owner)
    response = client.get(reverse("home"))
    html = response.content.decode()
    assert "Late call" in html
    assert "Next month call" not in html
    assert response.context["tasks_overdue_count"] == 1
    assert response.context["tasks_open_count"] == 2


def test_dashboard_shows_unread_notifications(client, scene):
    notification_send(user=scene["owner"], kind="test", title="Client assigned: Amira")
    client.force_login(scene["owner"])
    html = client.get(reverse("home")).content.decode()
    assert "Client assigned: Amira" in html


def test_dashboard_of_a_desk_manager_counts_the_desk(client, scene):
    make_client(actor=scene["colleague"], stage=Stage.ACTIVE)
    client.force_login(scene["manager"])
    response = client.get(reverse("home"))
    assert response.context["client_total"] == 2


def test_dealer_sees_no_reveal_but_gets_the_shell(client, scene):
    dealer = make_user(role_code=RoleCode.DEALER, brand=scene["brand_a"])
    client.force_login(dealer)
    home = client.get(reverse("home"))
    assert home.status_code == 200 and reverse("client_list") in home.content.decode()  # the navigation
    profile = client.get(reverse("client_detail", args=[scene["client"].code])).content.decode()
    assert "Amira Haddad" in profile
    assert reverse("client_reveal", args=[scene["client"].code]) not in profile
    assert "amira.haddad@example.com" not in profile and "a***@example.com" in profile
