"""The administrators' telephony settings: providers with a CRM-generated secret shown once and stored
encrypted, rotation, (de)activation, template validation, audit, and the webhook's recent activity."""

from __future__ import annotations

import importlib
import json
import re
import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client as HttpClient
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from crm.exceptions import NotAllowed, ValidationFailed
from crm.models import AuditLog
from leads.models import TelephonyProvider
from leads.telephony import (
    telephony_provider_create,
    telephony_provider_rotate_secret,
    telephony_provider_set_active,
)
from plumbing.signatures import header_value

pytestmark = pytest.mark.django_db
LIST = "/leads/settings/telephony/"
TEMPLATE = "https://pbx.example/call?to={phone}&ext={extension}"


def _admin_http(world, login_verified):
    http = HttpClient()
    login_verified(http, world.admin)
    return http


def _webhook(http, code, secret, payload=None):
    body = json.dumps(payload or {"event": "started", "call_id": f"c-{time.time_ns()}"}).encode()
    return http.post(reverse("telephony_webhook", args=[code]), data=body, content_type="application/json",
                     HTTP_X_CRM_SIGNATURE=header_value([secret], body))


def _shown_secret(response) -> str:
    match = re.search(r'data-testid="telephony-secret">([^<]+)<', response.content.decode())
    assert match, response.content.decode()[-2000:]
    return match.group(1)


def _stored(code: str) -> str:
    return TelephonyProvider.objects.values_list("secret_encrypted", flat=True).get(code=code)


# --- access ------------------------------------------------------------------------------------------


def test_agents_and_desk_managers_do_not_get_the_telephony_pages(world, login_verified):
    created = telephony_provider_create(actor=world.admin, code="voipco", name="VoIP Co")
    urls = [LIST, reverse("lead_telephony_edit", args=["voipco"])]
    posts = [reverse("lead_telephony_rotate", args=["voipco"]), reverse("lead_telephony_active", args=["voipco"])]
    for user in (world.agents[0], world.manager):
        http = HttpClient()
        http.force_login(user)
        for url in urls:
            assert http.get(url).status_code == 404
        for url in posts:
            assert http.post(url, {"active": "0"}).status_code == 404
        assert http.post(LIST, {"code": "sneaky", "name": "Sneaky"}).status_code == 404
    assert _stored("voipco") == created.provider.secret_encrypted  # nothing rotated
    assert TelephonyProvider.objects.get(code="voipco").is_active
    assert not TelephonyProvider.objects.filter(code="sneaky").exists()
    with pytest.raises(NotAllowed):
        telephony_provider_rotate_secret(actor=world.manager, provider=created.provider)
    http = _admin_http(world, login_verified)
    assert http.get(LIST).status_code == 200
    assert http.get(reverse("lead_telephony_edit", args=["voipco"])).status_code == 200
    assert http.get(reverse("lead_telephony_edit", args=["nobody"])).status_code == 404


def test_the_lead_settings_tabs_link_the_telephony_page(world, login_verified):
    http = _admin_http(world, login_verified)
    assert LIST in http.get(reverse("lead_routing_list")).content.decode()


# --- create: the secret is shown once and stored encrypted --------------------------------------------


def test_adding_a_provider_shows_its_secret_once_with_the_webhook_and_stores_it_encrypted(world, login_verified,
                                                                                         client, settings):
    settings.CRM_PUBLIC_URL = "https://crm.broker.example:8622"
    http = _admin_http(world, login_verified)
    response = http.post(LIST, {"code": "voipco", "name": "VoIP Co", "brand": world.brand.code,
                                "click_to_call_template": TEMPLATE})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    secret = _shown_secret(response)
    html = response.content.decode()
    assert len(secret) >= 40
    # The exact address to enter at the provider: the CRM's public one, not the Host this page came on.
    assert "https://crm.broker.example:8622/hooks/telephony/voipco/" in html
    assert "X-CRM-Signature" in html and "t=$ts,v1=$sig" in html and "HMAC-SHA256" in html
    assert "X-CRM-Timestamp" not in html  # one header, as the CRM's own webhooks

    provider = TelephonyProvider.objects.get(code="voipco")
    assert (provider.name, provider.brand, provider.click_to_call_template) == ("VoIP Co", world.brand, TEMPLATE)
    raw = _stored("voipco")
    assert raw != secret and secret not in raw
    assert provider.secret_rotated_at is not None

    # Never shown again: not on the list, not on the edit page, not in the audit log or the history.
    listing = http.get(LIST).content.decode()
    assert secret not in listing and "voipco" in listing
    assert secret not in http.get(reverse("lead_telephony_edit", args=["voipco"])).content.decode()
    audit = AuditLog.objects.get(action="telephony_provider.create", object_id="voipco")
    assert audit.actor == world.admin and audit.after["secret_set"] is True
    assert secret not in json.dumps(audit.after) and raw not in json.dumps(audit.after)
    assert not hasattr(provider.history.model, "secret_encrypted")
    assert provider.history.get().history_user == world.admin

    # The webhook accepts requests signed with it, and only with it.
    assert _webhook(client, "voipco", secret).status_code == 200
    assert _webhook(client, "voipco", secret[:-1] + "x").status_code == 401


