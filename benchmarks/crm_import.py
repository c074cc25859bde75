"""Moving in from another CRM (integrations.moving_in, `manage.py crm_import`): rows imported per
second, beside COPY of the same rows.

Setup (not measured): a fresh benchmark database with one brand, its desk, an administrator and a
trading server; a generated export (tests/integrations/export_builder.py, the tests' builder) of
--clients clients (2,000; --quick 500; --tiny 30) with a note each, a call for one in four, a task for
one in five, a USD deposit and withdrawal each (and a EUR deposit for one in ten) with the balances
they leave, 100 trading accounts, one bad row of each kind the import refuses, and --history more
history rows per client (0 by default; 10 for the issue's shape): notes, calls and deposits with
their withdrawals, in turn. The money comes in as history (`--money history`): every old deposit and
withdrawal a ledger transaction.

Measured, one after the other on the same database, each the whole `crm_import` as the command runs
it:
- crm_import.dry_run: rows/s of a dry run (everything validated, nothing written);
- crm_import.run: rows/s of the run; limit: rows/s of COPY of the same rows (each client, note,
  call, task, ledger transaction with its two legs, and each row's ImportedRef, with the columns
  the import fills) into plain tables of the same shape (CREATE TABLE AS ... WITH NO DATA: the real
  tables' columns without their constraints, indexes, triggers or history), in the same run;
- crm_import.rerun: rows/s of the same folder again (every row found unchanged, nothing written);
- crm_import.differences: how many clients' balances differ between the wallets and the old
  system's balances.csv after the run (the reconciliation, to the cent). Goal: 0; any difference
  fails the script.

Goals (issue 64): 1,000,000 clients with 10,000,000 history rows in 30 minutes on 2 cores, about
6,100 rows/s; a re-run at least 5 times as fast as the run.

Run: python benchmarks/crm_import.py [--quick | --tiny] [--keep] [--clients N] [--history H] [--profile FILE]
"""

from __future__ import annotations

import csv
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (  # noqa: E402
    argument_parser,
    finish,
    log,
    prepare,
    record,
    sized,
    timed,
)

GOAL_ROWS_PER_S = 10_000_000 / (30 * 60)  # the 10,000,000 history rows (and 1,000,000 clients) in 30 min
GOAL_RERUN_SPEEDUP = 5.0
LOOKED_UP = {"client_id", "author_id", "agent_id", "assignee_id", "account_id"}
TYPES = {"standard": {"label": "Standard", "group": "real\\standard", "leverages": [100], "currency": "EUR"}}


def _setup() -> tuple[Any, Any]:
    from crm.services import brand_create, user_create
    from crm.staff_services import desk_create
    from tests.integrations.export_builder import DESK, SERVER
    from trading.services import platform_server_save

    brand = brand_create(actor=None, code="acme", name="Acme Markets")
    admin = user_create(actor=None, email="admin@acme.example.com", full_name="Ada Admin", role_code="admin",
                        all_brands=True)
    desk_create(actor=admin, brand=brand, name=DESK)
    platform_server_save(actor=None, manager_password="x-secret-1", brand=brand, name=SERVER, kind="mt5_web",
                         is_active=True, host="127.0.0.1", port=1, manager_login=1000, account_types=TYPES)
    return brand, admin


