"""Every role's navigation against the pages it may open.

For each role a member of staff is logged in and every top-level page of the URL conf (a path with
no object in it) is requested: those that open (200) are the pages the role may open. Starting from
the dashboard, the links each reachable page shows are followed. Every page the role may open must
be reached that way, and every entry of its menu must open; a menu that hides a page, or offers
one that answers 403 or 404, fails here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client as HttpClient
from django.urls import get_resolver, resolve

from crm.models import RoleCode
from crm.navigation import nav_items_for
from crm.registry import NAVIGATION
from tests.crawl import NOT_SWEPT, PageParser, _routes
from tests.factories import make_brand, make_desk, make_user

pytestmark = pytest.mark.django_db

# Top-level pages that are not destinations of their own, each with why.
NOT_DESTINATIONS = {
    "/password/forgot/": "for people who cannot log in; linked from the login page",
    "/password/forgot/sent/": "the answer to a reset request",
    "/admin-tools/automation/rows/condition/": "a row the rule builder adds to its form (htmx)",
    "/login/": "the way in",
    "/two-factor/": "reached when logging in",
    "/admin-tools/email-templates/preview/": "a frame inside the template editor",
    "/django-rq/": "the queue console of the operations team (Django admin login), not a CRM page",
}


def top_level_pages() -> list[str]:
    """The URL conf's paths without a parameter (no client, lead or server in them)."""
    routes = {"/" + r for r in _routes(get_resolver().url_patterns)}
    return sorted(r for r in routes if "<" not in r and not r.startswith(("/api/", "/admin/", "/i18n/", "/f/", "/^"))
                  and "^" not in r and "$" not in r and r not in NOT_SWEPT and r not in NOT_DESTINATIONS)


def _opens(http: HttpClient, path: str) -> bool:
    response = http.get(path)
    return response.status_code == 200 and "html" in response.get("Content-Type", "")


def opened(http: HttpClient, paths: list[str]) -> dict[str, str]:
    """The HTML of each of `paths` that opens (200, an HTML page) for the session: the pages it may open."""
    pages = {}
    for path in paths:
        response = http.get(path)
        if response.status_code == 200 and "html" in response.get("Content-Type", ""):
            pages[path] = response.content.decode()
    return pages


def reachable(pages: dict[str, str]) -> set[str]:
    """The pages of `pages` (path: its HTML) reached from the dashboard by following links, page by page."""
    seen: set[str] = set()
    todo = ["/"]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        if path not in pages:
            continue
        parsed = PageParser(path)
        parsed.feed(pages[path])
        for link in parsed.links:
            target = urlsplit(link).path
            if target in pages and target not in seen:
                todo.append(target)
    return seen


@pytest.fixture
def person(login_verified, role: str) -> tuple[Any, HttpClient]:
    """A member of staff of the test's role, logged in (only that role's: each test sweeps one)."""
    brand = make_brand(name="Navigation Markets")
    desk = make_desk(brand=brand, name="Nav desk")
    user = make_user(role_code=role, desk=desk if role in {RoleCode.SALES_AGENT, RoleCode.RETENTION_AGENT,
                                                           RoleCode.DESK_MANAGER} else None,
                     brand=brand, full_name=f"Nav {role}")
    http = HttpClient()
    login_verified(http, user)
    return user, http


@pytest.mark.parametrize("role", list(RoleCode.values))
def test_every_page_a_role_may_open_is_reachable_and_every_menu_entry_opens_for_the_role_it_is_shown_to(
    person: tuple[Any, HttpClient], role: str,
) -> None:
    """One sweep of the role's pages for both (each page requested once, its HTML kept for the crawl
    and the menu): they were two tests requesting the same pages three times over."""
    from django.urls import reverse

    user, http = person
    pages = top_level_pages()
    may_open = opened(http, pages)
    assert "/" in may_open and "/clients/" in may_open
    reached = reachable(may_open)
    missing = sorted(set(may_open) - reached)
    assert not missing, f"{role} may open these pages but no link leads to them: {missing}"

    def opens(url: str) -> bool:  # a top-level page was requested above; any other is requested now
        return url in may_open if url in pages else _opens(http, url)

    items = nav_items_for(user)
    assert items, role
    shown = {item["key"] for item in items}
    for item in items:
        assert opens(item["url"]), f"{role} is shown {item['key']} ({item['url']}) but it does not open"
    # And the menu is the one the pages show.
    html = may_open["/"]
    for item in items:
        assert f'href="{item["url"]}"' in html
    hidden = [i for i in NAVIGATION if i.key not in shown]
    for hidden_item in hidden:
        url = reverse(hidden_item.url_name)
        assert not opens(url), f"{role} may open {url} but its menu entry {hidden_item.key} is hidden"


def test_the_menu_entries_name_pages_that_exist():
    from django.urls import reverse

    for item in NAVIGATION:
        resolve(reverse(item.url_name))
