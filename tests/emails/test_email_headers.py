"""An email queued with extra headers (emails.services.email_queue's `headers`) is sent with them; one
to an address that is nobody's client names its brand; a header that could inject another is refused."""

from __future__ import annotations

import pytest
from django.core import mail

from crm.exceptions import ValidationFailed
from emails.models import OutboundEmail
from emails.services import email_deliver, email_queue, email_render, email_template_save
from tests.factories import make_brand

pytestmark = pytest.mark.django_db


def _rendered(brand):
    template = email_template_save(actor=None, brand=brand, key="note", language="en", subject="Your request",
                                   body="We have an answer.")
    return template, email_render(template=template, context={"brand": {"name": brand.name, "code": brand.code}})


def test_an_email_to_a_non_client_is_sent_with_the_headers_it_was_given():
    brand = make_brand(name="Alpha Markets")
    template, rendered = _rendered(brand)
    queued = email_queue(client=None, brand=brand, to_email="sender@elsewhere.example", rendered=rendered,
                         template=template, actor=None,
                         headers={"Message-ID": "<T000001.abc@crm.example>", "In-Reply-To": "<x@client.example>"})
    assert email_deliver(email_id=queued.pk) == "sent"
    [sent] = mail.outbox
    message = sent.message()
    assert sent.to == ["sender@elsewhere.example"]
    assert message["Message-ID"] == "<T000001.abc@crm.example>"
    assert message["In-Reply-To"] == "<x@client.example>"
    assert message["X-CRM-Email"] == str(queued.code)


@pytest.mark.parametrize("headers", [{"X-Bad": "a\r\nBcc: victim@example.com"}, {"Bad Name": "x"}, {"": "x"}])
def test_a_header_that_would_inject_another_is_refused_and_nothing_is_queued(headers):
    brand = make_brand(name="Beta Markets")
    template, rendered = _rendered(brand)
    with pytest.raises(ValidationFailed) as caught:
        email_queue(client=None, brand=brand, to_email="a@example.com", rendered=rendered, template=template,
                    actor=None, headers=headers)
    assert "headers" in caught.value.fields
    assert not OutboundEmail.objects.exists()


def test_an_email_without_an_address_is_refused_naming_the_field():
    brand = make_brand(name="Gamma Markets")
    template, rendered = _rendered(brand)
    with pytest.raises(ValidationFailed) as caught:
        email_queue(client=None, brand=brand, rendered=rendered, template=template, actor=None)
    assert "to_email" in caught.value.fields
