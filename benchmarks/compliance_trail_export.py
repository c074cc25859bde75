"""The compliance trail export of one client with 10,000 events (compliance.trail), end to end as the
RQ worker runs it: the audit chain verified, every section's CSV, the KYC documents, the PDF summary,
the ZIP stored as the job's result.

The client's events (not measured; --quick 1,000) are spread over the sections: KYC events, screening
hit decisions, restrictions imposed and lifted, consents (audit rows), risk-score changes and reveals
of personal data, written in bulk as their services would leave them. Other clients of the brand and
of another brand have as many again, so that the scoping is by index, not by an empty table.

Figures (one JSON line each):
- compliance_trail_export.client_10k_s: seconds from the job's start to its end (job_execute in this
  process). limit: the plain SQL read of the same rows (one SELECT per section over the same tables,
  fetched to the client) in the same run. Goal: <= 10 s.
- compliance_trail_export.rows: rows written (info).

Run: python benchmarks/compliance_trail_export.py [--quick] [--keep] [--events N]
"""

from __future__ import annotations

import datetime as dt
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (
    argument_parser,
    finish,
    log,
    prepare,
    raw_connection,
    record,
    sized,
    timed,
)

KYC_NAMES = ["kyc.submitted", "kyc.approved", "kyc.rejected", "kyc.info_requested", "kyc.assessed"]


