"""Staff "forgot password", driven through the real pages: the same answer for every address, a
link by email that works once and for a limited time, the second factor still asked for, other
sessions ended, every step audited, requests rate-limited per address and per IP."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.test import Client as HttpClient
from django.urls import reverse

from crm.celery import app as celery_app
from crm.models import AuditLog, Event, RoleCode
from crm.staff_services import user_set_active
from tests.commits import queued
from tests.crm.test_auth import PASSWORD, enroll, logged_in_user_id, post_login
from tests.factories import make_user

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Amber-orchard-compass-77"
START = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)
LINK_RE = re.compile(r"https?://\S+/password/reset/\S+/")


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(START, tick=False)
    return time_machine


@pytest.fixture
def eager_celery():
    """The mail task runs in-process when the request's transaction commits."""
    saved = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = True, True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = saved


@pytest.fixture
def ask(client, eager_celery, django_capture_on_commit_callbacks):
    """`ask(email)`: ask for a link on the forgot-password page, as a browser would, with what the
    request queued on commit run (the mail task, eagerly)."""

    def ask(email: str, http: HttpClient | None = None, **extra):
        with django_capture_on_commit_callbacks(execute=True):
            return (http or client).post(reverse("password_reset_request"), {"email": email}, **extra)

    return ask


def link_in(message) -> str:
    [link] = LINK_RE.findall(message.body)
    return link


def path_of(link: str) -> str:
    return "/" + link.split("/", 3)[3]


def set_new_password(http: HttpClient, link: str, password: str = NEW_PASSWORD):
    """Open the link, then send the form it leads to; the form's answer."""
    opened = http.get(path_of(link))
    assert opened.status_code == 302, opened.status_code
    return http.post(opened["Location"], {"new_password1": password, "new_password2": password})


# --- asking for a link --------------------------------------------------------------------------


def test_the_login_page_offers_a_forgot_password_link(client):
    page = client.get(reverse("login")).content.decode()
    assert f'href="{reverse("password_reset_request")}"' in page
    assert "Forgot password?" in page


def test_every_address_gets_the_same_answer_and_only_the_active_account_gets_a_mail(ask, client, clock):
    agent = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD, email="amal@staff.example.com")
    gone = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD, email="gone@staff.example.com")
    admin = make_user(role_code=RoleCode.ADMIN)
    user_set_active(actor=admin, user=gone, active=False)

    answers = [ask(email) for email in ("nobody@staff.example.com", "gone@staff.example.com", " AMAL@staff.example.com")]

    assert {(a.status_code, a["Location"]) for a in answers} == {(302, reverse("password_reset_sent"))}
    sent_page = client.get(reverse("password_reset_sent"))
    assert "If an account exists for that address, we have sent a link to it." in sent_page.content.decode()
    assert "30 minutes" in sent_page.content.decode()
    [message] = mail.outbox
    assert message.to == [agent.email]
    # Known or not is written only in the audit log.
    rows = AuditLog.objects.filter(action="auth.password_reset_requested").order_by("id")
    assert [(r.after["email"], r.after["known"], r.after["active"], r.after["throttled"]) for r in rows] == [
        ("nobody@staff.example.com", False, False, False),
        ("gone@staff.example.com", True, False, False),
        ("amal@staff.example.com", True, True, False),
    ]
    assert rows[2].object_id == str(agent.code) and rows[0].object_id == ""


def test_the_request_does_the_same_work_for_a_known_and_an_unknown_address(client, django_capture_on_commit_callbacks):
    make_user(role_code=RoleCode.SALES_AGENT, email="amal@staff.example.com")
    counts = []
    for email in ("amal@staff.example.com", "nobody@staff.example.com"):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            client.post(reverse("password_reset_request"), {"email": email})
        counts.append(len(queued(callbacks)))
    # The mail is queued after commit for both (the task finds out whom to write to), and not sent here.
    assert counts == [1, 1]
    assert mail.outbox == []


def test_the_mail_is_plain_text_with_a_link_on_the_configured_site_and_its_lifetime(ask, settings, clock):
    settings.CRM_PUBLIC_URL = "https://crm.broker.example/"
    settings.PASSWORD_RESET_MINUTES = 20
    agent = make_user(role_code=RoleCode.SALES_AGENT, email="amal@staff.example.com", full_name="Amal Nasser")

    ask(agent.email)

    [message] = mail.outbox
    assert message.subject == "Set a new password for Brokerage CRM"
    assert not getattr(message, "alternatives", None)  # plain text only
    assert "Hello Amal Nasser," in message.body
    assert "The link works once, for 20 minutes." in message.body
    assert link_in(message).startswith(f"https://crm.broker.example/password/reset/{agent.code}/")
    assert "testserver" not in message.body  # not the Host header of whoever asked


def test_the_mail_is_in_the_users_language(ask, clock):
    agent = make_user(role_code=RoleCode.SALES_AGENT, email="amal@staff.example.com", language="ar")

    ask(agent.email)

    [message] = mail.outbox
    assert "كلمة مرور" in message.subject
    assert "/password/reset/" in message.body


