"""A contact reveal lasts for that client for the rest of the visit, and is logged once."""

from __future__ import annotations

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from crm.models import AccessEvent, AuditLog
from crm.services import client_update
from leads.models import Channel
from leads.services import lead_intake
from tests.leads.conftest import lead_data

pytestmark = pytest.mark.django_db


def _reveals(lead):
    return AuditLog.objects.filter(action="client.reveal_contact", object_id=str(lead.code)).count()


@pytest.fixture
def lead(world):
    return lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(1)).client


def test_a_phone_revealed_in_the_header_is_ready_to_dial_on_the_calls_tab(lead, client):
    client.force_login(lead.owner)
    profile = reverse("client_detail", args=[lead.code])
    client.post(reverse("client_reveal", args=[lead.code]), {"field": "phone"}, HTTP_HX_REQUEST="true")
    calls = client.get(profile + "?tab=calls", HTTP_HX_REQUEST="true").content.decode()
    assert lead.phone in calls and 'id="dial-link"' in calls
    # Any later action re-renders the profile with the phone still shown, and nothing more is logged.
    client.post(reverse("lead_call_log", args=[lead.code]),
                {"outcome": "busy", "direction": "outbound", "duration": "0:10"}, HTTP_HX_REQUEST="true")
    assert lead.phone in client.get(profile).content.decode()
    assert _reveals(lead) == 1


def test_a_phone_revealed_on_the_calls_tab_shows_in_the_header(lead, client):
    client.force_login(lead.owner)
    client.post(reverse("lead_call_dial", args=[lead.code]), HTTP_HX_REQUEST="true")
    html = client.get(reverse("client_detail", args=[lead.code])).content.decode()
    header = html.split('id="contact-phone"')[1].split("</span>\n</span>")[0]
    assert f'href="tel:{lead.phone}"' in header
    assert _reveals(lead) == 1


def test_the_reveal_is_the_visits_only(lead, client):
    client.force_login(lead.owner)
    client.post(reverse("client_reveal", args=[lead.code]), {"field": "email"})
    other_visit = HttpClient()
    other_visit.force_login(lead.owner)
    assert lead.email not in other_visit.get(reverse("client_detail", args=[lead.code])).content.decode()


def test_a_changed_number_is_masked_again(lead, client, world):
    client.force_login(lead.owner)
    client.post(reverse("client_reveal", args=[lead.code]), {"field": "phone"})
    client_update(actor=world.admin, client=lead, phone="+442079460000")
    html = client.get(reverse("client_detail", args=[lead.code])).content.decode()
    assert "+442079460000" not in html


def test_the_session_keeps_no_personal_data(lead, client):
    client.force_login(lead.owner)
    client.post(reverse("client_reveal", args=[lead.code]), {"field": "phone"})
    assert lead.phone not in str(dict(client.session))
    assert AccessEvent.objects.filter(client=lead).exists()
