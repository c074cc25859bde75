"""Prop-trading challenges: each rule at its edges, a breach disabling the account on the MT5
simulator, a phase pass, a funded account's payout through the wallet's withdrawal queue.

Challenges are bought through the wallet (the fee posted from a funded wallet) and opened on the
simulator through the adapter registry. The account's money reaches the evaluator the way the state
sync stores it (``poll`` hands the sync's store the platform's figures, then evaluates) or through
the real state sync against the simulator."""
# ruff: noqa: F811 - pytest fixtures imported from crm_fixtures are redefined as test arguments

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from crm.exceptions import ValidationFailed
from crm.lib.money import Money
from tests.trading.crm_fixtures import _fresh_adapters, world  # noqa: F401 - fixtures
from tests.trading.test_adapter_base import _deal
from tests.wallet.withdrawal_support import CARD, build_world, deposit
from trading import prop, sync
from trading.adapters.base import AccountState
from trading.models import AccessLevel, BalanceOperation, Challenge, ChallengeDecision, TradingAccount
from trading.prop_models import ChallengeState, DecisionKind
from wallet.ledger import available, wallet_account_for
from wallet.models import Withdrawal
from wallet.prop import challenge_buy, challenge_payout

pytestmark = pytest.mark.django_db

RULES: dict[str, Any] = {
    "currency": "USD", "account_size": "10000", "fee": "99", "daily_loss_pct": "5", "daily_loss_basis": "balance",
    "max_loss_pct": "10", "max_loss_mode": "static", "breach_action": "disabled", "profit_split_pct": "80",
    "phases": [{"name": "Phase 1", "profit_target_pct": "10", "min_trading_days": 0, "time_limit_days": 30},
               {"name": "Phase 2", "profit_target_pct": "5", "min_trading_days": 0, "time_limit_days": 60}],
}


def product(world: Any, **overrides: Any) -> Any:
    values = {**RULES, **overrides}
    return prop.challenge_product_save(actor=None, brand=world.brand, key=values.pop("key", "ten-k"),
                                       name="10K Challenge", server=world.server,
                                       account_type=values.pop("account_type", "demo"), **values)


def buy(world: Any, *, paid_by: str = "card", **overrides: Any) -> Challenge:
    deposit(world.client, "500.00", method=paid_by)
    challenge = challenge_buy(client=world.client, product=product(world, **overrides))
    assert challenge.state == ChallengeState.ACTIVE, challenge.last_error
    return challenge


def poll(challenge: Challenge, *, equity: str, balance: str | None = None, at: dt.datetime | None = None,
         ) -> prop.EvaluationResult:
    """The platform reports these figures for the challenge's account; the sync stores them; the
    evaluator runs as it does after every state poll."""
    challenge.refresh_from_db()
    account = challenge.account
    assert account is not None
    at = at or timezone.now()
    state = AccountState(login=account.login, balance=Decimal(balance or equity), credit=Decimal(0),
                         equity=Decimal(equity), margin=Decimal(0), free_margin=Decimal(equity), margin_level=None,
                         floating_profit=Decimal(0), leverage=100, margin_call=False, stop_out=False,
                         observed_at=at, raw={})
    sync._store_states(account.server, [state])
    return prop.challenges_evaluate(server_ids=[account.server_id], now=at)


def later(challenge: Challenge, **delta: Any) -> dt.datetime:
    challenge.refresh_from_db()
    assert challenge.phase_started_at is not None
    return challenge.phase_started_at + dt.timedelta(**delta)


def decisions(challenge: Challenge, kind: str) -> list[ChallengeDecision]:
    return list(ChallengeDecision.objects.filter(challenge=challenge, kind=kind).order_by("at", "id"))


# --- buying ---------------------------------------------------------------------------------------------

def test_buying_takes_the_fee_from_the_wallet_and_opens_a_funded_account_on_the_platform(world):
    deposit(world.client, "150.00")
    challenge = challenge_buy(client=world.client, product=product(world))
    assert challenge.state == ChallengeState.ACTIVE
    assert available(wallet_account_for(client=world.client, currency="USD")) == Money("51.00", "USD")
    account = TradingAccount.objects.get(pk=challenge.account_id)
    info = world.sim.truth()
    wire = next(a for a in info["accounts"] if int(a["Login"]) == account.login)
    assert Decimal(str(wire["Balance"])) == Decimal("10000")
    assert "opened" in prop.decision_text(decisions(challenge, DecisionKind.OPENED)[0])


