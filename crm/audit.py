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

Archived months (crm.lib.partitions, past AUDIT_RETENTION_YEARS): a month goes only when it is the oldest
left in the database, every row sealed and matching its hash and joining the months archived before
it. In the transaction that drops it, an anchor is written (AuditArchiveAnchor, signed, append-only):
the month's seq range, last hash, row count and file checksum, and where the archived chain's unbroken
run ends (`chain_seq`, `chain_hash`) with the archived rows sealed after that point (`ghosts`: a row of
the month's last moments whose transaction committed after rows of the next month were sealed takes a
later place, so the months interleave at their boundary). `verify_chain` bridges the missing places
through the anchors and names the months it relied on; the sealer goes on after the archive's head.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import reduce
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _
from psycopg import errors as pg_errors
from psycopg import sql as psql

from crm.lib.bulk import gather
from crm.lib.partitions import PartitionArchiveError, add_months, month_tables, partitions_for
from plumbing import context, hooks

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from crm.models import AuditArchiveAnchor, AuditCheckpoint, AuditLog

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
# Tables the application's role may only read and append to (crm.lib.dbroles, migrations 0002, 0009, 0031).
APPEND_ONLY_TABLES = ("crm_auditlog", "crm_auditcheckpoint", "crm_auditarchiveanchor")
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
        return str(actor.email)
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
    row = AuditLog(brand_id=audit_brand_id(obj, brand), **_row_fields(
        ctx, at, actor=actor, action=action, object_type=object_type, object_id=object_id,
        before=_normalise(before), after=_normalise(after), reason=reason))
    if not gather(row):  # within crm.lib.bulk.rows_gathered: written with the others, unsaved until then
        row.save(force_insert=True)
    return row


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
    """Append `entries` to the audit log, in order, as audit_record appends each one (the same fields,
    unsealed; the sealer chains them in id order, which is this order), in one statement however many there
    are. For the writes that create many objects at once (the lead intake's clients). Returns how many."""
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

    table = psql.Identifier(AuditLog._meta.db_table)
    with connection.cursor() as cursor:
        # Held until commit. The head and the backlog are read in statements after the lock was
        # granted, so at READ COMMITTED they see the previous sealer's work (at REPEATABLE READ a
        # stale head would give a taken seq, which the unique constraint refuses: never a fork).
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SEAL_LOCK])
        cursor.execute(psql.SQL("SELECT seq, hash FROM {} WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1").format(
            table).as_string(None))
        head = cursor.fetchone()
    seq, prev = (head[0], head[1]) if head else (0, GENESIS_HASH)
    archived = archive_head()  # the chain goes on after its archived part, even with nothing left in the table
    if archived is not None and archived[0] > seq:
        seq, prev = archived
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
        cursor.execute(psql.SQL(
            "UPDATE {} a SET seq = v.seq, prev_hash = v.prev, hash = v.hash "
            "FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[]) AS v(id, seq, prev, hash) "
            "WHERE a.id = v.id").format(table).as_string(None), [ids, seqs, prevs, hashes])
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
PROBLEM_ARCHIVE = "it does not match the archived part of the chain"
PROBLEM_ANCHOR_SIGNATURE = "an archive anchor's signature is wrong"


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
    # The chain's place reached (its last seq): the rows checked plus those archived before them.
    position: int = 0
    # The archived months whose anchors the walk went through ("YYYY-MM"), and the anchor a
    # PROBLEM_ARCHIVE / _ANCHOR_SIGNATURE is about.
    archived_months: tuple[str, ...] = ()
    anchor: AuditArchiveAnchor | None = None

    def describe(self) -> str:
        """What is wrong, in words that name the rows and the checkpoint (empty when ok)."""
        cp = self.checkpoint
        if self.ok:
            return ""
        if self.anchor is not None:
            facts_a = {"month": f"{self.anchor.month:%Y-%m}", "seq": self.position, "file": self.anchor.data_file}
            if self.problem == PROBLEM_ANCHOR_SIGNATURE:
                return _("the anchor of the archived month %(month)s has a bad signature: the CRM's checkpoint key "
                         "did not sign it (it was forged or altered)") % facts_a
            return _("the chain does not meet the archived month %(month)s (%(file)s) at place %(seq)s: the row "
                     "there differs from the one archived, or the rows before it were changed") % facts_a
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
        if self.checked == 0 and self.position == 0:
            return _("the audit log was emptied: it has no rows, but the checkpoint of %(at)s recorded "
                     "%(count)s rows up to id %(head)s (hash %(hash)s)") % facts
        found = max(self.position, self.checked)
        return _("%(missing)s rows are missing from the chain's end (rows number %(first)s to %(count)s): the "
                 "chain ends at id %(end)s after %(found)s rows, but the checkpoint of %(at)s recorded %(count)s "
                 "rows up to id %(head)s (hash %(hash)s)") % {**facts, "found": found, "missing": cp.row_count - found,
                                                               "first": found + 1}