def seed(client: object, brand: object, officer: object, count: int, start: dt.datetime) -> None:
    """`count` events of `client`, in sixths: KYC events, screening decisions, restriction rows,
    consents, risk scores, reveals."""
    from compliance.models import (
        ListKind,
        Restriction,
        RiskScore,
        ScreeningDecision,
        ScreeningHit,
        Watchlist,
        WatchlistEntry,
        WatchlistVersion,
    )
    from crm.audit import AuditEntry, audit_record_many
    from crm.lib.partitions import PARTITIONED_TABLES, month_partitions_span
    from crm.models import AccessEvent, Event

    part = count // 6
    step = dt.timedelta(seconds=30)
    for table in PARTITIONED_TABLES:  # the months of the rows below, in the past (events, reveals)
        month_partitions_span(table.table, start, start + count * step)
    Event.objects.bulk_create([
        Event(name=KYC_NAMES[i % len(KYC_NAMES)], client=client, brand=brand, actor=officer,
              data={"reviewer": {"code": str(officer.code)}, "n": i}, occurred_at=start + i * step)  # type: ignore[attr-defined]
        for i in range(part)], batch_size=2000)
    wl = Watchlist.objects.create(name=f"bench-{uuid.uuid4().hex[:6]}", source_format="pep-csv", kind=ListKind.PEP)
    version = WatchlistVersion.objects.create(watchlist=wl, number=1, source="bench", checksum="0" * 64, entry_count=1,
                                              name_count=1)
    entry = WatchlistEntry.objects.create(version=version, ent_num="B-1", entry_type="person", primary_name="Bench",
                                          fingerprint="0" * 64)
    hit = ScreeningHit.objects.create(client=client, watchlist=wl, version=version, entry=entry, ent_num="B-1",
                                      score="0.9", matched_name="Bench", explanation="bench", client_fingerprint="x",
                                      entry_fingerprint="y", trigger="daily", status="dismissed")
    decisions = ScreeningDecision.objects.bulk_create([
        ScreeningDecision(hit=hit, step="decided", action="dismiss", officer=officer, reason=f"review {i}")
        for i in range(part - 1)], batch_size=2000)
    ScreeningDecision.objects.filter(pk__in=[d.pk for d in decisions]).update(at=start + step)
    Restriction.objects.bulk_create([
        Restriction(client=client, kind="no_deposit", reason=f"bench {i}", imposed_by=officer,
                    imposed_at=start + i * step, lifted_at=start + i * step + step / 2, lifted_by=officer,
                    lift_reason="checked") for i in range(part // 2)], batch_size=2000)
    audit_record_many([
        AuditEntry(action="portal.consent_accepted" if i % 2 else "portal.consent_withdrawn", obj=client,
                   after={"kind": "marketing", "version": "1"}, actor=None)
        for i in range(part)])
    RiskScore.objects.bulk_create([
        RiskScore(client=client, brand=brand, score=i % 90, band=("low", "medium", "high")[(i % 90) // 30],
                  factors=[{"key": "country", "label": "Country risk", "value": "DE: Allowed", "points": i % 90}],
                  trigger="bench", computed_at=start + i * step, review_due=dt.date(2030, 1, 1))
        for i in range(part)], batch_size=2000)
    AccessEvent.objects.bulk_create([
        AccessEvent(user=officer, client=client, kind="reveal_email" if i % 2 else "reveal_phone",
                    at=start + i * step, ip="10.0.0.1", detail="")
        for i in range(count - 5 * part + 1)], batch_size=2000)


PLAIN_SQL = [
    ("SELECT e.occurred_at, c.code, e.name, u.email, e.data FROM crm_event e JOIN crm_client c ON c.id = e.client_id "
     "LEFT JOIN crm_user u ON u.id = e.actor_id WHERE e.client_id = %(client)s AND e.name = ANY(%(kyc)s) "
     "AND e.occurred_at >= %(start)s AND e.occurred_at < %(end)s ORDER BY e.occurred_at, e.id"),
    ("SELECT d.at, h.code, d.step, d.action, u.email, d.reason FROM compliance_screeningdecision d "
     "JOIN compliance_screeninghit h ON h.id = d.hit_id JOIN crm_user u ON u.id = d.officer_id "
     "WHERE h.client_id = %(client)s AND d.at >= %(start)s AND d.at < %(end)s ORDER BY d.at, d.id"),
    ("SELECT r.imposed_at, r.lifted_at, r.code, r.kind, r.reason, r.lift_reason FROM compliance_restriction r "
     "WHERE r.client_id = %(client)s AND ((r.imposed_at >= %(start)s AND r.imposed_at < %(end)s) "
     "OR (r.lifted_at >= %(start)s AND r.lifted_at < %(end)s))"),
    ("SELECT a.at, a.object_id, a.action, a.after, a.actor_label, a.seq FROM crm_auditlog a "
     "WHERE a.brand_id = %(brand)s AND a.action = ANY(%(consent)s) AND a.object_type = 'crm.client' "
     "AND a.object_id = %(code)s AND a.at >= %(start)s AND a.at < %(end)s ORDER BY a.at, a.id"),
    ("SELECT s.computed_at, s.band, s.previous_band, s.score, s.factors, s.trigger, s.review_due "
     "FROM compliance_riskscore s WHERE s.client_id = %(client)s AND s.computed_at >= %(start)s "
     "AND s.computed_at < %(end)s ORDER BY s.computed_at, s.id"),
    ("SELECT x.at, x.kind, u.email, x.ip, x.request_id, x.detail FROM crm_accessevent x "
     "JOIN crm_user u ON u.id = x.user_id WHERE x.client_id = %(client)s AND x.kind IN ('reveal_email', "
     "'reveal_phone') AND x.at >= %(start)s AND x.at < %(end)s ORDER BY x.at, x.id"),
]


def plain_sql(env: object, params: dict[str, object]) -> tuple[float, int]:
    with raw_connection(env) as conn:  # type: ignore[arg-type]
        began = time.perf_counter()
        rows = 0
        for sql in PLAIN_SQL:
            rows += len(conn.execute(sql, params).fetchall())
        return time.perf_counter() - began, rows


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--events", type=int, default=None, help="the client's events (default 10,000; quick 1,000)")
    args = parser.parse_args()
    count = args.events or sized(args, 10_000, 1_000, 20)
    env = prepare(args)
    try:
        from django.db import transaction
        from django.utils import timezone

        from compliance.trail import CONSENT_ACTIONS, KYC_EVENTS, trail_export_request
        from crm.audit import audit_seal
        from crm.jobs import job_execute
        from crm.models import Brand, Client, Job, RoleCode
        from crm.roles import roles_sync
        from crm.services import client_create

        roles_sync()
        from crm.models import Role, User

        brand = Brand.objects.create(code="bench", name="Bench brand")
        other_brand = Brand.objects.create(code="bench-other", name="Other brand")
        officer = User.objects.create_user(email="officer@bench.example", password=None,  # type: ignore[attr-defined]
                                           role=Role.objects.get(code=RoleCode.COMPLIANCE), full_name="Bench Officer")
        officer.brands.add(brand)
        start = timezone.now() - dt.timedelta(days=200)
        with timed(f"seed {count} events x 3 clients"):
            clients = [client_create(actor=None, brand=b, first_name="Bench", last_name=f"Client {i}",
                                     email=f"bench{i}@example.com", country="DE")
                       for i, b in enumerate((brand, brand, other_brand))]
            for c in clients:
                seed(c, c.brand, officer, count, start)
            audit_seal()
        client = clients[0]
        assert isinstance(client, Client)
        first, last = (start - dt.timedelta(days=1)).date(), timezone.now().date()
        with transaction.atomic():
            export = trail_export_request(actor=officer, brand=brand, client=client, start=first, end=last)
        assert export.job is not None
        log("export queued; running it in this process")
        began = time.perf_counter()
        status = job_execute(export.job.pk)
        took = time.perf_counter() - began
        job = Job.objects.get(pk=export.job.pk)
        if status != "done":
            raise SystemExit(f"the export job ended {status}: {job.failure_reason}")
        params = {"client": client.pk, "brand": brand.pk, "code": str(client.code), "kyc": KYC_EVENTS,
                  "consent": CONSENT_ACTIONS, "start": export.start, "end": export.end}
        plain_s, plain_rows = plain_sql(env, params)
        size = f"{count} events of one client ({job.result_rows} rows written, {plain_rows} read by plain SQL)"
        record("compliance_trail_export.client_10k_s", value=took, unit="s", limit=plain_s, goal="<= 10 s", size=size)
        record("compliance_trail_export.rows", value=float(job.result_rows or 0), unit="rows", limit=float(plain_rows),
               goal="info", size=size)
    finally:
        finish(env)


if __name__ == "__main__":
    main()
