"""Partner postbacks: signed notifications to a real HTTP server on the loopback address, retried on
timeouts and 5xx, not retried on a refusal, sent once per event, with no personal data; the
settings form's permission trio; CPA qualification announced once."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from crm.celery import app as celery_app
from crm.events import deliver_event, emit
from crm.lib.money import Money
from crm.models import AuditLog, Event
from ib import postbacks, tasks
from ib.exceptions import PostbackTransitionRefused
from ib.handlers import postback_queue
from ib.models import Postback, PostbackDelivery, PostbackEvent, PostbackStatus
from ib.services import Touch
from plumbing.signatures import verify
from tests.factories import make_brand, make_client, make_user

ALL_EVENTS = list(PostbackEvent.values)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class PartnerServer:
    """The partner's server: answers with the scripted (status, delay) pairs in turn, then 200."""

    script: list[tuple[int, float]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def server() -> Iterator[PartnerServer]:
    state = PartnerServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
            status, delay = state.script.pop(0) if state.script else (200, 0.0)
            if delay:
                time.sleep(delay)  # beyond the client's timeout: the partner's server hangs
            try:
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:
                pass  # the client gave up waiting

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/hooks/crm?src=broker"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def world(ib, server, settings):
    """Sub A has a postback to the local server for every event; a client of Sub A came by its link."""
    settings.IB_POSTBACK_ALLOW_HTTP_LOOPBACK = True
    settings.IB_POSTBACK_TIMEOUT_SECONDS = 0.3
    saved = postbacks.postback_save(actor=ib.manager, partner=ib.sub_a, url=server.url, events=ALL_EVENTS,
                                    is_active=True)
    link = ib.services.tracking_link_create(partner=ib.sub_a, actor=ib.manager, landing_url="https://example.com/",
                                            campaign="spring")
    click = ib.services.click_log(code=link.code, ip="203.0.113.9", user_agent="Mozilla/5.0")
    person = make_client(brand=ib.brand, first_name="Lina", last_name="Haddad", email="lina.haddad@example.org",
                         phone="+442071838751")
    from ib.models import Click

    click_row = Click.objects.get(code=click.click)
    ib.services.attribution_apply(client=person, touches=[
        Touch(ib.sub_a.pk, "link", timezone.now() - dt.timedelta(minutes=5), link.pk, click_row.pk)])
    ib.secret, ib.person, ib.link, ib.click = saved.secret, person, link, click_row
    return ib


@pytest.fixture
def eager_celery():
    """Tasks queued with .delay run at once, in the test (no worker)."""
    saved = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = True, True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = saved


def sweep(after: dt.timedelta = dt.timedelta(0)) -> int:
    """Beat's sweep, `after` from now: queues (here: runs) one send per due delivery."""
    with time_machine.travel(timezone.now() + after, tick=True):
        return tasks.postbacks_retry_due()


def _first_deposit(client: Any, amount: str = "250.00") -> Event:
    return emit("wallet.first_deposit", client=client, actor=None, data={
        "deposit": str(uuid.uuid4()), "amount": amount, "currency": "USD", "method": "card"})


def _delivery_for(event: Event) -> PostbackDelivery:
    deliver_event(event)
    return PostbackDelivery.objects.get(event_uuid=event.uuid)


def test_a_first_deposit_is_posted_signed_with_the_event_id_as_idempotency_key(world, server):
    event = _first_deposit(world.person)
    delivery = _delivery_for(event)
    assert delivery.partner == world.sub_a and delivery.status == PostbackStatus.PENDING

    assert tasks.postback_send(delivery.pk) == PostbackStatus.SUCCEEDED
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status) == (PostbackStatus.SUCCEEDED, 1, 200)
    [request] = server.received
    # The one X-CRM-Signature: what an integrator verifies on the outbound webhooks verifies this too.
    assert "x-crm-timestamp" not in request.headers
    verify(body=request.body, header=request.headers["x-crm-signature"], secrets=[world.secret])
    assert request.headers["idempotency-key"] == str(event.uuid)
    body = json.loads(request.body)
    assert body["event"] == "first_deposit" and body["event_id"] == str(event.uuid)
    assert Decimal(body["amount"]) == Decimal("250.00") and body["currency"] == "USD"
    assert body["client"] == {"id": postbacks.client_pseudonym(world.sub_a, world.person),
                              "click_id": str(world.click.code), "link": world.link.code, "campaign": "spring"}
    # The stored secret is a token, not the secret.
    assert world.secret not in Postback.objects.get(partner=world.sub_a).secret


