"""Email templates: the sandbox, validation that names the problem, language fallback,
text and HTML rendering, and sending through Celery with retries."""

from __future__ import annotations

import smtplib
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.db import connection

from crm.celery import app as celery_app
from crm.exceptions import NotAllowed, NotFound, ValidationFailed
from crm.models import AuditLog, Event, RoleCode
from crm.views.ui.timeline import describe
from emails.models import EmailStatus, EmailTemplate, OutboundEmail
from emails.services import (
    EMAIL_MAX_ATTEMPTS,
    EmailTemporaryFailure,
    email_deliver,
    email_deliver_task,
    email_render,
    email_requeue_stale,
    email_send_templated,
    email_template_pick,
    email_template_save,
    language_chain,
    render_text,
    template_context,
    template_problems,
)
from tests.commits import queued
from tests.factories import make_brand, make_client, make_desk, make_user

T0 = datetime(2030, 5, 6, 10, 0, tzinfo=UTC)


@pytest.fixture
def shop(db, time_machine):
    time_machine.move_to(T0, tick=False)
    brand = make_brand(name="Alpha Markets", default_language="fr")
    desk = make_desk(brand=brand)
    agent = make_user(role_code=RoleCode.SALES_AGENT, desk=desk, full_name="Omar Farouk", email="omar@alpha.example")
    client = make_client(brand=brand, owner=agent, first_name="Amira", last_name="Haddad",
                         email="amira@example.com", language="ar")
    for language, subject in (("en", "Welcome, {{ client.first_name }}"), ("ar", "أهلاً {{ client.first_name }}"),
                              ("fr", "Bienvenue {{ client.first_name }}")):
        email_template_save(actor=None, brand=brand, key="welcome", language=language, subject=subject,
                            body="Hello {{ client.first_name }},\n\nYour manager is {{ owner.name }}.")
    return SimpleNamespace(brand=brand, agent=agent, client=client, time=time_machine)


@pytest.fixture
def eager_celery():
    saved = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = True, False
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = saved


# --- the sandbox -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("source", "problem"), [
    ("{% load i18n %}", "Line 1: The tag “load” is not available in email templates."),
    ('{% include "base.html" %}', "Line 1: The tag “include” is not available in email templates."),
    ("{% debug %}", "Line 1: The tag “debug” is not available in email templates."),
    ("{% url 'home' %}", "Line 1: The tag “url” is not available in email templates."),
    ("Hi\n{{ client.first_name|safe }}", "Line 2: The filter “safe” is not available in email templates."),
    ("Hi\n\n{% if client.first_name %}\nyes", "Line 3: Unclosed tag on line 3: 'if'. Looking for one of: elif, "
                                             "else, endif."),
    ("{{ client.frist_name }}", "Unknown variable “client.frist_name”."),
    ("{{ password }}", "Unknown variable “password”."),
])
def test_template_problems_name_the_problem_and_line(source, problem):
    assert template_problems(source) == [problem]


def test_allowed_template_language_works():
    source = ("{% if client.tags %}{% for t in client.tags %}{{ t|upper }}{% if not forloop.last %}, {% endif %}"
              "{% endfor %}{% else %}none{% endif %} · {{ client.missing|default:'n/a' }} · {% with n=client.name %}"
              "{{ n|title }}{% endwith %}")
    assert render_text(source, {"client": {"tags": ["vip", "hot"], "name": "amira haddad"}}) == \
        "VIP, HOT · n/a · Amira Haddad"
    assert template_problems("{{ event.data.amount|default:'0' }} {{ client.first_name }}") == []


def test_context_holds_plain_values_only(shop):
    context = template_context(client=shop.client, extra={"deposit": {"amount": 250}, "_secret": 1,
                                                           "client": "overridden?"})
    assert context["client"]["full_name"] == "Amira Haddad"
    assert context["owner"] == {"name": "Omar Farouk", "first_name": "Omar", "email": "omar@alpha.example"}
    assert context["deposit"] == {"amount": 250}
    assert "_secret" not in context and isinstance(context["client"], dict)
    # Nothing in the context reaches the application: no model instances, no managers.
    assert render_text("{{ client.delete }}{{ brand.clients }}{{ owner.user.password }}", context) == ""
    assert template_problems("{{ client.__class__ }}") == [
        "Line 1: Variables and attributes may not begin with underscores: 'client.__class__'"]


# --- validation on save ----------------------------------------------------------------------------