def test_a_bad_code_or_a_taken_code_is_refused_naming_the_field(world, login_verified):
    telephony_provider_create(actor=world.admin, code="voipco", name="VoIP Co")
    http = _admin_http(world, login_verified)
    for code, message in (("voipco", "Another telephony provider has this code."),
                          ("voip co!", "Use lower-case letters, digits and hyphens only")):
        response = http.post(LIST, {"code": code, "name": "Other"})
        assert response.status_code == 400
        assert response.context["form"].errors["code"][0].startswith(message)
        assert "telephony-secret" not in response.content.decode()
    response = http.post(LIST, {"code": "fresh", "name": ""})
    assert response.status_code == 400 and "name" in response.context["form"].errors
    assert TelephonyProvider.objects.count() == 1


def test_every_bad_field_is_named_at_once(world, login_verified):
    http = _admin_http(world, login_verified)
    response = http.post(LIST, {"code": "Bad Code!", "name": "", "click_to_call_template": "ftp://x/{number}"})
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"code", "name", "click_to_call_template"}
    assert not TelephonyProvider.objects.exists()


@pytest.mark.parametrize("template", [
    "ftp://pbx.example/{phone}",            # scheme not allowed
    "javascript:alert({phone})",
    "sip:{number}",                          # unknown placeholder
    "https://pbx.example/call?to={phone}&agent={agent}",
    "sip:{phone",                            # unmatched brace
    "tel:+4420000000",                       # no {phone}
    "https://pbx example/{phone}",           # not a link
])
def test_a_bad_click_to_call_template_is_refused_naming_the_field(world, login_verified, template):
    http = _admin_http(world, login_verified)
    response = http.post(LIST, {"code": "voipco", "name": "VoIP Co", "click_to_call_template": template})
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert list(errors) == ["click_to_call_template"]
    assert "template" in errors["click_to_call_template"][0]
    assert not TelephonyProvider.objects.exists()
    with pytest.raises(ValidationFailed) as refused:
        telephony_provider_create(actor=world.admin, code="voipco", name="VoIP Co", click_to_call_template=template)
    assert set(refused.value.fields) == {"click_to_call_template"}


def test_the_unknown_placeholder_is_named_in_the_error(world):
    with pytest.raises(ValidationFailed) as refused:
        telephony_provider_create(actor=world.admin, code="voipco", name="VoIP Co",
                                  click_to_call_template="sip:{phone}@pbx;user={agent}")
    assert "{agent}" in refused.value.fields["click_to_call_template"][0]


@pytest.mark.parametrize("template", ["sip:{phone}", "tel:{phone}", "callto:{phone}", "SIP:{extension}*{phone}",
                                      TEMPLATE, ""])
def test_good_click_to_call_templates_are_kept(world, template):
    provider = telephony_provider_create(actor=world.admin, code="voipco", name="VoIP Co",
                                         click_to_call_template=f"  {template} ").provider
    assert provider.click_to_call_template == template


# --- rotation ----------------------------------------------------------------------------------------


def test_rotating_shows_a_new_secret_once_and_the_old_one_stops_working(world, login_verified, client):
    created = telephony_provider_create(actor=world.admin, code="voipco", name="VoIP Co", brand=world.brand)
    old_secret, old_raw = created.secret, _stored("voipco")
    assert _webhook(client, "voipco", old_secret).status_code == 200

    http = _admin_http(world, login_verified)
    assert http.get(reverse("lead_telephony_rotate", args=["voipco"])).status_code == 405  # a POST only
    response = http.post(reverse("lead_telephony_rotate", args=["voipco"]))
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    new_secret = _shown_secret(response)
    assert "The previous secret no longer works" in response.content.decode()
    assert new_secret != old_secret
    raw = _stored("voipco")
    assert raw != old_raw and new_secret not in raw

    assert _webhook(client, "voipco", old_secret).status_code == 401
    assert _webhook(client, "voipco", new_secret).status_code == 200

    audit = AuditLog.objects.get(action="telephony_provider.rotate_secret", object_id="voipco")
    assert audit.actor == world.admin and audit.after["secret_rotated_at"]
    assert new_secret not in json.dumps(audit.after) and old_secret not in json.dumps(audit.before)
    assert new_secret not in http.get(LIST).content.decode()


