"""Reconciliation of payment providers' settlement files against the ledger, the breaks queue's
resolutions, and the platform reconciliation (trading accounts' balance deals against their
ledger mirrors).

An import (`settlement_import_start`) is an RQ job (crm.jobs) that (steps 1-3 in the worker's own
temporary tables, committed step by step so that the progress bar moves; step 4 in one transaction):
1. parses the file by the provider's saved mapping (or the adapter's own) and COPYs its lines into
   a temporary table, numbered from the lines table's own sequence;
2. reads the provider's ledger movements (every transaction with a leg on one of its clearing
   accounts, not matched before, recorded since the file's first day less the look-back) into a
   second temporary table, each with its provider and merchant references (from the deposit,
   refund or withdrawal behind it, else from the posting's metadata), its amount as the provider
   sees it (money in positive) and the fee the ledger posted;
3. matches, set-based, each pass on what the earlier left: duplicates (the same reference and kind
   twice in the file, or in an earlier file of the provider) are set aside; then by provider
   reference; then by merchant reference; then batched payouts, one line to many payouts (the payouts
   whose provider reported the line's batch id, or without one, the unmatched payouts of the line's
   day and the days before within the tolerance, when their total is the line's amount); then by
   amount and date within the tolerances (mutual best candidates only);
4. writes the lines, the matches and the breaks (currency, amount and fee differences of matched
   pairs; duplicates; lines missing in the ledger; the provider's movements of the file's days
   that no file settled, missing at the provider) with INSERT ... SELECT; a paid-out withdrawal
   whose batch the provider never named takes the batch of the line that settled it.
A file that cannot be read stores no line and no break; the import says why, naming the row. One
matcher runs at a time per provider (an import holds the provider's lock from its ledger read to
its write), so a movement is never claimed twice.

A line missing in the ledger whose payment arrived later (a late webhook) is matched again by
`settlement_rematch` (finance, per break or per import) or `settlement_rematch_open` (nightly, on
beat): the same passes over the stored lines, the break resolved as matched, and the pair's
differences opened as breaks.

Brands: every import and break says whose money it is about (`brand_scope`, `providers_for_user`);
finance limited to brands works only with theirs, a provider shared by brands is house-wide.

Tolerances (settings.WALLET_RECONCILIATION, each optional): "amount_tolerance" (default 0.01 in the
line's currency), "date_tolerance_days" (3), "lookback_days" (45).

A resolution (`break_resolve`) is audited and posts its adjustment through wallet.ledger under a key
made of the break and the resolution, so a second submit posts nothing more.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from psycopg import sql

from crm.audit import audit_record
from crm.exceptions import Conflict, NotAllowed, NotFound, ValidationFailed
from crm.jobs import JobCancelled, JobHandle, job_start
from crm.lib.money import Money
from crm.permissions import user_can
from plumbing.sqlfiles import sql_statements, sql_text
from wallet.exceptions import ProviderBusy, SettlementParseError
from wallet.ledger import Leg, clearing_account_for, ledger_post, mirror_account_for, system_account_for
from wallet.models import (
    BREAK_STATES,
    IMPORT_STATES,
    LINE_STATES,
    AccountKind,
    BreakKind,
    BreakStatus,
    ImportStatus,
    LedgerAccount,
    LedgerTransaction,
    LineState,
    PaymentMethod,
    PaymentProvider,
    ReconciliationBreak,
    Resolution,
    SettlementImport,
    SettlementMapping,
)
from wallet.providers.settlement import SIMULATOR_MAPPING, ColumnMapping, settlement_rows

logger = logging.getLogger(__name__)

RECONCILE_PERMISSION = "wallet.reconcile"
IMPORT_JOB_KIND = "wallet.settlement_import"
IMPORT_JOB_COUNTS = {"lines": _("Lines read"), "matched": _("Lines matched"), "breaks": _("Breaks")}
SUSPENSE_REF = "reconciliation"
POSTING_KIND = "reconciliation_adjustment"
PROGRESS_EVERY = 50_000  # lines per COPY, and per progress report

DEFAULTS: dict[str, Any] = {"amount_tolerance": "0.01", "date_tolerance_days": 3, "lookback_days": 45}


@dataclass(frozen=True)
class Tolerances:
    amount: Decimal
    days: int
    lookback_days: int


def tolerances() -> Tolerances:
    values = {**DEFAULTS, **getattr(settings, "WALLET_RECONCILIATION", {})}
    return Tolerances(amount=Decimal(str(values["amount_tolerance"])), days=int(values["date_tolerance_days"]),
                      lookback_days=int(values["lookback_days"]))


def _require(actor: Any) -> None:
    if not user_can(actor, RECONCILE_PERMISSION):
        raise NotAllowed(gettext("Reconciliation is for finance."))


# --- whose money: brands ------------------------------------------------------------------------------
# Finance limited to brands sees and resolves only what is about their brands' money: imports of
# providers that serve only their brands, breaks of their brands (the movement's clearing account,
# the trading account's client, else the file's brand), and those providers' month-end closes.
# What belongs to no single brand (a provider shared by brands, a line nobody can attribute) is
# house-wide: finance of every brand (and administrators) handle it.

def brand_scope(user: Any) -> frozenset[int] | None:
    """The brands `user` reconciles; None: every brand (administrators, staff of all brands)."""
    if getattr(user, "is_administrator", False) or getattr(user, "all_brands", False):
        return None
    if not getattr(user, "pk", None):
        return frozenset()
    return frozenset(user.brands.values_list("pk", flat=True))


def provider_brand_ids(provider: PaymentProvider) -> set[int | None]:
    """The brands a provider serves: its payment methods' and its clearing accounts' (None: a
    house-wide clearing account)."""
    brands: set[int | None] = set(PaymentMethod.objects.filter(provider=provider).values_list("brand_id", flat=True))
    brands.update(LedgerAccount.objects.filter(kind=AccountKind.PSP_CLEARING, owner_ref=provider.code)
                  .values_list("brand_id", flat=True))
    return brands


def provider_brand(provider: PaymentProvider) -> int | None:
    """The provider's only brand, or None when it serves several (or none yet)."""
    brands = provider_brand_ids(provider)
    only = next(iter(brands)) if len(brands) == 1 else None
    return only


