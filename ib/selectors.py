"""Reads of the partner programme that views and other apps (the commission engine) use.

The hierarchy reads are one query each, whatever the depth (the materialised path, ib.models):
a subtree is `path @> ARRAY[id]` (GIN index), an ancestor chain `id = ANY(path)` of the partner's
row. "Whose client was C at T" is one indexed lookup; for many (client, time) pairs at once,
`partners_of_clients_at` answers with one statement."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Sum
from django.db.models.expressions import RawSQL
from django.db.models.functions import TruncMonth
from django.utils.functional import cached_property
from django.utils.translation import gettext

from crm.lib.money import Money, money_round
from crm.models import Client
from crm.selectors import mask_email, mask_phone
from ib.models import (
    LINE_ID_SHIFT,
    AttributionConflict,
    ClientAttribution,
    ClientDeposit,
    CommissionLine,
    CommissionRun,
    CommissionSettlement,
    CommissionShare,
    ConflictStatus,
    Partner,
    PartnerParentChange,
    RunKind,
    RunStatus,
    TrackingLink,
    line_key_parse,
    rule_digest,
)
from plumbing.hooks import HookPoint
from plumbing.sqlfiles import sql_text
from plumbing.sqlviews import Column, PublishedView
from trading.models import Deal


def partner_subtree(partner: Partner, *, include_self: bool = True) -> QuerySet[Partner]:
    """The partner and every partner below it, at any depth, ordered so that a parent comes before
    its children (by path)."""
    qs = Partner.objects.filter(path__contains=[partner.pk]).order_by("path")
    return qs if include_self else qs.exclude(pk=partner.pk)


def partner_ancestors(partner: Partner) -> QuerySet[Partner]:
    """The partners above `partner`, from the top down, read from its stored path (one query, not
    the in-memory one, so a move made meanwhile is seen)."""
    return (Partner.objects
            .filter(id__in=RawSQL(sql_text("ib", "partner_path"), [partner.pk]))  # noqa: S611 - a file's statement, its value bound
            .exclude(pk=partner.pk)
            .annotate(depth_in_path=F("path__len"))
            .order_by("depth_in_path"))


def attributions_at(at: dt.datetime) -> QuerySet[ClientAttribution]:
    """The attributions in force at `at` (one per client at most)."""
    return ClientAttribution.objects.filter(Q(effective_from__lte=at) & (Q(effective_to__isnull=True)
                                                                       | Q(effective_to__gt=at)))


def partner_of_client_at(client: Client | int, at: dt.datetime) -> Partner | None:
    """The partner `client` belonged to at `at`, or None."""
    client_id = client if isinstance(client, int) else client.pk
    row = attributions_at(at).filter(client_id=client_id).select_related("partner").first()
    return row.partner if row is not None else None


def partners_of_clients_at(pairs: Sequence[tuple[int, dt.datetime]]) -> dict[tuple[int, dt.datetime], int]:
    """For each (client id, time), the id of the partner the client belonged to then; pairs with
    none are left out. One statement for any number of pairs (the commission engine's join of deals
    to attributions has the same shape)."""
    if not pairs:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(sql_text("ib", "partners_of_clients_at"),
                       {"clients": [c for c, _t in pairs], "times": [t for _c, t in pairs]})
        return {(client_id, at): partner_id for client_id, at, partner_id in cursor.fetchall()}


def attribution_history(client: Client) -> QuerySet[ClientAttribution]:
    return (ClientAttribution.objects.filter(client=client).select_related("partner", "actor", "link")
            .order_by("-effective_from", "-id"))


def current_attribution(client: Client) -> ClientAttribution | None:
    return ClientAttribution.objects.filter(client=client, effective_to__isnull=True).select_related("partner").first()


def partner_clients(partner: Partner) -> QuerySet[ClientAttribution]:
    """The partner's clients now (its current attributions)."""
    return (ClientAttribution.objects.filter(partner=partner, effective_to__isnull=True)
            .select_related("client").order_by("-effective_from"))


