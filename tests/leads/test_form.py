"""The public lead form: embeddable, language-aware, attribution from the query string, honeypot,
rate limit, consent, and bad input answered field by field."""

from __future__ import annotations

import re

import pytest
from django.test import Client as HttpClient

from crm.models import Client
from leads.models import LeadTouch

pytestmark = pytest.mark.django_db


def _url(world, query=""):
    return f"/f/{world.brand.code}/lead/{query}"


def _get_form(http, world, query="", **headers):
    response = http.get(_url(world, query), **headers)
    assert response.status_code == 200
    html = response.content.decode()
    fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', html))
    return response, fields


def _submit(http, world, hidden, query="", **fields):
    data = {**hidden, "first_name": "Omar", "last_name": "Khalil", "email": "omar@example.com",
            "phone": "050 123 4567", "country": "AE", "consent": "on", **fields}
    return http.post(_url(world, query), data, REMOTE_ADDR=fields.pop("ip", "198.51.100.7"))


def test_the_form_is_embeddable_and_carries_attribution_into_the_lead(world):
    http = HttpClient()
    query = "?utm_source=google&utm_medium=cpc&utm_campaign=gulf&gclid=abc123&ref=IB9"
    response, hidden = _get_form(http, world, query, HTTP_REFERER="https://promo.example/ae")
    assert "X-Frame-Options" not in response
    assert hidden["utm_source"] == "google" and hidden["click_id"] == "abc123" and hidden["referrer_code"] == "IB9"
    assert hidden["landing_page"] == "https://promo.example/ae"
    response = _submit(http, world, hidden, query, HTTP_USER_AGENT="Mozilla/5.0 (Test)")
    assert response.status_code == 302 and "/thanks/" in response["Location"]
    client = Client.objects.get()
    assert (client.phone, client.country, client.owner in world.agents) == ("+971501234567", "AE", True)
    touch = LeadTouch.objects.get(client=client)
    assert touch.channel == "form" and touch.source == "web_form" and touch.utm_campaign == "gulf"
    assert touch.consent_given and touch.consent_text_version == "1" and str(touch.ip) == "198.51.100.7"
    thanks = http.get(response["Location"])
    assert thanks.status_code == 200 and "X-Frame-Options" not in thanks


def test_staff_pages_still_refuse_to_be_framed(world):
    assert HttpClient().get("/login/")["X-Frame-Options"] == "DENY"


def test_arabic_is_chosen_by_query_or_accept_language_and_is_right_to_left(world):
    response = HttpClient().get(_url(world, "?lang=ar"))
    html = response.content.decode()
    assert 'lang="ar" dir="rtl"' in html and "افتح حسابك لدى" in html and "الاسم الأول" in html
    response = HttpClient().get(_url(world), HTTP_ACCEPT_LANGUAGE="ar,en;q=0.5")
    assert 'dir="rtl"' in response.content.decode()
    response = HttpClient().get(_url(world), HTTP_ACCEPT_LANGUAGE="en-GB")
    assert 'dir="ltr"' in response.content.decode()


def test_bad_input_is_shown_field_by_field_and_nothing_is_stored(world):
    http = HttpClient()
    _, hidden = _get_form(http, world)
    response = _submit(http, world, hidden, email="omar@", phone="12", first_name="", consent="")
    assert response.status_code == 400
    html = response.content.decode()
    assert "Enter a valid email address." in html and "This field is required." in html
    assert not Client.objects.exists()
    # the service's own checks (the phone) also come back on the field
    response = _submit(http, world, hidden, phone="12")
    assert response.status_code == 400 and "Enter a valid phone number." in response.content.decode()
    assert not Client.objects.exists()


def test_the_honeypot_pretends_success_and_stores_nothing(world):
    http = HttpClient()
    _, hidden = _get_form(http, world)
    response = _submit(http, world, hidden, website="http://spam.example")
    assert response.status_code == 302 and "/thanks/" in response["Location"]
    assert not Client.objects.exists()


def test_a_post_without_a_valid_form_token_is_refused(world):
    response = _submit(HttpClient(), world, {"form_token": "forged"})
    assert response.status_code == 400 and "This form has expired" in response.content.decode()
    assert not Client.objects.exists()


def test_too_many_posts_from_one_ip_get_a_429_page(world, settings):
    settings.LEADS_FORM_RATE_LIMIT = "3/m"
    http = HttpClient()
    _, hidden = _get_form(http, world)
    statuses = [_submit(http, world, hidden, email=f"o{i}@example.com", phone=f"05012345{i:02d}", ip="192.0.2.1").status_code
                for i in range(4)]
    assert statuses == [302, 302, 302, 429]
    response = _submit(http, world, hidden, email="o9@example.com", ip="192.0.2.1")
    assert response.status_code == 429 and int(response["Retry-After"]) >= 1
    assert "Too many attempts" in response.content.decode()
    # another visitor is not affected
    assert _submit(http, world, hidden, email="x@example.com", phone="0501230000", ip="192.0.2.2").status_code == 302
    assert Client.objects.count() == 4


def test_an_unknown_or_inactive_brand_has_no_form(world):
    assert HttpClient().get("/f/nope/lead/").status_code == 404
    world.brand.is_active = False
    world.brand.save()
    assert HttpClient().get(_url(world)).status_code == 404


@pytest.mark.parametrize(("query", "language"), [("", "en"), ("?lang=ar", "ar")])
def test_a_lead_keeps_the_language_the_form_was_filled_in(world, query, language):
    http = HttpClient()
    _response, hidden = _get_form(http, world, query)
    assert _submit(http, world, hidden, query).status_code == 302
    assert Client.objects.get().language == language
