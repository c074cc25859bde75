"""`manage.py marketing_seed_demo`: the marketing demo (marketing/demo.py): a marketer and segments for
the demo brands. Safe to rerun; prints the demo marketer as `LOGIN marketing <email> <password>`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from crm.models import RoleCode, User
from marketing.demo import MARKETER_EMAIL, MARKETER_PASSWORD, marketing_seed_demo
from marketing.demo_campaigns import campaigns_seed_demo
from marketing.demo_sequences import sequences_seed_demo
from plumbing import context


class Command(BaseCommand):
    help = "Load the marketing demo: a marketer and segments for each demo brand (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        admin = User.objects.filter(is_active=True, role__code=RoleCode.ADMIN).order_by("id").first()
        if admin is None:
            self.stdout.write("marketing demo: no administrator (run seed_demo first)")
            return
        with context.acting_as(None, source="seed"):
            result = marketing_seed_demo(admin=admin)
            marketer = User.objects.filter(email=MARKETER_EMAIL, is_active=True).first()
            sent = campaigns_seed_demo(marketer=marketer) if marketer is not None else []
            drips = sequences_seed_demo(marketer=marketer) if marketer is not None else []
        if result.created:
            self.stdout.write(f"marketing demo: {len(result.segments)} segments")
        else:
            self.stdout.write("marketing demo: already loaded (or no demo brands)")
        if sent:
            self.stdout.write(f"marketing demo: {len(sent)} campaigns sent")
        if drips:
            self.stdout.write(f"marketing demo: {len(drips)} sequences running")
        if User.objects.filter(email=MARKETER_EMAIL, is_active=True).exists():
            self.stdout.write(f"LOGIN marketing {MARKETER_EMAIL} {MARKETER_PASSWORD}")
