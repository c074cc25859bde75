"""`make run`'s supervisor (demo.runner): the processes it starts and in what order, the simulators' ports,
the demo loaders it runs, and how it stops, restarts and gives up on its processes."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from demo import runner
from tests.waiting import scaled


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_make_run_starts_web_workers_beat_and_the_simulators_and_stops_web_first_and_the_simulators_last(tmp_path):
    specs = runner.default_processes(python="/venv/bin/python", mt5sim_port=9443, pspsim_port=9460, var_dir=tmp_path,
                                     webhooks_port=9470, praxissim_port=9480, paysafesim_port=9490,
                                     coinspaidsim_port=9500, twiliosim_port=9510)

    assert [spec.name for spec in specs] == ["web", "worker", "worker-deliveries", "worker-screening", "rqworker",
                                             "beat", "mt5sim", "pspsim", "praxissim", "paysafesim", "coinspaidsim",
                                             "twiliosim", "webhooks"]
    (web, worker, deliveries, screening, rqworker, beat, mt5sim, pspsim, praxissim, paysafesim, coinspaidsim,
     twiliosim, webhooks) = (spec.argv for spec in specs)
    assert twiliosim[1:3] == ("-m", "emails.twilio_simulator")
    assert twiliosim[twiliosim.index("--port") + 1] == "9510"
    assert twiliosim[twiliosim.index("--state-dir") + 1] == str(tmp_path / "twiliosim")
    assert coinspaidsim[1:3] == ("-m", "wallet.coinspaid_simulator")
    assert coinspaidsim[coinspaidsim.index("--port") + 1] == "9500"
    assert coinspaidsim[coinspaidsim.index("--state-dir") + 1] == str(tmp_path / "coinspaidsim")
    assert praxissim[1:3] == ("-m", "wallet.praxis_simulator")
    assert praxissim[praxissim.index("--port") + 1] == "9480"
    assert praxissim[praxissim.index("--state-dir") + 1] == str(tmp_path / "praxissim")
    assert paysafesim[1:3] == ("-m", "wallet.paysafe_simulator")
    assert paysafesim[paysafesim.index("--port") + 1] == "9490"
    assert paysafesim[paysafesim.index("--state-dir") + 1] == str(tmp_path / "paysafesim")
    assert web[1:] == ("-m", "gunicorn", "-c", "python:deploy.gunicorn_conf", "crm.wsgi:application")
    for argv in (worker, deliveries, screening):
        assert argv[1:6] == ("-m", "celery", "-A", "crm", "worker") and "--concurrency" in argv
    assert rqworker[2:] == ("rqworker", "default", "--worker-class", "crm.rq_worker.HeartbeatWorker")
    assert beat[1:6] == ("-m", "celery", "-A", "crm", "beat")
    assert mt5sim[1:3] == ("-m", "trading.simulator")
    assert mt5sim[mt5sim.index("--port") + 1] == "9443"
    assert mt5sim[mt5sim.index("--state-dir") + 1] == str(tmp_path / "mt5sim")
    assert pspsim[1:3] == ("-m", "wallet.psp_simulator")
    assert pspsim[pspsim.index("--port") + 1] == "9460"
    assert pspsim[pspsim.index("--state-dir") + 1] == str(tmp_path / "pspsim")
    assert webhooks[1:3] == ("-m", "integrations.webhook_receiver")
    assert webhooks[webhooks.index("--port") + 1] == "9470"
    assert webhooks[webhooks.index("--secrets-file") + 1] == str(tmp_path / "webhook-demo" / "secrets.json")
    assert all(argv[0] == "/venv/bin/python" for argv in (web, worker, deliveries, screening, rqworker, beat, mt5sim,
                                                          pspsim, webhooks))


def test_make_run_gives_outbound_deliveries_and_screening_a_worker_each_and_every_queue_a_worker(tmp_path):
    """A tenant's receiver that drips, or a whole watchlist re-screened, holds only a worker of its own
    queue: the worker crediting deposits, syncing platforms and running beat's heartbeat never reads
    those queues (issue 57, item 4), and every workload's queue is read by exactly one worker."""
    from crm import queues

    specs = {spec.name: spec.argv for spec in runner.default_processes(var_dir=tmp_path)}

    def read(name):
        argv = specs[name]
        return set(argv[argv.index("--queues") + 1].split(","))

    assert read("worker-deliveries") == {queues.queue_name("deliveries")}
    assert read("worker-screening") == {queues.queue_name("screening")}
    shared = read("worker")
    assert {queues.queue_name(w) for w in ("default", "sync", "commissions", "scoring")} <= shared
    assert not shared & {queues.queue_name("deliveries"), queues.queue_name("screening")}
    assert sorted([*shared, *read("worker-deliveries"), *read("worker-screening")]) == sorted(queues.worker_queues())
    # Each has a node name of its own (one heartbeat each), and five pool processes in all on a laptop.
    hostnames = [argv[argv.index("--hostname") + 1] for name, argv in specs.items() if name.startswith("worker")]
    assert len(set(hostnames)) == 3
    assert sum(int(argv[argv.index("--concurrency") + 1]) for name, argv in specs.items()
               if name.startswith("worker")) == 5


