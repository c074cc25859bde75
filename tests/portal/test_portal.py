from __future__ import annotations

import time

import pytest
from django.core import mail
from django.urls import reverse
from django_otp.oath import TOTP

from crm.lib.fieldcrypt import keyed_hash
from crm.models import AuditLog, Client, Event, Stage
from leads.models import Channel
from leads.services.intake import lead_intake
from portal import totp
from portal.models import ClientLogin, ConsentKind, ConsentRecord
from portal.services import portal_totp_confirm, portal_totp_start, verification_token
from tests.factories import make_desk, make_user
from tests.portal.conftest import PASSWORD, links_in, path_of, publish, sign_in

pytestmark = pytest.mark.django_db


def current_code(key: bytes) -> str:
    return f"{TOTP(key, step=30, digits=6).token():06d}"


# --- registration -------------------------------------------------------------------------------------


def test_a_new_person_registers_as_a_registered_client_with_attribution_and_gets_a_verification_mail(
        brand, register):
    response = register(brand, query="?utm_source=google&ref=IB42", utm_source="google", ref="IB42",
                        accept_marketing="on")

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:register_done", args=[brand.code])
    login = ClientLogin.objects.get()
    client = login.client
    assert (client.stage, client.brand, client.email, client.country) == (
        Stage.REGISTERED, brand, "nadia.hassan@example.com", "GB")
    assert (client.utm_source, client.referrer_code) == ("google", "IB42")
    assert str(client.date_of_birth) == "1990-04-02"
    assert login.password != PASSWORD and not login.email_verified
    kinds = {(r.kind, r.version, r.accepted) for r in ConsentRecord.objects.filter(client=client)}
    assert kinds == {("terms", "1", True), ("privacy", "1", True), ("marketing", "1", True)}
    event = Event.objects.get(name="portal.registered")
    assert event.data["matched_lead"] is False and event.data["brand"] == brand.code
    assert event.data["attribution"]["referrer_code"] == "IB42"
    [message] = mail.outbox
    assert message.to == ["nadia.hassan@example.com"]
    assert any("/portal/verify/" in link for link in links_in(message))


def test_a_lead_who_registers_becomes_the_same_client_keeping_owner_and_attribution(brand, register):
    agent = make_user(role_code="sales_agent", desk=make_desk(brand=brand))
    lead = lead_intake(brand=brand, channel=Channel.API, data={
        "first_name": "Nadia", "last_name": "Hassan", "email": "Nadia.Hassan@example.com", "phone": "+442071838111",
        "country": "GB", "utm_source": "facebook", "utm_campaign": "spring"}).client
    from crm import services as crm_services
    crm_services.client_assign(actor=None, client=lead, owner=agent, desk=agent.desk, reason="test")

    response = register(brand, utm_source="google")

    assert response.status_code == 302
    assert Client.objects.filter(brand=brand).count() == 1
    lead.refresh_from_db()
    assert lead.stage == Stage.REGISTERED and lead.owner == agent
    assert (lead.utm_source, lead.utm_campaign) == ("facebook", "spring")
    assert ClientLogin.objects.get().client == lead
    assert Event.objects.get(name="portal.registered").data["matched_lead"] is True


def test_a_country_the_brand_does_not_serve_is_refused_with_its_name(brand, register):
    response = register(brand, country="US", phone="+12025550123")

    assert response.status_code == 400
    assert "We cannot open accounts for residents of United States with Atlas Test." in response.content.decode()
    assert not Client.objects.exists() and not ClientLogin.objects.exists()


def test_an_address_already_registered_gets_the_same_answer_and_its_owner_an_email(registered, register):
    response = register(registered.brand, email="NADIA.HASSAN@example.com", first_name="Someone",
                        phone="+442071838999")

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:register_done", args=[registered.brand.code])
    assert ClientLogin.objects.count() == 1
    [message] = mail.outbox
    assert message.to == ["nadia.hassan@example.com"] and "already" in message.subject


def test_a_weak_password_is_refused_naming_the_field(brand, register):
    response = register(brand, password="password")

    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="id_password-error"' in page and "too common" in page
    assert not ClientLogin.objects.exists()


def test_terms_and_privacy_must_be_accepted(brand, register):
    response = register(brand, accept_terms=None, accept_privacy=None)

    page = response.content.decode()
    assert response.status_code == 400
    assert "Accept the terms and conditions to open an account." in page
    assert "Accept the privacy policy to open an account." in page
    assert not Client.objects.exists()


def test_registration_is_rate_limited_per_ip(brand, register, settings):
    settings.PORTAL_REGISTER_RATE_LIMIT = "1/m"
    register(brand)
    response = register(brand, email="other@example.com", phone="+442071838222")
    assert response.status_code == 429
    assert ClientLogin.objects.count() == 1


def test_the_registration_page_links_the_current_documents_and_keeps_the_landing_attribution(brand, http):
    page = http.get(reverse("portal:register", args=[brand.code]) + "?utm_campaign=spring&ref=IB7").content.decode()
    assert 'name="utm_campaign" value="spring"' in page and 'name="ref" value="IB7"' in page
    assert "terms 1" in page and "privacy 1" in page


