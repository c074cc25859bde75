"""The core's delivery lifecycles through their state machines (crm.lib.states): an event delivery
that succeeded is never run again, a finished job never runs or finishes again, and an outbound
webhook delivery is moved only from the states its table allows, the set-based paths included (a
worker recording an outcome for a delivery it no longer holds writes nothing)."""

from __future__ import annotations

import uuid
from typing import TypedDict

import pytest
from django.db import transaction
from django.utils import timezone

from crm import events, jobs
from crm.exceptions import EventDeliveryTransitionRefused, JobTransitionRefused
from crm.models import (
    EVENT_DELIVERY_STATES,
    JOB_STATES,
    DeliveryStatus,
    Event,
    EventDelivery,
    JobStatus,
    Notification,
)
from integrations import services as outbound
from integrations.exceptions import WebhookDeliveryTransitionRefused
from integrations.models import (
    WEBHOOK_DELIVERY_STATES,
    WebhookAttempt,
    WebhookDelivery,
    WebhookDeliveryStatus,
)
from integrations.services import apikey_create
from tests.factories import make_brand, make_client, make_user

pytestmark = pytest.mark.django_db


class UserData(TypedDict):
    user_id: int


events.declare("test.lifecycle", payload=UserData)


def effect(event: Event) -> None:
    Notification.objects.create(user_id=event.data["user_id"], kind="test_lifecycle", title=event.name)


@pytest.fixture
def registry():
    saved = ({name: list(hs) for name, hs in events._registry.items()}, list(events._wildcard))
    events._registry.clear()
    events._wildcard.clear()
    yield events
    events._registry.clear()
    events._registry.update(saved[0])
    events._wildcard[:] = saved[1]


def test_a_delivery_that_succeeded_is_refused_a_second_run_naming_both_states(registry):
    user = make_user(role_code="sales_agent")
    registry.subscribe("test.lifecycle")(effect)
    with transaction.atomic():
        event = events.emit("test.lifecycle", data={"user_id": user.pk})
    events.dispatch_pending()
    delivery = EventDelivery.objects.get(event=event)
    assert delivery.status == DeliveryStatus.SUCCEEDED

    with pytest.raises(EventDeliveryTransitionRefused) as caught:
        events._retry(delivery, timezone.now())  # the worker's retry path, given a delivery it must not run
    assert caught.value.message == "An event delivery that is succeeded cannot become succeeded."
    assert caught.value.status_code == 409
    assert Notification.objects.filter(kind="test_lifecycle").count() == 1  # the handler did not run again
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SUCCEEDED, 1)
    # Set-based: a retry scheduled for it moves nothing (its WHERE is the sources of "failed").
    assert EVENT_DELIVERY_STATES.sources(DeliveryStatus.FAILED) == [DeliveryStatus.DEAD, DeliveryStatus.FAILED]
    assert events.delivery_retry_schedule(delivery_ids=[delivery.pk]) == 0


def test_a_cancelled_job_never_runs_nor_finishes_again(django_capture_on_commit_callbacks):
    brand = make_brand(code="lifecycle")
    starter = make_user(role_code="desk_manager", brand=brand)
    with django_capture_on_commit_callbacks(execute=False):  # not handed to the queue: cancelled first
        job = jobs.job_start(kind="test.count", actor=starter, brand=brand, title="Counting",
                             func="tests.crm.job_funcs.count", kwargs={"n": 3})
        job = jobs.job_cancel(actor=starter, job=job)
    assert job.status == JobStatus.CANCELLED

    assert jobs.job_execute(job.pk) == "skipped"
    assert jobs._finish(job.pk, JobStatus.FAILED, "too late") is False  # the worker's end, set-based
    job.refresh_from_db()
    assert (job.status, job.started_at, job.failure_reason) == (JobStatus.CANCELLED, None, "")
    with pytest.raises(JobTransitionRefused) as caught:
        JOB_STATES.move(job, JobStatus.RUNNING)
    assert caught.value.message == "A job that is cancelled cannot become running."
    assert job.status == JobStatus.CANCELLED


def test_a_webhook_outcome_is_recorded_only_for_a_delivery_being_sent():
    brand = make_brand()
    admin = make_user(role_code="admin", email=f"owner-{uuid.uuid4().hex[:6]}@staff.example.com")
    key, _raw = apikey_create(actor=admin, brand=brand, name="BI tool", scopes=["events:read"])
    sub = outbound.subscriber_create(actor=admin, api_key=key, name="BI", url="https://hooks.example.com/crm",
                                     event_types=["task.completed"]).subscriber
    event = events.emit("task.completed", client=make_client(brand=brand),
                        data={"task": str(uuid.uuid4()), "title": "Call back"})
    events.deliver_event(event)
    delivery = WebhookDelivery.objects.get(subscriber=sub, event=event)
    assert delivery.status == WebhookDeliveryStatus.PENDING

    # A worker whose claim ran out and was given back records its answer late: nothing is written.
    claim = outbound.Claimed(delivery.pk, sub.pk, str(delivery.delivery_id), sub.url, b"{}", event.name, [], 1, False)
    outbound._record([claim], [outbound.Outcome(200, "", "ok", timezone.now(), 5)])
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (WebhookDeliveryStatus.PENDING, 0)
    assert not WebhookAttempt.objects.filter(delivery=delivery).exists()

    with pytest.raises(WebhookDeliveryTransitionRefused) as caught:
        WEBHOOK_DELIVERY_STATES.move(delivery, WebhookDeliveryStatus.DELIVERED)
    assert caught.value.message == "A webhook delivery that is pending cannot become delivered."
