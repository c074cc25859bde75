"""The RQ worker class for the CRM: writes the `rq-worker` heartbeat that /healthz reads.

    manage.py rqworker default --worker-class crm.rq_worker.HeartbeatWorker

RQ's own loop calls `heartbeat()` before every blocking dequeue, after every job and, while a
job runs, from the parent that watches the work horse. An idle worker blocks in the dequeue for
`dequeue_timeout` seconds (RQ's default is close to the 420 s worker TTL), so that wait is capped at
the heartbeat interval: the loop then comes round, and beats, at least that often.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from redis.exceptions import RedisError
from rq import Worker
from rq.logutils import colorizer

from crm.lib import heartbeat

logger = logging.getLogger(__name__)

# RQ colours parts of its log messages when stdout is a terminal; our log lines are JSON.
colorizer.notty = True


class HeartbeatWorker(Worker):
    heartbeat_interval: int = heartbeat.INTERVAL_SECONDS
    _crm_last_beat: float = 0.0

    @property
    def dequeue_timeout(self) -> int:
        return max(1, min(self.worker_ttl - 15, self.heartbeat_interval))

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        super().heartbeat(timeout, pipeline)
        now = time.monotonic()
        # RQ calls this several times per job; one write every few seconds is plenty.
        if now - self._crm_last_beat < 5:
            return
        try:
            heartbeat.beat(heartbeat.RQ_WORKER, self.name)
            self._crm_last_beat = now
        except RedisError:
            logger.warning("rq worker heartbeat failed", exc_info=True)

    def register_death(self) -> None:
        super().register_death()  # type: ignore[no-untyped-call]  # rq leaves it unannotated
        try:
            heartbeat.forget(heartbeat.RQ_WORKER, self.name)
        except RedisError:
            logger.warning("could not clear the rq worker heartbeat", exc_info=True)
