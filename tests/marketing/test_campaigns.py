"""Email campaigns to a segment: only consenting members are mailed, the hold-out group never is, the
A/B split is deterministic and near its shares, a cancel stops the rest, a rerun of the send job sends
nobody twice, results follow members who deposit after the send (against the hold-out group), the
click redirect goes only to http(s) targets, and the pages name bad input. Everything is built through
the services: segments, consent decisions, the send job as django-rq runs it, deposits posted as the
wallet posts them."""

from __future__ import annotations

import uuid
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from django.core import signing
from django.urls import reverse
from django.utils import timezone

from crm.jobs import job_execute
from crm.models import AuditLog, Event, Job, JobStatus, RoleCode
from emails.models import OutboundEmail
from marketing import campaigns
from marketing.campaign_handlers import campaign_email_sent
from marketing.campaign_models import Campaign, CampaignRecipient, CampaignStatus, RecipientStatus
from marketing.campaign_results import campaign_results
from marketing.campaigns import VariantText, campaign_cancel, campaign_resume, campaign_save, campaign_send
from marketing.consent import consent_record
from marketing.services import segment_save
from tests.compliance.aml_support import ago, deposit
from tests.factories import make_brand, make_client, make_user

pytestmark = pytest.mark.django_db

ALL_REGISTERED = {"match": "all", "conditions": [{"fact": "stage", "op": "in", "value": ["registered"]}]}


@pytest.fixture(autouse=True)
def _open_all_day(settings):
    settings.MARKETING_CAMPAIGN_WINDOW = (0, 24)
    settings.MARKETING_CAMPAIGN_RATE = "100000/m"


@pytest.fixture
def world() -> Any:
    brand = make_brand(name="Aurora")
    marketer = make_user(role_code=RoleCode.MARKETING, brand=brand, full_name="Mia Marketer",
                         email="mia@aurora.example")
    clients = [make_client(brand=brand, stage="registered", email=f"member{i}@example.com") for i in range(40)]
    consenting = clients[:30]
    for client in consenting:
        consent_record(client=client, channel="email", given=True, source="portal")
    segment = segment_save(actor=marketer, brand=brand, name="Registered", definition=ALL_REGISTERED)
    return brand, marketer, clients, {c.pk for c in consenting}, segment


def _campaign(world: Any, **values: Any) -> Campaign:
    brand, marketer, _clients, _consenting, segment = world
    values.setdefault("holdout_percent", 20)
    values.setdefault(
        "variants",
        [VariantText("A", "Hello {{ client.first_name }}", "Trade gold: https://aurora.example/gold", 50),
         VariantText("B", "News for {{ client.first_name }}", "See https://aurora.example/news", 50)],
    )
    return campaign_save(actor=marketer, brand=brand, name=values.pop("name", "Gold week"), segment=segment,
                         **values)


def _send(world: Any, campaign: Campaign) -> Campaign:
    campaign = campaign_send(actor=world[1], campaign=campaign)
    job_execute(campaign.job_id)
    campaign.refresh_from_db()
    return campaign


def _mailed(campaign: Campaign) -> Counter[int]:
    codes = campaign.recipients.exclude(email_code=None).values_list("email_code", flat=True)
    return Counter(OutboundEmail.objects.filter(code__in=list(codes)).values_list("client_id", flat=True))


def test_a_campaign_reaches_only_consenting_members_and_never_the_holdout(world):
    _brand, marketer, clients, consenting, segment = world
    campaign = _send(world, _campaign(world))
    assert campaign.status == CampaignStatus.SENT and campaign.job.status == JobStatus.DONE
    rows = {r.client_id: r for r in campaign.recipients.select_related("variant")}
    assert set(rows) == {c.pk for c in clients}  # every member of the segment is recorded
    held = {pk for pk, r in rows.items() if r.variant is None}
    assert held and all(rows[pk].status == RecipientStatus.HELD_OUT for pk in held)
    mailed = _mailed(campaign)
    assert set(mailed) == consenting - held and set(mailed.values()) == {1}
    for pk in {c.pk for c in clients} - consenting - held:
        assert rows[pk].status == RecipientStatus.SKIPPED_NO_CONSENT and "consent" in rows[pk].reason
    # Whom it went to and why: the segment's snapshot, named for the campaign.
    assert campaign.snapshot.reason == "campaign Gold week" and campaign.snapshot.member_count == len(clients)
    email = OutboundEmail.objects.filter(client_id=next(iter(mailed))).get()
    assert email.headers["X-CRM-Campaign"] == str(campaign.code) and email.headers["X-CRM-Marketing"] == "campaign"
    assert email.headers["List-Unsubscribe"].startswith("<http") and "List-Unsubscribe-Post" in email.headers
    assert email.template_key == campaigns.TEMPLATE_KEY and email.subject.startswith(("Hello ", "News for "))
    assert "/m/c/" in email.body_text and "aurora.example/gold" not in email.body_text.split("/m/c/")[0][-30:]
    assert "/m/o/" in email.body_html  # the open pixel
    job = Job.objects.get(pk=campaign.job_id)
    assert job.counts["sent"] == len(mailed) and job.counts["held_out"] == len(held)
    assert job.started_by == marketer


