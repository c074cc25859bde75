"""Fixtures for the leads tests: a brand with a desk that is always open, agents and a fallback rule,
all made through the services."""

from __future__ import annotations

from datetime import time
from types import SimpleNamespace
from typing import Any

import pytest

from crm.models import RoleCode
from leads.models import RoutingStrategy, RoutingTarget
from leads.services import routing_rule_save
from tests.factories import make_brand, make_desk, make_user

ALWAYS_OPEN: dict[str, Any] = {"work_start": time(0, 0), "work_end": time(23, 59, 59, 999999),
                               "work_days": [1, 2, 3, 4, 5, 6, 7]}


def lead_data(n: int = 1, **overrides: Any) -> dict[str, Any]:
    """Valid lead input; `n` makes the email and phone distinct."""
    data = {
        "first_name": "Amira", "last_name": f"Haddad{n}", "email": f"amira.{n}@example.com",
        "phone": uk_phone(n), "country": "GB",
    }
    data.update(overrides)
    return data


def uk_phone(n: int) -> str:
    # +44 20 7xxx xxxx: valid London numbers for any n below 10,000,000.
    return f"+44207{n:07d}"


@pytest.fixture(autouse=True)
def _fresh_lead_config():
    """Intake caches each brand's configuration per process; tests change it between leads."""
    from leads.config import config_clear

    config_clear()
    yield
    config_clear()


@pytest.fixture
def world(db):
    brand = make_brand(code="acme")
    admin = make_user(role_code=RoleCode.ADMIN)
    manager = make_user(role_code=RoleCode.DESK_MANAGER, brand=brand)
    desk = make_desk(brand=brand, name="Sales EN", manager=manager, **ALWAYS_OPEN)
    agents = [make_user(role_code=RoleCode.SALES_AGENT, desk=desk, full_name=f"Agent {c}") for c in "ABC"]
    fallback = routing_rule_save(actor=admin, brand=brand, name="Everyone else", target_kind=RoutingTarget.DESK,
                                 target_desk=desk, strategy=RoutingStrategy.ROUND_ROBIN, is_fallback=True)
    return SimpleNamespace(brand=brand, admin=admin, manager=manager, desk=desk, agents=agents, fallback=fallback)
