"""The emails' events and their payloads (see crm.events.catalogue)."""

from __future__ import annotations

from typing import NotRequired, TypedDict

from crm.events.catalogue import CodeText, declare


class EmailSent(TypedDict):
    email: CodeText
    template: str
    language: str
    subject: str
    to: str  # masked
    sent_by: str  # a user's code or "automation:<rule>"


class EmailFailed(EmailSent):
    error: str
    attempts: int


declare("email.sent", payload=EmailSent, description="An email to a client was sent.")
declare("email.failed", payload=EmailFailed, description="An email to a client could not be sent (gave up).")


class SmsOptChange(TypedDict):
    client: CodeText
    number: str  # masked
    provider: str  # the SMS provider's code
    source: str  # "stop" / "start": the client texted it; "error_21610": the provider refused a message for it
    # The reference (a campaign's code) of the marketing SMS the STOP answers: the last one sent to the
    # client in the 30 days before it, or the refused message's own; "" or absent when none.
    reference: NotRequired[str]


declare("sms.opted_out", payload=SmsOptChange,
        description="A client asked for no more SMS (texted STOP, or the provider says they did).")
declare("sms.opted_in", payload=SmsOptChange, description="A client texted START: SMS may reach them again.")


class SmsOutcome(TypedDict):
    sms: CodeText
    purpose: str  # "transactional" / "marketing"
    reference: str  # the campaign's code, a notice's key; "" when none
    status: str  # our status: sent, delivered, undelivered, failed
    error: str  # the provider's error code when it failed; ""


declare("sms.sent", payload=SmsOutcome, description="An SMS was handed to the carrier (the provider says sent).")
declare("sms.delivered", payload=SmsOutcome, description="An SMS reached the phone (the provider says delivered).")
declare("sms.failed", payload=SmsOutcome,
        description="An SMS could not be sent or delivered (refused, out of attempts, undelivered).")
