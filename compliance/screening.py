"""Screening clients against the watchlists, and the officers' decisions on what it finds.

Screening: a client's name, date of birth and country go to the matcher (matching.Screener) over
the current version of every list; each hit above the matcher's threshold becomes a ScreeningHit in
the review queue, unless the same (client, list entry) pair
- already waits for review (one unresolved hit per pair, enforced by a partial unique index), or
- was decided (confirmed or dismissed) with the same client details and the same entry details: the
  hit keeps the hashes of both (`client_fingerprint`, `entry_fingerprint`), so that a pair an officer
  dismissed comes back only when the client's name, DOB or country, or the entry, changes.

When: at registration, at KYC submission and when the client's name, DOB or country changes (the
handlers in compliance/handlers.py queue `client_screen`), after each list version loads against
that version's added and changed entries only (`clients_rescreen_version`), and daily against
everything (`clients_rescreen_all`). A client whose name has no letter ("-1 -1", "123") has nothing
to screen and costs nothing (no index is built for it).

Memory. The two re-screens read the list entries in batches of settings.COMPLIANCE_SCREENING_ENTRY_BATCH
(`listed_entry_batches`), build the matcher's index over one batch, run every client past it
(CHUNK clients at a time, keyset pagination) and drop it before the next: a re-screen holds one
batch's index and one chunk of clients, however long the list (a list of N entries costs N / batch
passes over the clients instead). One client's screen (`client_screen`) uses the index of the
current lists kept per process (`current_screener`), its latency being what registration waits on,
while the lists hold no more entries than one batch; past that, it streams the batches as a
re-screen does (bounded memory; each screen then builds every batch's index, slower).

Decisions: an officer confirms a hit or dismisses it with a reason. At or above
settings.COMPLIANCE_SCREENING_HIGH_SCORE the first decision only proposes, and a second, different
officer approves it (or sends it back to the queue). On confirmation: the event
"compliance.hit_confirmed", a compliance task about the client for the deciding officer, and the
restriction hook `_restrict_on_confirmation`. Every step is a ScreeningDecision row and an audit row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from compliance import permissions
from compliance.exceptions import HitDecisionRefused
from compliance.models import (
    HIT_STATES,
    UNRESOLVED_HIT_STATUSES,
    HitAction,
    HitStatus,
    ListKind,
    RestrictionKind,
    RestrictionSource,
    ScreeningDecision,
    ScreeningHit,
    ScreeningTrigger,
    WatchlistEntry,
    WatchlistVersion,
)
from compliance.restrictions import impose_restriction
from compliance.selectors import listed_entries, listed_entry_batches, watchlist_current_versions
from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import NotAllowed, ValidationFailed
from crm.lib.approvals import FourEyes
from crm.lib.enqueue import task_named
from crm.lib.payloads import user_ref
from crm.models import Client, User
from crm.permissions import user_can
from matching import Hit, ListedEntry, Query, Screener, has_letters

logger = logging.getLogger(__name__)

DECIDE_PERMISSION = permissions.HIT_DECIDE
VIEW_PERMISSION = permissions.HIT_VIEW
# The client's details screening compares: a change of any of them screens the client again.
SCREENED_FIELDS = frozenset({"first_name", "last_name", "date_of_birth", "country", "nationality"})
CHUNK = 2000
DEFAULT_HIGH_SCORE = Decimal("0.95")
# List entries indexed at a time by a re-screen (about 10 KB of index each: 20,000 is some 200 MB).
DEFAULT_ENTRY_BATCH = 20_000
REASON_MAX = 2000


def entry_batch() -> int:
    """How many list entries a re-screen indexes at a time (its memory bound)."""
    return max(1, int(getattr(settings, "COMPLIANCE_SCREENING_ENTRY_BATCH", DEFAULT_ENTRY_BATCH)))


def high_score() -> Decimal:
    """The score at and above which a decision needs a second officer."""
    return Decimal(str(getattr(settings, "COMPLIANCE_SCREENING_HIGH_SCORE", DEFAULT_HIGH_SCORE)))


# --- what is screened -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Screened:
    """A client's details as screening compares them."""

    client_id: int
    name: str
    dob: dt.date | None
    country: str
    nationality: str = ""

    @classmethod
    def of(cls, client_id: int, first_name: str, last_name: str, dob: dt.date | None, country: str,
           nationality: str = "") -> Screened:
        name = " ".join(f"{first_name or ''} {last_name or ''}".split())
        return cls(client_id=client_id, name=name, dob=dob, country=(country or "").upper(),
                   nationality=(nationality or "").upper())

    def query(self) -> Query:
        return Query(full_name=self.name, dob=self.dob, country=self.country, nationality=self.nationality,
                     client_type="person", query_id=str(self.client_id))

    def as_dict(self) -> dict[str, str]:
        out = {"name": self.name, "dob": self.dob.isoformat() if self.dob else "", "country": self.country}
        if self.nationality:
            out["nationality"] = self.nationality
        return out

    @property
    def fingerprint(self) -> str:
        # Without a nationality, the fingerprint of the details as they were before it was recorded: a
        # dismissed pair stays dismissed until a detail actually changes.
        parts = [self.name.casefold(), self.as_dict()["dob"], self.country] + ([self.nationality] if self.nationality else [])
        text = json.dumps(parts, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()


_CLIENT_COLUMNS = ("pk", "first_name", "last_name", "date_of_birth", "country", "nationality")


def _screened_clients(clients: Iterable[tuple[Any, ...]]) -> Iterator[Screened]:
    for row in clients:
        screened = Screened.of(*row)
        if has_letters(screened.name):  # no letter, no name: nothing on any list can match it
            yield screened


def _client_chunks(client_ids: Iterable[int] | None = None) -> Iterator[list[Screened]]:
    """Clients in id order, CHUNK at a time (keyset pagination: no OFFSET over a million rows)."""
    qs = Client.objects.order_by("pk")
    if client_ids is not None:
        qs = qs.filter(pk__in=list(client_ids))
    last = 0
    while True:
        rows = list(qs.filter(pk__gt=last).values_list(*_CLIENT_COLUMNS)[:CHUNK])
        if not rows:
            return
        last = rows[-1][0]
        yield list(_screened_clients(rows))


# --- the screener over the current lists, kept per process ------------------------------------------

_screener_cache: dict[str, tuple[tuple[int, ...], Screener, dict[str, WatchlistVersion]]] = {}


def current_screener(versions: list[WatchlistVersion] | None = None) -> tuple[Screener, dict[str, WatchlistVersion]]:
    """The matcher over the current version of every list (`versions`, when the caller has read
    them), and those versions by list name.

    Building the index takes a while for a large list, so a process keeps it until a list gets a
    new version (the key is the set of current version ids, read on each call)."""
    versions = watchlist_current_versions() if versions is None else versions
    key = tuple(sorted(v.pk for v in versions))
    cached = _screener_cache.get("current")
    if cached is not None and cached[0] == key:
        return cached[1], cached[2]
    by_list = {v.watchlist.name: v for v in versions}
    screener = Screener(listed_entries(versions))
    _screener_cache["current"] = (key, screener, by_list)
    return screener, by_list


# --- recording what was found ---------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Found:
    screened: Screened
    hit: Hit
    version: WatchlistVersion


@dataclass
class ScreenReport:
    clients: int = 0
    alerts: int = 0  # hits above the threshold, before those already raised or decided are left out
    raised: int = 0  # new hits in the queue

    def add(self, other: ScreenReport) -> None:
        self.clients += other.clients
        self.alerts += other.alerts
        self.raised += other.raised


def _entry_rows(found: list[Found]) -> dict[tuple[int, str], tuple[int, str]]:
    """(version id, ent_num) -> (entry id, entry fingerprint), in one query."""
    wanted: dict[int, set[str]] = defaultdict(set)
    for f in found:
        wanted[f.version.pk].add(f.hit.entry.key)
    condition = Q()
    for version_id, nums in wanted.items():
        condition |= Q(version_id=version_id, ent_num__in=sorted(nums))
    rows = WatchlistEntry.objects.filter(condition).values_list("version_id", "ent_num", "pk", "fingerprint")
    return {(version_id, ent_num): (pk, fingerprint) for version_id, ent_num, pk, fingerprint in rows}


def _earlier_hits(found: list[Found]) -> dict[tuple[int, int, str], list[tuple[str, str, str]]]:
    """(client, list, ent_num) -> [(status, client fingerprint, entry fingerprint)] of earlier hits."""
    out: dict[tuple[int, int, str], list[tuple[str, str, str]]] = defaultdict(list)
    rows = ScreeningHit.objects.filter(
        client_id__in={f.screened.client_id for f in found}, ent_num__in={f.hit.entry.key for f in found},
    ).values_list("client_id", "watchlist_id", "ent_num", "status", "client_fingerprint", "entry_fingerprint")
    for client_id, watchlist_id, ent_num, status, client_fp, entry_fp in rows:
        out[(client_id, watchlist_id, ent_num)].append((status, client_fp, entry_fp))
    return out


def _suppressed(earlier: list[tuple[str, str, str]], client_fp: str, entry_fp: str) -> bool:
    """An unresolved hit of the pair is in the queue, or the pair was decided on the same details."""
    return any(status in UNRESOLVED_HIT_STATUSES or (client_fp == c_fp and entry_fp == e_fp)
               for status, c_fp, e_fp in earlier)


def _record(found: list[Found], *, trigger: str) -> list[ScreeningHit]:
    """Raise the hits in `found` that are neither waiting nor decided on the same details."""
    if not found:
        return []
    entries = _entry_rows(found)
    earlier = _earlier_hits(found)
    raised: list[ScreeningHit] = []
    for f in found:
        ent_num = f.hit.entry.key
        entry = entries.get((f.version.pk, ent_num))
        if entry is None:  # not reached: the screener was built from these versions' rows
            continue
        entry_id, entry_fp = entry
        key = (f.screened.client_id, f.version.watchlist_id, ent_num)
        client_fp = f.screened.fingerprint
        if _suppressed(earlier[key], client_fp, entry_fp):
            continue
        hit = ScreeningHit(
            client_id=f.screened.client_id, watchlist_id=f.version.watchlist_id, version=f.version,
            entry_id=entry_id, ent_num=ent_num, score=Decimal(str(f.hit.score)).quantize(Decimal("0.001")),
            matched_name=f.hit.name.text[:500], explanation=f.hit.explanation,
            matches=[{"typed": m.typed, "listed": m.listed, "how": m.how} for m in f.hit.comparison.matches],
            screened=f.screened.as_dict(), client_fingerprint=client_fp, entry_fingerprint=entry_fp,
            trigger=trigger,
        )
        try:
            with transaction.atomic():
                hit.save()
        except IntegrityError:
            continue  # raised by a screening running beside this one
        earlier[key].append((HitStatus.OPEN, client_fp, entry_fp))
        emit("compliance.hit_raised", brand=hit.client.brand_id, actor=None, data={
            "hit": str(hit.code), "client": str(hit.client.code), "list": f.version.watchlist.name,
            "ent_num": ent_num, "matched_name": hit.matched_name, "score": float(hit.score), "trigger": trigger,
        })
        raised.append(hit)
    return raised


def _screen_chunk(screener: Screener, chunk: list[Screened], versions: dict[str, WatchlistVersion],
                  *, trigger: str) -> ScreenReport:
    found = [Found(screened, hit, versions[hit.entry.list_name])
             for screened in chunk for hit in screener.screen(screened.query())
             if hit.entry.list_name in versions]
    with transaction.atomic():
        raised = _record(found, trigger=trigger)
    return ScreenReport(clients=len(chunk), alerts=len(found), raised=len(raised))


def client_screen(*, client_id: int, trigger: str) -> list[ScreeningHit]:
    """Screen one client against the current version of every list; returns the hits raised."""
    rows = Client.objects.filter(pk=client_id).values_list(*_CLIENT_COLUMNS)
    chunk = list(_screened_clients(rows))
    if not chunk:
        return []
    current = watchlist_current_versions()
    query = chunk[0].query()
    if sum(v.entry_count for v in current) <= entry_batch():
        screener, versions = current_screener(current)
        hits = screener.screen(query)
    else:  # more than one batch: not kept in memory, streamed (see the module's docstring)
        _screener_cache.clear()
        versions = {v.watchlist.name: v for v in current}
        hits = [hit for batch in listed_entry_batches(current, size=entry_batch()) for hit in Screener(batch).screen(query)]
    found = [Found(chunk[0], hit, versions[hit.entry.list_name]) for hit in hits if hit.entry.list_name in versions]
    with transaction.atomic():
        return _record(found, trigger=trigger)


def clients_rescreen_version(*, version_id: int) -> ScreenReport:
    """Screen every client against the entries `version` added or changed, and nothing else: a
    client already screened against the unchanged entries has nothing new to find there."""
    version = WatchlistVersion.objects.select_related("watchlist").get(pk=version_id)
    numbers = sorted({*version.added, *version.changed})
    report = ScreenReport()
    if not numbers:
        return report
    # A first load adds every entry: read them all in order rather than asking for each number.
    wanted = None if len(numbers) == version.entry_count else numbers
    versions = {version.watchlist.name: version}
    _rescreen_streamed(listed_entry_batches([version], ent_nums=wanted, size=entry_batch()), versions,
                       trigger=ScreeningTrigger.LIST_UPDATE, report=report)
    logger.info("re-screened clients after a list version", extra={
        "list": version.watchlist.name, "version": version.number, "entries": len(numbers),
        "clients": report.clients, "raised": report.raised})
    return report


def clients_rescreen_all() -> ScreenReport:
    """The daily run: every client against the current version of every list."""
    current = watchlist_current_versions()
    versions = {v.watchlist.name: v for v in current}
    report = ScreenReport()
    _rescreen_streamed(listed_entry_batches(current, size=entry_batch()), versions, trigger=ScreeningTrigger.DAILY,
                       report=report)
    return report


def _rescreen_streamed(batches: Iterable[list[ListedEntry]], versions: dict[str, WatchlistVersion], *, trigger: str,
                       report: ScreenReport) -> None:
    """Every client against each batch of entries in turn, one batch's index in memory at a time.
    `report.clients` counts the clients once (the passes of the first batch)."""
    for n, batch in enumerate(batches):
        screener = Screener(batch)
        del batch
        for chunk in _client_chunks():
            chunk_report = _screen_chunk(screener, chunk, versions, trigger=trigger)
            if n:
                chunk_report.clients = 0
            report.add(chunk_report)
        del screener


def rescreen_after_load(version: WatchlistVersion) -> None:
    """Queue the re-screening against `version`'s changes once its load commits."""
    version_id = version.pk

    def enqueue() -> None:
        from kombu.exceptions import OperationalError

        try:
            task_named("compliance.tasks.screening_rescreen_version").delay(version_id)
        except OperationalError:  # the daily run screens against everything anyway
            logger.warning("could not queue the re-screening", extra={"version_id": version_id}, exc_info=True)

    transaction.on_commit(enqueue)


def client_screen_enqueue(*, client_id: int, trigger: str) -> None:
    """Queue `client_screen` once the caller's transaction commits."""

    def enqueue() -> None:
        from kombu.exceptions import OperationalError

        try:
            task_named("compliance.tasks.screening_client").delay(client_id, trigger)
        except OperationalError:
            logger.warning("could not queue a client's screening", extra={"client_id": client_id}, exc_info=True)

    transaction.on_commit(enqueue)


# --- the officers' decisions ----------------------------------------------------------------------

def _require_officer(actor: Any) -> None:
    if not user_can(actor, DECIDE_PERMISSION):
        raise NotAllowed(gettext("You are not allowed to decide screening hits."))


def _locked(hit: ScreeningHit) -> ScreeningHit:
    return ScreeningHit.objects.select_for_update(of=("self",)).select_related(
        "client", "watchlist", "pending_by").get(pk=hit.pk)


def _reason(reason: str, *, required: bool) -> str:
    text = " ".join((reason or "").split())
    if required and not text:
        raise ValidationFailed(fields={"reason": [gettext("Give the reason for dismissing the hit.")]})
    if len(text) > REASON_MAX:
        raise ValidationFailed(fields={"reason": [gettext("At most %(n)s characters.") % {"n": REASON_MAX}]})
    return text


def _audit_after(hit: ScreeningHit) -> dict[str, Any]:
    return {"status": hit.status, "client": str(hit.client.code), "list": hit.watchlist.name,
            "ent_num": hit.ent_num, "score": str(hit.score)}


def _audit(hit: ScreeningHit, action: str, *, actor: User, before: str, reason: str, **after: Any) -> None:
    audit_record(action=f"compliance.{action}", obj=hit, actor=actor, reason=reason,
                 before={"status": before}, after={**_audit_after(hit), **after})


# At and above the high score (high_score(), a setting) a decision waits for a second, different
# officer; the proposal waits on the hit's own fields (pending_action, pending_reason, pending_by).
HIT_DECISION = FourEyes(
    name="screening hit decision", proposer_field="pending_by", value_fields=("pending_action", "pending_reason"),
    error=HitDecisionRefused, audit=audit_record, same_person_code="second_officer_required",
    # The approval is audited by the decision's row ("compliance.hit_confirmed", naming the approver).
    actions={"proposed": "compliance.hit_decision_proposed", "sent_back": "compliance.hit_sent_back"},
    needed=lambda hit, values: hit.score >= high_score(),
    same_person_approve=gettext_lazy("A second, different officer must approve this decision."),
    same_person_send_back=gettext_lazy("A second, different officer must review this decision."),
    not_pending=gettext_lazy("This hit is not waiting for a second officer."),
)


@transaction.atomic
def screening_hit_decide(*, hit: ScreeningHit, actor: User, action: str, reason: str = "") -> ScreeningHit:
    """Confirm a hit (the client is the listed person) or dismiss it as a false positive (a reason
    is required). At or above the high score the decision waits for a second officer (status
    pending); below it, it takes effect at once. HitDecisionRefused for a hit already decided or
    waiting for its second officer; nothing is written then."""
    _require_officer(actor)
    if action not in HitAction.values:
        raise ValidationFailed(fields={"action": [gettext("Confirm or dismiss.")]})
    text = _reason(reason, required=action == HitAction.DISMISS)
    hit = _locked(hit)
    values = {"pending_action": action, "pending_reason": text}
    needs_second = HIT_DECISION.needed(hit, values)
    decided = HitStatus.CONFIRMED if action == HitAction.CONFIRM else HitStatus.DISMISSED
    HIT_STATES.check(hit, HitStatus.PENDING if needs_second else decided)  # decided, or waiting: refused
    if needs_second:
        HIT_STATES.move(hit, HitStatus.PENDING, save=())
        ScreeningDecision.objects.create(hit=hit, step=ScreeningDecision.Step.PROPOSED, action=action,
                                         officer=actor, reason=text)
        HIT_DECISION.propose(hit, actor=actor, values=values, reason=text, before={"status": HitStatus.OPEN},
                             after={**_audit_after(hit), "proposed": action})
        return hit
    ScreeningDecision.objects.create(hit=hit, step=ScreeningDecision.Step.DECIDED, action=action, officer=actor,
                                     reason=text)
    return _take_effect(hit, action=action, reason=text, decided_by=actor, approved_by=None, before=HitStatus.OPEN)


@transaction.atomic
def screening_hit_approve(*, hit: ScreeningHit, actor: User) -> ScreeningHit:
    """The second officer approves the first officer's decision, which then takes effect. The
    officer who decided first cannot approve it (HitDecisionRefused)."""
    _require_officer(actor)
    hit = _locked(hit)
    if hit.status != HitStatus.PENDING:
        raise HitDecisionRefused(str(HIT_DECISION.not_pending))
    proposal = HIT_DECISION.approve(hit, actor=actor, reason=hit.pending_reason, before={"status": HitStatus.PENDING},
                                    after={**_audit_after(hit), "proposed": hit.pending_action})
    action, reason = proposal.values["pending_action"], proposal.values["pending_reason"]
    ScreeningDecision.objects.create(hit=hit, step=ScreeningDecision.Step.APPROVED, action=action,
                                     officer=actor, reason=reason)
    return _take_effect(hit, action=action, reason=reason, decided_by=proposal.by, approved_by=actor,
                        before=HitStatus.PENDING)


@transaction.atomic
def screening_hit_send_back(*, hit: ScreeningHit, actor: User, reason: str) -> ScreeningHit:
    """The second officer disagrees: the hit goes back to the queue, open, with the reason recorded.
    The officer who decided first cannot send it back either (they may not judge their own call)."""
    _require_officer(actor)
    text = _reason(reason, required=True)
    hit = _locked(hit)
    if hit.status != HitStatus.PENDING:
        raise HitDecisionRefused(str(HIT_DECISION.not_pending))
    proposal = HIT_DECISION.check_second(hit, actor=actor, sending_back=True)
    ScreeningDecision.objects.create(hit=hit, step=ScreeningDecision.Step.SENT_BACK,
                                     action=proposal.values["pending_action"], officer=actor, reason=text)
    HIT_STATES.move(hit, HitStatus.OPEN, save=())
    HIT_DECISION.send_back(hit, actor=actor, reason=text, before={"status": HitStatus.PENDING},
                           after={**_audit_after(hit), "proposed": proposal.values["pending_action"]})
    return hit


def _take_effect(hit: ScreeningHit, *, action: str, reason: str, decided_by: User | None, approved_by: User | None,
                 before: str) -> ScreeningHit:
    confirmed = action == HitAction.CONFIRM
    HIT_STATES.move(hit, HitStatus.CONFIRMED if confirmed else HitStatus.DISMISSED, save=(),
                    via="approve" if approved_by is not None else None,
                    also={"decided_by": decided_by, "approved_by": approved_by, "decision_reason": reason,
                          "decided_at": timezone.now()})
    actor = approved_by or decided_by
    assert actor is not None
    _audit(hit, "hit_confirmed" if confirmed else "hit_dismissed", actor=actor, before=before, reason=reason,
           decided_by=str(decided_by.code) if decided_by else "",
           approved_by=str(approved_by.code) if approved_by else "")
    # Not the client's event (see compliance.event_types): the client is named in the data.
    emit("compliance.hit_confirmed" if confirmed else "compliance.hit_dismissed", brand=hit.client.brand_id,
         actor=actor, data={"hit": str(hit.code), "client": str(hit.client.code), "list": hit.watchlist.name,
                            "ent_num": hit.ent_num, "score": float(hit.score), "reason": reason,
                            "decided_by": user_ref(decided_by), "approved_by": user_ref(approved_by)})
    if confirmed:
        _case_task_open(hit, by=actor)
        _restrict_on_confirmation(hit, by=actor)
    return hit


def _case_task_open(hit: ScreeningHit, *, by: User) -> None:
    """The AML case for the confirmed hit: a compliance task for the officer who confirmed it. Not
    attached to the client: a client's tasks are listed on the profile and its timeline for everyone
    who sees the client (the sales floor: tipping off); it links the hit's page, for officers only."""
    from django.urls import reverse

    from crm.services import task_create

    task_create(actor=by, assignee=by,
                title=gettext("Compliance case: %(name)s") % {"name": hit.client.full_name},
                description=gettext("Open the case and keep the client restricted: %(url)s") % {
                    "url": reverse("compliance_screening_hit", args=[hit.code])},
                due_at=timezone.now() + dt.timedelta(days=1))


def _restrict_on_confirmation(hit: ScreeningHit, *, by: User) -> None:
    """A confirmed sanctions hit freezes the client at once, inside the confirming transaction: no
    deposits, no withdrawals, no trading (the accounts go read-only after commit). The client can
    still sign in and is told in neutral words why money does not move. A confirmed PEP is not a
    freeze but enhanced due diligence: the case task alone. The reason is neutral too (restriction
    events reach the client's timeline, which the sales floor reads); the Compliance tab links the
    restriction's source, and the hit's page, for officers only, has the rest."""
    if hit.watchlist.kind != ListKind.SANCTIONS:
        return
    impose_restriction(client=hit.client, by=by, source=RestrictionSource.SCREENING,
                       kinds=[RestrictionKind.DEPOSIT, RestrictionKind.WITHDRAWAL, RestrictionKind.TRADING],
                       reason=gettext("Compliance review, case %(case)s") % {"case": str(hit.code)[:8]})
