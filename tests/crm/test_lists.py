"""The staff lists on the shared filters and tables (crm.views.ui.listing): what a user notices of filtering,
sorting and paging on the client list, the audit log and the automation run log, and what a bad
filter value gets (a message naming it, never a 500). The dealer's deals are in
tests/trading/test_pages_trading.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from automation.services import automation_rule_save
from crm import events
from crm.audit import audit_record
from crm.models import AccessEvent, AuditLog, Client, RoleCode, Stage
from crm.services import client_stage_change, client_update
from plumbing import context
from tests.crm.ui_fixtures import htmx_headers
from tests.factories import make_client, make_user

pytest_plugins = ["tests.crm.ui_fixtures"]
pytestmark = pytest.mark.django_db


def _names(html: str, names: list[str]) -> list[str]:
    """Which of `names` the page lists, in the order it lists them."""
    shown = [n for n in names if f"{n}</a>" in html]
    return sorted(shown, key=lambda n: html.index(f"{n}</a>"))


@pytest.fixture
def book(scene):
    owner = scene["owner"]
    make_client(actor=owner, first_name="Bruno", last_name="Alves", country="PT", stage=Stage.FUNDED, tags=["whale"])
    make_client(actor=owner, first_name="Chen", last_name="Zhao", country="SG", stage=Stage.FUNDED, language="zh")
    make_client(actor=owner, first_name="Dana", last_name="Meyer", country="DE", stage=Stage.LEAD)
    make_client(actor=scene["colleague"], first_name="Hidden", last_name="Colleaguebook", country="DE")
    return scene


NAMES = ["Haddad", "Alves", "Zhao", "Meyer", "Colleaguebook"]


# --- the client list ---------------------------------------------------------------------------------


def test_a_bad_filter_value_is_named_and_left_out_while_the_others_apply(client, book):
    client.force_login(book["owner"])
    response = client.get(reverse("client_list"), {"stage": "funded", "country": "Germany", "owner": "nobody"})
    assert response.status_code == 200
    html = response.content.decode()
    assert set(_names(html, NAMES)) == {"Alves", "Zhao"}
    assert "Country: Use a two-letter country code, e.g. GB. This filter is left out." in html
    assert "Owner: Select a valid choice." in html
    # An htmx swap replaces only the table: the message is inside it.
    partial = client.get(reverse("client_list"), {"country": "Germany"}, **htmx_headers()).content.decode()
    assert partial.lstrip().startswith('<div id="client-table"')
    assert "Country: Use a two-letter country code, e.g. GB." in partial


def test_an_owner_of_another_brand_is_not_offered_nor_accepted(client, book):
    client.force_login(book["manager"])
    html = client.get(reverse("client_list"), {"owner": str(book["outsider"].code)}).content.decode()
    assert "Otto Outsider" not in html.split('id="client-table"')[0]  # not among the owner choices
    assert "Owner: Select a valid choice." in html
    assert "Colleaguebook</a>" in html  # the rest of the desk's book still shows


def test_each_user_is_offered_only_their_own_brands_staff_whoever_asked_before(book):
    # The filter form's class is built once; the choices are each request's own.
    outsider_http, manager_http = HttpClient(), HttpClient()
    outsider_http.force_login(book["outsider"])
    manager_http.force_login(book["manager"])
    for _ in range(2):
        theirs = outsider_http.get(reverse("client_list")).content.decode().split('id="client-table"')[0]
        ours = manager_http.get(reverse("client_list")).content.decode().split('id="client-table"')[0]
        assert "Otto Outsider" in theirs and "Olivia Owner" not in theirs and "London sales" not in theirs
        assert "Olivia Owner" in ours and "Otto Outsider" not in ours and "Dubai sales" not in ours


def test_sorting_by_update_time_both_ways_and_the_header_keeps_the_filters(client, book, time_machine):
    time_machine.move_to(datetime(2031, 1, 1, 9, 0, tzinfo=UTC), tick=False)
    for name in ("Meyer", "Alves", "Zhao", "Haddad"):
        time_machine.shift(60)
        client_update(actor=book["owner"], client=Client.objects.get(last_name=name), language="fr")
    client.force_login(book["owner"])
    newest = client.get(reverse("client_list"), {"sort": "-updated"}).content.decode()
    assert _names(newest, NAMES) == ["Haddad", "Zhao", "Alves", "Meyer"]
    oldest = client.get(reverse("client_list"), {"sort": "updated"}).content.decode()
    assert _names(oldest, NAMES) == ["Meyer", "Alves", "Zhao", "Haddad"]
    assert 'aria-sort="ascending"' in oldest

    # The header links sort again (reversed for the sorted column), keep the filters, drop the page.
    page = client.get(reverse("client_list"), {"stage": "funded", "sort": "name", "page": "1"}).content.decode()
    assert 'href="?stage=funded&amp;sort=-name"' in page
    assert 'href="?stage=funded&amp;sort=-created"' in page  # dates sort newest first on a first click
    # Changing a filter keeps the sort: the filter form carries it.
    assert '<input type="hidden" name="sort" value="name">' in page


def test_an_unknown_sort_falls_back_to_newest_first(client, book):
    client.force_login(book["owner"])
    html = client.get(reverse("client_list"), {"sort": "password"}).content.decode()
    assert _names(html, NAMES) == ["Meyer", "Zhao", "Alves", "Haddad"]
    assert 'value="password"' not in html


def test_page_links_keep_the_filters_and_sort(client, scene):
    for i in range(55):
        make_client(actor=scene["owner"], first_name=f"Bulk{i:02d}", last_name="Row", country="DE")
    client.force_login(scene["owner"])
    html = client.get(reverse("client_list"), {"country": "DE", "sort": "name"}).content.decode()
    assert "1–50 of 55" in html
    assert 'href="?country=DE&amp;sort=name&amp;page=2"' in html and 'hx-get="?country=DE&amp;sort=name&amp;page=2"' in html
    second = client.get(reverse("client_list"), {"country": "DE", "sort": "name", "page": "2"},
                        **htmx_headers()).content.decode()
    assert second.count('<td class="col-name">') == 5 and "51–55 of 55" in second


def test_a_search_of_the_list_is_still_recorded_with_its_rows(client, book):
    client.force_login(book["owner"])
    client.get(reverse("client_list"), {"q": "zhao", "stage": "funded"})
    client.get(reverse("client_list"), {"stage": "funded"})  # no search text: not a search
    assert list(AccessEvent.objects.filter(kind="search").values_list("detail", "rows")) == [("clients: zhao", 1)]


# --- the audit log -----------------------------------------------------------------------------------


@pytest.fixture
def trail(scene, time_machine):
    time_machine.move_to(datetime(2030, 3, 1, 10, 0, tzinfo=UTC), tick=False)
    with context.acting_as(scene["owner"], source="web"):
        client_stage_change(actor=scene["owner"], client=scene["client"], stage="registered", reason="docs in")
    time_machine.move_to(datetime(2030, 3, 3, 10, 0, tzinfo=UTC), tick=False)
    audit_record(action="rate.set", object_type="wallet.rate", object_id="EURUSD", before={"rate": "1.0812"},
                 after={"rate": "1.0815"}, actor=scene["colleague"])
    return scene


@pytest.fixture
def auditor(client, login_verified, db):
    # All brands: the rows written here without an object (bulk.write) belong to no brand.
    login_verified(client, make_user(role_code=RoleCode.COMPLIANCE, all_brands=True))
    return client


def _audit_ids(html: str) -> set[int]:
    return {int(m) for m in re.findall(r'id="audit-(\d+)"', html)}


@pytest.mark.parametrize(("params", "message"), [
    ({"date_from": "yesterday"}, "From: Enter a valid date."),
    ({"date_from": "2030-03-03", "date_to": "2030-03-01"}, "To: The end date is before the start date."),
    ({"actor": "00000000-0000-4000-8000-000000000000"}, "Actor: Select a valid choice."),
    ({"action": "x" * 101}, "Action: Ensure this value has at most 100 characters (it has 101)."),
])
def test_a_bad_audit_filter_shows_nothing_and_says_why(auditor, trail, params, message):
    response = auditor.get(reverse("audit_list"), params, **htmx_headers())
    assert response.status_code == 200
    html = response.content.decode()
    assert message in html and "Nothing is listed until it is fixed." in html
    assert _audit_ids(html) == set()


def test_the_audit_log_filters_by_action_prefix_and_keeps_paging_with_the_filters(auditor, trail):
    for i in range(53):
        audit_record(action="bulk.write", object_id=str(i))
    html = auditor.get(reverse("audit_list"), {"action": "bulk."}).content.decode()
    assert len(_audit_ids(html)) == 50
    older = re.search(r'href="(\?[^"]*cursor=[^"]+)"', html).group(1).replace("&amp;", "&")
    assert older.startswith("?action=bulk.&cursor=")
    rest = auditor.get(reverse("audit_list") + older, **htmx_headers()).content.decode()
    assert len(_audit_ids(rest)) == 3
    assert 'href="?action=bulk."' in rest  # "Newest" goes back to the first page, filters kept
    nonsense = auditor.get(reverse("audit_list"), {"action": "bulk.", "cursor": "not-a-cursor"}).content.decode()
    assert _audit_ids(nonsense) == _audit_ids(html)  # a cursor it did not write starts from the top


def test_the_audit_filter_form_renders_in_our_field_markup(auditor, trail):
    html = auditor.get(reverse("audit_list"), {"date_from": "nope"}).content.decode()
    assert '<div class="field has-error"><label for="id_date_from">From</label>' in html
    assert '<input type="date" name="date_from" value="nope"' in html
    assert AuditLog.objects.filter(action="rate.set").exists()


# --- the automation run log ---------------------------------------------------------------------------


@pytest.fixture
def runs(scene):
    brand = scene["brand_a"]
    automation_rule_save(actor=None, brand=brand, name="Tag registered", trigger="client.stage_changed",
                         conditions=[], actions=[{"type": "add_tag", "tag": "registered"}])
    client_stage_change(actor=None, client=scene["client"], stage="registered")
    events.dispatch_pending()
    return scene


@pytest.fixture
def admin_http(client, login_verified, db):
    login_verified(client, make_user(role_code=RoleCode.ADMIN))
    return client


def test_a_bad_run_filter_shows_no_runs_and_names_the_filter(admin_http, runs):
    url = reverse("automation_run_list")
    assert "1 run" in admin_http.get(url).content.decode()
    for params, message in (({"status": "exploded"}, "Status: Select a valid choice."),
                            ({"rule": "not-a-rule"}, "Rule: Select a valid choice."),
                            ({"client": "0" * 40}, "Client code: No client has this code.")):
        response = admin_http.get(url, params, **htmx_headers())
        assert response.status_code == 200
        html = response.content.decode()
        assert message in html and "0 runs" in html, params


def test_the_run_log_filters_by_brand_and_status(admin_http, runs):
    url = reverse("automation_run_list")
    fired = admin_http.get(url, {"brand": runs["brand_a"].code, "status": "fired"}).content.decode()
    assert "1 run" in fired and "Tag registered" in fired
    other = admin_http.get(url, {"brand": runs["brand_b"].code}).content.decode()
    assert "0 runs" in other and "No runs match these filters" in other