def test_saving_a_broken_template_names_field_and_line(shop):
    with pytest.raises(ValidationFailed) as caught:
        email_template_save(actor=None, brand=shop.brand, key="Bad Key", language="xx",
                            subject="{{ client.first_name|shout }}", body="ok\n{% for x in client.tags %}\n{{ x }}")
    fields = caught.value.fields
    assert fields["key"] == ["Use lower-case letters, digits and underscores, starting with a letter."]
    assert fields["language"] == ["Enter a language code, such as en, ar or pt-BR."]
    assert fields["subject"] == ["Line 1: The filter “shout” is not available in email templates."]
    assert fields["body"] == ["Line 2: Unclosed tag on line 2: 'for'. Looking for one of: empty, endfor."]
    assert not EmailTemplate.objects.filter(key="bad key").exists()


def test_one_template_per_brand_key_and_language(shop):
    with pytest.raises(ValidationFailed) as caught:
        email_template_save(actor=None, brand=shop.brand, key="welcome", language="EN", subject="x", body="y")
    assert caught.value.fields["language"] == ["This brand already has “welcome” in this language."]


def test_editing_a_template_is_audited_and_needs_the_permission(shop):
    admin = make_user(role_code=RoleCode.ADMIN)
    template = EmailTemplate.objects.get(brand=shop.brand, key="welcome", language="en")
    with pytest.raises(NotAllowed):
        email_template_save(actor=shop.agent, template=template, brand=shop.brand, key="welcome", language="en",
                            subject="Hi", body="Body")
    email_template_save(actor=admin, template=template, brand=shop.brand, key="welcome", language="en",
                        subject="Hi {{ client.first_name }}", body="Body")
    row = AuditLog.objects.filter(action="email_template.update").latest("id")
    assert row.before["subject"] == "Welcome, {{ client.first_name }}"
    assert row.after["subject"] == "Hi {{ client.first_name }}"
    assert row.actor_id == admin.pk


# --- language fallback -------------------------------------------------------------------------------

def test_language_chain_goes_client_then_brand_then_english(shop):
    assert language_chain(client_language="pt-br", brand=shop.brand) == ["pt-br", "pt", "fr", "en"]
    assert language_chain(client_language="", brand=shop.brand) == ["fr", "en"]


def test_template_picked_in_the_best_available_language(shop):
    assert email_template_pick(brand=shop.brand, key="welcome", language="ar").language == "ar"
    assert email_template_pick(brand=shop.brand, key="welcome", language="de").language == "fr"
    EmailTemplate.objects.filter(brand=shop.brand, language="fr").update(is_active=False)
    assert email_template_pick(brand=shop.brand, key="welcome", language="de").language == "en"
    assert email_template_pick(brand=shop.brand, key="nope", language="en") is None
    assert email_template_pick(brand=make_brand(), key="welcome", language="en") is None


# --- rendering -------------------------------------------------------------------------------------

def test_html_escapes_everything_once_and_keeps_text_as_written(shop):
    template = EmailTemplate(brand=shop.brand, key="x", language="en", subject="Hi {{ client.first_name }}\nthere",
                             body="<b>Bold?</b> {{ client.first_name }}\nSee https://example.com/kyc\n\nBye")
    context = template_context(client=shop.client, extra={})
    context["client"]["first_name"] = "<script>alert(1)</script>"
    rendered = email_render(template=template, context=context)
    assert rendered.subject == "Hi <script>alert(1)</script> there"  # one line: no header injection
    assert "<b>Bold?</b> <script>alert(1)</script>" in rendered.text
    assert "<script>" not in rendered.html and "<b>Bold" not in rendered.html
    assert "&lt;b&gt;Bold?&lt;/b&gt; &lt;script&gt;alert(1)&lt;/script&gt;<br>" in rendered.html
    assert '<a href="https://example.com/kyc" rel="nofollow">https://example.com/kyc</a>' in rendered.html
    assert "<p>Bye</p>" in rendered.html
    assert "Alpha Markets" in rendered.text  # the footer of templates/emails/base.txt


def test_arabic_email_is_right_to_left(shop):
    template = EmailTemplate.objects.get(brand=shop.brand, key="welcome", language="ar")
    rendered = email_render(template=template, context=template_context(client=shop.client))
    assert 'dir="rtl"' in rendered.html and 'lang="ar"' in rendered.html
    assert rendered.subject == "أهلاً Amira"


# --- sending -------------------------------------------------------------------------------------

def test_send_queues_after_commit_and_records_email_sent(shop, eager_celery, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        result = email_send_templated(template_key="welcome", client=shop.client, context={}, actor=shop.agent)
    assert result.queued
    [message] = mail.outbox
    assert message.to == ["amira@example.com"]
    assert message.subject == "أهلاً Amira"
    assert message.alternatives[0].mimetype == "text/html"
    email = OutboundEmail.objects.get()
    assert (email.status, email.attempts, email.sent_at, email.sent_by) == (EmailStatus.SENT, 1, T0,
                                                                           "omar@alpha.example")
    # What was sent, and to whom, is kept encrypted at rest: raw SQL reads ciphertext only.
    assert (email.to_email, email.subject) == ("amira@example.com", "أهلاً Amira")
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_email, subject, body_text, body_html FROM emails_outboundemail WHERE id = %s",
                       [email.pk])
        stored = cursor.fetchone()
    assert all(v.startswith("enc1:") for v in stored) and not any("amira" in v.lower() for v in stored)
    event = Event.objects.get(name="email.sent", client=shop.client)
    assert event.data["subject"] == "أهلاً Amira"
    assert event.data["to"] != "amira@example.com"  # masked: events reach webhooks
    entry = describe(event)
    assert (entry.label, entry.summary) == ("Email sent", "أهلاً Amira")
    assert AuditLog.objects.filter(action="email.queue", object_id=str(email.code)).exists()