def test_a_wallet_that_cannot_pay_the_fee_buys_nothing(world):
    deposit(world.client, "50.00")
    with pytest.raises(Exception, match="Insufficient funds"):
        challenge_buy(client=world.client, product=product(world))
    assert not Challenge.objects.filter(client=world.client).exists()
    assert available(wallet_account_for(client=world.client, currency="USD")) == Money("50.00", "USD")


def test_a_product_with_a_bad_rule_is_refused_naming_the_field(world):
    with pytest.raises(ValidationFailed) as refused:
        product(world, daily_loss_pct="0", phases=[{"name": "", "profit_target_pct": "10"}])
    assert {"daily_loss_pct", "phases[0].name"} <= set(refused.value.fields)
    with pytest.raises(ValidationFailed) as refused:
        product(world, account_size="1E4", fee="\u0669\u0669")  # the one grammar of amounts: nothing guessed
    assert {"account_size", "fee"} <= set(refused.value.fields)


def test_saving_a_product_again_writes_a_new_version_and_old_challenges_keep_theirs(world):
    challenge = buy(world)
    newer = product(world, daily_loss_pct="4")
    assert newer.version == 2
    challenge.refresh_from_db()
    assert challenge.product.version == 1 and challenge.product.daily_loss_pct == Decimal("5")
    assert list(prop.challenge_products_on_sale(brand_id=world.brand.pk)) == [newer]


# --- daily loss -----------------------------------------------------------------------------------------

def test_a_daily_loss_exactly_at_the_limit_is_not_a_breach(world):
    challenge = buy(world)
    result = poll(challenge, equity="9500.00", at=later(challenge, minutes=5))
    assert result.breached == []
    challenge.refresh_from_db()
    assert challenge.state == ChallengeState.ACTIVE


def test_a_daily_loss_a_cent_past_the_limit_breaches_and_says_why(world):
    challenge = buy(world)
    at = later(challenge, minutes=5)
    result = poll(challenge, equity="9499.99", at=at)
    assert result.breached == [challenge.pk]
    challenge.refresh_from_db()
    assert challenge.state == ChallengeState.BREACHED
    breach = decisions(challenge, DecisionKind.BREACH)[0]
    text = prop.decision_text(breach)
    assert f"Daily loss 5% at {at:%Y-%m-%d %H:%M:%S} UTC; limit 5% of 10,000.00\u00a0USD starting balance" in text
    assert breach.snapshot["equity"] == "9499.99"


def test_the_daily_limit_is_measured_from_the_days_start_equity_when_chosen(world):
    challenge = buy(world, daily_loss_basis="equity")
    day1 = later(challenge, minutes=5)
    poll(challenge, equity="10400.00", balance="10000.00", at=day1)  # the day ends with equity up 400
    next_day = (day1 + dt.timedelta(days=1)).replace(hour=1)
    # 10400 - 9880 = 520: 5% of 10,400 is 520, exactly at the limit
    assert poll(challenge, equity="9880.00", balance="10000.00", at=next_day).breached == []
    result = poll(challenge, equity="9879.00", balance="10000.00", at=next_day + dt.timedelta(minutes=1))
    assert result.breached == [challenge.pk]
    text = prop.decision_text(decisions(challenge, DecisionKind.BREACH)[0])
    assert "limit 5% of 10,400.00\u00a0USD starting equity" in text


def test_a_new_day_starts_the_daily_loss_from_the_previous_close(world):
    challenge = buy(world)
    day1 = later(challenge, minutes=5)
    poll(challenge, equity="9600.00", at=day1)  # down 4% on day one: allowed
    next_day = (day1 + dt.timedelta(days=1)).replace(hour=1)
    # From 9,600 a loss of 4.9% is allowed, though it is 8.7% of the first day's start.
    assert poll(challenge, equity="9130.00", at=next_day).breached == []


