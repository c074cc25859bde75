"""Tracking links (redirect, click log, QR), attribution rules, conflicts and re-attribution, and
the IB manager's pages (permission trio)."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.lib.fieldcrypt import keyed_hash
from crm.models import AuditLog, Event
from ib import selectors
from ib.exceptions import ValidationFailed
from ib.models import AttributionConflict, Click, ClientAttribution, ConflictStatus
from ib.services import Touch
from tests.factories import make_client

UA = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"


@pytest.fixture
def links(ib):
    s = ib.services
    link_a = s.tracking_link_create(actor=ib.manager, partner=ib.sub_a, campaign="spring",
                                    landing_url="https://www.example.com/open?lang=en")
    code_b = s.tracking_link_create(actor=ib.manager, partner=ib.sub_b, kind="code", code="bravo7")
    return link_a, code_b


def test_a_click_is_logged_and_the_visitor_sent_on_with_ref_and_click(client, ib, links):
    link_a, _code = links
    response = client.get(f"/r/{link_a.code}/", HTTP_USER_AGENT=UA, HTTP_REFERER="https://forum.example/t/1")
    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert (target.scheme, target.netloc, target.path) == ("https", "www.example.com", "/open")
    query = parse_qs(target.query)
    click = Click.objects.get()
    assert query["ref"] == [link_a.code] and query["click"] == [str(click.code)] and query["lang"] == ["en"]
    assert query["utm_campaign"] == ["spring"] and query["utm_source"] == ["partner"]
    assert click.link == link_a and not click.is_bot and click.referer == "https://forum.example/t/1"
    assert click.ip_hash and "127.0.0.1" not in click.ip_hash


def test_a_bot_is_flagged_and_an_unknown_code_is_404(client, ib, links):
    link_a, code_b = links
    client.get(f"/r/{link_a.code}/", HTTP_USER_AGENT="Googlebot/2.1")
    assert Click.objects.get().is_bot
    assert client.get("/r/nosuchcode/").status_code == 404
    assert client.get(f"/r/{code_b.code}/").status_code == 404  # a referral code is not a link


def test_landing_urls_outside_the_brands_domains_are_refused(ib):
    with pytest.raises(ValidationFailed) as caught:
        ib.services.tracking_link_create(actor=ib.manager, partner=ib.sub_a, landing_url="https://evil.example/x")
    assert "landing_url" in caught.value.fields
    link = ib.services.tracking_link_create(actor=ib.manager, partner=ib.sub_a, landing_url="/register/")
    assert link.landing_url == "/register/"


def test_the_qr_code_renders(client, ib, links):
    link_a, _code = links
    client.force_login(ib.manager)
    svg = client.get(reverse("ib_link_qr", args=[link_a.code, "svg"]))
    assert svg.status_code == 200 and svg["Content-Type"] == "image/svg+xml" and b"<svg" in svg.content
    png = client.get(reverse("ib_link_qr", args=[link_a.code, "png"]))
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    client.force_login(ib.agent)
    assert client.get(reverse("ib_link_qr", args=[link_a.code, "svg"])).status_code == 404


def _touches(ib, links, now):
    link_a, code_b = links
    return [Touch(ib.sub_a.pk, "link", now - dt.timedelta(days=3), link_a.pk),
            Touch(ib.sub_b.pk, "code", now - dt.timedelta(days=1), code_b.pk),
            Touch(ib.leaf.pk, "link", now - dt.timedelta(days=1)),
            Touch(ib.sub_b.pk, "link", now - dt.timedelta(days=90))]  # outside the window


def test_first_and_last_touch_and_precedence(ib, links):
    s, now = ib.services, timezone.now()
    client = make_client(brand=ib.brand)
    touches = _touches(ib, links, now)
    s.attribution_policy_set(actor=ib.manager, brand=ib.brand, model="first_touch", window_days=30,
                             precedence="link_over_code")
    assert s.attribution_resolve(client=client, touches=touches, at=now).winner.partner_id == ib.sub_a.pk
    s.attribution_policy_set(actor=ib.manager, brand=ib.brand, model="last_touch", window_days=30,
                             precedence="link_over_code")
    assert s.attribution_resolve(client=client, touches=touches, at=now).winner.partner_id == ib.leaf.pk
    s.attribution_policy_set(actor=ib.manager, brand=ib.brand, model="last_touch", window_days=30,
                             precedence="code_over_link")
    resolution = s.attribution_resolve(client=client, touches=touches, at=now)
    assert resolution.winner.partner_id == ib.sub_b.pk and resolution.conflicting
    s.attribution_policy_set(actor=ib.manager, brand=ib.brand, model="first_touch", window_days=120,
                             precedence="link_over_code")
    assert s.attribution_resolve(client=client, touches=touches, at=now).winner.partner_id == ib.sub_b.pk


def test_one_partner_attributes_and_the_partner_at_a_time_is_known(ib, links):
    link_a, _code = links
    client = make_client(brand=ib.brand)
    registered = timezone.now()
    attribution = ib.services.attribution_apply(
        client=client, touches=[Touch(ib.sub_a.pk, "link", registered - dt.timedelta(hours=1), link_a.pk)],
        at=registered)
    assert isinstance(attribution, ClientAttribution) and attribution.partner == ib.sub_a
    assert selectors.partner_of_client_at(client, registered + dt.timedelta(minutes=1)) == ib.sub_a
    assert selectors.partner_of_client_at(client, registered - dt.timedelta(minutes=1)) is None
    event = Event.objects.get(name="ib.client_attributed", client=client)
    assert event.data["partner"]["name"] == "Sub A" and event.data["source"] == "link"


def test_two_partners_make_a_conflict_that_the_manager_resolves(client, ib, links):
    link_a, code_b = links
    person = make_client(brand=ib.brand)
    now = timezone.now()
    conflict = ib.services.attribution_apply(client=person, at=now, touches=[
        Touch(ib.sub_a.pk, "link", now - dt.timedelta(days=2), link_a.pk),
        Touch(ib.sub_b.pk, "code", now - dt.timedelta(hours=1), code_b.pk)])
    assert isinstance(conflict, AttributionConflict) and conflict.suggested == ib.sub_a
    assert not ClientAttribution.objects.filter(client=person).exists()
    assert Event.objects.filter(name="ib.attribution_conflict", client=person).exists()

    client.force_login(ib.manager)
    page = client.get(reverse("ib_conflict_list"))
    assert page.status_code == 200 and str(conflict.code) in page.content.decode()
    answer = client.post(reverse("ib_conflict_resolve", args=[conflict.code]),
                         {"partner": str(ib.sub_b.code), "reason": "The client named Sub B on the phone"})
    assert answer.status_code == 302
    conflict.refresh_from_db()
    assert conflict.status == ConflictStatus.RESOLVED and conflict.chosen == ib.sub_b
    assert conflict.resolved_by == ib.manager
    current = selectors.current_attribution(person)
    assert current.partner == ib.sub_b and current.reason == "The client named Sub B on the phone"
    assert AuditLog.objects.filter(action="ib.attribution_conflict_resolved").exists()


def test_an_import_claiming_an_attributed_client_is_a_conflict(ib, links):
    person = make_client(brand=ib.brand)
    ib.services.client_attribution_import(actor=ib.manager, client=person, partner=ib.sub_a)
    result = ib.services.client_attribution_import(actor=ib.manager, client=person, partner=ib.sub_b)
    assert isinstance(result, AttributionConflict)
    assert {c["partner"] for c in result.claims} == {ib.sub_a.pk, ib.sub_b.pk}
    assert selectors.current_attribution(person).partner == ib.sub_a  # unchanged until decided


def test_reattribution_is_dated_and_keeps_the_past(ib, links):
    person = make_client(brand=ib.brand)
    start = timezone.now() - dt.timedelta(days=10)
    ib.services.client_attribution_import(actor=ib.manager, client=person, partner=ib.sub_a, touched_at=start)
    switch = timezone.now() - dt.timedelta(days=2)
    with pytest.raises(ValidationFailed) as caught:
        ib.services.client_reattribute(actor=ib.manager, client=person, partner=ib.sub_b,
                                       effective_from=start - dt.timedelta(days=1), reason="too early")
    assert "effective_from" in caught.value.fields
    ib.services.client_reattribute(actor=ib.manager, client=person, partner=ib.sub_b, effective_from=switch,
                                   reason="Moved by agreement")
    assert selectors.partner_of_client_at(person, switch - dt.timedelta(hours=1)) == ib.sub_a
    assert selectors.partner_of_client_at(person, switch + dt.timedelta(hours=1)) == ib.sub_b
    pairs = [(person.pk, switch - dt.timedelta(hours=1)), (person.pk, timezone.now())]
    assert selectors.partners_of_clients_at(pairs) == {pairs[0]: ib.sub_a.pk, pairs[1]: ib.sub_b.pk}
    old = ClientAttribution.objects.get(client=person, partner=ib.sub_a)
    assert old.effective_to == switch and old.effective_from == start
    assert AuditLog.objects.filter(action="ib.client_attributed", reason="Moved by agreement").exists()


def test_a_lead_with_a_click_and_code_is_attributed_by_the_event_handler(client, ib, links):
    link_a, _code = links
    client.get(f"/r/{link_a.code}/", HTTP_USER_AGENT=UA)
    click = Click.objects.get()
    from crm.events import dispatch_pending
    from leads.services.intake import lead_intake

    result = lead_intake(
        brand=ib.brand, channel="api",
        data={"first_name": "Lina", "last_name": "Haddad", "email": "lina@example.org", "phone": "+442071838751", "country": "GB",
              "referrer_code": link_a.code, "click_id": str(click.code)})
    dispatch_pending()
    person = result.client
    current = selectors.current_attribution(person)
    assert current is not None and current.partner == ib.sub_a and current.source == "link"
    assert current.click == click


def _hidden(html):
    return dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', html))


@pytest.mark.parametrize("landing", ["portal", "lead_form"])
def test_a_visitor_who_follows_a_link_into_a_registration_is_the_links_click(client, ib, settings, landing):
    """The link's redirect names the click `click`: the trader's room registration and the public
    lead form keep it, so the client is the click's (a link touch), not only the code's."""
    from crm.events import dispatch_pending
    from crm.models import Client
    from portal.models import ConsentDocument, ConsentKind

    settings.PORTAL_REGISTER_RATE_LIMIT = "1000/m"
    for kind in ConsentKind.values:
        ConsentDocument.objects.create(brand=ib.brand, kind=kind, version="1", language="en", title=kind)
    path = (reverse("portal:register", args=[ib.brand.code]) if landing == "portal"
            else f"/f/{ib.brand.code}/lead/")
    link = ib.services.tracking_link_create(actor=ib.manager, partner=ib.sub_a, landing_url=path)
    target = client.get(f"/r/{link.code}/", HTTP_USER_AGENT=UA)["Location"]
    click = Click.objects.get()
    assert urlsplit(target).path == path
    form = client.get(target, HTTP_USER_AGENT=UA)
    assert form.status_code == 200
    person = {"first_name": "Rana", "last_name": "Aziz", "email": "rana.aziz@example.org", "phone": "+442071838752",
              "country": "GB"}
    if landing == "portal":
        person |= {"date_of_birth": "1992-02-11", "password": "Quiet-Harbour-8843", "accept_terms": "on",
                   "accept_privacy": "on"}
    else:
        person |= {"consent": "on"}
    response = client.post(target, {**_hidden(form.content.decode()), **person}, HTTP_USER_AGENT=UA)
    assert response.status_code == 302, response.content.decode()[:2000]
    dispatch_pending()
    current = selectors.current_attribution(Client.objects.get(email_hash=keyed_hash("rana.aziz@example.org", kind="email")))
    assert current is not None and current.partner == ib.sub_a
    assert (current.source, current.click) == ("link", click)


# --- pages: the permission trio ------------------------------------------------------------------------

def test_ib_pages_open_for_the_ib_manager_only(client, ib, links):
    person = make_client(brand=ib.brand)
    urls = [reverse("ib_partner_list"), reverse("ib_partner_detail", args=[ib.sub_a.code]),
            reverse("ib_conflict_list"), reverse("ib_client_attribute", args=[person.code])]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and "login" in response["Location"], url
    client.force_login(ib.agent)
    for url in urls:
        assert client.get(url).status_code == 404, url
    client.force_login(ib.manager)
    for url in urls:
        assert client.get(url).status_code == 200, url
    detail = client.get(reverse("ib_partner_detail", args=[ib.master.code])).content.decode()
    assert "Sub A" in detail and "Leaf" in detail and link_a_code(links) not in detail


def link_a_code(links):
    return links[0].code  # Sub A's link: not listed on the master's page


def test_the_manager_approves_moves_and_reattributes_from_the_pages(client, ib):
    partner = ib.services.partner_apply(brand=ib.brand, display_name="Applicant", email="ap@x.example",
                                        password="Tr0pical-Heron-4471")
    client.force_login(ib.manager)
    assert client.post(reverse("ib_partner_approve", args=[partner.code]), {"reason": ""}).status_code == 302
    partner.refresh_from_db()
    assert partner.status == "active"
    refused = client.post(reverse("ib_partner_move", args=[ib.master.code]),
                          {"parent": str(ib.leaf.code), "reason": "loop"})
    assert refused.status_code == 400 and "own subtree" in refused.content.decode()
    moved = client.post(reverse("ib_partner_move", args=[partner.code]),
                        {"parent": str(ib.master.code), "reason": "joins the master"})
    assert moved.status_code == 302
    partner.refresh_from_db()
    assert partner.parent == ib.master
    person = make_client(brand=ib.brand)
    answer = client.post(reverse("ib_client_attribute", args=[person.code]),
                         {"partner": str(ib.sub_b.code), "reason": "Signed with Sub B"})
    assert answer.status_code == 302
    assert selectors.current_attribution(person).partner == ib.sub_b
    tab = client.get(reverse("client_detail", args=[person.code]) + "?tab=partner", HTTP_HX_REQUEST="true")
    assert tab.status_code == 200 and "Sub B" in tab.content.decode()
    client.force_login(ib.agent)
    assert client.post(reverse("ib_partner_move", args=[partner.code]),
                       {"parent": "", "reason": "x"}).status_code == 404
