"""One SMTP connection per worker process, reused from one email to the next.

Django's mailer opens a connection for every message (connect, EHLO, maybe STARTTLS and AUTH, QUIT):
for a campaign that is most of the cost of sending. ``mailer_send`` keeps the default mailer
(settings.MAILERS["default"]) open instead and sends every message of the process over it:

- opened at the first message, and again whenever it is unusable: after an error that leaves the
  SMTP session in an unknown state (anything but a refused recipient or sender, after which smtplib
  has already reset the session), after more than ``IDLE_SECONDS`` without use (servers drop idle
  sessions; a new one is cheaper than finding out), when the settings name another mailer (tests),
  and in a forked child (the parent's socket is left alone, never closed from the child);
- a message whose reused connection turns out to be closed by the server (SMTPServerDisconnected or
  a reset socket on the first command) is sent once more over a new connection at once: the server
  did not take it. The failure of a new connection is the caller's to retry, as before;
- closed at process exit (atexit, and Celery's worker_process_shutdown for pool processes).

Over Django's SMTP mailer a message of the pipeline's shape goes as the bytes emails.mime writes for
it (the same message, a fraction of the cost of Django's building it); others, and every message to a
mailer that is not SMTP (tests, the console), go through Django's send_messages as always.

One connection per process, used by one thread at a time (a lock): Celery's prefork pool runs one
task per process.
"""

from __future__ import annotations

import atexit
import logging
import os
import smtplib
import threading
import time
from typing import Any

from celery.signals import worker_process_shutdown
from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives, mailers
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend

from emails.mime import smtp_bytes

logger = logging.getLogger(__name__)

IDLE_SECONDS = 30.0
# After these the session is still clean: smtplib sent RSET before raising, or Django refused the
# address (a ValueError) before sending anything.
_SESSION_INTACT = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, ValueError)
# What a connection the server has dropped raises at its first command.
_DROPPED = (smtplib.SMTPServerDisconnected, ConnectionResetError, BrokenPipeError)


class _Held:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.backend: Any = None
        self.config = ""
        self.pid = 0
        self.last_used = 0.0
        self.opened = 0  # connections opened by this process (tests and the benchmark read it)

    def _config(self) -> str:
        return repr(getattr(settings, "MAILERS", {}).get("default"))

    def _usable(self) -> bool:
        if self.backend is None:
            return False
        if self.pid != os.getpid():
            self.backend = None  # the parent's: dropped, not closed (its QUIT would end the parent's session)
            return False
        if self.config != self._config() or time.monotonic() - self.last_used > IDLE_SECONDS:
            self.close()
            return False
        return True

    def _open(self) -> Any:
        backend = mailers.default
        backend.open()
        self.backend, self.config, self.pid = backend, self._config(), os.getpid()
        self.opened += 1
        return backend

    def close(self) -> None:
        backend, self.backend = self.backend, None
        if backend is None or self.pid != os.getpid():
            return
        try:
            backend.close()
        except (smtplib.SMTPException, OSError):
            logger.info("closing the SMTP connection failed", exc_info=True)

    def send(self, message: EmailMessage) -> None:
        with self.lock:
            reused = self._usable()
            backend = self.backend if reused else self._open()
            try:
                _deliver(backend, message)
            except _DROPPED:
                self.close()
                if not (reused and _networked(backend)):
                    raise
                _deliver(self._open(), message)  # the server had dropped the idle session
            except _SESSION_INTACT:
                self.last_used = time.monotonic()
                raise
            except (smtplib.SMTPException, OSError):
                self.close()
                raise
            self.last_used = time.monotonic()


def _deliver(backend: Any, message: EmailMessage) -> None:
    """Send `message` over `backend` (open): as emails.mime's bytes over Django's SMTP connection when
    it has the pipeline's shape (the addresses checked by Django's own prep_address, as its _send
    does), else by Django's send_messages."""
    raw = smtp_bytes(message) if isinstance(message, EmailMultiAlternatives) else None
    if raw is None or type(backend) is not SmtpBackend or backend.connection is None:
        backend.send_messages([message])
        return
    sender = backend.prep_address(message.from_email)
    recipients = [backend.prep_address(address) for address in message.recipients()]
    with backend._lock:
        backend.connection.sendmail(sender, recipients, raw)


def _networked(backend: Any) -> bool:
    """Whether `backend` holds a socket (Django's SMTP mailer), not a test's or the console's."""
    return hasattr(backend, "connection")


_held = _Held()


def mailer_send(message: EmailMessage) -> None:
    """Send `message` over this process's SMTP connection (see the module docstring). Raises what
    Django's mailer raises (smtplib.SMTPException, OSError) when it is not sent."""
    _held.send(message)


def mailer_close() -> None:
    """Close this process's SMTP connection, if open (the next message opens a new one)."""
    with _held.lock:
        _held.close()


def mailer_connections_opened() -> int:
    """How many SMTP connections this process has opened."""
    return _held.opened


atexit.register(mailer_close)


@worker_process_shutdown.connect
def _close_at_shutdown(**_kwargs: Any) -> None:
    mailer_close()