# --- maximum loss ---------------------------------------------------------------------------------------

def test_a_static_maximum_loss_allows_equity_exactly_at_the_floor(world):
    challenge = buy(world, daily_loss_pct="9")
    day1 = later(challenge, minutes=5)
    assert poll(challenge, equity="9500.00", at=day1).breached == []
    day2 = (day1 + dt.timedelta(days=1)).replace(hour=1)  # 9,500 -> 9,000 is 5.3% of the day: allowed
    assert poll(challenge, equity="9000.00", at=day2).breached == []
    assert poll(challenge, equity="8999.99", at=day2 + dt.timedelta(minutes=1)).breached == [challenge.pk]
    assert decisions(challenge, DecisionKind.BREACH)[0].rule == prop.Rule.MAX_LOSS


def test_a_trailing_drawdown_follows_a_new_high(world):
    challenge = buy(world, max_loss_mode="trailing", daily_loss_pct="9", phases=[
        {"name": "Phase 1", "profit_target_pct": "50", "min_trading_days": 0, "time_limit_days": 30}])
    start = later(challenge, minutes=5)
    poll(challenge, equity="10800.00", balance="10000.00", at=start)  # a new high: the floor is now 9,800
    assert poll(challenge, equity="9800.00", balance="10000.00", at=start + dt.timedelta(minutes=1)).breached == []
    result = poll(challenge, equity="9799.00", balance="10000.00", at=start + dt.timedelta(minutes=2))
    assert result.breached == [challenge.pk]  # a static floor (9,000) would still allow it
    breach = decisions(challenge, DecisionKind.BREACH)[0]
    assert "trailing floor of 9,800.00\u00a0USD" in prop.decision_text(breach)
    assert "highest equity, 10,800.00\u00a0USD" in prop.decision_text(breach)


# --- target, trading days, time limit --------------------------------------------------------------

_deal_ids = itertools.count(900_000)


def _trade_on(world: Any, challenge: Challenge, days: list[dt.datetime]) -> None:
    """Trade deals at those times (EURUSD), as the deal sync stores what the platform reports."""
    challenge.refresh_from_db()
    account = challenge.account
    deals = []
    for when in days:
        deal_id = next(_deal_ids)
        deals.append(_deal(deal_id=deal_id, login=account.login, time=when, position_id=deal_id,
                           platform_time_msc=int(when.timestamp() * 1000), raw={"Deal": str(deal_id)}))
    sync.deals_store(account.server, deals)


def test_minimum_trading_days_count_days_with_a_trade_not_calendar_days(world):
    challenge = buy(world, phases=[{"name": "Phase 1", "profit_target_pct": "10", "min_trading_days": 3,
                                    "time_limit_days": 30}])
    # Noon (UTC, the day trading days are counted in) of the day after the phase began, so the two
    # trades five minutes apart fall on one day whenever the suite runs, near midnight too.
    start = later(challenge, days=1).replace(hour=12, minute=0, second=0, microsecond=0)
    # Trades on days 1 and 4 (a gap of two days): two trading days, though four days went by.
    _trade_on(world, challenge, [start, start + dt.timedelta(minutes=5), start + dt.timedelta(days=3)])
    challenge.refresh_from_db()
    assert challenge.trading_days == 2
    assert poll(challenge, equity="11000.00", at=start + dt.timedelta(days=3, hours=1)).passed == []
    _trade_on(world, challenge, [start + dt.timedelta(days=6)])
    challenge.refresh_from_db()
    assert challenge.trading_days == 3
    assert poll(challenge, equity="11000.00", at=start + dt.timedelta(days=6, hours=1)).passed == [challenge.pk]


def test_a_phase_not_passed_within_its_time_limit_fails(world):
    challenge = buy(world)
    just_in_time = later(challenge, days=30)
    assert poll(challenge, equity="10100.00", at=just_in_time).decisions == {}
    result = poll(challenge, equity="10100.00", at=just_in_time + dt.timedelta(seconds=1))
    assert result.decisions == {prop.Rule.TIME_LIMIT: 1}
    challenge.refresh_from_db()
    assert challenge.state == ChallengeState.FAILED
    assert "time limit of 30 days" in prop.decision_text(decisions(challenge, DecisionKind.FAILED)[0])