def verify_chain(*, chunk: int = 5000, seal: bool = True) -> ChainReport:
    """Seal what has been committed (unless `seal` is false), then walk the sealed chain in `seq`
    order; report the first row whose link or content is wrong, then hold the chain against every
    checkpoint (so that one forged later checkpoint cannot hide what an earlier one saw) and report
    the first that is unsigned or that the table no longer matches. A checkpoint names its head row
    by id and its place in the chain by the row count. Rows committed after the sealing are not
    covered; the report counts them (`unsealed`).

    Months archived to files (crm.lib.partitions) are bridged by their anchors (AuditArchiveAnchor,
    signed): where rows are missing below the next row in the table, the walk goes on from the
    anchor that ends just before it (its hash must be the row's prev_hash) and through the archived
    rows sealed after that point (each anchor's `ghosts`), and names the months it relied on. A month
    reattached is walked as any other, and must end on its anchor's hash."""
    sealed_now = audit_seal() if seal else 0
    walk = _ChainWalk(sealed_now)
    problem = walk.empty_log_checkpoints() or walk.rows(chunk) or walk.bridge(None) or walk.beyond_the_end()
    if problem:
        return problem
    return ChainReport(True, walk.checked, checkpoints=walk.matched, newest_checkpoint=walk.newest,
                       chain_end_id=walk.last_id, sealed_now=sealed_now, unsealed=audit_unsealed_count(),
                       position=walk.position, archived_months=tuple(walk.relied))


