"""What intake needs to know about a brand (scoring rules, routing rules and their agents,
campaigns, desk SLAs), cached per process.

Reading it takes half a dozen queries, and a lead API serving hundreds of leads a second would
spend most of its time on them. The cache holds for LEADS_CONFIG_TTL seconds (default 5) and is
dropped when an administrator changes the brand's lead settings: at once in the process that made
the change, and within a second in every other (a version number in Redis, bumped after commit,
read at most once a second). Changes made outside leads (a user deactivated,
moved to another desk, put on leave) take effect within the TTL. Shift windows and leave dates
are evaluated at routing time, never cached.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from redis.exceptions import RedisError

from crm.lib.redis import get_redis
from crm.models import Brand, User

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_cache: dict[int, tuple[float, bytes | str | None, IntakeConfig]] = {}  # (loaded at, version, config)
# When each brand's version was last read from Redis: at most once a second per process.
_checked: dict[int, float] = {}
VERSION_CHECK_SECONDS = 1.0


@dataclass
class IntakeConfig:
    scoring_rules: list[Any]
    routing_rules: list[Any]
    pools: dict[int, list[User]] = field(default_factory=dict)
    campaigns: dict[str, Any] = field(default_factory=dict)
    slas: dict[int, Any] = field(default_factory=dict)


def _version_key(brand_id: int) -> str:
    return f"leads:config:version:{brand_id}"


def _load(brand: Brand) -> IntakeConfig:
    from crm.permissions import AGENT_ROLES
    from leads.models import Campaign, DeskSla, RoutingRule, RoutingTarget
    from leads.scoring import active_rules

    rules = list(
        RoutingRule.objects.filter(brand_id=brand.pk, is_active=True)
        .select_related("target_desk", "target_desk__manager", "target_agent", "target_agent__desk",
                        "target_agent__lead_availability", "target_agent__role")
        # The core checks that a new client's owner works for the brand: with the brands at hand.
        .prefetch_related("target_agent__brands")
        .order_by("is_fallback", "order", "id")
    )
    desk_ids = {r.target_desk_id for r in rules if r.target_kind == RoutingTarget.DESK and r.target_desk_id}
    pools: dict[int, list[User]] = defaultdict(list)
    if desk_ids:
        agents = (User.objects.filter(desk_id__in=desk_ids, is_active=True, role__code__in=AGENT_ROLES)
                  .filter(Q(all_brands=True) | Q(brands=brand.pk))
                  .select_related("lead_availability", "desk", "role").prefetch_related("brands")
                  .distinct().order_by("id"))
        for agent in agents:
            if agent.desk_id is not None:  # always: chosen by desk
                pools[agent.desk_id].append(agent)
    return IntakeConfig(
        scoring_rules=active_rules(brand.pk),
        routing_rules=rules,
        pools={desk_id: pools.get(desk_id, []) for desk_id in desk_ids},
        campaigns={c.code.lower(): c for c in Campaign.objects.filter(brand_id=brand.pk)},
        slas={s.desk_id: s for s in DeskSla.objects.filter(desk__brand_id=brand.pk, is_active=True)},
    )


def config_for(brand: Brand) -> IntakeConfig:
    """The brand's intake configuration (see the module docstring for how fresh it is)."""
    ttl = float(getattr(settings, "LEADS_CONFIG_TTL", 5.0))
    if ttl <= 0:
        return _load(brand)
    now = time.monotonic()
    with _lock:
        cached = _cache.get(brand.pk)
    if cached is not None and now - cached[0] < ttl and now - _checked.get(brand.pk, 0.0) < VERSION_CHECK_SECONDS:
        return cached[2]
    try:
        version = get_redis().get(_version_key(brand.pk))
    except RedisError:
        logger.warning("lead config version unreadable: loading afresh", exc_info=True)
        return _load(brand)
    with _lock:
        _checked[brand.pk] = now
    if cached is not None and cached[1] == version and now - cached[0] < ttl:
        return cached[2]
    config = _load(brand)
    with _lock:
        _cache[brand.pk] = (now, version, config)
    return config


def config_changed(brand_id: int) -> None:
    """Call when a brand's lead settings change: every process reloads after this commits."""

    def bump() -> None:
        try:
            get_redis().incr(_version_key(brand_id))
        except RedisError:
            logger.warning("lead config version not bumped; caches expire within the TTL", exc_info=True)
        with _lock:
            _cache.pop(brand_id, None)

    # Now, for this process (and the rest of the caller's transaction), and again after commit for
    # every process: a reload between the two could have read the old rows.
    with _lock:
        _cache.pop(brand_id, None)
    transaction.on_commit(bump)


def config_clear() -> None:
    """Forget every cached configuration in this process (tests)."""
    with _lock:
        _cache.clear()
        _checked.clear()
