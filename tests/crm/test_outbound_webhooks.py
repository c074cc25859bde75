"""Outbound webhooks against a real receiver process on the loopback address (integrations.webhook_receiver,
started as `make run` starts it): signed deliveries its verify accepts, stale or forged ones it
refuses; retries after 500s and timeouts; order per client; replay from the log; key rotation; a
subscriber failing for a day paused and its owner told; personal data only with the scope."""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from crm.events import deliver_event, emit
from crm.exceptions import ValidationFailed
from crm.models import Event, Notification, RoleCode
from integrations import services as outbound
from integrations.models import (
    SubscriberStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookSubscriber,
)
from integrations.services import apikey_create
from plumbing.signatures import SignatureError, header_value, verify
from tests.factories import make_brand, make_client, make_user
from tests.simulators import simulator_start, simulator_stop


@dataclass
class ReceiverProc:
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/crm"

    def _post(self, path: str, data: Any) -> None:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=json.dumps(data).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - our own loopback receiver
            resp.read()

    def reset(self) -> None:
        self._post("/_control/reset", None)

    def secrets(self, *secrets: str) -> None:
        self._post("/_control/secrets", list(secrets))

    def script(self, *answers: tuple[int, float]) -> None:
        self._post("/_control/script", [list(a) for a in answers])

    def received(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_control/received", timeout=5) as resp:  # noqa: S310
            result: list[dict[str, Any]] = json.loads(resp.read())
            return result


@pytest.fixture(scope="module")
def receiver_proc() -> Iterator[tuple[Any, int]]:
    proc, info = simulator_start("integrations.webhook_receiver", what="webhook receiver")
    try:
        yield proc, int(info["port"])
    finally:
        simulator_stop(proc)


@pytest.fixture
def receiver(receiver_proc: Any) -> ReceiverProc:
    _proc, port = receiver_proc
    # One process for the module (a start per test would cost a second each); each test reads the
    # log from the length it had when the test began.
    return ReceiverProc(port)


@dataclass
class World:
    brand: Any
    admin: Any
    key: Any
    sub: Any
    secret: str
    start: int  # entries the receiver had already logged


@pytest.fixture
def world(db, receiver, settings) -> World:
    settings.CRM_WEBHOOK_TIMEOUT_SECONDS = 0.5
    settings.CRM_WEBHOOK_BACKOFF_SECONDS = 0.05
    settings.CRM_WEBHOOK_BACKOFF_MAX_SECONDS = 0.2
    brand = make_brand()
    admin = make_user(role_code=RoleCode.ADMIN, email=f"owner-{uuid.uuid4().hex[:6]}@staff.example.com")
    key, _raw = apikey_create(actor=admin, brand=brand, name="BI tool", scopes=["events:read", "clients:read"])
    saved = outbound.subscriber_create(actor=admin, api_key=key, name="BI", url=receiver.url,
                                       event_types=["task.completed", "client.created", "note.added"])
    assert saved.secret is not None
    receiver.reset()
    receiver.secrets(saved.secret)
    return World(brand, admin, key, saved.subscriber, saved.secret, len(receiver.received()))


def _mine(world: World, receiver: ReceiverProc) -> list[dict[str, Any]]:
    return receiver.received()[world.start:]


def _task_done(client: Any, title: str = "Call back") -> Event:
    event = emit("task.completed", client=client, data={"task": str(uuid.uuid4()), "title": title})
    deliver_event(event)
    return event


def _send_all(*, rounds: int = 20, pause: float = 0.06) -> None:
    """The worker: send what is due, and again after the (test-short) retry pauses."""
    for _ in range(rounds):
        outbound.send_due()
        if outbound.next_due_in() is None:
            return
        time.sleep(pause)


def test_a_subscribed_event_arrives_once_signed_and_the_receiver_verifies_it(world, receiver):
    client = make_client(brand=world.brand)
    event = _task_done(client)
    deliver_event(emit("staff.desk_created", brand=world.brand, data={"desk": str(uuid.uuid4()), "name": "x"}))
    outbound.send_due()
    assert not WebhookDelivery.objects.filter(event_name="staff.desk_created").exists()  # not chosen
    delivery = WebhookDelivery.objects.get(subscriber=world.sub, event=event)
    assert delivery.status == WebhookDeliveryStatus.DELIVERED and delivery.attempts == 1
    [got] = [r for r in _mine(world, receiver) if r["event"] == "task.completed"]
    assert got["signature_ok"] is True and got["answered"] == 200
    assert got["delivery_id"] == str(delivery.delivery_id) and got["event_id"] == str(event.uuid)
    assert got["client"] == str(client.code)
    # The stored secret is encrypted, not the secret.
    assert world.secret not in world.sub.secret


def test_verify_refuses_a_stale_timestamp_a_changed_body_and_another_secret():
    body = b'{"delivery_id":"x"}'
    header = header_value(["whsec_a"], body, timestamp=1_000_000)
    assert verify(body=body, header=header, secrets=["whsec_a"], now=1_000_100) == 1_000_000
    with pytest.raises(SignatureError) as stale:
        verify(body=body, header=header, secrets=["whsec_a"], now=1_000_000 + 301)
    assert stale.value.reason == "stale"
    with pytest.raises(SignatureError) as changed:
        verify(body=body + b" ", header=header, secrets=["whsec_a"], now=1_000_000)
    assert changed.value.reason == "mismatch"
    with pytest.raises(SignatureError):
        verify(body=body, header=header, secrets=["whsec_b"], now=1_000_000)
    with pytest.raises(SignatureError) as malformed:
        verify(body=body, header="sha256=abc", secrets=["whsec_a"], now=1_000_000)
    assert malformed.value.reason == "malformed"


def test_a_delivery_signed_with_a_wrong_secret_is_refused_by_the_receiver_and_retried(world, receiver):
    receiver.secrets("whsec_not_the_one")
    event = _task_done(make_client(brand=world.brand))
    outbound.send_due()
    delivery = WebhookDelivery.objects.get(subscriber=world.sub, event=event)
    assert delivery.status == WebhookDeliveryStatus.FAILED and delivery.last_status_code == 400
    assert "mismatch" in delivery.last_response
    assert _mine(world, receiver)[-1]["signature_ok"] is False


def test_500s_and_timeouts_are_retried_with_the_same_delivery_id_until_delivered(world, receiver):
    receiver.script((500, 0.0), (200, 1.5))  # an error, then an answer after the sender's 0.5 s timeout
    event = _task_done(make_client(brand=world.brand))
    _send_all()
    delivery = WebhookDelivery.objects.get(subscriber=world.sub, event=event)
    assert delivery.status == WebhookDeliveryStatus.DELIVERED and delivery.attempts == 3
    attempts = list(WebhookAttempt.objects.filter(delivery=delivery).order_by("number"))
    assert [(a.status_code, a.error) for a in attempts] == [(500, ""), (None, "timed out"), (200, "")]
    assert attempts[1].duration_ms < 1400  # gave up at its timeout, not when the receiver answered
    ids = {r["delivery_id"] for r in _mine(world, receiver) if r["event_id"] == str(event.uuid)}
    assert ids == {str(delivery.delivery_id)}


def test_a_later_event_for_the_same_client_waits_until_the_earlier_is_delivered(world, receiver, settings):
    # A backoff no slow machine outlasts between the sends below; the retry is reached by moving time.
    settings.CRM_WEBHOOK_BACKOFF_SECONDS = settings.CRM_WEBHOOK_BACKOFF_MAX_SECONDS = 60
    alice, bob = make_client(brand=world.brand), make_client(brand=world.brand)
    receiver.script((500, 0.0))  # Alice's first event fails
    first = _task_done(alice, "first")
    outbound.send_due()
    second = _task_done(alice, "second")
    other = _task_done(bob, "bob")
    outbound.send_due()
    states = {d.event_id: d.status for d in WebhookDelivery.objects.filter(subscriber=world.sub)}
    assert states[first.pk] == WebhookDeliveryStatus.FAILED
    assert states[second.pk] == WebhookDeliveryStatus.PENDING  # waits behind the failed one
    assert states[other.pk] == WebhookDeliveryStatus.DELIVERED  # another client's queue is not held up
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=61), tick=True):
        _send_all()
    alice_order = [r["data"]["title"] for r in _mine(world, receiver)
                   if r["client"] == str(alice.code) and r["answered"] == 200]
    assert alice_order == ["first", "second"]


