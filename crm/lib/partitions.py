"""Tables partitioned by month: which they are, and their partitions kept ahead.

An app whose history grows without end (deals, ledger legs, the audit log, the event outbox) declares
its table here from its AppConfig.ready():

    from crm.lib.partitions import MonthlyTable, PARTITIONED_TABLES

    PARTITIONED_TABLES.register(MonthlyTable(table="<app>_<model>", column="<timestamptz column>", retention_setting=...))

The table itself is made `PARTITION BY RANGE (<column>)` by the app's own migration (an existing one
with its rows and all it carries: plumbing.partition_swap.table_repartition); its monthly
partitions (`<table>_pYYYYMM`, one UTC calendar month each) are created by the SQL function
`crm_month_partitions_ensure` (crm migration 0025): by the daily task, months ahead, and by a writer
before a batch whose rows fall in a month not yet there (an old deal from a platform's history).
There is no default partition: a row for a month without a partition is refused, never parked where
a later partition could not be attached.

Retention (`retention_pass`, `manage.py partitions_archive`, the monthly task): a partition whose whole
month lies further back than its table's retention (a setting in years per table, a regulatory
minimum, seven by default) is detached, written to a file under PARTITION_ARCHIVE_DIR (the rows as
PostgreSQL's CSV, gzipped, `<partition>.csv.gz`, beside a JSON manifest `<partition>.json` naming the
table, the month, the columns, the row count and the SHA-256 of the CSV), the file read back and
checked against the table and the manifest, and only then dropped. A partition left detached by an
interrupted pass is taken up again by the next one; its month's name stays reserved meanwhile
(crm_month_partitions_ensure does not make it again). `manage.py partitions_reattach <manifest>`
makes the month's table again from the file, after checking it, and attaches it back.

The app owning a table, or one whose rows point at it, may refuse a month's archive or record something
with it (ARCHIVE_HOOKS): the event outbox keeps a month while deliveries of its events are under way;
the audit log is archived oldest month first, each month leaving an anchor that bridges its chain.

This DDL needs the schema's owner (crm.lib.dbroles): every step here runs on a connection of its own
as the owner.
"""

from __future__ import annotations

import csv
import functools
import gzip
import hashlib
import io
import json
import logging
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from psycopg import sql

from crm.lib import dbroles
from plumbing import partition_swap
from plumbing.hooks import Registry

logger = logging.getLogger(__name__)

# The daily task keeps this many months ahead of the current one, as a table's conversion made them.
MONTHS_AHEAD = partition_swap.MONTHS_AHEAD


@dataclass(frozen=True)
class MonthlyTable:
    """A table partitioned by month on `column` (a timestamptz)."""

    table: str
    column: str
    # The setting naming how many years the table's history must be kept (a regulatory minimum); the
    # default when the setting is absent.
    retention_setting: str = "HISTORY_RETENTION_YEARS"
    retention_years: int = 7
    order: int = 500


PARTITIONED_TABLES: Registry[MonthlyTable] = Registry("monthly partitioned tables", key=lambda t: t.table,
                                                      order=lambda t: (t.order, t.table))


def month_start(day: date | datetime) -> date:
    if isinstance(day, datetime):
        day = day.astimezone(UTC).date()
    return day.replace(day=1)


