"""Fixtures shared by the UI tests (tests/crm/test_ui_*.py import them)."""

from __future__ import annotations

import pytest

from crm.models import RoleCode
from tests.factories import make_brand, make_client, make_desk, make_user


@pytest.fixture
def scene(db):
    """Brand A with one desk: an owner agent, a colleague agent on the same desk, the desk's manager
    and an IB manager (sees the brand, may not reveal contacts); brand B with an outsider agent."""
    brand_a, brand_b = make_brand(name="Alpha Markets"), make_brand(name="Beta FX")
    desk = make_desk(brand=brand_a, name="London sales")
    desk_b = make_desk(brand=brand_b, name="Dubai sales")
    owner = make_user(role_code=RoleCode.SALES_AGENT, desk=desk, full_name="Olivia Owner")
    colleague = make_user(role_code=RoleCode.SALES_AGENT, desk=desk, full_name="Colin Colleague")
    manager = make_user(role_code=RoleCode.DESK_MANAGER, desk=desk, full_name="Mona Manager")
    ib_manager = make_user(role_code=RoleCode.IB_MANAGER, brand=brand_a, full_name="Ivan Ib")
    outsider = make_user(role_code=RoleCode.SALES_AGENT, desk=desk_b, full_name="Otto Outsider")
    client = make_client(
        actor=owner, first_name="Amira", last_name="Haddad", email="amira.haddad@example.com",
        phone="+442071838750", country="GB", language="ar", timezone="Europe/London",
        source="landing", campaign="spring", utm_source="google", tags=["vip"],
    )
    return {
        "brand_a": brand_a, "brand_b": brand_b, "desk": desk, "desk_b": desk_b, "owner": owner,
        "colleague": colleague, "manager": manager, "ib_manager": ib_manager, "outsider": outsider,
        "client": client,
    }


def htmx_headers(**extra: str) -> dict[str, str]:
    return {"HTTP_HX_REQUEST": "true", **{f"HTTP_{k.upper()}": v for k, v in extra.items()}}