def test_a_repeated_event_is_sent_once(world, server):
    event = _first_deposit(world.person)
    delivery = _delivery_for(event)
    deliver_event(event)  # the dispatcher again: the handler has a delivery row already
    postback_queue(event)  # and the handler itself again (an at-least-once redelivery)
    assert PostbackDelivery.objects.filter(event_uuid=event.uuid).count() == 1
    tasks.postback_send(delivery.pk)
    assert tasks.postback_send(delivery.pk) is None  # a second kick finds nothing to send
    assert postbacks.deliveries_due(now=timezone.now() + dt.timedelta(days=1)) == []
    assert len(server.received) == 1


def test_a_server_error_is_retried_after_a_pause_then_succeeds(world, server, eager_celery):
    server.script = [(500, 0.0)]
    delivery = _delivery_for(_first_deposit(world.person))
    assert tasks.postback_send(delivery.pk) == PostbackStatus.PENDING
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.last_status) == (1, 500) and "HTTP 500" in delivery.last_error
    assert delivery.next_attempt_at > timezone.now() + dt.timedelta(seconds=50)
    assert sweep() == 0  # not before the pause is over
    assert sweep(dt.timedelta(minutes=2)) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status, delivery.last_error) == (
        PostbackStatus.SUCCEEDED, 2, 200, "")
    assert [r.headers["idempotency-key"] for r in server.received] == [str(delivery.event_uuid)] * 2


def test_a_timeout_is_retried_and_the_last_attempt_makes_it_dead(world, server, settings, eager_celery):
    settings.IB_POSTBACK_MAX_ATTEMPTS = 2
    server.script = [(200, 0.8), (503, 0.0)]
    delivery = _delivery_for(_first_deposit(world.person))
    started = time.monotonic()
    assert tasks.postback_send(delivery.pk) == PostbackStatus.PENDING
    assert time.monotonic() - started < 0.75  # the client gave up at its timeout
    delivery.refresh_from_db()
    assert delivery.last_status is None and delivery.last_error == "timed out"
    assert sweep(dt.timedelta(minutes=2)) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (PostbackStatus.DEAD, 2, None)


def test_a_refusal_fails_without_retry(world, server, eager_celery):
    server.script = [(400, 0.0)]
    delivery = _delivery_for(_first_deposit(world.person))
    assert tasks.postback_send(delivery.pk) == PostbackStatus.FAILED
    delivery.refresh_from_db()
    assert (delivery.last_status, delivery.next_attempt_at) == (400, None)
    assert sweep(dt.timedelta(days=1)) == 0
    assert len(server.received) == 1


def test_the_body_carries_no_personal_data(world, server):
    for event in [
        emit("portal.registered", client=world.person, actor=None, data={
            "login": str(uuid.uuid4()), "brand": world.brand.code, "language": "en", "matched_lead": False,
            "attribution": {}, "marketing": False}),
        emit("kyc.approved", client=world.person, actor=None, data={"level": "full", "reviewer": None}),
        _first_deposit(world.person),
    ]:
        tasks.postback_send(_delivery_for(event).pk)
    assert len(server.received) == 3
    person = world.person
    for request in server.received:
        text = request.body.decode().lower()
        for personal in [person.first_name, person.last_name, person.email, person.phone, "442071838751",
                         str(person.code)]:
            assert str(personal).lower() not in text
    assert {json.loads(r.body)["event"] for r in server.received} == {"registration", "kyc_approved",
                                                                      "first_deposit"}
    # Another partner would know the same client by another id.
    assert postbacks.client_pseudonym(world.sub_b, person) != postbacks.client_pseudonym(world.sub_a, person)