def add_months(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_range(month: date) -> tuple[datetime, datetime]:
    """The UTC instants a month's partition holds: from its first (included) to the next month's (excluded)."""
    after = add_months(month, 1)
    return (datetime(month.year, month.month, 1, tzinfo=UTC), datetime(after.year, after.month, 1, tzinfo=UTC))


def month_partitions_ensure(table: str, first: date | datetime, last: date | datetime) -> int:
    """Create the missing monthly partitions of `table` from `first`'s month to `last`'s; how many were made."""
    with connection.cursor() as cur:
        cur.execute("SELECT crm_month_partitions_ensure(%s::regclass, %s, %s)",
                    [table, month_start(first), month_start(last)])
        made: int = cur.fetchone()[0]
    return made


# Months whose partition this process saw committed: (database, table, month). A look taken inside a
# transaction block counts once that transaction commits (a partition seen may be one this very
# transaction, or a savepoint of it, made, gone again if it rolls back; Django drops the callback of
# a savepoint rolled back), so that a write inside a transaction (a webhook's event and audit row)
# looks the month up once per process, not once per write.
_known: set[tuple[str, str, date]] = set()


def partitions_for(table: str, moments: Iterable[date | datetime | None]) -> int:
    """Before a write: the partitions of `table` for the months of `moments` exist (made when missing);
    how many were made. The daily task keeps this month and the next ones, so this matters for rows
    of other months: a history loaded, a clock set elsewhere (a test's). A month seen committed is
    remembered; otherwise one catalogue lookup per write, and no lock unless a partition is missing."""
    db = str(connection.settings_dict.get("NAME"))
    unknown = sorted(m for m in {month_start(m) for m in moments if m is not None} if (db, table, m) not in _known)
    if not unknown:
        return 0
    made = month_partitions_cover(table, unknown)
    seen = {(db, table, m) for m in unknown}
    if not connection.in_atomic_block:
        _known.update(seen)
    else:
        transaction.on_commit(functools.partial(remember_months, seen))
    return made


def remember_months(seen: set[tuple[str, str, date]]) -> None:
    """partitions_for's bookkeeping on commit (one callback per look inside a transaction block: a
    savepoint rolled back drops its own). Outside any block once committed; a test running the
    callbacks inside its own block does not count."""
    if not connection.in_atomic_block:
        _known.update(seen)


def partitions_ensure_ahead(*, today: date | None = None, months: int = MONTHS_AHEAD) -> dict[str, int]:
    """The daily task: every declared table has its partitions from last month to `months` ahead."""
    this_month = month_start(today or datetime.now(UTC).date())
    return {t.table: month_partitions_ensure(t.table, add_months(this_month, -1), add_months(this_month, months))
            for t in PARTITIONED_TABLES}


def month_partitions_cover(table: str, moments: Iterable[date | datetime | None]) -> int:
    """Before a batch is written: the months of `moments` (its rows' times) all have their partition.

    Which months are missing is read first, without a lock; only a missing month is made (under
    the function's lock, held to the end of the transaction), so that writers landing in months
    that exist, nearly always the case, never wait on one another. A month detached for the archive
    counts as there: its rows are refused, never split from the archive."""
    months = sorted({month_start(moment) for moment in moments if moment is not None})
    if not months:
        return 0
    with connection.cursor() as cur:
        cur.execute("SELECT m FROM unnest(%s::date[], %s::text[]) AS u(m, name) WHERE to_regclass(u.name) IS NULL",
                    [months, [f"{table}_p{month:%Y%m}" for month in months]])
        missing = [row[0] for row in cur.fetchall()]
    return sum(month_partitions_ensure(table, month, month) for month in missing)


def month_partitions_span(table: str, first: date | datetime, last: date | datetime) -> int:
    """The partitions of every month from `first`'s to `last`'s, however many years apart (the SQL
    function makes at most ten at once): for bulk loads (demo data, benchmarks) of a known range."""
    month, end, made = month_start(first), month_start(last), 0
    while month <= end:
        piece_end = min(end, add_months(month, 119))
        made += month_partitions_ensure(table, month, piece_end)
        month = add_months(piece_end, 1)
    return made


# --- retention and archive -------------------------------------------------------------------------

ARCHIVE_FORMAT = 1
# Arbitrary constant naming the lock one retention pass holds (two at once would race on a partition).
_ARCHIVE_LOCK = 0x5041525441524348  # "PARTARCH"
# What the CSV's text looks like must not depend on the session: dates in ISO, UTC, floats exact.
_SESSION = ("SET DateStyle = 'ISO, YMD'", "SET TimeZone = 'UTC'", "SET IntervalStyle = 'postgres'",
            "SET extra_float_digits = 3", "SET bytea_output = 'hex'")
_PARTITION_MONTH = re.compile(r"_p(\d{4})(\d{2})$")


class PartitionArchiveError(Exception):
    """An archive or a reattachment refused; the message says why and that nothing was changed."""


@dataclass(frozen=True)
class ArchiveHook:
    """What the app owning a table, or one pointing at its rows, must say about a month's archive.

    `check(cur, candidate)` runs before the month is detached (`cur`: the owner's connection, in
    autocommit) and refuses by raising PartitionArchiveError (the event outbox while deliveries of
    the month are still under way; the audit log unless its oldest month). `record(cur, candidate,
    manifest)` runs once the file is verified, in the transaction that drops the month: what it writes
    (the audit chain's anchor) stands or falls with the drop. `reattach(cur, manifest)` runs before a
    month is loaded back and may refuse the same way."""

    table: str
    name: str
    check: Callable[[Any, ArchiveCandidate], None] | None = None
    record: Callable[[Any, ArchiveCandidate, dict[str, Any]], None] | None = None
    reattach: Callable[[Any, dict[str, Any]], None] | None = None


ARCHIVE_HOOKS: Registry[ArchiveHook] = Registry("partition archive hooks", key=lambda h: (h.table, h.name),
                                                order=lambda h: (h.table, h.name))


def _hooks(table: str) -> list[ArchiveHook]:
    return [h for h in ARCHIVE_HOOKS if h.table == table]


@dataclass(frozen=True)
class ArchiveCandidate:
    """A month past its table's retention, still in the database."""

    table: str
    partition: str
    month: date
    # False: detached already by a pass that stopped before its file was verified.
    attached: bool
    rows: int = 0


@dataclass(frozen=True)
class ArchiveResult:
    candidate: ArchiveCandidate
    data_file: Path
    manifest_file: Path
    rows: int
    sha256: str


def retention_years(table: MonthlyTable) -> int:
    """The years `table`'s history is kept: its setting, or its default when the setting is absent."""
    years = getattr(settings, table.retention_setting, None)
    years = table.retention_years if years is None else int(years)
    if years < 1:
        raise PartitionArchiveError(f"{table.retention_setting} is {years}: a retention is at least one year")
    return years


def retention_cutoff(table: MonthlyTable, today: date) -> date:
    """The first day still kept: a month ending on or before it may go."""
    years = retention_years(table)
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)


