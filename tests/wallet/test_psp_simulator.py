"""The PSP simulator as a separate process, driven through the simulator adapter as a real PSP
would be: hosted checkout, signed webhooks (retries, duplicates, reordering), refunds, payouts in
batches, chargebacks, the settlement file, and faults that make outcomes unknown."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest

from crm.lib.money import Money
from tests.waiting import wait_until
from tests.wallet.conftest import BUSINESS_DATE, WEBHOOK_SECRET
from tests.wallet.support import checkout, deposit_request
from wallet.exceptions import ProviderRejected, ProviderUnavailable, WebhookRefused
from wallet.providers.base import ClientFacts, Operation, Outcome, PayoutRequest, WebhookKind


def _payout(merchant_ref: str, *, amount: str = "50.00", destination: str = "4242424242424242", hook: str = ""):
    return PayoutRequest(merchant_ref=merchant_ref, amount=Money(amount, "USD"), method="card",
                         destination={"card": destination}, client=ClientFacts(reference="C-1", country="DE"),
                         webhook_url=hook)


def _paid(psp, hooks, *, amount: str = "100.00"):
    adapter = psp.adapter()
    request = deposit_request(amount=amount, webhook_url=hooks.url)
    start = adapter.create_deposit(request)
    checkout(start.redirect_url, {"card_number": "4242 4242 4242 4242", "expiry": "12/30", "cvc": "123"})
    hooks.wait_of(request.merchant_ref, 1)
    return adapter, request, start


def test_a_card_deposit_redirects_to_the_checkout_and_a_signed_webhook_confirms_it(psp, hooks):
    adapter = psp.adapter()
    request = deposit_request(webhook_url=hooks.url)

    start = adapter.create_deposit(request)
    assert start.redirect_url.startswith(psp.base_url + "/checkout/") and start.outcome == Outcome.PENDING
    status, location, page = checkout(start.redirect_url, {"card_number": "4242424242424242"})

    assert "Card number" in page and "100.00 USD" in page
    assert status == 303 and location.startswith(request.return_url + "?")
    assert "status=succeeded" in location and f"merchant_ref={request.merchant_ref}" in location
    [hook] = hooks.wait_of(request.merchant_ref, 1)
    message = adapter.verify_webhook(hook.headers, hook.body)
    assert message.kind == WebhookKind.DEPOSIT_SUCCEEDED
    assert (message.merchant_ref, message.provider_ref) == (request.merchant_ref, start.provider_ref)
    assert message.amount == Money("100.00", "USD") and message.fee == Money("3.20", "USD")  # 2.9% + 0.30
    assert message.event_id == hook.headers["X-Psp-Event-Id"]
    status_now = adapter.fetch_status(provider_ref=start.provider_ref)
    assert status_now.outcome == Outcome.SUCCEEDED and status_now.amount == Money("100.00", "USD")


def test_a_declined_card_fails_the_deposit_and_says_so_in_the_webhook(psp, hooks):
    adapter = psp.adapter()
    request = deposit_request(webhook_url=hooks.url)
    start = adapter.create_deposit(request)

    _, location, _ = checkout(start.redirect_url, {"card_number": "4000000000000002"})

    assert "status=failed" in location
    message = adapter.verify_webhook(hooks.wait_of(request.merchant_ref, 1)[0].headers, hooks.of(request.merchant_ref)[0].body)
    assert message.kind == WebhookKind.DEPOSIT_FAILED and message.fee == Money("0", "USD")
    assert adapter.fetch_status(merchant_ref=request.merchant_ref).outcome == Outcome.FAILED


def test_a_3ds_card_waits_for_the_challenge_then_succeeds(psp, hooks):
    adapter = psp.adapter()
    request = deposit_request(webhook_url=hooks.url)
    start = adapter.create_deposit(request)

    status, _, page = checkout(start.redirect_url, {"card_number": "4000000000003220"})
    assert status == 200 and "3-D Secure" in page
    assert adapter.fetch_status(provider_ref=start.provider_ref).outcome == Outcome.PENDING
    status, location, _ = checkout(start.redirect_url, {"decision": "approve"}, suffix="/3ds")

    assert status == 303 and "status=succeeded" in location
    kinds = [adapter.verify_webhook(h.headers, h.body).kind for h in hooks.wait_of(request.merchant_ref, 2)]
    assert sorted(kinds) == sorted([WebhookKind.DEPOSIT_PENDING, WebhookKind.DEPOSIT_SUCCEEDED])


def test_e_wallet_and_crypto_deposits_complete_on_their_own_pages(psp, hooks):
    adapter = psp.adapter()
    wallet_request = deposit_request(method="ewallet", webhook_url=hooks.url, amount="40.00", currency="EUR")
    crypto_request = deposit_request(method="crypto", webhook_url=hooks.url, amount="250.000000", currency="USDT")
    wallet_start = adapter.create_deposit(wallet_request)
    crypto_start = adapter.create_deposit(crypto_request)

    checkout(wallet_start.redirect_url, {"email": "ann@example.com"})
    _, _, page = checkout(crypto_start.redirect_url, {"address": "TXyz123"})

    assert "sim1q" in page  # the address to send to
    assert adapter.verify_webhook(*_hv(hooks.wait_of(wallet_request.merchant_ref, 1)[0])).kind == WebhookKind.DEPOSIT_SUCCEEDED
    crypto_kinds = [adapter.verify_webhook(*_hv(h)).kind for h in hooks.wait_of(crypto_request.merchant_ref, 2)]
    assert WebhookKind.DEPOSIT_SUCCEEDED in crypto_kinds
    assert adapter.fetch_status(provider_ref=crypto_start.provider_ref).amount == Money("250", "USDT")


def _hv(captured):
    return captured.headers, captured.body


def test_the_merchant_reference_is_an_idempotency_reference(psp):
    adapter = psp.adapter()
    request = deposit_request()

    first = adapter.create_deposit(request)
    again = adapter.create_deposit(request)

    assert again.provider_ref == first.provider_ref
    with pytest.raises(ProviderRejected) as refused:
        adapter.create_deposit(deposit_request(merchant_ref=request.merchant_ref, amount="101.00"))
    assert refused.value.code == "idempotency_conflict"


def test_a_wrong_api_secret_is_refused_by_the_provider(psp):
    with pytest.raises(ProviderRejected) as refused:
        psp.adapter(api_secret="wrong").create_deposit(deposit_request())
    assert refused.value.status == 401 and refused.value.code == "bad_signature"


def test_a_webhook_is_retried_with_backoff_until_the_merchant_answers(psp, hooks):
    hooks.status = 503
    adapter, request, _ = _paid(psp, hooks)
    hooks.wait_of(request.merchant_ref, 2)  # refused once, sent again
    hooks.status = 200
    got = hooks.wait_of(request.merchant_ref, 3)

    assert len({h.headers["X-Psp-Event-Id"] for h in got}) == 1  # one event, sent again

    def recorded():  # the simulator books an attempt once the merchant's answer is back
        webhooks = psp.control("/_sim/webhooks")["webhooks"]
        mine = [w for w in webhooks if w["body"]["data"]["merchant_ref"] == request.merchant_ref]
        return mine[0] if mine[0]["state"] == "delivered" else None

    hook = wait_until(recorded, what="the simulator to record the delivery")
    assert hook["attempts"] >= 3


def test_duplicate_webhooks_share_one_event_id(psp, hooks):
    psp.faults({"type": "duplicate_webhooks", "copies": 2, "count": 1})
    _, request, _ = _paid(psp, hooks)

    got = hooks.wait_of(request.merchant_ref, 3)
    assert len(got) == 3 and len({h.headers["X-Psp-Event-Id"] for h in got}) == 1


def test_reordered_webhooks_arrive_newest_first_and_carry_their_sequence(psp, hooks):
    psp.faults({"type": "reorder_webhooks", "count": 2})
    adapter = psp.adapter()
    request = deposit_request(webhook_url=hooks.url)
    start = adapter.create_deposit(request)
    checkout(start.redirect_url, {"card_number": "4000000000003220"})
    checkout(start.redirect_url, {"decision": "approve"}, suffix="/3ds")

    messages = [adapter.verify_webhook(h.headers, h.body) for h in hooks.wait_of(request.merchant_ref, 2)]
    assert [m.kind for m in messages] == [WebhookKind.DEPOSIT_SUCCEEDED, WebhookKind.DEPOSIT_PENDING]
    assert messages[0].sequence > messages[1].sequence


def test_dropped_webhooks_leave_the_status_lookup_to_tell(psp, hooks):
    psp.faults({"type": "drop_webhooks", "count": 1})
    adapter = psp.adapter()
    request = deposit_request(webhook_url=hooks.url)
    start = adapter.create_deposit(request)
    checkout(start.redirect_url, {"card_number": "4242424242424242"})

    assert adapter.fetch_status(merchant_ref=request.merchant_ref).outcome == Outcome.SUCCEEDED
    assert hooks.of(request.merchant_ref) == []


def test_a_webhook_with_a_bad_signature_or_a_stale_timestamp_is_refused(psp, hooks):
    psp.faults({"type": "webhook_bad_signature", "count": 1})
    adapter, request, _ = _paid(psp, hooks)
    forged = hooks.of(request.merchant_ref)[0]

    with pytest.raises(WebhookRefused) as bad:
        adapter.verify_webhook(forged.headers, forged.body)
    assert bad.value.reason == "bad_signature"
    fine = psp.adapter().verify_webhook  # the same webhook, but verified ten minutes later
    good = _paid(psp, hooks)[1]
    captured = hooks.of(good.merchant_ref)[0]
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
    with pytest.raises(WebhookRefused) as stale:
        fine(captured.headers, captured.body, now=later)
    assert stale.value.reason == "stale"
    with pytest.raises(WebhookRefused) as tampered:
        fine(captured.headers, captured.body.replace(b"100.00", b"900.00"))
    assert tampered.value.reason == "bad_signature"
    assert WEBHOOK_SECRET not in json.dumps(dict(captured.headers))


def test_a_refund_sends_its_webhook_and_cannot_exceed_the_payment(psp, hooks):
    adapter, request, start = _paid(psp, hooks)
    refund_ref = f"rf-{uuid.uuid4().hex[:8]}"

    result = adapter.refund(provider_ref=start.provider_ref, amount=Money("30.00", "USD"), merchant_ref=refund_ref)
    too_much = adapter.refund(provider_ref=start.provider_ref, amount=Money("80.00", "USD"),
                              merchant_ref=f"rf-{uuid.uuid4().hex[:8]}")

    assert result.outcome == Outcome.SUCCEEDED and result.provider_ref.startswith("rfd_")
    assert too_much.outcome == Outcome.FAILED and too_much.reason == "refund_too_large"
    [hook] = hooks.wait_of(refund_ref, 1)
    message = adapter.verify_webhook(hook.headers, hook.body)
    assert message.kind == WebhookKind.REFUND_SUCCEEDED and message.payment_ref == start.provider_ref
    assert adapter.fetch_status(merchant_ref=refund_ref, operation=Operation.REFUND).outcome == Outcome.SUCCEEDED


def test_a_chargeback_forced_through_the_control_api_reaches_the_merchant(psp, hooks):
    adapter, request, start = _paid(psp, hooks)

    psp.control("/_sim/chargeback", {"payment_id": start.provider_ref, "reason": "fraudulent"})

    messages = [adapter.verify_webhook(h.headers, h.body) for h in hooks.wait_of(request.merchant_ref, 2)]
    chargeback = next(m for m in messages if m.kind == WebhookKind.CHARGEBACK)
    assert chargeback.amount == Money("100.00", "USD") and chargeback.payment_ref == start.provider_ref


def test_a_payout_is_pending_until_its_batch_is_processed(psp, hooks):
    adapter = psp.adapter()
    ref = f"po-{uuid.uuid4().hex[:8]}"
    failing = f"po-{uuid.uuid4().hex[:8]}"

    result = adapter.payout(_payout(ref, hook=hooks.url))
    refused = adapter.payout(_payout(failing, destination="fail-this-card", hook=hooks.url))
    assert result.outcome == Outcome.PENDING and refused.outcome == Outcome.PENDING
    assert result.raw["batch_id"].startswith("B20")
    psp.control("/_sim/payouts/process", {})

    assert adapter.verify_webhook(*_hv(hooks.wait_of(ref, 1)[0])).kind == WebhookKind.PAYOUT_SUCCEEDED
    assert adapter.verify_webhook(*_hv(hooks.wait_of(failing, 1)[0])).kind == WebhookKind.PAYOUT_FAILED
    assert adapter.fetch_status(merchant_ref=ref, operation=Operation.PAYOUT).outcome == Outcome.SUCCEEDED


def test_a_payout_whose_answer_is_lost_is_unknown_and_the_lookup_resolves_it(psp):
    adapter = psp.adapter(timeout=0.5)
    ref = f"po-{uuid.uuid4().hex[:8]}"
    psp.faults({"type": "timeout_after_apply", "path": "/v1/payouts", "seconds": 2, "count": 1})

    result = adapter.payout(_payout(ref))

    assert result.outcome == Outcome.UNKNOWN and result.provider_ref == ""
    found = adapter.fetch_status(merchant_ref=ref, operation=Operation.PAYOUT)
    assert found.outcome == Outcome.PENDING and found.provider_ref.startswith("po_")  # it was applied, once
    again = adapter.payout(_payout(ref))  # the same reference is safe: the provider answers the same payout
    assert again.provider_ref == found.provider_ref


def test_a_payout_the_provider_failed_on_is_unknown_and_not_sent_again(psp):
    adapter = psp.adapter()
    ref = f"po-{uuid.uuid4().hex[:8]}"
    psp.faults({"type": "http_error", "path": "/v1/payouts", "status": 500, "count": 1})

    result = adapter.payout(_payout(ref))

    assert result.outcome == Outcome.UNKNOWN
    assert adapter.fetch_status(merchant_ref=ref, operation=Operation.PAYOUT).outcome == Outcome.NOT_FOUND


def test_a_refused_payout_request_is_retried_with_backoff(psp):
    adapter = psp.adapter()
    psp.faults({"type": "http_error", "path": "/v1/payouts", "status": 503, "count": 2})

    result = adapter.payout(_payout(f"po-{uuid.uuid4().hex[:8]}"))

    assert result.outcome == Outcome.PENDING
    assert all(f["fired"] == 2 for f in psp.control("/_sim/faults")["faults"])


def test_a_provider_down_for_longer_than_the_retries_is_reported_unavailable(psp):
    psp.faults({"type": "http_error", "path": "/v1/payments", "status": 503, "count": 5})

    with pytest.raises(ProviderUnavailable) as down:
        psp.adapter(retries=1).fetch_status(merchant_ref="nothing")
    assert down.value.refused and not down.value.outcome_unknown


def test_the_daily_settlement_file_lists_payments_refunds_chargebacks_and_batched_payouts(psp, hooks):
    adapter, request, start = _paid(psp, hooks, amount="200.00")
    refund_ref = f"rf-{uuid.uuid4().hex[:8]}"
    adapter.refund(provider_ref=start.provider_ref, amount=Money("50.00", "USD"), merchant_ref=refund_ref)
    payout_ref = f"po-{uuid.uuid4().hex[:8]}"
    adapter.payout(_payout(payout_ref, amount="75.00"))
    _, cb_request, cb_start = _paid(psp, hooks, amount="20.00")
    psp.control("/_sim/chargeback", {"payment_id": cb_start.provider_ref})
    today = psp.control("/_sim/status")["today"]
    psp.control("/_sim/payouts/process", {})

    data = adapter.settlement_file(dt.date.fromisoformat(today))
    lines = {(line.merchant_ref, line.kind): line for line in adapter.parse_settlement(data, f"{today}.csv")}

    assert data.splitlines()[0] == b"provider_reference,merchant_reference,type,amount,currency,fee,value_date,batch_id"
    payment = lines[(request.merchant_ref, "payment")]
    assert payment.amount == Money("200.00", "USD") and payment.fee == Money("6.10", "USD")
    assert payment.provider_ref == start.provider_ref and payment.value_date.isoformat() == today
    assert lines[(refund_ref, "refund")].amount == Money("-50.00", "USD")
    assert lines[(cb_request.merchant_ref, "chargeback")].amount == Money("-20.00", "USD")
    assert lines[(cb_request.merchant_ref, "chargeback")].fee == Money("15.00", "USD")
    payout = lines[(payout_ref, "payout")]
    assert payout.amount == Money("-75.00", "USD") and payout.batch_id.startswith("B") and payout.fee.amount == Decimal("1.00")


def test_advancing_the_day_moves_the_business_date_and_settles_open_payouts(psp_session):
    status = psp_session.control("/_sim/status")
    assert status["today"] >= BUSINESS_DATE
    moved = psp_session.control("/_sim/advance_day", {"days": 1})
    assert dt.date.fromisoformat(moved["today"]) == dt.date.fromisoformat(status["today"]) + dt.timedelta(days=1)


def test_the_control_api_needs_its_token(psp):
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(psp.base_url + "/_sim/status", timeout=5)
    assert refused.value.code == 403


def test_the_simulator_keeps_its_state_across_a_restart(tmp_path):
    from tests.wallet.conftest import start_psp, stop_psp

    sim = start_psp(tmp_path / "pspsim")
    try:
        start = sim.adapter().create_deposit(deposit_request(merchant_ref="persisted-1"))
    finally:
        stop_psp(sim)
    again = start_psp(tmp_path / "pspsim")
    try:
        assert again.adapter().fetch_status(merchant_ref="persisted-1").provider_ref == start.provider_ref
        assert (tmp_path / "pspsim" / "config.json").exists()
    finally:
        stop_psp(again)


def test_the_hosted_pages_say_which_test_cards_and_data_give_which_outcome(psp, hooks):
    adapter = psp.adapter()
    card = adapter.create_deposit(deposit_request(webhook_url=hooks.url))
    _, _, page = checkout(card.redirect_url, {"card_number": "4242424242424242"})
    hints = page.split("data-test-hints", 1)[1]
    assert "4242 4242 4242 4242</code> succeeds" in hints and "4000 0000 0000 3220</code> asks for a 3-D Secure" in hints
    assert "4000 0000 0000 0002</code> (or any other number) is declined" in hints and "GB <code>4000 0082" in hints
    wallet = adapter.create_deposit(deposit_request(webhook_url=hooks.url, method="ewallet"))
    _, _, page = checkout(wallet.redirect_url, {"email": "ann@example.com"})
    assert "containing <code>decline</code> is declined" in page
