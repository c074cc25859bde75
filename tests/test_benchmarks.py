"""Every benchmark in benchmarks/ still runs, and a benchmark that dies leaves nothing in the way.

The scripts run at their tiny size (a handful of rows: the figures mean nothing, the code paths are the
real ones) through the runner `make bench` uses (`python -m benchmarks`: Django set up once, each
script a forked process of its own), against this run's PostgreSQL, each on a copy of the suite's
own migrated template, and this test process's own Redis database. A schema change that breaks a
benchmark's bulk writer fails here instead of on the next person's `make bench`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import pytest

REPO = Path(__file__).resolve().parents[1]


def _readme_keys() -> tuple[set[str], set[str]]:
    """The keys of a figure's JSON line as the README documents them: those every line has, and the
    optional ones (named in the README's sentence after the example)."""
    text = (REPO / "README.md").read_text()
    line = next(line for line in text.splitlines() if line.strip().startswith('{"benchmark":'))
    keys = set(re.findall(r'"(\w+)":', line))
    optional = set(re.findall(r'optional `(\w+)`', text))
    return keys, optional


def _scripts() -> list[str]:
    from benchmarks.__main__ import all_scripts

    return all_scripts(REPO / "benchmarks")


@pytest.fixture
def bench_env(db: Any) -> dict[str, str]:
    """The environment a benchmark process gets: this run's server as its owner, this process's Redis
    database, and the suite's migrated template to copy."""
    from django.db import connection

    from tests.dbbackend import template

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
        test_database = connection.settings_dict["NAME"]
    name = template.template_name(template.base_name(test_database), template.digest(version))
    env = {**os.environ, "CRM_BENCH_TEMPLATE": name, "PYTHONPATH": str(REPO)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    for variable in ("CRM_BENCH_DB", "CRM_BENCH_SCALE", "CRM_BENCH_REDIS_DB"):
        env.pop(variable, None)
    return env


def _redis_db() -> str:
    return urlsplit(os.environ["REDIS_URL"]).path.strip("/") or "0"


def _base_url(env: dict[str, str]) -> str:
    from benchmarks.common import url_with_database

    return url_with_database(env.get("DATABASE_OWNER_URL") or env["DATABASE_URL"], "postgres")


def _databases(env: dict[str, str]) -> set[str]:
    import psycopg

    with psycopg.connect(_base_url(env), autocommit=True) as conn:
        return {name for (name,) in conn.execute(r"SELECT datname FROM pg_database WHERE datname LIKE 'crm\_bench\_%'")}


def _figures(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def _wait_for(stream: IO[str], pattern: str, seen: list[str], timeout: float = 180) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        if match := re.search(pattern, line):
            return match
    raise AssertionError(f"no line matching {pattern!r}:\n{''.join(seen)[-4000:]}")


def test_every_benchmark_prints_its_figures_and_one_killed_halfway_stops_neither_the_others_nor_the_next_run(
    bench_env: dict[str, str],
) -> None:
    """One run of the runner for both: every script at the tiny size, after a first run of one of them
    that is stopped halfway (a run of the runner of its own for the second cost another Django set-up,
    another base database and two more scripts' runs)."""
    # A benchmark run on its own and killed outright (SIGKILL: nothing of its own runs) leaves its database.
    alone = subprocess.Popen(  # noqa: S603 - our own script
        [sys.executable, "benchmarks/audit_writes.py", "--tiny", "--redis-db", _redis_db()], cwd=REPO, env=bench_env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen: list[str] = []
    try:
        left = _wait_for(alone.stderr, r"created database (crm_bench_\w+)", seen).group(1)  # type: ignore[arg-type]
    finally:
        alone.kill()
        alone.wait(30)
    assert left in _databases(bench_env)

    # The next `make bench`: its first benchmark is stopped halfway (SIGTERM, as a timeout or a shutdown
    # sends); every benchmark after it, the same script's own run again among them, still runs and prints
    # its figures and their summary lines.
    scripts = _scripts()
    stopped = "compliance_trail_export.py"
    runner = subprocess.Popen(  # noqa: S603 - our own runner
        [sys.executable, "-m", "benchmarks", "--tiny", "--only", ",".join([stopped, *scripts]),
         "--redis-db", _redis_db()], cwd=REPO, env=bench_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        created = _wait_for(runner.stderr, r"created database (crm_bench_compliance_trail_export_p(\d+))", seen)  # type: ignore[arg-type]
        os.kill(int(created.group(2)), signal.SIGTERM)
        stdout, stderr = runner.communicate(timeout=900)
    finally:
        if runner.poll() is None:
            runner.kill()
    stderr = "".join(seen) + stderr
    assert runner.returncode == 1, stderr[-6000:]
    assert f"{stopped}: FAILED (exit status 143)" in stderr
    assert f"\nfailed: {stopped}\n" in stderr, stderr[-6000:]  # the stopped run, and nothing else, failed
    assert re.search(rf"benchmarks/{stopped} \(pid {created.group(2)}\): exit status 143, 0 figure\(s\)", stderr)
    keys, optional = _readme_keys()
    assert {"benchmark", "value", "unit", "limit", "ratio", "goal", "size"} <= keys
    figures = _figures(stdout)
    for figure in figures:
        assert keys <= set(figure) <= keys | optional, figure
    by_script = {script: [f for f in figures if f["benchmark"].startswith(script.removesuffix(".py") + ".")]
                 for script in scripts}
    assert [script for script, found in by_script.items() if not found] == []
    assert len(figures) == sum(len(found) for found in by_script.values())  # every figure named after its script
    summary = stderr[stderr.index("== summary"):]
    for figure in figures:
        assert f"\n{figure['benchmark']}: " in summary
    pids = {int(pid) for pid in re.findall(r"\(pid (\d+)\): ok", stderr)}
    assert len(pids) == len(scripts)
    remaining = _databases(bench_env)
    assert [name for name in remaining if any(name.endswith(f"_p{pid}") for pid in pids)] == []
    assert left not in remaining  # what the killed run left was dropped by the next one
    assert created.group(1) not in remaining  # the stopped benchmark dropped its own


def test_a_second_run_on_the_same_redis_database_names_the_first_instead_of_waiting(bench_env: dict[str, str]) -> None:
    from benchmarks import common

    base = _base_url(bench_env)
    first = common.lock_hold(base, "redis test", timeout=1, purpose="Redis database test")
    try:
        started = time.monotonic()
        with pytest.raises(SystemExit) as refused:
            common.lock_hold(base, "redis test", timeout=0.3, purpose="Redis database test")
        assert time.monotonic() - started < 5
    finally:
        first.close()
    message = str(refused.value)
    assert message.startswith("Redis database test is held by crm-bench ")
    assert f"pid {os.getpid()}@" in message
    assert "gave up after 0 s (--lock-timeout)" in message
    common.lock_hold(base, "redis test", timeout=1, purpose="Redis database test").close()  # free again


@pytest.mark.parametrize(("figure", "verdict"), [
    ({"value": 12.0, "ratio": 20.0, "limit": 0.6, "goal": "<= 60 s"}, "met"),
    ({"value": 12.0, "ratio": 20.0, "limit": 0.6, "goal": "ratio <= 8 (times the plain aggregate); <= 60 s"}, "NOT MET"),
    ({"value": 0.0, "ratio": None, "limit": None, "goal": "0"}, "met"),
    ({"value": 2.0, "ratio": None, "limit": None, "goal": "== 0"}, "NOT MET"),
    ({"value": 0.4, "ratio": 1.2, "limit": 0.3, "goal": "<= the average agent's"}, "NOT MET"),
    ({"value": 61.0, "ratio": 0.9, "limit": None, "goal": "value <= 60 s for 1,000,000 lines"}, "NOT MET"),
    ({"value": 7000.0, "ratio": None, "limit": None, "goal": ">= 5000"}, "met"),
    ({"value": 108.0, "ratio": 0.4, "limit": 250.0, "goal": ">= 3 x global lock (383)"}, "NOT MET"),
    ({"value": 65.0, "ratio": 20.0, "limit": 3.0, "goal": "p95 <= 150 ms"}, "met"),
    ({"value": 1.0, "ratio": None, "limit": None, "goal": "1.0 (every listed person found)"}, "met"),
    ({"value": 3.0, "ratio": None, "limit": None, "goal": "informational"}, "info"),
    ({"value": 3.0, "ratio": None, "limit": None, "goal": ""}, "info"),
])
def test_the_summary_judges_each_goal_by_its_text(figure: dict[str, Any], verdict: str) -> None:
    from benchmarks.__main__ import judge

    assert judge(figure) == verdict