def archive_dir() -> Path:
    return Path(settings.PARTITION_ARCHIVE_DIR)


def _owner_connection() -> Any:
    conn = dbroles.connect_as_owner()
    conn.autocommit = True
    with conn.cursor() as cur:
        for sql in _SESSION:
            cur.execute(sql)
    return conn


def _count(cur: Any, table: str) -> int:
    """The rows of `table` (a name from the catalogue)."""
    cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
    return int(cur.fetchone()[0])


def _month_of(partition: str) -> date | None:
    match = _PARTITION_MONTH.search(partition)
    if not match:
        return None
    try:
        return date(int(match[1]), int(match[2]), 1)
    except ValueError:
        return None


def _bound(month: date) -> str:
    return f"{month.isoformat()} 00:00:00+00"


def _month_tables(cur: Any, table: str) -> list[tuple[str, bool, bool]]:
    """(name, attached, detach pending) of every `<table>_pYYYYMM`: the parent's partitions and the
    tables of that name left detached."""
    cur.execute(
        "SELECT c.relname, i.inhrelid IS NOT NULL, coalesce(i.inhdetachpending, false) FROM pg_class c "
        "LEFT JOIN pg_inherits i ON i.inhrelid = c.oid AND i.inhparent = to_regclass(%s) "
        "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') "
        "AND c.relname ~ %s AND (i.inhrelid IS NOT NULL OR NOT c.relispartition) ORDER BY 1",
        [table, "^" + re.escape(table) + r"_p[0-9]{6}$"])
    return [(name, bool(attached), bool(pending)) for name, attached, pending in cur.fetchall()]


def month_tables(cur: Any, table: str) -> list[tuple[str, date, bool]]:
    """(partition, month, attached) of every month of `table` in the database, oldest first: its
    partitions and the months left detached by an interrupted archive (for an ArchiveHook)."""
    named = ((name, _month_of(name), attached) for name, attached, _p in _month_tables(cur, table))
    return [(name, month, attached) for name, month, attached in named if month is not None]


def partitions_due(*, today: date | None = None) -> list[ArchiveCandidate]:
    """Every declared table's months past its retention, oldest first (with their row counts)."""
    today = today or datetime.now(UTC).date()
    due = []
    conn = _owner_connection()
    try:
        with conn.cursor() as cur:
            for t in PARTITIONED_TABLES:
                cutoff = retention_cutoff(t, today)
                for name, attached, _pending in _month_tables(cur, t.table):
                    month = _month_of(name)
                    if month is None or add_months(month, 1) > cutoff:
                        continue
                    due.append(ArchiveCandidate(t.table, name, month, attached, _count(cur, name)))
    finally:
        conn.close()
    return due


def retention_pass(*, apply: bool = False, today: date | None = None,
                   directory: Path | None = None) -> list[ArchiveCandidate] | list[ArchiveResult]:
    """The months past retention; with `apply`, each archived and dropped (see `archive_partition`).
    A pass already running elsewhere makes this one refuse rather than wait."""
    due = partitions_due(today=today)
    if not apply:
        return due
    directory = directory or archive_dir()
    conn = _owner_connection()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s)", [_ARCHIVE_LOCK])
            if not cur.fetchone()[0]:
                raise PartitionArchiveError("another archive pass is running; nothing was done")
        try:
            return [archive_partition(c, directory=directory, conn=conn) for c in due]
        finally:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", [_ARCHIVE_LOCK])
    finally:
        conn.close()


