"""An outgoing email's status moves through its state machine (emails.models.EMAIL_STATES): queued
until sent or failed, and neither end is left (an email is sent once)."""

from __future__ import annotations

import pytest
from django.core import mail

from emails.exceptions import EmailTransitionRefused
from emails.models import EMAIL_STATES, EmailStatus, OutboundEmail
from emails.services import email_deliver, email_send_templated, email_template_save
from tests.factories import make_brand, make_client

pytestmark = pytest.mark.django_db


def test_a_sent_email_is_refused_any_other_status_and_never_sent_again():
    brand = make_brand(name="Alpha Markets")
    client = make_client(brand=brand, first_name="Amira", email="amira@example.com", language="en")
    email_template_save(actor=None, brand=brand, key="welcome", language="en", subject="Welcome",
                        body="Hello {{ client.first_name }}.")
    queued = email_send_templated(template_key="welcome", client=client, context={}, actor=None).email
    assert queued.status == EmailStatus.QUEUED
    assert email_deliver(email_id=queued.pk) == EmailStatus.SENT
    email = OutboundEmail.objects.get(pk=queued.pk)

    with pytest.raises(EmailTransitionRefused) as caught:
        EMAIL_STATES.move(email, EmailStatus.FAILED, save=())
    assert caught.value.message == "An email that is sent cannot become failed."
    assert caught.value.status_code == 409
    email.refresh_from_db()
    assert email.status == EmailStatus.SENT
    assert email_deliver(email_id=email.pk) == EmailStatus.SENT  # a second task sends nothing
    assert len(mail.outbox) == 1