def test_only_an_active_postback_that_wants_the_event_makes_a_delivery(world):
    postbacks.postback_save(actor=world.manager, partner=world.sub_a, url=world.sub_a.postback.url,
                            events=["first_deposit"], is_active=True)
    deliver_event(emit("kyc.approved", client=world.person, actor=None, data={"level": "full", "reviewer": None}))
    postbacks.postback_save(actor=world.manager, partner=world.sub_a, url=world.sub_a.postback.url,
                            events=ALL_EVENTS, is_active=False)
    deliver_event(_first_deposit(world.person))
    stranger = make_client(brand=world.brand)  # nobody's client
    deliver_event(_first_deposit(stranger))
    assert not PostbackDelivery.objects.exists()

def test_a_delivery_of_a_postback_paused_meanwhile_is_not_sent(world, server):
    delivery = _delivery_for(_first_deposit(world.person))
    postbacks.postback_save(actor=world.manager, partner=world.sub_a, url=server.url, events=ALL_EVENTS,
                            is_active=False)
    assert tasks.postback_send(delivery.pk) is None
    delivery.refresh_from_db()
    assert delivery.status == PostbackStatus.FAILED and "paused" in delivery.last_error
    assert server.received == []


def test_postback_urls_must_be_https_and_public(ib, settings):
    settings.IB_POSTBACK_ALLOW_HTTP_LOOPBACK = False
    for url in ["http://partner.example/hook", "https://10.0.0.5/hook", "https://localhost/hook",
                "https://user:pw@partner.example/hook", "ftp://partner.example/", "https://127.0.0.1:8443/x"]:
        with pytest.raises(postbacks.ValidationFailed) as caught:
            postbacks.postback_save(actor=ib.manager, partner=ib.sub_a, url=url, events=ALL_EVENTS, is_active=True)
        assert "url" in caught.value.fields, url
    saved = postbacks.postback_save(actor=ib.manager, partner=ib.sub_a, url="https://track.partner.example/pb",
                                    events=ALL_EVENTS, is_active=True)
    assert saved.secret and postbacks.CIPHER.decrypt(saved.postback.secret) == saved.secret