def _columns(cur: Any, table: str) -> list[tuple[str, str]]:
    cur.execute("SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
                "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                [table])
    return [(str(n), str(t)) for n, t in cur.fetchall()]


def _detach(cur: Any, c: ArchiveCandidate) -> None:
    """Detach without blocking the table's readers and writers where PostgreSQL can, else plainly."""
    detach = sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(sql.Identifier(c.table), sql.Identifier(c.partition))
    cur.execute("SELECT inhdetachpending FROM pg_inherits WHERE inhrelid = to_regclass(%s)", [c.partition])
    row = cur.fetchone()
    if row is None:
        return
    if row[0]:  # a concurrent detach that was interrupted
        cur.execute(detach + sql.SQL(" FINALIZE"))
        return
    try:
        cur.execute(detach + sql.SQL(" CONCURRENTLY"))
    except Exception as exc:  # noqa: BLE001 - e.g. a default partition: the plain detach says if it cannot
        logger.info("partition %s detached plainly: %s", c.partition, exc)
        cur.execute(detach)


def _read_back(path: Path) -> tuple[str, int]:
    """The SHA-256 of the CSV in the gzipped file at `path` and the number of rows in it."""
    digest = hashlib.sha256()
    rows = 0
    with gzip.open(path, "rb") as raw:
        hashed = _Hashing(raw, digest)
        for _row in csv.reader(io.TextIOWrapper(hashed, encoding="utf-8", newline="")):  # type: ignore[type-var]  # _Hashing reads like a binary file; typeshed wants its buffer type
            rows += 1
        hashed.read()  # anything after the last row still counts in the checksum
    return digest.hexdigest(), rows


class _Hashing(io.RawIOBase):
    """A readable stream that hashes what passes through it."""

    def __init__(self, raw: Any, digest: Any) -> None:
        self.raw, self.digest = raw, digest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        self.digest.update(data)
        buffer[:len(data)] = data
        return len(data)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def archive_partition(c: ArchiveCandidate, *, directory: Path, conn: Any = None) -> ArchiveResult:
    """Detach `c`, write its rows and manifest under `directory`, read the file back and check its
    checksum and row count against the table's, and only then drop the table. Any failure leaves the
    table in the database (detached, taken up again by the next pass) and raises."""
    own = conn is None
    conn = conn or _owner_connection()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        data_file = directory / f"{c.partition}.csv.gz"
        manifest_file = directory / f"{c.partition}.json"
        with conn.cursor() as cur:
            for hook in _hooks(c.table):
                if hook.check is not None:
                    hook.check(cur, c)
            _detach(cur, c)
            columns = _columns(cur, c.partition)
            names = sql.SQL(", ").join(sql.Identifier(n) for n, _t in columns)
            count = _count(cur, c.partition)
            digest = hashlib.sha256()
            tmp = data_file.with_name(data_file.name + ".tmp")
            with gzip.open(tmp, "wb") as out, cur.copy(
                    sql.SQL("COPY {} ({}) TO STDOUT (FORMAT csv)").format(sql.Identifier(c.partition), names)) as copy:
                for block in copy:
                    digest.update(block)
                    out.write(block)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, data_file)
            sha = digest.hexdigest()
            column = next((t.column for t in PARTITIONED_TABLES if t.table == c.table), "")
            manifest = {"format": ARCHIVE_FORMAT, "table": c.table, "partition": c.partition,
                        "month": c.month.strftime("%Y-%m"), "column": column, "rows": count,
                        "columns": [n for n, _t in columns], "types": [t for _n, t in columns],
                        "data_file": data_file.name, "sha256": sha,
                        "archived_at": datetime.now(UTC).isoformat(timespec="seconds")}
            _write_json(manifest_file, manifest)
            # The file as it is on disk, not as it was written, must hold every row.
            read_sha, read_rows = _read_back(data_file)
            stored = json.loads(manifest_file.read_text(encoding="utf-8"))
            if (read_sha, read_rows) != (sha, count) or stored.get("sha256") != sha or stored.get("rows") != count:
                raise PartitionArchiveError(
                    f"{data_file.name} read back {read_rows} rows with checksum {read_sha}, the table has {count} "
                    f"rows and the copy's checksum was {sha}: {c.partition} was left (detached) in the database")
            if _count(cur, c.partition) != count:
                raise PartitionArchiveError(f"{c.partition} changed while it was archived; it was left in the database")
            with conn.transaction():
                for hook in _hooks(c.table):
                    if hook.record is not None:
                        hook.record(cur, c, manifest)
                cur.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(c.partition)))
        _known.difference_update({k for k in _known if k[1:] == (c.table, c.month)})
        logger.info("partition archived", extra={"partition": c.partition, "rows": count, "sha256": sha,
                                                  "file": str(data_file)})
        return ArchiveResult(c, data_file, manifest_file, count, sha)
    finally:
        if own:
            conn.close()