def test_a_dead_delivery_lets_the_next_one_of_its_client_go(world, receiver, settings):
    settings.CRM_WEBHOOK_MAX_ATTEMPTS = 2
    client = make_client(brand=world.brand)
    receiver.script((503, 0.0), (503, 0.0))
    first, second = _task_done(client, "first"), _task_done(client, "second")
    _send_all()
    assert WebhookDelivery.objects.get(event=first, subscriber=world.sub).status == WebhookDeliveryStatus.DEAD
    assert WebhookDelivery.objects.get(event=second, subscriber=world.sub).status == WebhookDeliveryStatus.DELIVERED


def test_a_replay_from_the_log_sends_the_same_delivery_id_again_as_a_new_attempt(world, receiver, client,
                                                                                 login_verified):
    event = _task_done(make_client(brand=world.brand))
    outbound.send_due()
    delivery = WebhookDelivery.objects.get(subscriber=world.sub, event=event)
    login_verified(client, world.admin)
    response = client.post(f"/admin-tools/webhooks/deliveries/{delivery.delivery_id}/replay/")
    assert response.status_code == 302 and response["Location"] == "/admin-tools/webhooks/deliveries/"
    outbound.send_due()
    delivery.refresh_from_db()
    assert delivery.status == WebhookDeliveryStatus.DELIVERED and delivery.attempts == 2
    assert [a.replay for a in WebhookAttempt.objects.filter(delivery=delivery).order_by("number")] == [False, True]
    mine = [r for r in _mine(world, receiver) if r["event_id"] == str(event.uuid)]
    assert [r["delivery_id"] for r in mine] == [str(delivery.delivery_id)] * 2
    assert mine[1]["duplicate"] is True  # the receiver tells the copy by its delivery id