def test_the_arabic_page_is_right_to_left(brand, http):
    page = http.get(reverse("portal:register", args=[brand.code]) + "?lang=ar").content.decode()
    assert 'dir="rtl"' in page and 'lang="ar"' in page
    assert 'href="/static/css/portal.css"' in page or "portal" in page


# --- email verification ---------------------------------------------------------------------------------


def test_the_verification_link_verifies_the_address(brand, register, http):
    register(brand)
    [message] = mail.outbox
    [link] = [x for x in links_in(message) if "/portal/verify/" in x]

    response = http.get(path_of(link))

    assert response.status_code == 200
    assert ClientLogin.objects.get().email_verified


def test_an_expired_verification_link_is_refused(brand, register, http, time_machine):
    register(brand)
    login = ClientLogin.objects.get()
    token = verification_token(login)
    time_machine.move_to(time.time() + 4 * 86400)

    response = http.get(reverse("portal:verify_email", args=[token]))

    assert response.status_code == 404 and "expired" in response.content.decode()
    assert not ClientLogin.objects.get().email_verified


def test_a_tampered_verification_link_is_refused(brand, register, http):
    register(brand)
    token = verification_token(ClientLogin.objects.get())

    response = http.get(reverse("portal:verify_email", args=[token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]]))

    assert response.status_code == 404
    assert not ClientLogin.objects.get().email_verified


def test_an_unverified_client_signs_in_and_sees_the_banner_but_not_verified_only_pages(brand, register, http):
    from django.http import HttpResponse
    from django.test import RequestFactory

    from portal.auth import verified_email_required

    register(brand)
    response = sign_in(http, brand)
    assert response.status_code == 302 and response["Location"] == reverse("portal:home")
    page = http.get(reverse("portal:home")).content.decode()
    assert 'id="email-banner"' in page and "Verify your identity" in page

    @verified_email_required
    def deposits(request):
        return HttpResponse("deposits")

    request = RequestFactory().get("/portal/deposits/")
    request.COOKIES.update(http.cookies and {k: v.value for k, v in http.cookies.items()})
    request.session = http.session
    request._messages = __import__("django.contrib.messages.storage.fallback", fromlist=["x"]).FallbackStorage(request)
    answer = deposits(request)
    assert answer.status_code == 302 and answer["Location"] == reverse("portal:home")


# --- signing in -----------------------------------------------------------------------------------------


