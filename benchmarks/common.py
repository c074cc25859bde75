"""Shared harness for the benchmarks: a throw-away database, figures, percentiles, a real Celery worker.

Every benchmark script:

- calls `prepare()` first. It points the process at a database of its own, `crm_bench_<script>_p<pid>`
  (unique per process, so that a database another run left or still uses never stands in the way),
  on the server of DATABASE_URL, or on the embedded PostgreSQL under var/ when DATABASE_URL is unset,
  and at a Redis database reserved for benchmarks (default 8, on REDIS_URL's server or the embedded
  Redis), flushed first. The database is a copy of a migrated template (`crm_bench_tpl_<digest>`,
  made once per set of migrations from the test suite's schema snapshot, or by migrating:
  tests/dbbackend/template.py), so a benchmark starts in a second instead of migrating for minutes;
- builds its data set in bulk (not measured), measures, and records figures with `record()`;
- calls `finish()`, which drops the database unless --keep (or --reuse) was given and prints every
  figure as one JSON object per line on stdout:

    {"benchmark": ..., "value": ..., "unit": ..., "limit": ..., "ratio": ..., "goal": ..., "size": ...}

  `limit` is a raw baseline measured in the same run (the same work done with plain SQL), and
  `ratio` is value / limit unless the script's docstring says otherwise; a figure whose baseline
  could not be measured also carries `reason`.

The database is dropped whatever way the process ends short of SIGKILL: an exception, SystemExit,
Ctrl-C, SIGTERM or SIGHUP (turned into SystemExit, so `finally` blocks run too). What a killed process
leaves (its database, named after its pid) is dropped by the next benchmark on the same server once
that pid is gone and nothing is connected to it, and by `python -m benchmarks` as soon as the
benchmark it ran dies.

Two runs never share the Redis database: the first holds a PostgreSQL advisory lock on it for its whole
run (released by the server when the process dies, however it dies), and a second one waits at most
--lock-timeout seconds (30) and then stops, naming the holder (its script, pid, host and start), rather
than flushing the other's queues or hanging. Every connection a benchmark opens carries that name as
its application_name, so pg_stat_activity says who is who.

Sizes: the default is the full size the goals are set for; --quick a smoke run of a minute or so;
--tiny a handful of rows, seconds, whose figures mean nothing: it only proves the script still runs
against the current schema (tests/test_benchmarks.py runs every script at it).

Scripts that build a large data set may accept --reuse (`argument_parser(..., reusable=True)`): the
database a previous `--keep` run left (`crm_bench_<script>` unless --db names another) is used as it
is (not re-created or re-seeded), so a change can be measured again in seconds; `BenchEnv.reused`
tells the script to look its data up.

Progress goes to stderr so that stdout holds nothing but the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

DB_PREFIX = "crm_bench"
DEFAULT_REDIS_DB = 8
DEFAULT_LOCK_TIMEOUT = 30.0
SETTINGS_MODULE = "benchmarks.settings"
# A database this harness made for one process: crm_bench_<script>_p<pid>, or a sibling of it
# (<that>_<suffix>, as ledger_postings.py's django-hordak database).
_PER_PROCESS = re.compile(rf"^{DB_PREFIX}_.+_p(\d+)(_[a-z0-9]+)?$")
# The two-integer advisory locks of the harness: this class, and a hash of what is locked.
_LOCK_CLASS = 0x62656E63  # "benc"


def log(message: str) -> None:
    """Progress for the person watching; stdout is kept for the JSON figures."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def log_phases(logger_name: str) -> None:
    """Show the INFO records of `logger_name` (a service that logs each phase's time) on stderr,
    with the progress."""
    import logging

    phases = logging.getLogger(logger_name)
    phases.setLevel(logging.INFO)
    phases.propagate = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[%(asctime)s] %(message)s", "%H:%M:%S"))
    phases.addHandler(handler)


