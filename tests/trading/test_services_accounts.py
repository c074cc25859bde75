"""Account services against the simulator: open, leverage, group, access, password reset. Every
change reaches the platform, is audited and evented; passwords are never logged, mailed or stored
in plain text."""
# ruff: noqa: F811 - pytest fixtures imported from crm_fixtures are redefined as test arguments

from __future__ import annotations

import json
import logging
import re
from decimal import Decimal

import pytest
from django.core import mail

from crm.exceptions import NotAllowed, ValidationFailed
from crm.models import AuditLog, Event
from tests.trading.crm_fixtures import _fresh_adapters, events, open_account, world  # noqa: F401 - fixtures
from trading import accounts as trading_accounts
from trading import registry
from trading.adapters.base import PlatformRejected
from trading.exceptions import PlatformFailed, PlatformOutcomeUnknown
from trading.models import TradingAccount
from trading.password_links import password_link_reveal
from trading.services import (
    brand_trading_policy_set,
    trading_account_open,
    trading_account_reset_password,
    trading_account_set_access,
    trading_account_set_group,
    trading_account_set_leverage,
)


def _platform(world, login: int) -> dict:
    return next(a for a in world.sim.truth()["accounts"] if int(a["Login"]) == login)


def test_opening_maps_the_type_to_its_group_and_caps_leverage_by_the_brand(world, django_capture_on_commit_callbacks):
    brand_trading_policy_set(actor=world.admin, brand=world.brand, max_leverage_live=200, max_leverage_demo=500)
    with django_capture_on_commit_callbacks(execute=True):
        account = trading_account_open(actor=world.owner, client=world.client, server=world.server,
                                       account_type="standard")
    assert (account.group, account.leverage, account.is_demo) == ("real\\standard", 200, False)
    platform = _platform(world, account.login)
    assert (platform["Group"], platform["Leverage"], platform["Email"]) == ("real\\standard", "200", world.client.email)
    assert account.opened_at is not None
    assert AuditLog.objects.filter(action="trading.account_open", object_id=str(account.code)).exists()
    [opened] = events("trading.account_opened", client=world.client)
    assert opened.actor == world.owner and opened.data["login"] == account.login
    [message] = mail.outbox
    assert message.to == [world.client.email]
    assert str(account.login) in message.body

    demo = trading_account_open(actor=world.owner, client=world.client, server=world.server, account_type="demo",
                                send_credentials=False)
    assert (demo.group, demo.leverage, demo.is_demo) == ("demo\\standard", 500, True)


def test_leverage_above_the_brand_cap_is_refused_before_the_platform_is_asked(world):
    brand_trading_policy_set(actor=world.admin, brand=world.brand, max_leverage_live=100, max_leverage_demo=500)
    before = len(world.sim.truth()["accounts"])
    with pytest.raises(ValidationFailed) as refused:
        trading_account_open(actor=world.owner, client=world.client, server=world.server, account_type="standard",
                             leverage=500)
    assert "leverage" in refused.value.fields
    assert len(world.sim.truth()["accounts"]) == before
    assert not TradingAccount.objects.exists()


def test_a_server_of_another_brand_cannot_be_used(world):
    from tests.factories import make_brand, make_client

    stranger = make_client(brand=make_brand())
    with pytest.raises(ValidationFailed) as refused:
        trading_account_open(actor=None, client=stranger, server=world.server, account_type="standard")
    assert "server" in refused.value.fields


def test_leverage_group_and_access_changes_reach_the_platform_and_are_recorded(world):
    account = open_account(world, deposit=None, leverage=100)
    trading_account_set_leverage(actor=world.dealer, account=account, leverage=200, reason="client asked")
    trading_account_set_group(actor=world.dealer, account=account, group="real\\pro")
    trading_account_set_access(actor=world.dealer, account=account, access="read_only", reason="review")
    platform = _platform(world, account.login)
    assert (platform["Leverage"], platform["Group"]) == ("200", "real\\pro")
    assert int(platform["Rights"]) & 0x4  # trading disabled
    account.refresh_from_db()
    assert (account.leverage, account.group, account.account_type, account.access) == (200, "real\\pro", "pro",
                                                                                       "read_only")
    leverage = AuditLog.objects.get(action="trading.leverage_change", object_id=str(account.code))
    assert (leverage.before["leverage"], leverage.after["leverage"], leverage.reason) == (100, 200, "client asked")
    assert [e.data["to"] for e in events("trading.leverage_changed")] == [200]
    assert [e.data["to"] for e in events("trading.access_changed")] == ["read_only"]
    assert account.history.filter(history_user=world.dealer).count() == 3

    trading_account_set_access(actor=world.dealer, account=account, access="close_only")
    account.refresh_from_db()
    assert (account.access, account.group) == ("close_only", "real\\pro-closeonly")
    trading_account_set_access(actor=world.dealer, account=account, access="full")
    account.refresh_from_db()
    assert (account.access, account.group) == ("full", "real\\pro")


