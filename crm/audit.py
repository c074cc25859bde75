"""The append-only, hash-chained audit log: rows are written without any lock, and sealed into
the chain afterwards, in batches.

Writing and chaining are two steps, so that no audited writer waits for another:

- `audit_record` (and `audit_record_many`) only INSERT the row, unsealed (no `seq`, `prev_hash` or
  `hash`), in the caller's transaction. They take no lock another transaction could wait for, so
  the audit log has no place in any lock order: an audited transaction holds only the row locks
  it takes itself. (Until issue 32 every write took one advisory lock, the chain's head, and held
  it until commit: every audited write in the CRM queued behind the longest open one, and a
  transaction that wrote an audit row and then waited for a row (the trading demo's set-up)
  deadlocked with one that held that row and then wrote its audit row (the portal login).)
- `audit_seal` chains the committed rows afterwards. Under the sealer's own advisory lock, which
  only sealers take (never a writer, so it cannot be part of a cycle with row locks), it reads the
  chain's head and then the rows committed since, in id order, and gives each the next `seq` (1, 2,
  3, ... without gaps), the `hash` of the row before it as `prev_hash`, and its own `hash`: SHA-256
  over its content as PostgreSQL stores it, `prev_hash` included. A row whose transaction commits
  after rows with higher ids were sealed takes a later place: the chain's order is `seq`, the
  order in which rows became visible to the sealer, not id order. `seq` is unique, so two sealers
  can never fork the chain. Beat seals every few seconds (`crm.tasks.audit_seal`);
  `audit_checkpoint_write` and `verify_chain` seal first.

What the database enforces: UPDATE and DELETE raise (migration 0002), except the sealer's update,
which fills in an unsealed row's `seq`, `prev_hash` and `hash` and may change nothing else, once
(0014); a row cannot be inserted already sealed (0014); TRUNCATE raises (0009); the application's
role may only SELECT and INSERT, and UPDATE those three columns (crm.lib.dbroles).

What the chain proves: `verify_chain` walks the sealed rows in `seq` order and names the first
whose link or content does not match, and reports the rows still waiting to be sealed. Removing
rows from the end (or every row) is caught by the checkpoints: every few minutes beat seals, then
has the head's id and hash and its position (the row count) signed and stored
(`audit_checkpoint_write`), where the application's role may only append; `verify_chain` holds the
chain against each of them and names the rows a checkpoint saw that are gone. A row is held by the
chain from its sealing (seconds after commit) and against a rewrite of the whole tail by someone
who can switch the triggers off from the next checkpoint (minutes): before, with the lock, the
newest rows were equally open to such a rewrite until the next checkpoint.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _

from crm.lib import context
from crm.partitions import partitions_for

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from crm.models import AuditCheckpoint, AuditLog

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
# Tables the application's role may only read and append to (crm.lib.dbroles, migrations 0002, 0009).
APPEND_ONLY_TABLES = ("crm_auditlog", "crm_auditcheckpoint")
# Arbitrary constant naming the sealer's advisory lock (taken by audit_seal only, never by a writer).
_SEAL_LOCK = 0x4155444954  # "AUDIT"
# Columns only the sealer fills in; the application's role may UPDATE these and no others, and a
# trigger lets it do so once per row (migration crm 0014).
SEAL_COLUMNS = ("seq", "prev_hash", "hash")


def app_privileges_grant(*, alias: str = "default") -> None:
    """As the owner, after migrate: the application role's privileges, the audit tables append-only
    but for the seal's columns of the log (crm.lib.dbroles)."""
    from crm.lib import dbroles

    dbroles.grant_app_privileges(alias=alias, append_only=APPEND_ONLY_TABLES, sealable={"crm_auditlog": SEAL_COLUMNS})

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
    brand: Any = None,
) -> Any:
    """Append one row to the audit log in the current transaction, unsealed: it takes no lock, and
    `audit_seal` chains it after commit. Actor, IP, user agent and request id come from the acting
    context unless `actor` is given; the row's brand (who may read it) is `brand`, else that of
    `obj` (audit_brand_id)."""
    from crm.models import AuditLog

    ctx = context.current()
    actor = actor if actor is not None else (ctx.user if getattr(ctx.user, "pk", None) else None)
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(getattr(obj, "code", None) or obj.pk)
    at = timezone.now()
    partitions_for(AuditLog._meta.db_table, [at])
    return AuditLog.objects.create(brand_id=audit_brand_id(obj, brand), **_row_fields(
        ctx, at, actor=actor, action=action, object_type=object_type, object_id=object_id,
        before=_normalise(before), after=_normalise(after), reason=reason))