class _ChainWalk:
    """One walk of the chain (verify_chain): where it is, and the checkpoints held so far."""

    def __init__(self, sealed_now: int) -> None:
        self.sealed_now = sealed_now
        self.checkpoints = _checkpoints_by_position()
        self.cp: AuditCheckpoint | None = next(self.checkpoints, None)
        self.matched = 0
        self.newest: AuditCheckpoint | None = None
        self.archive = _ArchiveKnowledge.load()
        self.prev: str | None = GENESIS_HASH  # the hash at `position`; None: archived, no anchor knows it
        self.checked = 0
        self.position = 0
        self.last_seq = 0
        self.last_id = 0
        self.relied: dict[str, None] = {}

    def fail(self, problem: str, bad_id: int | None = None, **extra: Any) -> ChainReport:
        return ChainReport(False, self.checked, bad_id, problem, chain_end_id=self.last_id,
                           sealed_now=self.sealed_now, position=self.position, archived_months=tuple(self.relied),
                           **extra)

    def _held(self, cp: AuditCheckpoint) -> None:
        self.matched, self.newest = self.matched + 1, _newer(self.newest, cp)
        self.cp = next(self.checkpoints, None)

    def empty_log_checkpoints(self) -> ChainReport | None:
        """Checkpoints taken while the log was empty; then the anchors' signatures."""
        while self.cp is not None and self.cp.row_count <= 0:
            cp = self.cp
            problem = PROBLEM_SIGNATURE if not checkpoint_signature_ok(cp) else (
                PROBLEM_CHECKPOINT if cp.head_id != 0 or cp.row_count < 0 else "")
            if problem:
                return ChainReport(False, 0, cp.head_id or None, problem, checkpoint=cp, sealed_now=self.sealed_now)
            self._held(cp)
        if self.archive.bad_signature is not None:
            return ChainReport(False, 0, None, PROBLEM_ANCHOR_SIGNATURE, anchor=self.archive.bad_signature,
                               sealed_now=self.sealed_now)
        return None

    def reach(self, seq: int, row_id: int | None, hash_: str | None) -> ChainReport | None:
        """The walk is at `seq` (hash `hash_`, None when unknown): every checkpoint up to it is held."""
        while self.cp is not None and self.cp.row_count <= seq:
            cp = self.cp
            problem = "" if checkpoint_signature_ok(cp) else PROBLEM_SIGNATURE
            if not problem and cp.row_count == seq and hash_ is not None and (
                    cp.head_hash != hash_ or (row_id is not None and cp.head_id != row_id)):
                problem = PROBLEM_CHECKPOINT
            if problem:
                return self.fail(problem, cp.head_id or None, checkpoint=cp)
            self._held(cp)
        return None

    def bridge(self, until: int | None) -> ChainReport | None:
        """Through the archived places after `position` and before `until` (the next row in the
        table; None: to the archive's end)."""
        archive = self.archive
        limit = (until - 1) if until is not None else archive.end
        if limit <= self.position:
            return None
        # Up to the newest anchor's end every place is archived; after it only its ghosts are.
        if any(n not in archive.ghosts for n in range(max(self.position, archive.chain_end) + 1, limit + 1)):
            return None  # not archived: the row after the gap shows the break (its link)
        for point in archive.points_between(self.position, limit):
            problem = self._archived_place(point)
            if problem:
                return problem
        if self.position < limit:
            self.position, self.prev = limit, None
            return self.reach(limit, None, None)
        return None

    def _archived_place(self, point: int) -> ChainReport | None:
        """The walk passes `point`, an archived place whose hash an anchor knows."""
        ghost, end = self.archive.ghosts.get(point), self.archive.ends.get(point)
        if ghost is not None:
            ghost_prev, ghost_hash, anchor = ghost
            if point == self.position + 1 and self.prev is not None and ghost_prev != self.prev:
                return self.fail(PROBLEM_ARCHIVE, anchor=anchor)
            if end is not None and end.chain_hash != ghost_hash:
                return self.fail(PROBLEM_ARCHIVE, anchor=end)
            self.prev = ghost_hash
            self.relied[f"{anchor.month:%Y-%m}"] = None
        elif end is not None:
            self.prev = end.chain_hash
        if end is not None:
            self.relied[f"{end.month:%Y-%m}"] = None
        self.position = point
        return self.reach(point, None, self.prev)

    def rows(self, chunk: int) -> ChainReport | None:
        from crm.models import AuditLog

        values = ["id", "seq", "hash", *HASHED_FIELDS]
        while True:
            # From the last row's place on, not after it: a row sharing its place shows (the database's
            # unique key holds `at`, since the table is partitioned by month).
            rows = [row for row in AuditLog.objects.filter(seq__gte=self.last_seq or 1).order_by("seq", "id")
                    .values(*values)[:chunk + 1] if row["id"] != self.last_id]
            if not rows:
                return None
            for row in rows:
                problem = self.row(row)
                if problem:
                    return problem

    def row(self, row: dict[str, Any]) -> ChainReport | None:
        if row["seq"] == self.last_seq:
            return self.fail(PROBLEM_SHARED, row["id"])
        if row["seq"] > self.position + 1:
            problem = self.bridge(row["seq"])
            if problem:
                return problem
        ghost, end = self.archive.ghosts.get(row["seq"]), self.archive.ends.get(row["seq"])
        if self.prev is None and ghost is not None and ghost[0] == row["prev_hash"]:
            self.prev = ghost[0]  # a reattached row after an archived one: its link was checked when archived
        if self.prev is None or row["prev_hash"] != self.prev:
            return self.fail(PROBLEM_LINK, row["id"])
        if row_hash(row) != row["hash"]:
            return self.fail(PROBLEM_CONTENT, row["id"])
        # A reattached month's rows are the ones archived: the anchor's end and ghosts agree.
        if ghost is not None and ghost[1] != row["hash"]:
            return self.fail(PROBLEM_ARCHIVE, row["id"], anchor=ghost[2])
        if end is not None and end.chain_hash != row["hash"]:
            return self.fail(PROBLEM_ARCHIVE, row["id"], anchor=end)
        self.prev = row["hash"]
        self.checked += 1
        self.last_seq, self.last_id = row["seq"], row["id"]
        self.position = row["seq"]
        # Every checkpoint of this many rows: its head must be this row, as it was.
        return self.reach(self.position, self.last_id, self.prev)

    def beyond_the_end(self) -> ChainReport | None:
        """Checkpoints past the chain's end saw rows that are gone; the furthest of them says how many."""
        furthest: AuditCheckpoint | None = None
        while self.cp is not None:
            if not checkpoint_signature_ok(self.cp):
                return self.fail(PROBLEM_SIGNATURE, checkpoint=self.cp)
            furthest = self.cp
            self.cp = next(self.checkpoints, None)
        if furthest is not None:
            return self.fail(PROBLEM_MISSING, checkpoint=furthest)
        return None


