"""Outgoing SMS: Twilio's request signature, the administrators' provider page, the webhooks'
refusals, and a client's STOP: marketing no longer texts them, a transactional SMS is still tried
(and Twilio's own refusal of it, 21610, is recorded as such)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from crm.events import dispatch_pending
from crm.models import Event, RoleCode
from emails import twilio
from emails.exceptions import SmsNotConfigured
from emails.sms import sms_deliver, sms_provider_save, sms_send
from emails.sms_models import SmsMessage, SmsProvider, SmsStatus, SmsWebhook
from marketing.consent import allowed_recipients, consent_history, consent_record
from tests.emails.sms_support import ACCOUNT_SID, AUTH_TOKEN, forward
from tests.factories import make_brand, make_client, make_user

pytestmark = pytest.mark.django_db


def test_the_signature_matches_twilios_documented_example():
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234", "From": "+12349013030",
              "To": "+18005551212"}
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"

    assert twilio.signature("12345", url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert twilio.signature_ok("12345", url, list(params.items()), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not twilio.signature_ok("12345", url + "&x=1", params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")


def test_stop_and_start_are_read_from_twilios_opt_out_type_or_the_keyword():
    assert twilio.opt_out_type("please stop", "STOP") == "STOP"
    assert (twilio.opt_out_type(" stop "), twilio.opt_out_type("Unstop"), twilio.opt_out_type("help")) == (
        "STOP", "START", "HELP")
    assert twilio.opt_out_type("stop texting me at night") == ""


def test_a_client_who_texts_stop_gets_no_marketing_sms_but_a_transactional_one_is_still_tried(sms_world):
    world = sms_world
    client = make_client(brand=world.brand, first_name="Nadia", phone="+442071838760")
    world.sim.control("/_sim/numbers", {"number": client.phone, "fate": "delivered"})
    consent_record(client=client, channel="sms", given=True, source="portal")
    assert allowed_recipients(brand=world.brand, client_ids=[client.pk], channel="sms") == {client.pk}
    inbound_url = world.capture.base + reverse("sms_inbound_webhook", args=[world.provider.code])
    world.sim.control("/_sim/config", {"inbound_url": inbound_url})

    texted = world.sim.control("/_sim/inbound", {"from": client.phone, "body": "STOP"})
    [answer] = forward(world.capture.about(texted["sid"], 1))
    dispatch_pending()

    assert answer.status_code == 200 and answer["Content-Type"].startswith("text/xml")
    assert b"<Response/>" in answer.content
    assert allowed_recipients(brand=world.brand, client_ids=[client.pk], channel="sms") == set()
    assert consent_history(client=client)[0].source == "sms_stop"

    notice = sms_send(client=client, body="Your withdrawal was approved.", purpose="transactional")
    assert sms_deliver(message_id=notice.pk) == SmsStatus.FAILED

    notice.refresh_from_db()
    assert notice.attempts == 1  # tried: a marketing opt-out holds back no transactional message
    assert (notice.error_code, notice.error_message) == ("21610", "Attempt to send to unsubscribed recipient")
    dispatch_pending()
    sources = list(Event.objects.filter(client=client, name="sms.opted_out").order_by("id")
                   .values_list("data__source", flat=True))
    assert sources == ["stop", "error_21610"]  # both on the client's timeline
    assert [d.source for d in consent_history(client=client)] == ["sms_stop", "portal"]  # the refusal adds none


def test_a_client_who_texts_start_again_may_get_marketing_sms_again(sms_world):
    world = sms_world
    client = make_client(brand=world.brand, first_name="Omar", phone="+442071838761")
    world.sim.control("/_sim/config", {"inbound_url": world.capture.base + reverse(
        "sms_inbound_webhook", args=[world.provider.code])})
    for word in ("STOP", "START"):
        texted = world.sim.control("/_sim/inbound", {"from": client.phone, "body": word})
        forward(world.capture.about(texted["sid"], 1))
        dispatch_pending()

    assert [d.source for d in consent_history(client=client)] == ["sms_start", "sms_stop"]
    assert allowed_recipients(brand=world.brand, client_ids=[client.pk], channel="sms") == {client.pk}


def test_a_status_callback_unsigned_or_for_an_unknown_provider_or_message_changes_nothing(sms_world):
    http = HttpClient()
    path = reverse("sms_status_webhook", args=[sms_world.provider.code])
    params = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered", "AccountSid": ACCOUNT_SID}
    url = sms_world.capture.base + path

    form, kind = urlencode(params), "application/x-www-form-urlencoded"

    unsigned = http.post(path, data=form, content_type=kind)
    nobody = http.post(reverse("sms_status_webhook", args=["nobody"]), data=form, content_type=kind)
    unknown = http.post(path, data=form, content_type=kind,
                        headers={"X-Twilio-Signature": twilio.signature(AUTH_TOKEN, url, params)})

    assert (unsigned.status_code, nobody.status_code, unknown.status_code) == (401, 404, 404)
    assert list(SmsWebhook.objects.order_by("id").values_list("outcome", flat=True)) == [
        "bad_signature", "unknown_provider", "unknown_message"]


def test_a_brand_without_an_sms_provider_is_told_so():
    client = make_client(brand=make_brand(name="Quiet Markets"), phone="+442071838770")

    with pytest.raises(SmsNotConfigured):
        sms_send(client=client, body="Hello")
    assert not SmsMessage.objects.exists()


def test_administrators_add_a_provider_whose_token_is_stored_encrypted_and_others_do_not_see_the_page(login_verified):
    brand = make_brand(name="Page Markets")
    admin = make_user(role_code=RoleCode.ADMIN, brand=brand)
    agent = make_user(role_code=RoleCode.SALES_AGENT, brand=brand)
    page = reverse("sms_provider_list")
    form = {"brand": brand.pk, "code": "twilio-page", "name": "Twilio", "base_url": "https://api.twilio.com",
            "account_sid": ACCOUNT_SID, "auth_token": "secret-token-123", "from_number": "+15005550006",
            "rate_per_second": "5", "is_active": "on"}
    http = HttpClient()

    login_verified(http, agent)
    assert http.get(page).status_code == 404
    assert http.post(page, form).status_code == 404
    login_verified(http, admin)
    bad = http.post(page, {**form, "account_sid": "XX1"})
    saved = http.post(page, form)

    assert bad.status_code == 400 and "An account SID is AC followed by 32 characters." in bad.content.decode()
    assert saved.status_code == 302
    provider = SmsProvider.objects.get(code="twilio-page")
    assert provider.auth_token() == "secret-token-123" and "secret-token-123" not in provider.auth_token_encrypted
    edit = http.get(reverse("sms_provider_edit", args=["twilio-page"])).content.decode()
    assert "secret-token-123" not in edit and "/hooks/sms/twilio-page/inbound/" in edit


def test_a_provider_needs_a_sender_and_a_token_and_each_problem_is_named():
    with pytest.raises(Exception) as caught:
        sms_provider_save(actor=None, brand=make_brand(), code="Bad Code!", name="", account_sid="AC1",
                          rate_per_second="0")

    assert set(caught.value.fields) == {"code", "name", "account_sid", "auth_token", "from_number", "rate_per_second"}