def test_only_dealers_and_administrators_change_accounts(world):
    account = open_account(world, deposit=None)
    for actor in (world.owner, world.finance):
        with pytest.raises(NotAllowed):
            trading_account_set_leverage(actor=actor, account=account, leverage=200)
        with pytest.raises(NotAllowed):
            trading_account_set_access(actor=actor, account=account, access="disabled")
    assert _platform(world, account.login)["Leverage"] == "100"


def test_a_leverage_the_type_does_not_allow_is_refused(world):
    account = open_account(world, deposit=None, account_type="pro", leverage=100)
    with pytest.raises(ValidationFailed):
        trading_account_set_leverage(actor=world.dealer, account=account, leverage=500)


def test_password_reset_sets_a_strong_password_on_the_platform_and_only_the_client_sees_it(
        world, caplog, monkeypatch, django_capture_on_commit_callbacks):
    account = open_account(world, deposit=None)
    made: list[str] = []
    generate = trading_accounts.generate_trading_password
    monkeypatch.setattr(trading_accounts, "generate_trading_password", lambda: made.append(generate()) or made[-1])
    caplog.set_level(logging.DEBUG)
    with django_capture_on_commit_callbacks(execute=True):
        trading_account_reset_password(actor=world.owner, account=account, reason="forgot it")
    [password] = made
    assert len(password) >= 12 and any(c.isupper() for c in password) and any(c.islower() for c in password) \
        and any(c.isdigit() for c in password)
    [message] = mail.outbox
    assert message.to == [world.client.email]
    assert password not in message.body and all(password not in body for body, _type in message.alternatives)
    # The email's link shows it, once.
    token = re.search(r"/trading-password/([^/\s]+)/", message.body).group(1)
    assert password_link_reveal(token=token).password == password
    # The platform itself now takes the emailed password (MT5 Web API /api/user/check_password).
    adapter = registry.adapter_for(account.server)
    adapter._call("/api/user/check_password", {"login": account.login, "type": "main", "password": password})
    with pytest.raises(PlatformRejected) as refused:
        adapter._call("/api/user/check_password", {"login": account.login, "type": "main", "password": "Wrong1234567"})
    assert refused.value.retcode == 3006
    # Nowhere else: not in the audit log, the events, the account's history or the logs.
    stored = json.dumps([list(AuditLog.objects.values("before", "after", "reason")),
                         list(Event.objects.values("data")),
                         list(account.history.values())], default=str)
    assert password not in stored
    assert password not in caplog.text
    assert len(events("trading.password_reset", client=world.client)) == 1


def test_a_password_reset_the_platform_does_not_confirm_sends_nothing(world, django_capture_on_commit_callbacks):
    account = open_account(world, deposit=None)
    # The platform applies the new password but the answer is lost, on the retry too.
    world.sim.faults({"type": "timeout_after_apply", "path": "/api/user/change_password", "mode": "drop", "count": 2})
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(PlatformFailed) as failed:
        trading_account_reset_password(actor=world.owner, account=account)
    assert isinstance(failed.value, PlatformOutcomeUnknown)
    assert mail.outbox == []
    assert events("trading.password_reset") == []
    assert AuditLog.objects.filter(action="trading.password_reset_unconfirmed").exists()


def test_a_platform_refusal_changes_nothing_in_the_crm(world):
    account = open_account(world, deposit=None)
    world.sim.faults({"type": "retcode", "path": "/api/user/update", "retcode": "3 Invalid parameters", "count": 1})
    with pytest.raises(PlatformFailed) as failed:
        trading_account_set_leverage(actor=world.dealer, account=account, leverage=200)
    assert not isinstance(failed.value, PlatformOutcomeUnknown)
    account.refresh_from_db()
    assert account.leverage == 100
    assert events("trading.leverage_changed") == []
    assert Decimal(_platform(world, account.login)["Leverage"]) == 100
