"""`manage.py support_seed_demo`: the support demo (support/demo.py): desks, SLA policies, canned
answers, rules and tickets for the demo brands. Safe to rerun; prints the demo support agent as
`LOGIN support_agent <email> <password>`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from crm.models import RoleCode, User
from plumbing import context
from support.demo import AGENT_EMAIL, AGENT_PASSWORD, support_seed_demo


class Command(BaseCommand):
    help = "Load the support demo: a desk per demo brand, SLA policies, canned answers, tickets and complaints (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        admin = User.objects.filter(is_active=True, role__code=RoleCode.ADMIN).order_by("id").first()
        if admin is None:
            self.stdout.write("support demo: no administrator (run seed_demo first)")
            return
        with context.acting_as(None, source="seed"):
            result = support_seed_demo(admin=admin)
        if result.created:
            self.stdout.write(f"support demo: {len(result.desks)} desks, {len(result.tickets)} tickets, "
                              f"{len(result.complaints)} complaints in the register")
        else:
            self.stdout.write("support demo: already loaded (or no demo brands)")
        if User.objects.filter(email=AGENT_EMAIL, is_active=True).exists():
            self.stdout.write(f"LOGIN support_agent {AGENT_EMAIL} {AGENT_PASSWORD}")
