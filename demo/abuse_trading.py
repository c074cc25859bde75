"""The trading-abuse demo (`manage.py monitoring_seed_demo_trading`), built through the services: two
people registering in the trader's room from one IP with one browser (multi-accounting), and a
partner five of whose referred clients signed up from one IP (a client ring); the detectors then run
and raise their alerts. Idempotent: a second run finds the people there and raises nothing new."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.utils import timezone

from crm.lib.fieldcrypt import keyed_hashes
from crm.models import Brand, Client
from plumbing.context import ActorContext, acting

DOMAIN = "abuse-demo.example"
PASSWORD = "Demo-abuse-2026!"  # noqa: S105 - demo clients' trader's-room password
TWIN_IP = "203.0.113.41"
TWIN_BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0 (demo twin)"
RING_IP = "198.51.100.77"
RING_SIZE = 5


@dataclass
class DemoResult:
    created: bool
    findings: dict[str, int] = field(default_factory=dict)


def _register(brand: Brand, n: str, phone: str, *, ip: str, ua: str, referrer: str = "") -> None:
    from portal.services import portal_register

    with acting(ActorContext(ip=ip, user_agent=ua, source="web")):
        portal_register(brand=brand, language="en", first_name=f"Demo {n}", last_name="Trader",
                        email=f"{n}@{DOMAIN}", phone=phone, country="DE", date_of_birth=dt.date(1988, 5, 4),
                        password=PASSWORD, accept_terms=True, accept_privacy=True,
                        attribution={"referrer_code": referrer} if referrer else None, ip=ip, user_agent=ua)


def monitoring_seed_demo_trading(*, brand: Brand) -> DemoResult:
    from crm.events import dispatch_pending
    from ib.services import partner_create, tracking_link_create
    from monitoring.abuse_detectors import abuse_scan

    created = not Client.objects.filter(brand=brand, email_hash__in=keyed_hashes(f"twin-a@{DOMAIN}", kind="email")).exists()
    if created:
        _register(brand, "twin-a", "+4915190000001", ip=TWIN_IP, ua=TWIN_BROWSER)
        _register(brand, "twin-b", "+4915190000002", ip=TWIN_IP, ua=TWIN_BROWSER)
        partner = partner_create(actor=None, brand=brand, display_name="Ring Affiliates (demo)",
                                 email=f"ring-partner@{DOMAIN}")
        code = tracking_link_create(partner=partner, kind="code").code
        for i in range(RING_SIZE):
            _register(brand, f"ring-{i}", f"+49151900001{i:02d}", ip=RING_IP, ua=f"Mozilla/5.0 (demo ring phone {i})", referrer=code)
        dispatch_pending()  # the partner's attributions follow the registrations' events
    findings = abuse_scan(day=timezone.now().date(), names=("multi_accounting", "client_ring"), brand_id=brand.pk)
    return DemoResult(created=created, findings=findings)
