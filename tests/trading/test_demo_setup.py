"""`manage.py trading_demo_setup`, which `make run` calls once the simulator answers: the demo
brands' MT5 server points at the simulator and every funded or active client gets an account
opened and funded through the services; running it again opens nothing more."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

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


def test_accounts_opened_in_parts_give_every_funded_client_one_as_one_process_does(sim, capsys):
    """`make run` opens the accounts in a few processes (--jobs), each the clients of its part (by id)
    over its own connection: together they open one account for each client (a hedger two), each
    funded, and a part run again opens nothing."""
    brand = make_brand(code="atlas", name="Atlas Markets")
    agent = make_user(role_code=RoleCode.SALES_AGENT, desk=make_desk(brand=brand))
    traders = [make_client(actor=agent, brand=brand, stage="funded", email=f"p{i}@example.com", country="NG")
               for i in range(6)]
    # The servers first (as part 0 makes them before the other parts start), with no account yet.
    call_command("trading_demo_setup", port=sim.port, state_dir=str(sim.state_dir), wait=10, accounts=0)
    server = PlatformServer.objects.get(brand=brand)
    common = ["--port", str(sim.port), "--state-dir", str(sim.state_dir), "--wait", "10"]

    call_command("trading_demo_setup", *common, "--shard", "1/2")
    assert "part 1 of 2: " in capsys.readouterr().out
    opened = set(TradingAccount.objects.filter(server=server).values_list("client_id", flat=True))
    assert opened == {c.pk for c in traders if c.pk % 2 == 1}
    call_command("trading_demo_setup", *common, "--shard", "0/2")
    for client in traders:
        accounts = TradingAccount.objects.filter(client=client, server=server)
        assert 1 <= accounts.count() <= 2, client
        assert BalanceOperation.objects.filter(account__in=accounts, amount__gt=0).count() == accounts.count()
    before = TradingAccount.objects.count()
    capsys.readouterr()
    call_command("trading_demo_setup", *common, "--shard", "0/2")  # again: nothing left to open
    assert "part 0 of 2: 0 account(s) opened" in capsys.readouterr().out
    assert TradingAccount.objects.count() == before


def test_without_a_simulator_it_says_so_and_changes_nothing(tmp_path, capsys):
    from django.core.management.base import CommandError

    make_brand(code="atlas")
    with pytest.raises(CommandError) as failed:
        call_command("trading_demo_setup", port=1, state_dir=str(tmp_path), wait=1)
    assert "did not answer" in str(failed.value)
    assert not PlatformServer.objects.exists()


@pytest.fixture
def sim_now(tmp_path):
    """A simulator whose clock starts at the CRM's now, as `make run` starts it."""
    from tests.trading.conftest import start_simulator, stop_simulator

    simulator = start_simulator(tmp_path / "mt5sim", "--start-time", timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ"))
    try:
        yield simulator
    finally:
        stop_simulator(simulator)


def test_a_fresh_demo_shows_dormant_at_risk_and_margin_call_traders(sim_now, capsys):
    from trading import exposure, retention, sync

    sim = sim_now
    brand = make_brand(code="atlas", name="Atlas Markets")
    agent = make_user(role_code=RoleCode.RETENTION_AGENT, desk=make_desk(brand=brand))
    names = ["Margin", "Drop", "Dormant45", "Dormant75", "Yen", "Dormant10"]
    for i, name in enumerate(names):
        make_client(actor=agent, brand=brand, stage="funded", first_name=name, last_name="Demo", email=f"d{i}@example.com")

    _setup(sim, capsys)
    server = PlatformServer.objects.get(brand=brand)
    assert sync.deals_sync(server.pk, force=True).status == "ok"
    assert sync.account_states_sync(server.pk, force=True).status == "ok"

    listed = retention.retention_queryset(user=agent, filters=retention.RetentionFilters())
    rows = retention.retention_rows(rows=list(listed), filters=retention.RetentionFilters())
    assert [row.client.first_name for row in rows] == ["Margin", "Drop", "Dormant75", "Dormant45"]
    margin, drop, old, _dormant45 = rows
    assert margin.margin_calls == 1 and margin.margin_call_accounts[0].account.margin_level < 100
    assert 30 < drop.max_drop < 40  # 35 % of the deposit lost after the peak was recorded
    assert 74 <= old.idle_days <= 76 and old.last_deposit is not None
    assert (timezone.now() - old.last_deposit.resolved_at).days in (74, 75)
    yen = TradingAccount.objects.get(client__first_name="Yen")
    assert yen.currency == "JPY" and yen.balance == 1_500_000
    report = exposure.exposure_for_user(user=make_user(role_code=RoleCode.DEALER, brand=brand))
    nets = {s.symbol: s.net for s in report.symbols}
    assert nets["EURUSD"] == 1 and abs(nets["USDJPY"]) == Decimal("0.5")  # the margin call's lot, the yen trader's
    assert report.currencies == ["JPY", "USD"]


@pytest.fixture
def face_sims(tmp_path):
    """A cTrader, a Match-Trader, a Sirix and an MT4-bridge face of the simulator, as `make run` starts
    them for the demo (Sirix and the MT4 bridge keep the server's own clock, as those platforms do)."""
    from tests.trading.conftest import start_simulator, stop_simulator

    started = {}
    try:
        for face in ("ctrader", "matchtrader"):
            started[face] = start_simulator(tmp_path / f"{face}sim", "--face", face, "--server-tz-offset", "0")
        for face in ("sirix", "mt4bridge"):
            started[face] = start_simulator(tmp_path / f"{face}sim", "--face", face)
        yield started
    finally:
        for simulator in started.values():
            stop_simulator(simulator)


def test_the_demo_has_a_brand_on_each_other_platform_beside_mt5(sim, face_sims, capsys, client):
    atlas = make_brand(code="atlas", name="Atlas Markets")
    make_user(role_code=RoleCode.ADMIN)
    dealer = make_user(role_code=RoleCode.DEALER, brand=atlas)
    make_client(actor=make_user(role_code=RoleCode.SALES_AGENT, brand=atlas), brand=atlas, stage="funded",
                email="mt5@example.com")
    _setup(sim, capsys)

    call_command("trading_seed_demo_platforms")
    assert ("Orion Trade (cTrader), Meridian Markets (Match-Trader), Halcyon Capital (Sirix), Granite FX (MT4)"
            in capsys.readouterr().out)
    # Each carries its caps (retail clients in the EU, the EEA and the UK at most 1:30) and a questionnaire.
    from kyc.models import Questionnaire

    for code in ("orion", "meridian", "halcyon", "granite"):
        assert LeverageCap.objects.get(brand__code=code, country="GB", classification="retail").max_leverage == 30
        assert Questionnaire.objects.filter(brand__code=code).exists(), code
    call_command("trading_demo_setup", faces_in_use=True)
    assert capsys.readouterr().out.split() == ["ctrader", "matchtrader", "sirix", "mt4bridge"]  # what `make run` starts
    for face, simulator in face_sims.items():
        call_command("trading_demo_setup", face=face, port=simulator.port, state_dir=str(simulator.state_dir), wait=10)
    out = capsys.readouterr().out
    assert "cTrader server of Orion Trade" in out and "Match-Trader server of Meridian Markets" in out
    assert "Sirix server of Halcyon Capital" in out and "MT4 server of Granite FX" in out

    servers = {s.brand.code: s for s in PlatformServer.objects.select_related("brand")}
    assert {code: s.kind for code, s in servers.items()} == {"atlas": "mt5_web", "orion": "ctrader",
                                                             "meridian": "matchtrader", "halcyon": "sirix",
                                                             "granite": "mt4bridge"}
    for code, face in (("orion", "ctrader"), ("meridian", "matchtrader"), ("halcyon", "sirix"),
                       ("granite", "mt4bridge")):
        server = servers[code]
        assert server.port == face_sims[face].port and server.close_only_groups == {}
        accounts = TradingAccount.objects.filter(server=server)
        # Each of the brand's four demo clients has an account opened on that platform, and a deposit.
        assert accounts.values("client").distinct().count() == 4
        assert BalanceOperation.objects.filter(account__in=accounts, amount__gt=0).count() == accounts.count()
        on_platform = {int(a["Login"]) for a in face_sims[face].truth()["accounts"]}
        assert set(accounts.values_list("login", flat=True)) <= on_platform

    # The dealer, given the new brands, sees the five platforms' servers and their accounts side by side.
    client.force_login(dealer)
    page = client.get("/trading/servers/").content.decode()
    for label in ("MetaTrader 5 (Web API)", "cTrader (Web Services API)", "Match-Trader (Broker API)",
                  "Sirix (management REST service)", "MetaTrader 4 (bridge)"):
        assert label in page

    # Again: nothing new.
    call_command("trading_seed_demo_platforms")
    for face, simulator in face_sims.items():
        call_command("trading_demo_setup", face=face, port=simulator.port, state_dir=str(simulator.state_dir), wait=10)
    out = capsys.readouterr().out
    assert "already present" in out and out.count("0 account(s) opened now") == 4
