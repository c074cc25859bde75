"""Run every benchmark script in turn: `python -m benchmarks [--quick | --tiny] [--only a,b] [...]` (`make bench`).

Every .py file in benchmarks/ other than the harness's own modules is a benchmark script (new
scripts are picked up without listing them). Scripts in OPT_IN run only when their variable is set
(1, yes or true): scale_pages.py first generates a brokerage of a million clients (about an hour), so
only `make bench SCALE=1` (CRM_BENCH_SCALE=1) runs it, and segment_count.py and campaign_send.py
with it (their seeds, and a campaign's delivery, take minutes to hours at full size). --only runs
the scripts named (with or without .py), opted in or not. Every other argument is passed to each script.

Django (with the benchmark settings) and the embedded services are set up once, here; each script
then runs in a process of its own forked from this one, as `__main__`, with its own database
(benchmarks/common.py): it starts in about a second instead of importing every app again. The
scripts' databases are copies of one made here from the migrated template, with what migrate makes
from the code (content types, permissions, roles, partitions) done once rather than in every script. Its JSON
figure lines are passed through to stdout as they come, its progress goes to stderr. A script that
fails or is killed does not stop the others: its databases are dropped as soon as it has ended, and
the summary says so.

At the end, on stderr, one summary line per figure: the figure, its limit and ratio, the goal, and
whether the goal was met (judged from the goal's text: `<= 60 s` on the value, `ratio >= 0.5` on the
ratio, `<= the average agent's` against the limit; goals that are not comparisons are "info"); and a
line for each script that printed no figure or ended in failure. Exits non-zero if any script failed
(goals not met are figures, not failures).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

# Modules of the harness, not benchmarks.
SUPPORT = {"__init__.py", "__main__.py", "common.py", "settings.py", "handlers.py"}
# Scripts that run only when asked for, by the environment variable named.
OPT_IN = {"scale_pages.py": "CRM_BENCH_SCALE", "segment_count.py": "CRM_BENCH_SCALE",
          "campaign_send.py": "CRM_BENCH_SCALE"}


def _asked_for(script: str) -> bool:
    variable = OPT_IN.get(script)
    return variable is None or os.environ.get(variable, "").lower() in {"1", "yes", "true"}


def all_scripts(here: Path) -> list[str]:
    """Every benchmark script in benchmarks/, opted in or not."""
    return sorted(p.name for p in here.glob("*.py") if p.name not in SUPPORT)


def scripts(here: Path) -> list[str]:
    """Every benchmark script to run: each .py file in benchmarks/ that is not part of the harness
    (an opt-in one only when asked for)."""
    return [name for name in all_scripts(here) if _asked_for(name)]


# --- goals ---------------------------------------------------------------------------------------

_COMPARISON = re.compile(r"^\s*(?:(\w+)\s*)?(<=|>=|==|<|>|=)\s*(-?[\d,]*\.?\d+)?(\s*(?:x|times)\b)?")
_OPERATORS = {"<=": float.__le__, ">=": float.__ge__, "==": float.__eq__, "=": float.__eq__,
              "<": float.__lt__, ">": float.__gt__}


def judge(figure: dict[str, Any]) -> str:
    """"met", "NOT MET" or "info" for a figure, from its goal's text."""
    goal = str(figure.get("goal") or "").strip()
    if re.match(r"-?\d+(\.\d+)?(\s|\(|$)", goal):
        goal = f"== {goal}"  # a number first ("0", "1.0 (every listed person found)"): the value must be it
    match = _COMPARISON.match(goal)
    if not match:
        return "info"
    subject, operator, number, times = match.groups()
    if times:  # ">= 3 x global lock (383)": the figure in brackets is the bound, if there is one
        bound = re.search(r"\((-?[\d,]*\.?\d+)\)", goal[match.end():])
        if not bound:
            return "info"
        number = bound.group(1)
    if number is not None:
        target: Any = float(number.replace(",", ""))
    elif figure.get("limit") is not None:
        target = float(figure["limit"])  # "<= the average agent's": against the limit measured beside it
    else:
        return "info"
    actual = figure.get("ratio") if subject == "ratio" else figure.get("value")
    if actual is None:
        return "NOT MET (no ratio)"
    return "met" if _OPERATORS[operator](float(actual), target) else "NOT MET"


def summary_line(figure: dict[str, Any]) -> str:
    limit = "" if figure.get("limit") is None else f", limit {figure['limit']:g}"
    ratio = "" if figure.get("ratio") is None else f", ratio {figure['ratio']:g}"
    return (f"{figure['benchmark']}: {figure['value']:g} {figure['unit']}{limit}{ratio}; "
            f"goal {figure.get('goal') or '-'}: {judge(figure)}")


# --- running the scripts -------------------------------------------------------------------------

