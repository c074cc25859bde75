"""`manage.py monitoring_seed_demo`: the agent monitoring demo desk (monitoring/demo.py). Safe to rerun;
prints the desk manager who reviews its alerts as `LOGIN desk_manager <email> <password>`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from crm.models import Brand, RoleCode, User
from monitoring.demo import monitoring_seed_demo

# The demo organisation's desk manager of the Atlas English desk (demo/organisation.py).
MANAGER_EMAIL = "oliver.grant@demo-broker.example"
MANAGER_PASSWORD = "copper-meadow-7305"  # noqa: S105 - a published demo login


class Command(BaseCommand):
    help = "Load a demo desk with six months of agent activity and two monitoring alerts waiting (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        brand = Brand.objects.filter(code="atlas").first() or Brand.objects.order_by("id").first()
        admin = User.objects.filter(is_active=True, role__code=RoleCode.ADMIN).order_by("id").first()
        manager = (User.objects.filter(email=MANAGER_EMAIL, is_active=True).first()
                   or User.objects.filter(is_active=True, role__code=RoleCode.DESK_MANAGER).order_by("id").first())
        if brand is None or admin is None or manager is None:
            self.stdout.write("monitoring demo: no brand, administrator or desk manager (run seed_demo first)")
            return
        result = monitoring_seed_demo(brand=brand, admin=admin, manager=manager)
        verb = "loaded" if result.created else "already loaded"
        self.stdout.write(f"monitoring demo: {verb}; {len(result.alerts)} alerts waiting: "
                          + ", ".join(f"{a.detector} ({a.agent})" for a in result.alerts))
        if manager.email == MANAGER_EMAIL:
            self.stdout.write(f"LOGIN desk_manager {MANAGER_EMAIL} {MANAGER_PASSWORD}")