def _read(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as stream:
        return list(csv.reader(stream))[1:]


def _more_history(folder: Path, per_client: int) -> int:
    """Append `per_client` history rows for each client with a note (the good ones) to notes.csv,
    calls.csv and transactions.csv, in turn: a note, a call, a deposit of 10 USD and its withdrawal
    an hour later (the balances stay as balances.csv says). Returns how many rows were added."""
    from tests.integrations.export_builder import AGENTS

    notes = _read(folder / "notes.csv")
    added = 0
    with (folder / "notes.csv").open("a", encoding="utf-8", newline="") as n_file, \
            (folder / "calls.csv").open("a", encoding="utf-8", newline="") as c_file, \
            (folder / "transactions.csv").open("a", encoding="utf-8", newline="") as t_file:
        n_out, c_out, t_out = csv.writer(n_file), csv.writer(c_file), csv.writer(t_file)
        for _note_id, old_id, _author, at, _text in notes:
            if old_id == "C9999":  # the bad note's client, which is in no file
                continue
            day, hour = at.split(" ")
            for k in range(per_client):
                agent = AGENTS[k % 2]
                when = f"{day} {(int(hour[:2]) + k // 4) % 24:02d}:{(k * 7) % 60:02d}"
                kind = k % 4
                if kind == 0:
                    n_out.writerow([f"N{old_id}-{k}", old_id, agent, when, f"Follow-up {k} with {old_id}."])
                elif kind == 1:
                    c_out.writerow([f"K{old_id}-{k}", old_id, agent, when, "connected", 60 + k, "outbound",
                                    "Asked about spreads"])
                elif kind == 2:
                    t_out.writerow([f"X{old_id}-{k}", old_id, "deposit", "10.00", "USD", when])
                else:  # the withdrawal of the deposit just before, a minute later in the same hour
                    t_out.writerow([f"Y{old_id}-{k}", old_id, "withdrawal", "10.00", "USD",
                                    f"{when[:-2]}{(k * 7) % 60 + 1:02d}" if (k * 7) % 60 < 59 else when])
                added += 1
    return added


# --- the limit: COPY of the same rows -------------------------------------------------------------

def _copy_rows(folder: Path, brand_id: int) -> Iterator[tuple[str, list[str], list[tuple[Any, ...]]]]:
    """(model label, attnames, rows) of what the import writes for the export: its objects and their
    ImportedRefs, with the values the import gives them."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    now = datetime.now(UTC)
    london = ZoneInfo("Europe/London")  # the builder's mapping.json

    def at(text: str) -> datetime | None:
        try:
            return datetime.strptime(text, "%d/%m/%Y %H:%M").replace(tzinfo=london)
        except ValueError:  # empty, or the bad date of one bad row
            return None

    def ref(kind: str, old_id: str, client: Any = None) -> tuple[Any, ...]:
        return (brand_id, "oldcrm", kind, old_id, str(uuid.uuid4()), client, "{}", now, now)

    ref_columns = ["brand_id", "source", "kind", "old_id", "object_code", "client_code", "values", "created_at",
                   "updated_at"]
    clients: dict[str, uuid.UUID] = {}
    client_rows, refs = [], []
    for old_id, email, first, last, phone, country, lang, registered, _status, _agent, source, campaign, _nl in \
            _read(folder / "clients.csv"):
        code = clients[old_id] = uuid.uuid4()
        client_rows.append((code, brand_id, first, last, email, phone, country[:2].upper(), lang, "registered",
                            source, campaign, at(registered), now))
        refs.append(ref("client", old_id, code))
    yield ("crm.client", ["code", "brand_id", "first_name", "last_name", "email", "phone", "country", "language",
                          "stage", "source", "campaign", "created_at", "updated_at"], client_rows)
    note_rows = []
    for old_id, client, author, when, text in _read(folder / "notes.csv"):
        note_rows.append((uuid.uuid4(), clients.get(client), author, f"[Imported from oldcrm: {when}]\n{text}", at(when)))
        refs.append(ref("note", old_id, clients.get(client)))
    yield ("crm.note", ["code", "client_id", "author_id", "body", "created_at"], note_rows)
    call_rows = []
    for old_id, client, agent, when, outcome, duration, direction, notes in _read(folder / "calls.csv"):
        call_rows.append((uuid.uuid4(), brand_id, clients.get(client), agent, direction, outcome, at(when), at(when),
                          int(duration), notes))
        refs.append(ref("call", old_id, clients.get(client)))
    yield ("leads.call", ["code", "brand_id", "client_id", "agent_id", "direction", "outcome", "started_at",
                          "ended_at", "duration_seconds", "notes"], call_rows)
    task_rows = []
    for old_id, client, assignee, title, description, due, done in _read(folder / "tasks.csv"):
        task_rows.append((uuid.uuid4(), clients.get(client), assignee, title, description, at(due), at(due) if done == "yes" else None))
        refs.append(ref("task", old_id, clients.get(client)))
    yield ("crm.task", ["code", "client_id", "assignee_id", "title", "description", "due_at", "done_at"], task_rows)
    tx_rows: list[tuple[Any, ...]] = []
    legs: list[tuple[Any, ...]] = []
    for n, (old_ref, client, kind, amount, currency, when) in enumerate(_read(folder / "transactions.csv")):
        key = f"moving-in:{brand_id}:oldcrm:tx:{old_ref}"
        tx_rows.append((n, uuid.uuid4(), key, "migration", f"{kind} {old_ref} in oldcrm", at(when), now, "moving_in",
                        old_ref))
        signed = Decimal(amount) if kind != "withdrawal" else -Decimal(amount)
        legs.append((n, clients.get(client), currency, signed, now))
        legs.append((n, brand_id, currency, -signed, now))
        refs.append(ref("transaction", old_ref, clients.get(client)))
    yield ("wallet.ledgertransaction", ["id", "code", "idempotency_key", "kind", "memo", "occurred_at",
                                        "recorded_at", "ref_kind", "ref_code"], tx_rows)
    yield ("wallet.ledgerleg", ["transaction_id", "account_id", "currency", "amount", "recorded_at"], legs)
    yield ("integrations.importedref", ref_columns, refs)


def copy_limit(folder: Path, brand_id: int) -> tuple[int, float]:
    """(rows, seconds) of COPY of the rows the import writes into plain tables of the same shape."""
    from django.apps import apps
    from django.db import connection
    from psycopg import sql

    tables = list(_copy_rows(folder, brand_id))  # read and built before the clock starts: the import reads too
    rows = 0
    began = time.perf_counter()
    connection.ensure_connection()
    raw = connection.connection
    with raw.cursor() as cursor:
        for label, attnames, values in tables:
            model = apps.get_model(label)
            plain = sql.Identifier(f"bench_copy_{model._meta.db_table}")
            column_of = {f.attname: f.column for f in model._meta.concrete_fields}
            columns = [column_of[a] for a in attnames]
            cursor.execute(sql.SQL("CREATE TABLE {} AS SELECT * FROM {} WITH NO DATA").format(
                plain, sql.Identifier(model._meta.db_table)))
            # The references the import looks up (a note's author by email, a call's client by old
            # id) are copied as the export has them: the limit does no look-ups.
            for name in columns:
                if name in LOOKED_UP:
                    cursor.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE text").format(
                        plain, sql.Identifier(name)))
            statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
                plain, sql.SQL(", ").join(sql.Identifier(c) for c in columns))
            with cursor.copy(statement) as copy:
                for row in values:
                    copy.write_row(row)
            rows += len(values)
        raw.commit()
    seconds = time.perf_counter() - began
    return rows, seconds


def _profiled(path: str | None) -> Any:
    if not path:
        import contextlib

        return contextlib.nullcontext()
    import contextlib
    import cProfile

    @contextlib.contextmanager
    def profile() -> Iterator[None]:
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            yield
        finally:
            profiler.disable()
            profiler.dump_stats(path)
            log(f"profile of the run written to {path}")
    return profile()


def main(argv: list[str]) -> int:
    parser = argument_parser(__doc__)
    parser.add_argument("--clients", type=int, default=None, help="clients in the export (2,000; --quick 500)")
    parser.add_argument("--history", type=int, default=0, help="more history rows per client (10: the issue's shape)")
    parser.add_argument("--profile", default=None, help="write a cProfile of the run (not the dry run) to this file")
    args = parser.parse_args(argv)
    env = prepare(args)
    clients = args.clients or sized(args, 2000, 500, 30)

    from integrations.moving_in.folder import Folder
    from integrations.moving_in.importer import crm_import
    from tests.integrations.export_builder import build_export

    with timed("setup"):
        brand, admin = _setup()
        folder = Path(tempfile.mkdtemp(prefix="bench-crm-import-"))
        export = build_export(folder / "export", n=clients, accounts=min(100, clients))
        added = _more_history(export.path, args.history) if args.history else 0
    log(f"export: {clients} clients, {added} more history rows")
    size = f"{clients} clients, +{args.history} history rows each"
    rates: dict[str, float] = {}
    failed = 0
    differences = 0
    money_difference = Decimal(0)
    for label, dry_run in (("dry_run", True), ("run", False), ("rerun", False)):
        began = time.perf_counter()
        with _profiled(args.profile if label == "run" else None):
            report = crm_import(folder=Folder(export.path), brand=brand, actor=admin, dry_run=dry_run,
                                money="history", send_links=False)
        seconds = time.perf_counter() - began
        rows = sum(sum(counter.values()) for counter in report.counts.values())
        rates[label] = rows / seconds
        log(f"{label}: {rows} rows in {seconds:.1f} s, {len(report.problems)} bad rows; {report.flat_counts()}")
        if len(report.problems) != len(export.bad):
            failed += 1
            log(f"{label}: expected {len(export.bad)} bad rows, found {len(report.problems)}: "
                f"{[(p.file, p.line, p.column, p.problem) for p in report.problems[:10]]}")
        if label == "run":
            differences = len(report.differences)
            money_difference = sum((abs(row.difference) for row in report.reconciliation), Decimal(0))
            if not report.reconciliation:
                failed += 1
                log("run: the reconciliation listed no balance")
    copied, copy_seconds = copy_limit(export.path, brand.pk)
    limit = copied / copy_seconds
    log(f"COPY: {copied} rows in {copy_seconds:.2f} s")
    record("crm_import.dry_run", value=rates["dry_run"], unit="rows/s", limit=limit, goal="informational", size=size)
    record("crm_import.run", value=rates["run"], unit="rows/s", limit=limit, goal=f">= {GOAL_ROWS_PER_S:,.0f}",
           size=size)
    record("crm_import.rerun", value=rates["rerun"], unit="rows/s", limit=rates["run"],
           goal=f"ratio >= {GOAL_RERUN_SPEEDUP:g} (times the run)", size=size)
    record("crm_import.differences", value=differences, unit="clients", limit=None, goal="== 0", size=size)
    if money_difference:
        log(f"the wallets and the old balances differ by {money_difference} in all")
    finish(env)
    return 1 if failed or differences or money_difference else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