def test_make_run_starts_a_ctrader_and_a_match_trader_simulator_on_their_own_ports_only_when_asked(tmp_path):
    plain = [spec.name for spec in runner.default_processes(var_dir=tmp_path)]
    assert not any("ctrader" in name or "matchtrader" in name for name in plain)

    specs = runner.default_processes(python="/venv/bin/python", mt5sim_port=9443, pspsim_port=9460, var_dir=tmp_path,
                                     face_ports={"ctrader": 9444, "matchtrader": 9445})
    names = [spec.name for spec in specs]
    # Beside the MT5 simulator: stopped after the workers, like it.
    assert names == ["web", "worker", "worker-deliveries", "worker-screening", "rqworker", "beat", "mt5sim",
                     "ctradersim", "matchtradersim", "pspsim", "praxissim", "paysafesim", "coinspaidsim", "twiliosim",
                     "webhooks"]
    for name, face, port in (("ctradersim", "ctrader", "9444"), ("matchtradersim", "matchtrader", "9445")):
        argv = next(spec.argv for spec in specs if spec.name == name)
        assert argv[1:3] == ("-m", "trading.simulator") and argv[argv.index("--face") + 1] == face
        assert argv[argv.index("--port") + 1] == port
        assert argv[argv.index("--state-dir") + 1] == str(tmp_path / name)  # not the MT5 simulator's state
    # Each writes its own log.
    sup = runner.Supervisor(specs, out=io.StringIO(), log_dir=tmp_path / "log")
    assert {sup.log_path(n).name for n in names} == {f"{n}.log" for n in names}


def _loaders_naming_faces(*faces):
    def fake_manage(*args, env, log=None, on_line=None):
        assert args[0] == "demo_load" and "--running" not in args
        on_line("demo data: seed_demo (1 of 1)")
        on_line("FACES " + " ".join(faces))
        return []
    return fake_manage