@dataclass
class _ArchiveKnowledge:
    """What the anchors of the archived months know of the chain: the hash at each anchor's end,
    and each archived row sealed after its anchor's end (seq -> prev_hash, hash, anchor)."""

    ends: dict[int, AuditArchiveAnchor]
    ghosts: dict[int, tuple[str, str, AuditArchiveAnchor]]
    chain_end: int  # every place up to it is archived (the newest anchor's end)
    end: int  # the last place the archive knows
    bad_signature: AuditArchiveAnchor | None = None

    @classmethod
    def load(cls) -> _ArchiveKnowledge:
        from crm.models import AuditArchiveAnchor

        ends: dict[int, AuditArchiveAnchor] = {}
        ghosts: dict[int, tuple[str, str, AuditArchiveAnchor]] = {}
        for anchor in AuditArchiveAnchor.objects.order_by("month"):
            if not anchor_signature_ok(anchor):
                return cls({}, {}, 0, 0, bad_signature=anchor)
            ends[anchor.chain_seq] = anchor
            for seq, ghost_prev, ghost_hash in anchor.ghosts:
                ghosts.setdefault(int(seq), (str(ghost_prev), str(ghost_hash), anchor))
        chain_end = max(ends, default=0)
        return cls(ends, ghosts, chain_end, max([chain_end, *ghosts]))

    def points_between(self, after: int, upto: int) -> list[int]:
        """The places in (after, upto] the archive knows the hash of, in order."""
        return sorted(p for p in {*self.ends, *self.ghosts} if after < p <= upto)


def _checkpoints_by_position() -> Iterator[AuditCheckpoint]:
    from crm.models import AuditCheckpoint

    return AuditCheckpoint.objects.order_by("row_count", "id").iterator(chunk_size=2000)


def _newer(a: AuditCheckpoint | None, b: AuditCheckpoint) -> AuditCheckpoint:
    return b if a is None or (b.at, b.pk) > (a.at, a.pk) else a


# --- checkpoints --------------------------------------------------------------------------------

def _checkpoint_keys() -> list[str | bytes]:
    return list(settings.AUDIT_CHECKPOINT_KEY) or [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]


