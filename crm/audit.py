"""The append-only, hash-chained audit log.

`audit_record` is the only writer. It takes a transaction-scoped advisory lock so that rows
are chained in commit order: each row's `prev_hash` is the `hash` of the row before it, and
`hash` is SHA-256 over the row's canonical content including `prev_hash`. PostgreSQL triggers
refuse UPDATE and DELETE on the table; `verify_chain` finds the first row that does not match.

Ids are drawn while the lock is held, so id order is chain order. The writer must run at READ
COMMITTED (PostgreSQL's default): a REPEATABLE READ snapshot taken before the lock would miss the
previous writer's row and fork the chain. The chain proves that no row was changed or removed
between the first and the last row. Removing rows from the end (or every row) is caught by the
checkpoints: every few minutes beat has the head's id and hash and the row count signed and stored
(`audit_checkpoint_write`), where the application's role may only append, and `verify_chain` holds
the chain against each of them and names the rows a checkpoint saw that are gone.
"""

from __future__ import annotations

import functools
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

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from crm.models import AuditCheckpoint, AuditLog

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
# Tables the application's role may only read and append to (crm.lib.dbroles, migrations 0002, 0009).
APPEND_ONLY_TABLES = ("crm_auditlog", "crm_auditcheckpoint")
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
    brand: Any = None,
) -> Any:
    """Append one row to the audit chain in the current transaction. Actor, IP, user agent and
    request id come from the acting context unless `actor` is given; the row's brand (who may read
    it) is `brand`, else that of `obj` (audit_brand_id)."""
    from crm.models import AuditLog

    ctx = context.current()
    actor = actor if actor is not None else (ctx.user if getattr(ctx.user, "pk", None) else None)
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(getattr(obj, "code", None) or obj.pk)
    brand_id = audit_brand_id(obj, brand)
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
        fields = _row_fields(ctx, timezone.now().astimezone(UTC), actor=actor, action=action,
                             object_type=object_type, object_id=object_id,
                             before=None if before_db is None else json.loads(before_db),
                             after=None if after_db is None else json.loads(after_db), reason=reason,
                             ip_db=ip_db, prev=prev or GENESIS_HASH)
        fields["brand_id"] = brand_id
        # The row goes in with a statement of its own rather than through the ORM's save: the
        # chain's lock is held from the head's read until commit, so every step here is a step
        # every other writer waits for. JSON travels as the text PostgreSQL itself produced.
        texts = {"before": before_db, "after": after_db}
        cursor.execute(_insert_sql(), [texts[name] if name in texts else fields[name] for name in _insert_names()])
        record = AuditLog(id=cursor.fetchone()[0], **fields)
        record._state.adding = False
        record._state.db = connection.alias
        return record


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
                object_id: Any, before: Any, after: Any, reason: str, ip_db: Any, prev: str) -> dict[str, Any]:
    """One row's fields, its hash included, from the JSON and address as PostgreSQL stores them."""
    fields: dict[str, Any] = {
        "at": at,
        "actor_id": actor.pk if actor is not None else None,
        "actor_label": _actor_label(actor, ctx)[:200],
        "action": action,
        "object_type": object_type,
        "object_id": str(object_id),
        "before": before,
        "after": after,
        "reason": reason,
        "ip": None if ip_db is None else str(ip_db),
        "user_agent": ctx.user_agent[:500],
        "request_id": ctx.request_id,
        "source": ctx.source,
        "prev_hash": prev,
    }
    fields["hash"] = row_hash(fields)
    return fields


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
    """Append `entries` to the chain, in order, as audit_record appends each one (the same fields,
    hashes and links), in two statements however many there are: the chain's lock and head and
    the entries' ids in one, the rows in the other. For the writes that create many objects at
    once (the lead intake's clients). Returns how many."""
    from crm.lib import bulk
    from crm.models import AuditLog

    if not entries:
        return 0
    ctx = context.current()
    default_actor = ctx.user if getattr(ctx.user, "pk", None) else None
    brand_ids = [audit_brand_id(entry.obj, entry.brand) for entry in entries]
    # Each entry's JSON as PostgreSQL will store it (what the hash covers). jsonb keeps what
    # json.dumps writes except numbers with a fraction or an exponent (1e20 comes back as
    # 100000000000000000000): only JSON holding such a number goes to PostgreSQL to be read back.
    values: list[Any] = []
    rewritten: dict[int, str] = {}
    for entry in entries:
        for value in (entry.before, entry.after):
            if value is None:
                values.append(None)
                continue
            text = json.dumps(value, cls=DjangoJSONEncoder)
            parsed, fractional = _loads_noting_fractions(text)
            if fractional:
                rewritten[len(values)] = text
            values.append(parsed)
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        # The function in FROM runs first: it takes the chain's lock and reads the head, so the ids,
        # drawn in the select list, come after the lock (id order is chain order, as in audit_record).
        cursor.execute(
            "SELECT h.prev, h.ip_db, ARRAY(SELECT t.x::jsonb::text FROM unnest(%s::text[]) WITH ORDINALITY "
            "AS t(x, n) ORDER BY t.n), ARRAY(SELECT nextval(pg_get_serial_sequence(%s, %s)) "
            "FROM generate_series(1, %s)) FROM crm_audit_chain_head(%s, NULL, NULL, %s) AS h",
            [list(rewritten.values()), AuditLog._meta.db_table, AuditLog._meta.pk.column, len(entries),
             _CHAIN_LOCK, _normalise_ip(ctx.ip)])
        prev, ip_db, stored, ids = cursor.fetchone()
    for index, text in zip(rewritten, stored, strict=True):
        values[index] = json.loads(text)
    prev = prev or GENESIS_HASH
    at = timezone.now().astimezone(UTC)
    rows = []
    for i, (entry, row_id) in enumerate(zip(entries, sorted(ids), strict=True)):
        object_type, object_id = entry.object_type, entry.object_id
        if entry.obj is not None:
            object_type = object_type or entry.obj._meta.label_lower
            object_id = object_id or str(getattr(entry.obj, "code", None) or entry.obj.pk)
        fields = _row_fields(ctx, at, actor=entry.actor if entry.actor is not None else default_actor,
                             action=entry.action, object_type=object_type, object_id=object_id,
                             before=values[2 * i], after=values[2 * i + 1], reason=entry.reason, ip_db=ip_db,
                             prev=prev)
        prev = fields["hash"]
        rows.append({"id": row_id, **fields, "brand_id": brand_ids[i]})
    bulk.write([(AuditLog, rows, True)])
    return len(rows)