def test_a_secret_no_configured_key_can_read_is_refused_not_crashed(world, client, settings):
    created = telephony_provider_create(actor=world.admin, code="voipco", name="VoIP Co")
    settings.SECRET_KEY = "an-entirely-different-secret-key-0123456789abcdef"
    settings.FIELD_ENCRYPTION_KEY = []
    assert _webhook(client, "voipco", created.secret).status_code == 401
    # Rotating gives it a secret under the current key again.
    fresh = telephony_provider_rotate_secret(actor=world.admin, provider=created.provider)
    assert _webhook(client, "voipco", fresh.secret).status_code == 200


def test_after_a_key_change_the_command_reencrypts_secrets_so_the_old_key_can_go(world, client, settings):
    from io import StringIO

    from cryptography.fernet import Fernet
    from django.core.management import call_command

    settings.FIELD_ENCRYPTION_KEY = []
    created = telephony_provider_create(actor=world.admin, code="voipco", name="VoIP Co")
    old_raw = _stored("voipco")
    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]  # the new key first; SECRET_KEY's still reads
    out = StringIO()
    call_command("leads_reencrypt_telephony_secrets", stdout=out)
    assert "re-encrypted: 1; unreadable: 0" in out.getvalue()
    assert _stored("voipco") != old_raw
    settings.SECRET_KEY = "another-secret-key-after-the-rotation-0123456789"
    assert _webhook(client, "voipco", created.secret).status_code == 200  # same secret, new key only
    assert AuditLog.objects.filter(action="telephony_provider.secret_reencrypt", object_id="voipco").exists()


# --- edit, deactivate --------------------------------------------------------------------------------


def test_editing_changes_name_brand_and_template_keeps_the_secret_and_is_audited(world, login_verified, client):
    created = telephony_provider_create(actor=world.admin, code="voipco", name="VoIP Co")
    raw = _stored("voipco")
    http = _admin_http(world, login_verified)
    url = reverse("lead_telephony_edit", args=["voipco"])
    response = http.post(url, {"name": "VoIP Company", "brand": world.brand.code, "click_to_call_template": "sip:x"})
    assert response.status_code == 400 and "click_to_call_template" in response.context["form"].errors
    response = http.post(url, {"name": "VoIP Company", "brand": world.brand.code,
                               "click_to_call_template": "sip:{phone}", "code": "renamed"})
    assert response.status_code == 302 and response["Location"] == LIST
    provider = TelephonyProvider.objects.get(pk=created.provider.pk)
    assert (provider.code, provider.name, provider.brand, provider.click_to_call_template) == (
        "voipco", "VoIP Company", world.brand, "sip:{phone}")
    assert _stored("voipco") == raw
    audit = AuditLog.objects.get(action="telephony_provider.update", object_id="voipco")
    assert audit.before["name"] == "VoIP Co" and audit.before["brand"] is None
    assert audit.after == {"code": "voipco", "name": "VoIP Company", "brand": world.brand.code,
                           "click_to_call_template": "sip:{phone}", "is_active": True}
    assert _webhook(client, "voipco", created.secret).status_code == 200


def test_a_deactivated_provider_is_refused_until_activated_again(world, login_verified, client):
    created = telephony_provider_create(actor=world.admin, code="voipco", name="VoIP Co",
                                        click_to_call_template="sip:{phone}")
    http = _admin_http(world, login_verified)
    url = reverse("lead_telephony_active", args=["voipco"])
    assert http.post(url, {"active": "0"}).status_code == 302
    assert not TelephonyProvider.objects.get(code="voipco").is_active
    assert _webhook(client, "voipco", created.secret).status_code == 401
    assert "inactive" in http.get(LIST).content.decode()
    assert http.post(url, {"active": "1"}).status_code == 302
    assert _webhook(client, "voipco", created.secret).status_code == 200
    actions = list(AuditLog.objects.filter(object_id="voipco", action__startswith="telephony_provider.")
                   .order_by("id").values_list("action", flat=True))
    assert actions == ["telephony_provider.create", "telephony_provider.deactivate", "telephony_provider.activate"]
    # Setting the state it already has changes and audits nothing.
    telephony_provider_set_active(actor=world.admin, provider=created.provider, is_active=True)
    assert AuditLog.objects.filter(object_id="voipco").count() == 3


