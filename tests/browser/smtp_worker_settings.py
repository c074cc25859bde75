"""Settings for a Celery worker a browser test starts that must deliver its mail over SMTP, to the
test's own sink: the test settings, with the default mailer the environment names (EMAIL_HOST,
EMAIL_PORT, as in production) instead of the in-memory one, whose outbox no test could read in
another process."""

from crm.settings.test import *  # noqa: F403
from crm.settings.test import smtp_options

MAILERS = {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": smtp_options()}}