def test_an_instrument_outside_the_allowed_list_breaches(world):
    challenge = buy(world, allowed_symbols=["XAUUSD"])
    _trade_on(world, challenge, [later(challenge, minutes=10)])  # make_deal trades EURUSD
    challenge.refresh_from_db()
    assert challenge.state == ChallengeState.BREACHED
    assert "A trade in EURUSD" in prop.decision_text(decisions(challenge, DecisionKind.BREACH)[0])


# --- on the platform ----------------------------------------------------------------------------------

def test_a_breach_disables_the_account_on_the_mt5_simulator(world):
    challenge = buy(world)
    result = poll(challenge, equity="9000.00", at=later(challenge, minutes=5))
    prop.challenges_act(result)
    challenge.refresh_from_db()
    assert challenge.enforced_at is not None
    account = TradingAccount.objects.get(pk=challenge.account_id)
    assert account.access == AccessLevel.DISABLED
    info = prop.adapter_for(account.server).get_account(account.login)
    assert info.access.value == "disabled"
    enforced = decisions(challenge, DecisionKind.ENFORCED)[0]
    assert f"Account {account.login} was disabled on the platform" in prop.decision_text(enforced)


def test_a_close_only_product_sets_the_breached_account_close_only_where_the_platform_can(world):
    challenge = buy(world, account_type="standard", breach_action="close_only")
    prop.challenges_act(poll(challenge, equity="9000.00", at=later(challenge, minutes=5)))
    account = TradingAccount.objects.get(pk=challenge.account_id)
    assert account.access == AccessLevel.CLOSE_ONLY
    assert prop.adapter_for(account.server).get_account(account.login).access.value == "close_only"


def test_a_breach_found_by_the_real_state_sync_disables_the_account(world):
    challenge = buy(world)
    account = TradingAccount.objects.get(pk=challenge.account_id)
    world.sim.control("/_sim/trade", {"login": account.login, "symbol": "EURUSD", "action": "buy", "volume": "5"})
    quote = world.sim.control("/_sim/status")
    assert quote  # the simulator is up
    world.sim.control("/_sim/prices", {"quotes": {"EURUSD": {"bid": "0.9", "ask": "0.9001"}}})
    assert sync.account_states_sync(world.server.pk, force=True).status == "ok"
    challenge.refresh_from_db()
    assert challenge.state == ChallengeState.BREACHED and challenge.enforced_at is not None
    assert prop.adapter_for(account.server).get_account(account.login).access.value == "disabled"


def test_passing_phase_one_opens_phase_two_and_passing_that_opens_the_funded_account(world):
    challenge = buy(world)
    first = challenge.account_id
    result = poll(challenge, equity="11000.00", at=later(challenge, minutes=5))
    assert result.passed == [challenge.pk]
    prop.challenges_act(result)
    challenge.refresh_from_db()
    assert challenge.phase == 1 and challenge.state == ChallengeState.ACTIVE and challenge.account_id != first
    assert TradingAccount.objects.get(pk=first).access != AccessLevel.FULL  # no more trading on phase 1
    passed = decisions(challenge, DecisionKind.PASSED)[0]
    assert "Profit target reached in Phase 1: balance 11,000.00\u00a0USD" in prop.decision_text(passed)
    prop.challenges_act(poll(challenge, equity="10500.00", at=later(challenge, minutes=5)))
    challenge.refresh_from_db()
    assert challenge.state == ChallengeState.FUNDED and challenge.phase == 2
    assert decisions(challenge, DecisionKind.FUNDED)