def providers_for_user(user: Any) -> QuerySet[PaymentProvider]:
    """The providers `user` reconciles and closes: every one for finance of all brands; for finance
    limited to brands, those serving some of their brands and no other."""
    qs = PaymentProvider.objects.all()
    scope = brand_scope(user)
    if scope is None:
        return qs
    methods = PaymentMethod.objects.filter(provider=OuterRef("pk"))
    accounts = LedgerAccount.objects.filter(kind=AccountKind.PSP_CLEARING, owner_ref=OuterRef("code"))
    inside = Exists(methods.filter(brand_id__in=scope)) | Exists(accounts.filter(brand_id__in=scope))
    outside = (Exists(methods.exclude(brand_id__in=scope))
               | Exists(accounts.filter(Q(brand__isnull=True) | ~Q(brand_id__in=scope))))
    return qs.filter(inside).exclude(outside)


def provider_get_for_user(*, user: Any, code: str) -> PaymentProvider:
    """The provider, for a user who may reconcile it; "missing" and "not allowed" look the same."""
    found = providers_for_user(user).filter(code=code).first() if user_can(user, RECONCILE_PERMISSION) else None
    if found is None:
        raise NotFound(gettext("No such provider."))
    return found


def _in_scope(user: Any, brand_id: int | None) -> bool:
    scope = brand_scope(user)
    return scope is None or (brand_id is not None and brand_id in scope)


def _provider_lock(provider_id: int, *, wait: bool, session: bool = False) -> bool:
    """One matcher at a time per provider (an import's job, a re-match, the nightly run): each
    claims the provider's unmatched movements, and a movement is settled once. `session`: held
    across the import's committed steps until `_provider_unlock`; else until the transaction ends."""
    kind = "" if session else "_xact"
    verb = "pg_advisory" if wait else "pg_try_advisory"
    with connection.cursor() as cursor:
        cursor.execute(sql_text("wallet", "recon/provider_lock", lock=sql.Identifier(f"{verb}{kind}_lock")),
                       {"key": f"wallet.recon:{provider_id}"})
        row = cursor.fetchone()
    return wait or bool(row[0])


def _provider_unlock(provider_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [f"wallet.recon:{provider_id}"])


# --- starting an import -----------------------------------------------------------------------------

def _mapping_for(provider: PaymentProvider, mapping: SettlementMapping | None) -> tuple[SettlementMapping | None, str]:
    if mapping is not None:
        if mapping.provider_id != provider.pk:
            raise ValidationFailed(fields={"mapping": gettext("This mapping belongs to another provider.")})
        return mapping, mapping.name
    saved = provider.settlement_mappings.order_by("name").first()
    if saved is not None:
        return saved, saved.name
    if provider.kind == "simulator":
        return None, gettext("PSP simulator's file")
    raise ValidationFailed(fields={"mapping": gettext(
        "This provider has no settlement mapping yet: save one (which column holds what) first.")})


@transaction.atomic
def settlement_import_start(*, actor: Any, provider: PaymentProvider, data: bytes, file_name: str,
                            mapping: SettlementMapping | None = None) -> SettlementImport:
    """Store the file and start its import job. The same file (sha256) of the same provider is
    refused once it was imported (or is being imported); an empty file is refused at once."""
    _require(actor)
    if not providers_for_user(actor).filter(pk=provider.pk).exists():
        # A provider serving brands outside the actor's: its file is about their money too.
        raise NotFound(gettext("No such provider."))
    if not data.strip():
        raise ValidationFailed(fields={"file": gettext("The file is empty.")})
    digest = hashlib.sha256(data).hexdigest()
    earlier = (SettlementImport.objects.filter(provider=provider, sha256=digest)
               .exclude(status=ImportStatus.FAILED).first())
    if earlier is not None:
        message = gettext("This file was already imported on %(date)s as “%(name)s”; the same file is taken once.") % {
            "date": timezone.localtime(earlier.created_at).strftime("%Y-%m-%d %H:%M"), "name": earlier.file_name}
        raise Conflict(message)
    saved, mapping_name = _mapping_for(provider, mapping)
    name = (file_name or "settlement.csv").rsplit("/", 1)[-1][:255]
    imp = SettlementImport(provider=provider, brand_id=provider_brand(provider), file_name=name, sha256=digest,
                           mapping=saved, mapping_name=mapping_name[:120], created_by=actor)
    imp.file.save(f"{imp.code}-{name}"[-200:], ContentFile(data), save=False)
    try:
        with transaction.atomic():
            imp.save()
    except IntegrityError:  # the same file started by someone else a moment ago
        raise Conflict(gettext("This file is being imported already.")) from None
    imp.job = job_start(kind=IMPORT_JOB_KIND, actor=actor, title=gettext("Settlement %(file)s of %(provider)s") % {
        "file": name, "provider": provider.name}, func="wallet.jobs.settlement_import",
        kwargs={"import_id": imp.pk}, link=reverse("wallet_recon_import", args=[imp.code]), brand=imp.brand)
    imp.save(update_fields=["job"])
    audit_record(action="wallet.settlement_import_started", obj=imp, actor=actor, after={
        "provider": provider.code, "file": name, "sha256": digest, "mapping": mapping_name})
    return imp


def simulator_settlement_fetch(*, provider: PaymentProvider, day: dt.date) -> bytes:
    """The PSP simulator's settlement file of `day`, as its adapter downloads it."""
    adapter = provider.adapter()
    try:
        fetch = getattr(adapter, "settlement_file", None)
        if fetch is None:
            raise ValidationFailed(fields={"day": gettext("This provider has no settlement file to fetch.")})
        data: bytes = fetch(day)
        return data
    finally:
        adapter.close()


# --- the job ----------------------------------------------------------------------------------------

