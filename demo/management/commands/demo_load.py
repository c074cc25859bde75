"""`manage.py demo_load --book FILE [--running --value KEY=VALUE ... --face FACE=PORT=STATE_DIR ...]`:
the demo loaders of one phase (demo.runner.DEMO_LOADERS), in this one process, each one that has not
finished on this database and every every-start one, each recorded in FILE as it finishes.

`make run` and `make seed` run it (demo.runner): first the loaders that need only the database, then,
with the simulators running, the others (`--running`, given the simulators' and the receiver's ports
as `--value mt5sim_port=8443` and each other platform's face as `--face ctrader=8444=<state dir>`).
Prints `demo data: <loader> (n of N)` before each, then what it printed (its `LOGIN` lines too); a
failure prints `FAILED <loader>: <error>` and exits 1, the loaders before it staying recorded. The
first phase ends with `FACES <face> ...`: the other platforms' simulators the demo needs.
"""

from __future__ import annotations

import io
import traceback
from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from demo.runner import FACES_PREFIX, FAILED_PREFIX, DemoBook, LoaderFailed, demo_steps, load_demo


def database_identity() -> str:
    """The database the record is about: its server's system identifier (where the role may read it),
    its oid and its name. A new or re-created database has another."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT oid, datname, has_function_privilege('pg_control_system()', 'EXECUTE') "
                       "FROM pg_database WHERE datname = current_database()")
        oid, name, may_read = cursor.fetchone()
        system = "?"
        if may_read:
            cursor.execute("SELECT system_identifier FROM pg_control_system()")
            system = str(cursor.fetchone()[0])
    return f"{system}/{oid}/{name}"


def faces_in_use() -> list[str]:
    """The other platforms whose demo brand the database has (their simulators start with make run)."""
    return call_loader("trading_demo_setup", ("--faces-in-use",)).split()


def durable() -> None:
    """Wait until everything committed so far, by this session and any other, is on disk. The
    loaders commit without waiting for the disk (demo.runner.loader_env); one durable commit of a
    transaction with an id flushes the write-ahead log up to its own record, and so every commit
    before it (the loader's shards' too)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO on")
        cursor.execute("SELECT pg_current_xact_id()")


def call_loader(command: str, args: tuple[str, ...]) -> str:
    """Run one loader's command in this process; return what it printed once what it wrote is on
    disk (it is recorded as finished next)."""
    out = io.StringIO()
    call_command(command, *args, stdout=out)
    durable()
    return out.getvalue()


class Command(BaseCommand):
    help = "Run the demo loaders that have not finished on this database (make run, make seed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--book", required=True, help="the record of finished loaders (var/demo_loaded.json)")
        parser.add_argument("--running", action="store_true",
                            help="the loaders that need the running simulators (after the others)")
        parser.add_argument("--value", action="append", default=[], metavar="KEY=VALUE",
                            help="a value the loaders' arguments name (mt5sim_port, pspsim_port, webhooks_port)")
        parser.add_argument("--face", action="append", default=[], metavar="FACE=PORT=STATE_DIR",
                            help="another platform's simulator face the demo uses")

    def handle(self, *args: Any, book: str, running: bool, value: list[str], face: list[str],
               **options: Any) -> None:
        try:
            values = dict(item.split("=", 1) for item in value)
            faces = {name: (int(port), state_dir) for name, port, state_dir in (item.split("=", 2) for item in face)}
        except ValueError:
            raise CommandError("--value takes KEY=VALUE and --face FACE=PORT=STATE_DIR") from None
        steps = demo_steps(running=running, values=values, faces=faces)
        record = DemoBook(Path(book), database_identity())

        def say(line: str) -> None:
            self.stdout.write(line)
            self.stdout.flush()

        def note(line: str) -> None:  # the set-up log (make run sends this command's stderr there)
            self.stderr.write(line)
            self.stderr.flush()

        try:
            load_demo(steps, book=record, call=call_loader, say=say, note=note)
        except LoaderFailed as failed:
            self.stderr.write("".join(traceback.format_exception(failed.error)))
            say(f"{FAILED_PREFIX}{failed}")
            raise SystemExit(1) from None
        if not running:
            say(f"{FACES_PREFIX}{' '.join(faces_in_use())}")