def _manifest(path: Path) -> tuple[dict[str, Any], Path]:
    path = Path(path)
    if path.name.endswith(".csv.gz"):
        path = path.with_name(path.name[: -len(".csv.gz")] + ".json")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PartitionArchiveError(f"cannot read the manifest {path}: {exc}; nothing was reattached") from exc
    keys = ("table", "partition", "month", "rows", "columns", "data_file", "sha256")
    if not isinstance(manifest, dict) or any(k not in manifest for k in keys):
        raise PartitionArchiveError(f"{path} is not a partition archive's manifest; nothing was reattached")
    return manifest, path.with_name(str(manifest["data_file"]))


def _copy_rows_in(cur: Any, part: str, names: sql.Composable, data_file: Path) -> int:
    with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(sql.Identifier(part), names)) as copy, \
            gzip.open(data_file, "rb") as fh:
        while block := fh.read(1 << 20):
            copy.write(block)
    return int(cur.rowcount)


def partition_reattach(path: Path) -> dict[str, Any]:
    """Load an archived month back from its file (the manifest's path, or the data file's) and attach it
    to its table again; the manifest back. Refused, with nothing changed, when the file's checksum or
    row count does not match its manifest, when the month is in the database already, or when the table
    is no longer partitioned or has lost a column the file holds."""
    manifest, data_file = _manifest(path)
    table, part = str(manifest["table"]), str(manifest["partition"])
    month = _month_of(part)
    if month is None or not part.startswith(table + "_p") or manifest["month"] != month.strftime("%Y-%m"):
        raise PartitionArchiveError(f"the manifest names partition {part} of {table} for {manifest['month']}, "
                                    "which do not agree; nothing was reattached")
    try:
        sha, rows = _read_back(data_file)
    except (OSError, EOFError, gzip.BadGzipFile, csv.Error, UnicodeDecodeError) as exc:
        raise PartitionArchiveError(f"cannot read {data_file}: {exc}; nothing was reattached") from exc
    if sha != manifest["sha256"] or rows != manifest["rows"]:
        raise PartitionArchiveError(
            f"{data_file.name} does not match its manifest (checksum {sha}, {rows} rows; the manifest says "
            f"{manifest['sha256']}, {manifest['rows']} rows): the file was changed or damaged; nothing was reattached")
    conn = _owner_connection()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s)", [table])
            if cur.fetchone() is None:
                raise PartitionArchiveError(f"{table} is not a partitioned table; nothing was reattached")
            if any(name == part for name, _a, _p in _month_tables(cur, table)):
                raise PartitionArchiveError(f"{manifest['month']} of {table} is in the database already ({part}); "
                                            "nothing was reattached")
            for hook in _hooks(table):
                if hook.reattach is not None:
                    hook.reattach(cur, manifest)
            present = {n for n, _t in _columns(cur, table)}
            lost = [c for c in manifest["columns"] if c not in present]
            if lost:
                raise PartitionArchiveError(f"{table} no longer has the column(s) {', '.join(lost)} the file holds; "
                                            "nothing was reattached")
            names = sql.SQL(", ").join(sql.Identifier(str(c)) for c in manifest["columns"])
            with conn.transaction():
                cur.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)").format(
                    sql.Identifier(part), sql.Identifier(table)))
                loaded = _copy_rows_in(cur, part, names, data_file)
                if loaded != manifest["rows"]:
                    raise PartitionArchiveError(f"{loaded} rows loaded from {data_file.name}, its manifest says "
                                                f"{manifest['rows']}; nothing was reattached")
                # Attaching checks every row lies in the month, and gives the table the parent's
                # indexes, constraints and triggers.
                cur.execute(sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})").format(
                    sql.Identifier(table), sql.Identifier(part), sql.Literal(_bound(month)),
                    sql.Literal(_bound(add_months(month, 1)))))
    except PartitionArchiveError:
        raise
    except Exception as exc:
        raise PartitionArchiveError(f"{part} could not be reattached: {exc}; nothing was reattached") from exc
    finally:
        conn.close()
    logger.info("partition reattached", extra={"partition": part, "rows": manifest["rows"]})
    return manifest

