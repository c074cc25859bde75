"""Environment for a child process (manage.py, a Celery worker) that must use the TEST database.

The child reads DATABASE_URL, not CRM_TEST_DB, so the URL is rebuilt from the test connection's
own settings; REDIS_URL is the one this run uses.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from urllib.parse import quote, urlencode

from django.conf import settings
from django.db import connection

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
        **extra,
    )
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
