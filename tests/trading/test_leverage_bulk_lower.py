"""Lowering a cap offers to lower the accounts above it: "Lower N accounts to 1:X" starts a background
job (crm.jobs) that changes each account through the leverage service, on the platform first, so a
platform that refuses one account fails that account only (counted, named in the result, nothing of it
written) and the others are lowered and audited."""
# ruff: noqa: F811 - pytest fixtures imported from crm_fixtures are redefined as test arguments

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from crm.models import AuditLog, Job
from tests.factories import make_client
from tests.rq import empty, work
from tests.trading.crm_fixtures import _fresh_adapters, events, open_account, world  # noqa: F401 - fixtures
from trading.models import TradingAccount
from trading.services import brand_trading_policy_set, leverage_cap_save, trading_account_set_leverage


def _platform_leverage(world, login: int) -> int:
    return int(next(a for a in world.sim.truth()["accounts"] if int(a["Login"]) == login)["Leverage"])


def _gb(world, n: int):
    return make_client(actor=world.owner, country="AE", stage="funded", email=f"ae{n}@example.com")


def _result_rows(job: Job) -> list[list[str]]:
    with job.result_file.open("rb") as handle:
        return list(csv.reader(io.StringIO(handle.read().decode("utf-8"))))


@pytest.fixture
def above(world):
    """Three AE retail accounts at 1:500, 1:200 and 1:100 and a Nigerian one at 1:500 (countries without a
    regulator's default cap); then an AE retail cap of 1:50 leaves the three AE ones above it."""
    brand_trading_policy_set(actor=world.admin, brand=world.brand, max_leverage_live=500, max_leverage_demo=500)
    accounts = [open_account(world, _gb(world, n), deposit=None, leverage=lev) for n, lev in enumerate((500, 200, 100))]
    ng = open_account(world, make_client(actor=world.owner, country="NG", stage="funded"), deposit=None, leverage=500)
    return world, accounts, ng


def test_saving_a_lower_cap_offers_to_lower_the_accounts_above_it(above, client, login_verified):
    world, accounts, ng = above
    login_verified(client, world.admin)
    response = client.post(reverse("trading_cap_create", args=[world.brand.code]),
                           {"country": "AE", "classification": "retail", "max_leverage": "50"}, follow=True)
    html = response.content.decode()
    assert "3 open accounts are above their caps" in html
    assert 'data-lower="live-50"' in html and "Lower 3 accounts to 1:50" in html
    assert {a.login for a in response.context["accounts"]} == {a.login for a in accounts}
    assert ng.login not in {a.login for a in response.context["accounts"]}


def test_the_job_lowers_each_account_and_a_platform_refusal_fails_only_that_one(above, client, login_verified,
                                                                                django_capture_on_commit_callbacks):
    world, (first, second, third), ng = above
    leverage_cap_save(actor=world.admin, brand=world.brand, country="AE", classification="retail", max_leverage=50)
    login_verified(client, world.admin)
    empty()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("trading_leverage_lower", args=[world.brand.code]), {"cap": "50"})
    job = Job.objects.get(kind="trading.leverage_lower")
    assert response.status_code == 302 and response["Location"] == reverse("job_detail", args=[job.code])
    assert (job.total, job.started_by, job.brand) == (3, world.admin, world.brand)
    assert job.title == f"Lower 3 live accounts of {world.brand.name} to 1:50"
    # The platform refuses the second account's change (highest leverage first: 500, 200, 100).
    world.sim.faults({"type": "retcode", "path": "/api/user/update", "retcode": "3 Invalid parameters",
                      "skip": 1, "count": 1})

    work()

    job.refresh_from_db()
    assert job.status == "done" and job.done == 3
    assert job.counts == {"lowered": 2, "skipped": 0, "failed": 1}
    for account, expected in ((first, 50), (second, 200), (third, 50)):
        assert TradingAccount.objects.get(pk=account.pk).leverage == expected
        assert _platform_leverage(world, account.login) == expected
    assert _platform_leverage(world, ng.login) == 500
    rows = {row[0]: row for row in _result_rows(job)[1:]}
    assert rows[str(second.login)][5] == "failed" and "Invalid parameters" in rows[str(second.login)][6]
    assert rows[str(first.login)][3:6] == ["1:500", "1:50", "lowered"]
    assert rows[str(first.login)][6] == "Retail clients in AE: at most 1:50"
    changes = AuditLog.objects.filter(action="trading.leverage_change").order_by("id")
    assert [(c.actor, c.before["leverage"], c.after["leverage"]) for c in changes] == [
        (world.admin, 500, 50), (world.admin, 100, 50)]
    assert all(c.reason == "Lowered to the cap: Retail clients in AE: at most 1:50" for c in changes)
    assert len(events("trading.leverage_changed")) == 2
    # The one left above is still offered, alone.
    page = client.get(reverse("trading_policy_edit", args=[world.brand.code]))
    assert page.context["above_count"] == 1 and "Lower 1 account to 1:50" in page.content.decode()
    job_page = client.get(reverse("job_detail", args=[job.code])).content.decode()
    assert 'data-count="failed">1<' in job_page and reverse("trading_policy_edit", args=[world.brand.code]) in job_page


