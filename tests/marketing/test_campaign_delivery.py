# ruff: noqa: F811 - the fixtures of test_campaigns are imported, and named as parameters
"""A campaign's batches are written whole or not at all, and consent is asked again at delivery: a send
job that dies in the middle of a batch leaves none of that batch queued or handed to Celery, and its
rerun mails every member once; a member who withdraws consent (or whose address is suppressed) after
their email was queued is not sent it, while their transactional mail still goes; the budget is
taken for a batch at once and never exceeded. Built through the services; delivered by the emails
app's batch task body into Django's test outbox."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from django.core import mail

from crm.jobs import job_execute
from crm.models import Event, JobStatus
from emails.models import EmailStatus, OutboundEmail
from emails.services import (
    email_deliver_batch,
    email_deliver_batch_task,
    email_deliver_task,
    email_send_templated,
    email_template_save,
)
from marketing import campaigns
from marketing.campaign_models import CampaignStatus
from marketing.campaigns import campaign_resume, campaign_send
from marketing.consent import consent_record, suppress
from tests.marketing.test_campaigns import _campaign, _mailed, _open_all_day, _send, world  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


@pytest.fixture
def handed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The email ids handed to Celery (batch and single tasks), in order."""
    seen: list[int] = []
    monkeypatch.setattr(email_deliver_batch_task, "apply_async", lambda args: seen.extend(args[0]))
    monkeypatch.setattr(email_deliver_task, "apply_async", lambda args, countdown=None: seen.append(args[0]))
    return seen


def test_a_job_that_dies_mid_batch_leaves_that_batch_unsent_and_its_rerun_mails_everyone_once(
    world: Any, monkeypatch: pytest.MonkeyPatch, handed: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    monkeypatch.setattr(campaigns, "BATCH", 7)
    real_queue = campaigns.email_queue_many
    calls: list[int] = []

    def queue_then_die(**kwargs: Any) -> Any:
        # The second batch's emails are written, then the worker dies before its members are marked.
        queued = real_queue(**kwargs)
        calls.append(len(queued))
        if len(calls) == 2:
            raise RuntimeError("worker killed")
        return queued

    monkeypatch.setattr(campaigns, "email_queue_many", queue_then_die)
    campaign = campaign_send(actor=world[1], campaign=_campaign(world, holdout_percent=0))
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        job_execute(campaign.job_id)
    first = OutboundEmail.objects.filter(template_key=campaigns.TEMPLATE_KEY)
    assert first.count() == calls[0] == sum(_mailed(campaign).values())  # the dying batch left no email
    # Whatever was handed to Celery for it names no email: delivering sends the first batch alone.
    outcomes = email_deliver_batch(email_ids=handed)
    assert sorted(pk for pk, status in outcomes.items() if status == "sent") == sorted(
        first.values_list("pk", flat=True)
    )
    monkeypatch.setattr(campaigns, "email_queue_many", real_queue)
    campaign = campaign_resume(actor=world[1], campaign=campaign)
    with django_capture_on_commit_callbacks(execute=True):
        assert job_execute(campaign.job_id) == JobStatus.DONE
    campaign.refresh_from_db()
    mailed = _mailed(campaign)
    assert campaign.status == CampaignStatus.SENT
    assert set(mailed) == world[3] and set(mailed.values()) == {1}
    email_deliver_batch(email_ids=handed)
    # Every consenting member got the campaign once, counting both runs.
    assert sorted(m.to[0] for m in mail.outbox) == sorted(c.email for c in world[2] if c.pk in world[3])
    assert email_deliver_batch(email_ids=handed) == dict.fromkeys(handed, "skipped")  # nothing goes twice


def test_who_withdraws_consent_after_queueing_is_not_sent_but_still_gets_transactional_mail(
    world: Any, handed: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    brand, _marketer, clients, consenting, _segment = world
    with django_capture_on_commit_callbacks(execute=True):
        campaign = _send(world, _campaign(world, holdout_percent=0))
    codes = dict(campaign.recipients.exclude(email_code=None).values_list("client_id", "email_code"))
    assert set(codes) == consenting
    withdrawn, bounced = [c for c in clients if c.pk in codes][:2]
    consent_record(client=withdrawn, channel="email", given=False, source="portal")
    suppress(brand=brand, address=bounced.email, channel="email", reason="hard_bounce", source="test")
    email_template_save(
        actor=None,
        brand=brand,
        key="receipt",
        language="en",
        subject="Your withdrawal",
        body="We sent your money, {{ client.first_name }}.",
    )
    with django_capture_on_commit_callbacks(execute=True):
        receipt = email_send_templated(template_key="receipt", client=withdrawn, actor=None).email
    assert receipt is not None

    outcomes = email_deliver_batch(email_ids=[*handed, receipt.pk])
    refused = OutboundEmail.objects.filter(code__in=[codes[withdrawn.pk], codes[bounced.pk]])
    assert {outcomes[e.pk] for e in refused} == {EmailStatus.FAILED}
    assert all("consent withdrawn or address suppressed" in e.last_error for e in refused)
    assert outcomes[receipt.pk] == EmailStatus.SENT  # transactional mail is never held back by consent
    to = Counter(m.to[0] for m in mail.outbox)
    assert (
        to[bounced.email] == 0 and to[withdrawn.email] == 1 and mail.outbox[-1].subject == "Your withdrawal"
    )
    assert sum(to.values()) == len(consenting) - 2 + 1
    failed = Event.objects.filter(name="email.failed").values_list("data__email", flat=True)
    assert sorted(failed) == sorted(
        str(e.code) for e in refused
    )  # the members' delivery is recorded as failed


def test_a_batch_takes_its_budget_at_once_and_never_more_than_is_left(world: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(campaigns, "BATCH", 50)
    asked: list[int] = []
    left = [11]

    def take(key: str, rate: str, wanted: int) -> int:
        asked.append(wanted)
        granted = min(wanted, left[0])
        left[0] -= granted
        return granted

    def refill(seconds: float) -> None:
        left[0] = 11

    monkeypatch.setattr(campaigns, "rate_take", take)
    monkeypatch.setattr(campaigns, "rate_spent", lambda key, rate: 0 if left[0] else 60)
    monkeypatch.setattr(campaigns.time, "sleep", refill)
    campaign = _send(world, _campaign(world, holdout_percent=0))
    assert campaign.status == CampaignStatus.SENT
    assert asked[0] == len(world[3])  # one ask for the whole batch, not one per email
    assert sum(_mailed(campaign).values()) == len(world[3])
