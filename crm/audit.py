"""The append-only, hash-chained audit log.

`audit_record` is the only writer. It takes a transaction-scoped advisory lock so that rows
are chained in commit order: each row's `prev_hash` is the `hash` of the row before it, and
`hash` is SHA-256 over the row's canonical content including `prev_hash`. PostgreSQL triggers
refuse UPDATE and DELETE on the table; `verify_chain` finds the first row that does not match.

Ids are drawn while the lock is held, so id order is chain order. The writer must run at READ
COMMITTED (PostgreSQL's default): a REPEATABLE READ snapshot taken before the lock would miss the
previous writer's row and fork the chain. The chain proves that no row was changed or removed
between the first and the last row; removing rows from the end is only caught by comparing with an
earlier report's row count (audit_verify prints it).
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from crm.lib import context

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from crm.models import AuditLog

GENESIS_HASH = "0" * 64
# Arbitrary constant naming the audit chain's advisory lock.
_CHAIN_LOCK = 0x4155444954  # "AUDIT"

HASHED_FIELDS = (
    "at", "actor_id", "actor_label", "action", "object_type", "object_id", "before", "after",
    "reason", "ip", "user_agent", "request_id", "source", "prev_hash",
)


def _normalise(value: Any) -> Any:
    return None if value is None else json.loads(json.dumps(value, cls=DjangoJSONEncoder, sort_keys=True))


def _normalise_ip(ip: str | None) -> str | None:
    """A valid address as text, or None: a malformed client IP must not stop the audit write."""
    if not ip:
        return None
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        return None


def _actor_label(actor: Any, ctx: context.ActorContext) -> str:
    if actor is not None:
        return actor.email
    if ctx.label:
        return ctx.label
    if ctx.api_key_id is not None:
        return f"apikey:{ctx.api_key_prefix or ctx.api_key_id}"
    return f"system:{ctx.source}"


def row_hash(fields: dict[str, Any]) -> str:
    """SHA-256 over the canonical JSON of the hashed fields of one audit row."""
    payload = {name: fields.get(name) for name in HASHED_FIELDS}
    at = payload["at"]
    if isinstance(at, datetime):
        payload["at"] = at.astimezone(UTC).isoformat(timespec="microseconds")
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, cls=DjangoJSONEncoder)
    return hashlib.sha256(canonical.encode()).hexdigest()


def audit_record(
    *,
    action: str,
    obj: Any = None,
    object_type: str = "",
    object_id: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
    actor: Any = None,
) -> Any:
    """Append one row to the audit chain in the current transaction. Actor, IP, user agent and
    request id come from the acting context unless `actor` is given."""
    from crm.models import AuditLog

    ctx = context.current()
    actor = actor if actor is not None else (ctx.user if getattr(ctx.user, "pk", None) else None)
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(getattr(obj, "code", None) or obj.pk)
    before_json = None if before is None else json.dumps(before, cls=DjangoJSONEncoder)
    after_json = None if after is None else json.dumps(after, cls=DjangoJSONEncoder)
    # savepoint=False: inside a caller's transaction no savepoint is needed (an error aborts the
    # caller anyway); in autocommit this makes the lock, the read and the insert one transaction.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        # crm_audit_chain_head (migration crm 0006) takes the chain's advisory lock, held until
        # commit, then reads the head in a statement of its own, whose snapshot comes after the
        # lock was granted. The values pass through PostgreSQL's own types first: the hash is
        # computed over exactly what a later read returns (jsonb rewrites numbers such as 1e20,
        # inet rewrites IPv4-mapped IPv6 addresses), so verify_chain never reports a sound row
        # as broken.
        cursor.execute("SELECT * FROM crm_audit_chain_head(%s, %s, %s, %s)",
                       [_CHAIN_LOCK, before_json, after_json, _normalise_ip(ctx.ip)])
        prev, before_db, after_db, ip_db = cursor.fetchone()
        fields: dict[str, Any] = {
            "at": timezone.now().astimezone(UTC),
            "actor_id": actor.pk if actor is not None else None,
            "actor_label": _actor_label(actor, ctx)[:200],
            "action": action,
            "object_type": object_type,
            "object_id": str(object_id),
            "before": None if before_db is None else json.loads(before_db),
            "after": None if after_db is None else json.loads(after_db),
            "reason": reason,
            "ip": None if ip_db is None else str(ip_db),
            "user_agent": ctx.user_agent[:500],
            "request_id": ctx.request_id,
            "source": ctx.source,
            "prev_hash": prev or GENESIS_HASH,
        }
        fields["hash"] = row_hash(fields)
        # The row goes in with a statement of its own rather than through the ORM's save: the
        # chain's lock is held from the head's read until commit, so every step here is a step
        # every other writer waits for. JSON travels as the text PostgreSQL itself produced.
        texts = {"before": before_db, "after": after_db}
        cursor.execute(_insert_sql(), [texts[name] if name in texts else fields[name] for name in _insert_names()])
        record = AuditLog(id=cursor.fetchone()[0], **fields)
        record._state.adding = False
        record._state.db = connection.alias
        return record


def _insert_fields() -> list[Any]:
    from crm.models import AuditLog

    return [f for f in AuditLog._meta.concrete_fields if not f.primary_key]


@functools.cache
def _insert_names() -> tuple[str, ...]:
    return tuple(f.attname for f in _insert_fields())


@functools.cache
def _insert_sql() -> str:
    """INSERT of one audit row from its fields' values (JSON as jsonb text), returning its id."""
    from crm.models import AuditLog

    fields = _insert_fields()
    qn = connection.ops.quote_name
    casts = {"JSONField": "::jsonb", "GenericIPAddressField": "::inet"}
    values = ", ".join(f"%s{casts.get(f.get_internal_type(), '')}" for f in fields)
    return (f"INSERT INTO {qn(AuditLog._meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) "  # noqa: S608
            f"VALUES ({values}) RETURNING {qn(AuditLog._meta.pk.column)}")


