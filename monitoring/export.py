"""The activity export: EVENTS.jsonl and CONTEXT.json in the backtest command's format (README,
"Agent behaviour monitoring: the backtest"), from the product's tables, as a django-rq job whose
result is a ZIP holding both files. Run through `manage.py monitoring_backtest` it gives the scores
the product's own scoring gives on the same history (tests/monitoring/test_export.py)."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, date, datetime, time, timedelta
from typing import IO, Any

from django.db import connection, transaction
from django.utils.translation import gettext

from crm.audit import audit_record
from crm.exceptions import NotAllowed, ValidationFailed
from crm.jobs import JobHandle, job_start
from crm.models import Brand, Job, RoleCode, User
from crm.permissions import user_can
from monitoring.pipeline import brand_agents, brand_context
from monitoring.recording import large_movement_threshold
from plumbing.sqlfiles import sql_text

EXPORT_JOB_KIND = "monitoring.activity_export"
CHUNK = 5000


def context_as_dict(brand: Brand | int) -> dict[str, Any]:
    """CONTEXT.json of the brand: its agents and what the managers recorded."""
    agents = brand_agents(brand)
    ctx = brand_context(brand, agents=agents)

    def d(value: date | None) -> str | None:
        return value.isoformat() if value is not None else None

    # each fact with the day it was entered (`known_from`): the backtest replays the history with what
    # was known each day; `--context-known-at-end` reads them as the nightly rescore does
    return {
        "agents": [{"id": a.id, "role": a.role, "desk": a.desk, "joined": d(a.joined), "left": d(a.left),
                    "notice_given": d(a.notice_given), "notice_known_from": d(a.notice_known_on),
                    "shift_start": a.shift_start, "shift_end": a.shift_end,
                    "shifts": [{"from": d(since), "start": start, "end": end} for since, start, end in a.shifts]}
                   for a in ctx.agents.values()],
        "cover": [{"agent": c.agent, "covers": c.covers, "from": d(c.start), "to": d(c.end), "known_from": d(c.known_on)}
                  for c in ctx.cover],
        "leave": [{"agent": lv.agent, "from": d(lv.start), "to": d(lv.end), "known_from": d(lv.known_on)}
                  for lv in ctx.leave],
        "campaign_days": [{"desk": desk, "date": d(day), "known_from": d(ctx.campaign_days[(desk, day)])}
                          for desk, day in sorted(ctx.campaign_days)],
        "holidays": [d(day) for day in sorted(ctx.holidays)],
    }


def events_write(out: IO[str], *, brand: Brand | int, start: date | None = None, end: date | None = None,
                 handle: JobHandle | None = None) -> int:
    """EVENTS.jsonl of the brand's agents, in time order (ties by id), `start` to `end` inclusive
    (default: all). Streams from a server-side cursor; returns the number of lines."""
    agent_ids = [a.pk for a in brand_agents(brand)]
    lo = datetime.combine(start, time(0), tzinfo=UTC) if start else datetime(1970, 1, 1, tzinfo=UTC)
    hi = datetime.combine(end + timedelta(days=1), time(0), tzinfo=UTC) if end else datetime(9999, 1, 1, tzinfo=UTC)
    written = 0
    with transaction.atomic(), connection.chunked_cursor() as cur:
        cur.execute(sql_text("monitoring", "features/export_events"), {"agents": agent_ids, "start": lo, "end": hi, "large": large_movement_threshold()})
        while True:
            rows = cur.fetchmany(CHUNK)
            if not rows:
                break
            for ident, at, agent, kind, client, owner, high, nrows, duration, money_near in rows:
                out.write(json.dumps({
                    "id": str(ident), "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "agent": str(agent), "kind": kind, "client": str(client) if client is not None else "",
                    "client_owner": str(owner) if owner is not None else "", "client_high_value": bool(high),
                    "rows": nrows or 0, "duration_s": duration or 0, "client_money_near": bool(money_near),
                }, separators=(",", ":")) + "\n")
            written += len(rows)
            if handle is not None:
                handle.progress(written, events=written)
    return written


def activity_export_allowed(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False)
                and (user.is_administrator or (user.role_code == RoleCode.COMPLIANCE
                                               and user_can(user, "monitoring.review_monitoringalert"))))


@transaction.atomic
def activity_export_request(*, actor: User, brand: Brand, start: date | None = None,
                            end: date | None = None) -> Job:
    """Start the export of the brand's activity (administrators and compliance officers: it holds
    every agent's activity)."""
    if not activity_export_allowed(actor) or not (actor.all_brands or actor.brands.filter(pk=brand.pk).exists()):
        raise NotAllowed(gettext("Only administrators and compliance officers may export the agents' activity."))
    if start and end and end < start:
        raise ValidationFailed(fields={"end": [gettext("The end is before the start.")]})
    audit_record(action="monitoring.activity_export", obj=brand, actor=actor,
                 after={"start": start.isoformat() if start else None, "end": end.isoformat() if end else None})
    return job_start(kind=EXPORT_JOB_KIND, actor=actor, brand=brand, title=f"Agent activity export: {brand.name}",
                     func="monitoring.export.activity_export_job",
                     kwargs={"brand_id": brand.pk, "start": start.isoformat() if start else None,
                             "end": end.isoformat() if end else None})


def activity_export_job(handle: JobHandle, *, brand_id: int, start: str | None = None, end: str | None = None) -> int:
    """The django-rq job: a ZIP with EVENTS.jsonl and CONTEXT.json."""
    first = date.fromisoformat(start) if start else None
    last = date.fromisoformat(end) if end else None
    with handle.result_file("agent-activity.zip", binary=True) as raw, \
            zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("EVENTS.jsonl", "w") as member:
            import io

            text = io.TextIOWrapper(member, encoding="utf-8", newline="\n")
            lines = events_write(text, brand=brand_id, start=first, end=last, handle=handle)
            text.flush()
            text.detach()
        archive.writestr("CONTEXT.json", json.dumps(context_as_dict(brand_id), indent=1))
    handle.progress(lines, lines, force=True, check=False, events=lines)
    return lines
