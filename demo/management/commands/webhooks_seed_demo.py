"""`manage.py webhooks_seed_demo [--port N]`: the demo webhook subscriber (demo/webhooks.py), delivering
every event to the receiver `make run` starts on 127.0.0.1. Safe to rerun; a new port re-points it."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from crm.models import Brand, RoleCode, User
from demo.webhooks import DEFAULT_PORT, webhooks_seed_demo
from plumbing import context


class Command(BaseCommand):
    help = "Set up the demo webhook subscriber for the local receiver (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=DEFAULT_PORT)

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.CRM_WEBHOOK_ALLOW_HTTP_LOOPBACK:
            self.stdout.write("webhooks demo: skipped (CRM_WEBHOOK_ALLOW_HTTP_LOOPBACK is off)")
            return
        brand = Brand.objects.filter(code="atlas").first() or Brand.objects.order_by("id").first()
        admin = User.objects.filter(is_active=True, role__code=RoleCode.ADMIN).order_by("id").first()
        if brand is None or admin is None:
            self.stdout.write("webhooks demo: no brand or administrator (run seed_demo first)")
            return
        with context.acting_as(None, source="seed"):
            self.stdout.write(webhooks_seed_demo(brand=brand, admin=admin, port=options["port"]))
