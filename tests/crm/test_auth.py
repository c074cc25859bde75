"""Login, lockout, two-factor, password change and idle timeout, driven through the real pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from crm.models import AuditLog, Role, RoleCode, User
from crm.staff_services import otp_device_start, otp_setup_confirm, role_set_requires_2fa
from tests.factories import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "Quiet-harbour-lantern-42"
START = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock(time_machine):
    """Frozen time that tests move on explicitly (TOTP codes, lockouts and idle timeouts all read it)."""
    time_machine.move_to(START, tick=False)
    return time_machine


def code_for(device: TOTPDevice) -> str:
    device.refresh_from_db()
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):0{device.digits}d}"


def enroll(user: User) -> tuple[TOTPDevice, list[str]]:
    device = otp_device_start(user=user)
    codes = otp_setup_confirm(user=user, device=device, token=code_for(device))
    device.refresh_from_db()
    return device, codes


def post_login(client, email: str, password: str = PASSWORD, next: str | None = None):
    data = {"username": email, "password": password}
    if next is not None:
        data["next"] = next
    return client.post(reverse("login"), data)


def logged_in_user_id(client) -> str | None:
    return client.session.get("_auth_user_id")


# --- password login -----------------------------------------------------------------------------


def test_agent_logs_in_with_email_and_password_and_the_login_is_audited(client, clock):
    agent = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD)

    response = post_login(client, agent.email)

    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert logged_in_user_id(client) == str(agent.pk)
    row = AuditLog.objects.filter(action="auth.login").get()
    assert row.actor_id == agent.pk
    assert row.object_id == str(agent.code)


def test_login_email_is_case_insensitive(client, clock):
    agent = make_user(role_code=RoleCode.SALES_AGENT, email="mixed.case@staff.example.com", password=PASSWORD)

    response = post_login(client, "  Mixed.Case@STAFF.example.com ")

    assert response.status_code == 302
    assert logged_in_user_id(client) == str(agent.pk)


def test_wrong_password_is_refused_and_audited_without_user_or_password(client, clock):
    agent = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD)

    response = post_login(client, agent.email, "Not-the-right-one-99")

    assert response.status_code == 200
    assert "That email and password do not match an active account." in response.content.decode()
    assert logged_in_user_id(client) is None
    row = AuditLog.objects.filter(action="auth.login_failed").get()
    assert row.actor_id is None
    assert row.after == {"email": agent.email, "locked_out": False}
    assert "Not-the-right-one-99" not in str(AuditLog.objects.values_list())
    assert not AuditLog.objects.filter(action="auth.login").exists()


def test_inactive_user_gets_the_same_answer_as_a_wrong_password(client, clock):
    active = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD)
    inactive = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD)
    User.objects.filter(pk=inactive.pk).update(is_active=False)

    wrong = post_login(client, active.email, "Not-the-right-one-99")
    refused = post_login(client, inactive.email, PASSWORD)

    assert refused.status_code == wrong.status_code == 200
    assert logged_in_user_id(client) is None
    message = "That email and password do not match an active account."
    assert message in refused.content.decode()
    assert message in wrong.content.decode()


def test_unknown_email_gets_the_same_answer_as_a_wrong_password(client, clock):
    response = post_login(client, "nobody@staff.example.com")

    assert "That email and password do not match an active account." in response.content.decode()
    assert AuditLog.objects.filter(action="auth.login_failed", after__email="nobody@staff.example.com").exists()


def test_login_follows_a_local_next_url(client, clock):
    agent = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD)

    response = post_login(client, agent.email, next="/tasks/?status=done")

    assert response["Location"] == "/tasks/?status=done"


@pytest.mark.parametrize("target", [
    "https://evil.example.com/", "//evil.example.com/path", "http://testserver.evil.example.com/",
    "javascript:alert(1)", "https:///evil.example.com",
])
def test_login_ignores_a_next_url_pointing_elsewhere(client, clock, target):
    agent = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD)

    response = post_login(client, agent.email, next=target)

    assert response.status_code == 302
    assert response["Location"] == reverse("home")


def test_login_page_keeps_a_safe_next_url_and_drops_an_unsafe_one(client):
    safe = client.get(reverse("login"), {"next": "/clients/"}).content.decode()
    unsafe = client.get(reverse("login"), {"next": "https://evil.example.com/"}).content.decode()

    assert 'name="next" value="/clients/"' in safe
    assert "evil.example.com" not in unsafe


def test_logout_needs_a_post(client, clock):
    agent = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD)
    client.force_login(agent)

    assert client.get(reverse("logout")).status_code == 405
    assert logged_in_user_id(client) == str(agent.pk)

    response = client.post(reverse("logout"))

    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert logged_in_user_id(client) is None
    assert AuditLog.objects.filter(action="auth.logout", actor=agent).exists()


def test_anonymous_visitor_is_sent_to_login_with_next(client):
    response = client.get(reverse("client_list"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert "next=/clients/" in response["Location"]


# --- lockout ------------------------------------------------------------------------------------


def test_five_failures_lock_the_email_out_for_fifteen_minutes(client, clock):
    agent = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD)

    for _ in range(4):
        assert post_login(client, agent.email, "Not-the-right-one-99").status_code == 200
    fifth = post_login(client, agent.email, "Not-the-right-one-99")

    assert fifth.status_code == 429
    assert "Too many failed logins" in fifth.content.decode()

    clock.shift(timedelta(minutes=5))
    with_right_password = post_login(client, agent.email)

    assert with_right_password.status_code == 429
    assert logged_in_user_id(client) is None
    page = with_right_password.content.decode()
    # The lockout runs 15 minutes from the fifth failure (09:00 UTC) and refused attempts do not extend it.
    assert "09:15 UTC" in page
    assert AuditLog.objects.filter(action="auth.login_failed", after__locked_out=True).exists()

    clock.shift(timedelta(minutes=10, seconds=1))
    after_lockout = post_login(client, agent.email)

    assert after_lockout.status_code == 302
    assert logged_in_user_id(client) == str(agent.pk)


def test_lockout_is_per_email_and_address(client, clock):
    agent = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD)
    colleague = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD)
    for _ in range(5):
        post_login(client, agent.email, "Not-the-right-one-99")

    assert post_login(client, colleague.email).status_code == 302

    client.post(reverse("logout"))
    from_elsewhere = client.post(reverse("login"), {"username": agent.email, "password": PASSWORD},
                                 REMOTE_ADDR="203.0.113.9")
    assert from_elsewhere.status_code == 302


def test_differently_cased_attempts_count_towards_one_lockout(client, clock):
    agent = make_user(role_code=RoleCode.SALES_AGENT, email="casey@staff.example.com", password=PASSWORD)
    for email in ["casey@staff.example.com", "CASEY@staff.example.com", "Casey@Staff.Example.com",
                  "casey@STAFF.example.com"]:
        post_login(client, email, "Not-the-right-one-99")

    assert post_login(client, "CaSeY@staff.example.com", "Not-the-right-one-99").status_code == 429
    assert post_login(client, agent.email).status_code == 429


# --- two-factor ---------------------------------------------------------------------------------


def test_privileged_user_without_device_is_sent_to_setup_and_nowhere_else(client, clock):
    officer = make_user(role_code=RoleCode.COMPLIANCE, password=PASSWORD)
    assert officer.requires_2fa

    response = post_login(client, officer.email)

    assert response["Location"] == reverse("otp_setup")
    for url in [reverse("client_list"), reverse("home"), reverse("password_change"), reverse("otp_verify")]:
        blocked = client.get(url)
        assert blocked.status_code == 302
        assert blocked["Location"].startswith(reverse("otp_setup")), url
    assert client.get(reverse("otp_setup")).status_code == 200
    assert client.post(reverse("logout")).status_code == 302


def test_privileged_user_sets_up_totp_through_the_pages_and_sees_backup_codes_once(client, clock):
    officer = make_user(role_code=RoleCode.COMPLIANCE, password=PASSWORD)
    post_login(client, officer.email, next="/clients/")

    page = client.get(reverse("otp_setup"), {"next": "/clients/"})
    assert page.status_code == 200
    body = page.content.decode()
    assert "<svg" in body
    device = TOTPDevice.objects.get(user=officer, confirmed=False)
    assert page.context["secret"].replace(" ", "") in body.replace(" ", "")

    wrong = client.post(reverse("otp_setup"), {"token": "000000" if code_for(device) != "000000" else "111111"})
    assert wrong.status_code == 200
    assert "That code is not right" in wrong.content.decode()
    assert client.get(reverse("client_list")).status_code == 302

    clock.shift(timedelta(seconds=3))  # past the back-off of one wrong code
    done = client.post(reverse("otp_setup"), {"token": code_for(device), "next": "/clients/"})

    assert done.status_code == 302
    assert done["Location"].startswith(reverse("otp_backup_codes"))
    codes_page = client.get(done["Location"])
    codes = codes_page.context["codes"]
    assert len(codes) == 10
    assert all(code in codes_page.content.decode() for code in codes)
    assert codes_page.context["continue_url"] == "/clients/"
    assert client.get(reverse("otp_backup_codes"))["Location"] == reverse("otp_setup")  # shown once
    assert client.get(reverse("client_list")).status_code == 200
    assert AuditLog.objects.filter(action="auth.2fa_enabled", actor=officer).exists()


def test_privileged_user_cannot_reach_client_list_before_a_valid_totp_code(client, clock):
    officer = make_user(role_code=RoleCode.COMPLIANCE, password=PASSWORD)
    device, _codes = enroll(officer)
    clock.shift(timedelta(seconds=60))  # a new time step: the code used for setup cannot be replayed

    response = post_login(client, officer.email, next="/clients/")

    assert response["Location"] == f"{reverse('otp_verify')}?next=%2Fclients%2F"
    blocked = client.get(reverse("client_list"))
    assert blocked.status_code == 302
    assert blocked["Location"].startswith(reverse("otp_verify"))
    # htmx requests are redirected the htmx way; the API answers 401 in the error shape.
    htmx = client.get(reverse("client_list"), HTTP_HX_REQUEST="true")
    assert htmx.status_code == 204 and htmx["HX-Redirect"] == reverse("otp_verify")
    api = client.get("/api/v1/clients")
    assert api.status_code == 401 and api.json()["code"] == "two_factor_required"
    # Setup cannot be used to swap the device before the second factor is proven.
    assert client.get(reverse("otp_setup"))["Location"].startswith(reverse("otp_verify"))

    verified = client.post(reverse("otp_verify"), {"token": code_for(device), "next": "/clients/"})

    assert verified.status_code == 302
    assert verified["Location"] == "/clients/"
    assert client.get(reverse("client_list")).status_code == 200
    assert AuditLog.objects.filter(action="auth.2fa_verified", actor=officer, after__method="totp").exists()


def test_wrong_codes_count_towards_throttling(client, clock):
    officer = make_user(role_code=RoleCode.COMPLIANCE, password=PASSWORD)
    device, _codes = enroll(officer)
    clock.shift(timedelta(seconds=60))
    post_login(client, officer.email)
    good = code_for(device)
    bad = f"{(int(good) + 1) % 1_000_000:06d}"

    first = client.post(reverse("otp_verify"), {"token": bad})
    device.refresh_from_db()
    assert first.status_code == 200
    assert device.throttling_failure_count == 1
    assert AuditLog.objects.filter(action="auth.2fa_failed", actor=officer).count() == 1

    # Even the right code is refused while the device backs off, and the page says until when.
    throttled = client.post(reverse("otp_verify"), {"token": good})
    assert throttled.status_code == 200
    assert "Too many wrong codes" in throttled.content.decode()
    assert client.get(reverse("client_list")).status_code == 302

    client.post(reverse("otp_verify"), {"token": bad})  # refused unchecked: still backing off
    clock.shift(timedelta(seconds=2))
    client.post(reverse("otp_verify"), {"token": bad})
    device.refresh_from_db()
    assert device.throttling_failure_count == 2

    clock.shift(timedelta(seconds=5))
    accepted = client.post(reverse("otp_verify"), {"token": code_for(device)})
    assert accepted.status_code == 302
    device.refresh_from_db()
    assert device.throttling_failure_count == 0


def test_backup_code_works_once(client, clock):
    officer = make_user(role_code=RoleCode.FINANCE, password=PASSWORD)
    _device, codes = enroll(officer)
    post_login(client, officer.email)

    used = client.post(reverse("otp_verify"), {"token": codes[0].upper()})

    assert used.status_code == 302
    assert client.get(reverse("client_list")).status_code == 200
    assert StaticToken.objects.filter(device__user=officer).count() == 9
    assert AuditLog.objects.filter(action="auth.2fa_verified", actor=officer, after__method="backup").exists()

    client.post(reverse("logout"))
    clock.shift(timedelta(seconds=10))
    post_login(client, officer.email)
    again = client.post(reverse("otp_verify"), {"token": codes[0]})

    assert again.status_code == 200
    assert "That code is not right." in again.content.decode()
    assert client.get(reverse("client_list")).status_code == 302


def test_voluntary_two_factor_is_asked_for_at_login(client, clock):
    agent = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD)
    assert not agent.requires_2fa
    device, _codes = enroll(agent)
    clock.shift(timedelta(seconds=60))

    response = post_login(client, agent.email)

    assert response["Location"] == reverse("otp_verify")
    assert client.get(reverse("client_list")).status_code == 302
    client.post(reverse("otp_verify"), {"token": code_for(device)})
    assert client.get(reverse("client_list")).status_code == 200


def test_agent_without_two_factor_goes_straight_in_and_may_turn_it_on(client, clock):
    agent = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD)
    post_login(client, agent.email)
    assert client.get(reverse("client_list")).status_code == 200

    client.get(reverse("otp_setup"))
    device = TOTPDevice.objects.get(user=agent)
    response = client.post(reverse("otp_setup"), {"token": code_for(device)})

    assert response.status_code == 302
    assert client.get(reverse("client_list")).status_code == 200  # this session has just proven it


def test_agent_turns_two_factor_off_with_a_current_code(client, clock):
    agent = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD)
    device, _codes = enroll(agent)
    clock.shift(timedelta(seconds=60))
    post_login(client, agent.email)
    client.post(reverse("otp_verify"), {"token": code_for(device)})
    clock.shift(timedelta(seconds=60))

    refused = client.post(reverse("otp_disable"), {"token": "12345678"})
    assert refused.status_code == 400
    assert TOTPDevice.objects.filter(user=agent).exists()

    clock.shift(timedelta(seconds=60))
    done = client.post(reverse("otp_disable"), {"token": code_for(device)})

    assert done.status_code == 302
    assert not TOTPDevice.objects.filter(user=agent).exists()
    assert AuditLog.objects.filter(action="auth.2fa_disabled", actor=agent).exists()
    client.post(reverse("logout"))
    assert post_login(client, agent.email)["Location"] == reverse("home")


def test_privileged_user_cannot_turn_two_factor_off(client, clock):
    officer = make_user(role_code=RoleCode.COMPLIANCE, password=PASSWORD)
    device, _codes = enroll(officer)
    clock.shift(timedelta(seconds=60))
    post_login(client, officer.email)
    client.post(reverse("otp_verify"), {"token": code_for(device)})
    clock.shift(timedelta(seconds=60))

    status_page = client.get(reverse("otp_setup"))
    assert status_page.context["can_disable"] is False
    response = client.post(reverse("otp_disable"), {"token": code_for(device)})

    assert response.status_code == 302
    assert TOTPDevice.objects.filter(user=officer, confirmed=True).exists()


def test_role_made_privileged_later_forces_its_users_to_set_up_two_factor(client, clock):
    admin = make_user(role_code=RoleCode.ADMIN)
    agent = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD)
    post_login(client, agent.email)
    assert client.get(reverse("client_list")).status_code == 200

    role_set_requires_2fa(actor=admin, role=Role.objects.get(code=RoleCode.SALES_AGENT), required=True)

    response = client.get(reverse("client_list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("otp_setup"))


def test_relogin_in_the_same_browser_does_not_inherit_an_earlier_second_factor(client, clock):
    officer = make_user(role_code=RoleCode.COMPLIANCE, password=PASSWORD)
    device, _codes = enroll(officer)
    clock.shift(timedelta(seconds=60))
    post_login(client, officer.email)
    client.post(reverse("otp_verify"), {"token": code_for(device)})
    assert DEVICE_ID_SESSION_KEY in client.session

    post_login(client, officer.email)

    assert client.get(reverse("client_list")).status_code == 302


# --- password change ----------------------------------------------------------------------------


def test_password_change_keeps_the_session_and_is_audited(client, clock):
    agent = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD)
    post_login(client, agent.email)
    other_browser = type(client)()
    post_login(other_browser, agent.email)

    response = client.post(reverse("password_change"), {
        "old_password": PASSWORD, "new_password1": "Copper-meadow-violin-77", "new_password2": "Copper-meadow-violin-77",
    })

    assert response.status_code == 302
    assert client.get(reverse("client_list")).status_code == 200
    assert other_browser.get(reverse("client_list")).status_code == 302  # other sessions end
    agent.refresh_from_db()
    assert agent.check_password("Copper-meadow-violin-77")
    row = AuditLog.objects.filter(action="auth.password_changed").get()
    assert row.actor_id == agent.pk
    assert "Copper" not in str(row.after) and "Copper" not in str(row.before)


def test_password_change_names_the_rule_a_weak_password_breaks(client, clock):
    agent = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD)
    post_login(client, agent.email)

    response = client.post(reverse("password_change"), {
        "old_password": PASSWORD, "new_password1": "short1", "new_password2": "short1",
    })

    assert response.status_code == 200
    assert "This password is too short. It must contain at least 12 characters." in response.content.decode()
    agent.refresh_from_db()
    assert agent.check_password(PASSWORD)


def test_password_change_refuses_a_wrong_current_password(client, clock):
    agent = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD)
    post_login(client, agent.email)

    response = client.post(reverse("password_change"), {
        "old_password": "Not-the-right-one-99", "new_password1": "Copper-meadow-violin-77",
        "new_password2": "Copper-meadow-violin-77",
    })

    assert response.status_code == 200
    assert "Your old password was entered incorrectly." in response.content.decode()
    assert not AuditLog.objects.filter(action="auth.password_changed").exists()


# --- idle timeout -------------------------------------------------------------------------------


def test_request_after_31_idle_minutes_goes_to_login_with_idle_notice(client, clock):
    agent = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD)
    post_login(client, agent.email)
    assert client.get(reverse("client_list")).status_code == 200

    clock.shift(timedelta(minutes=31))
    response = client.get(reverse("client_list"), {"stage": "lead"})

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=%2Fclients%2F%3Fstage%3Dlead&idle=1"
    assert logged_in_user_id(client) is None
    page = client.get(response["Location"]).content.decode()
    assert "You were logged out after 30 minutes without activity." in page


def test_activity_within_30_minutes_keeps_the_session(client, clock):
    agent = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD)
    post_login(client, agent.email)
    for _ in range(3):
        clock.shift(timedelta(minutes=25))
        assert client.get(reverse("client_list")).status_code == 200


def test_activity_is_written_to_the_session_at_most_once_a_minute(client, clock):
    from crm.lib.middleware import LAST_ACTIVITY_SESSION_KEY

    agent = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD)
    post_login(client, agent.email)
    client.get(reverse("client_list"))
    first = client.session[LAST_ACTIVITY_SESSION_KEY]
    clock.shift(timedelta(seconds=20))
    client.get(reverse("client_list"))
    assert client.session[LAST_ACTIVITY_SESSION_KEY] == first  # no session write for this click
    clock.shift(timedelta(seconds=50))
    client.get(reverse("client_list"))
    assert client.session[LAST_ACTIVITY_SESSION_KEY] > first


def test_background_polls_do_not_extend_the_session(client, clock):
    agent = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD)
    post_login(client, agent.email)
    client.get(reverse("client_list"))

    clock.shift(timedelta(minutes=20))
    poll = client.get(reverse("notification_badge"), HTTP_X_BACKGROUND="1", HTTP_HX_REQUEST="true")
    assert poll.status_code == 200

    clock.shift(timedelta(minutes=11))
    response = client.get(reverse("client_list"))

    assert response.status_code == 302
    assert "idle=1" in response["Location"]


def test_idle_htmx_request_is_redirected_the_htmx_way(client, clock):
    agent = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD)
    post_login(client, agent.email)
    client.get(reverse("client_list"))

    clock.shift(timedelta(minutes=31))
    response = client.get(reverse("notification_badge"), HTTP_X_BACKGROUND="1", HTTP_HX_REQUEST="true")

    assert response.status_code == 204
    assert response["HX-Redirect"] == f"{reverse('login')}?idle=1"


def test_voluntary_user_whose_two_factor_was_reset_is_not_forced_to_set_it_up_again(client, clock):
    from crm.staff_services import otp_reset

    admin = make_user(role_code=RoleCode.ADMIN)
    agent = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD)
    enroll(agent)
    clock.shift(timedelta(seconds=60))
    post_login(client, agent.email)
    assert client.get(reverse("client_list")).status_code == 302

    otp_reset(actor=admin, user=agent, reason="lost phone")

    assert client.get(reverse("client_list")).status_code == 200


@pytest.mark.django_db
def test_the_sign_in_page_names_the_icon_so_browsers_do_not_ask_for_a_missing_one(client):
    """A page without a rel=icon link makes the browser ask for /favicon.ico, which is not there."""
    page = client.get(reverse("login")).content.decode()
    assert 'rel="icon"' in page
    assert "favicon.svg" in page