def audit_brand_id(obj: Any, brand: Any = None) -> int | None:
    """The brand an audit row belongs to: `brand` (a Brand or its id) when given; else the audited
    object's own brand, or its client's; None (a system-wide row) when it has neither."""
    from django.core.exceptions import FieldDoesNotExist

    from crm.models import Brand, Client

    if brand is not None:
        return int(getattr(brand, "pk", brand))
    if obj is None or not hasattr(obj, "_meta"):
        return None
    if isinstance(obj, Brand):
        return int(obj.pk)
    brand_id = getattr(obj, "brand_id", None)
    if brand_id is not None:
        return int(brand_id)
    try:
        field = obj._meta.get_field("client")
    except FieldDoesNotExist:
        return None
    if field.is_relation and field.related_model is Client and getattr(obj, "client_id", None) is not None:
        return int(obj.client.brand_id)
    return None


def _row_fields(ctx: context.ActorContext, at: datetime, *, actor: Any, action: str, object_type: str,
                object_id: Any, before: Any, after: Any, reason: str) -> dict[str, Any]:
    """One unsealed row's fields."""
    return {
        "at": at,
        "actor_id": actor.pk if actor is not None else None,
        "actor_label": _actor_label(actor, ctx)[:200],
        "action": action,
        "object_type": object_type,
        "object_id": str(object_id),
        "before": before,
        "after": after,
        "reason": reason,
        "ip": _normalise_ip(ctx.ip),
        "user_agent": ctx.user_agent[:500],
        "request_id": ctx.request_id,
        "source": ctx.source,
    }


@dataclass(frozen=True)
class AuditEntry:
    """One row for audit_record_many: the arguments of audit_record."""

    action: str
    obj: Any = None
    object_type: str = ""
    object_id: str = ""
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    reason: str = ""
    actor: Any = None
    brand: Any = None


def audit_record_many(entries: Sequence[AuditEntry]) -> int:
    """Append `entries` to the audit log, in order, as audit_record appends each one (the same
    fields, unsealed; the sealer chains them in id order, which is this order), in one statement
    however many there are. For the writes that create many objects at once (the lead intake's
    clients). Returns how many."""
    from crm.lib import bulk
    from crm.models import AuditLog

    if not entries:
        return 0
    ctx = context.current()
    default_actor = ctx.user if getattr(ctx.user, "pk", None) else None
    at = timezone.now()
    rows = []
    for entry in entries:
        object_type, object_id = entry.object_type, entry.object_id
        if entry.obj is not None:
            object_type = object_type or entry.obj._meta.label_lower
            object_id = object_id or str(getattr(entry.obj, "code", None) or entry.obj.pk)
        rows.append({**_row_fields(ctx, at, actor=entry.actor if entry.actor is not None else default_actor,
                                   action=entry.action, object_type=object_type, object_id=object_id,
                                   before=_normalise(entry.before), after=_normalise(entry.after),
                                   reason=entry.reason),
                     "brand_id": audit_brand_id(entry.obj, entry.brand)})
    partitions_for(AuditLog._meta.db_table, [at])
    bulk.write([(AuditLog, rows, False)])
    return len(rows)


# --- sealing ------------------------------------------------------------------------------------

def audit_seal(*, batch: int = 2000) -> int:
    """Chain every audit row committed so far and not yet sealed (module docstring), `batch` rows
    per transaction, and return how many were sealed. Safe to run from any number of processes at
    once: sealers wait for each other on their own lock, and writers never take it."""
    total = 0
    while True:
        sealed = _seal_batch(batch)
        total += sealed
        if sealed < batch:
            return total


