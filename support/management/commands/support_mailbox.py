"""Set up a support desk's inbound mailbox from the command line (support.mail_intake.mailbox_save).

    manage.py support_mailbox BRAND DESK --webhook            # prints the URL and the secret, once
    manage.py support_mailbox BRAND DESK --webhook --rotate   # a new secret (the relay must change too)
    manage.py support_mailbox BRAND DESK --imap --host imap.example.com --user support@broker.example \\
        [--port 993] [--folder INBOX] [--reread]              # password from SUPPORT_IMAP_PASSWORD or asked
    manage.py support_mailbox BRAND DESK --disable
    manage.py support_mailbox --list
"""

from __future__ import annotations

import getpass
import os
import secrets
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from crm.lib.errors import DomainError
from support.mail_intake import mailbox_save
from support.models import InboundMailbox, MailboxKind, SupportDesk


class Command(BaseCommand):
    help = "Create or change a support desk's inbound mailbox (an inbound-mail webhook or an IMAP mailbox)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("brand", nargs="?", help="the brand's code")
        parser.add_argument("desk", nargs="?", help="the desk's code")
        kinds = parser.add_mutually_exclusive_group()
        kinds.add_argument("--webhook", action="store_true", help="mail arrives by the signed inbound-mail webhook")
        kinds.add_argument("--imap", action="store_true", help="mail is read from an IMAP mailbox every minute")
        kinds.add_argument("--disable", action="store_true", help="stop taking mail for this desk")
        kinds.add_argument("--list", action="store_true", help="list every mailbox with its state")
        parser.add_argument("--rotate", action="store_true", help="a new webhook secret")
        parser.add_argument("--host", default="")
        parser.add_argument("--port", type=int, default=993)
        parser.add_argument("--user", default="")
        parser.add_argument("--folder", default="INBOX")
        parser.add_argument("--reread", action="store_true",
                            help="read the IMAP folder again from its first message (messages taken before are "
                                 "recognised by their Message-ID and not taken twice)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["list"]:
            self._list()
            return
        if not options["brand"] or not options["desk"]:
            raise CommandError("Name the brand's code and the desk's code.")
        desk = (SupportDesk.objects.select_related("brand")
                .filter(brand__code=options["brand"], code=options["desk"]).first())
        if desk is None:
            raise CommandError(f"No desk {options['desk']!r} of brand {options['brand']!r}.")
        existing = InboundMailbox.objects.filter(desk=desk).order_by("pk").first()
        try:
            if options["disable"]:
                if existing is None:
                    raise CommandError("This desk has no mailbox.")
                mailbox_save(actor=None, desk=desk, kind=existing.kind, imap_host=existing.imap_host,
                             imap_port=existing.imap_port, imap_username=existing.imap_username,
                             folder=existing.folder, active=False, mailbox=existing)
                self.stdout.write(self.style.SUCCESS("Mailbox disabled."))
            elif options["imap"]:
                password = os.environ.get("SUPPORT_IMAP_PASSWORD") or (
                    None if existing is not None and existing.imap_password_encrypted else getpass.getpass())
                box = mailbox_save(actor=None, desk=desk, kind=MailboxKind.IMAP, imap_host=options["host"],
                                   imap_port=options["port"], imap_username=options["user"], imap_password=password,
                                   folder=options["folder"], mailbox=existing, reread=options["reread"])
                self.stdout.write(self.style.SUCCESS(
                    f"IMAP mailbox {box.imap_username}@{box.imap_host}:{box.imap_port} ({box.folder}) is read "
                    f"every minute from UID {box.last_uid}."))
            elif options["webhook"]:
                fresh = existing is None or options["rotate"] or not existing.webhook_secret_encrypted
                secret = f"whsec_{secrets.token_urlsafe(32)}" if fresh else None
                box = mailbox_save(actor=None, desk=desk, kind=MailboxKind.WEBHOOK, webhook_secret=secret,
                                   mailbox=existing)
                self.stdout.write(f"POST raw messages to: {reverse('support_mail_inbound', args=[box.code])}")
                self.stdout.write(f"Sign them (X-CRM-Signature) with: {box.webhook_secret() if fresh else '(unchanged)'}")
            else:
                raise CommandError("Choose --webhook, --imap, --disable or --list.")
        except DomainError as error:
            raise CommandError(f"{error.message} {error.fields or ''}".strip()) from None

    def _list(self) -> None:
        for box in InboundMailbox.objects.select_related("desk__brand").order_by("desk__brand__code", "desk__code"):
            where = f"{box.imap_username}@{box.imap_host}:{box.imap_port}/{box.folder} uid {box.last_uid}" \
                if box.kind == MailboxKind.IMAP else str(box.code)
            state = "active" if box.active else "disabled"
            error = f" last error: {box.last_error}" if box.last_error else ""
            self.stdout.write(f"{box.desk.brand.code}/{box.desk.code} {box.kind} {where} {state}{error}")
