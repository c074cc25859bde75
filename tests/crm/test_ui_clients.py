"""Client list and profile pages: scope, filters, sorting, htmx partials, reveal, notes, tasks."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm.models import AccessEvent, AccessKind, AuditLog, Note, RoleCode, Stage, Task
from crm.services import client_stage_change, note_add, task_create
from tests.crm.ui_fixtures import htmx_headers
from tests.factories import make_client, make_user
from tests.writes import written

pytest_plugins = ["tests.crm.ui_fixtures"]
pytestmark = pytest.mark.django_db


def _detail(client_obj, **query):
    url = reverse("client_detail", args=[client_obj.code])
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return url


# --- profile: the owner / colleague / outsider trio ------------------------------------------------

def test_owner_opens_their_clients_profile(client, scene):
    client.force_login(scene["owner"])
    response = client.get(_detail(scene["client"]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Amira Haddad" in html
    assert "amira.haddad@example.com" not in html  # masked until revealed
    assert "a***@example.com" in html
    assert "+44*******750" in html


def test_agent_cannot_open_colleagues_client(client, scene):
    client.force_login(scene["colleague"])
    assert client.get(_detail(scene["client"])).status_code == 404


def test_outsider_gets_404_for_client_of_another_brand(client, scene):
    client.force_login(scene["outsider"])
    assert client.get(_detail(scene["client"])).status_code == 404


def test_desk_manager_opens_a_client_of_their_desk(client, scene):
    client.force_login(scene["manager"])
    response = client.get(_detail(scene["client"]))
    assert response.status_code == 200 and "<h1 dir=\"auto\">Amira Haddad</h1>" in response.content.decode()


def test_unknown_client_code_is_404(client, scene):
    client.force_login(scene["owner"])
    assert client.get(reverse("client_detail", args=["00000000-0000-0000-0000-000000000000"])).status_code == 404


def test_full_profile_view_is_recorded_but_tab_swaps_are_not(client, scene):
    client.force_login(scene["owner"])
    views = AccessEvent.objects.filter(user=scene["owner"], client=scene["client"], kind=AccessKind.VIEW)
    client.get(_detail(scene["client"]))
    assert views.count() == 1
    client.get(_detail(scene["client"], tab="notes"), **htmx_headers())
    client.get(_detail(scene["client"], tab="timeline"), **htmx_headers())
    assert views.count() == 1
    client.get(_detail(scene["client"], tab="notes"))  # a direct link is a full page view
    assert views.count() == 2


def test_profile_shows_attribution_and_local_time(client, scene):
    client.force_login(scene["owner"])
    html = client.get(_detail(scene["client"])).content.decode()
    assert "landing" in html and "spring" in html and "google" in html
    assert "Europe/London" in html
    assert "\U0001F1EC\U0001F1E7" in html  # flag of GB


# --- tabs ----------------------------------------------------------------------------------------

def test_tab_request_over_htmx_returns_only_the_tab_partial(client, scene):
    note_add(actor=scene["owner"], client=scene["client"], body="Prefers calls after 5pm")
    client.force_login(scene["owner"])
    response = client.get(_detail(scene["client"], tab="notes"), **htmx_headers())
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert 'id="client-tabs"' in html
    assert "Prefers calls after 5pm" in html
    assert "Amira Haddad</h1>" not in html  # the header is not part of the swap
    assert "HX-Request" in response["Vary"]


def test_direct_link_to_a_tab_renders_the_whole_page_with_that_tab(client, scene):
    note_add(actor=scene["owner"], client=scene["client"], body="Prefers calls after 5pm")
    client.force_login(scene["owner"])
    html = client.get(_detail(scene["client"], tab="notes")).content.decode()
    assert "<html" in html
    assert "Prefers calls after 5pm" in html
    assert 'id="tab-notes" href' in html and 'aria-selected="true"' in html


def test_history_restore_request_gets_the_full_page(client, scene):
    client.force_login(scene["owner"])
    html = client.get(_detail(scene["client"], tab="notes"),
                      **htmx_headers(hx_history_restore_request="true")).content.decode()
    assert "<html" in html


def test_unknown_tab_falls_back_to_overview(client, scene):
    client.force_login(scene["owner"])
    html = client.get(_detail(scene["client"], tab="nope")).content.decode()
    assert "Attribution" in html


def test_timeline_lists_events_with_labels_and_pages_back(client, scene):
    for _ in range(35):
        note_add(actor=scene["owner"], client=scene["client"], body="call attempt")
    client_stage_change(actor=scene["owner"], client=scene["client"], stage=Stage.REGISTERED)
    client.force_login(scene["owner"])
    html = client.get(_detail(scene["client"], tab="timeline"), **htmx_headers()).content.decode()
    assert "Stage changed" in html
    assert "Lead → Registered" in html
    assert html.count('class="t-icon"') == 30
    assert "Load more" in html
    before = html.split("before=")[1].split('"')[0]
    more = client.get(_detail(scene["client"], tab="timeline", before=before), **htmx_headers()).content.decode()
    assert 'id="client-tabs"' not in more  # only the next items
    # 36 note/stage events + "client.created" = 37 in all; 30 shown first, the remaining 7 now.
    assert more.count('class="t-icon"') == 7
    assert "Load more" not in more
    assert "Client created" in more


# --- reveal --------------------------------------------------------------------------------------

def test_owner_reveals_phone_and_it_is_recorded(client, scene):
    client.force_login(scene["owner"])
    response = client.post(reverse("client_reveal", args=[scene["client"].code]), {"field": "phone"},
                           **htmx_headers())
    html = response.content.decode()
    assert response.status_code == 200
    assert 'href="tel:+442071838750"' in html
    assert AccessEvent.objects.filter(user=scene["owner"], client=scene["client"],
                                      kind=AccessKind.REVEAL_PHONE).count() == 1
    assert AuditLog.objects.filter(action="client.reveal_contact", object_id__isnull=False).exists()


def test_owner_reveals_email_as_mailto_link(client, scene):
    client.force_login(scene["owner"])
    html = client.post(reverse("client_reveal", args=[scene["client"].code]), {"field": "email"},
                       **htmx_headers()).content.decode()
    assert 'href="mailto:amira.haddad@example.com"' in html
    assert AccessEvent.objects.filter(kind=AccessKind.REVEAL_EMAIL, client=scene["client"]).count() == 1


def test_outsider_cannot_reveal_and_nothing_is_recorded(client, scene):
    client.force_login(scene["outsider"])
    response = client.post(reverse("client_reveal", args=[scene["client"].code]), {"field": "phone"})
    assert response.status_code == 404
    assert not AccessEvent.objects.filter(kind=AccessKind.REVEAL_PHONE).exists()


def test_colleague_cannot_reveal_a_client_outside_their_book(client, scene):
    client.force_login(scene["colleague"])
    before = written()
    response = client.post(reverse("client_reveal", args=[scene["client"].code]), {"field": "email"})
    assert response.status_code == 404
    assert "amira.haddad@example.com" not in response.content.decode()
    assert written() == before  # no reveal recorded, no audit entry


def test_user_without_reveal_permission_sees_no_reveal_button_and_is_refused(client, scene):
    client.force_login(scene["ib_manager"])
    html = client.get(_detail(scene["client"])).content.decode()
    assert "Amira Haddad" in html
    assert reverse("client_reveal", args=[scene["client"].code]) not in html
    response = client.post(reverse("client_reveal", args=[scene["client"].code]), {"field": "phone"})
    assert response.status_code == 403
    assert not AccessEvent.objects.filter(kind=AccessKind.REVEAL_PHONE).exists()


def test_owner_sees_reveal_buttons(client, scene):
    client.force_login(scene["owner"])
    html = client.get(_detail(scene["client"])).content.decode()
    assert html.count(reverse("client_reveal", args=[scene["client"].code])) == 4  # action + hx-post, twice


def test_reveal_rejects_other_fields(client, scene):
    client.force_login(scene["owner"])
    response = client.post(reverse("client_reveal", args=[scene["client"].code]), {"field": "date_of_birth"})
    assert response.status_code == 400


def test_reveal_needs_post(client, scene):
    client.force_login(scene["owner"])
    assert client.get(reverse("client_reveal", args=[scene["client"].code]) + "?field=phone").status_code == 405


# --- notes ----------------------------------------------------------------------------------------

def test_owner_adds_a_note_over_htmx(client, scene):
    client.force_login(scene["owner"])
    response = client.post(reverse("client_note_add", args=[scene["client"].code]),
                           {"body": "  Asked for the Arabic brochure  "}, **htmx_headers())
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert "Asked for the Arabic brochure" in html
    assert Note.objects.get(client=scene["client"]).body == "Asked for the Arabic brochure"


def test_blank_note_shows_an_inline_error_and_writes_nothing(client, scene):
    client.force_login(scene["owner"])
    html = client.post(reverse("client_note_add", args=[scene["client"].code]), {"body": "   "},
                       **htmx_headers()).content.decode()
    assert "Write something first." in html
    assert 'class="field has-error"' in html
    assert not Note.objects.exists()


def test_note_add_without_htmx_redirects_to_the_notes_tab(client, scene):
    client.force_login(scene["owner"])
    response = client.post(reverse("client_note_add", args=[scene["client"].code]), {"body": "Hello"})
    assert response.status_code == 302
    assert response["Location"].endswith("?tab=notes")


def test_outsider_cannot_add_a_note(client, scene):
    client.force_login(scene["outsider"])
    before = written()
    response = client.post(reverse("client_note_add", args=[scene["client"].code]), {"body": "sneaky"})
    assert response.status_code == 404
    assert not Note.objects.exists()
    assert written() == before  # no "note.added", no audit entry either


# --- tasks on the profile ---------------------------------------------------------------------

def test_task_form_offers_only_staff_who_can_see_the_client(client, scene):
    client.force_login(scene["owner"])
    html = client.get(_detail(scene["client"], tab="tasks"), **htmx_headers()).content.decode()
    assert f'value="{scene["owner"].code}" selected' in html  # defaults to me
    assert str(scene["manager"].code) in html
    assert str(scene["colleague"].code) not in html
    assert str(scene["outsider"].code) not in html


def test_owner_adds_a_task_with_a_reminder(client, scene):
    client.force_login(scene["owner"])
    response = client.post(
        reverse("client_task_add", args=[scene["client"].code]),
        {"title": "Call back", "assignee": str(scene["manager"].code), "due_at": "2031-05-04T10:30", "remind": "60"},
        **htmx_headers(),
    )
    assert response.status_code == 200
    task = Task.objects.get(client=scene["client"])
    assert task.assignee == scene["manager"]
    assert task.due_at.isoformat() == "2031-05-04T10:30:00+00:00"
    assert task.remind_at.isoformat() == "2031-05-04T09:30:00+00:00"
    assert "Call back" in response.content.decode()


def test_task_due_time_is_read_in_the_users_time_zone(client, scene):
    owner = scene["owner"]
    owner.timezone = "Asia/Dubai"
    owner.save(update_fields=["timezone"])
    client.force_login(owner)
    client.post(reverse("client_task_add", args=[scene["client"].code]),
                {"title": "Call", "assignee": str(owner.code), "due_at": "2031-05-04T10:30"}, **htmx_headers())
    assert Task.objects.get().due_at.isoformat() == "2031-05-04T06:30:00+00:00"


def test_reminder_without_due_date_is_an_inline_error(client, scene):
    client.force_login(scene["owner"])
    html = client.post(reverse("client_task_add", args=[scene["client"].code]),
                       {"title": "Call", "assignee": str(scene["owner"].code), "remind": "15"},
                       **htmx_headers()).content.decode()
    assert "Set a due date to get a reminder." in html
    assert not Task.objects.exists()


def test_task_cannot_be_assigned_to_someone_who_cannot_see_the_client(client, scene):
    client.force_login(scene["owner"])
    html = client.post(reverse("client_task_add", args=[scene["client"].code]),
                       {"title": "Call", "assignee": str(scene["colleague"].code)}, **htmx_headers()).content.decode()
    assert 'class="field has-error"' in html
    assert not Task.objects.exists()


def test_client_tasks_tab_lists_tasks_with_assignee(client, scene):
    task_create(actor=scene["owner"], title="Send the KYC link", assignee=scene["manager"], client=scene["client"])
    client.force_login(scene["owner"])
    html = client.get(_detail(scene["client"], tab="tasks"), **htmx_headers()).content.decode()
    assert "Send the KYC link" in html and "Mona Manager" in html


# --- list ------------------------------------------------------------------------------------------

@pytest.fixture
def book(scene):
    """The owner's book of clients in several stages and countries, and clients they must not see."""
    owner = scene["owner"]
    make_client(actor=owner, first_name="Bruno", last_name="Alves", country="PT", stage=Stage.FUNDED,
                email="bruno@example.com", tags=["whale"])
    make_client(actor=owner, first_name="Chen", last_name="Zhao", country="SG", stage=Stage.FUNDED, language="zh")
    make_client(actor=owner, first_name="Dana", last_name="Meyer", country="DE", stage=Stage.LEAD)
    make_client(actor=scene["colleague"], first_name="Hidden", last_name="Colleaguebook", country="DE")
    make_client(brand=scene["brand_b"], first_name="Hidden", last_name="Otherbrand", country="DE")
    return scene


