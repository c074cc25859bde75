"""The IB manager's plan pages and runs started from a page: versions recorded from the form (bad
JSON and bad rules named, nothing stored), assignments, a what-if run of a draft beside the month's
run, a period calculated by a django-rq job, and a run whose job failed or stopped shown as failed
with the reason."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from django.test import Client as HttpClient

from crm.jobs import job_cancel
from crm.models import AuditLog, RoleCode
from ib import commissions as cs
from ib.exceptions import CommissionRunTransitionRefused
from ib.models import (
    RUN_STATES,
    CommissionLine,
    CommissionRun,
    PlanAssignment,
    PlanVersion,
    RunKind,
    RunStatus,
)
from tests.factories import make_user
from tests.ib.engine_world import MARCH, make_world, round_trip, store, t
from tests.rq import empty, work

D = Decimal


@pytest.fixture
def world(db):
    w = make_world()
    store(w, round_trip(w.account, opened=t(4, 10), closed=t(4, 11), volume="2"))
    cs.commission_run(actor=None, brand=w.brand, period=MARCH)  # Leaf 10, Sub 4, Master 2
    w.manager = make_user(role_code=RoleCode.IB_MANAGER, brand=w.brand)
    w.http = HttpClient()
    w.http.force_login(w.manager)
    empty()
    return w


def version_post(w, capture=None, **fields):
    data = {"effective_from": "2024-01-01", "min_hold_seconds": "60", "split_mode": "levels",
            "rules": json.dumps([{"code": "fx_rebate", "kind": "per_lot", "group": "fx", "level_rates": ["6", "2", "1"]}]),
            **fields}
    return w.http.post(f"/ib/plans/{w.plan.code}/versions/", data)


def test_the_plan_page_shows_versions_and_rules_and_starts_the_next_version_from_the_latest(world):
    listing = world.http.get("/ib/plans/").content.decode()
    assert "Standard" in listing and f"/ib/plans/{world.plan.code}/" in listing
    page = world.http.get(f"/ib/plans/{world.plan.code}/").content.decode()
    assert 'data-version="1"' in page and "fx_rebate" in page and "5 / 2 / 1" in page
    # The form starts from version 1's rules, as the JSON the service takes.
    assert "{&quot;code&quot;: &quot;fx_rebate&quot;, &quot;kind&quot;: &quot;per_lot&quot;, &quot;group&quot;: &quot;fx&quot;" in page


def test_a_version_recorded_from_the_page_is_stored_and_audited(world):
    response = version_post(world, note="Leaf's rate is 6")
    assert response.status_code == 302
    v2 = PlanVersion.objects.get(plan=world.plan, number=2)
    assert (v2.note, v2.min_hold_seconds, [str(r) for r in v2.rules.get().level_rates]) == (
        "Leaf's rate is 6", 60, ["6.0000000000", "2.0000000000", "1.0000000000"])
    assert AuditLog.objects.filter(action="ib.plan_version_recorded", actor=world.manager).exists()


@pytest.mark.parametrize(("rules", "error"), [
    ("[{\"code\": ", "Not valid JSON"),
    ("{\"code\": \"x\"}", "Give a list of rules, each an object."),
    (json.dumps([{"code": "gold", "kind": "per_lot", "group": "gold", "level_rates": ["1"]}]),
     "rules[0].group: Unknown instrument group gold."),
    (json.dumps([{"code": "fx", "kind": "per_lot", "level_rates": ["-1"]}]), "rules[0].level_rates"),
])
def test_bad_rules_are_named_and_nothing_is_recorded(world, rules, error):
    response = version_post(world, rules=rules)
    assert response.status_code == 400 and error in response.content.decode()
    assert PlanVersion.objects.filter(plan=world.plan).count() == 1


def test_assigning_the_plan_from_the_page_ends_the_partners_current_assignment(world):
    response = world.http.post(f"/ib/plans/{world.plan.code}/assign/",
                               {"partner": world.leaf.code, "effective_from": "2024-06-01"})
    assert response.status_code == 302
    rows = list(PlanAssignment.objects.filter(partner=world.leaf).order_by("effective_from"))
    assert [r.effective_to for r in rows] == [t(1, 0, month=6).replace(hour=0), None]
    early = world.http.post(f"/ib/plans/{world.plan.code}/assign/",
                            {"partner": world.leaf.code, "effective_from": "2023-12-01"})
    assert early.status_code == 400 and "Choose a date after the current assignment" in early.content.decode()


def test_a_what_if_run_of_a_draft_shows_what_it_would_have_paid_beside_the_months_run(
        world, django_capture_on_commit_callbacks):
    assert version_post(world, draft="on").status_code == 302
    with django_capture_on_commit_callbacks(execute=True):
        response = world.http.post(f"/ib/plans/{world.plan.code}/versions/2/what-if/", {"v2-period": "2024-03"})
    run = CommissionRun.objects.get(kind=RunKind.WHAT_IF)
    assert response.status_code == 302 and response["Location"] == f"/ib/runs/{run.code}/"
    assert run.status == RunStatus.RUNNING and "Computing" in world.http.get(response["Location"]).content.decode()
    work()
    run.refresh_from_db()
    assert run.status == RunStatus.DONE and run.number is None
    page = world.http.get(f"/ib/runs/{run.code}/").content.decode()
    assert "Compared with run #1" in page
    differences = re.findall(r"data-difference>([^<]+)<", page)
    assert len(differences) == 3 and sum("2.00" in d for d in differences) == 1  # Leaf: 12 instead of 10
    assert CommissionRun.objects.filter(kind=RunKind.REGULAR).count() == 1  # nothing regular was added


def test_a_period_calculated_from_the_runs_page_is_the_next_run_computed_by_the_job(
        world, django_capture_on_commit_callbacks):
    bad = world.http.post("/ib/runs/start/", {"start-brand": world.brand.code, "start-period": "March"})
    assert bad.status_code == 302 and not CommissionRun.objects.filter(number=2).exists()
    assert "Give the period as YYYY-MM." in world.http.get(bad["Location"]).content.decode()
    future = world.http.post("/ib/runs/start/", {"start-brand": world.brand.code, "start-period": "2999-01"})
    assert "2999-01 has not begun yet." in world.http.get(future["Location"]).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = world.http.post("/ib/runs/start/", {"start-brand": world.brand.code, "start-period": "2024-03"})
    run = CommissionRun.objects.get(number=2)
    assert response["Location"] == f"/ib/runs/{run.code}/" and run.actor == world.manager
    poll = world.http.get(f"/ib/runs/{run.code}/?poll=1", headers={"HX-Request": "true"})
    assert poll.status_code == 204  # still computing
    work()
    poll = world.http.get(f"/ib/runs/{run.code}/?poll=1", headers={"HX-Request": "true"})
    assert poll.headers.get("HX-Refresh") == "true"
    run.refresh_from_db()
    assert run.status == RunStatus.DONE and run.job.status == "done"
    assert CommissionLine.objects.filter(run=run).count() == 3


def test_a_run_that_cannot_be_computed_or_whose_job_stopped_is_failed_with_the_reason(
        world, django_capture_on_commit_callbacks):
    cs.plan_version_record(actor=None, plan=world.plan, effective_from=t(1, 0, month=1), rules=[
        {"code": "fx_rebate", "kind": "per_lot", "group": "fx", "currency": "EUR", "level_rates": ["5"]}])
    with django_capture_on_commit_callbacks(execute=True):
        failing = cs.commission_run_start(actor=world.manager, brand=world.brand, period=MARCH)
    work()
    failing.refresh_from_db()
    assert failing.status == RunStatus.FAILED and "No FX rate for EUR/USD" in failing.stats["error"]
    assert "No FX rate for EUR/USD" in world.http.get(f"/ib/runs/{failing.code}/").content.decode()
    assert not CommissionLine.objects.filter(run=failing).exists()

    stopped = cs.commission_run_start(actor=world.manager, brand=world.brand, period=MARCH)
    job_cancel(actor=world.manager, job=stopped.job)
    page = world.http.get(f"/ib/runs/{stopped.code}/").content.decode()
    stopped.refresh_from_db()
    assert stopped.status == RunStatus.FAILED and 'data-run-error' in page
    # A failed run does not stand in the way of settling the period's finished run.
    first = CommissionRun.objects.get(number=1)
    assert cs.commission_run_settle(actor=None, run=first)


def test_a_finished_run_stays_finished_a_late_failure_changing_nothing(world):
    done = CommissionRun.objects.get(number=1)
    finished_at, stats = done.finished_at, done.stats
    cs.run_fail(done, "the worker's late word")  # set-based: only a running run becomes failed
    done.refresh_from_db()
    assert (done.status, done.finished_at, done.stats) == (RunStatus.DONE, finished_at, stats)
    with pytest.raises(CommissionRunTransitionRefused, match="done cannot become failed"):
        RUN_STATES.move(done, RunStatus.FAILED, save=())
    done.refresh_from_db()
    assert done.status == RunStatus.DONE and cs.commission_run_settle(actor=None, run=done)


def test_a_version_for_the_day_of_an_earlier_one_corrects_it_from_its_exact_start(world):
    start = t(15, 8, month=2)  # a version in force from 15 February, 08:00 UTC
    cs.plan_version_record(actor=None, plan=world.plan, effective_from=start, rules=[
        {"code": "fx_rebate", "kind": "per_lot", "group": "fx", "level_rates": ["5", "2", "1"]}])
    assert version_post(world, effective_from="2024-02-15").status_code == 302
    assert PlanVersion.objects.get(plan=world.plan, number=3).effective_from == start
    assert version_post(world, effective_from="2024-02-16").status_code == 302
    assert PlanVersion.objects.get(plan=world.plan, number=4).effective_from == t(16, 0, month=2)


def test_one_trading_account_gets_a_personal_override_by_its_login(world):
    login = world.account.login
    response = world.http.post(f"/ib/plans/{world.plan.code}/assign/",
                               {"account_login": str(login), "effective_from": "2024-03-10"})
    assert response.status_code == 302
    override = PlanAssignment.objects.get(account=world.account)
    assert (override.plan, override.effective_from) == (world.plan, t(10, 0))
    page = world.http.get(f"/ib/plans/{world.plan.code}/").content.decode()
    assert f"Account {login} (personal override)" in page
    unknown = world.http.post(f"/ib/plans/{world.plan.code}/assign/",
                              {"account_login": "999", "effective_from": "2024-03-10"})
    assert unknown.status_code == 400 and "No live trading account 999 on this brand." in unknown.content.decode()
    both = world.http.post(f"/ib/plans/{world.plan.code}/assign/",
                           {"partner": world.leaf.code, "account_login": str(login), "effective_from": "2024-03-10"})
    assert both.status_code == 400 and "Choose a partner, or give one trading account" in both.content.decode()
    assert PlanAssignment.objects.filter(account__isnull=False).count() == 1