def settlement_import_run(*, handle: JobHandle | None, import_id: int) -> dict[str, int]:
    """The import job: parse and match in temporary tables (the progress shown as it goes), then
    write the lines, matches and breaks in one transaction. A file that cannot be read leaves the
    import failed with the reason and nothing else stored."""
    imp = SettlementImport.objects.select_related("provider", "mapping").get(pk=import_id)
    if imp.status not in (ImportStatus.QUEUED, ImportStatus.RUNNING):
        return {"lines": imp.line_count, "matched": imp.matched_count, "breaks": imp.break_count}
    if imp.status == ImportStatus.QUEUED:  # running already: a job run again after its worker died
        IMPORT_STATES.move(imp, ImportStatus.RUNNING, save=())
    _drop_temp()
    # Another import (or a re-match) of the provider finishes first: both would claim the same movements.
    _provider_lock(imp.provider_id, wait=True, session=True)
    try:
        counts = _import_file(imp, handle)
    except SettlementParseError as error:
        _import_fail(imp, str(error.message))
        raise
    except JobCancelled:
        _import_fail(imp, gettext("The import was cancelled; nothing of the file was stored."))
        raise
    finally:
        _drop_temp()
        if not (connection.in_atomic_block and connection.needs_rollback):
            _provider_unlock(imp.provider_id)
    return counts


def _import_fail(imp: SettlementImport, reason: str) -> None:
    """Mark a running import failed with `reason`, in one statement whose WHERE is the table's
    (IMPORT_STATES.sources(FAILED)): an import done already (a cancel that came after its write
    committed) stays done, and the error that stopped the job is the one raised."""
    SettlementImport.objects.filter(pk=imp.pk, status__in=IMPORT_STATES.sources(ImportStatus.FAILED)).update(
        status=ImportStatus.FAILED, error=reason, finished_at=timezone.now())


def _mapping(imp: SettlementImport) -> ColumnMapping:
    return imp.mapping.column_mapping() if imp.mapping is not None else SIMULATOR_MAPPING


def _drop_temp() -> None:
    """The work tables live in the worker's session (each step commits, so that the progress shows):
    dropped before and after each import. In a transaction that failed there is nothing to drop."""
    if connection.in_atomic_block and connection.needs_rollback:
        return
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS recon_batch, recon_pairs, recon_ledger, recon_lines")
    except DatabaseError:
        logger.warning("the reconciliation's work tables could not be dropped", exc_info=True)


def _import_file(imp: SettlementImport, handle: JobHandle | None) -> dict[str, int]:
    with imp.file.open("rb") as stream:
        data = stream.read()
    estimate = max(1, data.count(b"\n"))
    total = estimate * 2  # reading the lines is the first half of the bar, matching the second
    started = time.perf_counter()
    lines = _copy_lines(data, imp, handle, total)
    logger.info("reconciliation phase parse and copy: %.2f s", time.perf_counter() - started)
    if not lines:
        raise SettlementParseError(gettext("The file holds no settlement line."))
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(value_date), max(value_date) FROM recon_lines")
        date_from, date_to = cursor.fetchone()
    tol = tolerances()
    # Until the final write only the session's work tables change: a cancel may stop it anywhere.
    steps = _Steps(handle, done=lines, total=lines * 2, count=6)
    _ledger_table(imp.provider, since=date_from - dt.timedelta(days=tol.lookback_days))
    steps.next("ledger")
    with connection.cursor() as cursor:
        run = _Matcher(cursor, imp.provider_id, tol)
        run.duplicates()
        steps.next("duplicates")
        run.by_reference("provider_ref")
        run.by_reference("merchant_ref")
        steps.next("references")
        run.batches()
        steps.next("batches")
        run.by_tolerance()
        run.by_tolerance()
        steps.next("tolerance")
        run.prepare_write()
        with transaction.atomic():  # the lines, matches, breaks and the import's counts at once
            matched = run.write_lines_and_matches(imp.pk)
            breaks = run.write_pair_breaks() + run.write_line_breaks()
            breaks += run.write_missing_at_provider(imp.pk, date_from, date_to)
            run.clear_settled(gettext("Settled by the file %(file)s.") % {"file": imp.file_name})
            IMPORT_STATES.move(imp, ImportStatus.DONE, save=(), also={
                "line_count": lines, "matched_count": matched, "break_count": breaks, "date_from": date_from,
                "date_to": date_to, "finished_at": timezone.now(), "error": ""})
            audit_record(action="wallet.settlement_imported", obj=imp, actor=imp.created_by, after={
                "lines": lines, "matched": matched, "breaks": breaks, "from": date_from.isoformat(),
                "to": date_to.isoformat()})
        steps.next("write")
    counts = {"lines": lines, "matched": matched, "breaks": breaks}
    if handle is not None:
        handle.progress(steps.total, steps.total, force=True, check=False, **counts)
    return counts