def _rows(html):
    return html.count('<td class="col-name">')


def test_list_shows_only_the_users_own_book(client, book):
    client.force_login(book["owner"])
    html = client.get(reverse("client_list")).content.decode()
    assert _rows(html) == 4
    assert "Haddad" in html and "Alves" in html
    assert "Colleaguebook" not in html and "Otherbrand" not in html
    assert "4 clients" in html


def test_list_masks_email_and_phone(client, book):
    client.force_login(book["owner"])
    html = client.get(reverse("client_list")).content.decode()
    assert "amira.haddad@example.com" not in html and "+442071838750" not in html
    assert "a***@example.com" in html and "+44*******750" in html


def test_desk_manager_list_includes_the_whole_desk(client, book):
    client.force_login(book["manager"])
    html = client.get(reverse("client_list")).content.decode()
    assert "Colleaguebook" in html and "Haddad" in html
    assert "Otherbrand" not in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("stage=funded", {"Alves", "Zhao"}),
        ("country=de", {"Meyer"}),  # normalised to DE
        ("tag=WHALE", {"Alves"}),
        ("language=zh", {"Zhao"}),
        ("q=amira", {"Haddad"}),
        ("q=bruno%40example.com", {"Alves"}),
        ("stage=funded&country=SG", {"Zhao"}),
    ],
)
def test_filters_narrow_the_list(client, book, query, expected):
    client.force_login(book["owner"])
    html = client.get(f"{reverse('client_list')}?{query}").content.decode()
    names = {n for n in ("Haddad", "Alves", "Zhao", "Meyer") if f"{n}</a>" in html}
    assert names == expected