def test_key_rotation_signs_with_both_secrets_until_the_old_one_is_retired(world, receiver):
    new = outbound.subscriber_rotate_secret(actor=world.admin, subscriber=world.sub)
    assert new != world.secret
    # A receiver still holding only the old secret accepts it, as does one already holding the new.
    for held in (world.secret, new):
        receiver.secrets(held)
        _task_done(make_client(brand=world.brand))
        outbound.send_due()
        last = _mine(world, receiver)[-1]
        assert (last["signature_ok"], last["signatures"]) == (True, 2)
    assert outbound.subscriber_retire_secret(actor=world.admin, subscriber=world.sub) is True
    receiver.secrets(world.secret)  # the retired one no longer works
    event = _task_done(make_client(brand=world.brand))
    outbound.send_due()
    last = _mine(world, receiver)[-1]
    assert (last["signature_ok"], last["signatures"]) == (False, 1)
    assert WebhookDelivery.objects.get(event=event, subscriber=world.sub).status == WebhookDeliveryStatus.FAILED


def test_a_subscriber_failing_for_a_day_is_paused_and_its_owner_told(world, receiver,
                                                                    django_capture_on_commit_callbacks):
    receiver.script(*[(500, 0.0)] * 3)
    client = make_client(brand=world.brand)
    event = _task_done(client)
    outbound.send_due()
    world.sub.refresh_from_db()
    assert world.sub.failing_since is not None and world.sub.status == SubscriberStatus.ACTIVE
    with time_machine.travel(timezone.now() + dt.timedelta(hours=25), tick=True):
        with django_capture_on_commit_callbacks(execute=True):
            outbound.send_due()
    world.sub.refresh_from_db()
    assert world.sub.status == SubscriberStatus.PAUSED
    note = Notification.objects.get(user=world.admin, kind="webhook_paused")
    assert world.sub.name in note.title
    [message] = [m for m in mail.outbox if world.admin.email in m.to]
    assert world.sub.url in message.body
    # Paused: nothing more is sent, later events queue.
    before = len(_mine(world, receiver))
    later = _task_done(client, "later")
    outbound.send_due()
    assert len(_mine(world, receiver)) == before
    # Resumed: the queue goes, in order.
    outbound.subscriber_resume(actor=world.admin, subscriber=world.sub)
    _send_all()
    statuses = [WebhookDelivery.objects.get(event=e, subscriber=world.sub).status for e in (event, later)]
    assert statuses == [WebhookDeliveryStatus.DELIVERED] * 2