# --- the list: recent webhook activity -----------------------------------------------------------------


@override_settings(CRM_TELEPHONY_SECRETS={"legacy-pbx": "from-settings"})
def test_the_list_shows_each_providers_last_event_and_events_of_the_last_day(world, login_verified, client,
                                                                            time_machine):
    quiet = telephony_provider_create(actor=world.admin, code="quiet", name="Quiet PBX")
    busy = telephony_provider_create(actor=world.admin, code="busy", name="Busy PBX")
    time_machine.move_to(timezone.now() - timedelta(days=2), tick=True)
    assert _webhook(client, "busy", busy.secret).status_code == 200  # two days ago: not in the last 24 h
    time_machine.move_to(timezone.now() + timedelta(days=2), tick=True)
    for _n in range(3):
        assert _webhook(client, "busy", busy.secret).status_code == 200
    assert _webhook(client, "legacy-pbx", "from-settings").status_code == 200

    http = _admin_http(world, login_verified)
    response = http.get(LIST)
    rows = {row.code: row for row in response.context["rows"]}
    assert (rows["busy"].events_24h, rows["quiet"].events_24h, rows["legacy-pbx"].events_24h) == (3, 0, 1)
    assert rows["quiet"].last_event_at is None
    assert timezone.now() - rows["busy"].last_event_at < timedelta(minutes=1)
    assert rows["legacy-pbx"].from_settings and not rows["busy"].from_settings
    html = response.content.decode()
    quiet_row = re.search(r'<tr data-provider="quiet">.*?</tr>', html, re.S).group(0)
    assert "never" in quiet_row
    legacy_row = re.search(r'<tr data-provider="legacy-pbx">.*?</tr>', html, re.S).group(0)
    assert "in the server settings" in legacy_row and "from-settings" not in html
    assert quiet.secret not in html and busy.secret not in html


def test_the_list_takes_a_fixed_number_of_queries(world, login_verified, django_assert_max_num_queries):
    http = _admin_http(world, login_verified)
    http.get(LIST)
    for n in range(6):
        telephony_provider_create(actor=world.admin, code=f"p{n}", name=f"PBX {n}", brand=world.brand)
    with django_assert_max_num_queries(12):
        page = http.get(LIST)
    assert page.status_code == 200
    assert all(f'<tr data-provider="p{n}">' in page.content.decode() for n in range(6))


# --- the data migration ---------------------------------------------------------------------------------


def test_the_migration_encrypts_secrets_stored_in_plaintext_and_back():
    """leads 0005's data step, on a provider as its schema steps leave one (the plaintext secret in the
    renamed column), and its way back. Run directly rather than by migrating there and back: going
    back to leads 0004 unapplies nineteen migrations of three apps and takes two minutes of a test
    run; the schema steps around it are Django's own rename and add, and the round trip of migrating
    is tested on the KYC, portal and partner encryptions."""
    from django.apps import apps

    migration = importlib.import_module("leads.migrations.0005_telephony_secret_encrypted")
    legacy = TelephonyProvider.objects.create(code="legacy", name="Legacy PBX", secret_encrypted="plain-old-secret")
    long = TelephonyProvider.objects.create(code="long", name="Long", secret_encrypted="s" * 300)

    migration.encrypt_secrets(apps, None)
    stored = TelephonyProvider.objects.get(pk=legacy.pk)
    assert "plain-old-secret" not in stored.secret_encrypted
    assert stored.secret_rotated_at == stored.created_at
    from leads.calls import provider_secret

    provider, secret = provider_secret("legacy")
    assert provider == legacy and secret == "plain-old-secret"  # the webhook checks signatures with it

    # Going back never cuts a secret short: the step stops, and its migration's transaction with it.
    with pytest.raises(ValueError, match=f"telephony provider {long.pk} is too long for the old column"), \
            transaction.atomic():
        migration.decrypt_secrets(apps, None)
    assert "plain-old-secret" not in TelephonyProvider.objects.get(pk=legacy.pk).secret_encrypted
    long.delete()
    migration.decrypt_secrets(apps, None)
    assert TelephonyProvider.objects.get(pk=legacy.pk).secret_encrypted == "plain-old-secret"
