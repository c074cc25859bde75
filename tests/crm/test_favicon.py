"""The site's icon: /favicon.ico (asked for by browsers and crawlers whatever a page links) leads
to the project's icon, and the staff, trader's room and partner pages link it."""

from __future__ import annotations

import pytest
from django.contrib.staticfiles import finders
from django.templatetags.static import static
from django.test import Client as HttpClient
from django.urls import reverse

pytestmark = pytest.mark.django_db

ICON = static("img/favicon.svg")


def test_favicon_ico_leads_anyone_to_the_projects_icon():
    response = HttpClient().get("/favicon.ico")
    assert response.status_code == 301 and response["Location"] == ICON
    assert finders.find("img/favicon.svg") is not None
    assert HttpClient().head("/favicon.ico").status_code == 301


def test_the_login_and_the_trader_rooms_pages_link_the_icon(settings):
    login = HttpClient().get(reverse("login")).content.decode()
    assert f'<link rel="icon" href="{ICON}"' in login
    from django.template.loader import render_to_string

    portal = render_to_string("portal/base.html", {})
    assert f'<link rel="icon" href="{ICON}"' in portal