def _checkpoint_message(*, at: datetime, head_id: int, head_hash: str, row_count: int) -> str:
    return f"{at.astimezone(UTC).isoformat(timespec='microseconds')}|{head_id}|{head_hash}|{row_count}"


def _sign(message: str, key: str | bytes, *, salt: str = "crm.audit.checkpoint") -> str:
    return salted_hmac(salt, message, secret=key, algorithm="sha256").hexdigest()


def checkpoint_signature_ok(cp: AuditCheckpoint) -> bool:
    message = _checkpoint_message(at=cp.at, head_id=cp.head_id, head_hash=cp.head_hash, row_count=cp.row_count)
    return any(constant_time_compare(_sign(message, key), cp.signature) for key in _checkpoint_keys())


@transaction.atomic
def audit_checkpoint_write() -> AuditCheckpoint:
    """Seal what has been committed, then sign and store the chain's head as it is now: its id, its hash and
    its position, which is the number of rows up to it (`seq` has no gaps). The sealer's lock is held until
    this commits, so the head read is the newest. Each checkpoint also goes to the log, a copy kept outside
    the database."""
    from crm.models import AuditCheckpoint, AuditLog

    audit_seal()
    head = AuditLog.objects.filter(seq__isnull=False).order_by("-seq").values_list("id", "hash", "seq").first()
    head_id, head_hash, row_count = (0, GENESIS_HASH, 0) if head is None else (head[0], str(head[1]), int(head[2] or 0))
    archived = archive_head()
    if archived is not None and archived[0] > row_count:  # every row archived: the head is the archive's (no id)
        head_id, head_hash, row_count = 0, archived[1], archived[0]
    at = timezone.now()
    signature = _sign(_checkpoint_message(at=at, head_id=head_id, head_hash=head_hash, row_count=row_count),
                      _checkpoint_keys()[0])
    checkpoint = AuditCheckpoint.objects.create(at=at, head_id=head_id, head_hash=head_hash,
                                                row_count=row_count, signature=signature)
    logger.info("audit checkpoint", extra={"checkpoint_id": checkpoint.pk, "head_id": head_id,
                                           "head_hash": head_hash, "row_count": row_count, "signature": signature})
    return checkpoint


# --- archived months: the chain's anchors -------------------------------------------------------
# A month of the audit log past its retention goes to a file (crm.lib.partitions). The hooks below,
# registered for crm_auditlog in CrmConfig.ready, refuse a month the chain cannot lose yet and write
# the month's anchor (AuditArchiveAnchor) in the transaction that drops it.

def _anchor_message(*, month: date, first_seq: int, last_seq: int, last_hash: str, row_count: int,
                    file_sha256: str, chain_seq: int, chain_hash: str, ghosts: list[list[Any]]) -> str:
    ghost_text = json.dumps(ghosts, separators=(",", ":"))
    return (f"{month:%Y-%m}|{first_seq}|{last_seq}|{last_hash}|{row_count}|{file_sha256}|{chain_seq}|"
            f"{chain_hash}|{ghost_text}")


def _anchor_fields_message(anchor: AuditArchiveAnchor) -> str:
    return _anchor_message(month=anchor.month, first_seq=anchor.first_seq, last_seq=anchor.last_seq,
                           last_hash=anchor.last_hash, row_count=anchor.row_count, file_sha256=anchor.file_sha256,
                           chain_seq=anchor.chain_seq, chain_hash=anchor.chain_hash,
                           ghosts=[list(g) for g in anchor.ghosts])


def anchor_signature_ok(anchor: AuditArchiveAnchor) -> bool:
    message = _anchor_fields_message(anchor)
    return any(constant_time_compare(_sign(message, key, salt=_ANCHOR_SALT), anchor.signature)
               for key in _checkpoint_keys())


_ANCHOR_SALT = "crm.audit.archive_anchor"


