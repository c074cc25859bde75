"""The email composer on the client profile: an agent writes (or starts from a template of the
client's brand, in the client's language), previews and sends; the email goes out through the
Celery task after commit, shows on the timeline under the agent's name, and a failed send says
"failed" with the reason and notifies the agent. Roles without crm.email_client, and agents of
another book, write nothing."""

from __future__ import annotations

import smtplib
from types import SimpleNamespace

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.test import Client as HttpClient
from django.urls import reverse

from crm import events
from crm.celery import app as celery_app
from crm.exceptions import NotAllowed
from crm.models import AuditLog, Event, Notification, RoleCode
from emails.composer import client_email_send
from emails.models import EmailStatus, OutboundEmail
from emails.services import EMAIL_MAX_ATTEMPTS, email_template_save
from tests.factories import make_brand, make_client, make_desk, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager_celery():
    saved = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = True, False
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = saved


@pytest.fixture
def desk(db, login_verified):
    brand = make_brand(name="Alpha Markets", default_language="en")
    other_brand = make_brand(name="Beta Trade")
    manager = make_user(role_code=RoleCode.DESK_MANAGER, brand=brand)
    team = make_desk(brand=brand, manager=manager)
    agent = make_user(role_code=RoleCode.SALES_AGENT, desk=team, full_name="Omar Farouk", email="omar@alpha.example")
    outsider = make_user(role_code=RoleCode.SALES_AGENT, desk=make_desk(brand=other_brand))
    finance = make_user(role_code=RoleCode.FINANCE, brand=brand)
    client = make_client(actor=agent, first_name="Amira", last_name="Haddad", email="amira@example.com",
                         language="ar")
    for brand_, language, subject, body in (
        (brand, "en", "Your account with {{ brand.name }}", "Hello {{ client.first_name }},\n\nRegards, {{ owner.name }}"),
        (brand, "ar", "حسابك لدى {{ brand.name }}", "مرحبًا {{ client.first_name }}،\n\nمع التحية، {{ owner.name }}"),
        (other_brand, "ar", "Beta only", "Not for Alpha's clients"),
    ):
        email_template_save(actor=None, brand=brand_, key="follow_up", language=language, subject=subject, body=body)

    def http(user):
        browser = HttpClient()
        login_verified(browser, user)
        return browser

    return SimpleNamespace(brand=brand, team=team, manager=manager, agent=agent, outsider=outsider, finance=finance, client=client, http=http,
                           send_url=reverse("client_email_send", args=[client.code]),
                           preview_url=reverse("client_email_preview", args=[client.code]),
                           profile=reverse("client_detail", args=[client.code]))


def _written(client):
    """Everything sending would leave behind for `client`."""
    return {
        "emails": OutboundEmail.objects.filter(client=client).count(),
        "events": Event.objects.filter(client=client, name__startswith="email.").count(),
        "audit": AuditLog.objects.filter(action__startswith="email.").count(),
        "outbox": len(mail.outbox),
    }


NOTHING = {"emails": 0, "events": 0, "audit": 0, "outbox": 0}


def _message(**values):
    return {"template": "", "language": "en", "subject": "About your account, {{ client.first_name }}",
            "body": "Hello {{ client.first_name }},\n\nCall me back when you can.", **values}


# --- sending ---------------------------------------------------------------------------------------

