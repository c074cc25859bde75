"""Celery tasks of the outbound webhooks: thin, call a service (integrations.services)."""

from __future__ import annotations

from celery import shared_task

from integrations import services as outbound

WEBHOOK_ROUND_SIZE = 500
WEBHOOK_ROUNDS_PER_TASK = 8


@shared_task(name="integrations.tasks.webhooks_send_due", ignore_result=True)
def webhooks_send_due() -> int:
    """Send the outbound webhooks that are due (kicked after commit; beat sweeps every few seconds).
    When a retry falls due before the next sweep, the task comes back for it by itself."""
    # Rounds are capped like the dispatcher's batches: a task that used them all queues itself
    # again at once, behind the dispatcher that is filling the queue.
    sent, drained = outbound.send_rounds(limit=WEBHOOK_ROUND_SIZE, max_rounds=WEBHOOK_ROUNDS_PER_TASK)
    if not drained:
        outbound.kick(countdown=0)  # unless a kick already queued one meanwhile
        return sent
    # Nothing left to claim. A queue whose head another worker is sending is that worker's to go
    # on with (next_due_in leaves it out): no polling for it. What becomes due without a kick is a
    # retry whose pause runs out (or ran out just after this task's claim).
    wait = outbound.next_due_in()
    if wait is not None and wait < 5:
        if wait <= 0.05:
            outbound.kick(countdown=0.05)  # one task, shared with the kicks of new deliveries
        else:
            # A delayed task apart from the kick, which must stay free for deliveries queued meanwhile.
            webhooks_send_due.apply_async(countdown=wait)
    return sent


@shared_task(name="integrations.tasks.webhooks_pause_failing", ignore_result=True)
def webhooks_pause_failing() -> int:
    return outbound.subscribers_pause_failing()
