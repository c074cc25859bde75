"""Recording staff activity into the activity table, in batches.

The request path only appends a compact JSON line to a Redis list (one RPUSH, well under a
millisecond); `activity_flush` (Celery, every few seconds, and at once when the list passes
MONITORING_ACTIVITY_FLUSH_AT lines) moves the lines into the table with one INSERT per batch.
The sources are the core's access log (client opens, contact reveals, exports, searches: the hook
crm.services.access_listener_register, so the places that log an access for the audit record it
for monitoring too), logins (the same hook) and calls (event "call.logged", monitoring.handlers).

Delivery is at least once: a batch leaves the list only after its INSERT committed; if Redis is
down the line is written to the table at once instead (slower, never lost).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import redis
from django.conf import settings
from django.db import connection, transaction

from crm.lib.enqueue import task_send_on_commit
from crm.lib.redis import get_redis
from crm.services import Access

logger = logging.getLogger(__name__)

BUFFER_KEY = "monitoring:activity:buffer"
FLUSH_LOCK_KEY = "monitoring:activity:flush-lock"
FLUSH_KICK_KEY = "monitoring:activity:flush-kick"
BATCH_ROWS = 5000
PARTITIONS_AHEAD_DAYS = 14

# The core's access kinds as monitoring names them.
ACCESS_KINDS = {"view": "client_open", "reveal_email": "pii_reveal", "reveal_phone": "pii_reveal",
                "export": "export", "search": "search", "login": "login"}
KINDS = frozenset({"client_open", "pii_reveal", "export", "search", "call", "login"})


@dataclass(slots=True)
class ActivityRow:
    """One row of the activity table before it is written. `client_high_value` None: looked up
    when the batch is written (the client's deposits, see `_INSERT`)."""

    time: datetime
    agent_id: int
    kind: str
    brand_id: int | None = None
    client_id: int | None = None
    client_owner_id: int | None = None
    client_high_value: bool | None = None
    rows: int | None = None
    duration_s: int | None = None
    outcome: str = ""
    ip: str | None = None
    device: str = ""
    ref: str = ""

    def to_line(self) -> str:
        return json.dumps([self.time.timestamp(), self.agent_id, self.kind, self.brand_id, self.client_id,
                           self.client_owner_id, self.client_high_value, self.rows, self.duration_s, self.outcome,
                           self.ip, self.device, self.ref], separators=(",", ":"))

    @classmethod
    def from_line(cls, line: bytes | str) -> ActivityRow:
        t, agent, kind, brand, client, owner, hv, rows, dur, outcome, ip, device, ref = json.loads(line)
        if kind not in KINDS or not isinstance(agent, int):
            raise ValueError(f"not an activity line: {line!r}"[:200])
        return cls(time=datetime.fromtimestamp(float(t), tz=UTC), agent_id=agent, kind=kind, brand_id=brand,
                   client_id=client, client_owner_id=owner, client_high_value=hv, rows=rows, duration_s=dur,
                   outcome=outcome or "", ip=ip, device=device or "", ref=ref or "")


def _flush_at() -> int:
    return int(getattr(settings, "MONITORING_ACTIVITY_FLUSH_AT", 1000))


def activity_record(row: ActivityRow) -> None:
    """Buffer one row (the request path: one RPUSH). Passing the flush size kicks a flush once; with
    Redis down the row is written at once."""
    try:
        r = get_redis()
        length = r.rpush(BUFFER_KEY, row.to_line())
        if int(length) >= _flush_at() and r.set(FLUSH_KICK_KEY, "1", nx=True, ex=5):
            task_send_on_commit("monitoring.tasks.activity_flush")
    except redis.RedisError:
        logger.warning("monitoring: Redis unavailable, activity row written directly", exc_info=True)
        activity_write([row])


def access_recorded(access: Access) -> None:
    """The core's access hook (crm.services.access_listener_register): buffer the access."""
    kind = ACCESS_KINDS.get(access.kind)
    if kind is None:
        return
    client = access.client
    user = access.user
    activity_record(ActivityRow(
        time=access.at, agent_id=user.pk, kind=kind,
        brand_id=client.brand_id if client is not None else _user_brand_id(user),
        client_id=client.pk if client is not None else None,
        client_owner_id=client.owner_id if client is not None else None,
        rows=access.rows, ip=access.ip, device=access.user_agent[:200], ref=access.ref[:64],
    ))


def _user_brand_id(user: Any) -> int | None:
    desk = getattr(user, "desk", None) if getattr(user, "desk_id", None) else None
    return desk.brand_id if desk is not None else None


# --- writing batches -------------------------------------------------------------------------------

_INSERT = """
WITH b AS (
    SELECT * FROM unnest(%(time)s::timestamptz[], %(brand)s::bigint[], %(agent)s::bigint[], %(kind)s::text[],
                         %(client)s::bigint[], %(owner)s::bigint[], %(hv)s::boolean[], %(rows)s::int[],
                         %(dur)s::int[], %(outcome)s::text[], %(ip)s::text[], %(device)s::text[], %(ref)s::text[])
        AS b(time, brand_id, agent_id, kind, client_id, client_owner_id, hv, rows, duration_s, outcome, ip,
             device, ref)
),
high_value AS (
    -- A client is high-value once their deposits in one currency reach the threshold.
    SELECT m.client_id
    FROM wallet_public_client_movements m
    WHERE m.kind = 'deposit' AND m.amount > 0
      AND m.client_id IN (SELECT client_id FROM b WHERE hv IS NULL AND client_id IS NOT NULL)
    GROUP BY m.client_id, m.currency
    HAVING sum(m.amount) >= %(threshold)s
)
INSERT INTO monitoring_activity (time, brand_id, agent_id, kind, client_id, client_owner_id, client_high_value,
                                 rows, duration_s, outcome, ip, device, ref)
SELECT b.time, b.brand_id, b.agent_id, b.kind, b.client_id, b.client_owner_id,
       coalesce(b.hv, EXISTS (SELECT 1 FROM high_value h WHERE h.client_id = b.client_id)),
       b.rows, b.duration_s, left(b.outcome, 24), b.ip::inet, left(b.device, 200), left(b.ref, 64)
FROM b
"""


def high_value_threshold() -> Decimal:
    return Decimal(str(getattr(settings, "MONITORING_HIGH_VALUE_DEPOSITS", "10000")))


def large_movement_threshold() -> Decimal:
    """A deposit or withdrawal at least this large (in its own currency) makes an agent's access to the
    client around it expected: the scoring counts it neither as out-of-book nor as untouched."""
    return Decimal(str(getattr(settings, "MONITORING_LARGE_MOVEMENT", "5000")))


def activity_partitions_ensure(first: date, last: date) -> int:
    """Create the day partitions of [first, last] that do not exist yet; returns how many were made."""
    with connection.cursor() as cur:
        cur.execute("SELECT monitoring_activity_partitions_ensure(%s, %s)", [first, last])
        made: int = cur.fetchone()[0]
    return made


@transaction.atomic
def activity_write(rows: Sequence[ActivityRow]) -> int:
    """Write `rows` to the activity table in one statement (creating their days' partitions first).
    The bulk path: the flush, a Redis outage and the demo's history come through here."""
    if not rows:
        return 0
    days = [r.time.astimezone(UTC).date() for r in rows]
    activity_partitions_ensure(min(days), max(days))
    params: dict[str, Any] = {
        "time": [r.time for r in rows], "brand": [r.brand_id for r in rows], "agent": [r.agent_id for r in rows],
        "kind": [r.kind for r in rows], "client": [r.client_id for r in rows],
        "owner": [r.client_owner_id for r in rows], "hv": [r.client_high_value for r in rows],
        "rows": [r.rows for r in rows], "dur": [r.duration_s for r in rows], "outcome": [r.outcome for r in rows],
        "ip": [r.ip for r in rows], "device": [r.device for r in rows], "ref": [r.ref for r in rows],
        "threshold": high_value_threshold(),
    }
    with connection.cursor() as cur:
        cur.execute(_INSERT, params)
    return len(rows)


def activity_write_many(rows: Iterable[ActivityRow], *, batch: int = BATCH_ROWS) -> int:
    """Write a long stream of rows in batches of `batch` (one transaction each)."""
    chunk: list[ActivityRow] = []
    written = 0
    for row in rows:
        chunk.append(row)
        if len(chunk) >= batch:
            written += activity_write(chunk)
            chunk = []
    if chunk:
        written += activity_write(chunk)
    return written


_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


def activity_flush(*, batch: int = BATCH_ROWS, max_batches: int = 50) -> int:
    """Move buffered rows into the table, a batch at a time; returns how many rows were written.

    One flusher at a time (a Redis lock). A batch leaves the buffer only once its INSERT committed,
    so a database error keeps it for the next flush. A line that cannot be read is logged and
    dropped rather than blocking every line behind it.
    """
    r = get_redis()
    token = uuid.uuid4().hex
    if not r.set(FLUSH_LOCK_KEY, token, nx=True, ex=120):
        return 0
    written = 0
    try:
        for _ in range(max_batches):
            lines = r.lrange(BUFFER_KEY, 0, batch - 1)
            if not lines:
                break
            rows = []
            for line in lines:
                try:
                    rows.append(ActivityRow.from_line(line))
                except (ValueError, TypeError):
                    logger.error("monitoring: unreadable activity line dropped: %r", line[:200])
            activity_write(rows)
            r.ltrim(BUFFER_KEY, len(lines), -1)
            written += len(rows)
            if len(lines) < batch:
                break
    finally:
        r.eval(_RELEASE, 1, FLUSH_LOCK_KEY, token)
        r.delete(FLUSH_KICK_KEY)
    return written


def activity_buffered() -> int:
    return int(get_redis().llen(BUFFER_KEY))


def activity_partitions_ahead(*, today: date | None = None, days: int = PARTITIONS_AHEAD_DAYS) -> int:
    """The daily task: partitions from yesterday to `days` ahead exist."""
    today = today or datetime.now(tz=UTC).date()
    return activity_partitions_ensure(today - timedelta(days=1), today + timedelta(days=days))