def test_owner_and_desk_filters_take_codes(client, book):
    client.force_login(book["manager"])
    html = client.get(f"{reverse('client_list')}?owner={book['colleague'].code}").content.decode()
    assert _rows(html) == 1 and "Colleaguebook" in html
    html = client.get(f"{reverse('client_list')}?desk={book['desk'].code}").content.decode()
    assert _rows(html) == 5


def test_invalid_filter_values_are_ignored_not_fatal(client, book):
    client.force_login(book["owner"])
    response = client.get(f"{reverse('client_list')}?country=Germany&stage=bogus&owner=nope&sort=hack")
    assert response.status_code == 200
    assert _rows(response.content.decode()) == 4


def test_filter_chips_link_to_the_list_without_that_filter(client, book):
    client.force_login(book["owner"])
    html = client.get(f"{reverse('client_list')}?stage=funded&country=SG").content.decode()
    assert 'href="/clients/?country=SG"' in html
    assert 'href="/clients/?stage=funded"' in html


def _order(html, names):
    return sorted(names, key=lambda n: html.index(f"{n}</a>"))


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["Alves", "Haddad", "Meyer", "Zhao"]),
        ("-name", ["Zhao", "Meyer", "Haddad", "Alves"]),
        ("-created", ["Meyer", "Zhao", "Alves", "Haddad"]),
        ("created", ["Haddad", "Alves", "Zhao", "Meyer"]),
        ("country", ["Meyer", "Haddad", "Alves", "Zhao"]),  # DE, GB, PT, SG
        ("-country", ["Zhao", "Alves", "Haddad", "Meyer"]),
    ],
)
def test_sorting_by_column(client, book, sort, expected):
    client.force_login(book["owner"])
    html = client.get(f"{reverse('client_list')}?sort={sort}").content.decode()
    assert _order(html, ["Haddad", "Alves", "Zhao", "Meyer"]) == expected