def _set_up(argv: list[str]) -> tuple[str, str]:
    """Django with the benchmark settings, on the server and Redis database every script will use
    (each points it at its own database when it starts); returns the server's URL and the name of the
    base database the scripts' own are copied from ("" with --reuse)."""
    from benchmarks import common

    parser = common.argument_parser(None, reusable=True)
    known, _ = parser.parse_known_args(argv)
    base = common.base_database_url()
    os.environ["REDIS_URL"] = common.url_with_redis_db(os.environ["REDIS_URL"], known.redis_db)
    os.environ["DATABASE_URL"] = common.url_with_database(base, "postgres")  # never connected to as such
    os.environ["DJANGO_SETTINGS_MODULE"] = common.SETTINGS_MODULE
    import django

    django.setup()
    from django.conf import settings

    try:  # the views too, once here rather than in every script that requests a page
        importlib.import_module(settings.ROOT_URLCONF)
    except ImportError as error:  # the scripts that request pages will say so; the others still run
        common.log(f"the URLconf does not import: {error}")
    common.sweep_leftovers(base)
    copied_from = ""
    if not getattr(known, "reuse", False):
        template = common.template_ensure(base)  # made once here rather than waited for in the first script
        copied_from = common.refreshed_base(base, template)
    from django.db import connections

    connections.close_all()  # nothing connected may be shared with the forked scripts
    return base, copied_from


def _run_one(path: Path, argv: list[str]) -> tuple[int, str, list[dict[str, Any]]]:
    """Fork, run `path` as __main__ in the child; returns (pid, how it ended, its figures)."""
    read_fd, write_fd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the script's process
        code = 1
        try:
            os.close(read_fd)
            os.dup2(write_fd, 1)
            os.close(write_fd)
            sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - the process's own stdout
            signal.signal(signal.SIGINT, signal.default_int_handler)
            import runpy

            sys.argv = [str(path), *argv]
            try:
                runpy.run_path(str(path), run_name="__main__")
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                if exc.code is not None and not isinstance(exc.code, int):
                    print(exc.code, file=sys.stderr)
            except BaseException:  # noqa: BLE001 - reported like an uncaught exception, then the clean-up
                import traceback

                traceback.print_exc()
            finally:
                from benchmarks import common

                common.cleanup()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)
    os.close(write_fd)
    figures: list[dict[str, Any]] = []
    with open(read_fd, "rb") as pipe:
        for raw in pipe:
            line = raw.decode(errors="replace").rstrip("\n")
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
            if line.startswith("{"):
                try:
                    figures.append(json.loads(line))
                except ValueError:
                    pass
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        ended = f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    else:
        code = os.WEXITSTATUS(status)
        ended = "ok" if code == 0 else f"exit status {code}"
    return pid, ended, figures


def _leftovers_dropped(base: str, pid: int) -> None:
    """Whatever a script that died left (its databases are named after its pid) is dropped now."""
    from benchmarks import common

    with contextlib.suppress(Exception):
        names = common.databases_of(base, pid)
        if names:
            dropped = common.drop_databases(base, names)
            common.log(f"dropped what pid {pid} left: {', '.join(dropped)}")


def main(argv: list[str]) -> int:
    here = Path(__file__).resolve().parent
    only = ""
    rest: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--only":
            only = next(args, "")
        elif arg.startswith("--only="):
            only = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    if only:
        wanted = [name if name.endswith(".py") else f"{name}.py" for name in only.split(",") if name]
        unknown = sorted(set(wanted) - set(all_scripts(here)))
        if unknown:
            print(f"no such benchmark: {', '.join(unknown)}", file=sys.stderr)
            return 2
        chosen = wanted
    else:
        chosen = scripts(here)
    from benchmarks import common

    started = time.monotonic()
    base, copied_from = _set_up(rest)
    results: list[tuple[str, str, list[dict[str, Any]]]] = []
    try:
        for script in chosen:
            common.log(f"== benchmarks/{script} {' '.join(rest)}")
            began = time.monotonic()
            pid, ended, figures = _run_one(here / script, rest)
            if ended != "ok":
                _leftovers_dropped(base, pid)
            common.log(f"== benchmarks/{script} (pid {pid}): {ended}, {len(figures)} figure(s) in "
                       f"{time.monotonic() - began:.1f} s")
            results.append((script, ended, figures))
    finally:
        if copied_from:
            common.drop_databases(base, [copied_from])
    print(f"== summary ({len(chosen)} benchmark scripts, {time.monotonic() - started:.0f} s)", file=sys.stderr)
    for script, ended, figures in results:
        for figure in figures:
            print(summary_line(figure), file=sys.stderr)
        if ended != "ok" or not figures:
            print(f"{script}: {'FAILED (' + ended + ')' if ended != 'ok' else 'no figures'}", file=sys.stderr)
    sys.stderr.flush()
    failed = [script for script, ended, _ in results if ended != "ok"]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
