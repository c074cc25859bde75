"""Calls: logging on the profile, first contact, the signed telephony webhook, click-to-call."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.test import override_settings
from django.urls import reverse

from crm.exceptions import NotAllowed, ValidationFailed
from crm.models import AccessEvent, Event, RoleCode
from leads.calls import call_log, click_to_call_template, click_to_call_url, provider_secret
from leads.models import Call, CallOutcome, Channel, LeadContactState, TelephonyEvent, TelephonyWebhook
from leads.services import lead_intake
from leads.telephony import telephony_provider_create
from plumbing.signatures import header_value, sign
from tests.factories import make_user
from tests.leads.conftest import lead_data, uk_phone
from tests.writes import written

pytestmark = pytest.mark.django_db


def _lead(world, n=1):
    return lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(n)).client


def _post(client, provider, payload, *, secret=None, ts=None, raw=None):
    """Signed with `secret`, by default the provider's own (as the CRM stores it)."""
    secret = provider_secret(provider)[1] if secret is None else secret
    body = raw if raw is not None else json.dumps(payload).encode()
    ts = int(time.time()) if ts is None else ts
    return client.post(reverse("telephony_webhook", args=[provider]), data=body, content_type="application/json",
                       HTTP_X_CRM_SIGNATURE=header_value([secret], body, timestamp=ts))


@pytest.fixture
def provider(world):
    return telephony_provider_create(
        actor=world.admin, code="voipco", name="VoIP Co", brand=world.brand,
        click_to_call_template="https://pbx.example/call?to={phone}&ext={extension}").provider


# --- logging by hand -----------------------------------------------------------------------


def test_logging_an_answered_call_records_it_and_marks_first_contact(world):
    lead = _lead(world)
    call = call_log(actor=lead.owner, client=lead, outcome=CallOutcome.INTERESTED, duration_seconds=270, notes="Keen")
    assert (call.duration_seconds, call.talk_seconds, call.agent) == (270, 270, lead.owner)
    event = Event.objects.get(name="call.logged", client=lead)
    assert event.data["outcome"] == "interested" and event.data["duration"] == 270
    state = LeadContactState.objects.get(client=lead)
    assert state.contacted_at is not None and state.contacted_via == "call"


def test_an_unanswered_call_is_logged_but_is_not_first_contact(world):
    lead = _lead(world)
    call = call_log(actor=lead.owner, client=lead, outcome=CallOutcome.NO_ANSWER, duration_seconds=30)
    assert call.talk_seconds == 0
    assert LeadContactState.objects.get(client=lead).contacted_at is None
    assert not Event.objects.filter(name="lead.contacted", client=lead).exists()


def test_call_log_names_each_bad_field(world):
    lead = _lead(world)
    with pytest.raises(ValidationFailed) as exc:
        call_log(actor=lead.owner, client=lead, outcome="shouted", duration_seconds=-5)
    assert set(exc.value.fields) == {"outcome", "duration_seconds"}
    assert not Call.objects.exists()


def test_a_role_without_change_client_cannot_log_calls(world):
    lead = _lead(world)
    finance = make_user(role_code=RoleCode.FINANCE, brand=world.brand)
    with pytest.raises(NotAllowed):
        call_log(actor=finance, client=lead, outcome=CallOutcome.BUSY)


