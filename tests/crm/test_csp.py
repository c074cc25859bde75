"""The Content-Security-Policy, on every page there is when the suite runs.

The pages are not listed here: the crawl (tests/crawl.py) reaches every page of the URL conf and the
pages they link to, as an administrator of the demo brokerage and as a visitor. Each must carry the
default policy of crm/lib/csp.py, or the one its view declares with `csp_exception`, which says why.
No template and no rendered page has inline script, inline style or event-handler attributes, which
the policy would block: a page that needs one must say so in the same way.
"""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client as HttpClient
from django.urls import get_resolver, resolve

from crm.lib import csp
from crm.models import RoleCode, User
from tests.crawl import crawl

pytestmark = pytest.mark.django_db

# What the default policy blocks, as it would appear in a template or a page.
INLINE = {
    "inline script": re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*\btype=[\"']application/json[\"'])[^>]*>", re.I),
    "style element": re.compile(r"<style\b", re.I),
    "style attribute": re.compile(r"<[a-z][^<>]*\sstyle\s*=", re.I),
    "event-handler attribute": re.compile(r"<[a-z][^<>]*\son[a-z]+\s*=", re.I),
    "htmx inline handler (hx-on)": re.compile(r"\shx-on[:-]", re.I),
    "javascript: URL": re.compile(r"=\s*[\"']\s*javascript:", re.I),
}
# Templates that are not pages, each with why.
NOT_PAGES = {
    "emails": "mail bodies: mail clients need inline styles; shown in the CRM only in the email preview's "
              "sandboxed frame, whose exception is declared on its view",
}


def inline_found(html: str) -> list[str]:
    return [f"{what}: {m.group(0)[:80]!r}" for what, rx in INLINE.items() for m in rx.finditer(html)]


def own_templates() -> list[Path]:
    root = Path(settings.BASE_DIR) / "templates"
    return sorted(p for p in root.rglob("*.html") if p.relative_to(root).parts[0] not in NOT_PAGES)


def test_no_template_has_inline_script_style_or_handlers():
    templates = own_templates()
    assert len(templates) > 80  # the crawl below covers pages; this covers partials and empty states
    wrong = {str(t.relative_to(settings.BASE_DIR)): found for t in templates if (found := inline_found(t.read_text()))}
    assert not wrong, wrong


def test_the_checks_find_what_the_policy_would_block():
    page = ('<script>alert(1)</script><style>p{}</style><p style="color:red" onclick="x()">'
            '<b hx-on:click="y()"><a href="javascript:z()">')
    assert len(inline_found(page)) == 6
    assert not inline_found('<script src="/static/js/app.js" defer></script>'
                            '<script type="application/json" id="d">{}</script><p class="onward" data-style="x">')


@pytest.fixture
def demo_admin(login_verified) -> HttpClient:
    call_command("seed_demo", clients=40, via_services=10, stdout=StringIO(), stderr=StringIO())
    admin = User.objects.filter(role__code=RoleCode.ADMIN, is_active=True).order_by("pk").first()
    http = HttpClient()
    login_verified(http, admin)
    return http


def test_every_page_carries_the_policy_or_names_its_exception(demo_admin):
    pages = list(crawl(demo_admin)) + list(crawl(HttpClient()))
    routes = {resolve(p.response.request["PATH_INFO"]).route for p in pages}
    # The crawl reaches the pages that draw charts, run htmx and are framed by other sites.
    assert len(pages) > 60 and {"leads/kpis/", "f/<slug:brand_code>/lead/", "login/"} <= routes, " ".join(sorted(routes))
    wrong = []
    for page in pages:
        view = csp.view_name(resolve(page.response.request["PATH_INFO"]).func)
        expected = csp.EXCEPTIONS[view].policy if view in csp.EXCEPTIONS else csp.DEFAULT
        header = page.response.get("Content-Security-Policy")
        if header != csp.header_value(expected):
            wrong.append(f"{page.link}: {header!r}")
        if found := inline_found(page.response.content.decode()):
            wrong.append(f"{page.link}: {found}")
    assert not wrong, "\n".join(wrong)


def test_the_default_policy_allows_nothing_inline_and_no_framing():
    header = csp.header_value(csp.DEFAULT)
    assert "script-src 'self';" in header and "style-src 'self';" in header
    assert "'unsafe-inline'" not in header and "'unsafe-eval'" not in header
    assert "frame-ancestors 'none'" in header and "object-src 'none'" in header


def test_each_exception_says_why_and_belongs_to_a_page_that_exists():
    views = {csp.view_name(p.callback) for p in _patterns(get_resolver().url_patterns)}
    assert csp.EXCEPTIONS, "the lead form and the email preview frame declare theirs"
    for name, exception in csp.EXCEPTIONS.items():
        assert name in views, f"{name} is in no URL pattern"
        assert len(exception.reason) > 20
    with pytest.raises(ValueError, match="must say why"):
        csp.csp_exception("  ")
    with pytest.raises(ValueError, match="unknown CSP directive"):
        csp.policy(scirpt_src=["'self'"])


def test_the_public_lead_form_may_be_framed_by_the_sites_configured():
    call_command("seed_demo", clients=5, via_services=5, stdout=StringIO(), stderr=StringIO())
    from crm.models import Brand

    brand = Brand.objects.order_by("pk").first()
    header = HttpClient().get(f"/f/{brand.code}/lead/")["Content-Security-Policy"]
    assert f"frame-ancestors {' '.join(settings.LEAD_FORM_FRAME_ANCESTORS)}" in header
    assert "script-src 'self'" in header and "'unsafe-inline'" not in header
    assert "frame-ancestors 'none'" in HttpClient().get("/login/")["Content-Security-Policy"]


def _patterns(patterns):
    from django.urls import URLPattern, URLResolver

    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _patterns(pattern.url_patterns)
        elif isinstance(pattern, URLPattern):
            yield pattern