def argument_parser(description: str | None, *, reusable: bool = False) -> argparse.ArgumentParser:
    """The options every benchmark takes; `reusable` adds --reuse for scripts that can look their data up."""
    parser = argparse.ArgumentParser(description=(description or "").strip().splitlines()[0] if description else None)
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    sizes.add_argument("--tiny", action="store_true",
                       help="a handful of rows (seconds): proves the script runs, its figures mean nothing")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database afterwards")
    if reusable:
        parser.add_argument("--reuse", action="store_true",
                            help="measure against the database an earlier --keep run left (not re-created or "
                                 "re-seeded; kept afterwards); size options are ignored")
    parser.add_argument("--db", default=os.environ.get("CRM_BENCH_DB") or None,
                        help=f"name of the benchmark database (its name must contain 'bench'; default "
                             f"{DB_PREFIX}_<script>_p<pid>, or {DB_PREFIX}_<script> with --keep or --reuse)")
    parser.add_argument("--redis-db", type=int, default=int(os.environ.get("CRM_BENCH_REDIS_DB", DEFAULT_REDIS_DB)),
                        help="Redis database number reserved for benchmarks (flushed at start)")
    parser.add_argument("--lock-timeout", type=float,
                        default=float(os.environ.get("CRM_BENCH_LOCK_TIMEOUT", DEFAULT_LOCK_TIMEOUT)),
                        help="seconds to wait for another run holding the Redis database before giving up (30)")
    return parser


def sized(args: argparse.Namespace, full: int, quick: int, tiny: int) -> int:
    """The size for the run's mode: --tiny, --quick or the full size."""
    if getattr(args, "tiny", False):
        return tiny
    return quick if getattr(args, "quick", False) else full


def script_name() -> str:
    """The running benchmark's name: its script's file name without .py."""
    return Path(sys.argv[0]).stem if sys.argv and sys.argv[0] else "python"


# --- database and Redis ------------------------------------------------------------------------

def url_with_database(url: str, name: str) -> str:
    """`url` (a postgresql:// URL, possibly with ?host=/socket/dir) naming database `name` instead."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def url_with_redis_db(url: str, number: int) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{number}", parts.query, parts.fragment))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


@dataclass
class BenchEnv:
    database_url: str
    redis_url: str
    db_name: str
    keep: bool
    quick: bool
    reused: bool = False
    tiny: bool = False
    started: float = field(default_factory=time.monotonic)

    def worker_env(self, **extra: str) -> dict[str, str]:
        """Environment for a subprocess (a Celery worker) that must use the same database and Redis."""
        env = dict(os.environ)
        env.update({
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")])),
        })
        env.pop("DATABASE_OWNER_URL", None)
        env.update(extra)
        return env


def _admin_connect(url: str) -> Any:
    import psycopg

    return psycopg.connect(url_with_database(url, "postgres"), autocommit=True)


def _database_exists(url: str, name: str) -> bool:
    with _admin_connect(url) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def base_database_url() -> str:
    """The server's URL benchmarks connect with: the schema owner's when there are two roles (the harness
    creates, truncates and vacuums tables, which only their owner may; privileges cost no time), with
    the embedded services started (or joined) when DATABASE_URL / REDIS_URL are unset."""
    if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
        log("DATABASE_URL / REDIS_URL unset: using the embedded PostgreSQL / Redis under var/")
        from plumbing.embedded import ensure_services

        ensure_services()
    owner = os.environ.pop("DATABASE_OWNER_URL", "")
    if owner:
        os.environ["DATABASE_URL"] = owner
    return os.environ["DATABASE_URL"]


def session_name(db: str = "") -> str:
    """Who this process is, as its sessions' application_name (63 bytes at most)."""
    host = os.uname().nodename.split(".")[0]
    since = time.strftime("%H:%M:%S", time.gmtime(_STARTED))
    return f"crm-bench {script_name()} pid {os.getpid()}@{host} since {since}Z{f' on {db}' if db else ''}"[:63]


_STARTED = time.time()


# --- locks: PostgreSQL advisory locks that name their holder --------------------------------------

def _lock_key(what: str) -> int:
    import hashlib

    return int.from_bytes(hashlib.sha256(what.encode()).digest()[:4], "big") & 0x7FFFFFFF


