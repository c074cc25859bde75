"""Hostile text typed into every field of every form the CRM renders.

The forms are not listed here: the sweep GETs every page of the URL conf, as an administrator and as a
visitor, follows the links those pages show two steps further (so that pages about one client, lead or
server, which need a real code, are reached too), parses each POST form the pages render, and sends it
back with hostile text in every field a person can type into (hidden fields keep their values). A form
added later is swept the day it is added.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client as HttpClient
from django.urls import resolve

from crm.models import AuditLog
from tests.crawl import Form, crawl, is_page
from tests.crm.test_hostile_text import (  # noqa: F401  (world: the fixture, shared)
    CONTROL,
    NUL,
    OVERLONG,
    _row_counts,
    world,
)

pytestmark = pytest.mark.django_db


def sweep_forms(http: HttpClient) -> list[Form]:
    """Every POST form on every page the crawl reaches, one per (URL pattern, form action pattern,
    typed fields), so that a list of 2,000 clients is not 2,000 forms."""
    forms: dict[tuple[Any, ...], Form] = {}
    for page in crawl(http):
        for form in page.parsed.forms:
            if form.typed and is_page(form.action):
                forms.setdefault((resolve(form.action).route, tuple(sorted(form.typed))), form)
    return list(forms.values())


@pytest.fixture
def swept(world, login_verified):  # noqa: F811  (world: the fixture imported above)
    """(client, form) for every form: those an administrator sees, and those a visitor sees (sign-in,
    the public lead form), each sent by the client that saw it."""
    # A 500 is answered, not raised, so that one run lists every form that fails.
    admin, visitor = HttpClient(raise_request_exception=False), HttpClient(raise_request_exception=False)
    login_verified(admin, world["admin"])
    return [(admin, form) for form in sweep_forms(admin)] + [(visitor, form) for form in sweep_forms(visitor)]


def test_nul_control_or_over_long_text_in_any_field_of_any_form_is_refused_and_nothing_is_written(swept):
    routes = {resolve(f.action).route for _http, f in swept}
    assert len(swept) > 15 and any("notes" in r for r in routes), routes  # the sweep reaches the client's forms
    assert "login/" in routes and "f/<slug:brand_code>/lead/" in routes  # and the visitor's
    wrong = []
    for http, form in swept:
        before = _row_counts()
        for label, text in (("NUL", NUL), ("control", CONTROL)):
            refused = http.post(form.action, form.hostile(text))
            html = refused.content.decode()
            if refused.status_code != 422 or any(f">{name}</bdi>" not in html for name in form.typed):
                wrong.append(f"{label} {form.action} (on {form.page}): {refused.status_code}, not refused by name")
        # Each form bounds its fields itself (a form error, or a message and a redirect); never a 500.
        response = http.post(form.action, form.hostile(OVERLONG))
        if response.status_code >= 500:
            wrong.append(f"over-long {form.action} (on {form.page}): {response.status_code}")
        # A failed sign-in is counted towards the lockout on purpose (axes' rows); nothing else is written.
        written = {k: v - before[k] for k, v in _row_counts().items() if before[k] != v and not k.startswith("axes_")}
        if written:
            wrong.append(f"{form.action} (on {form.page}) wrote {written}")
    assert not wrong, "\n".join(wrong)
    assert AuditLog.objects.filter(action="request.refused_text").count() >= len(swept)


def test_an_over_long_username_on_the_admin_sign_in_is_a_failed_attempt_not_a_500(db):
    from axes.models import AccessAttempt

    name = "x" * 300 + "@example.com"
    response = HttpClient(raise_request_exception=False).post("/admin/login/", {"username": name, "password": "x"})
    assert response.status_code == 200
    assert AccessAttempt.objects.get().username == name[:255]  # counted towards the lockout
