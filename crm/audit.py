"""The append-only, hash-chained audit log.

`audit_record` is the only writer. It takes a transaction-scoped advisory lock so that rows
are chained in commit order: each row's `prev_hash` is the `hash` of the row before it, and
`hash` is SHA-256 over the row's canonical content including `prev_hash`. PostgreSQL triggers
refuse UPDATE and DELETE on the table; `verify_chain` finds the first row that does not match.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from crm.lib import context

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
    if not ip:
        return None
    try:
        return ipaddress.ip_address(ip).compressed
    except ValueError:
        return None


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
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK])
        prev = AuditLog.objects.order_by("-id").values_list("hash", flat=True).first() or GENESIS_HASH
        fields: dict[str, Any] = {
            "at": timezone.now().astimezone(UTC),
            "actor_id": actor.pk if actor is not None else None,
            "actor_label": (actor.email if actor is not None else f"system:{ctx.source}")[:200],
            "action": action,
            "object_type": object_type,
            "object_id": str(object_id),
            "before": _normalise(before),
            "after": _normalise(after),
            "reason": reason,
            "ip": _normalise_ip(ctx.ip),
            "user_agent": ctx.user_agent[:500],
            "request_id": ctx.request_id,
            "source": ctx.source,
            "prev_hash": prev,
        }
        fields["hash"] = row_hash(fields)
        return AuditLog.objects.create(**fields)


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
                return ChainReport(False, checked, row["id"], "its prev_hash does not match the row before it")
            if row_hash(row) != row["hash"]:
                return ChainReport(False, checked, row["id"], "its content does not match its hash")
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
