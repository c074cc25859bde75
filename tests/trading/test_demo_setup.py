"""`manage.py trading_demo_setup`, which `make run` calls once the simulator answers: the demo
brands' MT5 server points at the simulator and every funded or active client gets an account
opened and funded through the services; running it again opens nothing more."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from crm.models import RoleCode
from tests.factories import make_brand, make_client, make_desk, make_user
from trading.models import BalanceOperation, BrandTradingPolicy, LeverageCap, PlatformServer, TradingAccount
from trading.policy import leverage_limit

pytestmark = pytest.mark.django_db


def _setup(sim, capsys) -> str:
    call_command("trading_demo_setup", port=sim.port, state_dir=str(sim.state_dir), wait=10)
    return capsys.readouterr().out


def test_every_funded_or_active_client_gets_a_funded_account_once(sim, capsys):
    brand = make_brand(code="atlas", name="Atlas Markets")
    agent = make_user(role_code=RoleCode.SALES_AGENT, desk=make_desk(brand=brand))
    traders = [make_client(actor=agent, brand=brand, stage=stage, email=f"t{i}@example.com", country=country)
               for i, (stage, country) in enumerate([("funded", "GB"), ("active", "GB"), ("funded", "NG"),
                                                     ("active", "DE"), ("funded", "GB")])]
    lead = make_client(actor=agent, brand=brand, stage="lead", email="lead@example.com")

    out = _setup(sim, capsys)

    server = PlatformServer.objects.get(brand=brand)
    assert (server.host, server.port, server.ca_file) == ("127.0.0.1", sim.port, str(sim.state_dir / "cert.pem"))
    for client in traders:
        accounts = TradingAccount.objects.filter(client=client, server=server)
        assert accounts.exists(), client
        assert BalanceOperation.objects.filter(account__in=accounts, amount__gt=0).count() == accounts.count()
    assert not TradingAccount.objects.filter(client=lead).exists()
    logins = {int(a["Login"]) for a in sim.truth()["accounts"]}
    assert set(TradingAccount.objects.values_list("login", flat=True)) <= logins
    policy = BrandTradingPolicy.objects.get(brand=brand)
    assert (policy.max_leverage_live, policy.live_min_stage) == (500, "registered")
    # ESMA-style caps: retail clients in the EU, the EEA and the UK at most 1:30; every account within its cap.
    assert LeverageCap.objects.get(brand=brand, country="GB", classification="retail").max_leverage == 30
    assert LeverageCap.objects.filter(brand=brand, classification="retail").count() == 31
    for account in TradingAccount.objects.filter(server=server).select_related("client"):
        assert leverage_limit(client=account.client, brand=brand, demo=account.is_demo).allows(account.leverage)
    assert "opened now" in out

    before = TradingAccount.objects.count()
    out = _setup(sim, capsys)
    assert TradingAccount.objects.count() == before
    assert "0 account(s) opened now" in out


def test_without_a_simulator_it_says_so_and_changes_nothing(tmp_path, capsys):
    from django.core.management.base import CommandError

    make_brand(code="atlas")
    with pytest.raises(CommandError) as failed:
        call_command("trading_demo_setup", port=1, state_dir=str(tmp_path), wait=1)
    assert "did not answer" in str(failed.value)
    assert not PlatformServer.objects.exists()