def test_make_run_asks_the_demo_which_faces_it_uses_and_gives_each_a_free_port(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(runner, "manage", _loaders_naming_faces("matchtrader"))
    assert runner.run_demo_loaders(env={}, var_dir=tmp_path, running=False) == ["matchtrader"]
    assert "FACES" not in capsys.readouterr().out
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        ports = runner.face_ports_pick(["ctrader", "matchtrader"], environ={"CTRADERSIM_PORT": str(busy),
                                                                          "MATCHTRADERSIM_PORT": str(_closed_port())})
    assert ports["ctrader"] != busy and ports["matchtrader"] > 0


def test_make_run_starts_a_sirix_and_an_mt4_bridge_simulator_for_their_demo_brands(monkeypatch, tmp_path):
    monkeypatch.setattr(runner, "manage", _loaders_naming_faces("mt4bridge", "sirix", "ctrader"))
    faces = runner.run_demo_loaders(env={}, var_dir=tmp_path, running=False)
    assert faces == ["ctrader", "sirix", "mt4bridge"]  # in the table's order, whatever the demo printed
    ports = runner.face_ports_pick(faces, environ={"SIRIXSIM_PORT": str(_closed_port()),
                                                   "MT4SIM_PORT": str(_closed_port())})
    specs = runner.default_processes(python="/venv/bin/python", var_dir=tmp_path, face_ports=ports)
    for name, face in (("sirixsim", "sirix"), ("mt4bridgesim", "mt4bridge")):
        argv = next(spec.argv for spec in specs if spec.name == name)
        assert argv[argv.index("--face") + 1] == face and argv[argv.index("--port") + 1] == str(ports[face])
        assert argv[argv.index("--state-dir") + 1] == str(tmp_path / name)


def commands_of(steps: list[runner.DemoStep]) -> list[str]:
    return [step.command for step in steps]


def test_the_demo_loaders_that_need_the_simulators_point_each_brand_at_its_simulator(capsys, tmp_path):
    steps = runner.demo_steps(running=True, values={"mt5sim_port": "9443", "pspsim_port": "9460",
                                                    "webhooks_port": "9470", "praxissim_port": "9480",
                                                    "praxissim_state_dir": str(tmp_path / "praxissim"),
                                                    "paysafesim_port": "9490",
                                                    "paysafesim_state_dir": str(tmp_path / "paysafesim"),
                                                    "coinspaidsim_port": "9500",
                                                    "coinspaidsim_state_dir": str(tmp_path / "coinspaidsim"),
                                                    "twiliosim_port": "9510",
                                                    "twiliosim_state_dir": str(tmp_path / "twiliosim")},
                              faces={"ctrader": (9444, str(tmp_path / "ctradersim")),
                                     "matchtrader": (9445, str(tmp_path / "matchtradersim"))})
    setups = [step.args for step in steps if step.command == "trading_demo_setup"]
    assert setups[0][:2] == ("--port", "9443") and "--face" not in setups[0]
    assert setups[1][setups[1].index("--face") + 1] == "ctrader" and "9444" in setups[1]
    assert setups[1][setups[1].index("--state-dir") + 1] == str(tmp_path / "ctradersim")
    assert setups[2][setups[2].index("--face") + 1] == "matchtrader" and "9445" in setups[2]
    assert next(step.args for step in steps if step.command == "wallet_demo_setup")[:2] == ("--port", "9460")
    # Praxis takes the brands' card deposits over from the PSP simulator: its set-up comes after.
    praxis = next(step.args for step in steps if step.command == "wallet_praxis_demo_setup")
    assert praxis[:4] == ("--port", "9480", "--state-dir", str(tmp_path / "praxissim"))
    assert commands_of(steps).index("wallet_praxis_demo_setup") > commands_of(steps).index("wallet_demo_setup")
    paysafe = next(step.args for step in steps if step.command == "wallet_paysafe_demo_setup")
    assert paysafe[:4] == ("--port", "9490", "--state-dir", str(tmp_path / "paysafesim"))
    coinspaid = next(step.args for step in steps if step.command == "wallet_coinspaid_demo_setup")
    assert coinspaid[:4] == ("--port", "9500", "--state-dir", str(tmp_path / "coinspaidsim"))
    twilio = next(step.args for step in steps if step.command == "emails_twilio_demo_setup")
    assert twilio[:4] == ("--port", "9510", "--state-dir", str(tmp_path / "twiliosim"))
    assert next(step.args for step in steps if step.command == "webhooks_seed_demo")[:2] == ("--port", "9470")
    # What needs the trading demo's servers and accounts runs after them: the books of the
    # platforms' groups and the dashboards' figures among them.
    commands = [step.command for step in steps]
    after = commands[commands.index("trading_demo_setup") + 3:]
    assert after.index("ib_seed_demo_commissions") < after.index("reports_seed_demo")
    assert "prop_seed_demo" in after
    assert "trading_seed_demo_platforms" in [step.command for step in runner.demo_steps(running=False)]
    runner._say_simulators(mt5sim_port=9443, pspsim_port=9460, face_ports={"ctrader": 9444, "matchtrader": 9445})
    out = capsys.readouterr().out
    assert "MT5 simulator on https://127.0.0.1:9443/" in out
    assert "cTrader simulator on https://127.0.0.1:9444/" in out
    assert "Match-Trader simulator on https://127.0.0.1:9445/" in out
    runner._announce(runner.WebAddress("127.0.0.1", 8000, "http://127.0.0.1:8000", "http://127.0.0.1:8000"),
                     url="http://127.0.0.1:8000/", var_dir=tmp_path, logins=[],
                     names=["web", "mt5sim", "ctradersim", "matchtradersim"])
    assert f"{tmp_path / 'log'}/<web|mt5sim|ctradersim|matchtradersim>.log" in capsys.readouterr().out


def test_the_simulator_port_moves_when_the_usual_one_is_taken():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        picked = runner.pick_port("127.0.0.1", busy)
    assert picked != busy and picked > 0


# A child that records "ready" once its SIGTERM handler is in place, and its name when it is stopped.
_DUMMY = """
import signal, sys, time
name, log = sys.argv[1], sys.argv[2]
def stop(*_):
    with open(log, "a") as f:
        f.write(name + "\\n")
    sys.exit(0)
slow = float(sys.argv[4])
def stop_slowly(*_):
    time.sleep(slow)  # finishing its work, as a worker does
    stop()
signal.signal(signal.SIGTERM, (stop_slowly if slow else stop) if sys.argv[3] == "obey" else signal.SIG_IGN)
print(name + " says hello", flush=True)
with open(log + "." + name + ".ready", "w"):
    pass
while True:
    time.sleep(0.05)
"""


def _dummy(name: str, log: Path, mode: str = "obey", stop_timeout: float = 5.0, slow: float = 0.0) -> runner.ProcessSpec:
    return runner.ProcessSpec(
        name, (sys.executable, "-c", _DUMMY, name, str(log), mode, str(slow)), stop_timeout=stop_timeout
    )


def _wait_ready(log: Path, names: list[str]) -> None:
    started = time.monotonic()
    while not all(Path(f"{log}.{name}.ready").exists() for name in names):
        assert time.monotonic() - started < scaled(10), "dummy processes did not start"
        time.sleep(0.02)


def test_supervisor_stops_its_processes_one_by_one_in_list_order(tmp_path):
    log = tmp_path / "stopped.log"
    names = ["web", "worker", "rqworker", "beat"]
    sup = runner.Supervisor([_dummy(n, log) for n in names], out=io.StringIO())
    sup.start()
    try:
        _wait_ready(log, names)
        assert sup.exited() is None
    finally:
        codes = sup.stop()

    assert log.read_text().split() == names
    assert codes == dict.fromkeys(names, 0)


# A Celery master in miniature: forks a pool process, and records its own pid and its pool's.
_MASTER = """
import os, sys, time
pids = sys.argv[1]
child = os.fork()
if child == 0:
    while True:
        time.sleep(0.05)
with open(pids, "a") as f:
    f.write(f"{os.getpid()} {child}\\n")
while True:
    time.sleep(0.05)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is dead too
        return stat.read().split(") ", 1)[1][0] != "Z"


def test_a_killed_worker_master_is_restarted_alone_and_its_orphaned_pool_goes_with_it(tmp_path):
    """Issue 57: a killed Celery master stopped the whole `make run`, web included. As a production
    supervisor would, the runner restarts it (after a pause, saying so in one line) and leaves the
    others running; the pool the dead master left behind does not linger."""
    log, pids = tmp_path / "stopped.log", tmp_path / "worker.pids"
    out = io.StringIO()
    sup = runner.Supervisor([_dummy("web", log), runner.ProcessSpec("worker", (sys.executable, "-c", _MASTER, str(pids)))],
                            out=out, restarts=runner.RestartPolicy(limit=3, first_delay=0.05))
    sup.start()
    try:
        _wait_ready(log, ["web"])
        started = time.monotonic()
        while not pids.exists() or not pids.read_text().endswith("\n"):
            assert time.monotonic() - started < scaled(10), "the worker did not start"
            time.sleep(0.02)
        web_pid = sup.procs["web"].pid
        master, pool = map(int, pids.read_text().split())
        os.kill(master, signal.SIGKILL)
        while len(pids.read_text().splitlines()) < 2:
            assert sup.check() is None
            assert time.monotonic() - started < scaled(10), "the worker was not restarted"
            time.sleep(0.02)
        new_master, _ = map(int, pids.read_text().splitlines()[1].split())
        assert new_master == sup.procs["worker"].pid != master
        assert sup.procs["web"].pid == web_pid and sup.procs["web"].poll() is None, "web was left running"
        assert not _alive(pool), "the dead master's pool was killed with it"
    finally:
        codes = sup.stop()
    assert codes == {"web": 0, "worker": -15}
    restarts = [line for line in out.getvalue().splitlines() if "worker exited" in line]
    assert restarts == ["[run] worker exited by itself (exit code -9); restarting it in 0.05 s "
                        "(restart 1 of at most 3 in 10 min)"]


def test_a_process_that_keeps_dying_is_given_up_on_and_the_rest_are_stopped(tmp_path):
    log = tmp_path / "stopped.log"
    crasher = runner.ProcessSpec(
        "crasher", (sys.executable, "-c", "import time, sys; time.sleep(0.05); sys.exit(3)")
    )
    out = io.StringIO()
    sup = runner.Supervisor([_dummy("web", log), crasher, _dummy("beat", log)], out=out,
                            restarts=runner.RestartPolicy(limit=2, first_delay=0.01))
    sup.start()
    try:
        _wait_ready(log, ["web", "beat"])
        dead = sup.wait(lambda: False, poll=0.02)
    finally:
        codes = sup.stop()

    assert dead == ("crasher", 3)
    assert codes == {"web": 0, "crasher": 3, "beat": 0}
    assert log.read_text().split() == ["web", "beat"]
    lines = [line for line in out.getvalue().splitlines() if "crasher exited" in line]
    assert lines == ["[run] crasher exited by itself (exit code 3); restarting it in 0.01 s (restart 1 of at most 2 in 10 min)",
                     "[run] crasher exited by itself (exit code 3); restarting it in 0.02 s (restart 2 of at most 2 in 10 min)",
                     "[run] crasher exited (exit code 3) after 2 restarts in 10 min; giving up on it and stopping everything"]


def test_supervisor_returns_when_a_stop_is_requested(tmp_path):
    log = tmp_path / "stopped.log"
    sup = runner.Supervisor([_dummy("web", log)], out=io.StringIO())
    sup.start()
    try:
        _wait_ready(log, ["web"])
        started = time.monotonic()
        assert sup.wait(lambda: time.monotonic() - started > 0.3, poll=0.05) is None
    finally:
        sup.stop()


def test_supervisor_kills_a_process_that_ignores_sigterm(tmp_path):
    log = tmp_path / "stopped.log"
    out = io.StringIO()
    sup = runner.Supervisor([_dummy("stubborn", log, mode="ignore", stop_timeout=0.5)], out=out)
    sup.start()
    _wait_ready(log, ["stubborn"])

    codes = sup.stop()

    assert codes == {"stubborn": -9}
    assert "stubborn did not stop in time" in out.getvalue()


def test_copies_of_one_stop_signal_are_one_orderly_stop_and_a_later_one_hurries_it():
    now = [100.0]
    stops = runner.StopSignals(clock=lambda: now[0])
    assert not stops.requested
    stops.received()
    now[0] += 0.2
    stops.received()  # the same signal again: sent to the group, and passed on by make
    assert stops.requested and not stops.force
    now[0] += 2.0
    stops.received()  # a second Ctrl-C, later
    assert stops.force


# Drives a Supervisor with the handler `make run` installs, as `make run` does, and prints the codes.
_DRIVER = """
import json, signal, sys
from pathlib import Path
from demo import runner
log, logs, dummy = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
sup = runner.Supervisor([runner.ProcessSpec(name, (sys.executable, "-c", dummy, name, str(log), "obey", "0.6"))
                         for name in ("web", "beat")], log_dir=logs)
stops = runner.StopSignals()
for sig in (signal.SIGINT, signal.SIGTERM):
    signal.signal(sig, runner.stop_handler(stops, lambda: sup))
sup.start()
sup.wait(lambda: stops.requested, poll=0.05)
print(json.dumps(sup.stop()), flush=True)
"""


def test_a_signal_to_the_whole_process_group_stops_every_process_in_order_without_killing(tmp_path):
    log, logs = tmp_path / "stopped.log", tmp_path / "logs"
    driver = subprocess.Popen([sys.executable, "-c", _DRIVER, str(log), str(logs), _DUMMY], cwd=settings.BASE_DIR,
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    _wait_ready(log, ["web", "beat"])
    os.killpg(driver.pid, signal.SIGTERM)  # what `kill -TERM -<pgid>` does...
    time.sleep(0.1)
    os.killpg(driver.pid, signal.SIGTERM)  # ...and make's own copy, passed on a moment later
    out, _ = driver.communicate(timeout=scaled(30))
    assert json.loads(out.strip().splitlines()[-1]) == {"web": 0, "beat": 0}  # stopped, not killed (-9)
    assert log.read_text().split() == ["web", "beat"]
    # Each process wrote to its own log file, not to the console of `make run`.
    assert "web says hello" in (logs / "web.log").read_text() and "web says hello" not in out


def test_supervisor_refuses_two_processes_with_the_same_name():
    with pytest.raises(ValueError, match="unique"):
        runner.Supervisor([runner.ProcessSpec("web", ("true",)), runner.ProcessSpec("web", ("true",))])


def test_demo_logins_are_read_from_seed_output_and_shown_as_a_table():
    output = [
        "Seeded 2 brands, 2000 clients",
        "LOGIN admin admin@demo.example pass word 1",
        "LOGIN sales_agent agent@demo.example s3cret-Pass",
        "LOGIN broken-line",
        "LOGIN admin admin@demo.example pass word 1",
    ]

    logins, other = runner.parse_logins(output)

    assert logins == [
        runner.DemoLogin("admin", "admin@demo.example", "pass word 1"),
        runner.DemoLogin("sales_agent", "agent@demo.example", "s3cret-Pass"),
        runner.DemoLogin("admin", "admin@demo.example", "pass word 1"),
    ]
    assert other == ["Seeded 2 brands, 2000 clients", "LOGIN broken-line"]
    table = runner.format_logins(logins).splitlines()
    assert table[0].split() == ["role", "email", "password"]
    assert table[2].split() == ["admin", "admin@demo.example", "pass", "word", "1"]
    assert table[3].index("agent@") == table[2].index("admin@")  # columns line up
    assert len(table) == 4  # a user two demos name is listed once


def test_a_busy_port_is_detected_before_starting():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert runner.port_is_free("127.0.0.1", port) is False
    assert runner.port_is_free("127.0.0.1", _closed_port()) is True


def test_dead_holders_of_the_embedded_postgres_are_forgotten(tmp_path):
    handles = tmp_path / ".handle_pids.json"
    dead_pid = 2**22 + 12345  # above the default pid_max: no such process
    handles.write_text(json.dumps([os.getpid(), dead_pid]))

    runner._forget_dead_pg_handles(tmp_path)

    assert json.loads(handles.read_text()) == [os.getpid()]


@pytest.mark.django_db
def test_the_demo_loaders_and_only_they_commit_without_waiting_for_the_disk(monkeypatch):
    """Issue 58's first start: the loaders' sessions commit with synchronous_commit off (their
    environment's PGOPTIONS, which libpq reads under the project's connection settings); the web
    server's and the workers' environment is left as it is, durable."""
    import psycopg
    from django.db import connection

    env = {"PGOPTIONS": "-c work_mem=8MB", "PATH": os.environ.get("PATH", "")}
    loaders = runner.loader_env(env)
    assert loaders["PGOPTIONS"] == "-c work_mem=8MB -c synchronous_commit=off"
    assert env["PGOPTIONS"] == "-c work_mem=8MB"  # the caller's (the processes') environment unchanged
    assert runner.loader_env({})["PGOPTIONS"] == "-c synchronous_commit=off"

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    # The setting as the session got it: "off" from the client's start-up options (the test server
    # is scratch and commits without waiting anyway, so where it came from is what tells).
    asked = "SELECT setting, source FROM pg_settings WHERE name = 'synchronous_commit'"
    monkeypatch.setenv("PGOPTIONS", loaders["PGOPTIONS"])
    with psycopg.connect(**params) as session:
        assert session.execute(asked).fetchone() == ("off", "client")
    monkeypatch.setenv("PGOPTIONS", env["PGOPTIONS"])
    with psycopg.connect(**params) as session:
        assert session.execute(asked).fetchone()[1] != "client"


def test_the_demo_load_and_its_parts_skip_the_checks_migrate_has_just_run(monkeypatch, tmp_path):
    seen: list[tuple[str, ...]] = []

    def manage(*args: str, env: dict[str, str], log: Path | None = None, on_line=None) -> list[str]:
        seen.append(args)
        assert "synchronous_commit=off" in env["PGOPTIONS"]
        return []

    monkeypatch.setattr(runner, "manage", manage)
    runner.run_demo_loaders(env={}, var_dir=tmp_path, running=False)
    assert seen and seen[0][0] == "demo_load" and "--skip-checks" in seen[0]