def _loads_noting_fractions(text: str) -> tuple[Any, bool]:
    """json.loads, and whether the text held a number with a fraction or an exponent."""
    seen = False

    def parse_float(literal: str) -> float:
        nonlocal seen
        seen = True
        return float(literal)

    return json.loads(text, parse_float=parse_float), seen


def _insert_fields() -> list[Any]:
    from crm.models import AuditLog

    return [f for f in AuditLog._meta.concrete_fields if not f.primary_key]


@functools.cache
def _insert_names() -> tuple[str, ...]:
    return tuple(f.attname for f in _insert_fields())


@functools.cache
def _insert_sql() -> str:
    """INSERT of one audit row from its fields' values (JSON as jsonb text), returning its id."""
    from crm.lib.meta import column
    from crm.models import AuditLog

    fields = _insert_fields()
    qn = connection.ops.quote_name
    casts = {"JSONField": "::jsonb", "GenericIPAddressField": "::inet"}
    values = ", ".join(f"%s{casts.get(f.get_internal_type(), '')}" for f in fields)
    return (f"INSERT INTO {qn(AuditLog._meta.db_table)} ({', '.join(qn(column(f)) for f in fields)}) "  # noqa: S608
            f"VALUES ({values}) RETURNING {qn(column(AuditLog._meta.pk))}")


PROBLEM_LINK = "its prev_hash does not match the row before it"
PROBLEM_CONTENT = "its content does not match its hash"
PROBLEM_MISSING = "rows that a checkpoint recorded are missing"
PROBLEM_CHECKPOINT = "it does not match a checkpoint"
PROBLEM_SIGNATURE = "a checkpoint's signature is wrong"


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
            return _("the checkpoint of %(at)s recorded row %(head)s with hash %(hash)s and %(count)s rows up "
                     "to it; the table now has %(found)s rows up to it and that row differs or is gone: "
                     "the log was rewritten") % facts
        if self.checked == 0:
            return _("the audit log was emptied: it has no rows, but the checkpoint of %(at)s recorded "
                     "%(count)s rows up to id %(head)s (hash %(hash)s)") % facts
        return _("%(missing)s rows with ids %(first)s to %(head)s are missing: the chain ends at id %(end)s "
                 "after %(found)s rows, but the checkpoint of %(at)s recorded %(count)s rows up to id "
                 "%(head)s (hash %(hash)s)") % {**facts, "missing": cp.row_count - self.checked,
                                                 "first": self.chain_end_id + 1}


