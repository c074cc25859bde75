from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command

from monitoring.export import context_as_dict, events_write
from monitoring.models import AgentDayScore
from monitoring.pipeline import brand_rescore
from tests.monitoring.helpers import desk_with_history

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 10, 15, 0, tzinfo=UTC)


def test_the_export_through_the_backtest_gives_the_products_scores(tmp_path):
    last = NOW.date() - timedelta(days=1)
    with time_machine.travel(NOW, tick=False):
        history = desk_with_history(agents=8, days=100, end=last, seed=9)  # the seventh changes shift
        brand_rescore(history.brand.pk, today=last)
        out = io.StringIO()
        lines = events_write(out, brand=history.brand)
        context = context_as_dict(history.brand)
    assert lines == len(history.scenario.events)
    assert context["cover"] and context["leave"] and context["campaign_days"] and context["holidays"]
    assert any(len(a["shifts"]) == 2 for a in context["agents"])  # a shift change, with its day
    events_path, context_path, alerts_path = tmp_path / "EVENTS.jsonl", tmp_path / "CONTEXT.json", tmp_path / "A.csv"
    events_path.write_text(out.getvalue(), encoding="utf-8")
    context_path.write_text(json.dumps(context), encoding="utf-8")
    assert all(c["known_from"] for c in context["cover"] + context["leave"] + context["campaign_days"])
    # the export's facts carry the day they were entered: the replay reads them as known from then
    call_command("monitoring_backtest", str(events_path), "--context", str(context_path), "--budget", "0.5",
                 "--out", str(alerts_path), stdout=io.StringIO())
    # read as known at the end of the period, the backtest is the product's nightly rescore of the window
    call_command("monitoring_backtest", str(events_path), "--context", str(context_path), "--budget", "0.5",
                 "--context-known-at-end", "--out", str(alerts_path), stdout=io.StringIO())
    with alerts_path.open(encoding="utf-8") as handle:
        backtest = {(r["agent"], r["day"]): r for r in csv.DictReader(handle)}
    product = {(str(s.agent_id), s.day.isoformat()): s for s in AgentDayScore.objects.filter(agent__in=history.agents)}
    assert set(backtest) == set(product)
    for key, row in backtest.items():
        mine = product[key]
        assert abs(float(row["score"]) - mine.score) < 0.0011, key
        assert (row["alerted"] == "true") == mine.alerted, key


def test_a_compliance_officer_exports_the_activity_as_a_job_and_a_manager_may_not(
        client, login_verified, django_capture_on_commit_callbacks):
    import zipfile

    from django.urls import reverse

    from crm.models import Job
    from tests.factories import make_user
    from tests.rq import empty, work

    last = NOW.date() - timedelta(days=1)
    with time_machine.travel(NOW, tick=False):
        history = desk_with_history(agents=4, days=80, end=last, seed=4)
    officer = make_user(role_code="compliance", brand=history.brand)
    login_verified(client, history.manager)
    assert client.post(reverse("monitoring_activity_export"), {"brand": history.brand.code}).status_code == 404
    login_verified(client, officer)
    empty()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("monitoring_activity_export"), {"brand": history.brand.code})
    job = Job.objects.get(kind="monitoring.activity_export")
    assert response["Location"] == reverse("job_detail", args=[job.code])
    work()
    job.refresh_from_db()
    assert job.status == "done" and job.counts == {"events": len(history.scenario.events)}
    with job.result_file.open("rb") as raw, zipfile.ZipFile(raw) as archive:
        assert sorted(archive.namelist()) == ["CONTEXT.json", "EVENTS.jsonl"]
        first = json.loads(archive.read("EVENTS.jsonl").decode().splitlines()[0])
        assert {"id", "time", "agent", "kind", "client", "client_owner", "client_high_value", "rows",
                "duration_s"} <= set(first)
        assert len(json.loads(archive.read("CONTEXT.json"))["agents"]) == 4