def _created(client: Any) -> None:
    deliver_event(Event.objects.get(name="client.created", client=client))


def test_personal_fields_are_sent_only_with_the_personal_data_scope(world, receiver):
    _created(make_client(brand=world.brand, first_name="Lina", last_name="Haddad"))
    outbound.send_due()
    [got] = [r for r in _mine(world, receiver) if r["event"] == "client.created"]
    assert "name" not in got["data"] and got["redacted"] == ["name"]
    outbound.subscriber_update(actor=world.admin, subscriber=world.sub, scopes=[outbound.PERSONAL_SCOPE])
    _created(make_client(brand=world.brand, first_name="Omar", last_name="Saleh"))
    outbound.send_due()
    got = [r for r in _mine(world, receiver) if r["event"] == "client.created"][-1]
    assert got["data"]["name"] == "Omar Saleh" and got["redacted"] == []


def test_bad_subscriptions_are_refused_naming_each_field(world, settings):
    settings.CRM_WEBHOOK_ALLOW_HTTP_LOOPBACK = False
    key, _raw = apikey_create(actor=world.admin, brand=world.brand, name="No PII", scopes=["events:read"])
    with pytest.raises(ValidationFailed) as exc:
        outbound.subscriber_create(actor=world.admin, api_key=key, name="", url="http://example.com/hook",
                                   event_types=["client.created", "no.such_event"], scopes=["personal_data"])
    assert set(exc.value.fields) == {"name", "url", "event_types", "scopes"}
    for url in ("http://127.0.0.1:9/x", "https://10.0.0.5/x", "https://user:pw@example.com/x", "ftp://example.com"):
        with pytest.raises(ValidationFailed) as bad:
            outbound.url_clean(url)
        assert "url" in bad.value.fields
    assert outbound.url_clean("https://hooks.example.com/crm") == "https://hooks.example.com/crm"


def test_a_subscriber_added_or_changed_after_events_flowed_gets_exactly_what_it_chose_next(world, receiver):
    # The brand's subscribers are cached per process for the handler: a change must show at once.
    client = make_client(brand=world.brand)
    _task_done(client, "first")
    later = outbound.subscriber_create(actor=world.admin, api_key=world.key, name="Dialler", url=receiver.url,
                                       event_types=["task.completed"]).subscriber
    second = _task_done(client, "second")
    assert WebhookDelivery.objects.filter(event=second, subscriber=later).exists()
    outbound.subscriber_update(actor=world.admin, subscriber=later, event_types=["note.added"])
    third = _task_done(client, "third")
    assert not WebhookDelivery.objects.filter(event=third, subscriber=later).exists()
    assert WebhookDelivery.objects.filter(event=third, subscriber=world.sub).count() == 1