@transaction.atomic
def _seal_batch(limit: int) -> int:
    from crm.models import AuditLog

    table = connection.ops.quote_name(AuditLog._meta.db_table)
    with connection.cursor() as cursor:
        # Held until commit. The head and the backlog are read in statements after the lock was
        # granted, so at READ COMMITTED they see the previous sealer's work (at REPEATABLE READ a
        # stale head would give a taken seq, which the unique constraint refuses: never a fork).
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SEAL_LOCK])
        cursor.execute(f"SELECT seq, hash FROM {table} WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1")  # noqa: S608
        head = cursor.fetchone()
    seq, prev = (head[0], head[1]) if head else (0, GENESIS_HASH)
    rows = list(AuditLog.objects.filter(seq__isnull=True).order_by("id").values("id", *HASHED_FIELDS)[:limit])
    if not rows:
        return 0
    ids, seqs, prevs, hashes = [], [], [], []
    for row in rows:
        seq += 1
        row["prev_hash"] = prev
        prev = row_hash(row)
        ids.append(row["id"])
        seqs.append(seq)
        prevs.append(row["prev_hash"])
        hashes.append(prev)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} a SET seq = v.seq, prev_hash = v.prev, hash = v.hash "  # noqa: S608
            "FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[]) AS v(id, seq, prev, hash) "
            "WHERE a.id = v.id", [ids, seqs, prevs, hashes])
    return len(rows)


def audit_unsealed_count() -> int:
    """Rows committed (or written in this transaction) and not yet in the chain: the sealer's backlog."""
    from crm.models import AuditLog

    return AuditLog.objects.filter(seq__isnull=True).count()


PROBLEM_LINK = "its prev_hash does not match the row before it"
PROBLEM_CONTENT = "its content does not match its hash"
PROBLEM_MISSING = "rows that a checkpoint recorded are missing"
PROBLEM_CHECKPOINT = "it does not match a checkpoint"
PROBLEM_SIGNATURE = "a checkpoint's signature is wrong"
PROBLEM_SHARED = "rows share a place in the chain"


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_bad_id: int | None = None
    problem: str = ""
    # The checkpoint a PROBLEM_MISSING / _CHECKPOINT / _SIGNATURE is about, and the chain's last id.
    checkpoint: AuditCheckpoint | None = None
    chain_end_id: int = 0
    checkpoints: int = 0  # checkpoints the chain was found to match
    newest_checkpoint: AuditCheckpoint | None = None
    sealed_now: int = 0  # rows this verification sealed before walking the chain
    unsealed: int = 0  # rows committed since, still waiting to be sealed (not covered by this report)

    def describe(self) -> str:
        """What is wrong, in words that name the rows and the checkpoint (empty when ok)."""
        cp = self.checkpoint
        if self.ok:
            return ""
        if cp is None:  # a broken link or content: the row is named by first_bad_id
            return self.problem
        facts = {"at": cp.at.isoformat(timespec="seconds"), "head": cp.head_id, "hash": cp.head_hash,
                 "count": cp.row_count, "id": cp.pk, "end": self.chain_end_id, "found": self.checked}
        if self.problem == PROBLEM_SIGNATURE:
            return _("checkpoint %(id)s of %(at)s has a bad signature: the CRM's checkpoint key did not "
                     "sign it (it was forged or altered, or its key was retired)") % facts
        if self.problem == PROBLEM_CHECKPOINT:
            return _("the checkpoint of %(at)s recorded row %(head)s with hash %(hash)s as row number %(count)s "
                     "of the chain; that row of the chain now differs or is gone: the log was rewritten") % facts
        if self.checked == 0:
            return _("the audit log was emptied: it has no rows, but the checkpoint of %(at)s recorded "
                     "%(count)s rows up to id %(head)s (hash %(hash)s)") % facts
        return _("%(missing)s rows are missing from the chain's end (rows number %(first)s to %(count)s): the "
                 "chain ends at id %(end)s after %(found)s rows, but the checkpoint of %(at)s recorded %(count)s "
                 "rows up to id %(head)s (hash %(hash)s)") % {**facts, "missing": cp.row_count - self.checked,
                                                               "first": self.checked + 1}


