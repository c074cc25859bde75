"""The pages of the CRM as a person reaches them, for the sweeps that must cover every page.

Nothing here lists pages by hand: the crawl GETs every path of the URL conf (each converter gets a
well-formed made-up value), then follows the links and htmx GETs those pages show, two steps further,
so that pages about one client, lead or server (which need a real code) are reached too. One page is
kept per URL pattern and tab: the profile of one client stands for all of them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

from django.http import HttpResponse
from django.test import Client as HttpClient
from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, resolve

from crm.models import Brand

# Paths the sweeps do not visit, each with why.
NOT_SWEPT = {
    "/logout/": "ends the session the sweep runs in",
}

# Inputs a person does not type into; a form sends their values as rendered.
_KEPT_TYPES = {"hidden", "submit", "button", "reset", "image", "checkbox", "radio", "file"}


def _walk(patterns: list[Any], prefix: str = "") -> list[str]:
    """Every concrete path of the URL conf: each converter gets a well-formed value."""
    out: list[str] = []
    for pattern in patterns:
        route = prefix + _route(pattern)
        if isinstance(pattern, URLResolver):
            out += _walk(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            out.append(route)
    return out


def _route(pattern: Any) -> str:
    text = str(pattern.pattern)
    if text.startswith("^"):  # a regex pattern (static files, media): not a page of ours
        return "\x00regex"
    return re.sub(r"<(?:(\w+):)?(\w+)>", lambda m: _sample(m.group(1)), text)


def _sample(converter: str | None) -> str:
    # line_key: a partner's commission line (ib.partner_urls), kind-source-beneficiary-rule digest.
    return {"uuid": str(uuid.uuid4()), "int": "1", "slug": "x", "path": "x",
            "line_key": "deal-1-1-0123456789"}.get(converter or "str", "x")


def page_paths() -> list[str]:
    paths = {"/" + p for p in _walk(get_resolver().url_patterns) if "\x00regex" not in p}
    return sorted(p for p in paths if not p.startswith("/api/") and p not in NOT_SWEPT)


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


def is_page(link: str) -> bool:
    path = urlsplit(link).path
    if path.startswith(("/api/", "/static/", "/media/")) or path in NOT_SWEPT:
        return False
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


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


class PageParser(HTMLParser):
    """The links and POST forms of one page."""

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


@dataclass
class Page:
    link: str
    response: HttpResponse
    parsed: PageParser


def crawl(http: HttpClient, depth: int = 2, *, skip: Mapping[str, str] | None = None) -> Iterator[Page]:
    """Every HTML page (200) `http` reaches: the URL conf's paths and the brands' public pages, then
    the pages they link to, `depth` steps further. `skip`: paths a sweep leaves out, each with why."""
    seen: set[tuple[str, tuple[str, ...]]] = set()
    linked: set[str] = set()

    def visit(link: str) -> Page | None:
        key = (resolve(urlsplit(link).path).route, tuple(parse_qs(urlsplit(link).query).get("tab", [])))
        if key in seen or urlsplit(link).path in (skip or {}):
            return None
        response = http.get(link)
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            return None  # a made-up code (404) does not stand for the real one a link leads to
        seen.add(key)
        parsed = PageParser(urlsplit(link).path)
        parsed.feed(response.content.decode())
        linked.update(p for p in parsed.links if is_page(p))
        return Page(link=link, response=response, parsed=parsed)

    for path in page_paths() + brand_pages():
        if page := visit(path):
            yield page
    visited: set[str] = set()
    for _step in range(depth):  # the list, a client's profile, the profile's tabs
        for link in sorted(linked - visited):
            visited.add(link)
            if page := visit(link):
                yield page