class _Steps:
    """The second half of the progress bar, one step per matching phase; each phase's time is logged."""

    def __init__(self, handle: JobHandle | None, *, done: int, total: int, count: int) -> None:
        self.handle, self.done, self.total, self.step = handle, done, total, max(1, (total - done) // count)
        self.started = time.perf_counter()

    def next(self, phase: str = "") -> None:
        now = time.perf_counter()
        logger.info("reconciliation phase %s: %.2f s", phase, now - self.started)
        self.started = now
        self.done = min(self.total, self.done + self.step)
        if self.handle is not None:
            self.handle.progress(self.done, self.total)


def _lines_table(settlement: int, brand: int | None) -> str:
    return sql_text("wallet", "recon/lines_table", settlement=sql.Literal(settlement), brand=sql.Literal(brand))


def _copy_lines(data: bytes, imp: SettlementImport, handle: JobHandle | None, total: int) -> int:
    """Parse and COPY the lines into recon_lines (ids from the lines table's sequence; each line
    of this import, its brand the import's)."""
    with connection.cursor() as cursor:
        cursor.execute(_lines_table(imp.pk, imp.brand_id))
    count = 0
    chunk: list[tuple[Any, ...]] = []
    for row, provider_ref, merchant_ref, kind, amount, fee, currency, value_date, batch_id in settlement_rows(
            data, imp.file_name, _mapping(imp)):
        chunk.append((row, provider_ref[:200], merchant_ref[:200], kind[:40], amount, fee, currency, value_date,
                      batch_id[:200]))
        if len(chunk) >= PROGRESS_EVERY:
            count += _copy(chunk)
            chunk = []
            # Between two COPYs: the connection is free again for the job's progress row.
            if handle is not None:
                handle.progress(count, total, lines=count)
    count += _copy(chunk)
    with connection.cursor() as cursor:
        cursor.execute("CREATE INDEX ON recon_lines (id)")
        cursor.execute("ANALYZE recon_lines")
    return count


def _copy(rows: list[tuple[Any, ...]]) -> int:
    if rows:
        with connection.connection.cursor() as cursor, cursor.copy(
                sql_text("wallet", "recon/copy_lines")) as copy:
            for row in rows:
                copy.write_row(row)
    return len(rows)


def _ledger_table(provider: PaymentProvider, *, since: dt.date) -> None:
    """recon_ledger: the provider's unmatched movements since `since` (see the module's docstring),
    each with the brand of its clearing account."""
    owned = list(LedgerAccount.objects.filter(kind=AccountKind.PSP_CLEARING, owner_ref=provider.code)
                 .values_list("pk", "brand_id"))
    accounts = [pk for pk, _brand in owned]
    brands = [brand for _pk, brand in owned]
    fee_accounts = list(LedgerAccount.objects.filter(kind=AccountKind.FEES).values_list("pk", flat=True))
    start = dt.datetime.combine(since, dt.time.min, tzinfo=dt.UTC)
    with connection.cursor() as cursor:
        cursor.execute("""
            CREATE TEMP TABLE recon_ledger AS
            WITH moves AS (
                SELECT g.transaction_id AS tx_id, g.currency, -sum(g.amount) AS amount, min(g.account_id) AS account_id
                FROM wallet_ledgerleg g
                WHERE g.account_id = ANY(%(accounts)s) AND g.recorded_at >= %(start)s
                GROUP BY g.transaction_id, g.currency HAVING sum(g.amount) <> 0)
            SELECT m.tx_id, m.currency, m.amount, 0::numeric AS fee,
                   (t.occurred_at AT TIME ZONE 'UTC')::date AS day, t.kind,
                   CASE WHEN r.id IS NOT NULL THEN r.provider_ref
                        WHEN t.kind = 'deposit' THEN coalesce(nullif(d.provider_ref, ''), t.metadata->>'provider_ref', '')
                        WHEN t.kind = 'withdrawal' THEN coalesce(nullif(w.provider_ref, ''), t.metadata->>'provider_ref', '')
                        ELSE coalesce(t.metadata->>'provider_ref', '') END AS provider_ref,
                   CASE WHEN r.id IS NOT NULL THEN r.merchant_ref
                        WHEN t.kind = 'deposit' THEN coalesce(d.merchant_ref, t.metadata->>'merchant_ref', '')
                        WHEN t.kind = 'withdrawal' THEN coalesce(w.merchant_ref, t.metadata->>'merchant_ref', '')
                        ELSE coalesce(t.metadata->>'merchant_ref', '') END AS merchant_ref,
                   coalesce(nullif(w.provider_batch_id, ''), t.metadata->>'batch_id', '') AS batch_id,
                   CASE WHEN t.ref_kind = 'deposit' THEN d.id END AS deposit_id, w.id AS withdrawal_id,
                   a.brand_id
            FROM moves m
            JOIN unnest(%(accounts)s::bigint[], %(brands)s::bigint[]) AS a(id, brand_id) ON a.id = m.account_id
            JOIN wallet_ledgertransaction t ON t.id = m.tx_id
            LEFT JOIN wallet_deposit d ON t.ref_kind = 'deposit' AND d.code::text = t.ref_code
            LEFT JOIN wallet_withdrawal w ON t.ref_kind = 'withdrawal' AND w.code::text = t.ref_code
            LEFT JOIN wallet_depositrefund r ON r.transaction_id = t.id
            WHERE NOT EXISTS (SELECT 1 FROM wallet_reconciliationmatch x WHERE x.transaction_id = m.tx_id)
        """, {"accounts": accounts, "brands": brands, "start": start})
        if fee_accounts:
            cursor.execute("""
                UPDATE recon_ledger r SET fee = f.total
                FROM (SELECT g.transaction_id, sum(g.amount) AS total FROM wallet_ledgerleg g
                      JOIN recon_ledger x ON x.tx_id = g.transaction_id
                      WHERE g.account_id = ANY(%(fees)s) GROUP BY g.transaction_id) f
                WHERE f.transaction_id = r.tx_id""", {"fees": fee_accounts})
        cursor.execute("CREATE INDEX ON recon_ledger (tx_id)")
        cursor.execute("ANALYZE recon_ledger")


class _Matcher:
    """The matching passes over recon_lines and recon_ledger, and the writes of what they found. An
    import writes its lines and every kind of break; a re-match (`settlement_rematch`) takes lines
    already stored that matched nothing, and writes their matches and the differences of the pairs."""

    def __init__(self, cursor: Any, provider_id: int, tol: Tolerances) -> None:
        self.cursor, self.provider_id, self.tol = cursor, provider_id, tol
        cursor.execute("CREATE TEMP TABLE recon_pairs (line_id bigint, tx_id bigint, method text)")
        cursor.execute("CREATE INDEX ON recon_pairs (line_id)")
        cursor.execute("CREATE INDEX ON recon_pairs (tx_id)")

    def _pairs_added(self) -> None:
        # Fresh statistics: the next pass's anti-joins against the pairs are planned on them.
        self.cursor.execute("ANALYZE recon_pairs")

    def duplicates(self) -> None:
        """The same reference and kind again in the file, or in an earlier file of the provider."""
        self.cursor.execute("""
            UPDATE recon_lines l SET state = 'duplicate'
            FROM (SELECT id, row_number() OVER (PARTITION BY provider_ref, kind ORDER BY row) AS n FROM recon_lines) d
            WHERE d.id = l.id AND d.n > 1""")
        self.cursor.execute("""
            UPDATE recon_lines l SET state = 'duplicate'
            WHERE l.state = 'open' AND EXISTS (
                SELECT 1 FROM wallet_settlementfileline o
                JOIN wallet_settlementimport i ON i.id = o.settlement_id
                WHERE o.provider_ref = l.provider_ref AND o.kind = l.kind AND i.provider_id = %(provider)s
                  AND i.status = 'done' AND o.state <> 'duplicate')""", {"provider": self.provider_id})

    def by_reference(self, field: str) -> None:
        """Pairs whose reference (`field`: provider_ref or merchant_ref) is equal, one to one."""
        if field not in ("provider_ref", "merchant_ref"):
            raise ValueError(field)
        self.cursor.execute(sql_text("wallet", "recon/by_reference", line_ref=sql.Identifier("l", field),
                                     ledger_ref=sql.Identifier("r", field)))
        self._pairs_added()

    def batches(self) -> None:
        """One line, many payouts: the payouts of its batch id (or, without one, of its day and the
        days before within the tolerance) whose total is the line's amount."""
        for statement in sql_statements("wallet", "recon/batches"):
            self.cursor.execute(statement, {"days": self.tol.days, "tol": self.tol.amount})
        self._pairs_added()

    def by_tolerance(self) -> None:
        """Mutual best candidates: the same currency, the amount and the day within the tolerances,
        and no reference on the ledger's side that says it is something else."""
        self.cursor.execute(sql_text("wallet", "recon/by_tolerance"), {"tol": self.tol.amount, "days": self.tol.days})
        self._pairs_added()

    def prepare_write(self) -> None:
        self._pairs_added()

    def write_lines_and_matches(self, import_id: int) -> int:
        self.cursor.execute("""
            INSERT INTO wallet_settlementfileline (id, settlement_id, row, provider_ref, merchant_ref, kind, amount,
                                                   fee, currency, value_date, batch_id, state)
            SELECT l.id, %(import)s, l.row, l.provider_ref, l.merchant_ref, l.kind, l.amount, l.fee, l.currency,
                   l.value_date, l.batch_id,
                   CASE WHEN l.state = 'duplicate' THEN 'duplicate'
                        WHEN EXISTS (SELECT 1 FROM recon_pairs p WHERE p.line_id = l.id) THEN 'matched'
                        ELSE 'open' END
            FROM recon_lines l""", {"import": import_id})
        return self.write_matches()

    def write_matches(self) -> int:
        """The matches of the pairs; a paid-out withdrawal whose batch the provider never named
        takes the batch of the line that settled it. The number of lines matched."""
        self.cursor.execute("""
            INSERT INTO wallet_reconciliationmatch (line_id, transaction_id, deposit_id, withdrawal_id, method, created_at)
            SELECT p.line_id, p.tx_id, r.deposit_id, r.withdrawal_id, p.method, now()
            FROM recon_pairs p JOIN recon_ledger r ON r.tx_id = p.tx_id""")
        self.cursor.execute("""
            UPDATE wallet_withdrawal w SET provider_batch_id = l.batch_id, updated_at = now()
            FROM recon_pairs p JOIN recon_lines l ON l.id = p.line_id JOIN recon_ledger r ON r.tx_id = p.tx_id
            WHERE w.id = r.withdrawal_id AND w.provider_batch_id = '' AND l.batch_id <> '' AND l.amount < 0""")
        self.cursor.execute("SELECT count(DISTINCT line_id) FROM recon_pairs")
        matched: int = self.cursor.fetchone()[0]
        return matched

    def write_pair_breaks(self) -> int:
        """Currency, amount and fee differences of the pairs (one to one), and of the batches' totals."""
        created = 0
        for statement in sql_statements("wallet", "recon/pair_breaks"):
            self.cursor.execute(statement, {"provider": self.provider_id})
            created += self.cursor.rowcount
        return created

    def write_line_breaks(self) -> int:
        """Duplicates, and the lines nothing in the ledger matched; such a line is of the brand of
        the deposit or withdrawal its merchant reference names, when it names one of ours."""
        self.cursor.execute(sql_text("wallet", "recon/line_breaks"), {"provider": self.provider_id})
        created: int = self.cursor.rowcount
        return created

    def write_missing_at_provider(self, import_id: int, date_from: dt.date, date_to: dt.date) -> int:
        """The provider's movements of the file's days that no file settled (once while open)."""
        self.cursor.execute(sql_text("wallet", "recon/missing_at_provider"),
                            {"provider": self.provider_id, "import": import_id, "from": date_from, "to": date_to})
        created: int = self.cursor.rowcount
        return created

    def clear_settled(self, note: str) -> int:
        """Movements an earlier file missed and these lines settle: the timing difference cleared itself."""
        self.cursor.execute("""
            UPDATE wallet_reconciliationbreak b SET status = 'resolved', resolution = 'cleared', resolved_at = now(),
                   note = %(note)s
            WHERE b.status = 'open' AND b.kind = 'missing_at_provider'
              AND b.transaction_id IN (SELECT tx_id FROM recon_pairs)""", {"note": note})
        cleared: int = self.cursor.rowcount
        return cleared


# --- matching again what a file had that the ledger did not --------------------------------------------

@dataclass(frozen=True)
class RematchResult:
    lines: int  # lines missing in the ledger that were looked at
    matched: int  # of them, matched now (their breaks resolved as matched)
    breaks: int  # differences of the new pairs (amount, fee, currency) opened as breaks


def settlement_rematch(*, actor: Any, settlement: SettlementImport | None = None,
                       brk: ReconciliationBreak | None = None) -> RematchResult:
    """Match again the lines "missing in the ledger" of one import, or of one break's line, against
    the provider's movements not matched yet: a payment whose webhook came late is in the ledger now.
    A line that matches closes its break as matched (automatically, no adjustment: the movement is
    there); a pair that differs opens its amount, fee or currency break as an import would. Refused
    (ProviderBusy) while an import of the provider is running."""
    _require(actor)
    target = settlement or (brk.settlement if brk is not None else None)
    if target is None or (brk is not None and brk.kind != BreakKind.MISSING_IN_LEDGER):
        raise ValidationFailed(fields={"break": gettext("Only a line missing in the ledger can be matched again.")})
    if not (_in_scope(actor, brk.brand_id) if brk is not None else _in_scope(actor, target.brand_id)):
        raise NotFound()
    if brk is not None:
        BREAK_STATES.check(brk, BreakStatus.RESOLVED)
    result = _rematch(provider=target.provider, actor=actor, wait=False,
                      settlement_id=target.pk, break_id=brk.pk if brk is not None else None)
    if result is None:
        raise ProviderBusy(gettext("A settlement file of %(provider)s is being imported: match again once it is done.")
                           % {"provider": target.provider.name})
    return result


def settlement_rematch_open() -> dict[str, int]:
    """The nightly run: every provider's lines still missing in the ledger matched again (waiting
    for an import of the provider that is running). Counts over all providers."""
    totals = {"lines": 0, "matched": 0, "breaks": 0}
    provider_ids = (ReconciliationBreak.objects.filter(status=BreakStatus.OPEN, kind=BreakKind.MISSING_IN_LEDGER)
                    .values_list("provider_id", flat=True).distinct())
    for provider in PaymentProvider.objects.filter(pk__in=list(provider_ids)).order_by("pk"):
        result = _rematch(provider=provider, actor=None, wait=True)
        if result is not None:
            totals["lines"] += result.lines
            totals["matched"] += result.matched
            totals["breaks"] += result.breaks
    return totals


def _rematch(*, provider: PaymentProvider, actor: Any, wait: bool, settlement_id: int | None = None,
             break_id: int | None = None) -> RematchResult | None:
    """Match open "missing in the ledger" lines of `provider` (of one import, of one break) again,
    in one transaction under the provider's lock; None when `wait` is false and the lock is taken."""
    with transaction.atomic():
        if not _provider_lock(provider.pk, wait=wait):
            return None
        _drop_temp()
        try:
            return _rematch_locked(provider, actor, settlement_id=settlement_id, break_id=break_id)
        finally:
            _drop_temp()


def _rematch_locked(provider: PaymentProvider, actor: Any, *, settlement_id: int | None,
                    break_id: int | None) -> RematchResult:
    tol = tolerances()
    with connection.cursor() as cursor:
        cursor.execute(_lines_table(0, None))
        cursor.execute("""
            INSERT INTO recon_lines (id, row, provider_ref, merchant_ref, kind, amount, fee, currency, value_date,
                                     batch_id, state, settlement_id, brand_id)
            SELECT l.id, l.row, l.provider_ref, l.merchant_ref, l.kind, l.amount, l.fee, l.currency, l.value_date,
                   l.batch_id, 'open', l.settlement_id, b.brand_id
            FROM wallet_reconciliationbreak b
            JOIN wallet_settlementfileline l ON l.id = b.line_id
            WHERE b.status = 'open' AND b.kind = 'missing_in_ledger' AND b.provider_id = %(provider)s
              AND l.state = 'open'
              AND (%(settlement)s::bigint IS NULL OR b.settlement_id = %(settlement)s)
              AND (%(break)s::bigint IS NULL OR b.id = %(break)s)""",
                       {"provider": provider.pk, "settlement": settlement_id, "break": break_id})
        lines = cursor.rowcount
        if not lines:
            return RematchResult(lines=0, matched=0, breaks=0)
        cursor.execute("CREATE INDEX ON recon_lines (id)")
        cursor.execute("ANALYZE recon_lines")
        cursor.execute("SELECT min(value_date) FROM recon_lines")
        since = cursor.fetchone()[0] - dt.timedelta(days=tol.lookback_days)
        _ledger_table(provider, since=since)
        run = _Matcher(cursor, provider.pk, tol)
        run.by_reference("provider_ref")
        run.by_reference("merchant_ref")
        run.batches()
        run.by_tolerance()
        run.by_tolerance()
        matched = run.write_matches()
        if not matched:
            return RematchResult(lines=lines, matched=0, breaks=0)
        cursor.execute("UPDATE wallet_settlementfileline SET state = %(matched)s "
                       "WHERE id IN (SELECT line_id FROM recon_pairs) AND state = ANY(%(sources)s)",
                       {"matched": LineState.MATCHED, "sources": LINE_STATES.sources(LineState.MATCHED)})
        breaks = run.write_pair_breaks()
        cursor.execute("""
            UPDATE wallet_reconciliationbreak b SET status = 'resolved', resolution = 'matched', resolved_at = now(),
                   resolved_by_id = %(actor)s, note = %(note)s
            WHERE b.status = 'open' AND b.kind = 'missing_in_ledger'
              AND b.line_id IN (SELECT line_id FROM recon_pairs)
            RETURNING b.code""", {"actor": getattr(actor, "pk", None),
                                  "note": gettext("The movement reached the ledger after the file was imported.")})
        closed = [str(row[0]) for row in cursor.fetchall()]
        run.clear_settled(gettext("Settled by a line matched again."))
        cursor.execute("""
            UPDATE wallet_settlementimport i
            SET matched_count = i.matched_count + c.matched,
                break_count = (SELECT count(*) FROM wallet_reconciliationbreak x WHERE x.settlement_id = i.id)
            FROM (SELECT l.settlement_id, count(DISTINCT p.line_id) AS matched
                  FROM recon_pairs p JOIN recon_lines l ON l.id = p.line_id GROUP BY l.settlement_id) c
            WHERE i.id = c.settlement_id""")
    audit_record(action="wallet.recon_lines_rematched", actor=actor, object_type="wallet.reconciliationbreak",
                 after={"provider": provider.code, "lines": lines, "matched": matched, "breaks": breaks,
                        "resolved": closed[:100]})
    return RematchResult(lines=lines, matched=matched, breaks=breaks)


# --- resolving a break --------------------------------------------------------------------------------

ALLOWED: dict[str, tuple[str, ...]] = {
    BreakKind.FEE_MISMATCH: (Resolution.POST_FEE, Resolution.TIMING),
    BreakKind.AMOUNT_MISMATCH: (Resolution.WRITE_OFF, Resolution.TIMING),
    BreakKind.MISSING_IN_LEDGER: (Resolution.WRITE_OFF, Resolution.TIMING),
    BreakKind.MISSING_AT_PROVIDER: (Resolution.WRITE_OFF, Resolution.TIMING),
    BreakKind.CURRENCY_MISMATCH: (Resolution.WRITE_OFF,),
    BreakKind.DUPLICATE: (Resolution.DUPLICATE, Resolution.WRITE_OFF),
    BreakKind.PLATFORM_MISMATCH: (Resolution.WRITE_OFF, Resolution.TIMING),
}


def _scoped_breaks(user: Any) -> QuerySet[ReconciliationBreak]:
    """Breaks of the user's brands, and the house-wide breaks of files of providers the user
    reconciles (a provider serving only the user's brands, shared between them or not)."""
    qs = ReconciliationBreak.objects.all()
    scope = brand_scope(user)
    if scope is None:
        return qs
    return qs.filter(Q(brand_id__in=scope)
                     | Q(brand__isnull=True, settlement__provider__in=providers_for_user(user)))


def break_get_for_user(*, user: Any, code: Any) -> ReconciliationBreak:
    """The break, for a user who may reconcile it (its brand is theirs); "missing" and "not
    allowed" look the same."""
    found = None
    if user_can(user, RECONCILE_PERMISSION):
        try:
            found = _scoped_breaks(user).select_related("settlement__provider").filter(code=code).first()
        except (ValueError, ValidationError):
            found = None
    if found is None:
        raise NotFound(gettext("No such break."))
    return found


def import_get_for_user(*, user: Any, code: Any) -> SettlementImport:
    """The import, for a user who may reconcile its brand's money; "missing" and "not allowed" look the same."""
    found = None
    if user_can(user, RECONCILE_PERMISSION):
        try:
            found = (_scoped_imports(user).select_related("provider", "job", "created_by")
                     .filter(code=code).first())
        except (ValueError, ValidationError):
            found = None
    if found is None:
        raise NotFound(gettext("No such import."))
    return found


def _scoped_imports(user: Any) -> QuerySet[SettlementImport]:
    """Imports of the user's brands, and those of providers shared between brands that are all the
    user's (the files the user may import: providers_for_user)."""
    qs = SettlementImport.objects.all()
    scope = brand_scope(user)
    if scope is None:
        return qs
    return qs.filter(Q(brand_id__in=scope) | Q(brand__isnull=True, provider__in=providers_for_user(user)))


def _brand_of(brk: ReconciliationBreak) -> int | None:
    """The brand whose clearing account the break is about: the movement's, else house-wide."""
    if brk.transaction_id is None:
        return None
    brand: int | None = (LedgerAccount.objects.filter(legs__transaction_id=brk.transaction_id,
                                                      kind=AccountKind.PSP_CLEARING)
                         .values_list("brand_id", flat=True).first())
    return brand


def _legs(brk: ReconciliationBreak, resolution: str) -> list[Leg]:
    if brk.kind == BreakKind.PLATFORM_MISMATCH:
        account = brk.trading_account
        assert account is not None
        mirror = mirror_account_for(trading_account=account)
        suspense = system_account_for(kind=AccountKind.SUSPENSE, currency=brk.currency,
                                      brand=account.client.brand_id, owner_ref=SUSPENSE_REF)
        delta = Money(brk.difference, brk.currency)
        return [Leg(mirror, delta), Leg(suspense, -delta)]
    if brk.kind == BreakKind.AMOUNT_MISMATCH and brk.line_id is None:
        # A provider's confirmation of another amount than asked (wallet.deposits): the ledger was
        # posted with what the provider confirmed, so there is nothing more to post.
        return []
    assert brk.provider is not None
    provider_code = brk.provider.code
    brand = _brand_of(brk)

    def clearing(currency: str) -> Any:
        return clearing_account_for(provider=provider_code, currency=currency, brand=brand)

    if resolution == Resolution.POST_FEE:
        # The provider kept `diff` more than the ledger booked: less is owed to us, the fee costs it.
        diff = Money((brk.provider_fee or 0) - (brk.ledger_fee or 0), brk.currency)
        fees = system_account_for(kind=AccountKind.FEES, currency=brk.currency, brand=brand)
        return [Leg(clearing(brk.currency), diff), Leg(fees, -diff)]
    # Write-off: the clearing account is brought to what the provider says, the rest to suspense.
    deltas: dict[str, Decimal] = {}
    if brk.kind == BreakKind.CURRENCY_MISMATCH:
        deltas[brk.currency] = -(brk.ledger_amount or Decimal(0))
        deltas[brk.provider_currency] = deltas.get(brk.provider_currency, Decimal(0)) + (brk.provider_amount or 0)
    else:
        deltas[brk.currency] = brk.difference
    legs: list[Leg] = []
    for currency, change in deltas.items():
        if not change:
            continue
        suspense = system_account_for(kind=AccountKind.SUSPENSE, currency=currency, brand=brand, owner_ref=SUSPENSE_REF)
        legs += [Leg(clearing(currency), Money(-change, currency)), Leg(suspense, Money(change, currency))]
    return legs


@transaction.atomic
def break_resolve(*, actor: Any, brk: ReconciliationBreak, resolution: str, note: str = "") -> ReconciliationBreak:
    """Resolve an open break (the resolutions its kind allows: ALLOWED), audited, posting its
    adjustment through the ledger under the key ``recon:<break>:<resolution>``. A break already
    resolved (a second click, or a colleague first) is refused and posts nothing more."""
    _require(actor)
    locked = (ReconciliationBreak.objects.select_for_update(of=("self",)).select_related("provider", "trading_account__client")
              .get(pk=brk.pk))
    if not _in_scope(actor, locked.brand_id):
        raise NotFound(gettext("No such break."))
    BREAK_STATES.check(locked, BreakStatus.RESOLVED)
    if resolution not in ALLOWED.get(locked.kind, ()):
        raise ValidationFailed(fields={"resolution": gettext("This resolution does not fit a break of this kind.")})
    note = (note or "").strip()
    if resolution == Resolution.WRITE_OFF and not note:
        raise ValidationFailed(fields={"note": gettext("Say why the difference is written off.")})
    adjustment: LedgerTransaction | None = None
    if resolution in (Resolution.POST_FEE, Resolution.WRITE_OFF):
        legs = [leg for leg in _legs(locked, resolution) if leg.amount]
        if legs:
            adjustment = ledger_post(key=f"recon:{locked.code}:{resolution}", kind=POSTING_KIND, legs=legs,
                                     actor=actor, memo=note or str(Resolution(resolution).label),
                                     ref_kind="recon_break", ref_code=str(locked.code),
                                     meta={"break": locked.kind, "resolution": resolution})
    BREAK_STATES.move(locked, BreakStatus.RESOLVED, save=(), also={
        "resolution": resolution, "note": note, "resolved_by": actor, "resolved_at": timezone.now(),
        "adjustment": adjustment})
    audit_record(action="wallet.recon_break_resolved", obj=locked, actor=actor, reason=note,
                 before={"status": BreakStatus.OPEN},
                 after={"status": locked.status, "kind": locked.kind, "resolution": resolution,
                        "difference": format(locked.difference, "f"), "currency": locked.currency,
                        "adjustment": str(adjustment.code) if adjustment else None})
    return locked


# --- platform reconciliation -------------------------------------------------------------------------

# Trading's accounts and deals and the core's clients through the views they publish
# (trading.selectors.PUBLISHED_VIEWS, crm.selectors.CLIENTS_VIEW), never their tables.
_PLATFORM_SQL = """
    SELECT ta.id, ta.currency, coalesce(d.total, 0) AS platform, coalesce(b.balance, 0) AS ledger, c.brand_id
    FROM trading_public_accounts ta
    JOIN crm_public_clients c ON c.id = ta.client_id
    LEFT JOIN (SELECT account_id, sum(profit) AS total FROM trading_public_deals
               WHERE kind = 'balance' AND deleted_at IS NULL GROUP BY account_id) d ON d.account_id = ta.id
    LEFT JOIN wallet_ledgeraccount la ON la.trading_account_id = ta.id AND la.kind = 'trading_mirror'
    LEFT JOIN wallet_ledgerbalance b ON b.account_id = la.id
    WHERE NOT ta.is_demo AND coalesce(d.total, 0) <> coalesce(b.balance, 0)
      AND (%(brands)s::bigint[] IS NULL OR c.brand_id = ANY(%(brands)s::bigint[]))
"""


@dataclass(frozen=True)
class PlatformResult:
    accounts_differing: int
    opened: int
    cleared: int


@transaction.atomic
def platform_reconcile(*, actor: Any = None) -> PlatformResult:
    """Each live trading account's balance deals (as synced from its platform) against its ledger
    mirror: an open platform_mismatch break per account that differs (its figures kept current),
    and the open ones of accounts that agree again resolved as cleared. `actor` None: the beat,
    every brand; finance limited to brands reconciles their brands' accounts only. Runs one at a
    time, and a second run finds what the first left: nothing new."""
    scope: frozenset[int] | None = None
    if actor is not None:
        _require(actor)
        scope = brand_scope(actor)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('wallet.platform_reconcile'))")
        cursor.execute(_PLATFORM_SQL, {"brands": None if scope is None else sorted(scope)})
        rows = {row[0]: row[1:] for row in cursor.fetchall()}
    today = timezone.localdate()
    open_qs = ReconciliationBreak.objects.select_for_update().filter(kind=BreakKind.PLATFORM_MISMATCH,
                                                                     status=BreakStatus.OPEN)
    if scope is not None:
        open_qs = open_qs.filter(brand_id__in=scope)
    open_breaks = {b.trading_account_id: b for b in open_qs}
    opened = cleared = 0
    for account_id, (currency, platform, ledger, brand_id) in rows.items():
        existing = open_breaks.get(account_id)
        if existing is not None:
            if (existing.provider_amount, existing.ledger_amount) != (platform, ledger):
                existing.provider_amount, existing.ledger_amount = platform, ledger
                existing.difference = platform - ledger
                existing.save(update_fields=["provider_amount", "ledger_amount", "difference"])
            continue
        ReconciliationBreak.objects.create(kind=BreakKind.PLATFORM_MISMATCH, trading_account_id=account_id,
                                           brand_id=brand_id, currency=currency, provider_currency=currency, provider_amount=platform,
                                           ledger_amount=ledger, difference=platform - ledger, occurred_on=today)
        opened += 1
    now = timezone.now()
    for account_id, brk in open_breaks.items():
        if account_id not in rows:
            BREAK_STATES.move(brk, BreakStatus.RESOLVED, save=(), also={
                "resolution": Resolution.CLEARED, "resolved_at": now,
                "note": gettext("The platform and the ledger agree again.")})
            cleared += 1
    if actor is not None or opened or cleared:
        audit_record(action="wallet.platform_reconciled", actor=actor, object_type="wallet.reconciliationbreak",
                     after={"differing": len(rows), "opened": opened, "cleared": cleared,
                            "brands": None if scope is None else sorted(scope)})
    return PlatformResult(accounts_differing=len(rows), opened=opened, cleared=cleared)


