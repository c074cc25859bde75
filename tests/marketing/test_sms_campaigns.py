"""SMS campaigns: only members with SMS consent get a text (the hold-out group never), sent through the
emails app's SMS pipeline as marketing with the campaign's code as reference and links tracked;
delivery and failure come from the provider's status callbacks (the Twilio simulator in its own
process), a STOP that answers the campaign counts as its variant's opt-out; a variant is a body only
and its length is shown in GSM-7 or UCS-2 segments."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from crm.events import dispatch_pending
from crm.exceptions import ValidationFailed
from crm.jobs import job_execute
from crm.models import RoleCode
from emails.services import sms_length
from emails.sms import sms_deliver
from emails.sms_models import SmsMessage, SmsStatus
from marketing.campaign_models import CampaignStatus, RecipientStatus
from marketing.campaign_results import campaign_results
from marketing.campaigns import VariantText, campaign_preview, campaign_save, campaign_send
from marketing.consent import allowed_recipients, consent_record
from marketing.services import segment_save
from tests.emails.sms_support import capture, forward, sms_world, twilio_session  # noqa: F401 - fixtures
from tests.factories import make_client, make_user

pytestmark = pytest.mark.django_db

ALL_REGISTERED = {"match": "all", "conditions": [{"fact": "stage", "op": "in", "value": ["registered"]}]}


@pytest.fixture
def texting(request: Any) -> Any:
    """The emails tests' SMS world: a brand whose provider is the Twilio simulator."""
    return request.getfixturevalue("sms_world")


@pytest.fixture(autouse=True)
def _open_all_day(settings):
    settings.MARKETING_CAMPAIGN_WINDOW = (0, 24)
    settings.MARKETING_CAMPAIGN_RATE = "100000/m"


def _world(texting: Any) -> Any:
    brand = texting.brand
    marketer = make_user(role_code=RoleCode.MARKETING, brand=brand, full_name="Mia Marketer",
                         email="mia@text.example")
    members = [make_client(brand=brand, stage="registered", first_name=f"M{i}", phone=f"+4420718388{i:02d}",
                           email=f"m{i}@example.com") for i in range(12)]
    consenting = members[:9]
    for client in consenting:
        consent_record(client=client, channel="sms", given=True, source="portal")
    # One consents by email only: an SMS campaign skips them.
    consent_record(client=members[9], channel="email", given=True, source="portal")
    segment = segment_save(actor=marketer, brand=brand, name="Registered", definition=ALL_REGISTERED)
    return marketer, members, {c.pk for c in consenting}, segment


def _variants() -> list[VariantText]:
    return [VariantText("A", "", "Hi {{ client.first_name }}, gold: https://text.example/gold Reply STOP to opt out", 50),
            VariantText("B", "", "{{ client.first_name }}, see https://text.example/news", 50)]


def test_an_sms_campaign_texts_consenting_members_and_counts_delivery_failure_and_stop(texting):
    marketer, members, consenting, segment = _world(texting)
    campaign = campaign_save(actor=marketer, brand=texting.brand, name="Gold by text", segment=segment,
                             channel="sms", holdout_percent=20, variants=_variants())
    assert set(campaign.variants.values_list("subject", flat=True)) == {""}
    campaign = campaign_send(actor=marketer, campaign=campaign)
    job_execute(campaign.job_id)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT

    rows = {r.client_id: r for r in campaign.recipients.select_related("variant")}
    held = {pk for pk, r in rows.items() if r.status == RecipientStatus.HELD_OUT}
    texted = {pk for pk, r in rows.items() if r.status == RecipientStatus.SENT}
    assert texted == consenting - held and texted
    assert all(rows[pk].status == RecipientStatus.SKIPPED_NO_CONSENT and "SMS" in rows[pk].reason
               for pk in {c.pk for c in members} - consenting - held)
    messages = {m.client_id: m for m in SmsMessage.objects.filter(client_id__in=texted)}
    assert set(messages) == texted and not SmsMessage.objects.filter(client_id__in=held).exists()
    for pk, message in messages.items():
        assert message.purpose == "marketing" and message.reference == str(campaign.code)
        assert rows[pk].sms_code == message.code
        assert "/m/c/" in message.body and "text.example" not in message.body  # the link is tracked

    # One number the network cannot reach; the others are delivered. Their callbacks come back signed.
    ordered = sorted(texted)
    unreachable, stopper = ordered[0], ordered[1]
    texting.sim.control("/_sim/numbers", {"number": messages[unreachable].to_number, "fate": "undelivered"})
    for pk in ordered:
        assert sms_deliver(message_id=messages[pk].pk) == SmsStatus.QUEUED
    for pk in ordered:
        messages[pk].refresh_from_db()
        forward(texting.capture.about(messages[pk].provider_sid, 3))
    dispatch_pending()

    # The stopper answers STOP to the campaign's text.
    texting.sim.control("/_sim/config", {"inbound_url": texting.capture.base + reverse(
        "sms_inbound_webhook", args=[texting.provider.code])})
    stop = texting.sim.control("/_sim/inbound", {"from": messages[stopper].to_number, "body": "STOP"})
    forward(texting.capture.about(stop["sid"], 1))
    dispatch_pending()

    for row in rows.values():
        row.refresh_from_db()
    assert rows[unreachable].delivery_failed_at and not rows[unreachable].delivered_at
    assert all(rows[pk].delivered_at for pk in ordered[1:])
    assert rows[stopper].opted_out_at and not any(rows[pk].opted_out_at for pk in ordered if pk != stopper)
    assert allowed_recipients(brand=texting.brand, client_ids=[stopper], channel="sms") == set()

    results = campaign_results(campaign=campaign)
    by_label = {g.key: g for g in results.variants}
    assert sum(g.members for g in by_label.values()) == len(texted)
    assert sum(g.delivered for g in by_label.values()) == len(texted) - 1
    assert by_label[rows[unreachable].variant.label].bounced == 1
    assert by_label[rows[stopper].variant.label].unsubscribed == 1
    assert results.holdout is not None and results.holdout.members == len(held)


