"""Support's pages in the permission matrix, aimed at real objects: every support page (read from
the URL conf, so a page added later is walked the day it is added), for every role, against a
ticket, a desk and a canned answer of ANOTHER brand. Each answer is "not found" (or no page at all
for the role), never a page of the other brand's data, and nothing of it changes.

(tests/crm/test_permission_matrix.py walks the same pages with codes nobody has; this one aims at
objects that exist.)"""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from django.test import Client as HttpClient
from django.urls import URLPattern, URLResolver, get_resolver

from crm.models import RoleCode
from support import services
from support.models import AssignmentRule, CannedAnswer, SLAPolicy, Ticket, TicketMessage
from tests.factories import make_brand, make_user
from tests.support.desk_world import build_desk_world, open_ticket

pytestmark = pytest.mark.django_db

ROLES = [r for r in RoleCode.values if r != RoleCode.ADMIN]  # administrators see every brand


def support_routes() -> list[str]:
    out: list[str] = []

    def walk(patterns: list[object], prefix: str = "") -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)  # type: ignore[attr-defined]  # patterns and resolvers both have one
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and route.startswith("support/"):
                out.append(route)

    walk(get_resolver().url_patterns)
    return sorted(set(out))


def _state(world) -> str:
    rows = [
        list(Ticket.objects.filter(brand=world.brand).order_by("pk").values()),
        list(TicketMessage.objects.filter(ticket__brand=world.brand).order_by("pk").values("pk", "kind", "body_text")),
        list(SLAPolicy.objects.filter(desk=world.desk).order_by("pk").values()),
        list(AssignmentRule.objects.filter(desk=world.desk).order_by("pk").values()),
        list(CannedAnswer.objects.filter(brand=world.brand).order_by("pk").values()),
        list(type(world.desk).objects.filter(pk=world.desk.pk).values()),
    ]
    return hashlib.sha256(json.dumps(rows, default=str, sort_keys=True).encode()).hexdigest()


@pytest.fixture
def away():
    """The other brand's support: its desk, a ticket with a file, a canned answer."""
    world = build_desk_world(code="away", name="Away Markets")
    world.ticket = open_ticket(world)
    world.canned = services.canned_answer_save(actor=world.admin, brand=world.brand, language="en", title="Hi",
                                               body="Hello {first_name}")
    world.file_code = "00000000-0000-4000-8000-000000000000"
    return world


def _concrete(route: str, away) -> str:
    values = {"reference": away.ticket.reference, "pk": str(away.desk.pk), "code": away.file_code,
              "action": "note", "brand_code": away.brand.code, "month": "2026-11", "fmt": "csv"}
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values.get(m.group(1), "x"), route)


def test_the_walk_finds_supports_pages():
    routes = support_routes()
    assert "support/" in routes and "support/tickets/<str:reference>/<slug:action>/" in routes
    assert "support/desks/<int:pk>/" in routes


@pytest.mark.parametrize("role", ROLES)
def test_no_support_page_shows_or_changes_another_brands_support(away, role, login_verified):
    home = make_brand(code="home", name="Home Markets")
    user = make_user(role_code=role, brand=home)
    http = HttpClient()
    login_verified(http, user)
    before = _state(away)
    body = {"body": "probe", "status": "resolved", "assignee": str(user.code), "into": away.ticket.reference,
            "client": str(away.client.code), "priority": "urgent", "form": "policy", "first_response_minutes": 1,
            "resolution_minutes": 2, "name": "x", "code": "x", "brand": away.brand.pk, "title": "Hi",
            "language": "en", "time_zone": "UTC", "business_hours": '{"mon": [["09:00", "10:00"]]}'}
    for route in support_routes():
        path = _concrete(route, away)
        shown = http.get(path)
        assert shown.status_code < 500, (role, path, shown.status_code)
        if "<str:reference>" in route or "<int:pk>" in route:
            assert shown.status_code in {302, 403, 404, 405}, (role, path, shown.status_code)
        assert away.ticket.subject not in shown.content.decode(errors="ignore"), (role, path)
        posted = http.post(path, body)
        assert posted.status_code < 500, (role, path, posted.status_code)
        if "<str:reference>" in route or "<int:pk>" in route:
            assert posted.status_code in {302, 400, 403, 404, 405}, (role, path, posted.status_code)
    # The queue and the lists name nothing of the other brand.
    for path in ("/support/", "/support/desks/", "/support/canned-answers/"):
        assert away.ticket.reference not in http.get(path).content.decode(errors="ignore"), (role, path)
    assert _state(away) == before, role