# --- reads ---------------------------------------------------------------------------------------------

def breaks_for_queue(*, user: Any, status: str = BreakStatus.OPEN, provider: PaymentProvider | None = None,
                     kind: str = "", older_than_days: int | None = None,
                     today: dt.date | None = None, currency: str = "",
                     occurred_until: dt.date | None = None) -> QuerySet[ReconciliationBreak]:
    """The breaks queue for finance, oldest first, with both sides loaded. `currency` and
    `occurred_until` (the movements' day, inclusive): the breaks a month-end close counts."""
    _require(user)
    qs = (_scoped_breaks(user).select_related("provider", "line", "transaction", "settlement",
                                              "trading_account", "resolved_by", "adjustment")
          .order_by("occurred_on", "id"))
    if status:
        qs = qs.filter(status=status)
    if provider is not None:
        qs = qs.filter(provider=provider)
    if kind:
        qs = qs.filter(kind=kind)
    if older_than_days:
        qs = qs.filter(occurred_on__lte=(today or timezone.localdate()) - dt.timedelta(days=older_than_days))
    if currency:
        qs = qs.filter(currency=currency)
    if occurred_until is not None:
        qs = qs.filter(occurred_on__lte=occurred_until)
    return qs


@dataclass(frozen=True)
class OpenBreaks:
    provider: str  # the provider's code; "" for platform breaks
    provider_name: str
    currency: str
    count: int
    difference: Decimal