def partner_parent_changes(partner: Partner) -> QuerySet[PartnerParentChange]:
    return PartnerParentChange.objects.filter(partner=partner).select_related("old_parent", "new_parent", "actor")


def open_conflicts(brand_ids: Iterable[int] | None) -> QuerySet[AttributionConflict]:
    qs = AttributionConflict.objects.filter(status=ConflictStatus.OPEN).select_related("client", "suggested", "brand")
    return qs if brand_ids is None else qs.filter(brand_id__in=list(brand_ids))


def claim_partners(conflicts: Iterable[AttributionConflict]) -> dict[int, Partner]:
    """The partners named in the conflicts' claims, read at once."""
    ids: set[Any] = {c.get("partner") for conflict in conflicts for c in conflict.claims}
    return Partner.objects.in_bulk([i for i in ids if isinstance(i, int)])


# --- a partner's figures: the partner portal and the IB manager's partner page read these ---------
#
# Earnings come from the commission lines of the latest finished regular run of each period (an
# older run of a period is superseded by its recalculation; what-if runs never count). A line is
# "payable" once that run is settled, "pending" before (the period is still being computed, or a
# recalculation is waiting to be settled). Sums are of the unrounded lines, rounded once here.
# Volume is in platform lots of closing trade deals (out, in/out, closed by), counted for the
# partner a client belonged to at the deal's time: the deals the rebates are paid on.

CLOSING_ENTRIES = ("out", "inout", "out_by")


def counting_run_ids() -> list[int]:
    """The runs whose lines count: the latest finished regular run of each brand and period."""
    return list(CommissionRun.objects.filter(kind=RunKind.REGULAR, status=RunStatus.DONE)
                .order_by("brand_id", "period", "-number").distinct("brand_id", "period").values_list("pk", flat=True))


def _counting(qs: QuerySet[Any]) -> QuerySet[Any]:
    """`qs` (lines or shares) of the latest finished regular run of their brand and period,
    annotated `is_payable` (the run was settled for the beneficiary). The runs are named by id (a
    handful), so that lines are filtered by their batch's run before a batch is unpacked."""
    counted: QuerySet[Any] = (qs.filter(run_id__in=counting_run_ids())
            # Settled per partner: a partner's settlement schedule settles its own totals (ib.settlement).
            .annotate(is_payable=Exists(CommissionSettlement.objects.filter(run_id=OuterRef("run_id"),
                                                                            partner_id=OuterRef("beneficiary_id")))))
    return counted


def current_lines() -> QuerySet[CommissionLine]:
    """Every line that counts (of the latest finished regular run of its brand and period),
    annotated `is_payable` (its run was settled for the line's partner)."""
    return _counting(CommissionLine.objects.all())


def partner_lines(partner: Partner) -> QuerySet[CommissionLine]:
    """The partner's own lines that count, newest first."""
    return current_lines().filter(beneficiary=partner).select_related("run").order_by("-business_time", "-id")


def partner_shares(partner: Partner) -> QuerySet[CommissionShare]:
    """The partner's lines that count, summed per batch (CommissionShare): what sums of its lines
    read, in as many rows as batches instead of lines."""
    return _counting(CommissionShare.objects.all()).filter(beneficiary=partner)


