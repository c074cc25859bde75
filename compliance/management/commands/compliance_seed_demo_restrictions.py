"""`manage.py compliance_seed_demo_restrictions`: the demo brands' jurisdictions (a few sanctioned
countries and regions, a few high-risk ones, loaded from compliance/data/demo_jurisdictions.csv as an
officer would upload a list) and one restricted demo client (deposits and withdrawals stopped by the
compliance officer while the source of funds is reviewed), so that the Jurisdictions page and a
client's Compliance tab have something to show.

Idempotent: a brand that already has jurisdictions is left alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from compliance.models import Jurisdiction, RestrictionKind
from compliance.services import impose_restriction, jurisdictions_load
from crm.lib.fieldcrypt import keyed_hashes
from crm.models import Brand, Client, RoleCode, Stage, User
from plumbing import context

DEMO_FILE = Path(__file__).resolve().parents[2] / "data" / "demo_jurisdictions.csv"
OFFICER_EMAIL = "priya.raman@demo-broker.example"
PORTAL_DEMO_EMAIL = "alex.morgan@demo-client.example"  # the trader's-room demo login stays unrestricted


class Command(BaseCommand):
    help = "Load the demo brands' jurisdictions and restrict one demo client (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        officer = User.objects.filter(email=OFFICER_EMAIL, is_active=True).first() or \
            User.objects.filter(role__code=RoleCode.COMPLIANCE, is_active=True).order_by("id").first()
        data = DEMO_FILE.read_bytes()
        with context.acting_as(officer, source="seed"):
            for brand in Brand.objects.order_by("id"):
                if Jurisdiction.objects.filter(brand=brand).exists():
                    self.stdout.write(f"compliance demo: {brand.code}: already has jurisdictions")
                    continue
                with transaction.atomic():
                    report = jurisdictions_load(brand=brand, data=data, name=DEMO_FILE.name, by=officer)
                    restricted = self._restrict_one(brand, officer)
                self.stdout.write(f"compliance demo: {brand.code}: jurisdictions {report}; "
                                  f"restricted client: {restricted or 'none'}")

    def _restrict_one(self, brand: Brand, officer: User | None) -> str:
        client = (Client.objects.filter(brand=brand, stage__in=[Stage.FUNDED, Stage.ACTIVE], country="NG")
                  .exclude(email_hash__in=keyed_hashes(PORTAL_DEMO_EMAIL, kind="email")).order_by("id").first()
                  or Client.objects.filter(brand=brand, stage__in=[Stage.FUNDED, Stage.ACTIVE])
                  .exclude(email_hash__in=keyed_hashes(PORTAL_DEMO_EMAIL, kind="email")).order_by("id").first())
        if client is None:
            return ""
        impose_restriction(client=client, kinds=[RestrictionKind.DEPOSIT, RestrictionKind.WITHDRAWAL],
                           reason="Source of funds under review (enhanced due diligence, high-risk jurisdiction)",
                           by=officer)
        return f"{client.full_name} ({client.code})"
