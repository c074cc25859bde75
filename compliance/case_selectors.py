"""Reads of compliance cases: the cases a user may see (officers only, within their scope), the
queue with its filters and SLA age, and the client's whole history beside a case, read through the
other apps' selectors only.

The trader's room (portal) sits above compliance: it lends its sign-ins (IP and device) and the
clients sharing them through the hook points `LOGIN_SOURCES` and `RELATED_SOURCES`, registered in its
AppConfig.ready, so compliance never imports it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Prefetch, QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from compliance.cases import VIEW_PERMISSION
from compliance.models import UNCLOSED_CASE_STATUSES, Case, CaseStatus, ScreeningDecision, ScreeningHit
from crm.exceptions import NotFound, ValidationFailed
from crm.models import Client
from crm.permissions import client_queryset_for_user, code_or_404, user_can
from plumbing.graphs import StarNode, star_graph
from plumbing.hooks import HookPoint

CASE_PAGE_SIZE = 50
HISTORY_ROWS = 50


def screening_hits_for_client(*, client: Client) -> QuerySet[ScreeningHit]:
    """A client's hits, newest first, with their decisions (for the profile's Compliance tab)."""
    return (ScreeningHit.objects.filter(client=client)
            .select_related("watchlist", "decided_by", "approved_by", "pending_by")
            .prefetch_related(Prefetch("decisions", queryset=ScreeningDecision.objects.select_related("officer")))
            .order_by("-created_at", "-pk"))


@dataclass(frozen=True)
class LoginRow:
    at: dt.datetime
    ip: str
    device: str


@dataclass(frozen=True)
class Link:
    """Another client linked to the case's client by what they share (`via`: instrument, ip,
    device, address) and what it is (`value`, masked where it is personal)."""

    client_id: int
    via: str
    value: str


LoginSource = Callable[..., list[LoginRow]]
RelatedSource = Callable[..., list[Link]]
LOGIN_SOURCES: HookPoint[LoginSource] = HookPoint("compliance.case_logins")
RELATED_SOURCES: HookPoint[RelatedSource] = HookPoint("compliance.case_related")


def register_login_source(source: LoginSource) -> None:
    """`source(client=..., limit=...)` -> the client's sign-ins, newest first."""
    LOGIN_SOURCES.register(source)


def register_related_source(source: RelatedSource) -> None:
    """`source(client=..., limit=...)` -> Links to other clients sharing something with the client."""
    RELATED_SOURCES.register(source)


# --- cases -------------------------------------------------------------------------------------------

def cases_for_user(user: Any) -> QuerySet[Case]:
    """The cases `user` may see: none without "compliance.view_case" (the sales floor sees nothing of
    a case: tipping off); else the cases of the clients within the user's scope, in SQL."""
    if not user_can(user, VIEW_PERMISSION):
        return Case.objects.none()
    return Case.objects.filter(client__in=client_queryset_for_user(user))


def case_get_for_user(user: Any, code: Any) -> Case:
    """The case with `code` if `user` may see it; NotFound if it is missing or out of reach."""
    case = (cases_for_user(user).select_related("client", "client__brand", "assignee", "proposed_by", "decided_by",
                                                "approved_by").filter(code=code_or_404(code)).first())
    if case is None:
        raise NotFound()
    return case


def case_queue(*, user: Any, status: str = "unclosed", assignee: str = "", priority: str = "",
               overdue: bool = False, now: dt.datetime | None = None) -> QuerySet[Case]:
    """The queue as `user` sees it: by status ("unclosed": open, in review, waiting for a second
    officer; "" for all), assignee ("me", "none", or a staff code), priority, overdue only; most
    urgent (earliest due) first, with the number of items."""
    now = now or timezone.now()
    qs = cases_for_user(user).select_related("client", "assignee").annotate(item_count=Count("items"))
    if status == "unclosed":
        qs = qs.filter(status__in=UNCLOSED_CASE_STATUSES)
    elif status:
        qs = qs.filter(status=status)
    if assignee == "me":
        qs = qs.filter(assignee=user)
    elif assignee == "none":
        qs = qs.filter(assignee__isnull=True)
    elif assignee:
        try:
            qs = qs.filter(assignee__code=uuid.UUID(assignee))
        except ValueError:
            raise ValidationFailed(fields={"assignee": gettext("Enter me, none, or an officer's code.")}) from None
    if priority:
        qs = qs.filter(priority=priority)
    if overdue:
        qs = qs.filter(due_at__lt=now).exclude(status=CaseStatus.CLOSED)
    return qs.order_by("due_at", "pk")


def cases_exist() -> bool:
    """Whether any case was ever opened (the demo seeds one only on a fresh database)."""
    return Case.objects.exists()