def archive_head() -> tuple[int, str] | None:
    """The last place of the chain the archived months know (seq, hash), or None when none is archived."""
    from crm.models import AuditArchiveAnchor

    best: tuple[int, str] | None = None
    for chain_seq, chain_hash, ghosts in AuditArchiveAnchor.objects.values_list("chain_seq", "chain_hash", "ghosts"):
        for seq, value in [(chain_seq, chain_hash), *((int(g[0]), str(g[2])) for g in ghosts)]:
            if best is None or seq > best[0]:
                best = (int(seq), str(value))
    return best


@dataclass(frozen=True)
class _AnchorPlan:
    month: date
    first_seq: int
    last_seq: int
    last_hash: str
    row_count: int
    chain_seq: int
    chain_hash: str
    ghosts: list[list[Any]]
    existing: bool = False  # the month was archived before (and reattached): its anchor stands


_ROW_SQL = psql.SQL("SELECT id, seq, prev_hash, hash, at, actor_id, actor_label, action, object_type, object_id, "
                    "before::text, after::text, reason, abbrev(ip), user_agent, request_id, source FROM {} "
                    "ORDER BY seq, id")
# The values as the ORM reads them (and the seal hashed them): jsonb as its text, an address as inet prints it
# (abbrev: no /32), `at` in UTC (the owner's session).
_ROW_KEYS = ("id", "seq", "prev_hash", "hash", "at", "actor_id", "actor_label", "action", "object_type", "object_id",
             "before", "after", "reason", "ip", "user_agent", "request_id", "source")


def _refuse_unless_oldest(cur: Any, table: str, month: date) -> None:
    for name, other, _attached in month_tables(cur, table):
        if other >= month:
            continue
        cur.execute(psql.SQL("SELECT count(*) FROM {}").format(psql.Identifier(name)).as_string(None))
        if cur.fetchone()[0]:
            raise PartitionArchiveError(
                f"the audit log's {month:%Y-%m} cannot be archived while the older month {other:%Y-%m} is still in "
                f"the database: the chain is archived from its oldest month on, and a month archived out of turn "
                f"would leave a gap in it; nothing was changed")


def _refuse_unless_intact(rows: list[dict[str, Any]], label: str) -> None:
    for row in rows:
        fields = {**row, "before": None if row["before"] is None else json.loads(row["before"]),
                  "after": None if row["after"] is None else json.loads(row["after"])}
        if row_hash(fields) != row["hash"]:
            raise PartitionArchiveError(
                f"row {row['id']} (place {row['seq']}) of the audit log's {label} does not match its hash: the "
                f"chain is broken there (audit_verify names it); nothing was changed")


