"""`manage.py trading_seed_demo_platforms`: the demo's brands on cTrader, Match-Trader, Sirix and MT4.

One brand per platform besides MT5 (``trading_demo_setup.FACES``: Orion Trade on cTrader, Meridian
Markets on Match-Trader, Halcyon Capital on Sirix, Granite FX on MT4 through the bridge), each made with ``brand_create`` and given a few registered clients
(``client_create``); the staff who work across the demo's brands (compliance, finance, the dealer)
are given the new brands the way an administrator's staff page does (``user_update``), so that they
see the accounts of every platform side by side. Each brand gets its leverage caps (the EU, the EEA
and the UK's retail clients at most 1:30, ``trading_demo_setup.CAP_RULES``) and the example
appropriateness questionnaire (``kyc_questionnaire_seed``), as the MT5 brands have. Needs no
simulator: `make run` then starts a simulator face for each of these brands and ``trading_demo_setup
--face ...`` opens their accounts.
Idempotent: a brand or client that exists is left as it is.
"""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand

from crm.lib.fieldcrypt import keyed_hashes
from crm.models import Brand, Client, RoleCode, Stage, User
from crm.services import brand_create, client_create
from crm.staff_services import user_update
from plumbing import context
from trading.management.commands.trading_demo_setup import FACES, brand_caps_seed
from trading.models import LeverageCap

# (first name, last name, country) of each platform brand's demo clients.
CLIENTS = {
    "ctrader": (("Lena", "Hoffmann", "CY"), ("Omar", "Haddad", "AE"), ("Kofi", "Mensah", "GH"),
                ("Sofia", "Marin", "CL")),
    "matchtrader": (("Arjun", "Nair", "IN"), ("Mei", "Tanaka", "SG"), ("Tomas", "Novak", "ZA"),
                    ("Zara", "Ali", "MY")),
    "sirix": (("Ingrid", "Berg", "NO"), ("Rafael", "Costa", "BR"), ("Amina", "Diallo", "SN"),
              ("Hiroshi", "Sato", "JP")),
    "mt4bridge": (("Elena", "Petrova", "BG"), ("Samuel", "Okafor", "NG"), ("Lucia", "Romero", "MX"),
                  ("Niko", "Virtanen", "FI")),
}
# Brand-limited staff who see every demo brand's trading: they get the platform brands too.
CROSS_BRAND_ROLES = (RoleCode.COMPLIANCE, RoleCode.FINANCE, RoleCode.DEALER)


class Command(BaseCommand):
    help = "The demo's brands on cTrader, Match-Trader, Sirix and MT4 with a few clients (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        made: list[str] = []
        with context.acting_as(None, source="seed"):
            for name, face in FACES.items():
                brand = Brand.objects.filter(code=face.brand_code).first()
                if brand is None:
                    brand = brand_create(actor=None, code=face.brand_code, name=face.brand_name,
                                         default_currency=face.currency)
                    made.append(f"{brand.name} ({face.label})")
                for first, last, country in CLIENTS[name]:
                    email = f"{first}.{last}@{face.brand_code}.demo.example".lower()
                    if not Client.objects.filter(brand=brand, email_hash__in=keyed_hashes(email, kind="email")).exists():
                        client_create(actor=None, brand=brand, first_name=first, last_name=last, email=email,
                                      country=country, stage=Stage.REGISTERED, source="demo")
                if not LeverageCap.objects.filter(brand=brand).exists():
                    brand_caps_seed(brand)
                self._staff_access(brand)
            # The questionnaire is kyc's: its own loader, which gives one to every brand without.
            call_command("kyc_questionnaire_seed", stdout=self.stdout)
        if made:
            self.stdout.write(f"platforms demo: {', '.join(made)} added with their clients")
        else:
            self.stdout.write("platforms demo: the brands on the other platforms are already present")

    @staticmethod
    def _staff_access(brand: Brand) -> None:
        admin = (User.objects.filter(is_active=True, all_brands=True, role__code=RoleCode.ADMIN)
                 .order_by("id").first())
        if admin is None:  # no demo staff (a bare database): nobody to give the brand to
            return
        staff = (User.objects.filter(is_active=True, all_brands=False, role__code__in=CROSS_BRAND_ROLES)
                 .exclude(brands=brand).order_by("id"))
        for user in staff:
            user_update(actor=admin, user=user, brands=[*user.brands.all(), brand],
                        reason="Demo: the brands on the other platforms")
