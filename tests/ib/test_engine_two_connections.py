"""A large full run is computed on two connections, half the partners each (ib.engine._Half).
These tests commit their data (a second connection sees only committed rows) and lower the
threshold to one deal, so that the three-level tree's month is split as a month of millions is."""

from __future__ import annotations

import logging
import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction

from ib import commissions as cs
from ib import engine
from ib.models import CommissionLine, CommissionRun
from tests.ib.engine_world import MARCH, add_account, add_client, make_world, round_trip, store, t, totals

D = Decimal
SPLIT = "on a second connection"
RULES = [{"code": "fx_rebate", "kind": "per_lot", "group": "fx", "level_rates": ["5", "2", "1"]},
         {"code": "comm", "kind": "revshare", "basis": "commission", "level_rates": ["10", "5", "1"]}]


def _month():
    """Leaf's client (re-attributed to Sub on the 15th: its account is in both halves), a client of
    Sub and one of Master, each with a month of deals."""
    w = make_world(plan_rules=RULES)
    store(w, [
        # Leaf's client, 4 March: 1 lot held 30 min, 7 USD commission: per lot Leaf 5, Sub 2,
        # Master 1; commission share Leaf 0.70, Sub 0.35, Master 0.07.
        *round_trip(w.account, opened=t(4, 10), closed=t(4, 10, 30), commission="-7"),
        # 5 March: held 30 s, under the minimum: nothing.
        *round_trip(w.account, opened=t(5, 11), closed=t(5, 11, 0, 30)),
        # 6 March: a hedged pair, only the first earns: Leaf 5, Sub 2, Master 1.
        *round_trip(w.account, opened=t(6, 12), closed=t(6, 13), side="buy"),
        *round_trip(w.account, opened=t(6, 12, 5), closed=t(6, 13, 10), side="sell"),
    ])
    w.services.client_reattribute(actor=None, client=w.client, partner=w.sub, reason="moved", effective_from=t(15, 0))
    # 20 March, now Sub's client: 2 lots, Sub 10, Master 4.
    store(w, round_trip(w.account, opened=t(20, 10), closed=t(20, 10, 30), volume="2"))
    # Sub's own client, 8 March: Sub 5, Master 2.
    sub_account = add_account(w, add_client(w, w.sub))
    store(w, round_trip(sub_account, opened=t(8, 10), closed=t(8, 11)))
    # Master's own client, 9 March: half a lot, Master 2.5.
    master_account = add_account(w, add_client(w, w.master))
    store(w, round_trip(master_account, opened=t(9, 10), closed=t(9, 11), volume="0.5"))
    # A new connection: this one's counts of the rows just written (pg_stat_xact_user_tables) are
    # only flushed after a second, and until then they read as the run's transaction's own.
    connection.close()
    return w


# Leaf 5 + 0.70 + 5; Sub 2 + 0.35 + 2 + 10 + 5; Master 1 + 0.07 + 1 + 4 + 2 + 2.5.
EXPECTED = {"Leaf": D("10.70"), "Sub": D("19.35"), "Master": D("10.57")}


def _lines(run: CommissionRun) -> list[tuple]:
    return sorted(CommissionLine.objects.filter(run=run).values_list(
        "source_kind", "source_id", "beneficiary_id", "rule_code", "level", "amount", "fx_rate"))


@pytest.mark.django_db(transaction=True)
def test_a_run_split_over_two_connections_pays_what_one_connection_pays(settings, caplog):
    w = _month()
    settings.IB_ENGINE_PARALLEL_DEALS = 1
    with caplog.at_level(logging.INFO, logger="ib.engine"):
        split = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    assert SPLIT in caplog.text
    assert totals(split) == EXPECTED
    # The scalp and the hedge are Leaf's, in the second connection's half: its counts are the run's.
    assert split.stats["short_hold"] == 1 and split.stats["hedged"] == 1 and split.stats["deals"] == 14

    settings.IB_ENGINE_PARALLEL_DEALS = 0
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="ib.engine"):
        single = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    assert SPLIT not in caplog.text
    settings.IB_ENGINE_PARALLEL_DEALS = -1  # as 0: never split
    with caplog.at_level(logging.INFO, logger="ib.engine"):
        cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    assert SPLIT not in caplog.text
    assert totals(single) == EXPECTED
    assert _lines(split) == _lines(single) and len(_lines(split)) == 14
    # Inside a savepoint no snapshot can be exported: the second connection reads what is committed.
    caplog.clear()
    settings.IB_ENGINE_PARALLEL_DEALS = 1
    with caplog.at_level(logging.INFO, logger="ib.engine"), transaction.atomic():
        nested = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    assert SPLIT in caplog.text
    assert _lines(nested) == _lines(single)
    # A line of the second connection's half explains itself as any other.
    line = CommissionLine.objects.get(run=split, beneficiary=w.master, business_time=t(4, 10, 30), rule_code="comm")
    assert line.chain == [w.master.pk, w.sub.pk, w.leaf.pk] and line.rate == D("1") and line.amount == D("0.07")


