from __future__ import annotations

from types import SimpleNamespace

import pytest

PASSWORD = "Tr0pical-Heron-4471"


@pytest.fixture
def ib(db):
    """A brand with an IB manager, an agent, a master IB with two sub-IBs and a sub-sub-IB, all
    built through the services; links on example.com (an allowed landing domain)."""
    from ib import services
    from tests.factories import make_brand, make_desk, make_user

    brand = make_brand()
    manager = make_user(role_code="ib_manager", brand=brand)
    agent = make_user(role_code="sales_agent", desk=make_desk(brand=brand))
    services.partner_program_set(actor=None, brand=brand, landing_domains=["example.com"])
    master = services.partner_create(actor=manager, brand=brand, display_name="Master IB", email="master@ib.example")
    sub_a = services.partner_create(actor=manager, brand=brand, display_name="Sub A", email="a@ib.example",
                                    parent=master)
    sub_b = services.partner_create(actor=manager, brand=brand, display_name="Sub B", email="b@ib.example",
                                    parent=master)
    leaf = services.partner_create(actor=manager, brand=brand, display_name="Leaf", email="leaf@ib.example",
                                   parent=sub_a)
    return SimpleNamespace(brand=brand, manager=manager, agent=agent, master=master, sub_a=sub_a, sub_b=sub_b,
                           leaf=leaf, services=services)
