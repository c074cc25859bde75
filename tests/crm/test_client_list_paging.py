"""The client list's pager: a row count capped for large scopes, pages read through their ids,
rows formatted in Python, English dates day-first."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse
from django.utils import translation
from django.utils.formats import date_format

from crm.lib.paginator import CappedPaginator
from crm.models import Client, Stage
from crm.selectors import client_list
from crm.views.ui.forms import PlainSelect
from tests.crm.ui_fixtures import htmx_headers
from tests.factories import make_client

pytest_plugins = ["tests.crm.ui_fixtures"]
pytestmark = pytest.mark.django_db


@pytest.fixture
def book(scene):
    """The owner's 12 clients (with the scene's own, 13), named so that name order is known."""
    for i in range(12):
        make_client(actor=scene["owner"], first_name=f"Row{i:02d}", last_name=f"Book{i:02d}", country="DE")
    return scene


def _rows(html):
    return html.count('<td class="col-name">')


def test_count_is_exact_below_the_cap(book):
    paginator = CappedPaginator(client_list(user=book["owner"]), 5, cap=20)
    assert paginator.count == 13
    assert not paginator.capped
    assert paginator.num_pages == 3


def test_count_stops_at_the_cap_and_says_so(book, django_assert_num_queries):
    paginator = CappedPaginator(client_list(user=book["owner"]), 5, cap=10)
    with django_assert_num_queries(1):
        assert paginator.count == 10
    assert paginator.capped
    assert paginator.num_pages == 2
    assert len(paginator.page(2).object_list) == 5
    assert not paginator.page(2).has_next()


def test_cap_is_rounded_down_to_whole_pages(book):
    paginator = CappedPaginator(client_list(user=book["owner"]), 5, cap=12)
    assert paginator.cap == 10 and paginator.count == 10 and paginator.capped


def test_count_query_reads_at_most_cap_plus_one_rows(book):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        assert CappedPaginator(client_list(user=book["owner"]), 5, cap=10).count == 10
    assert "LIMIT 11" in ctx.captured_queries[0]["sql"]


def test_the_list_counts_its_clients_without_the_names_its_rows_show(client, book):
    """The rows bring their brand's and owner's names along; the count reads the clients alone."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(book["owner"])
    with CaptureQueriesContext(connection) as ctx:
        html = client.get(reverse("client_list")).content.decode()
    counts = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("SELECT COUNT(*)")]
    assert len(counts) == 1
    assert '"crm_brand"' not in counts[0] and "full_name" not in counts[0]
    assert "13 clients" in html and _rows(html) == 13


@pytest.mark.parametrize("order", ["last_name", "-last_name", "-created_at", "created_at"])
def test_a_page_read_through_its_ids_has_the_same_rows_in_the_same_order(book, order):
    qs = client_list(user=book["owner"], order=order)
    expected = [c.pk for c in qs[4:8]]
    page = CappedPaginator(qs, 4).page(2)
    assert [c.pk for c in page.object_list] == expected
    reversed_qs = qs.reverse()
    expected_reversed = [c.pk for c in reversed_qs[4:8]]
    assert [c.pk for c in CappedPaginator(reversed_qs, 4).page(2).object_list] == expected_reversed


def test_a_page_brings_its_joined_rows_in_the_same_query(book, django_assert_num_queries):
    qs = client_list(user=book["owner"], order="last_name")
    paginator = CappedPaginator(qs, 4)
    paginator.count  # noqa: B018 - counted first, outside the assertion
    with django_assert_num_queries(1):
        rows = list(paginator.page(2).object_list)
        names = [(c.owner.full_name, c.brand.name, c.desk.name) for c in rows]
    assert len(names) == 4


def test_a_page_of_a_plain_list_is_a_slice():
    paginator = CappedPaginator(list(range(30)), 10, cap=20)
    assert paginator.count == 20 and paginator.capped
    assert list(paginator.page(2).object_list) == list(range(10, 20))


def test_list_page_says_ten_thousand_plus_past_the_cap(client, book, monkeypatch):
    from crm.views import clients as client_views

    monkeypatch.setattr(client_views, "CLIENT_PAGE_SIZE", 5)
    monkeypatch.setattr(client_views, "CLIENT_COUNT_CAP", 10)
    client.force_login(book["owner"])
    html = client.get(reverse("client_list")).content.decode()
    assert "10+ clients" in html
    assert "1–5 of 10+" in html
    last = client.get(f"{reverse('client_list')}?page=2").content.decode()
    assert _rows(last) == 5
    assert "Narrow the filters to see further clients." in last