def verify_chain(*, chunk: int = 5000) -> ChainReport:
    """Walk the whole chain in id order; report the first row whose link or content is wrong, then
    hold the chain against every checkpoint (so that one forged later checkpoint cannot hide what
    an earlier one saw) and report the first that is unsigned or that the table no longer matches."""
    from crm.models import AuditLog

    checkpoints = _checkpoints_by_head()
    cp = next(checkpoints, None)
    matched = 0
    newest: AuditCheckpoint | None = None
    prev = GENESIS_HASH
    checked = 0
    last_id = 0
    values = ["id", "hash", *HASHED_FIELDS]
    while True:
        rows = list(AuditLog.objects.filter(id__gt=last_id).order_by("id").values(*values)[:chunk])
        if not rows:
            break
        for row in rows:
            if row["prev_hash"] != prev:
                return ChainReport(False, checked, row["id"], PROBLEM_LINK)
            if row_hash(row) != row["hash"]:
                return ChainReport(False, checked, row["id"], PROBLEM_CONTENT)
            prev = row["hash"]
            checked += 1
            last_id = row["id"]
            # Every checkpoint up to this row: its head must be this row (or an empty log), as it was.
            while cp is not None and cp.head_id <= last_id:
                at_head = cp.head_id == last_id
                problem = _checkpoint_problem(cp, head_hash=row["hash"] if at_head else None, count=checked)
                if problem:
                    return ChainReport(False, checked, cp.head_id or None, problem, checkpoint=cp,
                                       chain_end_id=last_id)
                matched, newest = matched + 1, _newer(newest, cp)
                cp = next(checkpoints, None)
    # Checkpoints past the chain's end saw rows that are gone; the furthest of them says how many.
    furthest: AuditCheckpoint | None = None
    while cp is not None:
        if not checkpoint_signature_ok(cp):
            return ChainReport(False, checked, None, PROBLEM_SIGNATURE, checkpoint=cp, chain_end_id=last_id)
        if cp.head_id == 0 and cp.row_count == 0 and checked == 0:
            matched, newest = matched + 1, _newer(newest, cp)
        else:
            furthest = cp
        cp = next(checkpoints, None)
    if furthest is not None:
        return ChainReport(False, checked, None, PROBLEM_MISSING, checkpoint=furthest, chain_end_id=last_id)
    return ChainReport(True, checked, checkpoints=matched, newest_checkpoint=newest, chain_end_id=last_id)


def _checkpoints_by_head() -> Iterator[AuditCheckpoint]:
    from crm.models import AuditCheckpoint

    return AuditCheckpoint.objects.order_by("head_id", "id").iterator(chunk_size=2000)


def _newer(a: AuditCheckpoint | None, b: AuditCheckpoint) -> AuditCheckpoint:
    return b if a is None or (b.at, b.pk) > (a.at, a.pk) else a


def _checkpoint_problem(cp: AuditCheckpoint, *, head_hash: str | None, count: int) -> str:
    if not checkpoint_signature_ok(cp):
        return PROBLEM_SIGNATURE
    if cp.head_id == 0:  # taken while the log was empty
        return "" if cp.row_count == 0 else PROBLEM_CHECKPOINT
    if head_hash is None or head_hash != cp.head_hash or count != cp.row_count:
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
    """Sign and store the chain's head as it is now: its id, its hash and the number of rows up to it.

    One statement reads all three, so they come from one snapshot; writers commit in id order
    (crm_audit_chain_head's lock), so that snapshot holds a whole prefix of the chain. The count
    continues from the previous checkpoint when that one is genuine, so a checkpoint costs a look
    at the rows written since, not at the whole table. Each checkpoint also goes to the log, a copy
    kept outside the database.
    """
    from crm.models import AuditCheckpoint, AuditLog

    last = AuditCheckpoint.objects.order_by("-id").first()
    base_id, base_count = (last.head_id, last.row_count) if last and checkpoint_signature_ok(last) else (0, 0)
    table = connection.ops.quote_name(AuditLog._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT h.id, h.hash, (SELECT count(*) FROM {table} a WHERE a.id > %s AND a.id <= h.id) "  # noqa: S608
            f"FROM (SELECT id, hash FROM {table} ORDER BY id DESC LIMIT 1) h", [base_id])
        head = cursor.fetchone()
        if head is not None and head[0] < base_id:  # the log shrank below the last checkpoint: count afresh
            cursor.execute(f"SELECT count(*) FROM {table} WHERE id <= %s", [head[0]])  # noqa: S608
            base_count, head = 0, (head[0], head[1], cursor.fetchone()[0])
    head_id, head_hash, row_count = (0, GENESIS_HASH, 0) if head is None else (head[0], head[1], base_count + head[2])
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