def _lock_holders(conn: Any, key: int) -> list[str]:
    rows = conn.execute(
        "SELECT coalesce(nullif(a.application_name, ''), 'a session'), a.pid, a.client_addr, a.backend_start "
        "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
        "AND l.classid = %s::oid AND l.objid = %s::oid AND l.objsubid = 2", (_LOCK_CLASS, key)).fetchall()
    return [f"{name} (server pid {pid}{f', from {addr}' if addr else ''}, connected {start:%Y-%m-%d %H:%M:%S %Z})"
            for name, pid, addr, start in rows]


def lock_hold(base_url: str, what: str, *, timeout: float, purpose: str) -> Any:
    """A session holding the advisory lock on `what` (kept until it is closed or the process dies: the
    server releases it either way). Waits up to `timeout` seconds, saying who holds it; then SystemExit
    naming the holder."""
    import psycopg

    key = _lock_key(what)
    conn = psycopg.connect(url_with_database(base_url, "postgres"), autocommit=True,
                           application_name=session_name())
    deadline = time.monotonic() + timeout
    told = 0.0
    while True:
        if conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (_LOCK_CLASS, key)).fetchone()[0]:
            return conn
        holders = "; ".join(_lock_holders(conn, key)) or "a session that just ended"
        now = time.monotonic()
        if now >= deadline:
            conn.close()
            raise SystemExit(f"{purpose} is held by {holders}; gave up after {timeout:.0f} s (--lock-timeout)")
        if now - told >= 10:
            log(f"waiting for {purpose}: held by {holders}")
            told = now
        time.sleep(min(0.5, max(0.0, deadline - now)))


# --- what a run leaves behind -----------------------------------------------------------------------

def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def drop_databases(base_url: str, names: Sequence[str]) -> list[str]:
    """Drop `names`, ending the sessions still on them (a thread's connection the process did not close,
    a worker that outlived its benchmark); returns those dropped. FORCE may be refused while an
    autovacuum worker, a superuser's, is busy there (after millions of rows one usually is), and a
    plain DROP waits it out: both are tried a few times. A database that cannot be dropped is named."""
    import psycopg

    dropped = []
    with _admin_connect(base_url) as conn:
        for name in names:
            for attempt in range(6):
                try:
                    force = " WITH (FORCE)" if attempt % 2 else ""
                    conn.execute(f"DROP DATABASE IF EXISTS {_quote(name)}{force}")
                    dropped.append(name)
                    break
                except (psycopg.errors.ObjectInUse, psycopg.errors.InsufficientPrivilege) as exc:
                    if attempt == 5:
                        log(f"could not drop database {name}: {exc}; drop it by hand")
                    elif attempt % 2:
                        time.sleep(1 + attempt)
    return dropped


def databases_of(base_url: str, pid: int) -> list[str]:
    """The databases a benchmark process `pid` made (on this server)."""
    with _admin_connect(base_url) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                            (DB_PREFIX.replace("_", r"\_") + r"\_%",)).fetchall()
    return [name for (name,) in rows if (m := _PER_PROCESS.match(name)) and int(m.group(1)) == pid]


def sweep_leftovers(base_url: str) -> list[str]:
    """Drop the per-process databases of benchmark processes that are gone (killed before they could
    drop their own): no session is connected to them, no session of the server names their pid (a
    benchmark holds its lock session for its whole run, on whichever host it runs) and the pid is
    not running here."""
    with _admin_connect(base_url) as conn:
        rows = conn.execute(
            "SELECT d.datname FROM pg_database d WHERE d.datname LIKE %s "
            "AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)",
            (DB_PREFIX.replace("_", r"\_") + r"\_%",)).fetchall()
        live = {int(pid) for (name,) in conn.execute(
            "SELECT application_name FROM pg_stat_activity WHERE application_name LIKE 'crm-bench %'").fetchall()
            for pid in re.findall(r" pid (\d+)@", name)}
    stale = [name for (name,) in rows
             if (m := _PER_PROCESS.match(name)) and (pid := int(m.group(1))) != os.getpid() and pid not in live
             and not _pid_alive(pid)]
    dropped = drop_databases(base_url, stale) if stale else []
    if dropped:
        log(f"dropped {len(dropped)} database(s) left by benchmark processes that are gone: {', '.join(dropped)}")
    return dropped


# What this process must undo however it ends: run once, by finish(), atexit, or the runner.
_cleanups: list[Any] = []


