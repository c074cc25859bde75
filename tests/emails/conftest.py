"""The SMS tests' fixtures: the Twilio simulator's process, the CRM's public address it posts to,
and a brand whose SMS provider points at it (tests/emails/sms_support.py)."""

from tests.emails.sms_support import capture, sms_world, twilio_session  # noqa: F401 - fixtures
