"""The inbound-mail webhook: a mail provider (or the broker's own mail server) POSTs each message
received at a support address, raw, and the CRM takes it (support.mail_intake).

The format (documented for whoever sets the relay up)::

    POST /support/mail/webhooks/<mailbox code>/
    Content-Type: message/rfc822
    X-CRM-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body, keyed with the mailbox's secret>

    <the message exactly as received: RFC 5322 headers, a blank line, the MIME body>

The signature is the house's one (plumbing.signatures, as the CRM's own outbound webhooks and the
telephony providers sign): two v1 entries during a secret's rotation, five minutes of tolerance on
the timestamp. The answer is JSON: 200 ``{"outcome": ..., "ticket": "T001234"}`` for a message taken
(or taken before: the same Message-ID is one message, so a sender may retry freely); 401 for a bad
or stale signature; 400 for a body that is no message; 404 for a mailbox code that is not an active
webhook mailbox; 413 over SUPPORT_MAIL_WEBHOOK_MAX_BYTES, read no further. A message over the intake's
own limit (SUPPORT_MAIL_MAX_BYTES) is still answered 200: it is recorded as too large and its sender
told.

The body is read from the request's stream, not ``request.body``: Django's in-memory limit
(DATA_UPLOAD_MAX_MEMORY_SIZE) is meant for forms, and a message with attachments is larger.
"""

from __future__ import annotations

import logging
import re
import uuid

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from crm.lib.middleware import client_ip
from plumbing import signatures
from support.mail_intake import mail_receive, max_message_bytes, webhook_mailbox

logger = logging.getLogger(__name__)

_REFUSED = {"mismatch": "refused_bad_signature", "unknown_sender": "refused_bad_signature",
            "stale": "refused_stale", "malformed": "refused_malformed"}


def webhook_max_bytes() -> int:
    return int(getattr(settings, "SUPPORT_MAIL_WEBHOOK_MAX_BYTES", 2 * max_message_bytes()))


def _looks_like_a_message(body: bytes) -> bool:
    """The body starts with a header line ("Name: value"), as a raw message does."""
    return re.match(rb"[\r\n]*[A-Za-z0-9][A-Za-z0-9-]*:", body[:1000]) is not None


@csrf_exempt  # a mail relay has no CSRF token: the HMAC signature authenticates it
@require_POST
def inbound_webhook(request: HttpRequest, code: uuid.UUID) -> JsonResponse:
    mailbox = webhook_mailbox(code=code)
    if mailbox is None:
        return JsonResponse({"outcome": "unknown_mailbox"}, status=404)
    limit = webhook_max_bytes()
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > limit:
        return JsonResponse({"outcome": "refused_too_large", "detail": f"at most {limit} bytes"}, status=413)
    body = request.read(limit + 1)
    if len(body) > limit:
        return JsonResponse({"outcome": "refused_too_large", "detail": f"at most {limit} bytes"}, status=413)
    try:
        signatures.verify(body=body, header=request.headers.get(signatures.HEADER, ""),
                          secrets=[mailbox.webhook_secret()])
    except signatures.SignatureError as exc:
        logger.warning("support mail webhook refused", extra={"mailbox": str(mailbox.code), "reason": exc.reason,
                                                             "remote_addr": client_ip(request)})
        outcome = _REFUSED.get(exc.reason, "refused_malformed")
        return JsonResponse({"outcome": outcome}, status=400 if outcome == "refused_malformed" else 401)
    if not _looks_like_a_message(body):
        return JsonResponse({"outcome": "refused_malformed",
                             "detail": "the body is not a message: send the raw RFC 5322 message"}, status=400)
    row = mail_receive(mailbox=mailbox, raw=body)
    ticket = row.ticket.reference if row.ticket_id is not None and row.ticket is not None else None
    return JsonResponse({"outcome": row.outcome, "message_id": row.message_id, "ticket": ticket})