def test_owner_logs_a_call_from_the_calls_tab_and_colleague_and_outsider_get_404(world, client):
    lead = _lead(world)
    owner = lead.owner
    colleague = next(a for a in world.agents if a != owner)
    url = reverse("lead_call_log", args=[lead.code])
    form = {"outcome": "callback", "direction": "outbound", "duration": "2:05", "notes": "Call back at 5"}
    outsiders = (colleague, make_user(role_code=RoleCode.SALES_AGENT))
    before = written(Call, LeadContactState)
    for outsider in outsiders:
        client.force_login(outsider)
        assert client.post(url, form, HTTP_HX_REQUEST="true").status_code == 404
    assert not Call.objects.exists()
    assert written(Call, LeadContactState) == before  # no "call.logged", no contact state, no audit entry
    client.force_login(owner)
    page = client.get(reverse("client_detail", args=[lead.code]) + "?tab=calls")
    assert page.status_code == 200 and b"Log call" in page.content
    response = client.post(url, form, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and b'id="calls-panel"' in response.content
    call = Call.objects.get(client=lead)
    assert (call.duration_seconds, call.outcome, call.notes) == (125, "callback", "Call back at 5")


def test_a_bad_duration_is_shown_on_the_form(world, client):
    lead = _lead(world)
    client.force_login(lead.owner)
    response = client.post(reverse("lead_call_log", args=[lead.code]),
                           {"outcome": "busy", "direction": "outbound", "duration": "ten"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and b"minutes:seconds" in response.content
    assert not Call.objects.exists()


# --- click to call -------------------------------------------------------------------------


def test_click_to_call_needs_a_logged_reveal_and_uses_the_brand_template(world, provider, client):
    lead = _lead(world)
    owner = lead.owner
    owner.phone_extension = "101"
    owner.save(update_fields=["phone_extension"])
    client.force_login(owner)
    page = client.get(reverse("client_detail", args=[lead.code]) + "?tab=calls")
    assert b"pbx.example" not in page.content and lead.phone.encode() not in page.content
    response = client.post(reverse("lead_call_dial", args=[lead.code]), HTTP_HX_REQUEST="true")
    assert b"https://pbx.example/call?to=+44207" in response.content and b"&amp;ext=101" in response.content
    assert AccessEvent.objects.filter(user=owner, client=lead).exists()


@override_settings(CRM_CLICK_TO_CALL_TEMPLATE="sip:{phone}")
def test_without_a_provider_template_the_setting_is_used(world):
    assert click_to_call_template(brand_id=world.brand.pk) == "sip:{phone}"
    assert click_to_call_url(template="sip:{phone}", phone="+442071838750") == "sip:+442071838750"


# --- the telephony webhook -----------------------------------------------------------------


def test_webhook_events_build_one_call_matched_by_extension_and_phone(world, provider, client):
    lead = _lead(world, 7)
    agent = lead.owner
    agent.phone_extension = "205"
    agent.save(update_fields=["phone_extension"])
    t0 = lead.created_at.replace(microsecond=0) + timedelta(seconds=1)
    base = {"call_id": "abc-1", "extension": "205", "phone": uk_phone(7), "direction": "outbound"}
    assert _post(client, "voipco", {**base, "event": "started", "occurred_at": t0.isoformat()}).status_code == 200
    assert _post(client, "voipco", {**base, "event": "answered",
                                    "occurred_at": (t0 + timedelta(seconds=10)).isoformat()}).status_code == 200
    response = _post(client, "voipco", {**base, "event": "ended", "occurred_at": (t0 + timedelta(seconds=100)).isoformat(),
                                        "duration": 100, "recording_url": "https://rec.example/abc-1.mp3"})
    assert response.status_code == 200 and response.json()["status"] == "applied"
    call = Call.objects.get()
    assert (call.client, call.agent, call.duration_seconds, call.talk_seconds) == (lead, agent, 100, 90)
    assert call.outcome == "connected" and call.recording_url.endswith("abc-1.mp3")
    assert Event.objects.filter(name="call.logged", client=lead).count() == 1
    state = LeadContactState.objects.get(client=lead)
    assert state.contacted_via == "call" and state.contacted_at == t0 + timedelta(seconds=10)


def test_a_replayed_event_is_a_duplicate_and_changes_nothing(world, provider, client):
    lead = _lead(world, 8)
    payload = {"call_id": "dup-1", "event": "ended", "phone": lead.phone, "duration": 40}
    assert _post(client, "voipco", payload).json()["status"] == "applied"
    again = _post(client, "voipco", payload)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert Call.objects.count() == 1 and TelephonyEvent.objects.count() == 1
    assert Event.objects.filter(name="call.logged").count() == 1


def test_a_bad_signature_or_stale_timestamp_is_refused_with_401(world, provider, client):
    payload = {"call_id": "x", "event": "started"}
    assert _post(client, "voipco", payload, secret="wrong").status_code == 401
    stale = _post(client, "voipco", payload, ts=int(time.time()) - 6 * 60)
    assert stale.status_code == 401 and stale.json()["error"] == "invalid_signature"
    assert _post(client, "nobody", payload).status_code == 401
    assert not Call.objects.exists()


def test_the_signature_is_the_crms_one_x_crm_signature_and_no_other(world, provider, client):
    """Telephony providers sign as the CRM signs its own webhooks (plumbing.signatures): t= and v1= in
    X-CRM-Signature. The two-header form (X-CRM-Timestamp, X-CRM-Signature: sha256=) is not taken."""
    secret = provider_secret("voipco")[1]
    body = json.dumps({"event": "started", "call_id": "c-two-headers"}).encode()
    ts = str(int(time.time()))
    refused = client.post(reverse("telephony_webhook", args=["voipco"]), data=body, content_type="application/json",
                          HTTP_X_CRM_TIMESTAMP=ts, HTTP_X_CRM_SIGNATURE="sha256=" + sign(secret, ts, body))
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_signature"
    # During a key change the provider may sign with the old and the new secret: either is enough.
    both = header_value(["an older secret", secret], body, timestamp=int(ts))
    taken = client.post(reverse("telephony_webhook", args=["voipco"]), data=body, content_type="application/json",
                        HTTP_X_CRM_SIGNATURE=both)
    assert taken.status_code == 200 and taken.json()["status"] != "duplicate"


def test_a_bad_body_is_refused_with_400_naming_the_field(world, provider, client):
    response = _post(client, "voipco", {"call_id": "x", "event": "hung", "duration": "long",
                                        "recording_url": "ftp://x", "phone": "12"})
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"event", "duration", "recording_url", "phone"}
    assert _post(client, "voipco", None, raw=b"not json").json()["fields"] == {"body": ["Send a JSON object."]}
    deep = b"[" * 100_000 + b"]" * 100_000  # nested beyond reason: refused the same way, not a 500
    assert _post(client, "voipco", None, raw=deep).json()["fields"] == {"body": ["Send a JSON object."]}
    nul = _post(client, "voipco", None, raw=b'{"call_id": "c\\u0000", "event": "ringing", "extension": "101"}')
    assert nul.status_code == 400 and "NUL" in nul.json()["fields"]["call_id"][0]
    surrogate = _post(client, "voipco", None, raw=b'{"call_id": "c-9", "event": "started", "extension": "1\\ud800"}')
    assert surrogate.status_code == 400 and "surrogate" in surrogate.json()["fields"]["extension"][0]
    assert not Call.objects.exists()


def _inbox():
    return [(w.provider, w.event_id, w.outcome, w.signature_ok, w.call_id)
            for w in TelephonyWebhook.objects.order_by("id")]


def test_a_repeated_call_event_goes_through_the_inbox_once_and_is_kept_as_a_duplicate(world, provider, client):
    lead = _lead(world, 10)
    payload = {"call_id": "rep-1", "event": "ended", "phone": lead.phone, "duration": 30, "outcome": "interested"}
    first = _post(client, "voipco", payload)
    again = _post(client, "voipco", payload)
    call = Call.objects.get()
    assert (first.json()["status"], again.json()["status"]) == ("applied", "duplicate")
    assert again.json()["call"] == str(call.code) and again.json()["client"] == str(lead.code)
    assert _inbox() == [("voipco", "rep-1:ended", "accepted", True, call.pk),
                        ("voipco", "rep-1:ended", "duplicate", True, call.pk)]
    assert Event.objects.filter(name="call.logged", client=lead).count() == 1 and TelephonyEvent.objects.count() == 1
    # Another event of the same call is another notification, not a copy.
    assert _post(client, "voipco", {**payload, "event": "answered"}).json()["status"] == "applied"
    # The delivery is kept as it came, the caller's number in it encrypted, as the call's is.
    (body,) = _raw("SELECT body FROM leads_telephonywebhook WHERE outcome = 'accepted' ORDER BY id LIMIT 1", [])
    assert body.startswith("enc1:") and lead.phone.lstrip("+") not in body
    assert json.loads(TelephonyWebhook.objects.order_by("id").first().body)["call_id"] == "rep-1"


def test_a_badly_signed_or_stale_call_event_is_kept_as_refused_and_changes_nothing(world, provider, client):
    lead = _lead(world, 11)
    payload = {"call_id": "sig-1", "event": "ended", "phone": lead.phone, "duration": 30}
    assert _post(client, "voipco", payload, secret="not the provider's").status_code == 401
    assert _post(client, "voipco", payload, ts=int(time.time()) - 6 * 60).status_code == 401
    assert _post(client, "nobody", payload).status_code == 401  # a provider nobody configured: the same answer
    assert _post(client, "voipco", {**payload, "event": "hung"}).status_code == 400
    assert not Call.objects.exists() and not TelephonyEvent.objects.exists()
    assert not Event.objects.filter(name="call.logged").exists()
    assert [(p, outcome, ok) for p, _e, outcome, ok, _c in _inbox()] == [
        ("voipco", "refused_bad_signature", False), ("voipco", "refused_stale", True),
        ("nobody", "refused_bad_signature", False), ("voipco", "refused_malformed", True)]
    # The genuine event still applies afterwards: refusals claim nothing.
    assert _post(client, "voipco", payload).json()["status"] == "applied"
    assert _inbox()[-1][2] == "accepted" and Call.objects.get().client == lead


@override_settings(CRM_TELEPHONY_SECRETS={"envprov": "from-settings"})
def test_a_provider_may_be_configured_in_settings(world, client):
    response = _post(client, "envprov", {"call_id": "s-1", "event": "started"}, secret="from-settings")
    assert response.status_code == 200 and Call.objects.get().provider == "envprov"


def test_the_default_pipeline_status_reads_in_the_agents_language(world, client):
    from leads.pipeline import pipeline_defaults_ensure

    lead = _lead(world)
    pipeline_defaults_ensure(brand=lead.brand)
    owner = lead.owner
    owner.language = "ar"  # saved in the agent's settings: applies from the login on
    owner.save(update_fields=["language"])
    client.force_login(owner)
    page = client.get(reverse("client_detail", args=[lead.code]) + "?tab=calls").content.decode()
    current = page.split('id="pipeline-current">', 1)[1].split("<", 1)[0]
    assert current == "جديد"


# --- encrypted at rest ---------------------------------------------------------------------------


def _raw(sql: str, params: list) -> tuple:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def test_a_calls_number_and_the_providers_event_are_stored_encrypted(world, provider, client):
    lead = _lead(world, 9)
    digits = lead.phone.lstrip("+")
    logged = call_log(actor=lead.owner, client=lead, outcome=CallOutcome.BUSY)
    payload = {"call_id": "enc-1", "event": "ended", "phone": lead.phone, "duration": 40}
    assert _post(client, "voipco", payload).json()["status"] == "applied"
    reported = Call.objects.get(provider_call_id="enc-1")
    for call in (logged, reported):
        (phone,) = _raw("SELECT phone FROM leads_call WHERE id = %s", [call.pk])
        (history,) = _raw("SELECT phone FROM leads_historicalcall WHERE id = %s ORDER BY history_id DESC LIMIT 1",
                          [call.pk])
        assert phone.startswith("enc1:") and history.startswith("enc1:") and digits not in phone + history
    (event,) = _raw("SELECT payload FROM leads_telephonyevent WHERE call_id = %s", [reported.pk])
    assert event.startswith("enc1:") and digits not in event
    # Read back whole, and the provider's call still found its client by the client's phone hash.
    assert (logged.phone, Call.objects.get(pk=reported.pk).phone, reported.client) == (lead.phone, lead.phone, lead)
    assert TelephonyEvent.objects.get(call=reported).payload["phone"] == lead.phone


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_existing_calls_and_events_and_decrypts_them_on_the_way_back():
    from django.utils import timezone

    from crm.audit import app_privileges_grant
    from crm.lib import dbroles
    from tests.migrating import apps_at, leaves, migrate

    before, after = [("leads", "0015_contact_keys_hashed")], [("leads", "0016_call_phone_encrypted")]
    number, raw = "+442071838750", {"call_id": "m-1", "event": "ended", "phone": "+442071838750"}
    with dbroles.as_owner():  # migrations are the schema owner's work, as `manage.py migrate` does them
        newest = leaves()
        try:
            migrate(before)
            state = apps_at(before)
            OldCall, OldHistory = state.get_model("leads", "Call"), state.get_model("leads", "HistoricalCall")
            OldEvent = state.get_model("leads", "TelephonyEvent")
            call = OldCall.objects.create(phone=number, provider="voipco", provider_call_id="m-1")
            OldHistory.objects.create(id=call.pk, code=call.code, phone=number, started_at=timezone.now(),
                                      created_at=timezone.now(), history_date=timezone.now(), history_type="+")
            OldEvent.objects.create(provider="voipco", provider_call_id="m-1", event_type="ended", call_id=call.pk,
                                    occurred_at=timezone.now(), payload=raw)

            migrate(after)
            stored = [_raw("SELECT phone FROM leads_call WHERE id = %s", [call.pk])[0],
                      _raw("SELECT phone FROM leads_historicalcall WHERE id = %s", [call.pk])[0],
                      _raw("SELECT payload FROM leads_telephonyevent WHERE call_id = %s", [call.pk])[0]]
            assert all(v.startswith("enc1:") and "2071838750" not in v for v in stored)
            assert Call.objects.get(pk=call.pk).phone == number
            assert TelephonyEvent.objects.get(call_id=call.pk).payload == raw

            migrate(before)  # and back: the plain values in their old columns
            assert OldCall.objects.get(pk=call.pk).phone == number
            assert OldEvent.objects.get(call_id=call.pk).payload == raw
        finally:  # and forward again (the step after `before` is `after`), to the newest
            migrate(newest)
            app_privileges_grant()
