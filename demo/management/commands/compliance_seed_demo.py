"""`manage.py compliance_seed_demo`: the screening queue's demo data (demo/compliance.py). Safe to rerun;
prints the second compliance officer's demo login as `LOGIN compliance <email> <password>`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from crm.models import Brand, RoleCode, User
from demo.compliance import SECOND_OFFICER, compliance_seed_demo
from plumbing import context


class Command(BaseCommand):
    help = "Load a demo watchlist and raise a few screening hits for the compliance officers (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        brand = Brand.objects.filter(code="atlas").first() or Brand.objects.order_by("id").first()
        if brand is None:
            self.stdout.write("compliance demo: no brand (run seed_demo first)")
            return
        admin = User.objects.filter(is_active=True, role__code=RoleCode.ADMIN).order_by("id").first()
        officer = User.objects.filter(is_active=True, role__code=RoleCode.COMPLIANCE).order_by("id").first()
        with context.acting_as(None, source="seed"):
            made = compliance_seed_demo(brand=brand, admin=admin, officer=officer)
        if not made:
            self.stdout.write("compliance demo: the demo watchlist is already loaded")
        else:
            self.stdout.write(f"compliance demo: {made['entries']} listed entries, {made['clients']} clients "
                              f"screened, {made['hits']} hits waiting in the screening queue")
        _, email, password = SECOND_OFFICER
        self.stdout.write(f"LOGIN compliance {email} {password}")