def _anchor_plan(cur: Any, candidate: Any) -> _AnchorPlan | None:
    """The anchor archiving `candidate` (a month of the audit log) would leave, after checking that the
    chain can lose it: the oldest month still in the database, every row sealed and matching its hash,
    and the month joining the months archived before it without a gap. None for an empty month (nothing
    to bridge). Raises PartitionArchiveError, naming the problem, otherwise. `cur`: the owner's."""
    from crm.models import AuditLog

    table, month = AuditLog._meta.db_table, candidate.month
    label = f"{month:%Y-%m}"
    _refuse_unless_oldest(cur, table, month)
    cur.execute(_ROW_SQL.format(psql.Identifier(candidate.partition)).as_string(None))
    rows = [dict(zip(_ROW_KEYS, r, strict=True)) for r in cur.fetchall()]
    if not rows:
        return None
    unsealed = sum(1 for r in rows if r["seq"] is None)
    if unsealed:
        raise PartitionArchiveError(
            f"{unsealed} rows of the audit log's {label} are not sealed into the chain yet: run `manage.py "
            f"audit_verify` (it seals them) and archive again; nothing was changed")
    cur.execute("SELECT month, first_seq, last_seq, last_hash, row_count, chain_seq, chain_hash, ghosts::text "
                "FROM crm_auditarchiveanchor ORDER BY month")
    anchors = [dict(zip(("month", "first_seq", "last_seq", "last_hash", "row_count", "chain_seq", "chain_hash",
                         "ghosts"), a, strict=True)) for a in cur.fetchall()]
    _refuse_unless_intact(rows, label)
    first, last = rows[0], rows[-1]
    mine = next((a for a in anchors if a["month"] == month), None)
    if mine is not None:  # archived before and reattached: the same rows, or refused
        if (mine["first_seq"], mine["last_seq"], mine["last_hash"], mine["row_count"]) != (
                first["seq"], last["seq"], last["hash"], len(rows)):
            raise PartitionArchiveError(
                f"the audit log's {label} differs from the month archived before (its anchor records seq "
                f"{mine['first_seq']} to {mine['last_seq']}, {mine['row_count']} rows, last hash "
                f"{mine['last_hash']}): it was changed since it was reattached; nothing was changed")
        return _AnchorPlan(month, first["seq"], last["seq"], last["hash"], len(rows), mine["chain_seq"],
                           mine["chain_hash"], json.loads(mine["ghosts"]), existing=True)
    later = [a["month"] for a in anchors if a["month"] > month]
    if later:
        raise PartitionArchiveError(
            f"the audit log's {label} cannot be archived after {later[0]:%Y-%m}, a later month, was: the chain "
            f"is archived from its oldest month on; nothing was changed")
    before = anchors[-1] if anchors else None
    base_seq, base_hash = (before["chain_seq"], before["chain_hash"]) if before else (0, GENESIS_HASH)
    known: dict[int, tuple[str, str]] = {int(g[0]): (str(g[1]), str(g[2]))
                                         for g in (json.loads(before["ghosts"]) if before else [])}
    for row in rows:
        if row["seq"] <= base_seq or row["seq"] in known:
            raise PartitionArchiveError(
                f"row {row['id']} of the audit log's {label} has place {row['seq']}, which the months archived "
                f"before it already hold: the chain is broken there; nothing was changed")
        known[row["seq"]] = (row["prev_hash"], row["hash"])
    # The first place still in the table after this month goes: everything before it is archived.
    next_month = add_months(month, 1)
    cur.execute(psql.SQL("SELECT min(seq) FROM {} WHERE at >= %s AND seq IS NOT NULL").format(
        psql.Identifier(table)).as_string(None), [datetime(next_month.year, next_month.month, 1, tzinfo=UTC)])
    following = cur.fetchone()[0]
    end = max(base_seq, following - 1 if following is not None else max(known))
    seq, running = base_seq, base_hash
    while seq < end:
        seq += 1
        if seq not in known:
            raise PartitionArchiveError(
                f"the audit chain has no row at place {seq}: it is neither in {label} nor in the months archived "
                f"before it, and the rows still in the database start at place {following}; the chain is broken "
                f"there (audit_verify names it); nothing was changed")
        link, value = known[seq]
        if link != running:
            raise PartitionArchiveError(
                f"the audit chain's place {seq} in {label} does not point at the row before it: the chain is "
                f"broken there (audit_verify names it); nothing was changed")
        running = value
    # Rows of this month (or of one before) sealed after the next month's first: the month boundary's
    # interleaving, kept with their links so that the walk can pass through them.
    ghosts = [[s, link, value] for s, (link, value) in sorted(known.items()) if s > end]
    return _AnchorPlan(month, first["seq"], last["seq"], last["hash"], len(rows), end, running, ghosts)


def audit_archive_check(cur: Any, candidate: Any) -> None:
    """Before an audit month is detached (an ArchiveHook): seal what is committed, then refuse a
    month the chain cannot lose (see `_anchor_plan`)."""
    if candidate.attached:
        audit_seal()
    _anchor_plan(cur, candidate)


