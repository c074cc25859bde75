"""The webhook inbox: every notification stored raw; bad signatures, stale timestamps, malformed
bodies and unknown payments refused and logged; a repeated one changes nothing, even twenty at once."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from django.db import connection
from django.test import Client as HttpClient

from tests.factories import make_user
from tests.waiting import wait_until
from tests.wallet.conftest import WEBHOOK_SECRET
from tests.wallet.support import checkout, deposit_request, signed_webhook
from wallet.models import PaymentProvider, WebhookDelivery, WebhookOutcome
from wallet.provider_services import payment_provider_save
from wallet.providers.base import WebhookKind
from wallet.providers.webhook_handlers import register_webhook_handler, unregister_webhook_handler
from wallet.webhooks import webhook_receive

URL = "/wallet/webhooks/psp-sim/"


@pytest.fixture
def provider(db):
    return payment_provider_save(code="psp-sim", name="PSP simulator", kind="simulator",
                                 base_url="http://127.0.0.1:9", api_key="pk_test", api_secret="sk-test-secret",
                                 webhook_secret=WEBHOOK_SECRET)


class Known:
    """A stand-in for the deposit code: knows some merchant references and counts what it applied."""

    def __init__(self, *refs: str) -> None:
        self.refs = set(refs)
        self.applied: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def __call__(self, provider, message, delivery) -> bool:
        if message.merchant_ref not in self.refs:
            return False
        with self.lock:
            self.applied.append((message.event_id, str(message.kind)))
        return True


@pytest.fixture
def known():
    handler = Known("dep-1")
    register_webhook_handler(handler)
    yield handler
    unregister_webhook_handler(handler)


def _post(headers, body, client=None):
    client = client or HttpClient(enforce_csrf_checks=True)
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k != "Content-Type"}
    return client.post(URL, data=body, content_type="application/json", **extra)


def test_an_accepted_webhook_is_stored_and_handed_to_the_handler_once(provider, known):
    headers, body = signed_webhook(WEBHOOK_SECRET, merchant_ref="dep-1")

    first = _post(headers, body)
    again = _post(headers, body)

    assert first.status_code == 200 and first.json() == {"outcome": "accepted"}
    assert again.status_code == 200 and again.json() == {"outcome": "duplicate"}
    assert known.applied == [(headers["X-Psp-Event-Id"], "deposit_succeeded")]
    rows = list(WebhookDelivery.objects.order_by("id"))
    assert [r.outcome for r in rows] == ["accepted", "duplicate"]
    assert rows[0].body == body.decode() and rows[0].signature_ok and rows[0].merchant_ref == "dep-1"
    assert rows[0].headers["x-psp-event-id"] == headers["X-Psp-Event-Id"]
    assert rows[0].kind == WebhookKind.DEPOSIT_SUCCEEDED


def test_a_webhook_with_a_bad_signature_is_refused_and_logged(provider, known):
    headers, body = signed_webhook("not-the-secret", merchant_ref="dep-1")

    response = _post(headers, body)

    assert response.status_code == 401
    row = WebhookDelivery.objects.get()
    assert row.outcome == WebhookOutcome.REFUSED_BAD_SIGNATURE and not row.signature_ok and row.body == body.decode()
    assert known.applied == []


def test_a_webhook_with_a_stale_timestamp_is_refused(provider, known):
    headers, body = signed_webhook(WEBHOOK_SECRET, merchant_ref="dep-1", timestamp=int(time.time()) - 3600)

    response = _post(headers, body)

    assert response.status_code == 401
    assert WebhookDelivery.objects.get().outcome == WebhookOutcome.REFUSED_STALE
    assert known.applied == []


def test_a_signed_body_we_cannot_read_is_refused_as_malformed(provider, known):
    headers, body = signed_webhook(WEBHOOK_SECRET, event_type="payment.exploded", merchant_ref="dep-1")

    response = _post(headers, body)

    assert response.status_code == 400
    assert WebhookDelivery.objects.get().outcome == WebhookOutcome.REFUSED_MALFORMED


def test_a_webhook_about_an_unknown_payment_is_refused_and_a_later_copy_is_looked_at_again(provider, known):
    headers, body = signed_webhook(WEBHOOK_SECRET, merchant_ref="dep-unknown")

    response = _post(headers, body)
    assert response.status_code == 404 and response.json() == {"outcome": "unknown_payment"}
    known.refs.add("dep-unknown")  # the deposit is committed by now
    retry = _post(headers, body)

    assert retry.status_code == 200 and retry.json() == {"outcome": "accepted"}
    assert [r.outcome for r in WebhookDelivery.objects.order_by("id")] == ["unknown_payment", "accepted"]
    assert len(known.applied) == 1


def test_a_webhook_for_an_unknown_provider_is_refused(db):
    headers, body = signed_webhook(WEBHOOK_SECRET)

    response = HttpClient().post("/wallet/webhooks/nobody/", data=body, content_type="application/json")

    assert response.status_code == 404
    assert WebhookDelivery.objects.get().outcome == WebhookOutcome.UNKNOWN_PROVIDER


def test_the_endpoint_only_takes_posts(provider):
    assert HttpClient().get(URL).status_code == 405


@pytest.mark.django_db(transaction=True)
def test_twenty_simultaneous_copies_store_one_accepted_row(known):
    payment_provider_save(code="psp-sim", name="PSP simulator", kind="simulator", base_url="http://127.0.0.1:9",
                          api_key="pk_test", api_secret="sk", webhook_secret=WEBHOOK_SECRET)
    headers, body = signed_webhook(WEBHOOK_SECRET, merchant_ref="dep-1")
    barrier = threading.Barrier(20)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            barrier.wait(10)
            outcomes.append(webhook_receive(provider_code="psp-sim", headers=headers, body=body).outcome)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert sorted(outcomes) == ["accepted"] + ["duplicate"] * 19
    assert WebhookDelivery.objects.filter(outcome="accepted").count() == 1
    assert WebhookDelivery.objects.count() == 20
    assert len(known.applied) == 1


@pytest.mark.django_db(transaction=True)
def test_the_simulators_webhook_reaches_the_crm_and_its_duplicates_change_nothing(psp, live_server):
    ref = f"dep-{uuid.uuid4().hex[:8]}"
    handler = Known(ref)
    register_webhook_handler(handler)
    try:
        payment_provider_save(code="psp-sim", name="PSP simulator", kind="simulator", base_url=psp.base_url,
                              api_key="pk_test", api_secret="sk-test-secret", webhook_secret=WEBHOOK_SECRET)
        psp.faults({"type": "duplicate_webhooks", "copies": 2, "count": 1})
        adapter = psp.adapter()
        start = adapter.create_deposit(deposit_request(merchant_ref=ref, webhook_url=live_server.url + URL))

        checkout(start.redirect_url, {"card_number": "4242424242424242"})

        wait_until(lambda: WebhookDelivery.objects.filter(merchant_ref=ref).count() >= 3, timeout=15,
                   what="the webhook and its two copies")
        rows = list(WebhookDelivery.objects.filter(merchant_ref=ref).order_by("id"))
        assert sorted(r.outcome for r in rows) == ["accepted", "duplicate", "duplicate"]
        assert len(handler.applied) == 1 and handler.applied[0][1] == "deposit_succeeded"
    finally:
        unregister_webhook_handler(handler)


def test_the_providers_page_is_for_finance_and_administrators(provider, login_verified):
    finance = make_user(role_code="finance")
    admin = make_user(role_code="admin")
    agent = make_user(role_code="sales_agent")
    headers, body = signed_webhook("wrong", merchant_ref="dep-1")
    _post(headers, body)

    for user in (finance, admin):
        client = HttpClient()
        login_verified(client, user)
        page = client.get("/wallet/providers/")
        assert page.status_code == 200
        text = page.content.decode()
        assert "PSP simulator" in text and "/wallet/webhooks/psp-sim/" in text and "Refused: bad signature" in text
        assert "sk-test-secret" not in text and WEBHOOK_SECRET not in text
    outsider = HttpClient()
    outsider.force_login(agent)
    assert outsider.get("/wallet/providers/").status_code == 404
    assert HttpClient().get("/wallet/providers/").status_code == 302


@pytest.mark.django_db(transaction=True)
def test_a_secret_changed_by_another_process_is_taken_at_once_and_the_old_one_refused(known):
    # This process keeps the provider between notifications (wallet.webhooks): a change it did not
    # make itself (another process's, here a row update without signals) must not refuse a good one.
    payment_provider_save(code="psp-sim", name="PSP simulator", kind="simulator", base_url="http://127.0.0.1:9",
                          api_key="pk_test", api_secret="sk", webhook_secret=WEBHOOK_SECRET)
    headers, body = signed_webhook(WEBHOOK_SECRET, merchant_ref="dep-1")
    assert webhook_receive(provider_code="psp-sim", headers=headers, body=body).outcome == "accepted"
    provider = PaymentProvider.objects.get(code="psp-sim")
    provider.set_secrets(webhook_secret="whsec-rotated")
    PaymentProvider.objects.filter(pk=provider.pk).update(webhook_secret_encrypted=provider.webhook_secret_encrypted)

    headers, body = signed_webhook("whsec-rotated", merchant_ref="dep-1")
    rotated = webhook_receive(provider_code="psp-sim", headers=headers, body=body)
    headers, body = signed_webhook(WEBHOOK_SECRET, merchant_ref="dep-1")
    old = webhook_receive(provider_code="psp-sim", headers=headers, body=body)

    assert (rotated.outcome, rotated.status_code) == ("accepted", 200)
    assert (old.outcome, old.status_code) == ("refused:bad_signature", 401)
    assert len(known.applied) == 2


@pytest.mark.django_db(transaction=True)
def test_a_provider_disabled_here_refuses_the_next_notification_at_once(known):
    payment_provider_save(code="psp-sim", name="PSP simulator", kind="simulator", base_url="http://127.0.0.1:9",
                          api_key="pk_test", api_secret="sk", webhook_secret=WEBHOOK_SECRET)
    headers, body = signed_webhook(WEBHOOK_SECRET, merchant_ref="dep-1")
    assert webhook_receive(provider_code="psp-sim", headers=headers, body=body).outcome == "accepted"
    provider = PaymentProvider.objects.get(code="psp-sim")
    provider.is_enabled = False
    provider.save(update_fields=["is_enabled", "updated_at"])

    headers, body = signed_webhook(WEBHOOK_SECRET, merchant_ref="dep-1")
    answer = webhook_receive(provider_code="psp-sim", headers=headers, body=body)

    assert (answer.outcome, answer.status_code) == ("unknown_provider", 404)
    assert len(known.applied) == 1