def test_an_agents_email_goes_out_and_shows_on_the_timeline_under_their_name(
        desk, eager_celery, django_capture_on_commit_callbacks):
    http = desk.http(desk.agent)
    with django_capture_on_commit_callbacks(execute=True):
        response = http.post(desk.send_url, _message(), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "Your email to Amira Haddad is on its way" in response.content.decode()
    [message] = mail.outbox
    assert message.to == ["amira@example.com"]
    assert message.subject == "About your account, Amira"
    assert "Hello Amira,\n\nCall me back when you can." in message.body
    email = OutboundEmail.objects.get(client=desk.client)
    assert (email.status, email.author, email.template_key) == (EmailStatus.SENT, desk.agent, "")
    audit = AuditLog.objects.get(action="email.compose", object_id=str(email.code))
    assert audit.after["written_subject"] == "About your account, {{ client.first_name }}"
    assert audit.after["to"] != "amira@example.com"  # masked in the trail too
    event = Event.objects.get(client=desk.client, name="email.sent")
    assert event.actor == desk.agent
    assert event.data == {"email": str(email.code), "template": "", "language": "en",
                          "subject": "About your account, Amira", "to": event.data["to"],
                          "sent_by": "omar@alpha.example"}
    timeline = http.get(f"{desk.profile}?tab=timeline").content.decode()
    assert "Email sent" in timeline and "About your account, Amira" in timeline and "Omar Farouk" in timeline
    tab = http.get(f"{desk.profile}?tab=email").content.decode()
    assert "About your account, Amira" in tab and "Sent" in tab


def test_nothing_is_sent_before_the_commit(desk, eager_celery, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        desk.http(desk.agent).post(desk.send_url, _message())
    assert callbacks and mail.outbox == []
    assert OutboundEmail.objects.get(client=desk.client).status == EmailStatus.QUEUED


def test_a_template_is_offered_and_sent_in_the_clients_language_and_brand(
        desk, eager_celery, django_capture_on_commit_callbacks):
    http = desk.http(desk.agent)
    tab = http.get(f"{desk.profile}?tab=email").content.decode()
    assert "follow_up · Arabic" in tab  # the language this client would get, of this client's brand only
    filled = http.get(f"{desk.profile}?tab=email&template=follow_up").content.decode()
    assert "حسابك لدى {{ brand.name }}" in filled and "Beta only" not in filled
    with django_capture_on_commit_callbacks(execute=True):
        http.post(desk.send_url, _message(template="follow_up", language="ar", subject="حسابك لدى {{ brand.name }}",
                                          body="مرحبًا {{ client.first_name }}،\n\nمع التحية، {{ owner.name }}"))
    [message] = mail.outbox
    assert message.subject == "حسابك لدى Alpha Markets"
    assert "مرحبًا Amira،" in message.body and "Omar Farouk" in message.body
    html = message.alternatives[0].content
    assert 'dir="rtl"' in html and 'lang="ar"' in html
    email = OutboundEmail.objects.get(client=desk.client)
    assert (email.template.brand, email.template.language, email.template_key) == (desk.brand, "ar", "follow_up")


def test_a_template_of_another_brand_cannot_be_used(desk):
    http = desk.http(desk.agent)
    other = make_brand(name="Gamma FX")
    email_template_save(actor=None, brand=other, key="gamma_only", language="ar", subject="x", body="y")
    response = http.post(desk.send_url, _message(template="gamma_only"))
    assert "Select a valid choice" in response.content.decode()
    assert _written(desk.client) == NOTHING


# --- failures ---------------------------------------------------------------------------------------

def test_a_failed_send_says_failed_with_the_reason_and_notifies_the_agent(
        desk, eager_celery, django_capture_on_commit_callbacks, monkeypatch):
    def down(self, messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")

    monkeypatch.setattr(EmailBackend, "send_messages", down)
    http = desk.http(desk.agent)
    with django_capture_on_commit_callbacks(execute=True):
        http.post(desk.send_url, _message())
    events.dispatch_pending()  # the notification is the author's subscription to "email.failed"
    email = OutboundEmail.objects.get(client=desk.client)
    assert (email.status, email.attempts) == (EmailStatus.FAILED, EMAIL_MAX_ATTEMPTS)  # retried, then gave up
    assert mail.outbox == []
    failed = Event.objects.get(client=desk.client, name="email.failed")
    assert failed.actor == desk.agent
    assert failed.data["error"] == "SMTPServerDisconnected: Connection unexpectedly closed"
    [note] = Notification.objects.filter(user=desk.agent, kind="email_failed")
    assert note.title == "Your email to Amira Haddad failed"
    assert note.body == ("“About your account, Amira” could not be sent: "
                         "SMTPServerDisconnected: Connection unexpectedly closed")
    assert note.url == f"{desk.profile}?tab=email"
    timeline = http.get(f"{desk.profile}?tab=timeline").content.decode()
    assert "Email not delivered" in timeline and "Connection unexpectedly closed" in timeline
    tab = http.get(f"{desk.profile}?tab=email").content.decode()
    assert "Failed" in tab and "SMTPServerDisconnected: Connection unexpectedly closed" in tab


def test_a_client_without_an_email_address_is_refused_clearly(desk):
    nomail = make_client(actor=desk.agent, first_name="Nadia", last_name="Nomail")
    http = desk.http(desk.agent)
    tab = http.get(f"{reverse('client_detail', args=[nomail.code])}?tab=email").content.decode()
    assert "Nadia Nomail has no email address. Add one to the client&#x27;s details first." in tab
    assert 'name="subject"' not in tab
    response = http.post(reverse("client_email_send", args=[nomail.code]), _message())
    assert response.status_code == 200 and "Nadia Nomail has no email address." in response.content.decode()
    assert _written(nomail) == NOTHING


@pytest.mark.parametrize(("values", "field", "problem"), [
    ({"subject": "Hello\r\nBcc: everyone@example.com"}, "subject", "Write the subject on one line."),
    ({"subject": "x" * 256}, "subject", "Ensure this value has at most 255 characters (it has 256)."),
    ({"subject": '{% for x in "' + "x" * 60 + '" %}{{ client.first_name }}{% endfor %}'}, "subject",
     "With its variables filled in, the subject is longer than 255 characters."),
    ({"body": ""}, "body", "This field is required."),
    ({"body": "Hi {{ client.frist_name }}"}, "body", "Unknown variable “client.frist_name”."),
    ({"body": "Hi\n{% if client.first_name %}"}, "body", "Line 2: Unclosed tag on line 2: 'if'."),
    ({"language": "xx"}, "language", "Select a valid choice."),
])
def test_bad_input_is_named_by_field_and_nothing_is_written(desk, values, field, problem):
    response = desk.http(desk.agent).post(desk.send_url, _message(**values), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert problem.replace("'", "&#x27;") in html
    assert _written(desk.client) == NOTHING


def test_the_service_refuses_a_header_in_the_subject_too(desk):
    from crm.exceptions import ValidationFailed

    with pytest.raises(ValidationFailed) as caught:
        client_email_send(actor=desk.agent, client=desk.client, subject="Hi\nBcc: x@example.com", body="text")
    assert caught.value.fields == {"subject": ["Write the subject on one line."]}
    assert _written(desk.client) == NOTHING


# --- preview ----------------------------------------------------------------------------------------

def test_the_preview_shows_the_email_as_the_client_gets_it_and_writes_nothing(desk):
    http = desk.http(desk.agent)
    response = http.post(desk.preview_url, _message(body="Hi {{ client.first_name }} ({{ client.email }})"),
                         HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "About your account, Amira" in html
    assert "amira@example.com" not in html  # a preview is not a reveal
    frame = html.split('src="')[1].split('"')[0]
    assert frame.startswith(reverse("client_email_preview", args=[desk.client.code]))
    page = http.get(frame)
    body = page.content.decode()
    assert page.status_code == 200 and "Hi Amira (" in body
    assert "a***@example.com" in body and "amira@example.com" not in body
    assert "frame-ancestors 'self'" in page["Content-Security-Policy"]
    assert desk.http(desk.finance).get(frame).status_code == 403  # nobody else's to open
    assert _written(desk.client) == NOTHING


def test_the_preview_names_the_problem(desk):
    response = desk.http(desk.agent).post(desk.preview_url, _message(body="{% load i18n %}"))
    assert "Text: Line 1: The tag “load” is not available in email templates." in response.content.decode()


# --- who may ----------------------------------------------------------------------------------------

def test_a_role_without_the_permission_gets_403_and_nothing_is_written_or_sent(
        desk, eager_celery, django_capture_on_commit_callbacks):
    http = desk.http(desk.finance)  # sees every client of the brand, may not write to them
    profile = http.get(desk.profile).content.decode()
    assert "?tab=email" not in profile
    with django_capture_on_commit_callbacks(execute=True):
        assert http.post(desk.send_url, _message()).status_code == 403
        assert http.post(desk.preview_url, _message()).status_code == 403
    assert _written(desk.client) == NOTHING
    with pytest.raises(NotAllowed):
        client_email_send(actor=desk.finance, client=desk.client, subject="Hi", body="text")
    assert _written(desk.client) == NOTHING


def test_an_agent_of_another_book_gets_404_and_nothing_is_written(desk, eager_celery,
                                                                   django_capture_on_commit_callbacks):
    http = desk.http(desk.outsider)
    with django_capture_on_commit_callbacks(execute=True):
        assert http.post(desk.send_url, _message()).status_code == 404
        assert http.post(desk.preview_url, _message()).status_code == 404
    assert _written(desk.client) == NOTHING


@pytest.mark.parametrize("role", [RoleCode.SALES_AGENT, RoleCode.RETENTION_AGENT, RoleCode.DESK_MANAGER,
                                  RoleCode.ADMIN])
def test_those_who_work_clients_have_the_composer(desk, role):
    from crm.services import client_assign

    user = {RoleCode.SALES_AGENT: desk.agent, RoleCode.DESK_MANAGER: desk.manager}.get(role)
    if user is None:
        user = make_user(role_code=role, brand=desk.brand, desk=desk.team if role != RoleCode.ADMIN else None)
    if role == RoleCode.RETENTION_AGENT:
        client_assign(actor=None, client=desk.client, owner=user, reason="Handed to retention")
    page = desk.http(user).get(f"{desk.profile}?tab=email")
    assert page.status_code == 200 and 'name="subject"' in page.content.decode()


def test_the_composer_speaks_arabic_to_an_arabic_speaking_agent(desk):
    from crm.services import user_update_preferences

    user_update_preferences(user=desk.agent, language="ar", timezone="UTC")
    tab = desk.http(desk.agent).get(f"{desk.profile}?tab=email").content.decode()
    assert "اكتب بريدًا إلكترونيًا" in tab and "ابدأ من قالب" in tab