def test_the_split_is_deterministic_and_near_the_shares():
    code = uuid.uuid4()
    shares = [("A", 70), ("B", 30)]
    groups = [campaigns.recipient_group(campaign_code=code, client_id=i, holdout_percent=10, shares=shares)
              for i in range(1, 20_001)]
    again = [campaigns.recipient_group(campaign_code=code, client_id=i, holdout_percent=10, shares=shares)
             for i in range(1, 20_001)]
    assert groups == again
    counts = Counter(groups)
    assert abs(counts[None] / 20_000 - 0.10) < 0.01
    assert abs(counts["A"] / 20_000 - 0.63) < 0.015 and abs(counts["B"] / 20_000 - 0.27) < 0.015
    other = [campaigns.recipient_group(campaign_code=uuid.uuid4(), client_id=i, holdout_percent=10, shares=shares)
             for i in range(1, 201)]
    assert other != groups[:200]  # another campaign draws its own groups


def test_the_recorded_groups_follow_the_split(world):
    campaign = _send(world, _campaign(world, holdout_percent=25))
    shares = [(v.label, v.share_percent) for v in campaign.variants.all()]
    for row in campaign.recipients.select_related("variant"):
        expected = campaigns.recipient_group(campaign_code=campaign.code, client_id=row.client_id,
                                             holdout_percent=25, shares=shares)
        assert (row.variant.label if row.variant else None) == expected


def test_cancel_stops_the_rest(world, monkeypatch):
    monkeypatch.setattr(campaigns, "BATCH", 5)
    campaign = _campaign(world, holdout_percent=0)
    real_batch = campaigns._batch
    calls = []

    def batch_then_cancel(*args: Any, **kwargs: Any) -> Any:
        last = real_batch(*args, **kwargs)
        calls.append(last)
        if len(calls) == 1:  # the marketer presses cancel while the first batch is out
            campaign_cancel(actor=world[1], campaign=campaign)
        return last

    monkeypatch.setattr(campaigns, "_batch", batch_then_cancel)
    campaign = campaign_send(actor=world[1], campaign=campaign)
    assert job_execute(campaign.job_id) == JobStatus.CANCELLED
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.CANCELLED and len(calls) == 1
    statuses = Counter(campaign.recipients.values_list("status", flat=True))
    assert statuses[RecipientStatus.SENT] + statuses[RecipientStatus.SKIPPED_NO_CONSENT] == 5
    assert statuses[RecipientStatus.QUEUED] == 0 and statuses[RecipientStatus.CANCELLED] == 35
    assert sum(_mailed(campaign).values()) == statuses[RecipientStatus.SENT]
    assert AuditLog.objects.filter(action="marketing.campaign_cancelled", object_id=str(campaign.code)).exists()


