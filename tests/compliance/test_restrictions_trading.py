"""No trading: the client's live accounts are set read-only on the platform (the MT5 simulator shows
it), a new account opened meanwhile too, and lifting gives each account back the access it had."""
# ruff: noqa: F811 - pytest fixtures imported from crm_fixtures are redefined as test arguments

from __future__ import annotations

import pytest

from compliance.services import impose_restriction, lift_restriction
from crm.models import Event, RoleCode
from tests.factories import make_user
from tests.portal.conftest import eager_celery  # noqa: F401 - fixture
from tests.trading.conftest import quiet_sim, shared_sim  # noqa: F401 - fixtures
from tests.trading.crm_fixtures import _fresh_adapters, open_account, world  # noqa: F401 - fixtures
from trading.services import trading_account_set_access

pytestmark = pytest.mark.django_db

TRADE_DISABLED = 0x4  # MT5's USER_RIGHT_TRADE_DISABLED


def _rights(world, account) -> int:
    return int(next(a for a in world.sim.truth()["accounts"] if int(a["Login"]) == account.login)["Rights"])


def test_no_trading_makes_the_accounts_read_only_on_the_platform_and_lifting_restores_them(
        world, eager_celery, django_capture_on_commit_callbacks):
    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=world.brand)
    full = open_account(world, deposit=None)
    close_only = open_account(world, deposit=None)
    trading_account_set_access(actor=world.dealer, account=close_only, access="close_only")
    with django_capture_on_commit_callbacks(execute=True):
        [row] = impose_restriction(client=world.client, kinds=["no_trading"], reason="Sanctions hit", by=officer)
    for account in (full, close_only):
        account.refresh_from_db()
        assert account.access == "read_only"
        assert _rights(world, account) & TRADE_DISABLED
    row.refresh_from_db()
    assert row.trading_before == {str(full.code): "full", str(close_only.code): "close_only"}
    # The accounts' changes are on the client's timeline, which the sales floor reads: what, never why.
    changed = Event.objects.filter(client=world.client, name="trading.access_changed", data__to="read_only")
    assert {e.data["reason"] for e in changed} == {"Trading paused by compliance"}

    with django_capture_on_commit_callbacks(execute=True):
        lift_restriction(restriction=row, reason="False positive", by=officer)
    full.refresh_from_db()
    close_only.refresh_from_db()
    assert (full.access, close_only.access) == ("full", "close_only")
    given_back = Event.objects.filter(client=world.client, name="trading.access_changed").exclude(data__to="read_only")
    assert "Trading allowed again" in {e.data["reason"] for e in given_back}
    assert not _rights(world, full) & TRADE_DISABLED


def test_an_account_opened_while_restricted_is_read_only_too(world, eager_celery, django_capture_on_commit_callbacks):
    from crm.events import dispatch_pending

    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=world.brand)
    with django_capture_on_commit_callbacks(execute=True):
        impose_restriction(client=world.client, kinds=["no_trading"], reason="Sanctions hit", by=officer)
    account = open_account(world, deposit=None)
    dispatch_pending()
    account.refresh_from_db()
    assert account.access == "read_only" and _rights(world, account) & TRADE_DISABLED