def test_a_funded_accounts_profit_split_is_paid_through_the_withdrawal_queue(world):
    wallet_world = build_world(brand=world.brand, client=world.client, fund=None)
    challenge = buy(world, paid_by="ewallet", phases=[{"name": "Phase 1", "profit_target_pct": "10",
                                                       "min_trading_days": 0, "time_limit_days": 30}])
    prop.challenges_act(poll(challenge, equity="11000.00", at=later(challenge, minutes=5)))
    challenge.refresh_from_db()
    assert challenge.state == ChallengeState.FUNDED
    poll(challenge, equity="11000.00", balance="11000.00", at=later(challenge, minutes=5))
    challenge.refresh_from_db()
    assert prop.challenge_payable(challenge) == (Money("1000.00", "USD"), Money("800.00", "USD"))
    withdrawal = challenge_payout(client=world.client, challenge=challenge, method=wallet_world.ewallet,
                                  destination={"account": "trader@example.com"})
    assert Withdrawal.objects.filter(pk=withdrawal.pk).exists()
    assert withdrawal.amount == Decimal("800.00") and withdrawal.currency == "USD"
    taken = BalanceOperation.objects.get(account_id=challenge.account_id, amount=Decimal("-1000.00"))
    assert taken.state == "pending"  # sent to the platform once the payout commits
    payout = decisions(challenge, DecisionKind.PAYOUT)[0]
    assert "Payout of 800.00\u00a0USD (80% of 1,000.00\u00a0USD profit)" in prop.decision_text(payout)


def test_no_payout_before_profit(world):
    challenge = buy(world, phases=[{"name": "Phase 1", "profit_target_pct": "10", "min_trading_days": 0,
                                    "time_limit_days": 30}])
    wallet_world = build_world(brand=world.brand, client=world.client, fund=None)
    with pytest.raises(ValidationFailed):
        challenge_payout(client=world.client, challenge=challenge, method=wallet_world.card, destination=CARD)
    assert not Withdrawal.objects.filter(client=world.client).exists()


def test_a_position_held_into_the_weekend_breaches_where_the_product_forbids_it(world):
    with time_machine.travel(dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)):  # a Friday
        challenge = buy(world, weekend_holding_allowed=False)
        account = TradingAccount.objects.get(pk=challenge.account_id)
        world.sim.control("/_sim/trade", {"login": account.login, "symbol": "EURUSD", "action": "buy",
                                          "volume": "0.1"})
        assert sync.account_states_sync(world.server.pk, force=True).status == "ok"
        challenge.refresh_from_db()
        assert challenge.state == ChallengeState.ACTIVE  # open on a Friday: fine
    with time_machine.travel(dt.datetime(2026, 11, 28, 9, tzinfo=dt.UTC)):  # Saturday
        assert sync.account_states_sync(world.server.pk, force=True).status == "ok"
    challenge.refresh_from_db()
    assert challenge.state == ChallengeState.BREACHED
    assert "a weekend" in prop.decision_text(decisions(challenge, DecisionKind.BREACH)[0])


def test_a_breach_is_explained_in_arabic_to_an_arabic_reader(world):
    from django.utils import translation

    challenge = buy(world)
    poll(challenge, equity="9400.00", at=later(challenge, minutes=5))
    with translation.override("ar"):
        text = prop.decision_text(decisions(challenge, DecisionKind.BREACH)[0])
    assert "خسارة يومية" in text and "الحد 5%" in text


def test_a_maximum_loss_breach_is_set_out_with_its_floor_and_the_equity_below_it_in_both_languages(world):
    from django.utils import translation

    challenge = buy(world)
    # Three days each within the day's 5 %, together below the static floor of 9,000 (10 % of 10,000).
    for days, equity in ((0, "9520.00"), (1, "9100.00"), (2, "8950.00")):
        poll(challenge, equity=equity, at=later(challenge, days=days, minutes=5))
    challenge.refresh_from_db()
    assert challenge.state == ChallengeState.BREACHED
    ending = prop.challenge_ending(challenge)
    assert ending is not None and ending.rule == "max_loss" and ending.rule_label == "Maximum loss"
    assert "floor 9,000.00" in ending.limit and "10%" in ending.limit
    assert "8,950.00" in ending.crossed
    assert ending.at == decisions(challenge, DecisionKind.BREACH)[0].at
    with translation.override("ar"):
        arabic = prop.challenge_ending(challenge)
    assert arabic is not None and arabic.rule_label == "أقصى خسارة" and "الحد الأدنى" in arabic.limit


def test_a_live_challenge_has_no_ending(world):
    assert prop.challenge_ending(buy(world)) is None
