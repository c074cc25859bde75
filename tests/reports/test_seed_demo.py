"""reports_seed_demo: the demo groups get their book once (an administrator's later choice is kept),
and the read models are rebuilt so the dashboard shows the demo's numbers with the book split."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.management import call_command

from reports.selectors import Period, dashboard, dashboard_scope
from tests.reports.world import build

pytestmark = pytest.mark.django_db


def test_the_demo_seed_sets_the_groups_books_once_and_fills_the_dashboard():
    from crm.models import AuditLog
    from trading.selectors import trading_groups_of_server
    from trading.services import trading_group_book_set

    w = build()
    out = io.StringIO()
    call_command("reports_seed_demo", stdout=out)
    assert "group books set" in out.getvalue()
    books = {g["name"]: g["book"] for g in trading_groups_of_server(w.server)}
    assert books["real\\standard"] == "b" and books["real\\pro"] == "a"
    board = dashboard(scope=dashboard_scope(w.admin), period=Period(w.now.date() - dt.timedelta(days=3), w.now.date()),
                      brand_id=w.brand.pk)
    assert board.net_deposits["USD"]["net"] == Decimal("850")
    assert board.broker_books["USD"]["b"]["closed_pl"] == Decimal("45")  # the standard group's deals
    trading_group_book_set(actor=w.admin, server=w.server, group="real\\standard", book="a")
    audits = AuditLog.objects.filter(action="trading.group_book_set").count()
    call_command("reports_seed_demo", stdout=io.StringIO())
    assert {g["name"]: g["book"] for g in trading_groups_of_server(w.server)}["real\\standard"] == "a"
    assert AuditLog.objects.filter(action="trading.group_book_set").count() == audits  # nothing set again