@pytest.mark.django_db(transaction=True)
def test_a_run_in_a_transaction_that_wrote_deals_is_computed_on_one_connection_and_counts_them(settings, caplog):
    w = _month()
    settings.IB_ENGINE_PARALLEL_DEALS = 1
    with caplog.at_level(logging.INFO, logger="ib.engine"), transaction.atomic():
        # Not committed yet, so a second connection could not see it: 1 lot on 10 March, when the
        # client was still Leaf's: Leaf 5, Sub 2, Master 1.
        store(w, round_trip(w.account, opened=t(10, 10), closed=t(10, 11)))
        run = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    assert SPLIT not in caplog.text
    assert totals(run) == {"Leaf": D("15.70"), "Sub": D("21.35"), "Master": D("11.57")}


@pytest.mark.django_db(transaction=True)
def test_a_failure_on_the_second_connection_fails_the_run_and_keeps_nothing(settings, monkeypatch):
    w = _month()
    settings.IB_ENGINE_PARALLEL_DEALS = 1
    monkeypatch.setattr(engine._Half, "_copy_out_sql", lambda self, cursor: "COPY (SELECT 1 / 0) TO STDOUT")
    with pytest.raises(Exception, match="division by zero"):
        cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    assert not CommissionRun.objects.exists()
    assert not any(thread.name == "commission-engine-half" for thread in threading.enumerate())


@pytest.mark.django_db(transaction=True)
def test_a_failure_on_the_callers_connection_stops_the_second_and_keeps_nothing(settings, monkeypatch):
    w = _month()
    settings.IB_ENGINE_PARALLEL_DEALS = 1
    execute = engine._execute

    def cpa_fails(name, params, db=None, **parts):
        if name == "cpa":  # a step of the caller's connection only, while the second one computes its half
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 / 0")
        return execute(name, params, db, **parts)

    monkeypatch.setattr(engine, "_execute", cpa_fails)
    with pytest.raises(Exception, match="division by zero"):
        cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    assert not CommissionRun.objects.exists()
    assert not any(thread.name == "commission-engine-half" for thread in threading.enumerate())
    # The failed run left the brand's next run nothing in the way.
    settings.IB_ENGINE_PARALLEL_DEALS = 0
    monkeypatch.undo()
    assert totals(cs.commission_run(actor=None, brand=w.brand, period=MARCH)) == EXPECTED


@pytest.mark.django_db(transaction=True)
def test_tiers_are_reached_in_each_half_as_on_one_connection(settings, caplog):
    """Tiers on the partner's clients' lots over 7 days (from 3 lots the rate doubles): each half
    computes its own partners' tiers."""
    w = make_world(plan_rules=[{"code": "fx_rebate", "kind": "per_lot", "group": "fx", "level_rates": ["5", "2", "1"],
                                "tiers": [{"min_lots": "3", "factor": "2"}], "tier_window_days": 7}])
    sub_account = add_account(w, add_client(w, w.sub))
    master_account = add_account(w, add_client(w, w.master))
    store(w, [
        # Leaf's client: 2 lots on 28 February, then 1 on 2 March (3 in the window, x2: Leaf 10,
        # Sub 4, Master 2), 1 on 20 March (alone in its window: Leaf 5, Sub 2, Master 1).
        *round_trip(w.account, opened=t(28, 9, month=2), closed=t(28, 10, month=2), volume="2"),
        *round_trip(w.account, opened=t(2, 10), closed=t(2, 11)),
        *round_trip(w.account, opened=t(20, 10), closed=t(20, 11)),
        # Sub's client: 3 lots on 2 March, x2: Sub 30, Master 12.
        *round_trip(sub_account, opened=t(2, 10), closed=t(2, 11), volume="3"),
        # Master's client: 4 lots on 9 March, x2: Master 40.
        *round_trip(master_account, opened=t(9, 10), closed=t(9, 11), volume="4"),
    ])
    connection.close()
    settings.IB_ENGINE_PARALLEL_DEALS = 1
    with caplog.at_level(logging.INFO, logger="ib.engine"):
        split = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    assert SPLIT in caplog.text
    assert totals(split) == {"Leaf": D("15.00"), "Sub": D("36.00"), "Master": D("55.00")}
    settings.IB_ENGINE_PARALLEL_DEALS = 0
    single = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    assert _lines(split) == _lines(single)
    assert sorted(CommissionLine.objects.filter(run=split, beneficiary=w.sub).values_list("tier_factor", flat=True)) \
        == [D("1"), D("2"), D("2")]


@pytest.mark.django_db(transaction=True)
def test_when_no_second_connection_can_be_opened_the_run_is_computed_on_one(settings, monkeypatch, caplog):
    from django.db import OperationalError

    w = _month()
    settings.IB_ENGINE_PARALLEL_DEALS = 1

    def refused(self):
        raise OperationalError("sorry, too many clients already")

    monkeypatch.setattr(engine._Half, "_connect", refused)
    with caplog.at_level(logging.INFO, logger="ib.engine"):
        run = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    assert "no second connection (sorry, too many clients already)" in caplog.text and SPLIT not in caplog.text
    assert totals(run) == EXPECTED
    assert not any(thread.name == "commission-engine-half" for thread in threading.enumerate())
