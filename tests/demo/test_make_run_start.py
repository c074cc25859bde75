"""`make run`'s start (demo/runner.py run()) on a slow machine and after an interrupted first start
(issue 58): each demo loader records that it finished, every start runs the ones that have not, the
web server is waited for as long as it makes progress, and a step that fails says so in one line
with a non-zero exit. `make seed` runs the same loaders.

The runner runs for real in this process (its signal handling, its supervisor, its demo_load command
with the record of finished loaders): only the servers, migrate and the loaders' own work are stubs,
the loaders being the real list (DEMO_LOADERS), each made cheap and printing a login of its own. The
web server is a process that takes its time to answer while it writes its log, as gunicorn does
while it boots."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command, get_commands
from django.core.management.base import CommandError

from demo import runner
from demo.management.commands import demo_load

pytestmark = pytest.mark.django_db  # demo_load names the database its record is about

# The web server: boots for DELAY seconds, writing its log meanwhile (or, with QUIET, writing nothing
# and never answering), then answers every request with 200.
WEB = """
import socket, sys, time
port, delay, quiet = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3] == "quiet"
if quiet:
    time.sleep(3600)
started = time.monotonic()
while time.monotonic() - started < delay:
    print("booting", flush=True)
    time.sleep(0.05)
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", port))
server.listen()
while True:
    conn, _ = server.accept()
    conn.recv(4096)
    conn.sendall(b"HTTP/1.0 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok")
    conn.close()