def test_an_sms_variant_is_a_body_only_and_its_length_is_counted_in_segments(texting):
    marketer, _members, _consenting, segment = _world(texting)
    with pytest.raises(ValidationFailed) as refused:
        campaign_save(actor=marketer, brand=texting.brand, name="Empty", segment=segment, channel="sms",
                      variants=[VariantText("A", "", "  ", 100)])
    assert "body_a" in refused.value.fields and "subject_a" not in refused.value.fields
    with pytest.raises(ValidationFailed) as refused:
        campaign_save(actor=marketer, brand=texting.brand, name="Opens", segment=segment, channel="sms",
                      winner_metric="open", variants=[VariantText("A", "", "Hello", 100)])
    assert "winner_metric" in refused.value.fields

    preview = campaign_preview(actor=marketer, brand=texting.brand, segment=segment, channel="sms",
                               variant=VariantText("A", "", "Hello {{ client.first_name }}", 100))
    assert preview.text.startswith("Hello M") and (preview.encoding, preview.segments) == ("GSM-7", 1)

    assert (sms_length("x" * 160).segments, sms_length("x" * 161).segments) == (1, 2)
    assert sms_length("x" * 306).segments == 2 and sms_length("x" * 307).segments == 3
    assert sms_length("€" * 80) == sms_length("[" * 80)  # extension characters count two septets
    assert sms_length("€" * 81).segments == 2
    ucs = sms_length("Olá 👋")
    assert (ucs.encoding, ucs.units, ucs.segments) == ("UCS-2", 6, 1)
    assert sms_length("й" * 70).segments == 1 and sms_length("й" * 71).segments == 2
    assert sms_length("").segments == 0


def test_a_marketer_writes_an_sms_campaign_on_the_page_and_sees_its_length_in_parts(texting, client,
                                                                                     login_verified):
    marketer, _members, _consenting, segment = _world(texting)
    login_verified(client, marketer)
    form = {"brand": str(texting.brand.pk), "name": "Text week", "channel": "sms", "segment": str(segment.code),
            "holdout_percent": "10", "attribution_days": "14", "winner_metric": "click", "cost_amount": "",
            "cost_currency": "", "subject_a": "", "body_a": "Hi {{ client.first_name }}, gold is up " + "!" * 150,
            "share_a": "50", "subject_b": "", "body_b": "Olá {{ client.first_name }}", "share_b": "50"}
    page = client.get(reverse("marketing_campaign_new")).content.decode()
    assert 'name="channel"' in page and 'hx-trigger="keyup changed delay:500ms from:#id_body_a"' in page
    long = client.post(reverse("marketing_campaign_preview"), {**form, "variant": "A"},
                       HTTP_HX_REQUEST="true").content.decode()
    assert "(GSM-7): 2 SMS parts" in long
    short = client.post(reverse("marketing_campaign_preview"), {**form, "variant": "B"},
                        HTTP_HX_REQUEST="true").content.decode()
    assert "(UCS-2): 1 SMS part" in short
    assert client.post(reverse("marketing_campaign_new"), form).status_code == 302
    campaign = segment.campaigns.get(name="Text week")
    assert campaign.channel == "sms" and sorted(campaign.variants.values_list("label", "subject")) == [
        ("A", ""), ("B", "")]
    shown = client.get(reverse("marketing_campaign", args=[campaign.code])).content.decode()
    assert "Texted STOP" in shown and "Not delivered" in shown and "Unsubscribed" not in shown
    refused = client.post(reverse("marketing_campaign_new"), {**form, "name": "Email", "channel": "email"})
    assert refused.status_code == 422 and "subject_a" in refused.context["form"].errors
