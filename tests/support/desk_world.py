"""What the ticket and desk tests share: a brand with a desk in Cyprus (Monday to Friday 09:00-18:00,
SLA policies), staff of each role, clients, and tickets opened through the services."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

from crm.models import RoleCode
from tests.factories import make_brand, make_client, make_user


def png_file(name: str = "screen.png") -> Any:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, format="PNG")
    out.seek(0)
    out.name = name
    return out


def build_desk_world(*, code: str = "helios", name: str = "Helios Markets") -> SimpleNamespace:
    from support import services

    brand = make_brand(code=code, name=name)
    admin = make_user(role_code=RoleCode.ADMIN, full_name="Ada Admin")
    manager = make_user(role_code=RoleCode.DESK_MANAGER, brand=brand, full_name="Mia Manager")
    desk = services.desk_save(actor=admin, brand=brand, name="Helios support", code="main",
                              time_zone="Asia/Nicosia",
                              business_hours={d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
                              manager=manager, support_address=f"support@{code}.example.com")
    services.sla_policy_save(actor=admin, desk=desk, priority="normal", first_response_minutes=60,
                             resolution_minutes=480)
    services.sla_policy_save(actor=admin, desk=desk, priority="urgent", first_response_minutes=15,
                             resolution_minutes=120)
    agent = make_user(role_code=RoleCode.SUPPORT_AGENT, brand=brand, full_name="Sam Support")
    sales = make_user(role_code=RoleCode.SALES_AGENT, brand=brand, full_name="Sal Sales")
    other_sales = make_user(role_code=RoleCode.SALES_AGENT, brand=brand, full_name="Otto Other")
    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=brand, full_name="Olga Officer")
    client = make_client(brand=brand, first_name="Laura", last_name="Fischer", email=f"laura@{code}.example.com",
                         language="en", owner=sales)
    return SimpleNamespace(brand=brand, desk=desk, admin=admin, manager=manager, agent=agent, sales=sales,
                           other_sales=other_sales, officer=officer, client=client)


def open_ticket(world: SimpleNamespace, *, client: Any = None, category: str = "withdrawal",
                subject: str = "My withdrawal has not arrived", **extra: Any) -> Any:
    from support import services

    client = world.client if client is None else client
    extra.setdefault("channel", "portal")
    return services.ticket_open(brand=world.brand, category=category, subject=subject,
                                body="I asked for 250 USD ten days ago and nothing has arrived.",
                                client=client or None, requester_email=client.email if client else "x@example.com",
                                requester_name=client.full_name if client else "Unknown Sender",
                                language=(client.language if client else "") or "en", actor=None, **extra)