def audit_archive_record(cur: Any, candidate: Any, manifest: dict[str, Any]) -> None:
    """In the transaction that drops an audit month, once its file is verified (an ArchiveHook): its
    anchor, signed. The sealer's lock is held to the end of it, so no row is sealed meanwhile."""
    cur.execute("SET LOCAL lock_timeout = '60s'")  # a sealer in a transaction left open must not hang the pass
    try:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", [_SEAL_LOCK])
    except pg_errors.LockNotAvailable as exc:
        raise PartitionArchiveError(
            f"the audit log's {candidate.month:%Y-%m} was not dropped: the sealer's lock stayed taken for a "
            f"minute; it is left detached, and the next archive pass takes it up") from exc
    plan = _anchor_plan(cur, candidate)
    if plan is None or plan.existing:
        return
    sha = str(manifest["sha256"])
    message = _anchor_message(month=plan.month, first_seq=plan.first_seq, last_seq=plan.last_seq,
                              last_hash=plan.last_hash, row_count=plan.row_count, file_sha256=sha,
                              chain_seq=plan.chain_seq, chain_hash=plan.chain_hash, ghosts=plan.ghosts)
    signature = _sign(message, _checkpoint_keys()[0], salt=_ANCHOR_SALT)
    cur.execute("INSERT INTO crm_auditarchiveanchor (month, first_seq, last_seq, last_hash, row_count, file_sha256, "
                "data_file, chain_seq, chain_hash, ghosts, at, signature) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, now(), %s)",
                [plan.month, plan.first_seq, plan.last_seq, plan.last_hash, plan.row_count, sha,
                 str(manifest["data_file"]), plan.chain_seq, plan.chain_hash, json.dumps(plan.ghosts), signature])
    logger.info("audit month archived", extra={"month": f"{plan.month:%Y-%m}", "chain_seq": plan.chain_seq,
                                               "chain_hash": plan.chain_hash, "ghosts": len(plan.ghosts),
                                               "sha256": sha})


def audit_archive_reattach(cur: Any, manifest: dict[str, Any]) -> None:
    """Before an audit month is loaded back (an ArchiveHook): its file must be the one its anchor
    recorded (a file and manifest made up together pass their own checksum)."""
    cur.execute("SELECT file_sha256 FROM crm_auditarchiveanchor WHERE to_char(month, 'YYYY-MM') = %s",
                [str(manifest["month"])])
    row = cur.fetchone()
    if row is not None and row[0] != manifest["sha256"]:
        raise PartitionArchiveError(
            f"{manifest['data_file']} is not the file the audit log's {manifest['month']} was archived to (its "
            f"checksum is {manifest['sha256']}, the chain's anchor recorded {row[0]}); nothing was reattached")


def model_snapshot(obj: Any, fields: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """The named fields of `obj` as JSON-safe values, for audit before/after."""
    out: dict[str, Any] = {}
    for name in fields:
        field = obj._meta.get_field(name)
        out[name] = getattr(obj, field.attname)
    normalised: dict[str, Any] = _normalise(out)
    return normalised


def audit_log_rows(*, user: Any) -> QuerySet[AuditLog]:
    """The audit rows `user` may read (crm.permissions.audit_queryset_for_user), newest first; the
    audit log page narrows them with crm.filters.AuditFilter."""
    from crm.permissions import audit_queryset_for_user

    return audit_queryset_for_user(user).order_by("-id")


# Masks apps lay over audit rows where they are shown (compliance: an erased client's names); each returns the
# rows with masked copies in place of those it masks: the stored rows, hashed into the chain, stay as they are.
AUDIT_ROW_MASKS: hooks.HookPoint[Callable[[list[Any]], list[Any]]] = hooks.HookPoint("audit_row_masks")


def audit_rows_shown(rows: list[Any]) -> list[Any]:
    return reduce(lambda shown, mask: mask(shown), AUDIT_ROW_MASKS, rows)


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