def verify_chain(*, chunk: int = 5000, seal: bool = True) -> ChainReport:
    """Seal what has been committed (unless `seal` is false), then walk the sealed chain in `seq`
    order; report the first row whose link or content is wrong, then hold the chain against every
    checkpoint (so that one forged later checkpoint cannot hide what an earlier one saw) and report
    the first that is unsigned or that the table no longer matches. A checkpoint names its head row
    by id and its place in the chain by the row count. Rows committed after the sealing are not
    covered; the report counts them (`unsealed`)."""
    from crm.models import AuditLog

    sealed_now = audit_seal() if seal else 0
    checkpoints = _checkpoints_by_position()
    cp = next(checkpoints, None)
    matched = 0
    newest: AuditCheckpoint | None = None
    # Checkpoints taken while the log was empty.
    while cp is not None and cp.row_count <= 0:
        problem = PROBLEM_SIGNATURE if not checkpoint_signature_ok(cp) else (
            PROBLEM_CHECKPOINT if cp.head_id != 0 or cp.row_count < 0 else "")
        if problem:
            return ChainReport(False, 0, cp.head_id or None, problem, checkpoint=cp, sealed_now=sealed_now)
        matched, newest = matched + 1, _newer(newest, cp)
        cp = next(checkpoints, None)
    prev = GENESIS_HASH
    checked = 0
    last_seq = 0
    last_id = 0
    values = ["id", "seq", "hash", *HASHED_FIELDS]
    while True:
        # From the last row's place on, not after it: a row sharing its place shows (the database's
        # unique key holds `at`, since the table is partitioned by month).
        rows = [row for row in AuditLog.objects.filter(seq__gte=last_seq or 1).order_by("seq", "id")
                .values(*values)[:chunk + 1] if row["id"] != last_id]
        if not rows:
            break
        for row in rows:
            if row["seq"] == last_seq:
                return ChainReport(False, checked, row["id"], PROBLEM_SHARED, sealed_now=sealed_now)
            if row["prev_hash"] != prev:
                return ChainReport(False, checked, row["id"], PROBLEM_LINK, sealed_now=sealed_now)
            if row_hash(row) != row["hash"]:
                return ChainReport(False, checked, row["id"], PROBLEM_CONTENT, sealed_now=sealed_now)
            prev = row["hash"]
            checked += 1
            last_seq, last_id = row["seq"], row["id"]
            # Every checkpoint of this many rows: its head must be this row, as it was.
            while cp is not None and cp.row_count <= checked:
                problem = _checkpoint_problem(cp, row_id=last_id, row_hash=row["hash"])
                if problem:
                    return ChainReport(False, checked, cp.head_id or None, problem, checkpoint=cp,
                                       chain_end_id=last_id, sealed_now=sealed_now)
                matched, newest = matched + 1, _newer(newest, cp)
                cp = next(checkpoints, None)
    # Checkpoints past the chain's end saw rows that are gone; the furthest of them says how many.
    furthest: AuditCheckpoint | None = None
    while cp is not None:
        if not checkpoint_signature_ok(cp):
            return ChainReport(False, checked, None, PROBLEM_SIGNATURE, checkpoint=cp, chain_end_id=last_id,
                               sealed_now=sealed_now)
        furthest = cp
        cp = next(checkpoints, None)
    if furthest is not None:
        return ChainReport(False, checked, None, PROBLEM_MISSING, checkpoint=furthest, chain_end_id=last_id,
                           sealed_now=sealed_now)
    return ChainReport(True, checked, checkpoints=matched, newest_checkpoint=newest, chain_end_id=last_id,
                       sealed_now=sealed_now, unsealed=audit_unsealed_count())


def _checkpoints_by_position() -> Iterator[AuditCheckpoint]:
    from crm.models import AuditCheckpoint

    return AuditCheckpoint.objects.order_by("row_count", "id").iterator(chunk_size=2000)


def _newer(a: AuditCheckpoint | None, b: AuditCheckpoint) -> AuditCheckpoint:
    return b if a is None or (b.at, b.pk) > (a.at, a.pk) else a


def _checkpoint_problem(cp: AuditCheckpoint, *, row_id: int, row_hash: str) -> str:
    """What is wrong with `cp` against the chain's row number cp.row_count (id `row_id`)."""
    if not checkpoint_signature_ok(cp):
        return PROBLEM_SIGNATURE
    if cp.head_id != row_id or cp.head_hash != row_hash:
        return PROBLEM_CHECKPOINT
    return ""


# --- checkpoints --------------------------------------------------------------------------------

def _checkpoint_keys() -> list[str | bytes]:
    return list(settings.AUDIT_CHECKPOINT_KEY) or [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]


def _checkpoint_message(*, at: datetime, head_id: int, head_hash: str, row_count: int) -> str:
    return f"{at.astimezone(UTC).isoformat(timespec='microseconds')}|{head_id}|{head_hash}|{row_count}"


def _sign(message: str, key: str | bytes) -> str:
    return salted_hmac("crm.audit.checkpoint", message, secret=key, algorithm="sha256").hexdigest()


