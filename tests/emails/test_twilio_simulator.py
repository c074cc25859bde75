"""SMS through the Twilio simulator in its own process: a message sent reaches "delivered" through
the simulator's signed status callbacks, and the callbacks' faults (a bad signature, a repeat, an
order turned round) change nothing they should not; the send's retries and refusals."""

from __future__ import annotations

import pytest

from emails.sms import SmsRateLimited, sms_deliver, sms_deliver_task, sms_send
from emails.sms_models import SmsMessage, SmsStatus, SmsWebhook
from tests.emails.sms_support import forward

pytestmark = pytest.mark.django_db


def _sent(world, body: str = "Your code is 4711") -> SmsMessage:
    message = sms_send(client=world.client, body=body)
    assert sms_deliver(message_id=message.pk) == SmsStatus.QUEUED
    message.refresh_from_db()
    assert message.provider_sid.startswith("SM") and len(message.provider_sid) == 34
    return message


def test_a_message_sent_reaches_delivered_through_signed_status_callbacks(sms_world):
    message = _sent(sms_world)

    posted = sms_world.capture.about(message.provider_sid, 3)
    answers = forward(posted)

    message.refresh_from_db()
    assert [p.params["MessageStatus"] for p in posted] == ["queued", "sent", "delivered"]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert message.status == SmsStatus.DELIVERED and message.error_code == ""
    assert set(SmsWebhook.objects.filter(message=message).values_list("outcome", flat=True)) == {"accepted"}
    assert all(p.path.endswith("/hooks/sms/twilio-test/status/") for p in posted)


def test_a_callback_with_a_bad_signature_is_refused_401_and_changes_nothing(sms_world):
    sms_world.sim.faults({"type": "webhook_bad_signature", "count": 3})
    message = _sent(sms_world)

    answers = forward(sms_world.capture.about(message.provider_sid, 3))

    message.refresh_from_db()
    assert [a.status_code for a in answers] == [401, 401, 401]
    assert message.status == SmsStatus.QUEUED  # as the send's answer left it
    rows = SmsWebhook.objects.filter(provider="twilio-test", outcome="bad_signature")
    assert rows.count() == 3 and not rows.filter(message__isnull=False).exists()


def test_a_repeated_callback_is_a_duplicate_and_changes_nothing(sms_world):
    sms_world.sim.faults({"type": "duplicate_webhooks", "skip": 2, "count": 1, "copies": 1})
    message = _sent(sms_world)

    posted = sms_world.capture.about(message.provider_sid, 4)
    answers = forward(posted)

    message.refresh_from_db()
    assert [p.params["MessageStatus"] for p in posted] == ["queued", "sent", "delivered", "delivered"]
    assert [a.json()["outcome"] for a in answers] == ["accepted", "accepted", "accepted", "duplicate"]
    assert message.status == SmsStatus.DELIVERED
    assert SmsWebhook.objects.filter(message=message, outcome="accepted").count() == 3


def test_callbacks_out_of_order_never_move_a_message_backwards(sms_world):
    sms_world.sim.faults({"type": "reorder_webhooks", "count": 3})
    message = _sent(sms_world)

    posted = sms_world.capture.about(message.provider_sid, 3)
    answers = forward(posted)

    message.refresh_from_db()
    assert [p.params["MessageStatus"] for p in posted] == ["delivered", "sent", "queued"]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert message.status == SmsStatus.DELIVERED
    late = SmsWebhook.objects.get(message=message, event_id=f"{message.provider_sid}:sent")
    assert late.outcome == "accepted" and late.detail == "not applied: the message is delivered already"


def test_a_number_the_network_cannot_reach_ends_undelivered_with_the_error(sms_world):
    sms_world.sim.control("/_sim/numbers", {"number": sms_world.client.phone, "fate": "undelivered"})
    message = _sent(sms_world)

    forward(sms_world.capture.about(message.provider_sid, 3))

    message.refresh_from_db()
    assert message.status == SmsStatus.UNDELIVERED and message.error_code == "30003"


def test_too_many_requests_is_retried_and_the_next_attempt_sends(sms_world):
    sms_world.sim.faults({"type": "too_many_requests", "count": 1})
    message = sms_send(client=sms_world.client, body="Your code is 1234")

    sms_deliver_task.apply(args=(message.pk,))

    message.refresh_from_db()
    assert message.status == SmsStatus.QUEUED and message.attempts == 2
    assert message.provider_sid and message.error_code == ""
    [sent] = sms_world.sim.control("/_sim/messages")["messages"][-1:]
    assert sent["sid"] == message.provider_sid  # sent once: the 429 sent nothing


def test_a_server_error_leaves_the_message_pending_for_a_retry_with_the_error_kept(sms_world):
    sms_world.sim.faults({"type": "http_error", "status": 503, "count": 1})
    message = sms_send(client=sms_world.client, body="Your code is 1234")

    with pytest.raises(Exception, match="HTTP 503"):
        sms_deliver(message_id=message.pk)

    message.refresh_from_db()
    assert (message.status, message.attempts, message.error_code) == (SmsStatus.PENDING, 1, "503")
    assert message.next_attempt_at is not None
    assert sms_deliver(message_id=message.pk) == SmsStatus.QUEUED


def test_an_invalid_number_is_refused_once_not_retried_and_the_error_named(sms_world):
    sms_world.sim.control("/_sim/numbers", {"number": sms_world.client.phone, "fate": "invalid"})
    message = sms_send(client=sms_world.client, body="Your code is 1234")

    sms_deliver_task.apply(args=(message.pk,))

    message.refresh_from_db()
    assert (message.status, message.attempts, message.error_code) == (SmsStatus.FAILED, 1, "21211")
    assert "not a valid phone number" in message.error_message
    assert message.provider_sid is None


def test_the_providers_rate_holds_a_second_message_back_until_its_turn(sms_world):
    provider = sms_world.provider
    provider.rate_per_second = "0.5"  # one message every two seconds
    provider.save(update_fields=["rate_per_second"])
    first = sms_send(client=sms_world.client, body="One")
    second = sms_send(client=sms_world.client, body="Two")

    assert sms_deliver(message_id=first.pk) == SmsStatus.QUEUED
    with pytest.raises(SmsRateLimited) as held:
        sms_deliver(message_id=second.pk)

    second.refresh_from_db()
    assert 1.0 < held.value.wait <= 2.0
    assert (second.status, second.attempts) == (SmsStatus.PENDING, 0)  # not tried, nothing counted
