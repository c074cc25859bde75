"""User settings: language and time zone, applied at once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from crm.services import task_create

pytest_plugins = ["tests.crm.ui_fixtures"]
pytestmark = pytest.mark.django_db


def test_settings_page_offers_common_and_all_time_zones(client, scene):
    client.force_login(scene["owner"])
    html = client.get(reverse("user_settings")).content.decode()
    assert '<optgroup label="Common time zones">' in html
    assert '<optgroup label="All time zones">' in html
    assert 'value="Asia/Nicosia"' in html
    assert 'value="America/Argentina/Ushuaia"' in html  # from the full list


def test_saving_switches_language_at_once_and_stores_preferences(client, scene):
    client.force_login(scene["owner"])
    response = client.post(reverse("user_settings"), {"language": "ar", "timezone": "Asia/Dubai"}, follow=True)
    html = response.content.decode()
    assert 'dir="rtl"' in html
    assert "تم حفظ" in html  # the confirmation, already in Arabic
    scene["owner"].refresh_from_db()
    assert (scene["owner"].language, scene["owner"].timezone) == ("ar", "Asia/Dubai")


def test_the_saved_language_applies_at_the_next_sign_in(client, scene):
    owner = scene["owner"]
    client.force_login(owner)
    client.post(reverse("user_settings"), {"language": "ar", "timezone": "UTC"})
    client.post(reverse("logout"))
    owner.set_password("correct-horse-battery-9")
    owner.save(update_fields=["password"])
    # The browser asks for English; the sign-in itself is what brings the saved Arabic back.
    response = client.post(reverse("login"), {"username": owner.email, "password": "correct-horse-battery-9"},
                           HTTP_ACCEPT_LANGUAGE="en", follow=True)
    html = response.content.decode()
    assert response.redirect_chain and 'lang="ar"' in html and 'dir="rtl"' in html


def test_unknown_time_zone_is_rejected(client, scene):
    client.force_login(scene["owner"])
    response = client.post(reverse("user_settings"), {"language": "en", "timezone": "Mars/Olympus"})
    assert response.status_code == 200
    assert 'class="field has-error"' in response.content.decode()
    scene["owner"].refresh_from_db()
    assert scene["owner"].timezone == "UTC"


def test_dates_are_shown_in_the_users_time_zone(client, scene):
    owner = scene["owner"]
    due = datetime(2031, 1, 15, 22, 30, tzinfo=UTC)
    task_create(actor=owner, title="Late evening call", assignee=owner, due_at=due)
    client.force_login(owner)
    client.post(reverse("user_settings"), {"language": "en", "timezone": "Asia/Dubai"})
    html = client.get(reverse("task_list")).content.decode()
    assert 'datetime="2031-01-16T02:30:00+04:00"' in html


def test_two_factor_link_appears_when_the_setup_page_exists(client, scene):
    from django.urls import NoReverseMatch

    client.force_login(scene["owner"])
    html = client.get(reverse("user_settings")).content.decode()
    try:
        url = reverse("otp_setup")
    except NoReverseMatch:
        assert "Set up two-factor authentication" not in html
    else:
        assert f'href="{url}"' in html