def cases_for_client(*, user: Any, client: Client) -> QuerySet[Case]:
    return cases_for_user(user).filter(client=client).order_by("-opened_at", "-pk")


# --- the client's history beside a case ---------------------------------------------------------------

@dataclass
class History:
    kyc: list[Any] = field(default_factory=list)
    deposits: list[Any] = field(default_factory=list)
    withdrawals: list[Any] = field(default_factory=list)
    transfers: list[Any] = field(default_factory=list)
    accounts: list[Any] = field(default_factory=list)
    deals: list[Any] = field(default_factory=list)
    logins: list[LoginRow] = field(default_factory=list)
    hits: list[Any] = field(default_factory=list)
    related: list[dict[str, Any]] = field(default_factory=list)
    graph: dict[str, Any] = field(default_factory=dict)


def client_history(*, client: Client, user: Any, limit: int = HISTORY_ROWS) -> History:
    """The client's history for the case page, each part through its owning app's selectors."""
    from kyc.selectors import submissions_for_client
    from trading.selectors import accounts_for_client, recent_deals_for_client
    from wallet.selectors import deposits_for_client, transfers_for_client, withdrawals_for_client

    history = History(
        kyc=list(submissions_for_client(client=client)[:limit]),
        deposits=list(deposits_for_client(client=client)[:limit]),
        withdrawals=list(withdrawals_for_client(client=client)[:limit]),
        transfers=list(transfers_for_client(client=client)[:limit]),
        accounts=accounts_for_client(client=client, days=365),
        deals=recent_deals_for_client(client=client, days=365, limit=limit),
        hits=list(screening_hits_for_client(client=client)[:limit]),
    )
    for login_source in LOGIN_SOURCES:
        history.logins += login_source(client=client, limit=limit)
    history.logins.sort(key=lambda row: row.at, reverse=True)
    history.related = related_clients(client=client, user=user)
    history.graph = related_graph(client, history.related)
    return history


def related_clients(*, client: Client, user: Any, limit: int = 20) -> list[dict[str, Any]]:
    """Other clients sharing an instrument, device, IP or address with `client`, within `user`'s
    scope: [{"client", "links": [Link]}], most links first."""
    from kyc.selectors import clients_sharing_address
    from wallet.selectors import clients_sharing_payout_destinations

    links: dict[int, list[Link]] = {}
    found = [Link(client_id=pk, via="instrument", value=masked)
             for pk, masked in clients_sharing_payout_destinations(client=client, limit=limit)]
    found += [Link(client_id=pk, via="address", value=where)
              for pk, where in clients_sharing_address(client=client, limit=limit)]
    for source in RELATED_SOURCES:
        found += source(client=client, limit=limit)
    for link in found:
        if link.client_id != client.pk:
            links.setdefault(link.client_id, []).append(link)
    if not links:
        return []
    visible = {c.pk: c for c in client_queryset_for_user(user).filter(pk__in=list(links))}
    rows: list[dict[str, Any]] = [{"client": visible[pk], "links": found} for pk, found in links.items()
                                  if pk in visible]
    rows.sort(key=lambda row: (-len(row["links"]), row["client"].pk))
    return rows[:limit]


def related_graph(client: Client, related: list[dict[str, Any]], *, size: int = 320) -> dict[str, Any]:
    """The related clients as a small star graph (plumbing.graphs) for a server-rendered SVG: the client in
    the middle, the others on a circle, each edge labelled with what they share."""
    from django.urls import reverse
    from django.utils.translation import gettext

    nodes = [StarNode(label=row["client"].full_name, url=reverse("client_detail", args=[row["client"].code]),
                      edge=", ".join(sorted({link.via for link in row["links"]})), obj=row["client"])
             for row in related]
    return star_graph(client.full_name, nodes, size=size,
                      aria=gettext("Clients sharing an instrument, device, IP or address"))


def case_sar_context(*, case: Case) -> dict[str, Any]:
    """What the suspicious-activity report shows: the client, the case's items (the facts), the
    linked transactions (deposits, withdrawals, transfers) and the narrative (on the case)."""
    from wallet.selectors import deposits_for_client, transfers_for_client, withdrawals_for_client

    client = case.client
    return {
        "client": client,
        "items": list(case.items.all()),
        "deposits": list(deposits_for_client(client=client)[:HISTORY_ROWS]),
        "withdrawals": list(withdrawals_for_client(client=client)[:HISTORY_ROWS]),
        "transfers": list(transfers_for_client(client=client)[:HISTORY_ROWS]),
        "hits": [h for h in screening_hits_for_client(client=client) if h.status == "confirmed"],
    }