# --- the link -----------------------------------------------------------------------------------


def test_the_link_sets_a_new_password_once_and_does_not_log_in(ask, client, clock):
    agent = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD)
    ask(agent.email)
    link = link_in(mail.outbox[0])

    opened = client.get(path_of(link))
    # The token leaves the address bar: the form lives at an address without it.
    assert opened.status_code == 302
    assert opened["Location"] == reverse("password_reset_confirm", kwargs={"code": agent.code,
                                                                           "token": "set-password"})
    form = client.get(opened["Location"])
    assert form.status_code == 200 and agent.email in form.content.decode()
    done = client.post(opened["Location"], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    assert done.status_code == 302 and done["Location"] == reverse("login")
    assert logged_in_user_id(client) is None
    assert "Your password has been set. Log in with it." in client.get(reverse("login")).content.decode()
    agent.refresh_from_db()
    assert agent.check_password(NEW_PASSWORD) and not agent.check_password(PASSWORD)

    again = client.get(path_of(link))
    assert again.status_code == 404
    page = again.content.decode()
    assert "This password reset link is no longer valid." in page
    assert f'href="{reverse("password_reset_request")}"' in page
    assert HttpClient().get(path_of(link)).status_code == 404
    assert client.post(opened["Location"], {"new_password1": "Someone-elses-choice-88",
                                            "new_password2": "Someone-elses-choice-88"}).status_code == 404
    agent.refresh_from_db()
    assert agent.check_password(NEW_PASSWORD)
    assert AuditLog.objects.filter(action="auth.password_reset_done").count() == 1
    assert AuditLog.objects.filter(action="auth.password_reset_refused", after__reason="invalid").count() == 3


def test_a_second_submission_of_the_same_form_is_refused(ask, client, clock):
    agent = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD)
    ask(agent.email)
    other_tab = HttpClient()
    form_url = client.get(path_of(link_in(mail.outbox[0])))["Location"]
    other_tab.get(path_of(link_in(mail.outbox[0])))

    assert client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}).status_code == 302
    late = other_tab.post(form_url, {"new_password1": "Second-thought-lantern-55",
                                     "new_password2": "Second-thought-lantern-55"})

    assert late.status_code == 404
    agent.refresh_from_db()
    assert agent.check_password(NEW_PASSWORD)
    assert AuditLog.objects.filter(action="auth.password_reset_done").count() == 1


def test_the_new_password_must_follow_the_rules_named_by_field(ask, client, clock):
    agent = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD, email="amal@staff.example.com")
    ask(agent.email)
    form_url = client.get(path_of(link_in(mail.outbox[0])))["Location"]

    weak = client.post(form_url, {"new_password1": "12345678", "new_password2": "12345678"})
    differ = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD + "x"})

    assert weak.status_code == 200
    first_field = weak.content.decode().split('for="id_new_password1"')[1].split('for="id_new_password2"')[0]
    assert "This password is too short." in first_field and "This password is entirely numeric." in first_field
    second_field = differ.content.decode().split('for="id_new_password2"')[1]
    assert "The two new passwords differ." in second_field
    agent.refresh_from_db()
    assert agent.check_password(PASSWORD)
    assert not AuditLog.objects.filter(action="auth.password_reset_done").exists()
    # The link still works after a refused password.
    assert client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}).status_code == 302


def test_an_expired_link_is_refused_and_offers_a_new_one(ask, client, clock):
    agent = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD)
    ask(agent.email)
    link = link_in(mail.outbox[0])

    clock.shift(timedelta(minutes=29))
    form_url = client.get(path_of(link))["Location"]
    assert client.get(form_url).status_code == 200
    clock.shift(timedelta(minutes=2))
    late = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    assert late.status_code == 404
    assert "no longer valid" in late.content.decode()
    assert HttpClient().get(path_of(link)).status_code == 404
    agent.refresh_from_db()
    assert agent.check_password(PASSWORD)
    reasons = list(AuditLog.objects.filter(action="auth.password_reset_refused").values_list("after__reason", flat=True))
    assert reasons == ["expired", "expired"]


def test_a_link_stops_working_once_the_user_logs_in(ask, client, clock):
    agent = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD)
    ask(agent.email)
    clock.shift(timedelta(minutes=1))

    assert post_login(HttpClient(), agent.email).status_code == 302

    assert client.get(path_of(link_in(mail.outbox[0]))).status_code == 404


def test_a_link_of_a_user_deactivated_since_is_refused(ask, client, clock):
    agent = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD)
    ask(agent.email)
    user_set_active(actor=make_user(role_code=RoleCode.ADMIN), user=agent, active=False)

    assert client.get(path_of(link_in(mail.outbox[0]))).status_code == 404
    assert AuditLog.objects.get(action="auth.password_reset_refused").after == {"reason": "unknown_user"}


