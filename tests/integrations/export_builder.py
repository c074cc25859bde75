"""A generated export of another CRM (docs/moving-in.md's format), written into a folder: `n` clients
with their notes, calls, tasks, balances (or transactions) and trading accounts, and, unless
`bad=False`, one row of each kind the import must refuse. What the builder knows of it (the bad
rows' places, the balances) comes back as an `Export`."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

SERVER = "MT5 Live"
AGENTS = ("anna.agent@old.example.com", "ben.agent@old.example.com")
MANAGER = "mia.manager@old.example.com"
DESK = "Sales London"


@dataclass
class Export:
    path: Path
    clients: list[str]
    # (file, line, column) of each row the import must refuse, with a word of the problem.
    bad: dict[tuple[str, int, str], str] = field(default_factory=dict)
    balances: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    good_clients: int = 0
    approved: int = 0
    notes: int = 0


def _write(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)


def _old(at: datetime) -> str:
    return at.strftime("%d/%m/%Y %H:%M")


def build_export(folder: Path, *, n: int = 200, bad: bool = True, start: int = 1,
                 changes: dict[str, dict[str, str]] | None = None, accounts: int = 20) -> Export:
    """Write the export of clients C<start>..C<start+n-1> into `folder`. `changes`: cells of a later
    export ({"C0001": {"Email": "new@..."}}) by the old system's column names."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    export = Export(path=folder, clients=[])
    _write(folder / "staff.csv", ["E-mail", "Full name", "Role", "Desk"], [
        [AGENTS[0], "Anna Agent", "Agent", DESK], [AGENTS[1], "Ben Agent", "Agent", DESK],
        [MANAGER, "Mia Manager", "Manager", DESK]])
    (folder / "mapping.json").write_text(json.dumps({
        "source": "oldcrm",
        "date_format": "%d/%m/%Y %H:%M",
        "timezone": "Europe/London",
        "columns": {
            "*": {"Client ID": "client_old_id", "E-mail": "email", "Currency": "currency"},
            "staff.csv": {"Full name": "name"},
            "clients.csv": {"Client ID": "old_id", "First": "first_name", "Last": "last_name", "Country": "country",
                            "Lang": "language", "Registered": "created_at", "Status": "status",
                            "Agent": "owner", "Source": "source", "Campaign": "campaign",
                            "Newsletter": "marketing_consent", "Phone": "phone"},
        },
        "values": {
            "role": {"Agent": "sales_agent", "Manager": "desk_manager"},
            "status": {"New": "lead", "Signed up": "registered"},
            "country": {"UK": "GB", "Germany": "DE", "France": "FR"},
        },
        "account_type": "standard",
    }, indent=2), encoding="utf-8")

    client_rows: list[list[object]] = []
    note_rows: list[list[object]] = []
    call_rows: list[list[object]] = []
    task_rows: list[list[object]] = []
    balance_rows: list[list[object]] = []
    tx_rows: list[list[object]] = []
    account_rows: list[list[object]] = []
    kyc_rows: list[list[object]] = []
    bad_ids = {"C0007": "country", "C0013": "email", "C0019": "created_at"} if bad else {}
    for i in range(start, start + n):
        old_id = f"C{i:04d}"
        export.clients.append(old_id)
        registered = now - timedelta(days=400 - i % 300, hours=i % 24)
        row = {"Client ID": old_id, "E-mail": f"client{i}@mail.example.com", "First": f"First{i}",
               "Last": f"Last{i}", "Phone": "", "Country": ("UK", "Germany", "France")[i % 3], "Lang": "en",
               "Registered": _old(registered), "Status": ("New", "Signed up")[i % 2],
               "Agent": AGENTS[i % 2], "Source": "google", "Campaign": f"spring-{i % 4}",
               "Newsletter": "yes" if i % 3 else "no"}
        if old_id == "C0007" and bad:
            row["Country"] = "Atlantis"
        if old_id == "C0013" and bad:
            row["E-mail"] = "client12@mail.example.com"
        if old_id == "C0019" and bad:
            row["Registered"] = "2024-13-45"
        row.update({k: v for k, v in (changes or {}).get(old_id, {}).items() if k in row})
        client_rows.append(list(row.values()))
        line = len(client_rows) + 1
        if old_id in bad_ids:
            export.bad[("clients.csv", line, bad_ids[old_id])] = old_id
            continue  # the old system's other rows of a refused client are left out, to count exactly
        export.good_clients += 1
        note_rows.append([f"N{i}", old_id, AGENTS[i % 2], _old(registered + timedelta(days=1)),
                          f"Called, interested in gold ({i})."])
        export.notes += 1
        if i % 6 == 0:
            kyc_rows.append([old_id, "approved", _old(registered + timedelta(days=2))])
            export.approved += 1
        if i % 4 == 0:
            call_rows.append([f"K{i}", old_id, AGENTS[i % 2], _old(registered + timedelta(days=2)), "connected", 95,
                              "outbound", "Wants a call back"])
        if i % 5 == 0:
            due = now + timedelta(days=1 + i % 20)
            task_rows.append([f"T{i}", old_id, AGENTS[i % 2], f"Follow up {old_id}", "",
                              _old(due), "yes" if i % 10 == 0 else "no"])
        amount = Decimal(1000 + i * 7) + Decimal(i % 100) / 100
        if (changes or {}).get(old_id, {}).get("balance"):
            amount = Decimal((changes or {})[old_id]["balance"])
        balance_rows.append([old_id, "USD", f"{amount}"])
        export.balances[(old_id, "USD")] = amount
        tx_rows.append([f"D{i}", old_id, "deposit", f"{amount + 100}", "USD", _old(registered + timedelta(days=3))])
        tx_rows.append([f"W{i}", old_id, "withdrawal", "100", "USD", _old(registered + timedelta(days=4))])
        if i % 10 == 0:
            balance_rows.append([old_id, "EUR", "250.50"])
            export.balances[(old_id, "EUR")] = Decimal("250.50")
            tx_rows.append([f"E{i}", old_id, "deposit", "250.50", "EUR", _old(registered + timedelta(days=5))])
        if len(account_rows) < accounts:
            account_rows.append([700000 + i, SERVER, old_id, "EUR", _old(registered + timedelta(days=3))])
    if bad:
        note_rows.append(["N9999", "C9999", AGENTS[0], _old(now - timedelta(days=3)), "Client gone missing."])
        export.bad[("notes.csv", len(note_rows) + 1, "client_old_id")] = "C9999"
        bad_balance = export.clients[22]  # C0023 when start=1
        index = next(k for k, r in enumerate(balance_rows) if r[0] == bad_balance)
        balance_rows[index][2] = "-50.00"
        export.balances.pop((bad_balance, "USD"))
        export.bad[("balances.csv", index + 2, "balance")] = bad_balance
    _write(folder / "clients.csv", ["Client ID", "E-mail", "First", "Last", "Phone", "Country", "Lang", "Registered",
                                    "Status", "Agent", "Source", "Campaign", "Newsletter"], client_rows)
    _write(folder / "kyc.csv", ["Client ID", "status", "decided_at"], kyc_rows)
    _write(folder / "notes.csv", ["old_id", "Client ID", "author", "at", "text"], note_rows)
    _write(folder / "calls.csv", ["old_id", "Client ID", "agent", "at", "outcome", "duration_seconds", "direction",
                                  "notes"], call_rows)
    _write(folder / "tasks.csv", ["old_id", "Client ID", "assignee", "title", "description", "due_at", "done"],
           task_rows)
    _write(folder / "balances.csv", ["Client ID", "Currency", "balance"], balance_rows)
    _write(folder / "transactions.csv", ["old_ref", "Client ID", "kind", "amount", "Currency", "at"], tx_rows)
    _write(folder / "accounts.csv", ["login", "server", "Client ID", "Currency", "opened_at"], account_rows)
    return export
