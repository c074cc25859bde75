"""The partner programme's demo data (`manage.py ib_seed_demo`): a three-level tree on the Atlas
brand, links with some clicks, and a few demo clients attributed. Idempotent: partners are found
by their contact email, links by their code, attributions are made only for unattributed clients."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from crm.models import Brand, Client
from ib import services
from ib.models import Click, ClientAttribution, Partner, PartnerLogin, TrackingLink

BRAND_CODE = "atlas"
PARTNER_DOMAIN = "partners.demo-broker.example"
LOGIN_EMAIL = f"amir.sayed@{PARTNER_DOMAIN}"
LOGIN_PASSWORD = "harbour-lantern-5831"  # noqa: S105 - the demo partner's published password
TREE = (  # (email local part, name, parent local part)
    ("amir.sayed", "Sayed Capital (master IB)", None),
    ("nora.klein", "Klein Trading Club", "amir.sayed"),
    ("omar.farouk", "Farouk Signals", "amir.sayed"),
    ("lea.martin", "Martin FX Academy", "nora.klein"),
)
LINKS = (  # (partner local part, code, campaign)
    ("amir.sayed", "sayed01", "youtube"),
    ("nora.klein", "klein01", "webinar"),
    ("omar.farouk", "farouk01", "telegram"),
    ("lea.martin", "martin01", "academy"),
)
CLICKS_PER_LINK = 5
CLIENTS_PER_PARTNER = 2


@dataclass
class SeedResult:
    counts: dict[str, int] = field(default_factory=dict)
    logins: list[tuple[str, str, str]] = field(default_factory=list)
    note: str = ""


@transaction.atomic
def seed() -> SeedResult:
    result = SeedResult(counts={"partners": 0, "links": 0, "clicks": 0, "attributions": 0})
    brand = Brand.objects.filter(code=BRAND_CODE).first()
    if brand is None:
        result.note = f"no brand {BRAND_CODE!r}: run seed_demo first"
        return result
    if not Partner.objects.filter(brand=brand).exists():
        services.partner_program_set(actor=None, brand=brand, landing_domains=["demo-broker.example"])
    partners: dict[str, Partner] = {}
    for local, name, parent in TREE:
        email = f"{local}@{PARTNER_DOMAIN}"
        partner = Partner.objects.filter(brand=brand, contact_email=email).first()
        if partner is None:
            partner = services.partner_create(actor=None, brand=brand, display_name=name, email=email,
                                              parent=partners.get(parent or ""))
            result.counts["partners"] += 1
        partners[local] = partner
    master = partners["amir.sayed"]
    if not PartnerLogin.objects.filter(partner=master).exists():
        services.partner_login_set_password(partner=master, password=LOGIN_PASSWORD)
    result.logins.append(("ib_partner", LOGIN_EMAIL, LOGIN_PASSWORD))
    now = timezone.now()
    for local, code, campaign in LINKS:
        link = TrackingLink.objects.filter(code=code).first()
        if link is None:
            link = services.tracking_link_create(actor=None, partner=partners[local], code=code, campaign=campaign,
                                                 landing_url="/")
            result.counts["links"] += 1
            Click.objects.bulk_create([
                Click(link=link, at=now - dt.timedelta(hours=7 * i + 1), ip_hash=f"demo{i}",
                      user_agent="Mozilla/5.0 (demo)", referer="https://www.youtube.com/" if i % 2 else "")
                for i in range(CLICKS_PER_LINK)])
            result.counts["clicks"] += CLICKS_PER_LINK
    attributed = ClientAttribution.objects.filter(client__brand=brand).values("client_id")
    free = list(Client.objects.filter(brand=brand).exclude(pk__in=attributed).order_by("pk")
                [: CLIENTS_PER_PARTNER * len(partners)])
    if ClientAttribution.objects.filter(partner__in=partners.values()).count() < CLIENTS_PER_PARTNER:
        for index, person in enumerate(free):
            partner = list(partners.values())[index % len(partners)]
            services.client_attribution_import(actor=None, client=person, partner=partner,
                                               touched_at=max(person.created_at, now - dt.timedelta(days=20)),
                                               reason="demo data")
            result.counts["attributions"] += 1
    return result