def open_breaks_summary(*, as_of: dt.date, user: Any = None,
                        occurred_before: dt.date | None = None) -> list[OpenBreaks]:
    """Breaks open at the end of `as_of` (UTC), per provider and currency, with the sum of their
    differences: what the month-end close shows (every brand's; only the breaks of movements dated
    before `occurred_before`, the month's end), or `user`'s reconciliation page (their brands')."""
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    breaks = ReconciliationBreak.objects.all() if user is None else _scoped_breaks(user)
    if occurred_before is not None:
        breaks = breaks.filter(occurred_on__lt=occurred_before)
    rows = (breaks.filter(created_at__lt=end)
            .filter(Q(resolved_at__isnull=True) | Q(resolved_at__gte=end))
            .values("provider__code", "provider__name", "currency")
            .annotate(count=Count("id"), total=Sum("difference"))
            .order_by("provider__code", "currency"))
    return [OpenBreaks(provider=row["provider__code"] or "", provider_name=row["provider__name"] or "",
                       currency=row["currency"], count=row["count"], difference=row["total"] or Decimal(0))
            for row in rows]


def imports_recent(*, user: Any, limit: int = 30) -> Iterable[SettlementImport]:
    _require(user)
    return _scoped_imports(user).select_related("provider", "job", "created_by")[:limit]
