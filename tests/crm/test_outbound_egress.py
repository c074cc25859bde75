"""Outbound HTTP to addresses tenants type in (webhook subscribers, partner postbacks), against
servers on the loopback address that stand for the internal services an attacker aims at: every
numeric and named form of a private address refused (at save and at send, with the loopback
allowance of the tests off), a resolver stub answering loopback, link-local and private addresses,
a rebinding resolver, a URL the sender cannot read, a receiver that answers byte by byte, one that
never answers, and a healthy receiver of another brand that gets each event once meanwhile."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.urls import reverse

from crm.events import deliver_event, emit
from crm.exceptions import ValidationFailed
from crm.models import RoleCode
from integrations import services as outbound
from integrations.models import WebhookAttempt, WebhookDelivery, WebhookDeliveryStatus, WebhookSubscriber
from integrations.services import apikey_create
from tests.factories import make_brand, make_client, make_user
from tests.waiting import scaled

# --- servers on the loopback address -----------------------------------------------------------


@dataclass
class Listener:
    """A TCP server on the loopback address: `mode` "close" (the internal service: any connection
    is a breach), "drip" (reads the request, then answers one byte every `drip` seconds) or
    "silent" (reads the request and never answers)."""

    mode: str
    drip: float = 0.2
    port: int = 0
    connections: list[float] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Listener:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(32)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _addr = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:  # closed at the end of the test
                return
            self.connections.append(time.monotonic())
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            if self.mode == "close":
                return
            conn.settimeout(1.0)
            try:
                conn.recv(65536)
                answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                for byte in (answer if self.mode == "drip" else b""):
                    if self.stop.wait(self.drip):
                        return
                    conn.sendall(bytes([byte]))
                self.stop.wait(30)
            except OSError:
                return

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.fixture
def listeners() -> Iterator[Callable[..., Listener]]:
    made: list[Listener] = []

    def make(mode: str, **kw: Any) -> Listener:
        made.append(Listener(mode, **kw).start())
        return made[-1]

    yield make
    for listener in made:
        listener.close()


@dataclass
class Healthy:
    """A receiver that answers 200 at once and notes when each delivery arrived."""

    port: int = 0
    arrived: list[tuple[str, float]] = field(default_factory=list)


@pytest.fixture
def healthy() -> Iterator[Healthy]:
    state = Healthy()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.arrived.append((self.headers.get("X-CRM-Delivery", ""), time.monotonic()))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield state
    server.shutdown()
    server.server_close()


# --- the resolver stubs ------------------------------------------------------------------------

PUBLIC = "93.184.215.14"
NAMES: dict[str, list[str]] = {
    "loopback.hooks-partner.com": ["127.0.0.1"],
    "v6loop.hooks-partner.com": ["::1"],
    "mapped.hooks-partner.com": ["::ffff:127.0.0.1"],
    "metadata.hooks-partner.com": ["169.254.169.254"],
    "169.254.169.254.nip.io": ["169.254.169.254"],
    "private.hooks-partner.com": ["10.0.0.7"],
    "shared.hooks-partner.com": ["100.64.0.9"],
    "multicast.hooks-partner.com": ["224.0.0.251"],
    "linklocal6.hooks-partner.com": ["fe80::1"],
    "mixed.hooks-partner.com": [PUBLIC, "127.0.0.1"],
}


@dataclass
class Dns:
    asked: list[str] = field(default_factory=list)
    rebinding: dict[str, list[list[str]]] = field(default_factory=dict)  # answers in turn


@pytest.fixture
def dns(monkeypatch) -> Dns:
    """socket.getaddrinfo answering the names above (other names as the system does): what every
    sender of the process resolves with, whichever code path it takes."""
    real = socket.getaddrinfo
    state = Dns()

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        answers = state.rebinding[name].pop(0) if state.rebinding.get(name) else NAMES.get(name)
        if answers is None:
            return real(host, port, *args, **kwargs)
        state.asked.append(name)
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (a, int(port or 443), 0, 0) if ":" in a else (a, int(port or 443))) for a in answers]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return state


# --- a brand with subscribers ------------------------------------------------------------------

@dataclass
class Tenant:
    brand: Any
    admin: Any
    key: Any


def _tenant() -> Tenant:
    brand = make_brand()
    admin = make_user(role_code=RoleCode.ADMIN, email=f"owner-{uuid.uuid4().hex[:6]}@staff.example.com")
    key, _raw = apikey_create(actor=admin, brand=brand, name="Integrator", scopes=["events:read"])
    return Tenant(brand, admin, key)


def _subscriber(tenant: Tenant, url: str, *, stored_as: str | None = None) -> WebhookSubscriber:
    """A subscriber to task.completed at `url`; `stored_as`: the URL its row holds, as a row saved
    before the address checks of today (the sender must refuse what the form would now refuse)."""
    saved = outbound.subscriber_create(actor=tenant.admin, api_key=tenant.key, name="Hook", url=url,
                                       event_types=["task.completed"])
    if stored_as is not None:
        WebhookSubscriber.objects.filter(pk=saved.subscriber.pk).update(url=stored_as)
    return saved.subscriber


def _task_done(client: Any) -> None:
    deliver_event(emit("task.completed", client=client, data={"task": str(uuid.uuid4()), "title": "Call back"}))


@pytest.fixture
def quick(settings) -> Any:
    settings.CRM_WEBHOOK_TIMEOUT_SECONDS = 0.5
    settings.CRM_WEBHOOK_BACKOFF_SECONDS = settings.CRM_WEBHOOK_BACKOFF_MAX_SECONDS = 60  # no retry meanwhile
    return settings


# --- item 5: the SSRF filter ----------------------------------------------------------------------

NUMERIC_FORMS = ["2130706433", "0x7f000001", "0x7F.0.0.1", "127.1", "127.0.1", "0177.0.0.1", "017700000001", "0",
                 "0.0.0.0", "127.000.000.001", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::1]", "[::]",
                 "[0:0:0:0:0:ffff:7f00:1]", "[64:ff9b::7f00:1]", "[2002:7f00:1::]", "[fe80::1]", "169.254.169.254",
                 "10.0.0.1", "172.16.0.1", "192.168.1.1", "100.64.0.1", "224.0.0.1", "255.255.255.255"]
NAMED_FORMS = ["localhost", "localhost.", "LocalHost", "api.localhost", "metadata.google.internal", "metadata",
               "printer.local", "intranet.corp", "ｌｏｃａｌｈｏｓｔ", "exa mple.com", "exa\tmple.com"]


def test_every_numeric_and_named_form_of_a_private_address_is_refused_when_saved(db, settings):
    from ib import postbacks

    settings.CRM_WEBHOOK_ALLOW_HTTP_LOOPBACK = settings.IB_POSTBACK_ALLOW_HTTP_LOOPBACK = False
    accepted = []
    for host in NUMERIC_FORMS + NAMED_FORMS:
        for url in (f"https://{host}/hook", f"https://{host}:8443/hook", f"http://{host}/hook"):
            for clean, error in ((outbound.url_clean, ValidationFailed), (postbacks.postback_url_clean,
                                                                          postbacks.ValidationFailed)):
                try:
                    clean(url)
                    accepted.append(url)
                except error:
                    pass
    assert accepted == []
    assert outbound.url_clean("https://hooks.partner.com:8443/crm?x=1") == "https://hooks.partner.com:8443/crm?x=1"
    assert postbacks.postback_url_clean("https://xn--mnchen-3ya.de/pb") == "https://xn--mnchen-3ya.de/pb"


def test_the_sender_refuses_every_form_even_of_a_row_saved_before_the_checks(db, quick, listeners, dns):
    quick.CRM_WEBHOOK_ALLOW_HTTP_LOOPBACK = False  # production
    internal = listeners("close")
    tenant = _tenant()
    forms = ["2130706433", "0x7f000001", "127.1", "0177.0.0.1", "0", "localhost.", "[::ffff:127.0.0.1]", "[::1]",
             "127.0.0.1", *NAMES]
    subs = {host: _subscriber(tenant, "https://hooks.partner.com/x", stored_as=f"https://{host}:{internal.port}/x")
            for host in forms}
    http_loopback = _subscriber(tenant, "https://hooks.partner.com/x", stored_as=f"http://127.0.0.1:{internal.port}/x")
    _task_done(make_client(brand=tenant.brand))
    outbound.send_due()
    assert internal.connections == []  # nothing inside was reached
    for sub in [*subs.values(), http_loopback]:
        delivery = WebhookDelivery.objects.get(subscriber=sub)
        assert (delivery.status, delivery.last_error, delivery.last_status_code) == (
            WebhookDeliveryStatus.FAILED, "refused by policy", None), sub.url
    # Each name was resolved at send time, and refused on what it resolved to.
    assert set(dns.asked) == set(NAMES)


def test_a_name_of_the_loopback_is_refused_even_with_the_tests_allowance(db, quick, listeners, dns):
    internal = listeners("close")
    tenant = _tenant()
    sub = _subscriber(tenant, f"https://loopback.hooks-partner.com:{internal.port}/x")  # accepted: a public name
    own = _subscriber(tenant, f"http://127.0.0.1:{internal.port}/x")  # the tests' own receivers: allowed
    _task_done(make_client(brand=tenant.brand))
    outbound.send_due()
    assert WebhookDelivery.objects.get(subscriber=sub).last_error == "refused by policy"
    assert WebhookDelivery.objects.get(subscriber=own).last_error == "unreachable"  # it was reached, and closed
    assert len(internal.connections) == 1


def test_a_rebinding_name_is_connected_to_at_the_address_that_was_checked(db, quick, listeners, dns, monkeypatch):
    internal = listeners("close")
    dns.rebinding["rebind.hooks-partner.com"] = [[PUBLIC], ["127.0.0.1"], ["127.0.0.1"], ["127.0.0.1"]]
    opened: list[tuple[str, int]] = []
    real_connect = socket.create_connection

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        opened.append((str(address[0]), int(address[1])))
        if address[0] == PUBLIC:
            raise ConnectionRefusedError  # no Internet in the tests: the public server is not up
        return real_connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", create_connection)
    tenant = _tenant()
    sub = _subscriber(tenant, f"https://rebind.hooks-partner.com:{internal.port}/x")
    _task_done(make_client(brand=tenant.brand))
    outbound.send_due()
    assert opened == [(PUBLIC, internal.port)] and internal.connections == []
    assert dns.asked == ["rebind.hooks-partner.com"]  # resolved once: checked and connected alike
    assert WebhookDelivery.objects.get(subscriber=sub).last_error == "unreachable"


def test_the_log_says_unreachable_or_timed_out_never_the_network_error(db, quick, listeners, client, login_verified):
    closed = listeners("close")
    silent = listeners("silent")
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        nobody = probe.getsockname()[1]
    tenant = _tenant()
    subs = {label: _subscriber(tenant, f"http://127.0.0.1:{port}/x")
            for label, port in (("closed", closed.port), ("silent", silent.port), ("nobody", nobody))}
    _task_done(make_client(brand=tenant.brand))
    outbound.send_due()
    errors = {label: WebhookAttempt.objects.get(delivery__subscriber=sub).error for label, sub in subs.items()}
    assert errors == {"closed": "unreachable", "silent": "timed out", "nobody": "unreachable"}
    login_verified(client, tenant.admin)
    page = client.get(reverse("webhook_delivery_list")).content.decode()
    assert "unreachable" in page and "timed out" in page
    for raw in ("Errno", "Connection refused", "RemoteDisconnected", "ConnectionRefusedError", "Remote end"):
        assert raw not in page


def test_a_postback_to_a_name_of_an_internal_address_is_refused_at_send_time(db, settings, listeners, dns):
    from ib import postbacks

    internal = listeners("close")
    settings.IB_POSTBACK_TIMEOUT_SECONDS = 0.5
    settings.IB_POSTBACK_ALLOW_HTTP_LOOPBACK = False
    for name in ("metadata.hooks-partner.com", "mixed.hooks-partner.com", "mapped.hooks-partner.com"):
        outcome = postbacks.http_post(f"https://{name}:{internal.port}/pb", body=b"{}", headers={}, timeout=0.5)
        assert (outcome.status, outcome.error, outcome.retry) == (None, "refused by policy", False)
    outcome = postbacks.http_post(f"https://2130706433:{internal.port}/pb", body=b"{}", headers={}, timeout=0.5)
    assert outcome.error == "refused by policy"
    assert internal.connections == []


# --- item 3: a URL the sender cannot read ------------------------------------------------------

def test_a_url_the_sender_cannot_read_fails_only_its_own_delivery(db, quick, healthy):
    with pytest.raises(ValidationFailed):
        outbound.url_clean("https://exa mple.com/")
    bad_tenant, good_tenant = _tenant(), _tenant()
    bad = _subscriber(bad_tenant, "https://hooks.partner.com/x", stored_as="https://exa mple.com/")
    good = _subscriber(good_tenant, f"http://127.0.0.1:{healthy.port}/x")
    _task_done(make_client(brand=bad_tenant.brand))
    _task_done(make_client(brand=good_tenant.brand))
    outbound.send_due()
    assert WebhookDelivery.objects.get(subscriber=bad).last_error == "refused by policy"
    delivered = WebhookDelivery.objects.get(subscriber=good)
    assert delivered.status == WebhookDeliveryStatus.DELIVERED
    assert [d for d, _at in healthy.arrived] == [str(delivered.delivery_id)]
    assert not WebhookDelivery.objects.filter(status=WebhookDeliveryStatus.SENDING).exists()


# --- item 4: one deadline for the whole delivery --------------------------------------------------

def test_a_receiver_answering_byte_by_byte_is_cut_off_at_the_deadline(db, quick, listeners):
    from ib import postbacks

    drip = listeners("drip", drip=0.2)  # each read comes well within the 0.5 s, the whole answer in 8 s
    tenant = _tenant()
    sub = _subscriber(tenant, f"http://127.0.0.1:{drip.port}/x")
    _task_done(make_client(brand=tenant.brand))
    started = time.monotonic()
    outbound.send_due()
    assert time.monotonic() - started < scaled(1.5)
    attempt = WebhookAttempt.objects.get(delivery__subscriber=sub)
    assert attempt.error == "timed out" and attempt.duration_ms < scaled(1.0) * 1000
    quick.IB_POSTBACK_ALLOW_HTTP_LOOPBACK = True
    started = time.monotonic()
    outcome = postbacks.http_post(f"http://127.0.0.1:{drip.port}/pb", body=b"{}", headers={}, timeout=0.5)
    assert outcome.error == "timed out" and time.monotonic() - started < scaled(1.5)


def test_a_healthy_receiver_gets_each_event_once_in_time_beside_a_bad_a_dripping_and_a_silent_one(
        db, quick, listeners, healthy, monkeypatch):
    quick.CRM_WEBHOOK_TIMEOUT_SECONDS = 1.5
    drip, silent = listeners("drip", drip=0.2), listeners("silent")
    bad_tenant, good_tenant = _tenant(), _tenant()
    slow = [_subscriber(bad_tenant, "https://hooks.partner.com/x", stored_as="https://exa mple.com/"),
            _subscriber(bad_tenant, f"http://127.0.0.1:{drip.port}/x"),
            _subscriber(bad_tenant, f"http://127.0.0.1:{silent.port}/x")]
    good = _subscriber(good_tenant, f"http://127.0.0.1:{healthy.port}/x")
    for _ in range(4):  # four clients: four heads for each slow subscriber
        _task_done(make_client(brand=bad_tenant.brand))

    # The other brand's events come while the slow ones are in flight: one every 0.25 s, each
    # written just before the sender looks for work (in this test's one database transaction).
    start = time.monotonic()
    due = [start + 0.3 + 0.25 * i for i in range(6)]
    emitted: dict[str, float] = {}
    rearm = outbound._rearm_kick

    def rearm_and_emit() -> None:
        rearm()
        while due and time.monotonic() >= due[0]:
            due.pop(0)
            _task_done(make_client(brand=good_tenant.brand))
            emitted[str(WebhookDelivery.objects.filter(subscriber=good).latest("id").delivery_id)] = time.monotonic()

    monkeypatch.setattr(outbound, "_rearm_kick", rearm_and_emit)
    while due or len(healthy.arrived) < len(emitted):  # the worker, polling as beat's sweep would
        assert time.monotonic() - start < scaled(10)
        outbound.send_due()
        time.sleep(0.02)
    arrived = [d for d, _at in healthy.arrived]
    assert sorted(arrived) == sorted(emitted)  # each once
    late = {d: round(at - emitted[d], 2) for d, at in healthy.arrived if at - emitted[d] > 2.0}
    assert late == {}  # within the delivery delay goal (benchmarks/webhook_delivery.py: p95 <= 2 s)
    assert all(d.status == WebhookDeliveryStatus.DELIVERED for d in WebhookDelivery.objects.filter(subscriber=good))
    # The slow ones: each delivery attempted once (no claim ran out and was sent again), the bad
    # URL refused, the others cut at the deadline.
    assert not WebhookDelivery.objects.filter(subscriber__in=slow, attempts__gt=1).exists()
    errors = {sub.pk: set(WebhookAttempt.objects.filter(delivery__subscriber=sub).values_list("error", flat=True))
              for sub in slow}
    assert errors == {slow[0].pk: {"refused by policy"}, slow[1].pk: {"timed out"}, slow[2].pk: {"timed out"}}
    assert not WebhookDelivery.objects.filter(status=WebhookDeliveryStatus.SENDING).exists()
