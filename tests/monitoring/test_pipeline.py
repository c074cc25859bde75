from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from monitoring.models import AgentDayScore, AlertStatus, MonitoringAlert, ScoringState
from monitoring.recording import ActivityRow, activity_record, activity_write
from monitoring.services import notice_enter
from monitoring.tasks import notice_rescore, rescore_nightly, score_hourly
from tests.commits import queued
from tests.monitoring.helpers import desk_with_history

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 10, 15, 0, tzinfo=UTC)  # a Wednesday afternoon
YESTERDAY = NOW.date() - timedelta(days=1)


def _copying(agent, others, day: date, *, hour: int = 14, opens: int = 140, export_rows: int = 900) -> list[ActivityRow]:
    """An afternoon of opening other agents' clients nobody touched for months, then an export."""
    base = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
    rows = [ActivityRow(time=base + timedelta(seconds=20 * i), agent_id=agent.pk, kind="client_open",
                        brand_id=None, client_id=5 * 10**12 + i, client_owner_id=others[i % len(others)].pk,
                        client_high_value=i % 5 == 0, ref=f"copy{i}") for i in range(opens)]
    rows.append(ActivityRow(time=base + timedelta(minutes=55), agent_id=agent.pk, kind="export", rows=export_rows))
    return rows


def test_the_nightly_rescore_scores_every_agent_day_and_calibrates():
    with time_machine.travel(NOW, tick=False):
        history = desk_with_history(agents=6, days=90, end=YESTERDAY)
        assert rescore_nightly()[history.brand.pk] >= 6 * 90
    scores = AgentDayScore.objects.filter(agent__in=history.agents)
    assert scores.filter(day=YESTERDAY).count() == 6
    assert {s.threshold for s in scores} <= {ScoringState.objects.get(brand=history.brand).threshold,
                                            ScoringState.objects.get(brand=history.brand).notice_threshold}
    # the history holds nothing injected: within the budget, not one alert per day
    assert scores.filter(alerted=True).count() <= 0.02 * scores.count()


def test_the_hourly_pass_scores_new_activity_and_raises_the_alert_once():
    with time_machine.travel(NOW, tick=False):
        # a history reaching back 90 days and a week more: records untouched for 90 days are known, and
        # the peers' level of them too (on the history's first such days they are not scored)
        history = desk_with_history(agents=6, days=98, end=YESTERDAY)
        rescore_nightly()
        agent, others = history.agents[1], [a for a in history.agents if a != history.agents[1]]
        for row in _copying(agent, others, NOW.date()):
            activity_record(row)  # the request path: buffered, flushed by the hourly task itself
        score_hourly()
        score_hourly()
    alert = MonitoringAlert.objects.get(agent=agent)
    assert alert.day == NOW.date() and alert.status == AlertStatus.OPEN and alert.routed_to == history.manager
    assert alert.detector == "agent.bulk_access"
    text = " ".join(alert.reasons)
    assert "opened 140 records between" in text
    assert "untouched for 90 days" in text and "exported 900 rows" in text
    assert alert.evidence[0]["url"] == f"/monitoring/agents/{agent.code}/{NOW.date().isoformat()}/"
    assert AgentDayScore.objects.get(agent=agent, day=NOW.date()).alerted


def test_entering_a_notice_rescores_the_last_30_days_at_the_lower_threshold(django_capture_on_commit_callbacks):
    with time_machine.travel(NOW, tick=False):
        history = desk_with_history(agents=6, days=90, end=YESTERDAY)
        agent, others = history.agents[2], [a for a in history.agents if a != history.agents[2]]
        ten_days_ago = NOW.date() - timedelta(days=13)  # a Thursday
        activity_write(_copying(agent, others, ten_days_ago, opens=60, export_rows=300))
        rescore_nightly()
        assert not MonitoringAlert.objects.filter(agent=agent).exists()  # nightly raises only the last day
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            notice_enter(actor=history.manager, agent=agent, given_on=NOW.date() - timedelta(days=1),
                         last_day=NOW.date() + timedelta(days=20))
        # The rescore is queued once the notice is committed (beside it, at most the partitions' own
        # bookkeeping of the months this transaction looked up: crm.lib.partitions).
        tasks = queued(callbacks)
        assert len(tasks) == 1 and "task_send_on_commit" in tasks[0].__qualname__, callbacks
        notice_rescore(agent.pk)
    alert = MonitoringAlert.objects.get(agent=agent)
    assert alert.day == ten_days_ago and alert.detector == "agent.departure"
    assert any("under notice" in r for r in alert.reasons)
    assert not MonitoringAlert.objects.exclude(agent=agent).exists()


