"""The segment pages: the list and builder, the live count (htmx), a segment's page with its versions and
recorded members. Checked three ways: a marketer of the brand, a sales agent of the brand (no segments),
and a marketer of another brand (the segment is not found)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm.models import AuditLog, RoleCode
from marketing.models import Segment
from marketing.services import segment_save
from tests.compliance.aml_support import ago, deposit
from tests.factories import make_brand, make_client, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_user(client, login_verified):
    def sign_in(user):
        client.logout()
        login_verified(client, user)
        return client

    return sign_in


@pytest.fixture
def world():
    brand = make_brand(name="Aurora")
    marketer = make_user(role_code=RoleCode.MARKETING, brand=brand, full_name="Mia Marketer")
    funded = make_client(brand=brand, language="es", stage="registered")
    deposit(funded, "300.00", at=ago(days=20))
    make_client(brand=brand, language="en", stage="registered")
    make_client(brand=brand, language="de", stage="registered")
    return brand, marketer, funded


def _rows(brand, **rows):
    data = {"brand": str(brand.pk), "name": "Funded", "match": "all", "definition_json": ""}
    data.update(rows)
    return data


def test_a_marketer_builds_a_segment_sees_the_live_count_and_saves_it(world, as_user):
    brand, marketer, _funded = world
    http = as_user(marketer)
    page = http.get(reverse("marketing_segments"))
    assert page.status_code == 200 and "Marketing segments" in page.content.decode()
    assert 'hx-post="/marketing/segments/count/"' in page.content.decode()
    count = http.post(
        reverse("marketing_segment_count"),
        _rows(brand, name="", fact_0="language", op_0="in", value_0="en, es"),
        HTTP_HX_REQUEST="true",
    )
    assert count.status_code == 200 and '<span class="num">2</span>' in count.content.decode()
    count = http.post(
        reverse("marketing_segment_count"),
        _rows(brand, fact_0="language", op_0="in", value_0="en es", fact_1="first_deposit", op_1="exists"),
    )
    assert '<span class="num">1</span>' in count.content.decode()
    bad = http.post(
        reverse("marketing_segment_count"),
        _rows(brand, fact_0="net_deposits", op_0="gte", value_0="plenty", currency_0="USD"),
    )
    assert "conditions.0.value: Net deposits: give a number" in bad.content.decode()
    saved = http.post(
        reverse("marketing_segments"),
        _rows(brand, fact_0="language", op_0="in", value_0="en es", fact_1="first_deposit", op_1="exists"),
    )
    segment = Segment.objects.get(brand=brand, name="Funded")
    assert saved.status_code == 302 and saved["Location"] == reverse("marketing_segment", args=[segment.code])
    assert segment.definition == {
        "match": "all",
        "conditions": [
            {"fact": "language", "op": "in", "value": ["en", "es"]},
            {"fact": "first_deposit", "op": "exists"},
        ],
    }
    detail = http.get(saved["Location"]).content.decode()
    assert '<span class="num">1</span>' in detail and 'value="en es"' in detail
    # Its versions read in words, not as the stored data.
    assert "all of: Language is one of en, es; First deposit ever" in detail and "{&#x27;match" not in detail
    assert AuditLog.objects.filter(action="marketing.segment_saved", actor=marketer).exists()


def test_a_bad_row_is_shown_on_the_form_and_nothing_is_saved(world, as_user):
    brand, marketer, _funded = world
    http = as_user(marketer)
    page = http.post(
        reverse("marketing_segments"), _rows(brand, fact_0="last_trade", op_0="within_days", days_0="many")
    )
    assert page.status_code == 422
    assert "Last trade: give a number of days" in page.content.decode()
    assert not Segment.objects.filter(brand=brand).exists()


def test_recording_members_keeps_who_matched(world, as_user):
    brand, marketer, funded = world
    segment = segment_save(
        actor=marketer,
        brand=brand,
        name="Funded",
        definition={"conditions": [{"fact": "first_deposit", "op": "exists"}]},
    )
    http = as_user(marketer)
    done = http.post(reverse("marketing_segment_snapshot", args=[segment.code]), {"reason": "test send"})
    assert done.status_code == 302
    snapshot = segment.snapshots.get()
    assert (snapshot.member_count, list(snapshot.members.values_list("client_id", flat=True))) == (
        1,
        [funded.pk],
    )
    page = http.get(reverse("marketing_segment", args=[segment.code])).content.decode()
    assert "test send" in page and "Mia Marketer" in page


def test_a_sales_agent_and_another_brands_marketer_find_nothing(world, as_user):
    brand, marketer, _funded = world
    segment = segment_save(
        actor=marketer,
        brand=brand,
        name="Funded",
        definition={"conditions": [{"fact": "first_deposit", "op": "exists"}]},
    )
    agent = make_user(role_code=RoleCode.SALES_AGENT, brand=brand)
    stranger = make_user(role_code=RoleCode.MARKETING, brand=make_brand())
    for user in (agent, stranger):
        http = as_user(user)
        assert http.get(reverse("marketing_segment", args=[segment.code])).status_code == 404
        assert http.post(reverse("marketing_segment_snapshot", args=[segment.code])).status_code == 404
        changed = http.post(reverse("marketing_segment", args=[segment.code]), _rows(brand, name="Hijacked"))
        assert changed.status_code == 404
    assert as_user(agent).get(reverse("marketing_segments")).status_code == 404
    # The stranger's own list does not show it, and their brand choice does not offer ours.
    page = as_user(stranger).get(reverse("marketing_segments")).content.decode()
    assert "Funded" not in page and "Aurora" not in page
    saved = as_user(stranger).post(reverse("marketing_segments"), _rows(brand, name="Ours now"))
    assert saved.status_code == 422 and not Segment.objects.filter(name="Ours now").exists()
    segment.refresh_from_db()
    assert segment.name == "Funded" and not segment.snapshots.exists()


def test_the_risk_band_is_not_offered_to_a_marketer_but_is_to_compliance(world, as_user):
    brand, marketer, _funded = world
    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=brand)
    assert 'value="risk_band"' not in as_user(marketer).get(reverse("marketing_segments")).content.decode()
    assert 'value="risk_band"' in as_user(officer).get(reverse("marketing_segments")).content.decode()
    refused = as_user(marketer).post(
        reverse("marketing_segment_count"), _rows(brand, fact_0="risk_band", op_0="in", value_0="high")
    )
    assert "Unknown fact" in refused.content.decode()
