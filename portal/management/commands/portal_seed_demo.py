"""The trader's room's demo: consent documents (terms, privacy, marketing v1 in English and Arabic),
the countries each demo brand serves, and one client login with a verified address. Idempotent.

Prints `LOGIN client <email> <password>` (demo.runner shows it with the staff logins)."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from crm.models import Brand
from portal import services
from portal.models import ClientLogin, ConsentDocument, ConsentKind
from portal.selectors import login_find

DEMO_EMAIL = "alex.morgan@demo-client.example"
DEMO_PASSWORD = "lantern-orchard-6284"  # noqa: S105 - a demo password, printed on purpose
DEMO_BRAND = "atlas"

SERVED: dict[str, list[str]] = {
    "atlas": ["AE", "BH", "DE", "EG", "ES", "FR", "GB", "IE", "IT", "JO", "KW", "MA", "NL", "OM", "QA", "SA", "ZA"],
    "nova": ["AT", "BE", "CH", "DE", "ES", "FR", "IT", "LU", "NL", "PL", "PT", "SE"],
}

DOCUMENTS: dict[str, dict[str, tuple[str, str]]] = {
    ConsentKind.TERMS: {
        "en": ("Terms and conditions", "These are the demo terms and conditions of {brand}."),
        "ar": ("الشروط والأحكام", "هذه هي الشروط والأحكام التجريبية لدى {brand}."),
    },
    ConsentKind.PRIVACY: {
        "en": ("Privacy policy", "How {brand} keeps and uses your personal data (demo text)."),
        "ar": ("سياسة الخصوصية", "كيف تحفظ {brand} بياناتك الشخصية وتستخدمها (نص تجريبي)."),
    },
    ConsentKind.MARKETING: {
        "en": ("Marketing messages", "{brand} may send you news and offers by email and phone."),
        "ar": ("الرسائل التسويقية", "قد ترسل لك {brand} الأخبار والعروض عبر البريد الإلكتروني والهاتف."),
    },
}


def demo_login_ensure(*, brand: Brand, first_name: str, last_name: str, email: str, phone: str, born: date,
                      password: str) -> tuple[ClientLogin | None, bool]:
    """The demo client's login of `brand`, registered (consents given, no marketing) and its e-mail
    verified unless it was already; and whether it was registered now."""
    login = login_find(brand=brand, email=email)
    created = login is None
    if login is None:
        login = services.portal_register(
            brand=brand, language="en", first_name=first_name, last_name=last_name, email=email, phone=phone,
            country="GB", date_of_birth=born, password=password, accept_terms=True, accept_privacy=True,
            accept_marketing=False, attribution={"utm_source": "demo", "utm_medium": "seed"}).login
    if login is not None and not login.email_verified:
        services.portal_email_verify(token=services.verification_token(login))
    return login, created


class Command(BaseCommand):
    help = "Seed the trader's room demo (documents, served countries, a client login). Idempotent."

    def handle(self, *args: Any, **options: Any) -> None:
        brands = {b.code: b for b in Brand.objects.filter(code__in=SERVED)}
        with transaction.atomic():
            for code, brand in brands.items():
                if not brand.served_countries:
                    brand.served_countries = SERVED[code]
                    brand.save(update_fields=["served_countries"])
                for kind, texts in DOCUMENTS.items():
                    for language, (title, body) in texts.items():
                        ConsentDocument.objects.get_or_create(
                            brand=brand, kind=kind, version="1", language=language,
                            defaults={"title": title, "body": body.format(brand=brand.name)})
        demo_brand = brands.get(DEMO_BRAND)
        if demo_brand is None:
            self.stdout.write("portal demo: skipped (no demo brand; run seed_demo first)")
            return
        demo_login_ensure(brand=demo_brand, first_name="Alex", last_name="Morgan", email=DEMO_EMAIL,
                          phone="+442071838123", born=date(1988, 5, 14), password=DEMO_PASSWORD)
        self.stdout.write(f"LOGIN client {DEMO_EMAIL} {DEMO_PASSWORD}")