def test_a_desk_with_its_own_budget_is_alerted_at_its_own_threshold():
    from monitoring.review.services import desk_budget_set

    with time_machine.travel(NOW, tick=False):
        history = desk_with_history(agents=6, days=90, end=YESTERDAY)
        rescore_nightly()
        brand_alerts = AgentDayScore.objects.filter(agent__in=history.agents, alerted=True).count()
        # The manager can review far more than the brand's budget: the desk's threshold comes down.
        budget = desk_budget_set(actor=history.manager, desk=history.desk, alerts_per_100="10")
        assert budget.threshold is not None
        assert budget.threshold < ScoringState.objects.get(brand=history.brand).threshold
        rescore_nightly()
    scores = AgentDayScore.objects.filter(agent__in=history.agents)
    assert {round(s.threshold, 6) for s in scores.filter(day=YESTERDAY)} <= {
        round(budget.threshold, 6), round(budget.notice_threshold or budget.threshold, 6)}
    assert scores.filter(alerted=True).count() > brand_alerts


def test_opening_other_books_clients_around_their_large_deposit_weighs_more_out_of_book():
    """Five high-value clients of colleagues had a large deposit yesterday, five did not: the agent's
    opens of the first five today weigh twice (out of book near a large movement is the stronger
    signal), the others once."""
    from tests.factories import make_client
    from tests.monitoring.abuse_world import deposit

    with time_machine.travel(NOW, tick=False):
        history = desk_with_history(agents=6, days=90, end=YESTERDAY)
        agent, others = history.agents[1], [a for a in history.agents if a != history.agents[1]]
        clients = [make_client(brand=history.brand, owner=others[i % len(others)]) for i in range(10)]
        for c in clients[:5]:
            deposit(c, "8000.00", at=NOW - timedelta(days=1))       # large (the threshold is 5,000)
        deposit(clients[5], "300.00", at=NOW - timedelta(days=1))   # small: no reason
        base = datetime(NOW.year, NOW.month, NOW.day, 10, tzinfo=UTC)
        activity_write([ActivityRow(time=base + timedelta(minutes=3 * i), agent_id=agent.pk, kind="client_open",
                                    brand_id=history.brand.pk, client_id=c.pk, client_owner_id=c.owner_id,
                                    client_high_value=True, ref=f"hv{i}") for i, c in enumerate(clients)])
        rescore_nightly()
    today = AgentDayScore.objects.get(agent=agent, day=NOW.date())
    assert today.signals["opens"] >= 10
    # out of book near the client's large deposit weighs more, not less: 5 accesses x 2, and 5 x 1
    assert today.signals["oob_hv"] == 15


# --- the stored daily features: aggregated once, again only when their context changed -----------------


def _out_of_book(agent, owner, day: date, *, opens: int = 40, owner_before: timedelta = timedelta(days=7)
                 ) -> list[ActivityRow]:
    """A morning of opening `owner`'s high-value clients, each touched by `owner` a while before (so
    nothing here is untouched for months): out-of-book unless the agent covers `owner` that day."""
    base = datetime(day.year, day.month, day.day, 10, tzinfo=UTC)
    rows = []
    for i in range(opens):
        client = 6 * 10**12 + i
        rows.append(ActivityRow(time=base - owner_before + timedelta(minutes=i), agent_id=owner.pk, kind="client_open",
                                client_id=client, client_owner_id=owner.pk, client_high_value=True, ref=f"own{i}"))
        rows.append(ActivityRow(time=base + timedelta(minutes=3 * i), agent_id=agent.pk, kind="client_open",
                                client_id=client, client_owner_id=owner.pk, client_high_value=True, ref=f"oob{i}"))
    return rows


def _outcomes(history) -> dict[tuple[int, date], tuple[float, bool, dict]]:
    return {(s.agent_id, s.day): (s.score, s.alerted, s.signals)
            for s in AgentDayScore.objects.filter(agent__in=history.agents)}