def test_list_page_counts_exactly_below_the_cap(client, book):
    client.force_login(book["owner"])
    html = client.get(reverse("client_list")).content.decode()
    assert "13 clients" in html and "+ clients" not in html


def test_list_rows_show_masked_contacts_stage_owner_and_dates(client, scene):
    client.force_login(scene["owner"])
    c = scene["client"]
    Client.objects.filter(pk=c.pk).update(created_at=datetime(2031, 5, 4, 9, 30, tzinfo=UTC))
    html = client.get(f"{reverse('client_list')}?stage={Stage.LEAD}").content.decode()
    assert f'<a href="{reverse("client_detail", args=[c.code])}" dir="auto">Amira Haddad</a>' in html
    assert "a***@example.com" in html and "+44*******750" in html
    assert 'class="badge stage-lead">Lead</span>' in html
    assert "Olivia Owner" in html
    assert '<span class="badge tag">vip</span>' in html
    # English dates are day-first with a 24-hour clock (crm/formats/en).
    assert 'title="4 May 2031, 09:30">04/05/2031</td>' in html


def test_list_partial_query_count_stays_low(client, book, django_assert_max_num_queries):
    client.force_login(book["owner"])
    client.get(reverse("client_list"))
    with django_assert_max_num_queries(9):
        response = client.get(f"{reverse('client_list')}?page=1", **htmx_headers())
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert _rows(html) == 13 and "13 clients" in html


def test_english_formats_are_day_first_and_24_hour():
    moment = datetime(2031, 5, 4, 18, 5, tzinfo=UTC)
    with translation.override("en"):
        assert date_format(moment, "SHORT_DATE_FORMAT") == "04/05/2031"
        assert date_format(moment, "DATE_FORMAT") == "4 May 2031"
        assert date_format(moment, "DATETIME_FORMAT") == "4 May 2031, 18:05"
        assert date_format(moment, "SHORT_DATETIME_FORMAT") == "04/05/2031 18:05"


def test_day_first_dates_are_read_back_by_date_fields():
    from django import forms

    class Form(forms.Form):
        day = forms.DateField()

    with translation.override("en"):
        form = Form({"day": "04/05/2031"})
        assert form.is_valid()
        assert form.cleaned_data["day"].isoformat() == "2031-05-04"
        assert Form({"day": "2031-05-04"}).is_valid()


def test_plain_select_writes_the_markup_of_djangos_select_template():
    from django import forms

    choices = [("", "Any <stage>"), ("a", "A & b"), ('Group "x"', [("g1", "G1"), ("g2", "G2")]), (3, "three")]
    for value in ("", "a", "g2", 3, None):
        for attrs in (None, {"id": "id_x", "required": True, "disabled": False, "data-x": 'q"uote'}):
            expected = forms.Select(choices=choices).render("name", value, attrs)
            assert PlainSelect(choices=choices).render("name", value, attrs) == expected


def test_the_list_sorted_by_name_orders_a_shared_last_name_by_first_name(scene, client):
    # Created in the opposite order: the name sort, not the age, decides.
    for first in ("Zoe", "Mia", "Anna"):
        make_client(actor=scene["owner"], first_name=first, last_name="Haddad", country="GB")
    client.force_login(scene["owner"])
    html = client.get(reverse("client_list") + "?sort=name").content.decode()
    assert html.index("Amira Haddad") < html.index("Anna Haddad") < html.index("Mia Haddad") < html.index("Zoe Haddad")
    html = client.get(reverse("client_list") + "?sort=-name").content.decode()
    assert html.index("Zoe Haddad") < html.index("Mia Haddad") < html.index("Anna Haddad") < html.index("Amira Haddad")


def test_a_choice_field_read_by_columns_offers_values_and_labels_without_instances(scene, django_assert_num_queries):
    from crm.models import Brand
    from crm.views.ui.forms import ListedModelChoiceField

    class BrandByCode(ListedModelChoiceField):
        option_columns = ("code", "name")  # the value, then the label

    field = BrandByCode(Brand.objects.order_by("name"), to_field_name="code", empty_label="All brands")
    with django_assert_num_queries(1):
        choices = [choice for choice in field.choices]  # as a select reads them (no count first)
    assert choices == [("", "All brands"), (scene["brand_a"].code, "Alpha Markets"), (scene["brand_b"].code, "Beta FX")]
    assert field.clean(scene["brand_b"].code) == scene["brand_b"]