def cleanup() -> None:
    """Undo what prepare() set up (the database unless kept, the lock), newest first; idempotent."""
    while _cleanups:
        step = _cleanups.pop()
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - the rest must run; the figures are printed regardless
            log(f"clean-up step failed: {exc!r}")


def _exit_on_signal(signum: int, _frame: object) -> None:
    # SystemExit unwinds `finally` blocks and then runs atexit (cleanup), which the default action skips.
    signal.signal(signum, signal.SIG_DFL)  # a second signal ends the process outright
    raise SystemExit(128 + signum)


def _clean_up_on_exit() -> None:
    import atexit

    atexit.register(cleanup)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _exit_on_signal)


# --- the migrated template --------------------------------------------------------------------------

def template_ensure(base_url: str) -> str:
    """The name of a migrated template for this checkout's migrations: CRM_BENCH_TEMPLATE if set (the
    test suite's own), else `crm_bench_tpl_<digest>`, restored from the committed schema snapshot or
    migrated when missing (by one process at a time; the others wait, told who builds it)."""
    given = os.environ.get("CRM_BENCH_TEMPLATE", "")
    if given:
        if not _database_exists(base_url, given):
            raise SystemExit(f"CRM_BENCH_TEMPLATE names {given!r}, which this server does not have")
        return given
    from django.db import connection

    from tests.dbbackend import template

    with connection._nodb_cursor() as cursor:
        cursor.execute("SHOW server_version")
        digest = template.digest(cursor.fetchone()[0])
        name = template.template_name(DB_PREFIX, digest)
        if template.exists(cursor, name):
            os.environ["CRM_BENCH_TEMPLATE"] = name
            return name
    # Building takes seconds from the snapshot, minutes by migrating: wait as long, saying for whom.
    holder = lock_hold(base_url, f"template {name}", timeout=1800, purpose=f"the benchmark template {name}")
    try:
        with connection._nodb_cursor() as cursor:
            if not template.exists(cursor, name):
                template.drop_stale(cursor, connection.ops.quote_name, DB_PREFIX, keep=name)
                log(f"making the benchmark template {name} (once per set of migrations)")
                seconds = template.restore(connection.creation, cursor, name, digest)
                if seconds is None:
                    log("no schema snapshot for these migrations: migrating it (a few minutes)")
                    seconds = template.build(connection.creation, cursor, name, verbosity=0)
                log(f"benchmark template {name} made in {seconds:.0f} s")
    finally:
        holder.close()
    os.environ["CRM_BENCH_TEMPLATE"] = name
    return name


def _refresh_from_code() -> None:
    """What migrate's last steps make from the code rather than the migrations (content types,
    permissions, roles, the application role's privileges), made again on the copy, as the test
    suite does on each of its copies (tests/dbbackend/base.py); and the monthly partitions the daily
    task keeps (last month to a few ahead), as a database migrated today has them: the template's
    are those of the day it was made."""
    from django.core.management.sql import emit_post_migrate_signal

    from crm.audit import app_privileges_grant
    from crm.lib.partitions import partitions_ensure_ahead

    app_privileges_grant(alias="default")
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    partitions_ensure_ahead()


def refreshed_base(base_url: str, template: str) -> str:
    """For a run of several scripts (`python -m benchmarks`): a copy of `template` with what
    `_refresh_from_code()` makes done once, which every script's database is then copied from
    instead of each doing it again (about a second a script). Named after this process, like a
    script's database, so that what a killed run leaves is swept the same way; the caller drops it
    (`drop_databases`) when the run ends."""
    from django.conf import settings
    from django.db import connections

    name = f"{DB_PREFIX}_base_p{os.getpid()}"
    with _admin_connect(base_url) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {_quote(name)}")
        conn.execute(f"CREATE DATABASE {_quote(name)} TEMPLATE {_quote(template)}")
    params = settings.DATABASES["default"]
    before = params["NAME"]
    params["NAME"] = name
    try:
        _refresh_from_code()
    finally:
        connections.close_all()
        params["NAME"] = before
    os.environ["CRM_BENCH_TEMPLATE"] = name
    os.environ["CRM_BENCH_REFRESHED"] = name
    log(f"made {name} from {template} for the run's scripts to copy")
    return name


