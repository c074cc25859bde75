"""The trader's room's own mails (verification link, reset link, "you already have an account"),
plain text in the client's language. They carry secrets, so they are made and sent by a Celery task
(portal.tasks) and never stored in the client's email history."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import override

from crm.lib.public_url import public_url
from portal.models import ClientLogin

KINDS = ("verify", "reset", "already_registered")


def portal_mail_send(*, kind: str, login_id: int) -> bool:
    """Send mail `kind` to the login's address; False when the login is gone or the kind unknown."""
    from portal.services import reset_token_make, verification_token

    login = ClientLogin.objects.select_related("client", "brand").filter(pk=login_id).first()
    if login is None or kind not in KINDS:
        return False
    client, brand = login.client, login.brand
    values = {"client": client, "brand": brand, "login_url": public_url(reverse("portal:login_brand",
                                                                               args=[brand.code]))}
    if kind == "verify":
        values["link"] = public_url(reverse("portal:verify_email", args=[verification_token(login)]))
    elif kind == "reset":
        values["link"] = public_url(reverse("portal:password_reset_confirm",
                                            args=[str(login.code), reset_token_make(login)]))
        values["minutes"] = settings.PASSWORD_RESET_MINUTES
    else:
        values["link"] = public_url(reverse("portal:password_reset", args=[brand.code]))
    language = client.language or brand.default_language or settings.LANGUAGE_CODE
    with override(language):
        subject = render_to_string(f"emails/portal/{kind}_subject.txt", values)
        body = render_to_string(f"emails/portal/{kind}.txt", values)
    EmailMessage(" ".join(subject.split()), body, settings.DEFAULT_FROM_EMAIL, [login.email]).send()
    return True