class PartnerLineList:
    """`partner_lines(partner)` as a list to page through (CappedPaginator), newest first.

    Lines are stored in batches of one business day (ib.models.CommissionBatch), and the newest
    fifty of a partner's millions would otherwise mean unpacking and sorting every one of them. The
    length is the sum of the partner's shares; a slice finds the days it covers from their counts
    and unpacks only those days' batches (the order by time is the order by day, then time)."""

    def __init__(self, partner: Partner) -> None:
        self.partner = partner

    @cached_property
    def _days(self) -> list[tuple[dt.date, int]]:
        rows = (partner_shares(self.partner).order_by().values("batch__day").annotate(n=Sum("lines"))
                .order_by("-batch__day").values_list("batch__day", "n"))
        return [(day, int(n)) for day, n in rows if n]

    def __len__(self) -> int:
        return sum(n for _day, n in self._days)

    def __getitem__(self, index: slice) -> list[CommissionLine]:
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError("PartnerLineList takes a slice")
        start, stop = max(index.start or 0, 0), len(self) if index.stop is None else index.stop
        seen, skip = 0, 0
        days: list[dt.date] = []
        for day, n in self._days:
            if seen + n > start and seen < stop:
                if not days:
                    skip = start - seen
                days.append(day)
            seen += n
        if not days or stop <= start:
            return []
        # The page's lines by (share, place): only the times of those days' batches are unpacked.
        with connection.cursor() as cursor:
            cursor.execute(PAGE_SQL, {"partner": self.partner.pk, "runs": counting_run_ids(), "days": days,
                                      "skip": skip, "n": stop - start, "shift": LINE_ID_SHIFT})
            keys = [(share_id, ordinal) for share_id, ordinal in cursor.fetchall()]
        if not keys:
            return []
        wanted = Q(pk__in=[])
        for share_id, ordinal in keys:
            wanted |= Q(share_id=share_id, ordinal=ordinal)
        found = {(line.share_id, line.ordinal): line for line in partner_lines(self.partner).filter(wanted)}
        return [found[key] for key in keys if key in found]


# A page of a partner's counted lines of some days, newest first: (share, place in its batch).
PAGE_SQL = """
WITH sh AS MATERIALIZED (
    SELECT s.id, s.batch_id FROM ib_commissionshare s JOIN ib_commissionbatch b ON b.id = s.batch_id
    WHERE s.beneficiary_id = %(partner)s AND s.run_id = ANY(%(runs)s) AND b.day = ANY(%(days)s::date[])
)
SELECT sh.id, u.ordinal FROM sh JOIN ib_commissionbatch b ON b.id = sh.batch_id
CROSS JOIN LATERAL unnest(b.times) WITH ORDINALITY AS u(t, ordinal)
ORDER BY u.t DESC, sh.id * %(shift)s + u.ordinal DESC OFFSET %(skip)s LIMIT %(n)s
"""


@dataclass
class Earnings:
    """Per currency, each at the currency's minor unit (rounded once, half-even: crm.lib.money)."""

    pending: list[Money] = field(default_factory=list)
    payable: list[Money] = field(default_factory=list)


def partner_earnings(partner: Partner) -> Earnings:
    """The partner's earnings per currency, pending and payable (one query)."""
    rows = (partner_shares(partner).order_by().values("currency")
            .annotate(pending=Sum("amount", filter=Q(is_payable=False)), payable=Sum("amount", filter=Q(is_payable=True)))
            .order_by("currency"))
    out = Earnings()
    for row in rows:
        if row["pending"] is not None:
            out.pending.append(Money(row["pending"], row["currency"]).quantize())
        if row["payable"] is not None:
            out.payable.append(Money(row["payable"], row["currency"]).quantize())
    return out


def _attributed_deals(partners: Q, *, start: dt.datetime | None = None, end: dt.datetime | None = None) -> QuerySet[Deal]:
    """Closing trade deals of clients while they belonged to the partners `partners` selects (a Q
    on the attribution's partner, prefixed `account__client__partner_attributions__partner__`)."""
    prefix = "account__client__partner_attributions__"
    at_the_time = (Q(**{f"{prefix}effective_from__lte": F("time")})
                   & (Q(**{f"{prefix}effective_to__isnull": True}) | Q(**{f"{prefix}effective_to__gt": F("time")})))
    qs = Deal.objects.filter(partners, at_the_time, kind="trade", entry__in=CLOSING_ENTRIES, deleted_at__isnull=True)
    if start is not None:
        qs = qs.filter(time__gte=start)
    if end is not None:
        qs = qs.filter(time__lt=end)
    return qs


