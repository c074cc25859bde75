"""`manage.py compliance_seed_demo_aml`: each demo brand's AML rules and a few deposit patterns of demo
clients that the real rules turn into alerts in the AML alert queue (demo/aml.py). Idempotent: a brand
that has AML rules already is left alone."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from crm.models import Brand, RoleCode, User
from plumbing import context


class Command(BaseCommand):
    help = "Load the demo brands' AML rules and raise a few demo alerts through them (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        from demo.aml import aml_seed_demo

        officer = User.objects.filter(is_active=True, role__code=RoleCode.COMPLIANCE).order_by("id").first()
        with context.acting_as(officer, source="seed"):
            for brand in Brand.objects.order_by("id"):
                made = aml_seed_demo(brand=brand, officer=officer)
                if made is None:
                    self.stdout.write(f"AML demo: {brand.code}: has its rules already")
                else:
                    self.stdout.write(f"AML demo: {brand.code}: {made['rules']} rules, patterns "
                                      f"{'; '.join(made['patterns']) or 'none'}; {made['alerts']} alerts raised")