def test_the_manager_retries_a_dead_delivery_audited(client, world, server, settings):
    settings.IB_POSTBACK_MAX_ATTEMPTS = 1
    server.script = [(502, 0.0)]
    delivery = _delivery_for(_first_deposit(world.person))
    tasks.postback_send(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == PostbackStatus.DEAD
    url = reverse("ib_postback_retry", args=[world.sub_a.code, delivery.code])
    client.force_login(world.agent)
    assert client.post(url).status_code == 404
    client.force_login(world.manager)
    page = client.get(reverse("ib_partner_detail", args=[world.sub_a.code]))
    assert str(delivery.code) in page.content.decode() and url in page.content.decode()
    assert client.post(url).status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == PostbackStatus.PENDING
    assert AuditLog.objects.filter(action="ib.postback_retried", actor=world.manager).exists()
    assert tasks.postback_send(delivery.pk) == PostbackStatus.SUCCEEDED
    assert client.post(url).status_code == 302  # a succeeded one is not retried
    assert len(server.received) == 2


def test_a_delivered_postback_is_not_sent_again_the_refusal_naming_both_states(world, server):
    delivery = _delivery_for(_first_deposit(world.person))
    with pytest.raises(PostbackTransitionRefused, match="pending cannot become pending"):
        postbacks.delivery_retry(actor=world.manager, delivery=delivery)  # waiting for its first try
    assert tasks.postback_send(delivery.pk) == PostbackStatus.SUCCEEDED
    with pytest.raises(PostbackTransitionRefused) as refused:
        postbacks.delivery_retry(actor=world.manager, delivery=delivery)
    assert "succeeded cannot become pending" in refused.value.message
    assert (refused.value.from_state, refused.value.to_state) == (PostbackStatus.SUCCEEDED, PostbackStatus.PENDING)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (PostbackStatus.SUCCEEDED, 1, None)
    assert not AuditLog.objects.filter(action="ib.postback_retried").exists() and len(server.received) == 1


# --- the settings form: the permission trio ------------------------------------------------------------

def test_the_postback_form_is_for_the_brands_ib_manager_only(client, ib, settings):
    url = reverse("ib_partner_postback", args=[ib.sub_b.code])
    data = {"url": "https://track.partner.example/pb", "events": ["registration", "first_deposit"],
            "is_active": "on"}
    client.force_login(make_user(role_code="ib_manager", brand=make_brand()))  # another brand's manager
    assert client.post(url, data).status_code == 404
    client.force_login(ib.agent)  # staff without the right
    assert client.post(url, data).status_code == 404
    assert not Postback.objects.filter(partner=ib.sub_b).exists()

    client.force_login(ib.manager)
    response = client.post(url, data)
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    postback = Postback.objects.get(partner=ib.sub_b)
    secret = postbacks.CIPHER.decrypt(postback.secret)
    assert secret in response.content.decode()  # shown once...
    assert postback.events == ["registration", "first_deposit"] and postback.is_active
    page = client.get(reverse("ib_partner_detail", args=[ib.sub_b.code]))
    assert secret not in page.content.decode()  # ...and never again
    assert AuditLog.objects.filter(action="ib.postback_saved", actor=ib.manager).exists()
    # Saving again keeps the secret unless a new one is asked for; a bad address names the field.
    assert client.post(url, {**data, "is_active": ""}).status_code == 302
    assert postbacks.CIPHER.decrypt(Postback.objects.get(partner=ib.sub_b).secret) == secret
    bad = client.post(url, {**data, "url": "http://track.partner.example/pb"})
    assert bad.status_code == 400 and "sent over https only" in bad.content.decode()


def test_the_partner_sees_its_delivery_log_read_only(client, world, server):
    from ib.partner_auth import partner_session_login  # noqa: F401 - the portal exists in this tree
    from tests.ib.conftest import PASSWORD

    delivery = _delivery_for(_first_deposit(world.person))
    tasks.postback_send(delivery.pk)
    world.services.partner_login_set_password(partner=world.sub_a, password=PASSWORD)
    login = client.post(reverse("partners:login_brand", args=[world.brand.code]),
                        {"email": world.sub_a.contact_email, "password": PASSWORD})
    assert login.status_code == 302
    page = client.get(reverse("partners:postbacks"))
    assert page.status_code == 200 and str(delivery.event_uuid) in page.content.decode()
    assert "ib_postback_retry" not in page.content.decode() and "/retry/" not in page.content.decode()


# --- CPA qualification: announced once ---------------------------------------------------------------

@pytest.mark.django_db
def test_a_cpa_qualification_is_announced_once_and_posted_to_the_partner(server, settings):
    from ib import commissions as cs
    from ib.models import ClientQualification
    from tests.ib.engine_world import MARCH, make_world, t

    settings.IB_POSTBACK_ALLOW_HTTP_LOOPBACK = True
    w = make_world(plan_rules=[{"code": "cpa", "kind": "cpa", "level_rates": ["200", "50"],
                                "cpa_min_deposit": "100"}])
    postbacks.postback_save(actor=None, partner=w.leaf, url=server.url, events=["qualification"], is_active=True)
    cs.deposit_record(client=w.client, amount=Money("250", "USD"), at=t(2, 9), reference="dep-1")
    cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    cs.commission_run(actor=None, brand=w.brand, period=MARCH)  # a recalculation announces nothing new
    [event] = Event.objects.filter(name="ib.client_qualified", client=w.client)
    assert event.data["partner"]["code"] == str(w.leaf.code) and event.data["rule"] == "cpa"
    assert ClientQualification.objects.get(client=w.client).partner == w.leaf
    delivery = _delivery_for(event)
    assert delivery.partner == w.leaf  # the client's own partner, not the ones above it
    tasks.postback_send(delivery.pk)
    [request] = server.received
    body = json.loads(request.body)
    assert body["event"] == "qualification" and body["client"]["id"] == postbacks.client_pseudonym(w.leaf, w.client)
