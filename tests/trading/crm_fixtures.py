"""Fixtures for the CRM side of trading (services, sync, pages) against the simulator subprocess.

Everything is built through the real services: the server with `platform_server_save`, accounts
with `trading_account_open` (a real `/api/user/add` on the simulator), money with
`balance_operation_request`. Test modules import the fixtures they use from here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from tests.factories import make_brand, make_client, make_desk, make_user
from tests.trading.conftest import MANAGER_LOGIN, MANAGER_PASSWORD, SERVER_TZ_MINUTES, Simulator

ACCOUNT_TYPES = {
    "standard": {"label": "Standard", "group": "real\\standard", "leverages": [50, 100, 200, 500], "currency": "USD"},
    "pro": {"label": "Pro", "group": "real\\pro", "leverages": [50, 100, 200], "currency": "USD"},
    "demo": {"label": "Demo", "group": "demo\\standard", "leverages": [100, 500], "demo": True, "currency": "USD"},
}
CLOSE_ONLY = {"real\\standard": "real\\standard-closeonly", "real\\pro": "real\\pro-closeonly"}


def server_values(sim: Simulator, brand: Any, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "brand": brand, "name": f"MT5 {brand.code}", "kind": "mt5_web", "is_active": True, "host": "127.0.0.1",
        "port": sim.port, "manager_login": MANAGER_LOGIN, "ca_file": sim.ca_file, "verify_tls": True,
        "timeout_seconds": 3, "server_tz": "", "server_tz_offset_minutes": SERVER_TZ_MINUTES,
        "terminal_path": "", "account_types": ACCOUNT_TYPES, "close_only_groups": CLOSE_ONLY,
        "sync_enabled": True, "deal_poll_seconds": 15, "state_poll_seconds": 30, "deal_overlap_seconds": 3600,
        "deal_visibility_lag_seconds": 1800, "reconcile_days": 30, "inactivity_days": 30,
        "sync_lag_alert_seconds": 300, "margin_call_enter_level": Decimal("100"),
        "margin_call_leave_level": Decimal("150"),
    }
    values.update(overrides)
    return values


def make_server(sim: Simulator, brand: Any, **overrides: Any) -> Any:
    from trading.services import platform_server_save

    return platform_server_save(actor=None, manager_password=MANAGER_PASSWORD,
                                **server_values(sim, brand, **overrides))


def open_account(world: Any, client: Any = None, *, account_type: str = "standard", leverage: int | None = 100,
                 deposit: str | None = "10000", persona: str = "") -> Any:
    """An account opened through the service, funded through a balance operation, with a persona."""
    from trading.services import balance_operation_request, balance_operation_send, trading_account_open

    account = trading_account_open(actor=None, client=client or world.client, server=world.server,
                                   account_type=account_type, leverage=leverage, send_credentials=False)
    if deposit:
        op = balance_operation_request(actor=None, account=account, kind="balance", amount=Decimal(deposit),
                                       send=False)
        op = balance_operation_send(operation_id=op.pk)
        assert op.state == "applied", op.error
    if persona:
        world.sim.control("/_sim/persona", {"login": account.login, "persona": persona})
    return account


def sim_now(sim: Simulator) -> dt.datetime:
    return dt.datetime.fromtimestamp(sim.control("/_sim/status")["now_utc_msc"] / 1000, dt.UTC)


def truth_deals(sim: Simulator, logins: set[int]) -> tuple[dict[int, str], set[int]]:
    """The simulator's visible deals of `logins` by id -> content hash, and its deleted deal ids."""
    from trading.adapters.mt5_web import MT5WebAdapter

    truth = sim.truth()
    parser = MT5WebAdapter(sim.config())
    deals = (parser._deal(w) for w in truth["deals"] if w["_visible"])
    return ({d.deal_id: d.content_hash for d in deals if d.login in logins}, set(truth["deleted_deals"]))


def crm_deals(server: Any) -> tuple[dict[int, str], set[int]]:
    """The CRM's live deals of `server` by id -> content hash, and the ids it marked deleted."""
    from trading.models import Deal

    live = dict(Deal.objects.filter(server=server, deleted_at__isnull=True).values_list("deal_id", "content_hash"))
    deleted = set(Deal.objects.filter(server=server, deleted_at__isnull=False).values_list("deal_id", flat=True))
    return live, deleted


def events(name: str, **filters: Any) -> list[Any]:
    from crm.models import Event

    return list(Event.objects.filter(name=name, **filters).order_by("id"))


@pytest.fixture(autouse=True)
def _fresh_adapters() -> Iterator[None]:
    """Adapters are cached per process; close them after each test (their simulator may be gone)."""
    from trading.registry import adapters_reset

    yield
    adapters_reset()


@pytest.fixture
def world(db: Any, quiet_sim: Simulator) -> SimpleNamespace:
    """A brand with a server on the module's simulator; an agent who owns `client`, a colleague on
    the same desk, an outsider of another brand, a dealer, a finance officer and an administrator."""
    brand = make_brand()
    desk = make_desk(brand=brand)
    owner = make_user(role_code="sales_agent", desk=desk)
    colleague = make_user(role_code="sales_agent", desk=desk)
    outsider = make_user(role_code="sales_agent", desk=make_desk(brand=make_brand()))
    dealer = make_user(role_code="dealer", brand=brand)
    finance = make_user(role_code="finance", brand=brand)
    admin = make_user(role_code="admin")
    client = make_client(actor=owner, email="trader@example.com", stage="funded")
    server = make_server(quiet_sim, brand)
    return SimpleNamespace(sim=quiet_sim, brand=brand, desk=desk, owner=owner, colleague=colleague,
                           outsider=outsider, dealer=dealer, finance=finance, admin=admin, client=client,
                           server=server)