def test_sort_header_links_toggle_direction_and_keep_filters(client, book):
    client.force_login(book["owner"])
    html = client.get(f"{reverse('client_list')}?stage=funded&sort=name").content.decode()
    assert "?stage=funded&amp;sort=-name" in html
    assert 'aria-sort="ascending"' in html


def test_htmx_list_request_returns_only_the_table(client, book):
    client.force_login(book["owner"])
    response = client.get(f"{reverse('client_list')}?stage=funded", **htmx_headers())
    html = response.content.decode()
    assert "<html" not in html and 'id="client-filters"' not in html
    assert html.lstrip().startswith('<div id="client-table"')
    assert _rows(html) == 2


def test_boosted_list_request_gets_the_full_page(client, book):
    client.force_login(book["owner"])
    html = client.get(reverse("client_list"), **htmx_headers(hx_boosted="true")).content.decode()
    assert "<html" in html


def test_list_paginates_by_fifty(client, scene):
    for i in range(55):
        make_client(actor=scene["owner"], first_name=f"Bulk{i:02d}", last_name="Row")
    client.force_login(scene["owner"])
    first = client.get(reverse("client_list")).content.decode()
    assert _rows(first) == 50
    assert "1–50 of 56" in first
    second = client.get(f"{reverse('client_list')}?page=2").content.decode()
    assert _rows(second) == 6
    assert client.get(f"{reverse('client_list')}?page=99").status_code == 200  # clamps to the last page