def test_an_account_lowered_meanwhile_is_skipped_and_one_whose_type_has_no_leverage_within_the_cap_fails(
        above, client, login_verified, django_capture_on_commit_callbacks):
    world, (first, second, third), _ng = above
    de = open_account(world, make_client(actor=world.owner, country="ZA", stage="funded"), deposit=None, leverage=100)
    leverage_cap_save(actor=world.admin, brand=world.brand, country="AE", classification="retail", max_leverage=50)
    # 1:30 for retail clients in ZA: the lowest leverage of the account's type is 1:50.
    leverage_cap_save(actor=world.admin, brand=world.brand, country="ZA", classification="retail", max_leverage=30)
    login_verified(client, world.dealer)  # dealers may lower leverage, not change the caps
    page = client.get(reverse("trading_policy_edit", args=[world.brand.code])).content.decode()
    assert "Lower 1 account to 1:30" in page and "Lower 3 accounts to 1:50" in page
    empty()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("trading_leverage_lower", args=[world.brand.code]), {"cap": "50"})
        client.post(reverse("trading_leverage_lower", args=[world.brand.code]), {"cap": "30"})
    trading_account_set_leverage(actor=world.dealer, account=first, leverage=50, reason="by hand")

    work()

    gb_job, de_job = Job.objects.filter(kind="trading.leverage_lower").order_by("id")
    assert gb_job.started_by == world.dealer and gb_job.status == "done"
    assert gb_job.counts == {"lowered": 2, "skipped": 1, "failed": 0}
    rows = {row[0]: row for row in _result_rows(gb_job)[1:]}
    assert rows[str(first.login)][5:] == ["skipped", "Already within its cap."]
    assert [TradingAccount.objects.get(pk=a.pk).leverage for a in (first, second, third)] == [50, 50, 50]
    assert de_job.counts == {"lowered": 0, "skipped": 0, "failed": 1}
    [(_header), (row)] = _result_rows(de_job)
    assert row[0] == str(de.login) and row[5] == "failed"
    assert row[6] == "Its account type offers no leverage within the cap. Retail clients in ZA: at most 1:30."
    assert _platform_leverage(world, de.login) == 100


def test_only_those_who_may_change_leverage_start_it_and_nothing_is_written_otherwise(above, client, login_verified):
    world, _accounts, _ng = above
    leverage_cap_save(actor=world.admin, brand=world.brand, country="AE", classification="retail", max_leverage=50)
    url = reverse("trading_leverage_lower", args=[world.brand.code])
    for user in (world.owner, world.finance):
        login_verified(client, user)
        assert client.post(url, {"cap": "50"}).status_code == 404
    # A cap with nothing above it starts nothing and says so.
    login_verified(client, world.admin)
    response = client.post(url, {"cap": "30"}, follow=True)
    assert "No account is above 1:30 any more." in response.content.decode()
    assert not Job.objects.exists()
    assert client.get(url).status_code == 405
