"""How a long-running web process treats Python's garbage collector: one function, which the web
server calls in each worker once the application is loaded (deploy.gunicorn_conf.post_worker_init)
and the page benchmarks call in their own process before they measure, so that a page is timed
with the collector its users' requests meet."""

from __future__ import annotations

import gc

# Young objects collected every 10,000 allocations (not 700), the older generations as before.
GC_THRESHOLDS = (10_000, 20, 20)


def settle_after_startup() -> None:
    """Move what start-up allocated (Django, the URL conf, the models, the apps' registries: some
    300,000 objects that live as long as the process) out of the collector's sight, and collect
    young objects less often. Otherwise every full collection walks all of them: measured on the
    client list, a collection of the oldest generation every few dozen requests took some 50 ms,
    which was the page's p95 by itself, and the collector cost 6 ms a request on average (1.4
    ms after). A batch of a thousand leads allocates some million short-lived objects; with
    Python's default thresholds the collector ran about sixty times per batch."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
