"""`manage.py trading_import_deals`: an MT5 deal report backfilled through the sync's upsert."""
# ruff: noqa: F811 - pytest fixtures imported from crm_fixtures are redefined as test arguments

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.trading.crm_fixtures import open_account, world  # noqa: F401 - fixtures
from trading.models import Deal

HEADER = "Time,Deal,Login,Order,Symbol,Type,Direction,Volume,Price,Commission,Swap,Profit,Fee,Comment,Position\n"


def _report(tmp_path, login, *, edited=False, extra="", name="deals.csv", header=HEADER):
    profit = "12.50" if edited else "10.00"
    body = (
        f"2024.03.01 10:00:00,900001,{login},1,,balance,,0,0,0,0,1 000.00,0,deposit,0\n"
        f"2024.03.01 12:00:00,900002,{login},5001,EURUSD,buy,in,0.10,1.08500,-0.70,0,0,0,,7001\n"
        f"2024.03.01 15:30:00.250,900003,{login},5002,EURUSD,sell,out,0.10,1.08620,-0.70,-0.15,{profit},0,,7001\n"
    )
    path = tmp_path / name
    path.write_text(header + body + extra)
    return path


def _run(path, server, *extra):
    out, err = StringIO(), StringIO()
    call_command("trading_import_deals", str(path), "--server", str(server.code), *extra, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db(transaction=True)
def test_it_imports_a_deal_report_and_a_rerun_changes_nothing(world, tmp_path):
    account = open_account(world, deposit=None)
    path = _report(tmp_path, account.login)
    out, _err = _run(path, world.server)
    assert "inserted 3, updated 0, unchanged 0" in out
    deal = Deal.objects.get(server=world.server, deal_id=900003)
    assert deal.account == account
    assert deal.profit == Decimal("10.00") and deal.swap == Decimal("-0.15") and deal.entry == "out"
    assert deal.side == "sell" and deal.position_id == 7001 and deal.symbol == "EURUSD"
    # The report is in the server's clock (UTC+2 on the test server): stored in UTC.
    offset = dt.timedelta(minutes=world.server.server_tz_offset_minutes)
    assert deal.time == dt.datetime(2024, 3, 1, 15, 30, 0, 250000, tzinfo=dt.UTC) - offset
    assert Deal.objects.get(deal_id=900001).profit == Decimal("1000.00")  # spaces as thousands separators

    updated = dict(Deal.objects.values_list("deal_id", "updated_at"))
    out, _err = _run(path, world.server)
    assert "inserted 0, updated 0, unchanged 3" in out
    assert dict(Deal.objects.values_list("deal_id", "updated_at")) == updated


@pytest.mark.django_db(transaction=True)
def test_an_edited_deal_is_updated(world, tmp_path):
    account = open_account(world, deposit=None)
    _run(_report(tmp_path, account.login), world.server)
    before = Deal.objects.get(deal_id=900003).content_hash
    out, _err = _run(_report(tmp_path, account.login, edited=True, name="edited.csv"), world.server)
    assert "inserted 0, updated 1, unchanged 2" in out
    deal = Deal.objects.get(deal_id=900003)
    assert deal.profit == Decimal("12.50") and deal.content_hash != before


@pytest.mark.django_db(transaction=True)
def test_bad_rows_are_named_and_nothing_is_written(world, tmp_path):
    account = open_account(world, deposit=None)
    bad = (f"2024.03.02 10:00:00,900010,{account.login},1,EURUSD,buy,,0.1,1.1,0,0,0,0,,1\n"
           f"yesterday,900011,{account.login},1,EURUSD,sell,out,lots,1.1,0,0,0,0,,1\n"
           f"2024.03.02 11:00:00,900012,{account.login},1,,teleport,,0,0,0,0,5,0,,0\n")
    path = _report(tmp_path, account.login, extra=bad)
    with pytest.raises(CommandError, match="nothing was imported"):
        _run(path, world.server)
    assert not Deal.objects.filter(deal_id__gte=900001, deal_id__lte=900012).exists()
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("trading_import_deals", str(path), "--server", str(world.server.code), stderr=err)
    problems = err.getvalue()
    assert "row 5, column Direction: empty" in problems
    assert "row 6, column Time: 'yesterday'" in problems
    assert "row 6, column Volume: 'lots' is not a number" in problems
    assert "row 7, column Type: 'teleport' is not a deal type" in problems


@pytest.mark.django_db(transaction=True)
def test_header_variants_and_unknown_logins(world, tmp_path):
    account = open_account(world, deposit=None)
    header = "time;ticket;account;order;symbol;action;entry;lots;price;comm;storage;p/l;fee;comment;position id\n"
    body = (f"2024-03-01 12:00:00;900020;{account.login};1;EURUSD;0;0;0,10;1,085;0;0;0;0;;9\n"
            "2024-03-01 12:00:00;900021;424242;1;EURUSD;1;1;0,10;1,085;0;0;3;0;;9\n")
    path = tmp_path / "variants.csv"
    path.write_text(header + body)
    out, _err = _run(path, world.server)
    assert "inserted 1, updated 0, unchanged 0, skipped 1" in out
    assert "424242" in out
    assert Deal.objects.get(deal_id=900020).volume == Decimal("0.10")


def test_missing_columns_and_unknown_server_are_refused(db, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("Time,Deal\n2024.03.01 10:00:00,1\n")
    with pytest.raises(CommandError, match="no platform server"):
        call_command("trading_import_deals", str(path), "--server", "00000000-0000-0000-0000-000000000000")
    with pytest.raises(CommandError, match="not a server code"):
        call_command("trading_import_deals", str(path), "--server", "nope")
