"""Hostile text typed into every field of every form the CRM renders.

The forms are not listed here: the sweep GETs every page of the URL conf, as an administrator and as a
visitor, follows the links those pages show two steps further (so that pages about one client, lead or
server, which need a real code, are reached too), parses each POST form the pages render, and sends it
back with hostile text in every field a person can type into (hidden fields keep their values). A form
added later is swept the day it is added.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
from django.test import Client as HttpClient
from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, resolve

from crm.models import AuditLog, Brand
from tests.crm.test_hostile_text import (  # noqa: F401  (world: the fixture, shared)
    CONTROL,
    NOT_SWEPT,
    NUL,
    OVERLONG,
    _row_counts,
    page_paths,
    world,
)

pytestmark = pytest.mark.django_db

# Inputs a person does not type into; the form sends their values as rendered.
_KEPT_TYPES = {"hidden", "submit", "button", "reset", "image", "checkbox", "radio", "file"}


@dataclass
class Form:
    page: str
    action: str
    fields: dict[str, list[str]] = field(default_factory=dict)  # name -> values sent as rendered
    typed: list[str] = field(default_factory=list)  # fields a person types into

    def hostile(self, text: str) -> dict[str, list[str]]:
        data = {name: list(values) for name, values in self.fields.items() if name != "csrfmiddlewaretoken"}
        for name in self.typed:
            data[name] = [text]
        return data


class _FormParser(HTMLParser):
    def __init__(self, page: str) -> None:
        super().__init__()
        self.page = page
        self.forms: list[Form] = []
        self.links: set[str] = set()
        self._form: Form | None = None
        self._select: str | None = None
        self._select_first: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        for link in (a.get("href", "") if tag == "a" else "", a.get("hx-get", "")):
            if link.startswith("/"):
                self.links.add(link)
        if tag == "form":
            if a.get("method", "get").lower() == "post" or a.get("hx-post"):
                action = urljoin(self.page, a.get("hx-post") or a.get("action") or self.page)
                self._form = Form(page=self.page, action=urlsplit(action).path)
                self.forms.append(self._form)
        if self._form is None or not a.get("name"):
            return
        elif tag == "input":
            kind = a.get("type", "text").lower()
            if kind in {"checkbox", "radio"} and "checked" not in a:
                return
            if kind not in _KEPT_TYPES:
                self._form.typed.append(a["name"])
            elif kind not in {"submit", "button", "reset", "image", "file"}:
                self._form.fields.setdefault(a["name"], []).append(a.get("value", "on"))
        elif tag == "textarea":
            self._form.typed.append(a["name"])
        elif tag == "select":
            self._select, self._select_first = a["name"], None
        elif tag == "option" and self._select and self._select_first is None:
            self._select_first = a.get("value", "")
            self._form.fields.setdefault(self._select, []).append(self._select_first)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def _parse(page: str, html: str) -> _FormParser:
    parser = _FormParser(page)
    parser.feed(html)
    return parser


def _is_page(link: str) -> bool:
    path = urlsplit(link).path
    if path.startswith(("/api/", "/static/", "/media/")) or path in NOT_SWEPT:
        return False
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def _routes(patterns: list[Any], prefix: str = "") -> list[str]:
    out: list[str] = []
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            out += _routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            out.append(route)
    return out


def brand_pages() -> list[str]:
    """Pages addressed by a brand's code alone (the public lead form), for every brand: a made-up
    code is a 404 and shows no form."""
    codes = list(Brand.objects.values_list("code", flat=True))
    return sorted("/" + route.replace("<slug:brand_code>", code) for route in _routes(get_resolver().url_patterns)
                  if route.count("<") == 1 and "<slug:brand_code>" in route for code in codes)


def sweep_forms(http: HttpClient) -> list[Form]:
    """Every POST form on every page of the URL conf and on the pages they link to, one per
    (URL pattern, form action pattern, typed fields), so that a list of 2,000 clients is not 2,000 forms."""
    seen: set[tuple[str, tuple[str, ...]]] = set()
    linked: set[str] = set()
    forms: dict[tuple[Any, ...], Form] = {}

    def visit(link: str) -> None:
        # One page per URL pattern and tab: the profile of one client stands for all of them.
        key = (resolve(urlsplit(link).path).route, tuple(parse_qs(urlsplit(link).query).get("tab", [])))
        if key in seen:
            return
        response = http.get(link)
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            return  # a made-up code (404) does not stand for the real one a link leads to
        seen.add(key)
        parsed = _parse(urlsplit(link).path, response.content.decode())
        linked.update(p for p in parsed.links if _is_page(p))
        for form in parsed.forms:
            if form.typed and _is_page(form.action):
                forms.setdefault((resolve(form.action).route, tuple(sorted(form.typed))), form)

    for path in page_paths() + brand_pages():
        visit(path)
    visited: set[str] = set()
    for _depth in range(2):  # the list, a client's profile, the profile's tabs
        for link in sorted(linked - visited):
            visited.add(link)
            visit(link)
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
