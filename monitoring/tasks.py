"""Celery tasks of agent monitoring: thin, ids in, a call into monitoring.recording / .pipeline.
Beat: the flush every few seconds, partitions ahead daily, scoring hourly, the rescore nightly."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="monitoring.tasks.activity_flush", ignore_result=True)
def activity_flush_task() -> int:
    """Buffered activity into the table (every few seconds, and when the buffer passes its size)."""
    from monitoring.recording import activity_flush

    return activity_flush()


@shared_task(name="monitoring.tasks.activity_partitions_ahead", ignore_result=True)
def activity_partitions_ahead_task() -> int:
    """Daily: the activity table's day partitions exist two weeks ahead."""
    from monitoring.recording import activity_partitions_ahead

    return activity_partitions_ahead()


@shared_task(name="monitoring.tasks.score_hourly", ignore_result=True)
def score_hourly() -> dict[int, int]:
    """Hourly: each brand's new activity scored, the day's alerts raised."""
    from monitoring.pipeline import brand_score_hourly, brands_with_agents
    from monitoring.recording import activity_flush

    activity_flush()
    return {brand_id: brand_score_hourly(brand_id).raised for brand_id in brands_with_agents()}


@shared_task(name="monitoring.tasks.rescore_nightly", ignore_result=True)
def rescore_nightly() -> dict[int, int]:
    """Nightly: every brand's window scored again, thresholds recalibrated to its alert budget."""
    from monitoring.pipeline import brand_rescore, brands_with_agents
    from monitoring.recording import activity_flush

    activity_flush()
    return {brand_id: brand_rescore(brand_id).scored for brand_id in brands_with_agents()}


@shared_task(name="monitoring.tasks.notice_rescore", ignore_result=True, acks_late=True)
def notice_rescore(agent_id: int) -> int:
    """A notice was entered: the agent's last 30 days scored again at the lower threshold."""
    from monitoring.pipeline import agent_notice_rescore

    return agent_notice_rescore(agent_id=agent_id).raised
