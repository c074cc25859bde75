"""The partner programme's demo data (`manage.py ib_seed_demo`): a three-level tree on the Atlas
brand, links with some clicks, and a few demo clients attributed from the day each was created
(funded or active clients first: those `trading_demo_setup` opens simulator accounts for).
Idempotent: partners are found by their contact email, links by their code, attributions are made
only for unattributed clients. The commissions part is ib.demo_commissions (its deals and runs wait
for the clients' trading accounts: `ib_seed_demo_commissions`, after `trading_demo_setup`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from crm.lib.fieldcrypt import keyed_hashes
from crm.models import Brand, Client, Stage
from ib import services
from ib.demo_commissions import seed_commissions
from ib.demo_types import SeedResult
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


def partners_of_demo(brand: Brand) -> list[Partner]:
    """The demo tree's partners on `brand`, as seeded (root first)."""
    hashes = [h for local, _name, _parent in TREE for h in keyed_hashes(f"{local}@{PARTNER_DOMAIN}", kind="email")]
    return list(Partner.objects.filter(brand=brand, contact_email_hash__in=hashes).order_by("path"))


@transaction.atomic
def seed_commissions_only() -> SeedResult:
    """Only the commissions part, for a demo tree seeded already (`ib_seed_demo_commissions`)."""
    result = SeedResult(counts={})
    brand = Brand.objects.filter(code=BRAND_CODE).first()
    partners = partners_of_demo(brand) if brand is not None else []
    if brand is None or not partners:
        result.note = "no demo partner tree: run ib_seed_demo first"
        return result
    result.note = seed_commissions(brand=brand, partners=partners, result=result)
    return result


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
        partner = Partner.objects.filter(brand=brand, contact_email_hash__in=keyed_hashes(email, kind="email")).first()
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
    if ClientAttribution.objects.filter(partner__in=partners.values()).count() < CLIENTS_PER_PARTNER:
        for index, person in enumerate(_clients_to_attribute(brand, CLIENTS_PER_PARTNER * len(partners), now)):
            partner = list(partners.values())[index % len(partners)]
            # From the client's creation: a month of its trading is then the partner's.
            services.client_attribution_import(actor=None, client=person, partner=partner,
                                               touched_at=person.created_at, reason="demo data")
            result.counts["attributions"] += 1
    result.counts["banners"] = _seed_banners(brand)
    result.counts["applications"] = _seed_applications(brand)
    seed_commissions(brand=brand, partners=list(partners.values()), result=result, now=now)
    return result


APPLICATIONS: tuple[dict[str, Any], ...] = (  # two prospects in the IB manager's queue
    {"company": "Nile Delta Traders", "website": "niledelta.example", "expected_clients": 30,
     "countries": ["EG", "SA"], "marketing_methods": ["social", "education"], "contact_name": "Karim Mansour",
     "contact_email": "karim@niledelta.example", "contact_phone": "+20 10 0123 4567", "kind": "ib",
     "marketing_note": "Weekly webinars in Arabic for about 2,000 followers."},
    {"company": "FX Review Hub", "website": "fxreviewhub.example", "expected_clients": 80,
     "countries": ["DE", "AT", "CH"], "marketing_methods": ["website", "paid_ads"], "contact_name": "Jana Weber",
     "contact_email": "jana@fxreviewhub.example", "contact_phone": "+49 30 901820", "kind": "affiliate"},
)


def _seed_applications(brand: Brand) -> int:
    """Pending partner applications, once (found by their contact address)."""
    from ib.models import PartnerApplication
    from ib.onboarding import partner_application_submit

    made = 0
    for values in APPLICATIONS:
        if PartnerApplication.objects.filter(brand=brand, contact_email_hash__in=keyed_hashes(values["contact_email"],
                                                                                              kind="email")).exists():
            continue
        partner_application_submit(brand=brand, agree=True, language="en", ip=f"demo-{made}", **values)
        made += 1
    return made


BANNERS = (("Leaderboard 728×90", 728, 90), ("Medium rectangle 300×250", 300, 250))


def _seed_banners(brand: Brand) -> int:
    """Two banners drawn here (the brand's name on its colour), once."""
    import io

    from PIL import Image, ImageDraw

    from ib.banners import banner_upload
    from ib.models import PartnerBanner

    made = 0
    for name, width, height in BANNERS:
        if PartnerBanner.objects.filter(brand=brand, name=name).exists():
            continue
        image = Image.new("RGB", (width, height), (22, 82, 160))
        draw = ImageDraw.Draw(image)
        draw.rectangle((4, 4, width - 5, height - 5), outline=(255, 196, 0), width=3)
        draw.text((16, height // 2 - 14), f"{brand.name}: trade FX and CFDs", fill=(255, 255, 255))
        draw.text((16, height // 2 + 4), "Open an account", fill=(255, 196, 0))
        out = io.BytesIO()
        image.save(out, format="PNG")
        banner_upload(actor=None, brand=brand, name=name, data=out.getvalue())
        made += 1
    return made


def _clients_to_attribute(brand: Brand, count: int, now: dt.datetime) -> list[Client]:
    """Unattributed clients: funded or active ones created before the previous month began (they
    get trading accounts, and their whole month is the partner's), newest first (the oldest tell
    the trading demo's retention stories), then any others."""
    attributed = ClientAttribution.objects.filter(client__brand=brand).values("client_id")
    free = Client.objects.filter(brand=brand).exclude(pk__in=attributed)
    month_ago = (now.replace(day=1) - dt.timedelta(days=1)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    picked = list(free.filter(stage__in=[Stage.FUNDED, Stage.ACTIVE], created_at__lt=month_ago)
                  .order_by("-created_at", "-pk")[:count])
    if len(picked) < count:
        picked += list(free.exclude(pk__in=[c.pk for c in picked]).order_by("pk")[: count - len(picked)])
    return picked
