"""Run the django-rq jobs queued so far with a burst worker in this process (on the embedded
Redis), as an RQ worker would."""

from __future__ import annotations

import django_rq
from rq import SimpleWorker


def work() -> None:
    queue = django_rq.get_queue("default")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def empty() -> None:
    """Forget jobs other tests left queued (the Redis is shared by the test run)."""
    django_rq.get_queue("default").empty()
