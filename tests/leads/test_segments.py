"""Segments: definitions validated per filter, live membership, scoped counts, CSV export through a
real RQ worker, and the automation action that adds a client to a segment."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import django_rq
import pytest
from django.urls import reverse
from rq import SimpleWorker

from automation.services import automation_rule_save
from crm import events
from crm.exceptions import ValidationFailed
from crm.models import RoleCode
from crm.services import client_update
from leads.models import Channel, Segment, SegmentMember
from leads.pipeline import pipeline_defaults_ensure, pipeline_move
from leads.segments import register_automation_action, segment_clients, segment_export_request, segment_save
from leads.services import lead_intake
from tests.factories import make_brand, make_user
from tests.leads.conftest import lead_data
from tests.writes import written

pytestmark = pytest.mark.django_db


def _lead(world, n, **kw):
    return lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(n, **kw)).client


@pytest.fixture
def people(world):
    pipeline_defaults_ensure(brand=world.brand)
    gb = [_lead(world, n, country="GB") for n in (1, 2)]
    de = _lead(world, 3, country="DE", phone="+4930123456" + "7")
    pipeline_move(actor=gb[0].owner, client=gb[0], status="interested")
    return world, gb, de


def test_a_definition_is_validated_filter_by_filter(people):
    world, *_ = people
    with pytest.raises(ValidationFailed) as exc:
        segment_save(actor=world.admin, brand=world.brand, name="", definition={
            "stages": ["prospect"], "countries": ["XX"], "registered_from": "yesterday", "deposits": 5,
            "pipeline_statuses": ["nope"]})
    assert set(exc.value.fields) == {"name", "stages", "countries", "registered_from", "deposits",
                                     "pipeline_statuses"}


def test_membership_follows_the_filters_and_explicit_members(people):
    world, gb, de = people
    seg = segment_save(actor=world.admin, brand=world.brand, name="UK leads", definition={"countries": ["gb"],
                                                                                          "stages": ["lead"]})
    assert seg.definition == {"countries": ["GB"], "stages": ["lead"]}
    assert set(segment_clients(segment=seg)) == set(gb)
    hot = segment_save(actor=world.admin, brand=world.brand, name="Hot", definition={"pipeline_statuses": ["interested"]})
    assert list(segment_clients(segment=hot)) == [gb[0]]
    new = segment_save(actor=world.admin, brand=world.brand, name="New", definition={"pipeline_statuses": ["new"]})
    assert set(segment_clients(segment=new)) == {gb[1], de}  # never moved: at the first status
    client_update(actor=world.admin, client=de, tags=["vip"])
    vip = segment_save(actor=world.admin, brand=world.brand, name="VIP", definition={"tags": ["VIP"]})
    assert list(segment_clients(segment=vip)) == [de]


def test_counts_are_scoped_to_the_viewer(people):
    world, gb, de = people
    seg = segment_save(actor=world.admin, brand=world.brand, name="All", definition={})
    assert segment_clients(segment=seg).count() == 3
    agent = gb[0].owner
    assert set(segment_clients(segment=seg, user=agent)) == {c for c in (*gb, de) if c.owner_id == agent.pk}
    assert segment_clients(segment=seg, user=make_user(role_code=RoleCode.SALES_AGENT)).count() == 0


def test_agents_cannot_manage_segments_and_the_pages_hide_from_them(people, client):
    world, gb, _de = people
    seg = segment_save(actor=world.admin, brand=world.brand, name="All", definition={})
    outsider = make_user(role_code=RoleCode.DESK_MANAGER, brand=make_brand(code="elsewhere"))
    before = written(Segment, SegmentMember)
    for user in (gb[0].owner, outsider):
        client.force_login(user)
        assert client.get(reverse("lead_segment_edit", args=[seg.code])).status_code == 404
        response = client.post(reverse("lead_segment_edit", args=[seg.code]),
                               {"brand": world.brand.pk, "name": "Taken over", "countries": "GB"})
        assert response.status_code == 404
    client.force_login(gb[0].owner)
    assert client.get(reverse("lead_segment_list")).status_code == 404
    assert client.post(reverse("lead_segment_list"), {"brand": world.brand.pk, "name": "Mine"}).status_code == 404
    seg.refresh_from_db()
    assert (seg.name, seg.definition) == ("All", {})
    assert written(Segment, SegmentMember) == before


def test_live_count_answers_for_unsaved_filters(people, client):
    world, *_ = people
    client.force_login(world.manager)
    response = client.post(reverse("lead_segment_count"), {"brand": world.brand.pk, "name": "x", "countries": "GB"},
                           HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and b'<span class="num">2</span>' in response.content
    response = client.post(reverse("lead_segment_count"), {"brand": world.brand.pk, "name": "x", "countries": "ZZ"})
    assert b"badge-danger" in response.content


def test_csv_export_runs_on_a_real_rq_worker_and_offers_a_link(people, client, django_capture_on_commit_callbacks):
    world, gb, de = people
    seg = segment_save(actor=world.admin, brand=world.brand, name="All", definition={})
    queue = django_rq.get_queue("default")
    queue.empty()
    with django_capture_on_commit_callbacks(execute=True):
        job = segment_export_request(actor=world.manager, segment=seg)
    assert queue.count == 1
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    job.refresh_from_db()
    assert job.status == "done" and job.result_rows == 3
    client.force_login(world.manager)
    page = client.get(reverse("job_detail", args=[job.code]))
    assert reverse("job_download", args=[job.code]).encode() in page.content
    # The segment's page lists the export.
    assert reverse("job_detail", args=[job.code]).encode() in client.get(reverse("lead_segment_edit",
                                                                                 args=[seg.code])).content
    body = b"".join(client.get(reverse("job_download", args=[job.code])).streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert {r["code"] for r in rows} == {str(c.code) for c in (*gb, de)} and "email" not in rows[0]
    client.force_login(make_user(role_code=RoleCode.DESK_MANAGER, brand=world.brand))  # not theirs
    assert client.get(reverse("job_download", args=[job.code])).status_code == 404


def test_automation_adds_a_client_to_a_segment_once(people):
    world, gb, _de = people
    register_automation_action()  # as LeadsConfig.ready() does; other tests may have withdrawn it
    seg = segment_save(actor=world.admin, brand=world.brand, name="Contacted", definition={"countries": ["FR"]})
    events.dispatch_pending()  # the fixture's events, before the rule exists
    automation_rule_save(actor=world.admin, brand=world.brand, name="Status to segment", trigger="lead.status_changed",
                         conditions=[], actions=[{"type": "add_to_segment", "segment": str(seg.code)}])
    pipeline_move(actor=gb[1].owner, client=gb[1], status="contacted")
    events.dispatch_pending()
    assert list(segment_clients(segment=seg)) == [gb[1]]
    assert SegmentMember.objects.get(segment=seg).added_by_rule == "Status to segment"
    with pytest.raises(ValidationFailed):
        automation_rule_save(actor=world.admin, brand=world.brand, name="Bad", trigger="lead.status_changed",
                             conditions=[], actions=[{"type": "add_to_segment", "segment": "not-a-segment"}])


def test_the_sales_desk_and_marketing_match_the_same_clients_with_one_engine(people):
    """One engine: a sales desk's segment and marketing's definition on the same facts (the client's,
    and the pipeline status leads registers) match the same clients; "registered until" counts its day."""
    from django.utils import timezone

    from marketing.engine import definition_clean, definition_member_ids

    world, gb, de = people
    seg = segment_save(actor=world.admin, brand=world.brand, name="New in GB",
                       definition={"pipeline_statuses": "new", "countries": "gb de"})
    marketing = definition_clean({"conditions": [{"fact": "pipeline_status", "op": "in", "value": "new"},
                                                 {"fact": "country", "op": "in", "value": ["gb", "de"]}]},
                                 brand=world.brand)
    assert sorted(c.pk for c in segment_clients(segment=seg)) == definition_member_ids(
        marketing, brand_id=world.brand.pk) == sorted([gb[1].pk, de.pk])
    today = timezone.localdate()
    until_today = segment_save(actor=world.admin, brand=world.brand, name="Until today",
                               definition={"registered_to": today})
    assert segment_clients(segment=until_today).count() == 3
    from_tomorrow = segment_save(actor=world.admin, brand=world.brand, name="From tomorrow",
                                 definition={"registered_from": (today + timedelta(days=1)).isoformat()})
    assert segment_clients(segment=from_tomorrow).count() == 0
    with pytest.raises(ValidationFailed) as exc:
        segment_save(actor=world.admin, brand=world.brand, name="Backwards",
                     definition={"registered_from": today, "registered_to": today - timedelta(days=1)})
    assert set(exc.value.fields) == {"registered_to"}