def test_a_rerun_of_the_send_job_sends_nobody_twice(world, monkeypatch):
    monkeypatch.setattr(campaigns, "BATCH", 7)
    campaign = _campaign(world)
    real_batch = campaigns._batch
    calls = []

    def batch_then_die(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("worker killed")
        return real_batch(*args, **kwargs)

    monkeypatch.setattr(campaigns, "_batch", batch_then_die)
    campaign = campaign_send(actor=world[1], campaign=campaign)
    with pytest.raises(RuntimeError):
        job_execute(campaign.job_id)
    first = sum(_mailed(campaign).values())
    assert 0 < first < len(world[3])
    campaign = campaign_resume(actor=world[1], campaign=campaign)
    assert job_execute(campaign.job_id) == JobStatus.DONE
    campaign.refresh_from_db()
    mailed = _mailed(campaign)
    held = set(campaign.recipients.filter(variant=None).values_list("client_id", flat=True))
    assert set(mailed) == world[3] - held and set(mailed.values()) == {1}
    assert campaign.status == CampaignStatus.SENT
    # Run once more after it was sent: nothing new.
    job = Job.objects.get(pk=campaign.job_id)
    campaigns.campaign_send_run(campaigns.JobHandle(job), campaign_id=campaign.pk)
    assert _mailed(campaign) == mailed


def test_members_outside_their_sending_hours_wait(world, settings):
    brand, marketer, _clients, _consenting, _segment = world
    tokyo_hour = timezone.now().astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo")).hour
    settings.MARKETING_CAMPAIGN_WINDOW = (tokyo_hour, tokyo_hour + 1)
    awake = make_client(brand=brand, stage="registered", email="tokyo@example.com", timezone="Asia/Tokyo")
    consent_record(client=awake, channel="email", given=True, source="portal")
    campaign = _send(world, _campaign(world, holdout_percent=0))
    rows = dict(campaign.recipients.values_list("client_id", "status"))
    assert rows[awake.pk] == RecipientStatus.SENT
    assert Counter(rows.values())[RecipientStatus.QUEUED] == len(world[3])  # the UTC members wait
    assert campaign.status == CampaignStatus.SENDING
    assert Job.objects.get(pk=campaign.job_id).counts["waiting"] == len(world[3])


def test_a_member_who_deposits_after_the_send_shows_in_results_against_the_holdout(world, as_user):
    campaign = _send(world, _campaign(world, holdout_percent=30, winner_metric="deposit"))
    sent = campaign.recipients.filter(status=RecipientStatus.SENT).select_related("variant", "client")
    buyer = next(r for r in sent if r.variant.label == "A")
    held = campaign.recipients.filter(status=RecipientStatus.HELD_OUT).select_related("client")
    deposit(buyer.client, "250.00")
    deposit(held[0].client, "90.00", at=ago(days=3))  # before the campaign: not its result
    deposit(held[1].client, "40.00")
    results = campaign_results(campaign=campaign, min_sent=1)
    a, holdout = results.group("A"), results.holdout
    assert (a.first_deposits, a.depositors) == (1, 1)
    assert [(m.amount, m.currency) for m in a.deposits] == [(Decimal("250.00000000"), "USD")]
    assert (holdout.members, holdout.first_deposits, holdout.depositors) == (len(held), 1, 1)
    assert results.group("B").first_deposits == 0
    assert results.lift(a) == pytest.approx(1 / a.members - 1 / holdout.members)
    assert results.winner == "A"
    # The page shows the same.
    http = as_user(world[1])
    page = http.get(reverse("marketing_campaign", args=[campaign.code])).content.decode()
    assert 'data-group="A"' in page and 'data-group="holdout"' in page and "250.00\xa0USD" in page
    swap = http.get(reverse("marketing_campaign", args=[campaign.code]), HTTP_HX_REQUEST="true").content.decode()
    assert swap.lstrip().startswith('<div id="campaign-results"') and "250.00\xa0USD" in swap


def test_opens_clicks_and_delivery_are_counted(world, client):
    campaign = _send(world, _campaign(world))
    row = campaign.recipients.filter(status=RecipientStatus.SENT).first()
    opened = client.get(_path(campaigns.open_url(recipient_code=row.code)))
    assert opened.status_code == 200 and opened["Content-Type"] == "image/gif"
    clicked = client.get(_path(campaigns.click_url(recipient_code=row.code, url="https://aurora.example/gold?x=1")))
    assert clicked.status_code == 302 and clicked["Location"] == "https://aurora.example/gold?x=1"
    email = OutboundEmail.objects.get(code=row.email_code)
    campaign_email_sent(Event(name="email.sent", data={"email": str(email.code)}, occurred_at=timezone.now()))
    row.refresh_from_db()
    assert row.opened_at and row.clicked_at and row.delivered_at
    group = campaign_results(campaign=campaign).group(row.variant.label)
    assert (group.opened, group.clicked, group.delivered) == (1, 1, 1)


def _path(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


@pytest.mark.parametrize("target", ["javascript:alert(1)", "data:text/html,hi", "//evil.example/", "ftp://x.example/",
                                    "https://ok.example/\r\nSet-Cookie: a=b"])
def test_the_click_redirect_refuses_targets_that_are_not_http(world, client, target):
    campaign = _send(world, _campaign(world))
    row = campaign.recipients.filter(status=RecipientStatus.SENT).first()
    response = client.get(_path(campaigns.click_url(recipient_code=row.code, url=target)))
    assert response.status_code == 400 and "Location" not in response
    row.refresh_from_db()
    assert row.clicked_at is None


def test_a_forged_click_token_is_refused(client):
    forged = signing.dumps({"r": str(uuid.uuid4()), "u": "https://x.example/"}, salt="other", compress=True)
    assert client.get(reverse("marketing_campaign_click", args=[forged])).status_code == 400


@pytest.fixture
def as_user(client, login_verified):
    def sign_in(user):
        client.logout()
        login_verified(client, user)
        return client

    return sign_in


def _form(brand: Any, segment: Any, **values: Any) -> dict[str, Any]:
    data = {"brand": str(brand.pk), "name": "Spring", "segment": str(segment.code), "holdout_percent": "10",
            "attribution_days": "14", "winner_metric": "click", "cost_amount": "", "cost_currency": "",
            "subject_a": "Hi {{ client.first_name }}", "body_a": "Hello", "share_a": "50",
            "subject_b": "Hey {{ client.first_name }}", "body_b": "Hello again", "share_b": "50"}
    data.update(values)
    return data


def test_a_marketer_writes_previews_tests_and_sends_a_campaign_from_the_pages(world, as_user):
    brand, marketer, clients, _consenting, segment = world
    http = as_user(marketer)
    assert http.get(reverse("marketing_campaigns")).status_code == 200
    page = http.get(reverse("marketing_campaign_new")).content.decode()
    assert 'hx-post="/marketing/campaigns/count/"' in page
    count = http.post(reverse("marketing_campaign_count"), _form(brand, segment), HTTP_HX_REQUEST="true")
    assert '<span class="num">40</span>' in count.content.decode()
    preview = http.post(reverse("marketing_campaign_preview"), {**_form(brand, segment), "variant": "A"},
                        HTTP_HX_REQUEST="true").content.decode()
    assert f"Hi {clients[0].first_name}" in preview and "address masked" in preview
    test = http.post(reverse("marketing_campaign_test"), {**_form(brand, segment), "variant": "B"},
                     HTTP_HX_REQUEST="true")
    assert "mia@aurora.example" in test.content.decode()
    tests = [e for e in OutboundEmail.objects.filter(client=None, brand=brand) if e.to_email == "mia@aurora.example"]
    assert len(tests) == 1 and tests[0].subject == f"[Test] Hey {clients[0].first_name}"
    saved = http.post(reverse("marketing_campaign_new"), _form(brand, segment, cost_amount="1500.00",
                                                              cost_currency="USD"))
    assert saved.status_code == 302
    campaign = Campaign.objects.get(brand=brand, name="Spring")
    assert (campaign.cost_amount, campaign.cost_currency, campaign.status) == (Decimal("1500"), "USD", "draft")
    response = http.post(reverse("marketing_campaign_send", args=[campaign.code]))
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENDING and campaign.job_id


@pytest.mark.parametrize(("values", "field", "message"), [
    ({"share_b": "30"}, "share_b", "add up to 100"),
    ({"body_a": "{% load static %}"}, "body_a", "not available"),
    ({"subject_a": ""}, "subject_a", "required"),
    ({"holdout_percent": "80"}, "holdout_percent", "50"),
    ({"cost_amount": "1e3", "cost_currency": "USD"}, "cost_amount", ""),
    ({"subject_b": "", "body_b": "only a body"}, "subject_b", "Variant B needs"),
])
def test_bad_form_input_gets_errors_naming_the_field(world, as_user, values, field, message):
    brand, marketer, _clients, _consenting, segment = world
    http = as_user(marketer)
    response = http.post(reverse("marketing_campaign_new"), _form(brand, segment, **values))
    assert response.status_code == 422
    errors = response.context["form"].errors
    assert field in errors and message in " ".join(errors[field])
    assert not Campaign.objects.filter(brand=brand).exists()


def test_campaign_pages_are_for_the_brands_marketers(world, as_user):
    brand, marketer, _clients, _consenting, _segment = world
    campaign = _campaign(world)
    agent = make_user(role_code=RoleCode.SALES_AGENT, brand=brand)
    outsider = make_user(role_code=RoleCode.MARKETING, brand=make_brand(name="Elsewhere"))
    url = reverse("marketing_campaign", args=[campaign.code])
    assert as_user(marketer).get(url).status_code == 200
    for user in (agent, outsider):
        http = as_user(user)
        assert http.get(url).status_code == 404
        assert http.post(reverse("marketing_campaign_send", args=[campaign.code])).status_code == 404
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT and not CampaignRecipient.objects.filter(campaign=campaign).exists()


def test_the_demo_sends_a_campaign_with_results_once():
    import io

    from django.core.management import call_command

    make_user(role_code=RoleCode.ADMIN)
    for code, name in (("atlas", "Atlas Markets"), ("nova", "Nova FX")):
        brand = make_brand(code=code, name=name)
        for n in range(12):
            client = make_client(brand=brand, language="en", stage="registered", email=f"{code}{n}@example.com")
            deposit(client, "6000.00", at=ago(days=20))
    out = io.StringIO()
    call_command("marketing_seed_demo", stdout=out)
    assert "2 campaigns sent" in out.getvalue()
    campaign = Campaign.objects.get(brand__code="atlas")
    assert campaign.status == CampaignStatus.SENT and campaign.snapshot.member_count == 12
    results = campaign_results(campaign=campaign)
    assert sum(g.members for g in results.variants) + results.holdout.members + sum(
        g.skipped + g.failed for g in results.variants) == 12
    call_command("marketing_seed_demo", stdout=io.StringIO())
    assert Campaign.objects.count() == 2


def test_a_scheduled_campaign_starts_when_its_time_comes(world):
    import datetime as dt

    from marketing.campaigns import campaign_schedule, campaigns_start_due

    campaign = campaign_schedule(actor=world[1], campaign=_campaign(world), at=timezone.now() + dt.timedelta(hours=1))
    assert campaigns_start_due() == 0
    assert campaigns_start_due(now=timezone.now() + dt.timedelta(hours=2)) == 1
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENDING and campaign.job.started_by == world[1]
    with pytest.raises(campaigns.ValidationFailed):
        campaign_schedule(actor=world[1], campaign=_campaign(world, name="Past"), at=ago(hours=1))


def test_a_marketer_schedules_a_campaign_in_their_own_time_zone(world, as_user):
    import datetime as dt
    import zoneinfo

    campaign = _campaign(world)
    http = as_user(world[1])
    local = (timezone.now() + dt.timedelta(days=1)).astimezone(zoneinfo.ZoneInfo(world[1].timezone or "UTC"))
    response = http.post(reverse("marketing_campaign_schedule", args=[campaign.code]),
                         {"at": local.strftime("%Y-%m-%dT%H:%M")})
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SCHEDULED
    assert abs((campaign.scheduled_at - local).total_seconds()) < 60
    page = http.get(reverse("marketing_campaign", args=[campaign.code])).content.decode()
    assert "Scheduled for" in page


def test_sending_keeps_to_the_brands_budget_per_minute(world, monkeypatch):
    """A budget of 4 emails a window: the job pauses until the window ends, then goes on, and never
    mails more than 4 in one window (the windows are counted here instead of by the clock)."""
    windows: list[int] = [0]

    def spent(key: str, rate: str) -> int:
        return 30 if windows[-1] >= 4 else 0

    def take(key: str, rate: str, wanted: int) -> int:  # a batch takes what is left of the window
        granted = min(wanted, max(0, 4 - windows[-1]))
        windows[-1] += granted
        return granted

    def sleep(seconds: float) -> None:
        windows.append(0)  # the window ended

    monkeypatch.setattr(campaigns, "rate_spent", spent)
    monkeypatch.setattr(campaigns, "rate_take", take)
    monkeypatch.setattr(campaigns.time, "sleep", sleep)
    campaign = _send(world, _campaign(world, holdout_percent=0))
    assert campaign.status == CampaignStatus.SENT
    assert sum(windows) == len(world[3]) and max(windows) == 4 and len(windows) >= len(world[3]) // 4


def test_an_unsubscribe_from_the_campaigns_link_counts_for_its_variant(world):
    campaign = _send(world, _campaign(world))
    row = campaign.recipients.filter(status=RecipientStatus.SENT).select_related("client", "variant").first()
    consent_record(client=row.client, channel="email", given=False, source="unsubscribe",
                   campaign_code=str(campaign.code))
    results = campaign_results(campaign=campaign)
    assert results.group(row.variant.label).unsubscribed == 1
    assert sum(g.unsubscribed for g in results.groups) == 1
