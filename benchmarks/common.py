"""Shared harness for the benchmarks: a throw-away database, figures, percentiles, a real Celery worker.

Every benchmark script:

- calls `prepare()` first. It points the process at a dedicated database (default `crm_bench`, on the
  server of DATABASE_URL, or on the embedded PostgreSQL under var/ when DATABASE_URL is unset) and a
  dedicated Redis database (default 8, on REDIS_URL's server or the embedded Redis), creates the
  database afresh, migrates it and sets Django up with `benchmarks.settings`;
- builds its data set in bulk (not measured), measures, and records figures with `record()`;
- calls `finish()`, which drops the database unless --keep (or --reuse) was given and prints every
  figure as one JSON object per line on stdout:

    {"benchmark": ..., "value": ..., "unit": ..., "limit": ..., "ratio": ..., "goal": ..., "size": ...}

  `limit` is a raw baseline measured in the same run (the same work done with plain SQL), and
  `ratio` is value / limit unless the script's docstring says otherwise.

Scripts that build a large data set may accept --reuse (`argument_parser(..., reusable=True)`): the
database a previous `--keep` run left is used as it is (migrated, not re-created or re-seeded), so
a change can be measured again in seconds; `BenchEnv.reused` tells the script to look its data up.

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

DEFAULT_DB = "crm_bench"
DEFAULT_REDIS_DB = 8
SETTINGS_MODULE = "benchmarks.settings"


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
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database afterwards")
    if reusable:
        parser.add_argument("--reuse", action="store_true",
                            help="measure against the database an earlier --keep run left (migrated, not "
                                 "re-created or re-seeded; kept afterwards); size options are ignored")
    parser.add_argument("--db", default=os.environ.get("CRM_BENCH_DB", DEFAULT_DB),
                        help="name of the benchmark database (created afresh; its name must contain 'bench')")
    parser.add_argument("--redis-db", type=int, default=int(os.environ.get("CRM_BENCH_REDIS_DB", DEFAULT_REDIS_DB)),
                        help="Redis database number reserved for benchmarks (flushed at start)")
    return parser


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
        env.update(extra)
        return env


def _admin_connect(url: str) -> Any:
    import psycopg

    return psycopg.connect(url_with_database(url, "postgres"), autocommit=True)


def _database_exists(url: str, name: str) -> bool:
    with _admin_connect(url) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def prepare(args: argparse.Namespace) -> BenchEnv:
    """Create the benchmark database afresh (or, with --reuse, take the kept one), point this process
    at it, set Django up and migrate."""
    if "bench" not in args.db:
        raise SystemExit(f"refusing to use database {args.db!r}: a benchmark database's name must contain 'bench'")
    if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
        log("DATABASE_URL / REDIS_URL unset: using the embedded PostgreSQL / Redis under var/")
        from crm.lib.embedded import ensure_services

        ensure_services()
    # The harness creates, truncates and vacuums tables, which only their owner may: with two
    # roles (crm.lib.dbroles) the benchmark database is the owner's alone. Privileges cost no time.
    base_url = os.environ.pop("DATABASE_OWNER_URL", "") or os.environ["DATABASE_URL"]
    if database_name(base_url) == args.db:
        raise SystemExit(f"refusing to use {args.db!r}: it is the database DATABASE_URL points at")
    database_url = url_with_database(base_url, args.db)
    redis_url = url_with_redis_db(os.environ["REDIS_URL"], args.redis_db)

    reuse = bool(getattr(args, "reuse", False))
    if reuse:
        if not _database_exists(base_url, args.db):
            raise SystemExit(f"--reuse: there is no database {args.db!r}; run once with --keep first")
        log(f"reusing database {args.db}")
    else:
        with _admin_connect(base_url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{args.db}"')
        log(f"created database {args.db}")

    import redis

    redis.Redis.from_url(redis_url).flushdb()

    os.environ["DATABASE_URL"] = database_url
    os.environ["REDIS_URL"] = redis_url
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    import django

    django.setup()
    from django.core.management import call_command

    with timed("migrate"):
        call_command("migrate", verbosity=0, interactive=False)
    return BenchEnv(database_url=database_url, redis_url=redis_url, db_name=args.db, keep=args.keep or reuse,
                    quick=args.quick, reused=reuse)


def finish(env: BenchEnv) -> None:
    """Drop the benchmark database (unless --keep) and print the figures."""
    from django.db import connections

    connections.close_all()
    if env.keep:
        log(f"kept database {env.db_name} ({env.database_url})")
    else:
        _drop_database(env)
    log(f"total {time.monotonic() - env.started:.1f} s")
    print_figures()


def _drop_database(env: BenchEnv) -> None:
    """Drop the benchmark database. A plain DROP first: it stops an autovacuum worker busy there
    (after millions of rows one usually is), which FORCE may not (the worker is a superuser's and
    the benchmark's role, with two roles, is not one). Still in use after a few tries: FORCE. A
    database that cannot be dropped is named, and the figures are printed all the same."""
    import psycopg

    with _admin_connect(env.database_url) as conn:
        for attempt in range(5):
            try:
                conn.execute(f'DROP DATABASE IF EXISTS "{env.db_name}"')
                break
            except psycopg.errors.ObjectInUse:
                time.sleep(1 + attempt)
        else:
            try:
                conn.execute(f'DROP DATABASE IF EXISTS "{env.db_name}" WITH (FORCE)')
            except psycopg.Error as exc:
                log(f"could not drop database {env.db_name}: {exc}; drop it by hand")
                return
    log(f"dropped database {env.db_name}")


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
    once, as a web worker's is once the application is loaded (crm.lib.heap, which
    crm.gunicorn_conf calls): a page is timed with the collector its users' requests meet."""
    global _settled
    if not _settled:
        from crm.lib.heap import settle_after_startup

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

    qn = connection.ops.quote_name
    values = dict(params or {})
    values["_count"] = count
    columns: list[str] = []
    selects: list[str] = []
    for f in model._meta.concrete_fields:
        if isinstance(f, AutoField | BigAutoField | SmallAutoField):
            continue
        if f.column in expressions:
            columns.append(qn(f.column))
            selects.append(_escape_modulo(expressions[f.column]))
        elif f.has_db_default() and not f.has_default():
            continue  # the database fills it (a DatabaseDefault cannot be sent as a parameter)
        elif not f.unique and (f.has_default() or (f.empty_strings_allowed and not f.null)):
            key = f"_default_{f.column}"
            values[key] = f.get_db_prep_save(f.get_default(), connection)
            columns.append(qn(f.column))
            selects.append(f"%({key})s::{f.db_type(connection)}")
        elif f.null and not f.unique:
            continue
        else:
            raise ValueError(f"{model.__name__}.{f.name} ({f.column}) needs an expression for generated rows")
    unknown = set(expressions) - {f.column for f in model._meta.concrete_fields}
    if unknown:
        raise ValueError(f"{model.__name__} has no column(s) {sorted(unknown)}")
    sql = (
        f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(columns)}) "  # noqa: S608 - generated, trusted
        f"SELECT {', '.join(selects)} FROM generate_series(1::bigint, %(_count)s::bigint) AS g {_escape_modulo(joins)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
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
    figure = Figure(benchmark, _round(value) or 0.0, unit, _round(limit), _round(ratio), goal, size, reason)
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
            start_new_session=True,
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
