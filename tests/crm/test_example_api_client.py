"""The README's example integration (examples/api_client.py) run against a live CRM: it pages through
the brand's deals with a key and receives real signed deliveries, so a change to either breaks this test
instead of leaving the example wrong."""

from __future__ import annotations

import datetime as dt
import importlib.util
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from crm.events import deliver_event, emit
from crm.models import RoleCode
from integrations import services as outbound
from integrations.models import WebhookDelivery, WebhookDeliveryStatus
from integrations.services import apikey_create
from plumbing.signatures import header_value
from tests.factories import make_brand, make_client, make_user
from tests.trading.test_api_trading_reads import AT, deal_at, platform_server
from trading.services import trading_account_register
from trading.sync import deals_store

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "api_client.py"


@pytest.fixture(scope="module")
def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_api_client", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def admin(transactional_db: Any) -> Any:
    return make_user(role_code=RoleCode.ADMIN, email=f"int-{uuid.uuid4().hex[:6]}@staff.example.com")


def test_the_example_pages_through_every_deal_of_its_keys_brand_and_no_other(example, live_server, admin):
    brand, other = make_brand(), make_brand()
    server, other_server = platform_server(brand), platform_server(other)
    eur = trading_account_register(actor=None, client=make_client(brand=brand), server=server, login=7001,
                                   account_type="standard", currency="EUR")
    usd = trading_account_register(actor=None, client=make_client(brand=brand), server=server, login=7002,
                                   account_type="demo", currency="USD")
    foreign = trading_account_register(actor=None, client=make_client(brand=other), server=other_server,
                                       login=7001, account_type="standard", currency="EUR")
    # Three deals at one instant (a page boundary falls inside them), one earlier in another currency.
    deals_store(server, [deal_at(eur, n, AT) for n in (1, 2, 3)]
                + [deal_at(usd, 4, AT - dt.timedelta(hours=1), profit=Decimal("40"), commission=Decimal("-1"))])
    deals_store(other_server, [deal_at(foreign, 9, AT)])
    _key, raw = apikey_create(actor=admin, brand=brand, name="example", scopes=["trading:read"])
    got = list(example.iter_deals(live_server.url, raw, limit=2))
    assert [d["deal_id"] for d in got] == [3, 2, 1, 4]  # two pages of 2, each deal once, newest first
    assert example.profit_by_currency(got) == {"EUR": Decimal("-48.75"), "USD": Decimal("38.75")}
    since = (AT - dt.timedelta(minutes=30)).isoformat()
    assert [d["deal_id"] for d in example.iter_deals(live_server.url, raw, since=since)] == [3, 2, 1]
    with pytest.raises(example.ApiError) as bad:
        list(example.iter_deals(live_server.url, raw, since="yesterday"))
    assert bad.value.status == 422 and "since" in bad.value.fields
    with pytest.raises(example.ApiError) as unknown:
        list(example.iter_deals(live_server.url, raw + "x"))
    assert unknown.value.status == 401 and unknown.value.code == "invalid_api_key"


@pytest.fixture
def example_receiver(example) -> Iterator[tuple[Any, list[dict[str, Any]], list[str]]]:
    received: list[dict[str, Any]] = []
    secrets: list[str] = []  # filled in by the test once the CRM has made one
    server = example.receiver(secrets, received.append)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, received, secrets
    finally:
        server.shutdown()
        server.server_close()


def test_the_example_receiver_accepts_the_crms_signed_deliveries_through_a_key_change(example, example_receiver,
                                                                                     admin):
    server, received, secrets = example_receiver
    brand = make_brand()
    key, _raw = apikey_create(actor=admin, brand=brand, name="example", scopes=["events:read"])
    saved = outbound.subscriber_create(actor=admin, api_key=key, name="example receiver",
                                       url=f"http://127.0.0.1:{server.server_address[1]}/hooks",
                                       event_types=["task.completed"])
    secrets.append(saved.secret)
    client = make_client(brand=brand)
    first = emit("task.completed", client=client, data={"task": str(uuid.uuid4()), "title": "Call back"})
    deliver_event(first)
    # During a key change the receiver still holds only the old secret: it must accept both v1s.
    outbound.subscriber_rotate_secret(actor=admin, subscriber=saved.subscriber)
    second = emit("task.completed", client=client, data={"task": str(uuid.uuid4()), "title": "Send the form"})
    deliver_event(second)
    outbound.send_due()
    deliveries = WebhookDelivery.objects.filter(subscriber=saved.subscriber).order_by("id")
    assert [d.status for d in deliveries] == [WebhookDeliveryStatus.DELIVERED] * 2
    assert [r["event"]["id"] for r in received] == [str(first.uuid), str(second.uuid)]
    assert [r["delivery_id"] for r in received] == [str(d.delivery_id) for d in deliveries]
    # A replay sends the same delivery id again: answered 200, not handed on twice.
    outbound.delivery_replay(actor=admin, delivery=deliveries[0])
    outbound.send_due()
    assert WebhookDelivery.objects.get(pk=deliveries[0].pk).attempts == 2
    assert len(received) == 2


def test_the_examples_check_refuses_what_the_crm_did_not_sign_or_signed_long_ago(example):
    body = b'{"delivery_id":"d1"}'
    now = int(time.time())
    assert example.signature_verify(body, header_value(["whsec_a"], body, timestamp=now), ["whsec_a"]) == now
    for header, secrets in (
        (header_value(["whsec_a"], body, timestamp=now), ["whsec_b"]),  # another secret
        (header_value(["whsec_a"], body + b" ", timestamp=now), ["whsec_a"]),  # another body
        (header_value(["whsec_a"], body, timestamp=now - 301), ["whsec_a"]),  # stale
        ("sha256=abc", ["whsec_a"]),  # not our header
    ):
        with pytest.raises(example.BadSignature):
            example.signature_verify(body, header, secrets)
