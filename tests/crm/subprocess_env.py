"""Environment for a child process (manage.py, a Celery worker) that must use the TEST database.

The child reads DATABASE_URL, not CRM_TEST_DB, so the URL is rebuilt from the test connection's
own settings; REDIS_URL is the one this run uses.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlencode

from django.conf import settings
from django.db import connection

from tests.waiting import wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]


def database_url_for_tests() -> str:
    s = connection.settings_dict
    user, password = s.get("USER") or "", s.get("PASSWORD") or ""
    host, port = s.get("HOST") or "", str(s.get("PORT") or "")
    auth = ""
    if user:
        auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "") + "@"
    query = {k: str(v) for k, v in (s.get("OPTIONS") or {}).items() if isinstance(v, str | int)}
    if host.startswith("/"):  # a Unix socket directory (the embedded server)
        query["host"] = host
        host = ""
    netloc = auth + host + (f":{port}" if port else "")
    url = f"postgresql://{netloc}/{quote(s['NAME'], safe='')}"
    return f"{url}?{urlencode(query)}" if query else url


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CRM_TEST_DB"}
    env.update(
        DATABASE_URL=database_url_for_tests(),
        REDIS_URL=settings.REDIS_URL,
        DJANGO_SETTINGS_MODULE="crm.settings.test",
        PYTHONPATH=os.pathsep.join(p for p in [str(REPO_ROOT), env.get("PYTHONPATH", "")] if p),
    )
    env.update(extra)  # DJANGO_SETTINGS_MODULE included: a test may name its own settings
    return env


def stop_group(proc: subprocess.Popen[bytes], *, grace: float = 20) -> None:
    """Warm shutdown of a child's whole process group (SIGTERM); killed if it does not stop in time,
    pool children that outlived it included."""
    from tests.waiting import scaled

    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=scaled(grace))
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=scaled(10))


def _die_with_parent() -> None:
    # Linux: the child gets SIGTERM if the test process dies without running its teardown.
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def celery_worker_ready(proc: subprocess.Popen[bytes], queue: str) -> None:
    """Wait until the worker `celery_worker_running` started says it is ready (or fail with its log)."""
    log: Path = proc.log_path  # type: ignore[attr-defined]
    # Ready before the test goes on: on a loaded machine the worker takes minutes to start, which
    # a test's own wait for its work (scaled for the load then) must not have to cover as well.
    wait_until(lambda: proc.poll() is not None or b" ready." in log.read_bytes(), timeout=90,
               what=f"the Celery worker of {queue} to be ready", interval=0.2)
    if proc.poll() is not None:
        raise AssertionError(f"the Celery worker of {queue} stopped at start:\n{log.read_text()[-3000:]}")


@contextmanager
def celery_worker_running(queue: str, log: Path, *, ready: bool = True,
                          **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """`celery -A crm worker` on the test database, consuming only `queue` (one prefork child), its
    output in `log` (as `proc.log_path`); stopped with its whole process group when the block ends.
    `env` adds to the child's environment (the queue's name is its default queue). `ready=False`:
    the block starts at once, and the test calls celery_worker_ready before it needs the worker
    (doing other work while it starts)."""
    cmd = [sys.executable, "-m", "celery", "-A", "crm", "worker", "--queues", queue,
           "--hostname", f"{queue}@localhost", "--pool", "prefork", "--concurrency", "1",
           "--without-gossip", "--without-mingle", "--loglevel", "INFO"]
    child = child_env(**{"LOG_LEVEL": "INFO", "CELERY_TASK_DEFAULT_QUEUE": queue, **env})
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603 - fixed argv
            cmd, cwd=REPO_ROOT, env=child, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_die_with_parent,  # noqa: PLW1509
        )
    proc.log_path = log  # type: ignore[attr-defined]
    try:
        if ready:
            celery_worker_ready(proc, queue)
        yield proc
    finally:
        stop_group(proc)