def test_the_next_night_aggregates_only_the_days_not_yet_final():
    from monitoring.pipeline import brand_rescore

    with time_machine.travel(NOW, tick=False):
        history = desk_with_history(agents=6, days=90, end=YESTERDAY)
        first = brand_rescore(history.brand.pk)
    assert first.aggregated_days == 91  # the whole window, today's rows so far included
    night = datetime(NOW.year, NOW.month, NOW.day, 3, tzinfo=UTC) + timedelta(days=1)
    with time_machine.travel(night, tick=False):
        report = brand_rescore(history.brand.pk)
        again = brand_rescore(history.brand.pk)
    # yesterday (not over at the last pass) and today: the 89 days before are read from the stored features
    assert report.aggregated_days == 2 and report.aggregated_agent_days <= 2 * 6
    assert report.scored == first.scored + 6
    # an hour later nothing is final yet that was not before: only today again
    assert again.aggregated_days == 1 and _outcomes(history)


def test_recording_cover_for_a_past_day_changes_that_days_outcome_at_the_next_rescore():
    from monitoring.pipeline import brand_rescore
    from monitoring.services import cover_set

    day = NOW.date() - timedelta(days=8)  # a Tuesday
    with time_machine.travel(NOW, tick=False):
        history = desk_with_history(agents=6, days=90, end=YESTERDAY)
        agent, owner = history.agents[1], history.agents[3]
        activity_write(_out_of_book(agent, owner, day))
        brand_rescore(history.brand.pk)
        before = AgentDayScore.objects.get(agent=agent, day=day)
        assert before.signals["oob_hv"] == 40 and before.alerted
        assert any("without recorded cover" in r for r in before.reasons)
        cover_set(actor=history.manager, agent=agent, covered=owner, starts_on=day, ends_on=day)
        report = brand_rescore(history.brand.pk)
    after = AgentDayScore.objects.get(agent=agent, day=day)
    assert after.signals["oob_hv"] == 0 and not after.alerted and after.score < before.score
    # that one agent-day and today (not yet over) aggregated again, nothing else
    assert report.aggregated_days == 1 and report.aggregated_agent_days <= 1 + 6


def test_the_incremental_rescores_equal_a_rebuild_from_scratch():
    from monitoring.pipeline import brand_rescore
    from monitoring.services import cover_set
    from tests.factories import make_client
    from tests.monitoring.abuse_world import deposit

    with time_machine.travel(NOW, tick=False):
        history = desk_with_history(agents=6, days=90, end=YESTERDAY)
        agent, owner = history.agents[2], history.agents[4]
        client = make_client(brand=history.brand, owner=owner)
        activity_write([ActivityRow(time=NOW - timedelta(days=5), agent_id=agent.pk, kind="client_open",
                                    client_id=client.pk, client_owner_id=owner.pk, client_high_value=True)])
        brand_rescore(history.brand.pk)
        assert AgentDayScore.objects.get(agent=agent, day=(NOW - timedelta(days=5)).date()).signals["oob_hv"] >= 1
    night = datetime(NOW.year, NOW.month, NOW.day, 3, tzinfo=UTC) + timedelta(days=1)
    with time_machine.travel(night, tick=False):
        # what arrived since: the rest of yesterday (out-of-book access), a cover recorded for past
        # days, and a large deposit of a client the agent opened the day before it (out of book, that
        # access now weighs twice)
        activity_write(_out_of_book(agent, owner, NOW.date(), owner_before=timedelta(hours=1)))
        cover_set(actor=history.manager, agent=history.agents[0], covered=owner,
                  starts_on=NOW.date() - timedelta(days=20), ends_on=NOW.date() - timedelta(days=15))
        deposit(client, "9000.00", at=NOW - timedelta(days=4))
        incremental = brand_rescore(history.brand.pk)
        assert incremental.aggregated_days == 2
        stepwise = _outcomes(history)
        rebuilt = brand_rescore(history.brand.pk, rebuild=True)
    assert rebuilt.aggregated_days == 92
    assert _outcomes(history) == stepwise
    assert stepwise[(agent.pk, (NOW - timedelta(days=5)).date())][2]["oob_hv"] == 2
