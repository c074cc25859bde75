"""A per-process cache of authenticated API keys, so that a lead vendor's burst does not look its
key up in the database on every request.

Kept in a plumbing.process_cache.SharedVersionCache for at most API_KEY_CACHE_SECONDS: revoking a
key, and any change to a key or a brand (saved anywhere: service, admin, shell), bumps its version,
so the process that made the change drops its entries at once and every other process within a
second. Without Redis nothing is cached.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction

from crm.lib.redis import get_redis
from plumbing.process_cache import MISSING, SharedVersionCache

if TYPE_CHECKING:
    from crm.models import ApiKey

API_KEY_CACHE_SECONDS = 30.0

# How stale another process's view of a revocation may be (check_seconds, 1 s): a request in another
# web process can still pass with a key revoked less than a second ago.
_cache = SharedVersionCache("crm:apikeys:version", client=lambda: get_redis(), ttl=API_KEY_CACHE_SECONDS,
                            after_commit=lambda bump: transaction.on_commit(bump, robust=True))
current_version = _cache.version


def lookup(digest: str, version: str | None) -> ApiKey | None:
    key = _cache.lookup(digest, version)
    return None if key is MISSING else key


def remember(digest: str, key: ApiKey, version: str | None) -> None:
    _cache.remember(digest, key, version)


def invalidate() -> None:
    """Drop every process's cached keys, now and again once the current transaction commits (a
    request in between could cache what is about to change)."""
    _cache.invalidate()


def on_saved(sender: Any, **kwargs: Any) -> None:
    # Cache invalidation only (no domain behaviour hangs on it), so a model signal is the safe
    # place: it also catches a brand deactivated in the Django admin or a shell.
    invalidate()