def test_empty_state_when_nothing_matches(client, book):
    client.force_login(book["owner"])
    html = client.get(f"{reverse('client_list')}?q=zzzzzz").content.decode()
    assert "No clients match these filters" in html


def test_empty_book_shows_the_no_clients_state(client, scene):
    client.force_login(scene["colleague"])
    html = client.get(reverse("client_list")).content.decode()
    assert "No clients yet" in html


def test_client_list_query_count_does_not_grow_with_rows(client, scene, django_assert_max_num_queries):
    for i in range(60):
        make_client(actor=scene["owner"], first_name=f"Bulk{i:02d}", last_name="Row", tags=["t"])
    client.force_login(scene["owner"])
    client.get(reverse("client_list"))  # warm the session
    with django_assert_max_num_queries(12):
        response = client.get(f"{reverse('client_list')}?sort=name")
    assert _rows(response.content.decode()) == 50


def test_client_list_htmx_partial_query_count(client, scene, django_assert_max_num_queries):
    for i in range(60):
        make_client(actor=scene["owner"], first_name=f"Bulk{i:02d}", last_name="Row")
    client.force_login(scene["owner"])
    client.get(reverse("client_list"))
    with django_assert_max_num_queries(9):
        response = client.get(f"{reverse('client_list')}?page=2", **htmx_headers())
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html  # the table alone, for the swap
    assert _rows(html) == 11  # 61 clients (the scene's and 60 more), 50 on the first page
    assert "51–61 of 61" in html


# --- search ---------------------------------------------------------------------------------------

def test_search_dropdown_shows_scoped_matches_linking_to_profiles(client, book):
    client.force_login(book["owner"])
    html = client.get(f"{reverse('client_search')}?q=hidden").content.decode()
    assert "No clients match" in html
    html = client.get(f"{reverse('client_search')}?q=amir").content.decode()
    assert reverse("client_detail", args=[book["client"].code]) in html
    assert "amira.haddad@example.com" not in html


def test_search_dropdown_shows_at_most_ten(client, scene):
    for i in range(12):
        make_client(actor=scene["owner"], first_name="Sam", last_name=f"Same{i:02d}")
    client.force_login(scene["owner"])
    html = client.get(f"{reverse('client_search')}?q=sam").content.decode()
    assert html.count('role="option"') == 10