def _point_django_at(database_url: str, redis_url: str) -> None:
    """Set Django up against the benchmark's database, or, in a process forked from the runner
    (`python -m benchmarks`, which set Django up once), point the settings it made at it."""
    from django.apps import apps

    name = database_name(database_url)
    if not apps.ready:
        import django

        django.setup()
    from django.conf import settings
    from django.db import connections

    if getattr(settings, "REDIS_URL", redis_url) != redis_url:
        raise SystemExit(f"this process was set up with Redis {settings.REDIS_URL}, not {redis_url}")
    connections.close_all()
    params = settings.DATABASES["default"]
    params["NAME"] = name
    params.setdefault("OPTIONS", {})["application_name"] = session_name(name)


def prepare(args: argparse.Namespace) -> BenchEnv:
    """Make the benchmark's database (a copy of the migrated template; with --reuse, take the kept
    one), point this process at it and set Django up. Whatever happens from here on, the database is
    dropped when the process ends (unless kept)."""
    reuse = bool(getattr(args, "reuse", False))
    keep = bool(args.keep) or reuse
    db = args.db or (f"{DB_PREFIX}_{script_name()}" if keep else f"{DB_PREFIX}_{script_name()}_p{os.getpid()}")
    if "bench" not in db:
        raise SystemExit(f"refusing to use database {db!r}: a benchmark database's name must contain 'bench'")
    base_url = base_database_url()
    if database_name(base_url) == db:
        raise SystemExit(f"refusing to use {db!r}: it is the database DATABASE_URL points at")
    database_url = url_with_database(base_url, db)
    redis_url = url_with_redis_db(os.environ["REDIS_URL"], args.redis_db)
    os.environ.update({"DATABASE_URL": database_url, "REDIS_URL": redis_url,
                       "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE, "PGAPPNAME": session_name(db)})
    _clean_up_on_exit()
    sweep_leftovers(base_url)
    # One run per Redis database: a second would flush the first's queues.
    lock = lock_hold(base_url, f"redis {redis_url}", timeout=args.lock_timeout,
                     purpose=f"Redis database {args.redis_db} (pick another with --redis-db)")
    _cleanups.append(lock.close)
    _point_django_at(database_url, redis_url)
    if reuse:
        if not _database_exists(base_url, db):
            raise SystemExit(f"--reuse: there is no database {db!r}; run once with --keep first")
        log(f"reusing database {db}")
    else:
        template = template_ensure(base_url)
        with _admin_connect(base_url) as conn:
            sessions = conn.execute("SELECT coalesce(nullif(application_name, ''), 'a session') FROM pg_stat_activity "
                                    "WHERE datname = %s", (db,)).fetchall()
            if sessions:
                raise SystemExit(f"refusing to re-create database {db!r}: in use by "
                                 f"{', '.join(sorted({s for (s,) in sessions}))}")
            conn.execute(f"DROP DATABASE IF EXISTS {_quote(db)}")
            if not keep:
                _cleanups.append(lambda: _drop_own(base_url, db))
            began = time.perf_counter()
            conn.execute(f"CREATE DATABASE {_quote(db)} TEMPLATE {_quote(template)}")
        if os.environ.get("CRM_BENCH_REFRESHED") != template:  # the runner's base has it done already
            _refresh_from_code()
        log(f"created database {db} from {template}: {time.perf_counter() - began:.1f} s")

    import redis

    redis.Redis.from_url(redis_url).flushdb()
    return BenchEnv(database_url=database_url, redis_url=redis_url, db_name=db, keep=keep,
                    quick=bool(args.quick), reused=reuse, tiny=bool(getattr(args, "tiny", False)))


def _drop_own(base_url: str, db: str) -> None:
    from django.db import connections

    connections.close_all()
    if drop_databases(base_url, [db]):
        log(f"dropped database {db}")


def finish(env: BenchEnv) -> None:
    """Drop the benchmark database (unless --keep) and print the figures."""
    cleanup()
    if env.keep:
        log(f"kept database {env.db_name} ({env.database_url})")
    log(f"total {time.monotonic() - env.started:.1f} s")
    print_figures()


def raw_connection(env: BenchEnv) -> Any:
    """A plain psycopg connection to the benchmark database, outside Django: the baseline's client."""
    import psycopg

    return psycopg.connect(env.database_url, autocommit=True)


@contextlib.contextmanager
def timed(label: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    log(f"{label}: {time.perf_counter() - start:.1f} s")


# --- timing pages ---------------------------------------------------------------------------------

def logged_in_client(user: Any) -> Any:
    """A test Client logged in as `user`, with TOTP passed when the user's role requires it."""
    from django.test import Client as HttpClient
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    http = HttpClient(HTTP_HOST="localhost", raise_request_exception=True)
    http.force_login(user)
    if user.requires_2fa:
        device = TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
        session = http.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return http


_settled = False


def timed_pages(http: Any, urls: Sequence[str], count: int, *, warm: int = 5) -> list[float]:
    """Milliseconds of `count` GETs of `urls` in turn (each must answer 200), after `warm` untimed
    ones (imports, templates, connection, caches). The process's garbage collector is settled first,
    once, as a web worker's is once the application is loaded (plumbing.heap, which
    deploy.gunicorn_conf calls): a page is timed with the collector its users' requests meet."""
    global _settled
    if not _settled:
        from plumbing.heap import settle_after_startup

        settle_after_startup()
        _settled = True

    def get(url: str) -> None:
        response = http.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}")

    for i in range(warm):
        get(urls[i % len(urls)])
    samples = []
    for i in range(count):
        start = time.perf_counter()
        get(urls[i % len(urls)])
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def insert_series(
    model: Any,
    count: int,
    expressions: Mapping[str, str],
    params: Mapping[str, Any] | None = None,
    *,
    joins: str = "",
) -> int:
    """INSERT INTO <model's table> ... SELECT ... FROM generate_series(1, count) AS g <joins>.

    `expressions` maps column names to SQL over `g` (the row number, a bigint from 1) and whatever `joins`
    brings in (write modulo as plain `%`); `params` are pyformat parameters for them. Columns not named take the field's default
    (cast to the column type; "" for text without one) or NULL; a column that has neither, or a unique column, must be named,
    so that a field added to the model later makes this fail loudly instead of writing wrong rows.
    """
    from django.db import connection
    from django.db.models import AutoField, BigAutoField, SmallAutoField
    from psycopg import sql as psql

    values = dict(params or {})
    values["_count"] = count
    columns: list[psql.Composable] = []
    selects: list[psql.Composable] = []  # the caller's expressions are SQL of the benchmark's own
    for f in model._meta.concrete_fields:
        if isinstance(f, AutoField | BigAutoField | SmallAutoField):
            continue
        if f.column in expressions:
            columns.append(psql.Identifier(f.column))
            selects.append(psql.SQL(_escape_modulo(expressions[f.column])))
        elif f.has_db_default() and not f.has_default():
            continue  # the database fills it (a DatabaseDefault cannot be sent as a parameter)
        elif not f.unique and (f.has_default() or (f.empty_strings_allowed and not f.null)):
            key = f"_default_{f.column}"
            values[key] = f.get_db_prep_save(f.get_default(), connection)
            columns.append(psql.Identifier(f.column))
            selects.append(psql.SQL("{}::{}").format(psql.Placeholder(key), psql.SQL(str(f.db_type(connection)))))
        elif f.null and not f.unique:
            continue
        else:
            raise ValueError(f"{model.__name__}.{f.name} ({f.column}) needs an expression for generated rows")
    unknown = set(expressions) - {f.column for f in model._meta.concrete_fields}
    if unknown:
        raise ValueError(f"{model.__name__} has no column(s) {sorted(unknown)}")
    statement = psql.SQL("INSERT INTO {table} ({columns}) SELECT {selects} "
                         "FROM generate_series(1::bigint, %(_count)s::bigint) AS g {joins}").format(
        table=psql.Identifier(model._meta.db_table), columns=psql.SQL(", ").join(columns),
        selects=psql.SQL(", ").join(selects), joins=psql.SQL(_escape_modulo(joins)))
    with connection.cursor() as cursor:
        cursor.execute(statement.as_string(None), values)
        return int(cursor.rowcount)


def _escape_modulo(sql: str) -> str:
    """`%` as SQL's modulo operator, doubled for the driver; `%(name)s` parameters are left alone."""
    return re.sub(r"%(?!\()", "%%", sql)


def vacuum_analyze(*models: Any) -> None:
    """VACUUM ANALYZE the tables: fresh statistics and a visibility map, as a settled database has."""
    from django.db import connection

    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


# --- statistics and figures ----------------------------------------------------------------------

def percentile(values: Sequence[float], pct: float) -> float:
    """The pct-th percentile with linear interpolation between closest ranks (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Figure:
    benchmark: str
    value: float
    unit: str
    limit: float | None
    ratio: float | None
    goal: str
    size: str
    reason: str | None = None  # why `limit` is missing, when it is


_figures: list[Figure] = []


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def record(benchmark: str, *, value: float, unit: str, limit: float | None, goal: str, size: str,
           ratio: float | None = None, reason: str | None = None) -> Figure:
    """Keep one figure for the final report. `ratio` defaults to value / limit; `reason` says why a
    baseline could not be measured (printed only when given)."""
    if ratio is None and limit:
        ratio = value / limit
    # A count (an int: clients whose balances differ) is printed as one, not as a float.
    shown = value if isinstance(value, int) and not isinstance(value, bool) else (_round(value) or 0.0)
    figure = Figure(benchmark, shown, unit, _round(limit), _round(ratio), goal, size, reason)
    _figures.append(figure)
    log(f"{benchmark}: {figure.value} {unit} (limit {figure.limit}, ratio {figure.ratio}; goal {goal})")
    return figure


def print_figures(stream: TextIO | None = None) -> None:
    out = stream or sys.stdout
    for figure in _figures:
        fields = asdict(figure)
        if fields["reason"] is None:
            del fields["reason"]
        print(json.dumps(fields), file=out)
    out.flush()


# --- a real Celery worker --------------------------------------------------------------------------

def die_with_parent() -> None:
    """preexec_fn of a server a benchmark starts (a Celery worker, gunicorn): on Linux it gets SIGTERM
    when the benchmark's process dies, however it dies, instead of living on against a dropped
    database. (The benchmark stops it itself when it ends normally.)"""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class CeleryWorker:
    """`celery -A crm worker` in a subprocess (its own process group), against the benchmark database.

    Started and stopped by the benchmark only; its log goes to a temporary file that is shown if it
    fails to come up.
    """

    def __init__(self, env: BenchEnv, *, concurrency: int = 2, extra_env: Mapping[str, str] | None = None) -> None:
        self.env = env
        self.concurrency = concurrency
        self.extra_env = dict(extra_env or {})
        self.name = f"bench{os.getpid()}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_file = tempfile.NamedTemporaryFile(prefix="crm-bench-worker-", suffix=".log", delete=False)  # noqa: SIM115

    def start(self, *, timeout: float = 90.0) -> None:
        from crm.celery import app

        cmd = [
            sys.executable, "-m", "celery", "-A", "crm", "worker",
            "-c", str(self.concurrency), "-n", f"{self.name}@%h", "-l", "warning",
            "--without-gossip", "--without-mingle",
        ]
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
            cmd, cwd=REPO_ROOT, env=self.env.worker_env(**self.extra_env),
            stdin=subprocess.DEVNULL, stdout=self.log_file, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=die_with_parent,  # noqa: PLW1509 - prctl only
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the Celery worker exited with {self.proc.returncode}:\n{self.output()}")
            replies = app.control.ping(timeout=0.5) or []
            if any(name.startswith(f"{self.name}@") for reply in replies for name in reply):
                log(f"Celery worker {self.name} up (pid {self.proc.pid}, concurrency {self.concurrency})")
                return
        self.stop()
        raise RuntimeError(f"the Celery worker did not answer a ping within {timeout:.0f} s:\n{self.output()}")

    def output(self) -> str:
        return Path(self.log_file.name).read_text(errors="replace")[-4000:]

    def stop(self, *, timeout: float = 30.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # warm shutdown of the worker and its pool children
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def __enter__(self) -> CeleryWorker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        with contextlib.suppress(OSError):
            self.log_file.close()
            os.unlink(self.log_file.name)
