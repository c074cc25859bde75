"""Spread revenue per deal on imported history (issue 61, item 3), on the three-level tree of
tests.ib.engine_world (Leaf's client; Leaf, Sub, Master): a deal report's Spread (price units),
Market Bid and Market Ask, or Spread Points with Digits, imported by `trading_import_deals`, is
the deal's spread, and the spread revenue share reads it; a deal without one falls back to the
symbol's markup per lot. The amounts are computed by hand in the comments."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from ib import commissions as cs
from tests.ib.engine_world import MARCH, make_world, round_trip, store, t, totals
from trading.models import Deal as DealRow

D = Decimal
# 50% / 20% / 10% of the spread; EURUSD 100 000 a lot; the symbol's markup 7 a lot.
RULES = [{"code": "sp", "kind": "revshare", "basis": "spread", "level_rates": ["50", "20", "10"]}]
HEADER = "Time,Deal,Login,Type,Direction,Position,Symbol,Volume,Price,Profit"


def _world():
    w = make_world(plan_rules=RULES)
    cs.instrument_save(actor=None, brand=w.brand, symbol="EURUSD", group=w.fx, contract_size="100000",
                       markup_per_lot="7")
    return w


def _csv(tmp_path, name, header, rows):
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n")
    return str(path)


def _import(w, path, *more):
    out = StringIO()
    call_command("trading_import_deals", path, "--server", str(w.server.code), *more, stdout=out)
    return out.getvalue()


def _trip(login, deal, position, day, volume, price, *market):
    """A position opened at 10:00 and closed at 11:00 on `day` (held an hour), the closing row with `market`."""
    extra = "," + ",".join(market) if market else ""
    blank = "," * len(market)
    return [f"2024.03.{day:02d} 10:00:00,{deal},{login},buy,in,{position},EURUSD,{volume},{price},0{blank}",
            f"2024.03.{day:02d} 11:00:00,{deal + 1},{login},sell,out,{position},EURUSD,{volume},{price},0{extra}"]


def _lines(run):
    """(day, partner, level, basis, amount) of each line, in time and level order."""
    return [(x.business_time.day, x.beneficiary.display_name, x.level, x.basis, x.amount) for x in cs.run_lines(run)]


@pytest.mark.django_db
def test_each_imported_deal_earns_on_its_own_spread_else_on_the_symbols_markup(tmp_path):
    w = _world()
    login = w.account.login
    prices = _csv(tmp_path, "prices.csv", HEADER + ",Spread,Market Bid,Market Ask", [
        # 3 March, 1 lot, Spread 0.00012: 0.00012 x 1 x 100 000 = 12.
        *_trip(login, 100, 1, 3, "1", "1.08500", "0.00012", "", ""),
        # 4 March, 2 lots, bid 1.08500 and ask 1.08515: 0.00015 x 2 x 100 000 = 30.
        *_trip(login, 200, 2, 4, "2", "1.08500", "", "1.08500", "1.08515"),
        # 5 March, 1 lot, neither: the markup, 1 lot x 7 = 7.
        *_trip(login, 300, 3, 5, "1", "1.08500", "", "", "")])
    points = _csv(tmp_path, "points.csv", HEADER + ",Spread Points,Digits", [
        # 6 March, 0.5 lot, 20 points of a 5-digit symbol = 0.00020: 0.0002 x 0.5 x 100 000 = 10.
        *_trip(login, 400, 4, 6, "0.5", "1.08500", "20", "5")])
    assert "inserted 6," in _import(w, prices)
    assert "inserted 2," in _import(w, points)
    run = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    # Each basis x 50% (Leaf), 20% (Sub), 10% (Master).
    assert _lines(run) == [
        (3, "Leaf", 0, D("12"), D("6.00")), (3, "Sub", 1, D("12"), D("2.40")), (3, "Master", 2, D("12"), D("1.20")),
        (4, "Leaf", 0, D("30"), D("15.00")), (4, "Sub", 1, D("30"), D("6.00")), (4, "Master", 2, D("30"), D("3.00")),
        (5, "Leaf", 0, D("7"), D("3.50")), (5, "Sub", 1, D("7"), D("1.40")), (5, "Master", 2, D("7"), D("0.70")),
        (6, "Leaf", 0, D("10"), D("5.00")), (6, "Sub", 1, D("10"), D("2.00")), (6, "Master", 2, D("10"), D("1.00"))]
    # Leaf 6 + 15 + 3.50 + 5 = 29.50; Sub 2.40 + 6 + 1.40 + 2 = 11.80; Master 1.20 + 3 + 0.70 + 1 = 5.90.
    assert totals(run) == {"Leaf": D("29.50"), "Sub": D("11.80"), "Master": D("5.90")}
    # The deals keep what the file said: the spread alone, or the bid and ask.
    stored = {d.deal_id: (d.market_bid, d.market_ask, d.market_spread) for d in DealRow.objects.filter(
        deal_id__in=[101, 201, 301, 401])}
    assert stored == {101: (None, None, D("0.00012")), 201: (D("1.08500"), D("1.08515"), None),
                      301: (None, None, None), 401: (None, None, D("0.0002"))}
    # Importing the files again changes nothing; neither does running the engine again.
    assert "unchanged 6" in _import(w, prices) and "unchanged 2" in _import(w, points)
    again = cs.commission_run(actor=None, brand=w.brand, period=MARCH)
    assert _lines(again) == _lines(run) and totals(again) == totals(run)
    assert totals(cs.commission_run_increment(brand=w.brand, period=MARCH)) == totals(run)


@pytest.mark.django_db
def test_a_report_with_spreads_fills_them_into_history_imported_without(tmp_path):
    w = _world()
    login = w.account.login
    bare = _csv(tmp_path, "bare.csv", HEADER, [*_trip(login, 100, 1, 3, "1", "1.08500"),
                                               *_trip(login, 200, 2, 4, "2", "1.08500")])
    _import(w, bare)
    # No spreads: the markup, 1 lot x 7 = 7 and 2 lots x 7 = 14: 21 x 50% / 20% / 10%.
    assert totals(cs.commission_run(actor=None, brand=w.brand, period=MARCH)) == {
        "Leaf": D("10.50"), "Sub": D("4.20"), "Master": D("2.10")}
    full = _csv(tmp_path, "full.csv", HEADER + ",Spread", [*_trip(login, 100, 1, 3, "1", "1.08500", "0.00012"),
                                                           *_trip(login, 200, 2, 4, "2", "1.08500", "0.0001")])
    out = _import(w, full)
    assert "market prices filled in 2, unchanged 2" in out
    # 0.00012 x 1 x 100 000 = 12 and 0.0001 x 2 x 100 000 = 20: 32 x 50% / 20% / 10%.
    assert totals(cs.commission_run(actor=None, brand=w.brand, period=MARCH)) == {
        "Leaf": D("16.00"), "Sub": D("6.40"), "Master": D("3.20")}
    # The file without the column does not clear them.
    assert "unchanged 4" in _import(w, bare)
    assert totals(cs.commission_run(actor=None, brand=w.brand, period=MARCH))["Leaf"] == D("16.00")


@pytest.mark.django_db
def test_a_synced_deals_spread_is_read_as_its_bid_and_ask_or_its_spread(tmp_path):
    w = _world()
    store(w, [*round_trip(w.account, opened=t(3, 10), closed=t(3, 11), spread="0.0003"),
              *round_trip(w.account, opened=t(4, 10), closed=t(4, 11), bid="1.1", ask="1.10005")])
    # 0.0003 x 100 000 = 30 and 0.00005 x 100 000 = 5: 35 x 50% / 20% / 10%.
    assert totals(cs.commission_run(actor=None, brand=w.brand, period=MARCH)) == {
        "Leaf": D("17.50"), "Sub": D("7.00"), "Master": D("3.50")}


@pytest.mark.django_db
def test_a_dry_run_names_each_bad_row_and_column_and_writes_nothing(tmp_path):
    w = _world()
    login = w.account.login
    bad = _csv(tmp_path, "bad.csv", HEADER + ",Spread,Market Bid,Market Ask", [
        f"2024.03.03 11:00:00,11,{login},sell,out,1,EURUSD,1,1.08500,0,12,,",            # row 2: points as price
        f"2024.03.03 11:00:00,12,{login},sell,out,2,EURUSD,1,1.08500,0,,1.08520,1.08500",  # row 3: ask < bid
        f"2024.03.03 11:00:00,13,{login},sell,out,3,EURUSD,1,1.08500,0,,,1.08500",         # row 4: no bid
        f"2024.03.03 11:00:00,14,{login},sell,out,4,EURUSD,1,1.08500,0,0.0002,1.085,1.0851",  # row 5: disagree
        f"2024.03.03 11:00:00,15,{login},sell,out,5,EURUSD,1,1.08500,0,-0.1,,",             # row 6: negative
        f"2024.03.03 11:00:00,16,{login},sell,out,6,EURUSD,1,1.08500,0,abc,,",              # row 7: not a number
        f"2024.03.03 11:00:00,17,{login},sell,out,7,EURUSD,1,1.08500,0,0.00012,,"])         # fine
    err = StringIO()
    with pytest.raises(CommandError, match="6 problem"):
        call_command("trading_import_deals", bad, "--server", str(w.server.code), "--dry-run", stdout=StringIO(),
                     stderr=err)
    assert err.getvalue().splitlines() == [
        "row 2, column Spread: '12' is not below the deal's price '1.08500': the Spread column is in price units "
        "(a spread in points goes in a Spread Points column, with Digits)",
        "row 3, column Market Ask: '1.08500' is below the bid '1.08520'",
        "row 4, column Market Bid: empty while Market Ask is given: give both or neither",
        "row 5, column Spread: '0.0002' is not the ask minus the bid (0.0001)",
        "row 6, column Spread: '-0.1' is negative",
        "row 7, column Spread: 'abc' is not a number"]
    assert not DealRow.objects.filter(server=w.server).exists()
    points = _csv(tmp_path, "points.csv", HEADER + ",Spread Points,Digits", [
        f"2024.03.03 11:00:00,21,{login},sell,out,1,EURUSD,1,1.08500,0,12,",
        f"2024.03.03 11:00:00,22,{login},sell,out,2,EURUSD,1,1.08500,0,12,five"])
    err = StringIO()
    with pytest.raises(CommandError, match="2 problem"):
        call_command("trading_import_deals", points, "--server", str(w.server.code), "--dry-run", stdout=StringIO(),
                     stderr=err)
    assert err.getvalue().splitlines() == [
        "row 2, column Digits: empty: the spread in points needs the symbol's decimals",
        "row 3, column Digits: 'five' is not the symbol's decimals (0 to 10): the spread in points needs the "
        "symbol's decimals"]
    # A file giving points without the symbol's digits is refused at its header.
    no_digits = _csv(tmp_path, "no_digits.csv", HEADER + ",Spread Points", [
        f"2024.03.03 11:00:00,31,{login},sell,out,1,EURUSD,1,1.08500,0,12"])
    with pytest.raises(CommandError, match="column 'Spread Points' is in points: the file needs a Digits column"):
        _import(w, no_digits, "--dry-run")
    # A good file's dry run counts and writes nothing.
    good = _csv(tmp_path, "good.csv", HEADER + ",Spread", [*_trip(login, 100, 1, 3, "1", "1.08500", "0.00012")])
    assert _import(w, good, "--dry-run").startswith("Dry run: 2 deals read from 2 rows: inserted 2,")
    assert not DealRow.objects.filter(server=w.server).exists()
