"""The compliance officers' demo screening (`manage.py compliance_seed_demo`): a demo OFAC-layout list
loaded from the files in demo/data/watchlists (the fixtures' layout: sdn.csv, alt.csv, add.csv), a few
Atlas clients whose names resemble its entries (the way clients type them: another transliteration,
no patronymic, a former name), and the re-screening the load sets off, so that the screening queue
has hits waiting; a second compliance officer, for the decisions that need two.

Everything goes through the services (client_create, watchlist_load, clients_rescreen_version):
the hits, their events and the audit rows are what the product makes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from django.db import transaction

from compliance.selectors import watchlist_load_allowed, watchlist_names
from compliance.services import SourceFile, clients_rescreen_version, watchlist_load
from crm.models import Brand, RoleCode, User

DEMO_LIST = "OFAC SDN (demo)"
DATA = Path(__file__).resolve().parent / "data" / "watchlists"
SECOND_OFFICER = ("Karim Haddad", "karim.haddad@demo-broker.example", "cedar-ledger-5831")


@dataclass(frozen=True)
class DemoPerson:
    first_name: str
    last_name: str
    email: str
    country: str
    born: date | None


# Each resembles an entry of the demo list; the queue shows why (token by token) and the score.
PEOPLE = (
    DemoPerson("Sergei", "Petrov", "sergei.petrov@example.net", "RU", date(1960, 1, 12)),  # transliteration, DOB agrees
    DemoPerson("Hamzah", "Al Rasheed", "hamzah.rasheed@example.net", "AE", None),  # an alias, no DOB to compare
    DemoPerson("Serge", "Petroff", "serge.petroff@example.net", "FR", date(1961, 4, 2)),  # a former name
    DemoPerson("Jong-un", "Kim", "jong.kim@example.net", "KR", None),  # word order, hyphen
)


def _second_officer(admin: User | None) -> tuple[User, bool]:
    from crm.services import user_create

    name, email, password = SECOND_OFFICER
    existing = User.objects.filter(email__iexact=email).first()
    if existing is not None:
        return existing, False
    return user_create(actor=admin, email=email, full_name=name, role_code=RoleCode.COMPLIANCE, password=password,
                       all_brands=True, timezone="Asia/Dubai"), True


def compliance_seed_demo(*, brand: Brand, admin: User | None, officer: User | None) -> dict[str, int]:
    """Load the demo list and raise its hits; nothing when the demo list is already there."""
    from crm.services import client_create

    if DEMO_LIST in watchlist_names():
        return {}
    with transaction.atomic():
        _, created = _second_officer(admin)
        owner = User.objects.filter(is_active=True, role__code=RoleCode.SALES_AGENT, brands=brand).order_by("id").first()
        for person in PEOPLE:
            client_create(actor=owner, brand=brand, first_name=person.first_name, last_name=person.last_name,
                          email=person.email, country=person.country, date_of_birth=person.born, stage="registered")
        files = [SourceFile(name, (DATA / name).read_bytes()) for name in ("sdn.csv", "alt.csv", "add.csv")]
        # A list is global: loaded by the officer when they work for every brand, else by the administrator.
        loader = officer if officer is not None and watchlist_load_allowed(officer) else admin
        version = watchlist_load(name=DEMO_LIST, fmt="ofac-csv", files=files, actor=loader)
    # As the worker would after the load's commit; run here so that the hits are there when the CRM opens.
    report = clients_rescreen_version(version_id=version.pk)
    return {"entries": version.entry_count, "clients": report.clients, "hits": report.raised,
            "officer_created": int(created)}