def checkpoint_signature_ok(cp: AuditCheckpoint) -> bool:
    message = _checkpoint_message(at=cp.at, head_id=cp.head_id, head_hash=cp.head_hash, row_count=cp.row_count)
    return any(constant_time_compare(_sign(message, key), cp.signature) for key in _checkpoint_keys())


@transaction.atomic
def audit_checkpoint_write() -> AuditCheckpoint:
    """Seal what has been committed, then sign and store the chain's head as it is now: its id, its
    hash and its position, which is the number of rows up to it (`seq` has no gaps). The sealer's
    lock is held until this commits, so the head read is the newest. Each checkpoint also goes to
    the log, a copy kept outside the database.
    """
    from crm.models import AuditCheckpoint, AuditLog

    audit_seal()
    head = AuditLog.objects.filter(seq__isnull=False).order_by("-seq").values_list("id", "hash", "seq").first()
    head_id, head_hash, row_count = (0, GENESIS_HASH, 0) if head is None else (head[0], str(head[1]), int(head[2] or 0))
    at = timezone.now()
    signature = _sign(_checkpoint_message(at=at, head_id=head_id, head_hash=head_hash, row_count=row_count),
                      _checkpoint_keys()[0])
    checkpoint = AuditCheckpoint.objects.create(at=at, head_id=head_id, head_hash=head_hash,
                                                row_count=row_count, signature=signature)
    logger.info("audit checkpoint", extra={"checkpoint_id": checkpoint.pk, "head_id": head_id,
                                           "head_hash": head_hash, "row_count": row_count, "signature": signature})
    return checkpoint


def model_snapshot(obj: Any, fields: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """The named fields of `obj` as JSON-safe values, for audit before/after."""
    out: dict[str, Any] = {}
    for name in fields:
        field = obj._meta.get_field(name)
        out[name] = getattr(obj, field.attname)
    return _normalise(out)


def audit_log_rows(*, user: Any) -> QuerySet[AuditLog]:
    """The audit rows `user` may read (crm.permissions.audit_queryset_for_user), newest first; the
    audit log page narrows them with crm.filters.AuditFilter."""
    from crm.permissions import audit_queryset_for_user

    return audit_queryset_for_user(user).order_by("-id")


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


# --- the audit log's objects by name ------------------------------------------------------------
# Each app says how a viewer reaches the page of an object it audits: object_type (the model's
# label) -> function(viewer, objects) -> {object's audited id: URL}, only for the objects the viewer
# may open. Registered from the app's AppConfig.ready; an object without one is named, not linked.
AuditLinker = Callable[[Any, list[Any]], dict[str, str]]
AUDIT_OBJECT_LINKS: dict[str, AuditLinker] = {}


def audit_object_links_register(object_type: str, linker: AuditLinker) -> None:
    AUDIT_OBJECT_LINKS[object_type] = linker


def audited_id(obj: Any) -> str:
    """The id audit_record stores for `obj`: its code where it has one, else its primary key."""
    return str(getattr(obj, "code", None) or obj.pk)


def audit_objects_named(
    viewer: Any, pairs: list[tuple[str, str]],
) -> dict[tuple[str, str], tuple[str, str]]:
    """(object_type, object_id) -> (name, URL or "") for the objects still there, in one query per
    type: the audit log shows "Amira Haddad" with a link where the viewer may open her profile,
    rather than a UUID. Deleted objects and types that are not models are left out."""
    from django.apps import apps
    from django.core.exceptions import FieldDoesNotExist

    by_type: dict[str, set[str]] = {}
    for object_type, object_id in pairs:
        if object_type and object_id:
            by_type.setdefault(object_type, set()).add(object_id)
    named: dict[tuple[str, str], tuple[str, str]] = {}
    for object_type, ids in by_type.items():
        try:
            model = apps.get_model(object_type)
        except (LookupError, ValueError):
            continue
        try:
            model._meta.get_field("code")
            key = "code"
        except FieldDoesNotExist:
            key = "pk"
        try:
            objects = list(model._default_manager.filter(**{f"{key}__in": list(ids)}))
        except (ValueError, TypeError, ValidationError):
            continue  # an id of another shape (a name, a path): shown as it is
        linker = AUDIT_OBJECT_LINKS.get(object_type)
        urls = linker(viewer, objects) if linker is not None and objects else {}
        for obj in objects:
            named[(object_type, audited_id(obj))] = (str(obj), urls.get(audited_id(obj), ""))
    return named