@pytest.mark.parametrize(("path", "reason"), [
    ("/password/reset/not-a-code/abc-123/", "malformed"),
    (f"/password/reset/{uuid.UUID(int=0x5EED)}/abc-123/", "unknown_user"),
    ("/password/reset/{code}/zz-0123456789abcdef0123/", "invalid"),
    ("/password/reset/{code}/%E2%80%AE%00/", "invalid"),
    ("/password/reset/{code}/set-password/", "invalid"),  # the form, without having opened a link
    ("/password/reset/{code}/!!!/", "invalid"),
])
def test_a_garbled_link_shows_the_invalid_link_page_not_an_error(client, path, reason):
    agent = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD)
    http = HttpClient(raise_request_exception=False)

    for method in (http.get, http.post):
        response = method(path.format(code=agent.code), {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
        assert response.status_code == 404, (method, response.status_code)
        assert "This password reset link is no longer valid." in response.content.decode()

    agent.refresh_from_db()
    assert agent.check_password(PASSWORD)
    rows = AuditLog.objects.filter(action="auth.password_reset_refused")
    assert [r.after["reason"] for r in rows] == [reason, reason]


# --- after the reset ----------------------------------------------------------------------------


def test_two_factor_is_still_asked_for_after_a_reset(ask, client, clock):
    agent = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD)
    enroll(agent)
    ask(agent.email)
    set_new_password(client, link_in(mail.outbox[0]))

    login = post_login(client, agent.email, NEW_PASSWORD)

    assert login.status_code == 302 and login["Location"] == reverse("otp_verify")
    assert client.get(reverse("client_list"))["Location"].startswith(reverse("otp_verify"))


def test_the_users_other_sessions_end_and_this_browser_is_logged_out(ask, client, clock):
    agent = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD)
    elsewhere = HttpClient()
    assert post_login(elsewhere, agent.email).status_code == 302
    assert post_login(client, agent.email).status_code == 302
    assert elsewhere.get(reverse("client_list")).status_code == 200

    ask(agent.email)
    clock.shift(timedelta(seconds=5))
    assert set_new_password(client, link_in(mail.outbox[0])).status_code == 302

    assert logged_in_user_id(client) is None
    assert elsewhere.get(reverse("client_list"))["Location"].startswith(reverse("login"))


def test_a_reset_lifts_the_lockout_of_failed_logins(ask, client, clock):
    agent = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD)
    for _ in range(5):
        post_login(client, agent.email, "Not-the-right-one-99")
    assert post_login(client, agent.email).status_code == 429

    ask(agent.email)
    set_new_password(client, link_in(mail.outbox[0]))

    assert post_login(client, agent.email, NEW_PASSWORD).status_code == 302
    assert logged_in_user_id(client) == str(agent.pk)
    done = AuditLog.objects.get(action="auth.password_reset_done")
    assert done.after == {"failed_logins_cleared": 1}


def test_the_reset_is_audited_and_told_as_a_password_change(ask, client, clock):
    agent = make_user(role_code=RoleCode.SALES_AGENT, password=PASSWORD)
    ask(agent.email, REMOTE_ADDR="198.51.100.7")
    set_new_password(client, link_in(mail.outbox[0]))

    requested = AuditLog.objects.get(action="auth.password_reset_requested")
    done = AuditLog.objects.get(action="auth.password_reset_done")
    assert str(requested.ip) == "198.51.100.7" and requested.actor_id is None
    assert (done.actor_id, done.object_id) == (agent.pk, str(agent.code))
    assert NEW_PASSWORD not in str(done.after) and PASSWORD not in str(requested.after)
    event = Event.objects.get(name="staff.password_changed")
    assert event.data == {"user": str(agent.code)}


# --- rate limits --------------------------------------------------------------------------------


def test_requests_for_one_address_are_limited_with_the_same_answer(ask, settings, clock):
    settings.PASSWORD_RESET_RATE_LIMIT = "2/h"
    agent = make_user(role_code=RoleCode.SALES_AGENT, email="amal@staff.example.com")

    answers = [ask(agent.email, REMOTE_ADDR=f"203.0.113.{n}") for n in range(4)]
    unknown = [ask("nobody@staff.example.com") for _n in range(3)]

    assert {(a.status_code, a["Location"]) for a in answers + unknown} == {(302, reverse("password_reset_sent"))}
    assert len(mail.outbox) == 2
    throttled = list(AuditLog.objects.filter(action="auth.password_reset_requested").order_by("id")
                     .values_list("after__throttled", flat=True))
    assert throttled == [False, False, True, True, False, False, True]
    clock.shift(timedelta(hours=1))
    ask(agent.email)
    assert len(mail.outbox) == 3


def test_requests_from_one_ip_are_limited_whatever_the_address(ask, settings, clock):
    settings.PASSWORD_RESET_IP_RATE_LIMIT = "3/h"
    users = [make_user(role_code=RoleCode.SALES_AGENT) for _n in range(5)]

    for user in users:
        assert ask(user.email, REMOTE_ADDR="192.0.2.50")["Location"] == reverse("password_reset_sent")
    ask(users[4].email, REMOTE_ADDR="192.0.2.51")

    assert [m.to[0] for m in mail.outbox] == [u.email for u in users[:3]] + [users[4].email]
