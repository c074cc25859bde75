"""monitoring's SQL files (plumbing.sqlfiles): each statement runs, through the function that owns it,
against the database (the aggregation's equality with the pure-Python scoring is tested in
test_pipeline.py); the abuse detectors' behaviour on real data is tested in test_traders.py,
test_partners.py and test_abuse_labelled.py."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from monitoring import abuse, export, partners, pipeline, traders
from plumbing import sqlfiles
from tests.factories import make_brand, make_client, make_desk, make_user

pytestmark = pytest.mark.django_db


def test_every_monitoring_statement_runs() -> None:
    brand = make_brand()
    client = make_client(brand=brand)
    day = dt.datetime.now(dt.UTC).date()
    sqlfiles.used.clear()
    assert abuse.client_links(client_id=client.pk, brand_id=brand.pk) == []
    assert abuse.clients_links_among(client_ids=[client.pk], brand_id=brand.pk) == []
    for detect in (traders.detect_multi_accounting, traders.detect_hedging, traders.detect_latency_arbitrage,
                   partners.detect_self_dealing, partners.detect_client_rings, partners.detect_commission_farming,
                   partners.detect_volume_spikes):
        assert detect(day=day, brand_id=brand.pk) == []
    agent = make_user(role_code="sales_agent", desk=make_desk(brand=brand))
    start = dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC)
    assert pipeline.features_aggregate(agent_ids=[agent.pk], start=start, end=start + dt.timedelta(days=1),
                                       stream_start=start) == {}
    assert pipeline._features_build(brand.pk, agent_ids=[agent.pk], first=day, last=day, stream_start=start) == 0
    assert pipeline._features_build(brand.pk, agent_ids=[agent.pk], first=day, last=day, stream_start=start,
                                    targets=[(agent.pk, day)]) == 0
    assert pipeline._features_changed(agent_ids=[agent.pk], first=day - dt.timedelta(days=7), before=day,
                                      since=None) == []
    assert export.events_write(io.StringIO(), brand=brand) == 0
    names = set(sqlfiles.sql_names("monitoring"))
    assert names, "no statement file found"
    assert {("monitoring", name) for name in names} <= sqlfiles.used, names - {n for _, n in sqlfiles.used}