def test_the_sender_does_not_poll_a_queue_whose_head_is_in_flight_or_waiting_for_its_retry(
        world, receiver, settings, monkeypatch):
    from integrations import tasks

    settings.CRM_WEBHOOK_BACKOFF_SECONDS = settings.CRM_WEBHOOK_BACKOFF_MAX_SECONDS = 60
    queued: list[str] = []
    monkeypatch.setattr(outbound, "kick", lambda **kw: queued.append(f"kick {kw}"))
    monkeypatch.setattr(tasks.webhooks_send_due, "apply_async", lambda **kw: queued.append(f"later {kw}"))
    client = make_client(brand=world.brand)
    first, second = _task_done(client, "first"), _task_done(client, "second")

    # Another worker is sending the head: the next waits for it, and that worker sends it.
    [claimed] = outbound._claim(10, timezone.now())
    assert claimed.delivery_id == str(WebhookDelivery.objects.get(event=first, subscriber=world.sub).delivery_id)
    assert outbound.next_due_in() is None
    assert tasks.webhooks_send_due() == 0
    assert queued == []  # no task kicked to look again
    outbound._record([claimed], [outbound.post(claimed)])
    assert outbound.send_due() == 1  # what the sending worker does next: the second goes
    assert WebhookDelivery.objects.get(event=second, subscriber=world.sub).status == WebhookDeliveryStatus.DELIVERED

    # A head that failed holds its queue until its retry: due then, not now.
    receiver.script((500, 0.0))
    third, fourth = _task_done(client, "third"), _task_done(client, "fourth")
    assert tasks.webhooks_send_due() == 1
    assert WebhookDelivery.objects.get(event=third, subscriber=world.sub).status == WebhookDeliveryStatus.FAILED
    wait = outbound.next_due_in()
    assert wait is not None and 25 < wait <= 60  # the backoff, with its jitter
    assert queued == []  # beat's sweep sends it when due: nothing kicked meanwhile
    assert WebhookDelivery.objects.get(event=fourth, subscriber=world.sub).status == WebhookDeliveryStatus.PENDING


def test_the_subscriber_list_says_every_event_type_instead_of_listing_them(world, receiver, client, login_verified):
    from crm.events import catalogue
    from crm.registry import API_SCOPES

    declared = [e.name for e in catalogue.declared()]
    # Every family: compliance's and monitoring's events need their own scopes (integrations.event_access).
    every_scope, _raw = apikey_create(actor=world.admin, brand=world.brand, name="All scopes",
                                      scopes=[str(s) for s in API_SCOPES.keys()])
    outbound.subscriber_create(actor=world.admin, api_key=every_scope, name="Everything", url=receiver.url,
                               event_types=declared)
    outbound.subscriber_create(actor=world.admin, api_key=world.key, name="Money", url=receiver.url,
                               event_types=declared[:9])
    login_verified(client, world.admin)
    page = client.get("/admin-tools/webhooks/").content.decode()
    everything, money, bi = (page.index(f"<strong>{name}</strong>") for name in ("Everything", "Money", "BI"))
    assert f"Every event type ({len(declared)})" in page[everything:]
    assert page.count(declared[-1]) == 0  # the catalogue's names are not spelled out for it
    assert "9 event types</summary>" in page[money:]  # a long choice folds, its names one click away
    assert declared[8] in page[money:]
    assert "client.created, note.added, task.completed" in page[bi:]  # a short one is read at a glance


def test_the_form_names_a_bad_address_with_the_other_problems_on_the_first_submit(world, client, login_verified,
                                                                                   settings):
    settings.CRM_WEBHOOK_ALLOW_HTTP_LOOPBACK = False
    login_verified(client, world.admin)
    from crm.events import catalogue

    form = client.get("/admin-tools/webhooks/new/").content.decode()
    for group in ("client", "compliance", "wallet"):  # the boxes under the app that emits them
        assert f"<label>{group}</label>" in form
    assert all(f'value="{e.name}"' in form for e in catalogue.declared())
    before = WebhookSubscriber.objects.count()
    page = client.post("/admin-tools/webhooks/new/", {"name": "", "url": "ftp://hooks.example.com/crm"})
    assert page.status_code == 200
    errors = page.context["form"].errors
    assert set(errors) == {"name", "api_key", "url", "event_types"}
    assert errors["url"] == ["Enter a full https:// address."]
    page = client.post("/admin-tools/webhooks/new/", {"name": "Dialler", "api_key": world.key.prefix,
                                                      "url": "http://hooks.example.com/crm",
                                                      "event_types": ["client.created"]})
    assert page.context["form"].errors == {"url": ["Webhooks are sent over https only."]}
    assert WebhookSubscriber.objects.count() == before