PROBLEM_LINK = "its prev_hash does not match the row before it"
PROBLEM_CONTENT = "its content does not match its hash"


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_bad_id: int | None = None
    problem: str = ""


def verify_chain(*, chunk: int = 5000) -> ChainReport:
    """Walk the whole chain in id order; report the first row whose link or content is wrong."""
    from crm.models import AuditLog

    prev = GENESIS_HASH
    checked = 0
    last_id = 0
    values = ["id", "hash", *HASHED_FIELDS]
    while True:
        rows = list(AuditLog.objects.filter(id__gt=last_id).order_by("id").values(*values)[:chunk])
        if not rows:
            return ChainReport(ok=True, checked=checked)
        for row in rows:
            if row["prev_hash"] != prev:
                return ChainReport(False, checked, row["id"], PROBLEM_LINK)
            if row_hash(row) != row["hash"]:
                return ChainReport(False, checked, row["id"], PROBLEM_CONTENT)
            prev = row["hash"]
            checked += 1
            last_id = row["id"]


def model_snapshot(obj: Any, fields: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """The named fields of `obj` as JSON-safe values, for audit before/after."""
    out: dict[str, Any] = {}
    for name in fields:
        field = obj._meta.get_field(name)
        out[name] = getattr(obj, field.attname)
    return _normalise(out)


def audit_log_search(
    *,
    actor: Any = None,
    system_only: bool = False,
    action: str = "",
    object_type: str = "",
    object_id: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditLog]:
    """Audit rows matching every given filter, newest first. `action` matches as a prefix
    ("client." finds every client action); `until` is exclusive."""
    from crm.models import AuditLog

    qs = AuditLog.objects.all()
    if actor is not None:
        qs = qs.filter(actor_id=actor.pk)
    elif system_only:
        qs = qs.filter(actor_id__isnull=True)
    if action:
        qs = qs.filter(action__startswith=action)
    if object_type:
        qs = qs.filter(object_type=object_type)
    if object_id:
        qs = qs.filter(object_id=object_id)
    if since is not None:
        qs = qs.filter(at__gte=since)
    if until is not None:
        qs = qs.filter(at__lt=until)
    return qs.order_by("-id")


@dataclass(frozen=True)
class DiffLine:
    key: str
    before: Any
    after: Any
    changed: bool


def audit_diff(before: Any, after: Any) -> list[DiffLine]:
    """Key-by-key comparison of a row's before and after, for display; keys in first-seen order."""
    if not isinstance(before, dict) and not isinstance(after, dict):
        if before is None and after is None:
            return []
        return [DiffLine("", before, after, before != after)]
    b = before if isinstance(before, dict) else {}
    a = after if isinstance(after, dict) else {}
    keys = list(dict.fromkeys([*b, *a]))
    return [DiffLine(k, b.get(k), a.get(k), b.get(k) != a.get(k) or (k in b) != (k in a)) for k in keys]
