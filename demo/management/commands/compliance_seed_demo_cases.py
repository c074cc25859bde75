"""`manage.py compliance_seed_demo_cases`: a compliance case in progress for the second compliance officer
(demo/compliance_cases.py), after compliance_seed_demo raised the screening hits. Safe to rerun."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from crm.models import Brand, RoleCode, User
from demo.compliance import SECOND_OFFICER
from demo.compliance_cases import compliance_seed_demo_cases
from demo.compliance_data_requests import compliance_seed_demo_data_requests
from plumbing import context


class Command(BaseCommand):
    help = "Open a compliance case in review for the demo compliance officer (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        brand = Brand.objects.filter(code="atlas").first() or Brand.objects.order_by("id").first()
        if brand is None:
            self.stdout.write("compliance cases demo: no brand (run seed_demo first)")
            return
        officer = (User.objects.filter(is_active=True, role__code=RoleCode.COMPLIANCE)
                   .exclude(email__iexact=SECOND_OFFICER[1]).order_by("id").first())
        with context.acting_as(None, source="seed"):
            made = compliance_seed_demo_cases(brand=brand, officer=officer)
        with context.acting_as(None, source="seed"):
            requests = compliance_seed_demo_data_requests(brand=brand, officer=officer)
        if requests:
            self.stdout.write("compliance data requests demo: one open near its due date, one fulfilled")
        if made:
            self.stdout.write(f"compliance cases demo: a case in review for {SECOND_OFFICER[1]}")
        else:
            self.stdout.write("compliance cases demo: a case already exists (or no screening hit to confirm)")
