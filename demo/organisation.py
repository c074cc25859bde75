"""The demo's organisation: brands, desks and staff (with their demo logins)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from typing import Any

DEMO_BRAND_CODES = ("atlas", "nova")


@dataclass(frozen=True)
class BrandSpec:
    code: str
    name: str
    currency: str


BRANDS: tuple[BrandSpec, ...] = (
    BrandSpec("atlas", "Atlas Markets", "USD"),
    BrandSpec("nova", "Nova FX", "EUR"),
)


@dataclass(frozen=True)
class DeskSpec:
    key: str
    brand: str
    name: str
    kind: str
    countries: tuple[str, ...]
    languages: tuple[str, ...]
    timezone: str
    work_start: time
    work_end: time
    work_days: tuple[int, ...]


DESKS: tuple[DeskSpec, ...] = (
    DeskSpec("atlas-en", "atlas", "Atlas EN Sales", "sales",
             ("GB", "IE", "AU", "ZA", "NG", "KE", "NZ", "SG"), ("en",),
             "Europe/London", time(8, 0), time(18, 0), (1, 2, 3, 4, 5)),
    # The Gulf works Sunday to Thursday.
    DeskSpec("atlas-ar", "atlas", "Atlas Arabic Sales", "sales",
             ("AE", "SA", "KW", "QA", "BH", "OM", "EG", "JO"), ("ar",),
             "Asia/Dubai", time(9, 0), time(18, 0), (7, 1, 2, 3, 4)),
    DeskSpec("nova-ret", "nova", "Nova Retention", "retention",
             ("DE", "AT", "CH", "IT", "ES", "FR", "PL", "NL", "PT", "SE"),
             ("de", "it", "es", "fr", "pl", "nl", "pt", "sv", "en"),
             "Europe/Berlin", time(8, 0), time(20, 0), (1, 2, 3, 4, 5)),
)


@dataclass(frozen=True)
class StaffSpec:
    role: str
    full_name: str
    email: str
    password: str
    desk: str | None = None
    brands: tuple[str, ...] = ()
    all_brands: bool = False
    language: str = "en"
    timezone: str = "UTC"
    manages: str | None = None


STAFF_DOMAIN = "demo-broker.example"


def _staff(role: str, full_name: str, local: str, password: str, **kw: Any) -> StaffSpec:
    return StaffSpec(role=role, full_name=full_name, email=f"{local}@{STAFF_DOMAIN}", password=password, **kw)


# Demo passwords: long enough for the password rules, not common, unlike the user's name and email.
STAFF: tuple[StaffSpec, ...] = (
    _staff("admin", "Grace Holloway", "grace.holloway", "quartz-harbour-4821", all_brands=True,
           timezone="Europe/London"),
    _staff("desk_manager", "Oliver Grant", "oliver.grant", "copper-meadow-7305", desk="atlas-en",
           brands=("atlas",), timezone="Europe/London", manages="atlas-en"),
    _staff("desk_manager", "Layla Haddad", "layla.haddad", "saffron-dune-2648", desk="atlas-ar",
           brands=("atlas",), language="ar", timezone="Asia/Dubai", manages="atlas-ar"),
    _staff("desk_manager", "Marco Bianchi", "marco.bianchi", "olive-tramway-5192", desk="nova-ret",
           brands=("nova",), timezone="Europe/Berlin", manages="nova-ret"),
    _staff("sales_agent", "Emily Carter", "emily.carter", "maple-signal-3957", desk="atlas-en",
           brands=("atlas",), timezone="Europe/London"),
    _staff("sales_agent", "Thabo Nkosi", "thabo.nkosi", "baobab-river-6140", desk="atlas-en",
           brands=("atlas",), timezone="Africa/Johannesburg"),
    _staff("sales_agent", "Liam Murphy", "liam.murphy", "granite-kettle-8273", desk="atlas-en",
           brands=("atlas",), timezone="Europe/Dublin"),
    _staff("sales_agent", "Omar Khalil", "omar.khalil", "falcon-oasis-4716", desk="atlas-ar",
           brands=("atlas",), language="ar", timezone="Asia/Dubai"),
    _staff("sales_agent", "Noura Al-Mutairi", "noura.almutairi", "pearl-lantern-3089", desk="atlas-ar",
           brands=("atlas",), language="ar", timezone="Asia/Kuwait"),
    _staff("retention_agent", "Sofia Lindqvist", "sofia.lindqvist", "birch-harbor-5524", desk="nova-ret",
           brands=("nova",), timezone="Europe/Stockholm"),
    _staff("retention_agent", "Matteo Russo", "matteo.russo", "cypress-piazza-9061", desk="nova-ret",
           brands=("nova",), timezone="Europe/Rome"),
    _staff("compliance", "Priya Raman", "priya.raman", "ledger-orchid-7742", brands=("atlas", "nova"),
           timezone="Europe/London"),
    _staff("finance", "Henrik Larsen", "henrik.larsen", "fjord-abacus-3318", brands=("atlas", "nova"),
           timezone="Europe/Copenhagen"),
    # Brand-limited on purpose: Atlas runs the IB programme, and the demo shows a one-brand user.
    _staff("ib_manager", "Wei Chen", "wei.chen", "bamboo-bridge-6205", brands=("atlas",),
           timezone="Asia/Singapore"),
    _staff("dealer", "Viktor Petrov", "viktor.petrov", "anchor-candle-9437", brands=("atlas", "nova"),
           timezone="Asia/Nicosia"),
)

ROLE_ORDER = ("admin", "desk_manager", "sales_agent", "retention_agent", "compliance", "finance",
              "ib_manager", "dealer")


def staff_sorted() -> list[StaffSpec]:
    return sorted(STAFF, key=lambda s: (ROLE_ORDER.index(s.role), STAFF.index(s)))
