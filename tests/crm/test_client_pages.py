"""Creating and editing a client in the browser (the API's rules, through the same services), and the
stage forms on the profile: only the moves allowed from the current stage, the override only for
administrators. Out of scope is 404; a role without the permission gets 403."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from crm.models import AuditLog, Client, Event, RoleCode, Stage
from tests.factories import client_reach_stage, make_brand, make_client, make_desk, make_user
from tests.writes import written

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene(db, login_verified):
    brand = make_brand(name="Alpha Markets")
    desk = make_desk(brand=brand)
    owner = make_user(role_code=RoleCode.SALES_AGENT, desk=desk)
    colleague = make_user(role_code=RoleCode.SALES_AGENT, desk=desk)
    outsider = make_user(role_code=RoleCode.SALES_AGENT, desk=make_desk(brand=make_brand()))
    finance = make_user(role_code=RoleCode.FINANCE, brand=brand)
    admin = make_user(role_code=RoleCode.ADMIN)
    client = make_client(actor=owner, first_name="Amira", last_name="Haddad", country="GB",
                         phone="+442071838750", email="amira@example.com")

    def http(user):
        browser = HttpClient()
        login_verified(browser, user)
        return browser

    return SimpleNamespace(brand=brand, desk=desk, owner=owner, colleague=colleague, outsider=outsider,
                           finance=finance, admin=admin, client=client, http=http)


def _form(**values):
    data = {"first_name": "", "last_name": "", "email": "", "phone": "", "country": "", "language": "",
            "timezone": "", "date_of_birth": "", "source": "", "campaign": "", "tags": ""}
    data.update(values)
    return data


# --- create ----------------------------------------------------------------------------------------


def test_an_agent_creates_a_client_who_joins_their_book(scene):
    http = scene.http(scene.owner)
    page = http.get(reverse("client_create"))
    assert page.status_code == 200 and 'name="first_name"' in page.content.decode()
    assert 'name="owner"' not in page.content.decode()  # an agent owns what they create
    response = http.post(reverse("client_create"), _form(
        brand=scene.brand.code, stage="lead", first_name=" Lena ", last_name="Vogel", email="LENA@Example.com",
        phone="030 901820", country="de", language="de", timezone="Europe/Berlin", tags="webinar, VIP"))
    client = Client.objects.get(first_name="Lena")
    assert response.status_code == 302 and response["Location"] == reverse("client_detail", args=[client.code])
    # Normalised exactly as the API normalises.
    assert (client.email, client.phone, client.country, client.tags) == (
        "lena@example.com", "+4930901820", "DE", ["webinar", "vip"])
    assert (client.owner, client.desk, client.stage) == (scene.owner, scene.desk, Stage.LEAD)
    assert Event.objects.filter(client=client, name="client.created").exists()


def test_bad_input_is_shown_by_field_and_nothing_is_created(scene):
    http = scene.http(scene.owner)
    count = Client.objects.count()
    response = http.post(reverse("client_create"), _form(brand=scene.brand.code, stage="lead", first_name="Lena",
                                                          phone="12", country="XX", email="not-an-email"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Enter a two-letter ISO country code" in html
    assert Client.objects.count() == count


def test_no_client_is_created_funded_from_the_page(scene):
    http = scene.http(scene.owner)
    response = http.post(reverse("client_create"), _form(brand=scene.brand.code, stage="funded", first_name="Rich"))
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not Client.objects.filter(first_name="Rich").exists()


def test_the_page_refuses_a_brand_the_user_does_not_work_for(scene):
    http = scene.http(scene.owner)
    other = make_brand(code="other")
    http.post(reverse("client_create"), _form(brand=other.code, stage="lead", first_name="Lena"))
    assert not Client.objects.filter(first_name="Lena").exists()


def test_a_role_that_cannot_create_clients_gets_403_and_no_button(scene):
    http = scene.http(scene.finance)
    before = written()
    assert http.get(reverse("client_create")).status_code == 403
    assert http.post(reverse("client_create"), _form(brand=scene.brand.code, first_name="X")).status_code == 403
    assert written() == before  # no client, no "client.created", no audit entry
    assert reverse("client_create") not in http.get(reverse("client_list")).content.decode()
    assert reverse("client_create") in scene.http(scene.owner).get(reverse("client_list")).content.decode()


def test_an_administrator_gives_the_new_client_to_an_agent(scene):
    http = scene.http(scene.admin)
    response = http.post(reverse("client_create"), _form(brand=scene.brand.code, stage="registered",
                                                          first_name="Omar", owner=str(scene.colleague.code)))
    client = Client.objects.get(first_name="Omar")
    assert response.status_code == 302
    assert (client.owner, client.desk, client.stage) == (scene.colleague, scene.desk, Stage.REGISTERED)


# --- edit ------------------------------------------------------------------------------------------


def test_the_owner_edits_the_client_with_the_apis_rules(scene):
    http = scene.http(scene.owner)
    url = reverse("client_edit", args=[scene.client.code])
    page = http.get(url).content.decode()
    assert 'value="Amira"' in page
    assert "amira@example.com" not in page and "+442071838750" not in page  # masked until revealed
    response = http.post(url, _form(first_name="Amira", last_name="Haddad-Smith", country="GB",
                                    phone="", email="", tags="vip"))
    assert response.status_code == 302
    scene.client.refresh_from_db()
    assert (scene.client.last_name, scene.client.tags) == ("Haddad-Smith", ["vip"])
    # Masked contact details left empty are kept, not cleared.
    assert (scene.client.email, scene.client.phone) == ("amira@example.com", "+442071838750")
    event = Event.objects.filter(client=scene.client, name="client.updated").latest("id")
    assert set(event.data["fields"]) == {"last_name", "tags"}


def test_a_new_phone_is_normalised_with_the_clients_country(scene):
    http = scene.http(scene.owner)
    http.post(reverse("client_edit", args=[scene.client.code]),
              _form(first_name="Amira", last_name="Haddad", country="GB", phone="020 7183 8751"))
    scene.client.refresh_from_db()
    assert scene.client.phone == "+442071838751"


def test_a_bad_edit_changes_nothing(scene):
    http = scene.http(scene.owner)
    before = AuditLog.objects.count()
    response = http.post(reverse("client_edit", args=[scene.client.code]),
                         _form(first_name="", last_name="X", country="GB"))
    assert response.status_code == 200 and "has-error" in response.content.decode()
    response = http.post(reverse("client_edit", args=[scene.client.code]),
                         _form(first_name="Amira", last_name="X", country="GB", timezone="Mars/Base"))
    assert response.status_code == 200
    scene.client.refresh_from_db()
    assert scene.client.last_name == "Haddad"
    assert AuditLog.objects.count() == before


def test_out_of_scope_clients_are_not_found_for_edit_and_stage(scene):
    sessions = [scene.http(user) for user in (scene.colleague, scene.outsider)]
    before = written()
    for http in sessions:
        assert http.get(reverse("client_edit", args=[scene.client.code])).status_code == 404
        assert http.post(reverse("client_edit", args=[scene.client.code]),
                         _form(first_name="Hacked")).status_code == 404
        assert http.post(reverse("client_stage_change", args=[scene.client.code]),
                         {"stage": "registered"}).status_code == 404
    scene.client.refresh_from_db()
    assert (scene.client.first_name, scene.client.stage) == ("Amira", Stage.LEAD)
    assert written() == before


def test_the_profile_links_to_the_edit_page_for_those_who_may_edit(scene):
    url = reverse("client_edit", args=[scene.client.code])
    assert url in scene.http(scene.owner).get(reverse("client_detail", args=[scene.client.code])).content.decode()
    finance_page = scene.http(scene.finance).get(reverse("client_detail", args=[scene.client.code]))
    assert finance_page.status_code == 200 and url not in finance_page.content.decode()
    assert scene.http(scene.finance).get(url).status_code == 403


# --- stage ---------------------------------------------------------------------------------------


def _options(html: str, form_action: str) -> list[str]:
    import re

    block = html.split(f'action="{form_action}"', 1)[1].split("</form>", 1)[0]
    return re.findall(r'<option value="([^"]*)"', block)


def test_the_stage_form_offers_only_the_moves_allowed_from_the_current_stage(scene):
    http = scene.http(scene.owner)
    html = http.get(reverse("client_detail", args=[scene.client.code]) + "?tab=overview").content.decode()
    assert _options(html, reverse("client_stage_change", args=[scene.client.code])) == ["registered", "closed"]
    assert reverse("client_stage_override", args=[scene.client.code]) not in html
    funded = client_reach_stage(make_client(actor=scene.owner), Stage.FUNDED)
    html = http.get(reverse("client_detail", args=[funded.code])).content.decode()
    assert _options(html, reverse("client_stage_change", args=[funded.code])) == ["dormant", "closed"]


def test_the_owner_moves_the_client_and_the_timeline_shows_it(scene):
    http = scene.http(scene.owner)
    response = http.post(reverse("client_stage_change", args=[scene.client.code]), {"stage": "registered",
                                                                                    "reason": "signed up"})
    assert response.status_code == 302
    scene.client.refresh_from_db()
    assert scene.client.stage == Stage.REGISTERED
    timeline = http.get(reverse("client_detail", args=[scene.client.code]) + "?tab=timeline").content.decode()
    assert "Lead → Registered" in timeline and "signed up" in timeline


def test_an_htmx_move_answers_with_the_tabs_and_the_new_badge(scene):
    http = scene.http(scene.owner)
    response = http.post(reverse("client_stage_change", args=[scene.client.code]), {"stage": "closed"},
                         HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="client-stage-badge"' in html and 'hx-swap-oob="true"' in html and "Closed" in html
    assert _options(html, reverse("client_stage_change", args=[scene.client.code])) == ["lead", "registered"]


def test_a_refused_move_is_a_form_error_and_changes_nothing(scene):
    http = scene.http(scene.owner)
    before = Event.objects.filter(client=scene.client, name="client.stage_changed").count()
    response = http.post(reverse("client_stage_change", args=[scene.client.code]), {"stage": "funded"},
                         HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    closed = client_reach_stage(make_client(actor=scene.owner), Stage.CLOSED)
    response = http.post(reverse("client_stage_change", args=[closed.code]), {"stage": "lead", "reason": ""},
                         HTTP_HX_REQUEST="true")
    assert "Say why this closed client is being reopened." in response.content.decode()
    scene.client.refresh_from_db()
    closed.refresh_from_db()
    assert (scene.client.stage, closed.stage) == (Stage.LEAD, Stage.CLOSED)
    assert Event.objects.filter(client=scene.client, name="client.stage_changed").count() == before


def test_the_override_is_offered_to_administrators_and_needs_a_reason(scene):
    funded = client_reach_stage(make_client(actor=scene.owner), Stage.FUNDED)
    override_url = reverse("client_stage_override", args=[funded.code])
    # An agent neither sees it nor can use it.
    agent = scene.http(scene.owner)
    assert override_url not in agent.get(reverse("client_detail", args=[funded.code])).content.decode()
    before = written()
    assert agent.post(override_url, {"stage": "lead", "reason": "x"}).status_code == 403
    assert written() == before  # still funded: no history row, no "client.stage_changed", no audit entry
    admin = scene.http(scene.admin)
    assert override_url in admin.get(reverse("client_detail", args=[funded.code])).content.decode()
    refused = admin.post(override_url, {"stage": "lead", "reason": "  "}, HTTP_HX_REQUEST="true")
    assert "Say why the stage is overridden." in refused.content.decode()
    funded.refresh_from_db()
    assert funded.stage == Stage.FUNDED
    assert admin.post(override_url, {"stage": "lead", "reason": "test payment"}).status_code == 302
    funded.refresh_from_db()
    assert funded.stage == Stage.LEAD
    audit = AuditLog.objects.get(action="client.stage_override", object_id=str(funded.code))
    assert (audit.reason, audit.actor_id) == ("test payment", scene.admin.pk)
