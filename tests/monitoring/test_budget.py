"""The alert budget: the threshold calibrated on hand-made histories of agent-day scores meets the
budget exactly, the page shows what it costs (unseen days at twice the budget, recall of injected
scenarios), and only the desk's manager (or an administrator) sets it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import timezone

from crm.exceptions import NotAllowed, ValidationFailed
from crm.models import AuditLog, RoleCode
from monitoring.models import AgentDayScore
from monitoring.review import budget as budget_math
from monitoring.review import services
from monitoring.review.models import DeskAlertBudget
from tests.factories import make_brand, make_desk, make_user

# --- the calibration on hand-made histories (pure) ------------------------------------------------


def test_a_budget_of_half_an_alert_per_100_days_alerts_the_top_5_of_1000_days():
    history = [1.0] * 990 + [9.0, 8.0, 7.0, 6.0, 5.0, 4.5, 4.0, 3.5, 3.0, 2.5]
    cal = budget_math.threshold_for_budget(history, 0.5)
    assert cal.alerts == 5 and cal.rate_per_100 == 0.5
    assert 4.5 < cal.threshold <= 5.0
    assert cal.notice_threshold == pytest.approx(cal.threshold - 1.0)


def test_twice_the_budget_alerts_twice_as_many_days_and_the_cost_counts_the_difference():
    history = [0.5 + (i % 97) / 100 for i in range(980)] + [3.0 + i / 10 for i in range(20)]
    cost = budget_math.desk_cost(history, 1.0)
    assert cost.at_budget.alerts == 10 and cost.at_double.alerts == 20
    assert cost.unseen == 10
    assert cost.at_double.threshold < cost.at_budget.threshold


def test_ties_are_never_split_the_threshold_moves_above_them():
    history = [1.0] * 95 + [6.0] * 5
    cal = budget_math.threshold_for_budget(history, 2.0)  # two days allowed, five tied above
    assert cal.alerts == 0 and cal.threshold > 6.0


def test_an_empty_history_gets_the_default_and_a_budget_must_be_positive():
    assert budget_math.threshold_for_budget([], 0.5).threshold == 3.0
    with pytest.raises(ValueError, match="positive"):
        budget_math.threshold_for_budget([1.0], 0)


def test_recall_at_a_budget_reads_only_injected_days():
    days = ([budget_math.SyntheticDay(score=1.0 + i / 1000, watched=False, kind="") for i in range(1000)]
            + [budget_math.SyntheticDay(score=8.0, watched=False, kind="departure"),
               budget_math.SyntheticDay(score=1.5, watched=False, kind="call_padding")])
    recall = budget_math.recall_at(days, 0.5)
    assert recall == {"all": 0.5, "call_padding": 0.0, "departure": 1.0}


# --- the desk's budget, set and calibrated ------------------------------------------------------------


@pytest.fixture
def desk(db):
    brand = make_brand()
    manager = make_user(role_code=RoleCode.DESK_MANAGER, brand=brand)
    desk = make_desk(brand=brand, manager=manager, name="London")
    agents = [make_user(role_code=RoleCode.SALES_AGENT, desk=desk) for _ in range(4)]
    today = timezone.localdate()
    # The scores the nightly scoring keeps (monitoring's agent-day scores): 4 agents x 100 days, four
    # of the 400 days unusual.
    rows = []
    for a, agent in enumerate(agents):
        for d in range(100):
            score = 9.0 - a if d == 50 else 0.5 + ((d * 7 + a) % 20) / 10
            rows.append(AgentDayScore(brand=brand, agent=agent, day=today - timedelta(days=d), score=score,
                                      threshold=3.0, computed_at=timezone.now()))
    AgentDayScore.objects.bulk_create(rows)
    return {"brand": brand, "manager": manager, "desk": desk, "agents": agents}


@pytest.mark.django_db
def test_the_manager_sets_the_budget_and_the_threshold_meets_it_on_the_desks_history(desk):
    budget = services.desk_budget_set(actor=desk["manager"], desk=desk["desk"], alerts_per_100="0.5")
    assert budget.alerts_per_100 == Decimal("0.50") and budget.agent_days == 400
    assert budget.alerts_on_history == 2  # 0.5 per 100 of 400 days
    assert budget.threshold is not None and 7.0 < budget.threshold <= 8.0
    budget = services.desk_budget_set(actor=desk["manager"], desk=desk["desk"], alerts_per_100="1")
    assert budget.alerts_on_history == 4 and budget.threshold is not None and budget.threshold <= 6.0
    assert AuditLog.objects.filter(action="monitoring.budget_set").count() == 2


@pytest.mark.django_db
def test_a_budget_out_of_range_or_from_another_desks_manager_is_refused(desk):
    other = make_user(role_code=RoleCode.DESK_MANAGER, brand=desk["brand"])
    make_desk(brand=desk["brand"], manager=other)
    with pytest.raises(NotAllowed):
        services.desk_budget_set(actor=other, desk=desk["desk"], alerts_per_100="1")
    with pytest.raises(NotAllowed):
        services.desk_budget_set(actor=desk["agents"][0], desk=desk["desk"], alerts_per_100="1")
    for bad in ("0", "-1", "abc", "51", "NaN"):
        with pytest.raises(ValidationFailed) as caught:
            services.desk_budget_set(actor=desk["manager"], desk=desk["desk"], alerts_per_100=bad)
        assert "alerts_per_100" in caught.value.fields
    assert not DeskAlertBudget.objects.exists()


@pytest.mark.django_db
def test_the_budget_page_shows_the_cost_as_a_table_and_a_chart(desk):
    http = HttpClient()
    http.force_login(desk["manager"])
    url = reverse("monitoring_budget")
    response = http.post(url, {"desk": str(desk["desk"].code), "alerts_per_100": "0.5"})
    assert response.status_code == 302
    page = http.get(f"{url}?desk={desk['desk'].code}").content.decode()
    assert 'id="budget-cost"' in page and 'data-recall="all"' in page and 'data-recall="departure"' in page
    assert 'id="budget-chart-data"' in page and "<script>" not in page.replace('<script type="application/json"', "")
    assert "data-alerts-budget>2<" in page and "data-alerts-double>4<" in page
    agent = HttpClient()
    agent.force_login(desk["agents"][0])
    assert agent.get(url).status_code == 404


@pytest.mark.django_db
def test_the_nightly_task_calibrates_again_on_the_latest_history(desk):
    from monitoring.review.selectors import desk_thresholds
    from monitoring.review.tasks import budgets_calibrate

    first = services.desk_budget_set(actor=desk["manager"], desk=desk["desk"], alerts_per_100="0.5")
    # A new unusual day scored since: the same budget needs a higher threshold.
    AgentDayScore.objects.filter(agent=desk["agents"][3], day=timezone.localdate() - timedelta(days=1)).update(score=9.5)
    assert budgets_calibrate() == 1
    again = DeskAlertBudget.objects.get(desk=desk["desk"])
    assert again.threshold is not None and first.threshold is not None and again.threshold > first.threshold
    assert desk_thresholds() == {desk["desk"].pk: (again.threshold, again.notice_threshold)}


@pytest.mark.django_db
def test_the_budget_page_reads_the_synthetic_desk_the_nightly_task_kept_instead_of_scoring_it_again(desk, monkeypatch):
    """Scoring the synthetic desk took 15-20 s on a busy machine at the first visit of every web process."""
    from monitoring.review.tasks import synthetic_days_keep

    services.desk_budget_set(actor=desk["manager"], desk=desk["desk"], alerts_per_100="0.5")
    days = (budget_math.SyntheticDay(score=5.0, watched=False, kind="departure"),
            *(budget_math.SyntheticDay(score=1.0 + i / 1000, watched=False, kind="") for i in range(300)))
    monkeypatch.setattr(budget_math, "synthetic_history_compute", lambda: days)
    assert synthetic_days_keep() == 301  # by a worker after the nightly calibration: scored and kept

    def scored_again() -> None:
        raise AssertionError("the page scored the synthetic desk again")

    monkeypatch.setattr(budget_math, "synthetic_history_compute", scored_again)
    budget_math.synthetic_history.cache_clear()  # as in a web process started since
    http = HttpClient()
    http.force_login(desk["manager"])
    page = http.get(f"{reverse('monitoring_budget')}?desk={desk['desk'].code}")
    assert page.status_code == 200 and 'data-recall="departure"' in page.content.decode()
