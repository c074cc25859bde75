"""Moving in from another CRM: one pass over an export folder (integrations.moving_in.folder) that
writes every app's data through that app's services, in the order the rows refer to each other:

    staff      crm.services.user_create (no password: a set-password link for each)
    clients    new ones 1,000 at a time through crm.services.clients_creation (each row checked as
               client_create checks it; registered_at = the old created_at, the old id as a tag
               "old:<source>:<id>"), their status by client_stage_override, their marketing consent
               through marketing.services.consent_record_many (source "import", dated); a chunk the
               service refuses is redone row by row through client_create; a later export's changes
               one by one
    kyc        kyc.services.kyc_submission_import: a verification the old system decided, dated then,
               with its documents (kyc_documents.csv)
    deals      trading.services.trading_deals_import, keeping the old tickets
    accounts   trading.accounts.trading_account_register (the account exists on the platform already)
    notes      crm.services.note_add_many (1,000 a chunk) as the old author, at the old time, marked
               "Imported from <source>, <time>"
    calls      leads.calls.call_log_many (1,000 a chunk) as the old agent, at the old time
    tasks      crm.services.task_create (task_complete for the done ones)
    money      wallet.ledger.ledger_post / ledger_post_many (1,000 a chunk): the cut-over balance per
               client and currency ("opening"), or
               every old deposit, withdrawal and adjustment ("history"), against the brand's equity
               account "moving-in:<source>"; then a reconciliation of old balances with wallets
    withdrawals wallet.services.withdrawal_request for each one pending at the cut-over (finance's queue)
    partners   ib.importer.ib_import of ib.json, when the folder has one

Every row that became something is remembered as an ImportedRef (source, kind, old id): a second run
of the same folder finds each row unchanged and writes nothing; a later export with the same ids
updates only the fields that changed and adds the new rows. Rows are written a chunk at a time where a
bulk service exists (clients, notes, calls, history transactions), else each in a transaction of its
own: a bad row is reported (file, line, column, problem) and nothing of it is kept, the good rows are
imported. A dry run does all of it in one transaction (each row a
savepoint) and rolls it back, so it finds every problem the real run would, the services' own checks
included, and leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from crm.exceptions import DomainError
from crm.lib.money import Money, currency_normalise
from crm.lib.phone import phone_normalise
from crm.lib.validation import (
    InvalidValue,
    country_normalise,
    email_normalise,
    language_normalise,
    text_clean,
)
from crm.models import Brand, Client, Desk, Stage, User, stages
from crm.password_reset import password_reset_link, password_reset_mail_send
from crm.services import (
    NewClient,
    NoteToAdd,
    client_assign,
    client_create,
    client_from_row,
    client_stage_change,
    client_stage_override,
    client_update,
    clients_creation,
    note_add,
    note_add_many,
    task_complete,
    task_create,
    user_create,
)
from ib.importer import ImportFailed, ib_import
from integrations.models import ImportedRef
from integrations.moving_in import deals, kyc_documents
from integrations.moving_in.folder import Folder, Problem, Row, time_parse
from kyc.services import kyc_approval_import
from leads.calls import CallToLog, call_log, call_log_many
from marketing.services import ConsentToRecord, consent_record, consent_record_many
from plumbing import context
from trading.selectors import server_list_for_system
from trading.services import trading_account_register
from wallet.selectors import method_get, wallet_balances_for_clients, withdrawal_methods_for
from wallet.services import (
    AccountKind,
    Leg,
    Posting,
    accounts_for,
    ledger_post,
    ledger_post_many,
    system_account_for,
    wallet_account_for,
    withdrawal_request,
)

MONEY_MODES = ("opening", "history")
# Client fields a later export may change (client_update); owner and status have their own services.
CLIENT_FIELDS = ("first_name", "last_name", "email", "phone", "country", "language", "source", "campaign")
POSTING_KIND = "migration"
TX_KINDS = ("deposit", "withdrawal", "adjustment")
_NEVER = datetime.max.replace(tzinfo=UTC)
# Rows read, looked up and written together (one transaction each in a run). The history's kinds
# (notes, calls, money) are written a chunk at a time through the owning apps' bulk services, and
# their ImportedRefs are looked up a chunk at a time instead of held for the whole run.
CHUNK = 1000
CHUNKED_KINDS = ("note", "call", "transaction")


class _DryRun(Exception):  # noqa: N818 (the signal that rolls a dry run back, not an error)
    pass


@dataclass(frozen=True)
class ReconRow:
    client_old_id: str
    client_code: str
    currency: str
    old_balance: Decimal
    wallet_balance: Decimal

    @property
    def difference(self) -> Decimal:
        return self.wallet_balance - self.old_balance


@dataclass
class ImportReport:
    """What a run did: counts per kind (created, updated, unchanged, failed), the bad rows, the staff's
    set-password links, and the reconciliation of money."""

    dry_run: bool
    source: str
    money: str
    counts: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    problems: list[Problem] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)
    reconciliation: list[ReconRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def differences(self) -> list[ReconRow]:
        return [row for row in self.reconciliation if row.difference != 0]

    def totals(self) -> dict[str, tuple[Decimal, Decimal]]:
        """Per currency: (the old system's total, the wallets' total)."""
        out: dict[str, tuple[Decimal, Decimal]] = {}
        for row in self.reconciliation:
            old, new = out.get(row.currency, (Decimal(0), Decimal(0)))
            out[row.currency] = (old + row.old_balance, new + row.wallet_balance)
        return dict(sorted(out.items()))

    def flat_counts(self) -> dict[str, int]:
        return {f"{kind}_{outcome}": n for kind, counter in sorted(self.counts.items())
                for outcome, n in sorted(counter.items()) if n}

    def summary(self) -> list[str]:
        lines = [("Dry run (nothing was written): " if self.dry_run else "Imported: ") + f"source {self.source}."]
        for kind, counter in self.counts.items():
            parts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counter.items()) if n)
            lines.append(f"  {kind}: {parts or 'none'}")
        lines.append(f"  bad rows: {len(self.problems)}")
        for currency, (old, new) in self.totals().items():
            lines.append(f"  {currency}: old system {old}, wallets {new}, difference {new - old}")
        if self.reconciliation:
            lines.append(f"  clients whose balance differs: {len(self.differences)}")
        lines.extend(f"  {note}" for note in self.notes)
        return lines


ProgressFn = Callable[[int, int], None]


class CrmImport:
    """One run over `folder` for `brand` (see the module's docstring). `actor`: the administrator
    running it (audit; stage overrides need one); None: the system."""

    def __init__(self, *, folder: Folder, brand: Brand, actor: User | None = None, money: str = "opening",
                 dry_run: bool = False, send_links: bool = True, progress: ProgressFn | None = None) -> None:
        if money not in MONEY_MODES:
            raise ValueError(f"money must be one of {MONEY_MODES}")
        self.folder = folder
        self.mapping = folder.mapping
        self.source = self.mapping.source
        self.brand = brand
        self.actor = actor
        self.dry_run = dry_run
        self.send_links = send_links
        self.progress = progress
        self.report = ImportReport(dry_run=dry_run, source=self.source, money=money)
        self.report.problems = folder.problems
        self.refs: dict[tuple[str, str], ImportedRef] = {}
        self.clients: dict[str, Client] = {}
        self.users: dict[str, User | None] = {}
        self.done = 0
        self.total = 0
        self.old_balances: dict[tuple[str, str], Decimal] = {}
        self._row_start = 0
        self._undo: list[Callable[[], object]] = []
        self.equities: dict[str, Any] = {}

    # --- the run ----------------------------------------------------------------------------------

    def run(self) -> ImportReport:
        small = ("staff.csv", "clients.csv", "kyc.csv", "accounts.csv", "tasks.csv", "balances.csv",
                 "withdrawals.csv")
        files = {name: list(self.folder.rows(name)) for name in small}
        # The history (notes, calls, transactions: most of an export's rows) is read a chunk at a time;
        # only the transactions of --money history are read whole, to post them in time order.
        self.total = sum(len(rows) for rows in files.values()) + sum(
            self.folder.count(name) for name in ("notes.csv", "calls.csv", "transactions.csv"))
        try:
            # A dry run is one transaction, rolled back; a run commits a chunk (or a row) at a time (its
            # progress shows, and a run that stops half-way is resumed by running it again).
            whole = transaction.atomic() if self.dry_run else contextlib.nullcontext()
            with context.acting_as(self.actor, source="task"), whole:
                self.refs = {(r.kind, r.old_id): r for r in ImportedRef.objects.filter(
                    brand=self.brand, source=self.source).exclude(kind__in=CHUNKED_KINDS)}
                self._staff(files["staff.csv"])
                self._clients(files["clients.csv"])
                kyc_documents.kyc_import(self, files["kyc.csv"])
                self._accounts(files["accounts.csv"])
                deals.deals_import(self)
                self._notes(self.folder.rows("notes.csv"))
                self._calls(self.folder.rows("calls.csv"))
                self._tasks(files["tasks.csv"])
                self._money(files["balances.csv"], self.folder.rows("transactions.csv"))
                for row in files["withdrawals.csv"]:
                    self._row("withdrawals", row, self._withdrawal_row)
                self._partners()
                self._reconcile()
                if self.dry_run:
                    raise _DryRun
        except _DryRun:
            pass
        self.report.problems.sort(key=lambda p: (_FILE_ORDER.get(p.file, 99), p.line, p.column))
        return self.report

    def _step(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)

    def _row(self, kind: str, row: Row, write: Callable[[Row], str]) -> None:
        """Run `write` for one row in a savepoint of its own: its outcome ("created", "updated",
        "unchanged") is counted; a problem or a refusal is the row's and leaves nothing of it behind
        (in the database nor in what this run remembers)."""
        self._row_start = len(self.report.problems)
        self._undo = []
        try:
            with transaction.atomic():
                outcome = write(row)
                if outcome == "failed" or self._row_failed():
                    raise _RowFailed
            self.report.counts[kind][outcome] += 1
        except (_RowFailed, DomainError) as error:
            if isinstance(error, DomainError):
                self._domain_problem(row, error)
            if not self._row_failed():
                row.problem("", "The row was refused.")
            for undo in reversed(self._undo):
                undo()
            self.report.counts[kind]["failed"] += 1
        finally:
            self._step()

    def _row_failed(self) -> bool:
        return len(self.report.problems) > self._row_start

    def _domain_problem(self, row: Row, error: DomainError) -> None:
        fields = getattr(error, "fields", None) or {}
        if not fields:
            row.problem("", str(error.message))
        for name, messages in fields.items():
            text = "; ".join(str(m) for m in (messages if isinstance(messages, list | tuple) else [messages]))
            row.problem(_COLUMN_OF.get(name, name if name != "__all__" else ""), text)

    def _chunks(self, kind: str, ref_kind: str, rows: Iterable[Row], plan: Callable[[Row], Any],
                write: Callable[[list[tuple[str, Any]]], list[_Made]], one: Callable[[Row], str]) -> None:
        """The rows of `kind` a chunk at a time: each row checked by `plan` (its problems reported, as
        `_row` reports them: a refused row is counted failed, the others go on), the chunk's
        ImportedRefs of `ref_kind` looked up in one query (a row imported before is unchanged), and
        the new rows written together by `write` (the owning app's bulk service) with their
        ImportedRefs, in one transaction (a savepoint in a dry run). Should the bulk write refuse
        (a service's check the plan does not make), the chunk's new rows go one by one through
        `one` instead, each in a savepoint of its own, so that the refusal is the row's alone."""
        for chunk in itertools.batched(rows, CHUNK):
            self._clients_load(chunk)
            planned: list[tuple[Row, str, Any]] = []
            for row in chunk:
                start = len(self.report.problems)
                outcome = plan(row)
                if isinstance(outcome, str) or len(self.report.problems) > start:
                    if len(self.report.problems) == start:
                        row.problem("", "The row was refused.")
                    self.report.counts[kind]["failed"] += 1
                    self._step()
                else:
                    planned.append((row, *outcome))
            known = set(ImportedRef.objects.filter(brand=self.brand, source=self.source, kind=ref_kind,
                                                   old_id__in=[old_id for _row, old_id, _item in planned])
                        .values_list("old_id", flat=True))
            new: list[tuple[Row, str, Any]] = []
            for row, old_id, item in planned:
                if old_id in known:  # imported before, or twice in this chunk
                    self.report.counts[kind]["unchanged"] += 1
                    self._step()
                else:
                    known.add(old_id)
                    new.append((row, old_id, item))
            if not new:
                continue
            try:
                with transaction.atomic():
                    made = write([(old_id, item) for _row, old_id, item in new])
                    ImportedRef.objects.bulk_create([
                        ImportedRef(brand=self.brand, source=self.source, kind=ref_kind, old_id=m.old_id,
                                    object_code=m.object_code, client_code=m.client_code, values=m.values)
                        for m in made])
            except DomainError:
                self.equities.clear()  # an account opened in the rolled-back chunk is gone with it
                for row, _old_id, _item in new:
                    self._row(kind, row, one)
                continue
            self.report.counts[kind]["created"] += len(new)
            for _ in new:
                self._step()

    def _clients_load(self, rows: Sequence[Row], column: str = "client_old_id") -> None:
        """The clients `rows` name that this run has not met yet, read in one query (their ImportedRefs
        are the run's)."""
        codes = {}
        for row in rows:
            old_id = row.cells.get(column, "").strip()
            if old_id and old_id not in self.clients:
                ref = self.refs.get(("client", old_id))
                if ref is not None:
                    codes[ref.object_code] = old_id
        if codes:
            for client in Client.objects.filter(code__in=list(codes), brand=self.brand):
                self.clients[codes[str(client.code)]] = client

    # --- references ---------------------------------------------------------------------------------

    def _ref(self, kind: str, old_id: str) -> ImportedRef | None:
        return self.refs.get((kind, old_id))

    def _remember(self, kind: str, old_id: str, *, object_code: str, client_code: Any = None,
                  values: dict[str, Any] | None = None) -> None:
        ref = self.refs.get((kind, old_id))
        if ref is None:
            ref = ImportedRef.objects.create(brand=self.brand, source=self.source, kind=kind, old_id=old_id,
                                             object_code=object_code, client_code=client_code, values=values or {})
            self.refs[(kind, old_id)] = ref
            self._undo.append(lambda: self.refs.pop((kind, old_id), None))
        else:
            before = (ref.object_code, ref.values)
            ref.object_code, ref.values = object_code, values or {}
            ref.save(update_fields=["object_code", "values", "updated_at"])

            def restore(ref: ImportedRef = ref, before: tuple[str, dict[str, Any]] = before) -> None:
                ref.object_code, ref.values = before
            self._undo.append(restore)

    def _user(self, row: Row, column: str, *, required: bool = False) -> User | None:
        email = row.text(column, required=required).lower()
        if not email:
            return None
        if email not in self.users:
            self.users[email] = User.objects.filter(email__iexact=email, is_active=True).first()
        user = self.users[email]
        if user is None:
            row.problem(column, f"No member of staff has the email {email}: add them to staff.csv.")
        return user

    def _client(self, row: Row, column: str = "client_old_id") -> Client | None:
        old_id = row.text(column, required=True)
        if not old_id:
            return None
        client = self.clients.get(old_id)
        if client is None:
            ref = self._ref("client", old_id)
            if ref is not None:
                client = Client.objects.filter(code=ref.object_code, brand=self.brand).first()
                if client is not None:
                    self._client_known(old_id, client)
        if client is None:
            row.problem(column, f"No client with the old id {old_id}: it is not in clients.csv "
                                "(or its row there was refused).")
        return client

    # --- staff --------------------------------------------------------------------------------------

    def _staff(self, rows: list[Row]) -> None:
        for row in rows:
            self._row("staff", row, self._staff_row)

    def _staff_row(self, row: Row) -> str:
        email = row.text("email", required=True).lower()
        name = row.text("name", required=True)
        role = row.mapped("role", required=True)
        desk_name = row.text("desk")
        if not email or not name or not role:
            return "failed"
        if self._ref("staff", email) is not None:
            return "unchanged"
        existing = User.objects.filter(email__iexact=email).first()
        if existing is not None:
            # Already here (an administrator created them first): kept as they are, not changed.
            self._remember("staff", email, object_code=str(existing.code))
            self.users[email] = existing
            return "unchanged"
        desk = None
        if desk_name:
            desk = Desk.objects.filter(brand=self.brand, name__iexact=desk_name).first()
            if desk is None:
                row.problem("desk", f"The brand has no desk named “{desk_name}”: create it first.")
                return "failed"
        user = user_create(actor=None, email=email, full_name=name, role_code=role, desk=desk, brands=[self.brand])
        self.users[email] = user
        self._undo.append(lambda: self.users.pop(email, None))
        self._remember("staff", email, object_code=str(user.code))
        if not self.dry_run:
            self.report.links.append((email, password_reset_link(user)))
            if self.send_links:
                transaction.on_commit(lambda: password_reset_mail_send(email=email), robust=True)
        return "created"

    # --- clients ------------------------------------------------------------------------------------

    def _clients(self, rows: list[Row]) -> None:
        fresh: list[Row] = []
        emails: dict[str, tuple[int, str]] = {}
        for ref in self.refs.values():
            if ref.kind == "client" and ref.values.get("email"):
                emails.setdefault(ref.values["email"].lower(), (0, ref.old_id))
        for row in rows:
            old_id, email = row.text("old_id"), row.text("email").lower()
            if email and old_id:
                seen = emails.get(email)
                if seen is not None and seen[1] != old_id:
                    where = f"on line {seen[0]}" if seen[0] else "imported before"
                    row.problem("email", f"The email {email} is also the client {seen[1]}'s ({where}); "
                                         "one person is one client: merge them in the old system or correct one.")
                    self.report.counts["clients"]["failed"] += 1
                    self._step()
                    continue
                emails[email] = (row.line, old_id)
            fresh.append(row)
        for chunk in itertools.batched(fresh, CHUNK):
            self._clients_chunk(chunk)

    def _clients_chunk(self, chunk: Sequence[Row]) -> None:
        """New clients a chunk at a time: each row checked and normalised by `_client_plan` (its problems
        reported), the rest created through crm's clients_creation (one creation per starting stage,
        each client dated by its created_at), their stage overrides, consents (marketing's
        consent_record_many) and ImportedRefs, in one transaction. Should a bulk service refuse the
        chunk, its rows go one by one through `_client_row`, so that the refusal is the row's alone.
        A row imported before (a later export's update) and an old id twice in a chunk go one by one."""
        planned: list[tuple[Row, _NewClientPlan]] = []
        later: list[Row] = []
        for row in chunk:
            old_id = row.text("old_id")
            if not old_id or self._ref("client", old_id) is not None:
                self._row("clients", row, self._client_row)
                continue
            if any(plan.old_id == old_id for _row, plan in planned):
                later.append(row)
                continue
            start = self._row_start = len(self.report.problems)
            plan = self._client_plan(row)
            if plan is None or len(self.report.problems) > start:
                if len(self.report.problems) == start:
                    row.problem("", "The row was refused.")
                self.report.counts["clients"]["failed"] += 1
                self._step()
            else:
                planned.append((row, plan))
        if planned:
            try:
                with transaction.atomic():
                    made = self._clients_write([plan for _row, plan in planned])
            except DomainError:
                for row, _plan in planned:
                    self._row("clients", row, self._client_row)
            else:
                for (_row, plan), (client, ref) in zip(planned, made, strict=True):
                    self.clients[plan.old_id] = client
                    self.refs[("client", plan.old_id)] = ref
                    self.report.counts["clients"]["created"] += 1
                    self._step()
        for row in later:
            self._row("clients", row, self._client_row)

    def _client_plan(self, row: Row) -> _NewClientPlan | None:
        """A new client's row checked as client_create checks it (problems reported on the row); None if bad."""
        old_id = row.text("old_id", required=True)
        values = self._client_values(row)
        created_at = row.at("created_at")
        owner = self._user(row, "owner")
        if not old_id or values is None or self._row_failed():
            return None
        if created_at is not None and created_at > timezone.now():
            row.problem("created_at", "The date is in the future.")
            return None
        stage = values["status"]
        start = stage if stages.stage_create_refusal(stage) is None else Stage.REGISTERED
        if stage != start and self.actor is None:
            self._stage_move(row, None, stage)
            return None
        clean: dict[str, Any] = {}
        for name in ("first_name", "last_name", "source", "campaign"):
            clean[name] = self._cleaned(row, name, functools.partial(
                text_clean, field=name, max_length=_client_limit(name), required=name == "first_name"), values[name])
        for name, normalise in (("email", email_normalise), ("country", country_normalise),
                                ("language", language_normalise)):
            clean[name] = self._cleaned(row, name, normalise, values[name])
        # As client_create: the country is the hint for a national number (none if the country is bad).
        clean["phone"] = self._cleaned(row, "phone", functools.partial(phone_normalise, region=clean["country"] or None),
                                       values["phone"])
        if self._row_failed():
            return None
        desk = owner.desk if owner is not None else None
        if desk is not None and (desk.brand_id != self.brand.pk or not desk.is_active):
            desk = None
        # The tag as client_create stores tags: spaces collapsed, lower case.
        item = NewClient(owner=owner, desk=desk, tags=[" ".join(f"old:{self.source}:{old_id}"[:50].split()).lower()],
                         registered_at=created_at, **clean)
        return _NewClientPlan(old_id, values, item, start, stage, row.at("marketing_consent_at") or created_at)

    @staticmethod
    def _cleaned(row: Row, name: str, normalise: Callable[[str], Any], value: str) -> Any:
        try:
            return normalise(value)
        except InvalidValue as error:
            row.problem(_COLUMN_OF.get(error.field, error.field or name), str(error.message))
            return None

    def _clients_write(self, plans: list[_NewClientPlan]) -> list[tuple[Client, ImportedRef]]:
        """A chunk of new clients created together; their clients and ImportedRefs, in order."""
        clients: dict[str, Client] = {}
        for start in dict.fromkeys(plan.start for plan in plans):
            group = [plan for plan in plans if plan.start == start]
            with clients_creation(actor=None, brand=self.brand, stage=start) as creation:
                rows = creation.add([plan.item for plan in group])
            for plan, row in zip(group, rows, strict=True):
                clients[plan.old_id] = client_from_row(row, brand=self.brand, owner=plan.item.owner,
                                                       desk=plan.item.desk)
        reason = f"Status in {self.source} at the migration."
        for plan in plans:
            if plan.stage != plan.start and self.actor is not None:  # without one, the plan refused the row
                clients[plan.old_id] = client_stage_override(actor=self.actor, client=clients[plan.old_id],
                                                             stage=plan.stage, reason=reason)
        consent_record_many(decisions=[
            ConsentToRecord(client=clients[plan.old_id], channel="email", given=True, source="import",
                            at=plan.consent_at) for plan in plans if plan.values["marketing_consent"]])
        refs = ImportedRef.objects.bulk_create([
            ImportedRef(brand=self.brand, source=self.source, kind="client", old_id=plan.old_id,
                        object_code=str(clients[plan.old_id].code), client_code=clients[plan.old_id].code,
                        values=plan.values) for plan in plans])
        return [(clients[plan.old_id], ref) for plan, ref in zip(plans, refs, strict=True)]

    def _client_values(self, row: Row) -> dict[str, Any] | None:
        values: dict[str, Any] = {name: row.text(name) for name in CLIENT_FIELDS}
        values["email"] = values["email"].lower()
        values["country"] = row.mapped("country").upper()
        values["language"] = row.mapped("language").lower()
        values["owner"] = row.text("owner").lower()
        values["status"] = row.mapped("status") or Stage.LEAD
        values["marketing_consent"] = row.flag("marketing_consent")
        if not values["first_name"]:
            values["first_name"] = values["last_name"] or values["email"].split("@")[0]
        if values["status"] not in Stage.values:
            row.problem("status", f"Unknown status “{values['status']}”: map it to one of "
                                  f"{', '.join(Stage.values)} in mapping.json (values.status).")
            return None
        return values

    def _client_row(self, row: Row) -> str:
        old_id = row.text("old_id", required=True)
        values = self._client_values(row)
        created_at = row.at("created_at")
        owner = self._user(row, "owner")
        if not old_id or values is None or self._row_failed():
            return "failed"
        if created_at is not None and created_at > timezone.now():
            row.problem("created_at", "The date is in the future.")
            return "failed"
        ref = self._ref("client", old_id)
        if ref is not None:
            return self._client_update(row, ref, values, owner)
        stage = values["status"]
        start = stage if stages.stage_create_refusal(stage) is None else Stage.REGISTERED
        tags = [f"old:{self.source}:{old_id}"[:50]]
        client = client_create(
            actor=None, brand=self.brand, first_name=values["first_name"], last_name=values["last_name"],
            email=values["email"], phone=values["phone"], country=values["country"], language=values["language"],
            owner=owner, stage=start, source=values["source"], campaign=values["campaign"], tags=tags,
            registered_at=created_at)
        if stage != start:
            self._stage_move(row, client, stage)
        if values["marketing_consent"]:
            self._consent(row, client, given=True, at=created_at)
        self._client_known(old_id, client)
        self._remember("client", old_id, object_code=str(client.code), client_code=client.code, values=values)
        return "created"

    def _consent(self, row: Row, client: Client, *, given: bool, at: datetime | None) -> None:
        """The old system's marketing consent as a decision on the email channel (source "import"),
        dated when it was given there (marketing_consent_at; else the client's registration)."""
        when = row.at("marketing_consent_at") or at or timezone.now()
        consent_record(client=client, channel="email", given=given, source="import", at=when, actor=None)

    def _client_known(self, old_id: str, client: Client) -> None:
        self.clients[old_id] = client
        self._undo.append(lambda: self.clients.pop(old_id, None))

    def _stage_move(self, row: Row, client: Client | None, stage: str) -> None:
        reason = f"Status in {self.source} at the migration."
        if self.actor is None or client is None:
            now = client.stage if client is not None else Stage.REGISTERED
            row.problem("status", f"Imported as {now}: only an administrator makes a client {stage} "
                                  "(run the import as one).")
            return
        client_stage_override(actor=self.actor, client=client, stage=stage, reason=reason)

    def _client_update(self, row: Row, ref: ImportedRef, values: dict[str, Any], owner: User | None) -> str:
        old = ref.values
        changed = [name for name, value in values.items() if old.get(name) != value]
        if not changed:
            return "unchanged"
        client = Client.objects.filter(code=ref.object_code, brand=self.brand).first()
        if client is None:
            row.problem("old_id", "The client imported from this row before was deleted since.")
            return "failed"
        reason = f"Changed in {self.source} (a later export)."
        fields = {name: values[name] for name in CLIENT_FIELDS if name in changed}
        if fields:
            client = client_update(actor=None, client=client, reason=reason, **fields)
        if "owner" in changed:
            client = client_assign(actor=None, client=client, owner=owner, reason=reason)
        if "marketing_consent" in changed:
            self._consent(row, client, given=values["marketing_consent"], at=None)
        if "status" in changed and values["status"] != client.stage:
            try:
                client = client_stage_change(actor=None, client=client, stage=values["status"], reason=reason)
            except DomainError:
                self._stage_move(row, client, values["status"])
        self._client_known(ref.old_id, client)
        self._remember("client", ref.old_id, object_code=str(client.code), client_code=client.code, values=values)
        return "updated"

    # --- KYC ----------------------------------------------------------------------------------------

    def _kyc_row(self, row: Row) -> str:
        client = self._client(row)
        status = row.mapped("status", required=True).lower()
        decided_at = row.at("decided_at", required=True)
        if status and status != "approved":
            row.problem("status", f"Only approvals come in (“{status}”): a client the old system did not approve "
                                  "is verified again here.")
        if client is None or decided_at is None or self._row_failed():
            return "failed"
        old_id = row.text("client_old_id")
        if self._ref("kyc", old_id) is not None:
            return "unchanged"
        kyc_approval_import(client=client, approved_at=decided_at, actor=None, reason=f"Approved in {self.source}")
        self._remember("kyc", old_id, object_code=str(client.code), client_code=client.code,
                       values={"status": status, "decided_at": decided_at.isoformat()})
        return "created"

    # --- trading accounts ---------------------------------------------------------------------------

    def _accounts(self, rows: list[Row]) -> None:
        servers = {s.name.lower(): s for s in server_list_for_system(brand_id=self.brand.pk)} if rows else {}
        for row in rows:
            self._row("accounts", row, lambda row: self._account_row(row, servers))

    def _account_row(self, row: Row, servers: dict[str, Any]) -> str:
        login = row.integer("login", required=True)
        server_name = row.mapped("server", required=True)
        client = self._client(row)
        currency = row.text("currency").upper()
        account_type = row.mapped("account_type") or self.mapping.account_type
        opened_at = row.at("opened_at")
        server = servers.get(server_name.lower())
        if server_name and server is None:
            row.problem("server", f"The brand has no trading server named “{server_name}”: add it, or map the "
                                  "name in mapping.json (values.server).")
        if login is None or server is None or client is None:
            return "failed"
        old_id = f"{server.name}:{login}"
        if self._ref("account", old_id) is not None:
            return "unchanged"
        if not account_type:
            types = list((server.account_types or {}).keys())
            account_type = types[0] if len(types) == 1 else ""
        account = trading_account_register(actor=None, client=client, server=server, login=login,
                                           account_type=account_type, currency=currency, opened_at=opened_at)
        self._remember("account", old_id, object_code=str(account.code), client_code=client.code)
        return "created"

    # --- notes, calls, tasks -------------------------------------------------------------------------

    @staticmethod
    def _derived_id(row: Row, *columns: str) -> str:
        """An id for a row the old system exported without one: the hash of what it says."""
        text = "\x1f".join(row.text(c) for c in columns)
        return "h:" + hashlib.sha256(text.encode()).hexdigest()[:24]

    def _notes(self, rows: Iterable[Row]) -> None:
        self._chunks("notes", "note", rows, self._note_plan, self._notes_write, self._note_row)

    def _note_plan(self, row: Row) -> tuple[str, NoteToAdd] | str:
        client = self._client(row)
        author = self._user(row, "author")
        at = row.at("at", required=True)
        text = row.text("text", required=True)
        if client is None or at is None or not text or (row.text("author") and author is None):
            return "failed"
        old_id = row.text("old_id") or self._derived_id(row, "client_old_id", "author", "at", "text")
        stamp = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        by = f" by {author.email}" if author is not None else ""
        body = f"[Imported from {self.source}: written {stamp}{by}]\n{text}"
        return old_id, NoteToAdd(client=client, author=author, body=body, at=at)

    def _notes_write(self, items: list[tuple[str, Any]]) -> list[_Made]:
        codes = note_add_many(notes=[note for _old_id, note in items], reason=f"Imported from {self.source}")
        return [_Made(old_id, str(code), note.client.code) for (old_id, note), code in zip(items, codes, strict=True)]

    def _note_row(self, row: Row) -> str:
        planned = self._note_plan(row)
        if isinstance(planned, str):
            return planned
        old_id, item = planned
        note = note_add(actor=item.author, client=item.client, body=item.body, at=item.at)
        self._remember("note", old_id, object_code=str(note.code), client_code=item.client.code)
        return "created"

    def _calls(self, rows: Iterable[Row]) -> None:
        self._chunks("calls", "call", rows, self._call_plan, self._calls_write, self._call_row)

    def _call_plan(self, row: Row) -> tuple[str, CallToLog] | str:
        client = self._client(row)
        agent = self._user(row, "agent", required=True)
        at = row.at("at", required=True)
        outcome = row.mapped("outcome").lower() or "connected"
        direction = row.mapped("direction").lower() or "outbound"
        duration = row.integer("duration_seconds") or 0
        if client is None or agent is None or at is None:
            return "failed"
        old_id = row.text("old_id") or self._derived_id(row, "client_old_id", "agent", "at")
        marked = f"[Imported from {self.source}] {row.text('notes')}".strip()
        return old_id, CallToLog(actor=agent, client=client, outcome=outcome, duration_seconds=duration,
                                 notes=marked, direction=direction, ended_at=at)

    def _calls_write(self, items: list[tuple[str, Any]]) -> list[_Made]:
        codes = call_log_many(calls=[call for _old_id, call in items], reason=f"Imported from {self.source}")
        return [_Made(old_id, str(code), call.client.code) for (old_id, call), code in zip(items, codes, strict=True)]

    def _call_row(self, row: Row) -> str:
        planned = self._call_plan(row)
        if isinstance(planned, str):
            return planned
        old_id, c = planned
        call = call_log(actor=c.actor, client=c.client, outcome=c.outcome, duration_seconds=c.duration_seconds,
                        notes=c.notes, direction=c.direction, ended_at=c.ended_at)
        self._remember("call", old_id, object_code=str(call.code), client_code=c.client.code)
        return "created"

    def _tasks(self, rows: list[Row]) -> None:
        for row in rows:
            self._row("tasks", row, self._task_row)

    def _task_row(self, row: Row) -> str:
        client = self._client(row)
        assignee = self._user(row, "assignee", required=True)
        title = row.text("title", required=True)
        due_at = row.at("due_at")
        done = row.flag("done")
        if client is None or assignee is None or not title or (row.text("due_at") and due_at is None):
            return "failed"
        old_id = row.text("old_id") or self._derived_id(row, "client_old_id", "assignee", "title", "due_at")
        ref = self._ref("task", old_id)
        if ref is not None:
            if done and not ref.values.get("done"):
                task = task_complete(actor=None, task=client.tasks.get(code=ref.object_code))
                self._remember("task", old_id, object_code=str(task.code), client_code=client.code,
                               values={"done": True})
                return "updated"
            return "unchanged"
        task = task_create(actor=None, title=title, assignee=assignee, client=client,
                           description=row.text("description"), due_at=due_at)
        if done:
            task_complete(actor=None, task=task)
        self._remember("task", old_id, object_code=str(task.code), client_code=client.code, values={"done": done})
        return "created"

    # --- money --------------------------------------------------------------------------------------

    def _equity(self, currency: str) -> Any:
        account = self.equities.get(currency)
        if account is None:
            account = self.equities[currency] = system_account_for(
                kind="equity", currency=currency, brand=self.brand, owner_ref=f"moving-in:{self.source}"[:64])
            # Opened in a row's savepoint: forgotten with the row if it is rolled back.
            self._undo.append(lambda: self.equities.pop(currency, None))
        return account

    def _post(self, *, key: str, client: Client, money: Money, at: datetime | None, memo: str, ref_code: str) -> None:
        wallet = wallet_account_for(client=client, currency=money.currency)
        ledger_post(key=key, kind=POSTING_KIND, legs=[Leg(wallet, money), Leg(self._equity(money.currency), -money)],
                    occurred_at=at, memo=memo[:200], ref_kind="moving_in", ref_code=ref_code[:64])

    def _currency(self, row: Row) -> str:
        value = row.text("currency", required=True)
        if not value:
            return ""
        try:
            return currency_normalise(value)
        except InvalidValue:
            row.problem("currency", f"“{value}” is not a currency code (write USD, EUR ...).")
            return ""

    def _money(self, balances: list[Row], history: Iterable[Row]) -> None:
        for row in balances:
            self._row("balances", row, self._balance_row)
        if self.report.money == "opening":
            skipped = 0
            for _row in history:
                skipped += 1
                self._step()
            if skipped:
                self.report.notes.append("transactions.csv was not posted: the money came in as opening balances "
                                         "(--money history posts it instead).")
            return
        def when(row: Row) -> tuple[datetime, int]:
            # In time order, so that no old withdrawal comes before the deposit that paid for it.
            return (time_parse(row.text("at"), self.mapping) or _NEVER, row.line)
        self._chunks("transactions", "transaction", sorted(history, key=when), self._transaction_plan,
                     self._transactions_write, self._transaction_row)

    def _balance_row(self, row: Row) -> str:
        client = self._client(row)
        currency = self._currency(row)
        amount = row.amount("balance", negative=False)
        if client is None or not currency or amount is None:
            return "failed"
        old_id = row.text("client_old_id")
        self.old_balances[(old_id, currency)] = amount
        if self.report.money != "opening":
            return "read"  # the history is posted; the balance is what it is reconciled with
        key_id = f"{old_id}:{currency}"
        ref = self._ref("balance", key_id)
        posted = Decimal(ref.values.get("balance", "0")) if ref is not None else Decimal(0)
        revision = int(ref.values.get("revision", 0)) if ref is not None else 0
        difference = amount - posted
        if difference == 0:
            if ref is None:
                self._remember("balance", key_id, object_code="", client_code=client.code,
                               values={"balance": str(amount), "revision": 0})
                return "created"
            return "unchanged"
        revision += 1
        key = f"moving-in:{self.brand.pk}:{self.source}:balance:{old_id}:{currency}:{revision}"
        memo = (f"Opening balance from {self.source}" if ref is None
                else f"Balance corrected by a later export of {self.source}")
        self._post(key=key, client=client, money=Money(difference, currency), at=None, memo=memo,
                   ref_code=f"{self.source}:{old_id}")
        self._remember("balance", key_id, object_code=key, client_code=client.code,
                       values={"balance": str(amount), "revision": revision})
        return "created" if ref is None else "updated"

    def _transaction_plan(self, row: Row) -> tuple[str, tuple[Client, Money, datetime, str, Decimal]] | str:
        old_ref = row.text("old_ref", required=True)
        client = self._client(row)
        kind = row.mapped("kind", required=True).lower()
        amount = row.amount("amount")
        currency = self._currency(row)
        at = row.at("at", required=True)
        if kind and kind not in TX_KINDS:
            row.problem("kind", f"Unknown kind “{kind}”: deposit, withdrawal or adjustment (or map it in "
                                "mapping.json, values.kind).")
            return "failed"
        if kind in ("deposit", "withdrawal") and amount is not None and amount < 0:
            row.problem("amount", f"A {kind} has a positive amount; the kind says which way it went.")
            return "failed"
        if not old_ref or client is None or amount is None or not currency or at is None or not kind:
            return "failed"
        signed = -amount if kind == "withdrawal" else amount
        return old_ref, (client, Money(signed, currency), at, kind, amount)

    def _transaction_key(self, old_ref: str) -> str:
        return f"moving-in:{self.brand.pk}:{self.source}:tx:{old_ref}"

    def _transactions_write(self, items: list[tuple[str, Any]]) -> list[_Made]:
        """A chunk of the history posted through wallet's ledger_post_many, in the chunk's (time) order."""
        pairs = sorted({(client.pk, money.currency): client for _ref, (client, money, *_rest) in items}.items())
        wallets = dict(zip((key for key, _client in pairs), accounts_for(*(
            {"kind": AccountKind.CLIENT_WALLET, "currency": currency, "client": client}
            for (_pk, currency), client in pairs)), strict=True))
        postings = [Posting(key=self._transaction_key(old_ref), kind=POSTING_KIND, occurred_at=at,
                            legs=[Leg(wallets[(client.pk, money.currency)], money),
                                  Leg(self._equity(money.currency), -money)],
                            memo=f"{kind.capitalize()} {old_ref} in {self.source}"[:200], ref_kind="moving_in",
                            ref_code=old_ref[:64])
                    for old_ref, (client, money, at, kind, _amount) in items]
        ledger_post_many(postings)
        return [_Made(old_ref, self._transaction_key(old_ref), client.code,
                      {"kind": kind, "amount": str(amount), "currency": money.currency})
                for old_ref, (client, money, _at, kind, amount) in items]

    def _transaction_row(self, row: Row) -> str:
        planned = self._transaction_plan(row)
        if isinstance(planned, str):
            return planned
        old_ref, (client, money, at, kind, amount) = planned
        key = self._transaction_key(old_ref)
        self._post(key=key, client=client, money=money, at=at, memo=f"{kind.capitalize()} {old_ref} in {self.source}",
                   ref_code=old_ref)
        self._remember("transaction", old_ref, object_code=key, client_code=client.code,
                       values={"kind": kind, "amount": str(amount), "currency": money.currency})
        return "created"

    def _withdrawal_row(self, row: Row) -> str:
        """A withdrawal still pending in the old system at the cut-over: requested again here through
        wallet.services.withdrawal_request (its checks, its hold on the wallet), so that it waits in
        finance's queue; the old reference is remembered with it."""
        old_ref = row.text("old_ref", required=True)
        client = self._client(row)
        amount = row.amount("amount", negative=False)
        currency = self._currency(row)
        kind = row.mapped("method", required=True).lower()
        destination = row.text("destination", required=True)
        requested_at = row.at("requested_at")
        if not old_ref or client is None or amount is None or not currency or not kind or not destination:
            return "failed"
        if self._ref("withdrawal", old_ref) is not None:
            return "unchanged"
        option = next((o for o in withdrawal_methods_for(client=client, currency=currency) if o.method == kind), None)
        method = method_get(option.method_code) if option is not None else None
        if method is None:
            row.problem("method", f"The brand has no {kind} withdrawal method for {currency} in the client's "
                                  "country: add one, or map the name in mapping.json (values.method).")
            return "failed"
        withdrawal = withdrawal_request(client=client, amount=Money(amount, currency), method=method,
                                        destination={kind: destination}, actor=self.actor)
        self._remember("withdrawal", old_ref, object_code=str(withdrawal.code), client_code=client.code,
                       values={"amount": str(amount), "currency": currency, "method": kind,
                               "requested_at": requested_at.isoformat() if requested_at else ""})
        return "created"

    # --- partners, reconciliation -------------------------------------------------------------------

    def _partners(self) -> None:
        data = self.folder.ib_data()
        if data is None:
            return
        named = data.get("brand")
        code = named.get("code") if isinstance(named, dict) else named
        if code != self.brand.code:
            self.report.problems.append(Problem("ib.json", 0, "brand", f"ib.json is for the brand “{code}”, the "
                                                f"import for “{self.brand.code}” (nothing of ib.json was imported)."))
            return
        try:
            with transaction.atomic():
                counts = ib_import(data)
        except ImportFailed as error:
            self.report.problems.append(Problem("ib.json", 0, error.where, f"{error.message} "
                                                "(nothing of ib.json was imported)"))
            return
        for name, n in counts.items():
            self.report.counts["partners"][name] += n

    def _reconcile(self) -> None:
        """Per imported client and currency: the old system's balance (balances.csv; without it, the
        sum of its transactions) against the wallet's, every pair listed, differences or not."""
        old = dict(self.old_balances)
        if not old:
            old_ids = {r.client_code: r.old_id for r in self.refs.values() if r.kind == "client"}
            posted = ImportedRef.objects.filter(brand=self.brand, source=self.source, kind="transaction",
                                                client_code__isnull=False).values_list("client_code", "values")
            for client_code, values in posted.iterator(chunk_size=10_000):
                amount = Decimal(values["amount"])
                signed = -amount if values["kind"] == "withdrawal" else amount
                key = (old_ids.get(client_code, ""), values["currency"])
                old[key] = old.get(key, Decimal(0)) + signed
        currencies_of: dict[str, set[str]] = defaultdict(set)
        for old_id, currency in old:
            currencies_of[old_id].add(currency)
        for chunk in itertools.batched(sorted(currencies_of), CHUNK):
            clients = {old_id: self.clients[old_id] for old_id in chunk if old_id in self.clients}
            codes = {ref.object_code: ref.old_id for old_id in chunk if old_id not in clients
                     and (ref := self._ref("client", old_id)) is not None}
            for found in Client.objects.filter(code__in=list(codes)) if codes else ():
                clients[codes[str(found.code)]] = found
            balances = wallet_balances_for_clients(client.pk for client in clients.values())
            for old_id in chunk:
                client = clients.get(old_id)
                if client is None:
                    continue
                wallets = {w.balance.currency: w.balance.amount for w in balances.get(client.pk, [])}
                for currency in sorted(currencies_of[old_id] | set(wallets)):
                    self.report.reconciliation.append(ReconRow(
                        client_old_id=old_id, client_code=str(client.code), currency=currency,
                        old_balance=old.get((old_id, currency), Decimal(0)),
                        wallet_balance=wallets.get(currency, Decimal(0))))


@functools.cache
def _client_limit(name: str) -> int:
    """The length of a client's text column, as client_create holds a value to it."""
    column = Client._meta.get_field(name)
    assert isinstance(column, models.CharField) and column.max_length is not None
    return column.max_length


@dataclass(frozen=True)
class _NewClientPlan:
    """A new client's row as `_client_plan` checked it: what crm creates, the stage it then moves to."""

    old_id: str
    values: dict[str, Any]
    item: NewClient
    start: str
    stage: str
    consent_at: datetime | None


@dataclass(frozen=True)
class _Made:
    """What a chunk's bulk write made of one row: its ImportedRef's values."""

    old_id: str
    object_code: str
    client_code: Any
    values: dict[str, Any] = field(default_factory=dict)


class _RowFailed(Exception):  # noqa: N818 (rolls back a row whose checks found problems)
    pass


_FILE_ORDER = {name: index for index, name in enumerate(
    ("mapping.json", "staff.csv", "clients.csv", "kyc.csv", "kyc_documents.csv", "accounts.csv", "deals.csv",
     "notes.csv", "calls.csv", "tasks.csv", "balances.csv", "transactions.csv", "withdrawals.csv", "ib.json"))}
# The services' field names that are another column of the files.
_COLUMN_OF = {"full_name": "name", "role_code": "role", "registered_at": "created_at", "body": "text",
              "assignee": "assignee", "due_at": "due_at", "owner": "owner", "login": "login"}


def crm_import(*, folder: Folder, brand: Brand, actor: User | None = None, money: str = "opening",
               dry_run: bool = False, send_links: bool = True, progress: ProgressFn | None = None) -> ImportReport:
    """Import `folder` into `brand` (see the module's docstring); the report of what was done."""
    return CrmImport(folder=folder, brand=brand, actor=actor, money=money, dry_run=dry_run, send_links=send_links,
                     progress=progress).run()
