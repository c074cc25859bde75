"""What the complaints tests share: a brand with a support desk in Cyprus, a client, staff of each
role, and tickets opened through the ticket service."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from crm.models import RoleCode
from tests.factories import make_brand, make_client, make_user


def make_support_desk(brand: Any, *, code: str = "main", time_zone: str = "Asia/Nicosia", admin: Any = None) -> Any:
    """The brand's desk, set up by an administrator: Monday to Friday 09:00-18:00 in `time_zone`."""
    from support.models import default_business_hours
    from support.services import desk_save

    return desk_save(actor=admin or make_user(role_code=RoleCode.ADMIN), brand=brand, name=f"{brand.name} support",
                     code=code, time_zone=time_zone, business_hours=default_business_hours(),
                     support_address=f"support@{brand.code}.example.com")


def build_world(*, code: str = "atlas-c", name: str = "Atlas Complaints", language: str = "en") -> SimpleNamespace:
    brand = make_brand(code=code, name=name)
    desk = make_support_desk(brand)
    client = make_client(brand=brand, first_name="Laura", last_name="Fischer", email=f"laura@{code}.example.com",
                         language=language)
    return SimpleNamespace(
        brand=brand, desk=desk, client=client,
        agent=make_user(role_code=RoleCode.SUPPORT_AGENT, brand=brand, full_name="Sam Support"),
        officer=make_user(role_code=RoleCode.COMPLIANCE, brand=brand, full_name="Olga Officer"),
        finance=make_user(role_code=RoleCode.FINANCE, brand=brand, full_name="Fiona Finance"),
        admin=make_user(role_code=RoleCode.ADMIN, full_name="Ada Admin"),
    )


def open_ticket(world: SimpleNamespace, *, client: Any = None, category: str = "withdrawal",
                subject: str = "My withdrawal has not arrived") -> Any:
    from support.services import ticket_open

    client = client or world.client
    return ticket_open(brand=world.brand, category=category, subject=subject,
                       body="I asked for 250 USD ten days ago and nothing has arrived.", channel="portal",
                       client=client, requester_email=client.email, requester_name=client.full_name,
                       language=client.language or "en", actor=None)