def test_search_by_a_whole_phone_number_in_another_format(client, book):
    client.force_login(book["owner"])
    html = client.get(f"{reverse('client_search')}", {"q": "+44 (20) 7183-8750"}).content.decode()
    assert "Amira Haddad" in html
    # The phones are encrypted: their last digits alone find nobody.
    html = client.get(f"{reverse('client_search')}?q=838750").content.decode()
    assert "Amira Haddad" not in html


def test_empty_search_returns_nothing(client, book):
    client.force_login(book["owner"])
    assert client.get(f"{reverse('client_search')}?q=").content.decode().strip() == ""


def test_brand_wide_role_with_two_brands_sees_both(client, book):
    dealer = make_user(role_code=RoleCode.DEALER, brands=[book["brand_a"], book["brand_b"]])
    client.force_login(dealer)
    html = client.get(reverse("client_list")).content.decode()
    assert "Otherbrand" in html and "Colleaguebook" in html
    assert "<th>Brand</th>" in html  # more than one brand: the brand column shows


def _count_queries(fn):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


def test_client_list_costs_the_same_queries_for_5_or_50_rows(client, scene):
    client.force_login(scene["owner"])
    for i in range(4):
        make_client(actor=scene["owner"], first_name=f"Few{i}", last_name="Row", tags=["t"])
    client.get(reverse("client_list"))
    pages = []
    few = _count_queries(lambda: pages.append(client.get(reverse("client_list"))))
    for i in range(60):
        make_client(actor=scene["owner"], first_name=f"Many{i:02d}", last_name="Row", tags=["t"])
    many = _count_queries(lambda: pages.append(client.get(reverse("client_list"))))
    assert few == many
    # ...for pages that show those rows.
    assert [(p.status_code, _rows(p.content.decode())) for p in pages] == [(200, 5), (200, 50)]


def test_client_profile_query_count(client, scene, django_assert_max_num_queries):
    for _ in range(5):
        note_add(actor=scene["owner"], client=scene["client"], body="call")
    client.force_login(scene["owner"])
    client.get(reverse("home"))
    with django_assert_max_num_queries(11):
        profile = client.get(_detail(scene["client"]))
    assert profile.status_code == 200
    assert "Amira Haddad" in profile.content.decode() and "London sales" in profile.content.decode()
    with django_assert_max_num_queries(12):
        timeline = client.get(_detail(scene["client"], tab="timeline"))
    assert timeline.status_code == 200
    assert timeline.content.decode().count('<span class="t-label">Note added</span>') == 5


def test_the_list_names_each_rows_brand_and_owner_and_its_filters_offer_staff_and_desks(client, scene,
                                                                                        login_verified):
    from html import unescape

    admin = make_user(role_code=RoleCode.ADMIN, brand=scene["brand_a"])
    make_client(brand=scene["brand_b"], first_name="Nobody's", last_name="Client")
    login_verified(client, admin)

    page = unescape(client.get(reverse("client_list")).content.decode())

    row = page[page.index("Amira Haddad"):].split("</tr>")[0]
    assert "Alpha Markets" in row and "Olivia Owner" in row
    unassigned = page[page.index("Nobody's Client"):]
    assert "Beta FX" in unassigned.split("</tr>")[0] and "Unassigned" in unassigned.split("</tr>")[0]
    owners = page[page.index('name="owner"'):].split("</select>")[0]
    assert f'<option value="{scene["owner"].code}">Olivia Owner</option>' in owners
    desks = page[page.index('name="desk"'):].split("</select>")[0]
    assert f'<option value="{scene["desk"].code}">London sales (Alpha Markets)</option>' in desks
    assert f'<option value="{scene["desk_b"].code}">Dubai sales (Beta FX)</option>' in desks

    chosen = unescape(client.get(reverse("client_list"), {"owner": str(scene["owner"].code)}).content.decode())
    owners = chosen[chosen.index('name="owner"'):].split("</select>")[0]
    assert f'<option value="{scene["owner"].code}" selected>Olivia Owner</option>' in owners
    assert "Amira Haddad" in chosen and "Nobody" not in chosen.split('id="client-table"')[1]