"""

FACES = ["ctrader", "sirix"]
_ANNOUNCE = runner._announce


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Services:
    def __init__(self, var_dir: Path, out: Any = None) -> None:
        pass

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


class _Beside:
    def join(self) -> None:
        pass

    def stop(self) -> None:
        pass


class Start:
    """`make run` with stub servers and cheap loaders. `interrupt_at` (the number of loader calls
    after which the next one is interrupted by a Ctrl-C), `fail` (a loader's key that raises) and the
    web server's boot time are set per run."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
        self.var_dir = tmp_path / "var"
        self.capsys = capsys
        self.port = _free_port()
        self.loaded: dict[tuple[str, tuple[str, ...]], int] = {}  # the stub database: loader -> times loaded
        self.calls: list[tuple[str, tuple[str, ...]]] = []
        self.interrupt_at: int | None = None
        self.fail: str | None = None
        self.web_delay = 0.0
        self.web_mode = "talk"
        for name, value in (("CRM_VAR_DIR", str(self.var_dir)), ("HOST", "127.0.0.1"), ("PORT", str(self.port)),
                            ("CRM_PUBLIC_URL", f"http://127.0.0.1:{self.port}"), ("CRM_RUN_STALL_SECONDS", "0.4"),
                            ("PYTHONUNBUFFERED", "1")):
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(runner, "Services", _Services)
        monkeypatch.setattr(runner, "schema_from_snapshot", lambda *, env: None)
        monkeypatch.setattr(runner, "manage", self._manage)
        monkeypatch.setattr(runner, "collect_static", lambda *, env, var_dir: _Beside())
        monkeypatch.setattr(runner, "default_processes", self._processes)
        monkeypatch.setattr(demo_load, "call_loader", self._loader)
        monkeypatch.setattr(demo_load, "faces_in_use", lambda: list(FACES))
        def announce_then_stop(*args: Any, **kwargs: Any) -> None:
            _ANNOUNCE(*args, **kwargs)
            os.kill(os.getpid(), signal.SIGTERM)  # the user's Ctrl-C once the logins are on screen

        monkeypatch.setattr(runner, "_announce", announce_then_stop)

    def _processes(self, **kwargs: Any) -> list[runner.ProcessSpec]:
        assert set(kwargs["face_ports"]) == set(FACES)
        return [runner.ProcessSpec("web", (sys.executable, "-S", "-c", WEB, str(self.port), str(self.web_delay),
                                           self.web_mode), stop_timeout=5)]

    def _manage(self, *args: str, env: dict[str, str], log: Path | None = None,
                on_line: Any = None) -> list[str]:
        if args[0] == "migrate":
            return []
        assert args[0] == "demo_load", args
        out, errors = io.StringIO(), io.StringIO()
        try:
            call_command(*args, stdout=out, stderr=errors)  # in this process, as manage.py would run it
            code = 0
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        except KeyboardInterrupt:  # the Ctrl-C reached the command too
            code = 130
        for line in out.getvalue().splitlines():
            on_line(line)
        if log is not None:
            with log.open("a") as fh:
                fh.write(errors.getvalue())
        if code:
            raise runner.StartupError(f"`manage.py demo_load` failed (exit {code})")
        return []

    def _loader(self, command: str, args: tuple[str, ...]) -> str:
        if self.interrupt_at is not None and len(self.calls) == self.interrupt_at:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, after the loader before this one finished
            raise KeyboardInterrupt
        self.calls.append((command, args))
        face = args[args.index("--face") + 1] if "--face" in args else ""
        if self.fail == command:
            raise CommandError(f"{command} could not reach its server")
        self.loaded[command, args] = self.loaded.get((command, args), 0) + 1  # idempotent: loads once
        return f"{command}: loaded\nLOGIN role-{command}{face} {command}{face}@demo.example pw-{command}{face}\n"

    def run(self, *argv: str) -> tuple[int, str, str]:
        self.calls = []
        code = runner.run(list(argv))
        captured = self.capsys.readouterr()
        return code, captured.out, captured.err

    def book(self) -> list[str]:
        """The loaders recorded as finished, in the order they first finished."""
        lines = (self.var_dir / runner.DEMO_BOOK_FILE).read_text().splitlines()
        return list(dict.fromkeys(json.loads(line)["loader"] for line in lines))


def _all_steps() -> list[runner.DemoStep]:
    return [*runner.demo_steps(running=False),
            *runner.demo_steps(running=True, values={"mt5sim_port": "0", "pspsim_port": "0", "webhooks_port": "0",
                                                                "praxissim_port": "0", "praxissim_state_dir": "",
                                                                "paysafesim_port": "0", "paysafesim_state_dir": "",
                                                                "coinspaidsim_port": "0",
                                                                "coinspaidsim_state_dir": "",
                                                                "twiliosim_port": "0", "twiliosim_state_dir": ""},
                               faces={face: (0, "") for face in FACES})]


def _logins_printed(out: str) -> set[str]:
    table = out.split("[run] Demo logins:", 1)[1] if "[run] Demo logins:" in out else ""
    return set(re.findall(r"\S+@demo\.example", table))


def _expected_logins() -> set[str]:
    found = set()
    for step in _all_steps():
        face = step.args[step.args.index("--face") + 1] if "--face" in step.args else ""
        found.add(f"{step.command}{face}@demo.example")
    return found


@pytest.fixture
def start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Start:
    return Start(tmp_path, monkeypatch, capsys)


def test_a_start_interrupted_after_any_loader_is_finished_by_the_next_one_with_every_login(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    steps = _all_steps()
    for done in range(len(steps)):
        start = Start(tmp_path / str(done), monkeypatch, capsys)
        start.interrupt_at = done
        code, out, _ = start.run()
        assert code == 130 and "interrupted during start-up" in out
        assert (start.book() if done else []) == [step.key for step in steps[:done]]
        first = start.calls

        start.interrupt_at = None
        code, out, err = start.run()
        assert (code, err) == (0, ""), f"after loader {done}: {err}"
        assert start.book() == [step.key for step in steps], f"after loader {done}"
        assert _logins_printed(out) == _expected_logins(), f"after loader {done}"
        # Those that had finished are not run again, only the every-start ones (they point the demo
        # at this start's simulators).
        assert [command for command, _ in first] == [step.command for step in steps[:done]]
        assert [command for command, _ in start.calls] == [
            step.command for number, step in enumerate(steps) if number >= done or step.every_start]


def test_a_web_server_that_answers_late_is_waited_for_while_it_makes_progress(start: Start) -> None:
    start.web_delay = 1.2  # three times CRM_RUN_STALL_SECONDS: answering late, but booting all along
    code, out, err = start.run()
    assert (code, err) == (0, "")
    assert f"[run] waiting for the web server to answer http://127.0.0.1:{start.port}/healthz" in out
    assert start.book() == [step.key for step in _all_steps()]
    assert _logins_printed(out) == _expected_logins()


def test_a_web_server_that_makes_no_progress_stops_the_start_in_one_line_with_a_failure(start: Start) -> None:
    start.web_mode = "quiet"
    code, out, err = start.run()
    assert code == 1
    [line] = err.splitlines()
    assert re.fullmatch(
        re.escape(f"[run] the web server has not answered http://127.0.0.1:{start.port}/healthz in ") + r"\d+"
        + re.escape(f" s and has made no progress (no CPU, no log output) for 0.4 s; see "
                    f"{start.var_dir / 'log' / 'web.log'} (CRM_RUN_STALL_SECONDS sets that wait)"), line)
    assert "The CRM is running" not in out
    # The loaders ran while the web server was starting (they need only the database and the
    # simulators); the logins are not shown, since the CRM does not answer.
    assert start.book() == [step.key for step in _all_steps()]
    assert "Demo logins" not in out


def test_a_loader_that_fails_says_so_in_one_line_and_the_next_start_goes_on_from_it(start: Start) -> None:
    start.fail = "kyc_seed_demo"
    code, out, err = start.run()
    assert code == 1
    log = start.var_dir / "log" / "setup.log"
    assert err.splitlines() == [
        f"[run] demo loader kyc_seed_demo: CommandError: kyc_seed_demo could not reach its server (the loaders "
        f"before it are kept; the next `make run` or `make seed` goes on from it; details in {log})"]
    keys = [step.key for step in _all_steps()]
    assert start.book() == keys[:keys.index("kyc_seed_demo")]

    start.fail = None
    code, out, err = start.run()
    assert (code, err) == (0, "")
    assert start.book() == keys
    assert start.calls[0][0] == "kyc_seed_demo"


def test_make_seed_runs_every_demo_loader_of_make_run_and_stops(start: Start) -> None:
    recipe = Path(runner.BASE_DIR / "Makefile").read_text().split("\nseed: install\n", 1)[1].split("\n\n", 1)[0]
    assert recipe.strip() == "@$(PY) -m demo.runner --seed"
    code, out, err = start.run("--seed")
    assert (code, err) == (0, "")
    assert [command for command, _ in start.calls] == [step.command for step in _all_steps()]
    assert _logins_printed(out) == _expected_logins()
    assert "The CRM is running" not in out
    # Each loader of the list is a real command.
    assert {step.command for step in _all_steps()} <= set(get_commands())

    code, out, err = start.run("--seed")  # again: only the every-start ones, and the logins again
    assert (code, err) == (0, "")
    assert "[run] demo data: every loader has finished on this database already" in out
    assert {command for command, _ in start.calls} == {step.command for step in _all_steps() if step.every_start}
    assert _logins_printed(out) == _expected_logins()


def test_the_record_is_about_one_database_and_survives_a_line_cut_short(tmp_path: Path) -> None:
    path = tmp_path / "book.jsonl"
    book = runner.DemoBook(path, "a/1/crm")
    book.record("seed_demo", [runner.DemoLogin("admin", "admin@demo.example", "pw")])
    book.record("seed_sales_demo", [])
    with path.open("a") as fh:
        fh.write('{"database": "a/1/crm", "loader": "kyc_se')  # the machine went down while writing
    again = runner.DemoBook(path, "a/1/crm")
    assert again.done("seed_demo") and again.done("seed_sales_demo") and not again.done("kyc_seed_demo")
    assert again.logins() == [runner.DemoLogin("admin", "admin@demo.example", "pw")]
    again.record("kyc_seed_demo", [])
    assert runner.DemoBook(path, "a/1/crm").done("kyc_seed_demo"), "recorded after the line cut short"
    assert not runner.DemoBook(path, "a/2/crm").done("seed_demo"), "a re-created database starts with none"
    assert path.stat().st_mode & 0o077 == 0, "demo passwords: readable by this user only"


def test_static_files_are_collected_again_only_when_one_changed(tmp_path: Path, settings: Any) -> None:
    """A warm `make run` does not hash and compress every static file again (a minute or two on a slow
    machine) when none changed; a changed one is collected."""
    source, root = tmp_path / "static", tmp_path / "collected"
    source.mkdir()
    (source / "app.css").write_text("body { color: black }")
    settings.STATICFILES_DIRS = [source]
    settings.STATICFILES_FINDERS = ["django.contrib.staticfiles.finders.FileSystemFinder"]
    settings.STATIC_ROOT = root
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"}}

    def collect() -> str:
        out = io.StringIO()
        call_command("collectstatic_if_changed", "--noinput", stdout=out)
        return out.getvalue()

    assert "1 static file copied" in collect()
    assert collect().strip() == "Static files unchanged since the last collection."
    (source / "app.css").write_text("body { color: navy }")
    later = (root / "app.css").stat().st_mtime + 5  # edited after the last collection
    os.utime(source / "app.css", (later, later))
    assert "1 static file copied" in collect()
    assert "navy" in (root / "app.css").read_text()
    (root / "staticfiles.json").unlink()  # the manifest gone: collected again
    assert "unchanged" not in collect()
