"""Issue 58, item 6: a lead that arrives while its desk is closed (a weekend) says why it waits, and the
availability page says that nobody takes leads now instead of showing every agent "Available"; the lead
form's thank-you page links to registration."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
import time_machine
from django.urls import reverse

from crm.models import Event
from leads.models import Channel
from leads.services import lead_intake
from tests.leads.conftest import lead_data

pytestmark = pytest.mark.django_db

SATURDAY_NOON = datetime(2025, 3, 8, 12, 0, tzinfo=UTC)


@pytest.fixture
def weekdays_only(world):
    world.desk.work_days, world.desk.work_start, world.desk.work_end = [1, 2, 3, 4, 5], time(9, 0), time(17, 0)
    world.desk.save()
    return world


@time_machine.travel(SATURDAY_NOON, tick=False)
def test_a_weekend_lead_says_it_waits_for_the_closed_desk(weekdays_only):
    result = lead_intake(brand=weekdays_only.brand, channel=Channel.API, data=lead_data(1))
    assert result.client.owner is None and result.routing.queued
    said = "the Sales EN desk is closed until Mon 09:00 (UTC)"
    assert said in result.routing.why
    assert said in Event.objects.get(client=result.client, name="lead.routed").data["why"]


@time_machine.travel(SATURDAY_NOON, tick=False)
def test_availability_says_nobody_takes_leads_while_the_desk_is_closed(weekdays_only, client):
    client.force_login(weekdays_only.manager)
    page = client.get(reverse("lead_availability_list")).content.decode()
    assert page.count('data-now="unavailable"') == 3 and 'data-now="available"' not in page
    assert "Not taking leads now: off shift (desk closed)" in page


def test_the_lead_forms_thank_you_page_links_to_registration(world, client):
    page = client.get(reverse("lead_form_thanks", args=[world.brand.code]), {"lang": "en"}).content.decode()
    assert f'href="{reverse("portal:register", args=[world.brand.code])}?lang=en"' in page