def test_nothing_is_sent_when_the_transaction_rolls_back(shop, eager_celery, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        email_send_templated(template_key="welcome", client=shop.client, context={}, actor=None)
    assert len(queued(callbacks)) == 1  # the task is only queued by the commit
    assert mail.outbox == []


def test_client_without_email_is_skipped_with_a_reason(shop):
    client = make_client(brand=shop.brand, first_name="Nomail")
    result = email_send_templated(template_key="welcome", client=client, context={}, actor=None)
    assert not result.queued
    assert result.skipped_reason == "The client has no email address."
    assert not OutboundEmail.objects.exists()


def test_missing_template_is_a_clear_error(shop):
    with pytest.raises(NotFound) as caught:
        email_send_templated(template_key="kyc_reminder", client=shop.client, context={}, actor=None)
    assert caught.value.message == "The brand Alpha Markets has no active email template “kyc_reminder” in ar, fr, en."


def test_failing_smtp_is_retried_with_backoff_then_sent(shop, monkeypatch):
    result = email_send_templated(template_key="welcome", client=shop.client, context={}, actor=None)
    failures = {"left": 2}
    real_send = EmailBackend.send_messages

    def flaky(self, messages):
        if failures["left"]:
            failures["left"] -= 1
            raise smtplib.SMTPServerDisconnected("connection lost")
        return real_send(self, messages)

    monkeypatch.setattr(EmailBackend, "send_messages", flaky)
    with pytest.raises(EmailTemporaryFailure):
        email_deliver(email_id=result.email.pk)
    email = OutboundEmail.objects.get()
    assert (email.status, email.attempts, email.next_attempt_at) == (EmailStatus.QUEUED, 1, T0 + timedelta(minutes=1))
    assert email.last_error == "SMTPServerDisconnected: connection lost"
    with pytest.raises(EmailTemporaryFailure):
        email_deliver(email_id=email.pk)
    email.refresh_from_db()
    assert email.next_attempt_at == T0 + timedelta(minutes=2)
    assert email_deliver(email_id=email.pk) == EmailStatus.SENT
    assert email_deliver(email_id=email.pk) == EmailStatus.SENT  # a second task sends nothing
    assert len(mail.outbox) == 1
    assert Event.objects.filter(name="email.sent").count() == 1


def test_task_gives_up_after_its_attempts_and_records_email_failed(shop, monkeypatch, eager_celery):
    result = email_send_templated(template_key="welcome", client=shop.client, context={}, actor=None)

    def down(self, messages):
        raise smtplib.SMTPConnectError(421, "try later")

    monkeypatch.setattr(EmailBackend, "send_messages", down)
    email_deliver_task.apply(args=[result.email.pk])
    email = OutboundEmail.objects.get()
    assert (email.status, email.attempts) == (EmailStatus.FAILED, EMAIL_MAX_ATTEMPTS)
    failed = Event.objects.get(name="email.failed", client=shop.client)
    assert failed.data["attempts"] == EMAIL_MAX_ATTEMPTS
    assert describe(failed).label == "Email not delivered"


def test_refused_recipient_fails_at_once(shop, monkeypatch):
    result = email_send_templated(template_key="welcome", client=shop.client, context={}, actor=None)

    def refused(self, messages):
        raise smtplib.SMTPRecipientsRefused({"amira@example.com": (550, b"no such user")})

    monkeypatch.setattr(EmailBackend, "send_messages", refused)
    assert email_deliver(email_id=result.email.pk) == EmailStatus.FAILED
    assert OutboundEmail.objects.get().attempts == 1


def test_lost_tasks_are_queued_again_by_the_sweep(shop, monkeypatch):
    result = email_send_templated(template_key="welcome", client=shop.client, context={}, actor=None)
    queued: list[int] = []
    monkeypatch.setattr("emails.services.email_deliver_task.apply_async",
                        lambda args, countdown=None: queued.append(args[0]))
    assert email_requeue_stale() == 0
    shop.time.move_to(T0 + timedelta(minutes=11), tick=False)
    assert email_requeue_stale() == 1
    assert queued == [result.email.pk]
    assert email_requeue_stale() == 0  # pushed forward: not queued again at once
