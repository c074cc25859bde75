"""Checksums that show two runs of the demo made the same clients."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from demo.organisation import DEMO_BRAND_CODES, DESKS
from demo.plan import ClientPlan


def plan_checksum(plans: Iterable[ClientPlan]) -> str:
    """SHA-256 over what must not vary between runs: who each client is and where they are in the funnel."""
    digest = hashlib.sha256()
    for p in plans:
        digest.update(f"{p.email}|{p.first_name}|{p.last_name}|{p.country}|{p.language}|{p.stage}|"
                      f"{p.brand}|{p.desk}|{p.owner}|{p.phone}\n".encode())
    return digest.hexdigest()


def clients_checksum(rows: Iterable[tuple[str, str, str, str, str, str, str, str | None, str | None, str]]) -> str:
    """The same checksum computed from the database (see `database_checksum`)."""
    digest = hashlib.sha256()
    for email, first, last, country, language, stage, brand, desk, owner, phone in rows:
        digest.update(f"{email}|{first}|{last}|{country}|{language}|{stage}|{brand}|{desk}|{owner}|{phone}\n".encode())
    return digest.hexdigest()


def database_checksum() -> str:
    """`plan_checksum` of the demo clients as stored, in creation order."""
    from crm.models import Client

    rows = []
    qs = (Client.objects.filter(brand__code__in=DEMO_BRAND_CODES).order_by("id")
          .values_list("email", "first_name", "last_name", "country", "language", "stage", "brand__code",
                       "desk__name", "owner__email", "phone"))
    desk_keys = {d.name: d.key for d in DESKS}
    for email, first, last, country, language, stage, brand, desk_name, owner_email, phone in qs:
        rows.append((email, first, last, country, language, stage, brand, desk_keys.get(desk_name) if desk_name
                     else None, owner_email, phone))
    return clients_checksum(rows)