def test_a_wrong_password_is_refused_and_repeated_failures_lock_the_login(registered, http, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(2):
        response = sign_in(http, registered.brand, password="wrong-password-1")
        assert response.status_code == 400
        assert "The email address or password is not right." in response.content.decode()
    response = sign_in(http, registered.brand, password="wrong-password-1")
    assert "Too many failed attempts" in response.content.decode()
    # Locked: even the right password is refused now.
    response = sign_in(http, registered.brand)
    assert response.status_code == 400 and "Too many failed attempts" in response.content.decode()
    assert AuditLog.objects.filter(action="portal.login_failed").count() == 3


def test_an_unknown_address_gets_the_same_answer_as_a_wrong_password(registered, http):
    response = sign_in(http, registered.brand, email="nobody@example.com")
    assert response.status_code == 400
    assert "The email address or password is not right." in response.content.decode()


def test_signing_in_rotates_the_session_and_signing_out_ends_it(registered, http):
    http.get(reverse("portal:register", args=[registered.brand.code]) + "?lang=en")
    before = http.cookies.get("crm_portal")
    sign_in(http, registered.brand)
    after = http.cookies["crm_portal"].value
    assert after and (before is None or before.value != after)
    assert http.get(reverse("portal:home")).status_code == 200

    http.post(reverse("portal:logout"))

    response = http.get(reverse("portal:home"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("portal:login"))


def test_two_factor_turned_on_asks_for_the_code_and_a_recovery_code_works_once(registered, http):
    key = portal_totp_start(login=registered.login)
    codes = portal_totp_confirm(login=registered.login, code=current_code(key))
    assert len(codes) == 10
    stored = ClientLogin.objects.get()
    assert stored.totp_confirmed and key.hex() not in stored.totp_secret
    assert codes[0] not in stored.recovery_codes

    response = sign_in(http, registered.brand)
    assert response["Location"].startswith(reverse("portal:login_code"))
    assert http.get(reverse("portal:home")).status_code == 302  # not signed in yet
    bad = http.post(reverse("portal:login_code"), {"code": "000000"})
    assert bad.status_code == 400
    good = http.post(reverse("portal:login_code"), {"code": codes[0]})
    assert good.status_code == 302 and http.get(reverse("portal:home")).status_code == 200

    http.post(reverse("portal:logout"))
    sign_in(http, registered.brand)
    again = http.post(reverse("portal:login_code"), {"code": codes[0]})
    assert again.status_code == 400  # used up


def test_two_factor_set_up_through_the_pages_shows_a_qr_code_and_codes_once(registered, http):
    sign_in(http, registered.brand)
    http.post(reverse("portal:two_factor"), {"action": "start"})
    page = http.get(reverse("portal:two_factor")).content.decode()
    assert "<svg" in page
    key = totp.secret_decrypt(ClientLogin.objects.get().totp_secret)

    done = http.post(reverse("portal:two_factor"), {"action": "confirm", "code": current_code(key)})

    assert done.status_code == 200 and done.content.decode().count("<li>") >= 10
    assert AuditLog.objects.filter(action="portal.two_factor_on").exists()


# --- password reset ---------------------------------------------------------------------------------------


def test_a_password_reset_link_sets_a_new_password_once(registered, http, eager_celery,
                                                        django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        answer = http.post(reverse("portal:password_reset", args=[registered.brand.code]),
                           {"email": "nadia.hassan@example.com"})
    assert "If an account exists for that address" in answer.content.decode()
    [message] = mail.outbox
    [link] = [x for x in links_in(message) if "/portal/password/reset/" in x]

    done = http.post(path_of(link), {"password": "brisk-meadow-4410", "password2": "brisk-meadow-4410"})

    assert done.status_code == 200 and "Your new password is set" in done.content.decode()
    assert sign_in(http, registered.brand, password="brisk-meadow-4410").status_code == 302
    assert http.get(path_of(link)).status_code == 404  # used


def test_a_reset_for_an_unknown_address_answers_the_same_and_sends_nothing(registered, http, eager_celery,
                                                                          django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        answer = http.post(reverse("portal:password_reset", args=[registered.brand.code]),
                           {"email": "nobody@example.com"})
    assert "If an account exists for that address" in answer.content.decode()
    assert mail.outbox == []


# --- sessions do not mix; clients see their own ----------------------------------------------------------


def test_a_portal_session_opens_no_staff_page(registered, http):
    sign_in(http, registered.brand)
    response = http.get(reverse("home"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_a_staff_session_opens_no_portal_page(brand, client, login_verified):
    admin = make_user(role_code="admin")
    login_verified(client, admin)
    response = client.get(reverse("portal:home"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("portal:login"))


def test_a_client_sees_only_their_own_accounts_and_details(registered, brand, register, http):
    # owner: the registered client; other: another client of the same brand; outsider: another brand.
    from django.test import Client as HttpClient

    from tests.factories import make_brand

    register(brand, email="omar.saleh@example.com", phone="+442071838333", first_name="Omar")
    other = ClientLogin.objects.get(email_hash=keyed_hash("omar.saleh@example.com", kind="email"))
    outsider_brand = make_brand(code="nova-t", name="Nova Test")
    publish(outsider_brand, ConsentKind.TERMS)

    sign_in(http, brand)
    mine = http.get(reverse("portal:profile")).content.decode()
    assert "Nadia Hassan" in mine and "Omar" not in mine

    other_http = HttpClient(REMOTE_ADDR="10.9.9.9")
    sign_in(other_http, brand, email=other.email)
    theirs = other_http.get(reverse("portal:profile")).content.decode()
    assert "Omar" in theirs and "Nadia" not in theirs

    outsider_http = HttpClient(REMOTE_ADDR="10.9.9.8")
    response = sign_in(outsider_http, outsider_brand)  # Nadia's address and password, at another brand
    assert response.status_code == 400
    assert outsider_http.get(reverse("portal:profile")).status_code == 302


# --- consents --------------------------------------------------------------------------------------------


def test_a_newer_terms_version_is_asked_for_again_and_marketing_can_be_withdrawn(registered, http):
    sign_in(http, registered.brand)
    assert 'id="consents-due"' not in http.get(reverse("portal:home")).content.decode()
    publish(registered.brand, ConsentKind.TERMS, version="2", title="Terms v2")

    page = http.get(reverse("portal:home")).content.decode()
    assert 'id="consents-due"' in page and "Terms v2" in page
    http.post(reverse("portal:consents_accept"), {"accept_terms": "on"})
    assert 'id="consents-due"' not in http.get(reverse("portal:home")).content.decode()
    assert ConsentRecord.objects.filter(kind="terms", version="2", accepted=True).exists()

    http.post(reverse("portal:profile"), {"action": "marketing", "accepted": "1"})
    http.post(reverse("portal:profile"), {"action": "marketing", "accepted": "0"})
    latest = ConsentRecord.objects.filter(kind="marketing").order_by("-at", "-id").first()
    assert latest is not None and latest.accepted is False


def test_the_kyc_panel_links_the_verification_page(registered, http):
    sign_in(http, registered.brand)
    page = http.get(reverse("portal:home")).content.decode()
    assert f'href="{reverse("portal:kyc")}"' in page
    assert http.get(reverse("portal:kyc")).status_code == 200


def test_the_registration_has_a_timeline_label(registered):
    from crm.registry import TIMELINE

    kind = TIMELINE.get("portal.registered")
    assert kind is not None and str(kind.label) == "Registered in the trader's room"
    event = Event.objects.get(name="portal.registered", client=registered.client)
    assert kind.summary(event) == "EN"