def month_bounds(at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The calendar month (UTC) around `at`, as the commission periods are."""
    start = at.astimezone(dt.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = start.replace(year=start.year + (start.month == 12), month=start.month % 12 + 1)
    return start, end


def partner_lots(partner: Partner, *, start: dt.datetime | None = None, end: dt.datetime | None = None) -> Decimal:
    """Lots its own clients closed in [start, end), while they were its clients."""
    total = (_attributed_deals(Q(account__client__partner_attributions__partner=partner), start=start, end=end)
             .aggregate(lots=Sum("volume"))["lots"])
    return total or Decimal("0")


def partner_client_count(partner: Partner) -> int:
    return ClientAttribution.objects.filter(partner=partner, effective_to__isnull=True).count()


@dataclass
class PartnerFigures:
    """What the dashboard and the IB manager's partner page both show."""

    earnings: Earnings
    month_lots: Decimal
    clients: int
    month_start: dt.datetime


def partner_figures(partner: Partner, *, at: dt.datetime) -> PartnerFigures:
    start, end = month_bounds(at)
    return PartnerFigures(earnings=partner_earnings(partner), month_lots=partner_lots(partner, start=start, end=end),
                          clients=partner_client_count(partner), month_start=start)


@dataclass
class PartnerSeries:
    """Month by month, for the charts of the dashboard and the IB manager's partner page: the
    partner's earnings (its counted lines by their period, payable and pending per currency,
    rounded per month for the chart) and the lots closed by its own clients and by its network's."""

    labels: list[str]
    earnings: list[dict[str, Any]]
    lots: list[dict[str, Any]]


def partner_series(partner: Partner, *, at: dt.datetime, months: int = 12) -> PartnerSeries:
    last, end = month_bounds(at)
    firsts = [last]
    while len(firsts) < months:
        firsts.insert(0, (firsts[0] - dt.timedelta(days=1)).replace(day=1))
    index = {first.date(): i for i, first in enumerate(firsts)}
    earned: dict[tuple[str, bool], list[float]] = {}
    for row in (partner_shares(partner).filter(run__period__gte=firsts[0].date()).order_by()
                .values("run__period", "currency", "is_payable")  # type: ignore[misc]  # annotated by current_lines
                .annotate(total=Sum("amount"))):
        series = earned.setdefault((row["currency"], row["is_payable"]), [0.0] * len(firsts))
        series[index[row["run__period"]]] = float(money_round(row["total"], row["currency"]))
    earnings = [{"label": f"{gettext('Payable') if payable else gettext('Pending')} {currency}", "data": data,
                 "stack": currency}
                for (currency, payable), data in sorted(earned.items(), key=lambda kv: (kv[0][0], not kv[0][1]))]
    month = TruncMonth("time", tzinfo=dt.UTC)
    who = "account__client__partner_attributions__partner_id"
    own = [0.0] * len(firsts)
    network = [0.0] * len(firsts)
    for row in (_attributed_deals(Q(account__client__partner_attributions__partner__path__contains=[partner.pk]),
                                  start=firsts[0], end=end)
                .annotate(month=month).values("month", who).annotate(lots=Sum("volume")).order_by()):
        i = index.get(row["month"].date())
        if i is not None:
            (own if row[who] == partner.pk else network)[i] += float(row["lots"] or 0)
    lots = [{"label": gettext("Your clients"), "data": own, "stack": "lots"},
            {"label": gettext("Your network's clients"), "data": network, "stack": "lots"}]
    return PartnerSeries(labels=[f"{first:%Y-%m}" for first in firsts], earnings=earnings, lots=lots)


@dataclass
class NetworkRow:
    partner: Partner
    level: int  # 0 the partner itself, 1 a direct sub-IB, ...
    clients: int = 0
    month_lots: Decimal = Decimal("0")
    lots: Decimal = Decimal("0")
    commission: list[Money] = field(default_factory=list)  # earned by the viewing partner through it


def partner_network(partner: Partner, *, at: dt.datetime) -> list[NetworkRow]:
    """The partner's subtree (itself first, a parent before its children) with each node's current
    clients, the lots its clients closed this month and in all, and what the viewing partner earned
    from the deals of that node's clients (its lines whose chain ends at the node). Four queries
    whatever the tree's size."""
    nodes = list(partner_subtree(partner).select_related(None))
    rows = {node.pk: NetworkRow(node, node.depth - partner.depth) for node in nodes}
    in_tree = Q(partner__path__contains=[partner.pk])
    for row in (ClientAttribution.objects.filter(in_tree, effective_to__isnull=True)
                .values("partner_id").annotate(n=Count("id"))):
        rows[row["partner_id"]].clients = row["n"]
    start, end = month_bounds(at)
    who = "account__client__partner_attributions__partner_id"
    for row in (_attributed_deals(Q(account__client__partner_attributions__partner__path__contains=[partner.pk]))
                .values(who).annotate(lots=Sum("volume"), month=Sum("volume", filter=Q(time__gte=start, time__lt=end)))):
        if row[who] in rows:
            rows[row[who]].lots = row["lots"] or Decimal("0")
            rows[row[who]].month_lots = row["month"] or Decimal("0")
    for via, currency, total in (partner_shares(partner).order_by().values("batch__partner_id", "currency")
                                 .annotate(total=Sum("amount")).order_by("currency")
                                 .values_list("batch__partner_id", "currency", "total")):
        if via in rows:
            rows[via].commission.append(Money(total, currency).quantize())
    return [rows[node.pk] for node in nodes]


@dataclass
class ClientRow:
    """A referred client as the partner sees it: never the full name, address or number."""

    name: str
    email: str
    phone: str
    country: str
    stage: str
    since: dt.datetime
    deposits: list[Money]
    lots: Decimal


def mask_name(first_name: str, last_name: str) -> str:
    """"Maria Lopez" -> "Maria L."."""
    first = (first_name or "").strip()
    last = (last_name or "").strip()
    return f"{first} {last[:1]}.".strip() if last else first


def partner_client_attributions(partner: Partner) -> QuerySet[ClientAttribution]:
    """The partner's clients now (its own, not its sub-IBs'), newest first."""
    return partner_clients(partner).order_by("-effective_from", "-id")


def partner_client_rows(partner: Partner, attributions: Iterable[ClientAttribution]) -> list[ClientRow]:
    """`attributions` (a page of partner_client_attributions) as masked rows with each client's
    confirmed deposits and the lots closed while the client was the partner's. Two queries."""
    attributions = list(attributions)
    ids = [a.client_id for a in attributions]
    deposits: dict[int, list[Money]] = {}
    for row in (ClientDeposit.objects.filter(client_id__in=ids).values("client_id", "currency")
                .annotate(total=Sum("amount")).order_by("client_id", "currency")):
        deposits.setdefault(row["client_id"], []).append(
            Money(row["total"], row["currency"]).quantize())
    lots = {row["account__client_id"]: row["lots"] for row in
            _attributed_deals(Q(account__client__partner_attributions__partner=partner, account__client_id__in=ids))
            .values("account__client_id").annotate(lots=Sum("volume"))}
    out = []
    for a in attributions:
        client: Client = a.client
        out.append(ClientRow(name=mask_name(client.first_name, client.last_name), email=mask_email(client.email),
                             phone=mask_phone(client.phone), country=client.country,
                             stage=client.get_stage_display(), since=a.effective_from,
                             deposits=deposits.get(a.client_id, []), lots=lots.get(a.client_id) or Decimal("0")))
    return out


def partner_links(partner: Partner) -> QuerySet[TrackingLink]:
    """The partner's links and codes with their click counts (bots left out), newest first."""
    return partner.links.annotate(click_count=Count("clicks", filter=Q(clicks__is_bot=False))).order_by(
        "-created_at", "-id")


@dataclass
class LineExplanation:
    """Everything that made one commission line, for the partner's "why this amount" page."""

    line: CommissionLine
    status: str  # "payable" or "pending"
    deal: Deal | None
    lots: Decimal | None  # rebate lots of the deal (per-lot rules)
    client_name: str
    version: Any  # PlanVersion | None
    rule: Any  # PlanRule | None
    percent: bool  # the rate is a percentage of the basis (revenue share)
    path: list[Partner]  # from the viewing partner down to the client's own partner

    @property
    def tier_by_lots(self) -> bool:
        """The rule's tiers count lots (else active client accounts)."""
        tiers = getattr(self.rule, "tiers", None) or []
        return bool(tiers) and "min_lots" in tiers[0]


def partner_line_by_key(partner: Partner, key: str) -> CommissionLine | None:
    """The partner's line named `key` (ib.models.line_key) in the run that counts now, or None
    (not its line, no longer earning, or not a key: the same answer). Only the batches that can
    hold it are unpacked: a deal's, those of its day; a CPA's or a clawback's, those of that kind."""
    parsed = line_key_parse(key)
    if parsed is None or parsed.beneficiary_id != partner.pk:
        return None
    lines = partner_lines(partner).filter(source_kind=parsed.source_kind, source_id=parsed.source_id)
    if parsed.source_kind == "deal":
        time = Deal.objects.filter(pk=parsed.source_id).values_list("time", flat=True).first()
        if time is None:
            return None
        lines = lines.filter(batch_day=time.astimezone(dt.UTC).date())
    return next((line for line in lines if rule_digest(line.rule_code) == parsed.rule_digest), None)


def partner_line_explanation(partner: Partner, key: str) -> LineExplanation | None:
    """One of the partner's counted lines, named by its key, with its sources, or None (not its
    line, no longer earning, or no such line: the same answer)."""
    line = partner_line_by_key(partner, key)
    return None if line is None else line_explanation(line, partner)


def line_explanation(line: CommissionLine, partner: Partner) -> LineExplanation:
    """Everything that made `line`, seen from `partner` (its beneficiary: the chain from it down).
    `line.is_payable` is read when the line was annotated with it (current_lines), else False."""
    from ib.models import PlanRule, PlanVersion

    deal = (Deal.objects.select_related("account").filter(pk=line.source_id).first()
            if line.source_kind == "deal" else None)
    version = (PlanVersion.objects.select_related("plan").filter(pk=line.plan_version_id).first()
               if line.plan_version_id else None)
    rule = (PlanRule.objects.select_related("instrument_group").filter(pk=line.rule_id).first()
            if line.rule_id else None)
    client = Client.objects.filter(pk=line.client_id).only("first_name", "last_name").first() if line.client_id else None
    chain = list(line.chain)
    below = chain[chain.index(partner.pk):] if partner.pk in chain else [partner.pk]
    names = Partner.objects.in_bulk(below)
    return LineExplanation(
        line=line, status="payable" if getattr(line, "is_payable", False) else "pending", deal=deal,
        lots=line.basis if rule is not None and rule.kind == "per_lot" else None,
        client_name=mask_name(client.first_name, client.last_name) if client else "",
        version=version, rule=rule, percent=rule is not None and rule.kind == "revshare",
        path=[names[i] for i in below if i in names])


def partner_names(ids: Iterable[int]) -> dict[str, str]:
    """Partners' display names by their id (as text: the reporting hub keys its figures by it)."""
    return {str(pk): name for pk, name in Partner.objects.filter(pk__in=list(ids)).values_list("pk", "display_name")}


def instrument_specs() -> list[tuple[int, str, Decimal, Decimal, str, Decimal | None]]:
    """Every brand's instruments as the commission engine prices a spread: (brand id, symbol,
    contract size, units per standard lot (the symbol's, else its group's), profit currency,
    markup per standard lot or None). What the reporting hub values the broker's spread with."""
    from django.db.models.functions import Coalesce

    from ib.models import Instrument

    return [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in Instrument.objects.order_by("brand_id", "symbol")
            .annotate(units=Coalesce("units_per_lot", "group__units_per_lot"))
            .values_list("brand_id", "symbol", "contract_size", "units", "profit_currency", "markup_per_lot")]


def partner_labels(ids: Iterable[int]) -> dict[int, tuple[str, Any]]:
    """{partner id: (display name, code)} of the partners `ids` (an alert's evidence links)."""
    return {pk: (name, code) for pk, name, code in
            Partner.objects.filter(pk__in=list(ids)).values_list("pk", "display_name", "code")}


# --- panels higher apps add to the partner's page -------------------------------------------------
# monitoring (above ib) draws the partner's linked accounts there: `panel(request=..., partner=...)`
# returns {"template": ..., **context} or None when it has nothing to show to that user.

PARTNER_PANELS: HookPoint[Any] = HookPoint("ib.partner_panels")


def register_partner_panel(panel: Any) -> None:
    PARTNER_PANELS.register(panel)


def partner_panels(*, request: Any, partner: Partner) -> list[dict[str, Any]]:
    """The panels the registered apps give for `partner`'s page, in registration order."""
    return [p for p in (panel(request=request, partner=partner) for panel in PARTNER_PANELS) if p]


# --- published views --------------------------------------------------------------------------------
# What other apps' SQL may read of partners (plumbing.sqlviews): created by ib's migration 0018 (0020
# publishes the partner's contact email as its keyed hash), checked by tests/ib/test_published_views.py.
# Nobody else names ib's tables.

_IB_STAMP = "timestamp with time zone"

PARTNERS_VIEW = PublishedView(
    name="ib_public_partners",
    purpose="Every partner of every brand, whatever its status, with its own client record when it trades "
            "with the brand too. One row per partner.",
    columns=(
        Column("id", "bigint", "the partner's row id (ib_public_attributions.partner_id)"),
        Column("code", "uuid", "its code (its page: /ib/partners/<code>/)"),
        Column("brand_id", "bigint", "its brand"),
        Column("status", "character varying(10)", "its status", values=("applied", "active", "suspended",
                                                                           "rejected", "closed")),
        Column("client_id", "bigint", "its own client record (crm_public_clients.id); NULL when none"),
        Column("contact_email_hash", "character varying(64)", "keyed hash of its contact email lower-cased "
                                                              "(hex; the address itself is encrypted): compare "
                                                              "it with crm_public_clients.email_hash"),
        Column("created_at", _IB_STAMP, "when it was created"),
    ),
)

ATTRIBUTIONS_VIEW = PublishedView(
    name="ib_public_attributions",
    purpose="Which partner a client belonged to, when: one row per attribution, from effective_from until "
            "effective_to (NULL: still). A client has at most one open attribution.",
    columns=(
        Column("id", "bigint", "the attribution's row id"),
        Column("client_id", "bigint", "the client (crm_public_clients.id)"),
        Column("partner_id", "bigint", "the partner (ib_public_partners.id)"),
        Column("effective_from", _IB_STAMP, "from when the client was the partner's"),
        Column("effective_to", _IB_STAMP, "until when; NULL while it still is"),
    ),
)

PUBLISHED_VIEWS = (PARTNERS_VIEW, ATTRIBUTIONS_VIEW)


def partner_min_hold_seconds(partner: Partner, at: dt.datetime | None = None) -> int:
    """The minimum holding time (seconds) of the plan version in force for `partner` at `at` (now):
    a trade closed sooner earns no per-lot or spread commission, so the partner portal says so
    beside the lines and the lots (0: no minimum, or no plan)."""
    from django.utils import timezone

    from ib.models import PlanVersion
    from ib.onboarding import current_plan

    at = at or timezone.now()
    plan = current_plan(partner, at)
    if plan is None:
        return 0
    version = (PlanVersion.objects.filter(plan=plan, effective_from__lte=at)
               .order_by("-effective_from", "-recorded_at").first())
    return int(version.min_hold_seconds) if version is not None else 0
