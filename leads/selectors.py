"""Reads of lead acquisition for views, the API and other apps. Client reads are scoped first."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from crm.lib.fieldcrypt import keyed_hashes
from crm.models import Client, Desk, RoleCode, Stage, User
from crm.permissions import assignable_agents as crm_assignable_agents
from crm.permissions import client_queryset_for_user
from leads.models import (
    AgentAvailability,
    ClientMerge,
    LeadContactState,
    LeadImport,
    LeadScore,
    LeadTouch,
    RoutingRule,
    ScoringRule,
    TelephonyEvent,
    TelephonyProvider,
)

TOUCHES_SHOWN = 50


@dataclass(frozen=True)
class LeadProfile:
    score: LeadScore | None
    touches: list[LeadTouch]
    contact: LeadContactState | None
    merges: list[ClientMerge]

    @property
    def first_touch(self) -> LeadTouch | None:
        return self.touches[-1] if self.touches else None


def lead_profile(*, client: Client) -> LeadProfile:
    """What the profile's Lead tab shows: the current score and its rules, every touch with its
    attribution (newest first), first-contact state and merges involving the client."""
    score = LeadScore.objects.filter(client_id=client.pk).order_by("-computed_at", "-id").first()
    touches = list(LeadTouch.objects.filter(client_id=client.pk).select_related("campaign")
                   .order_by("-created_at", "-id")[:TOUCHES_SHOWN])
    contact = LeadContactState.objects.filter(client_id=client.pk).select_related("contacted_by", "owner", "desk").first()
    merges = list(ClientMerge.objects.filter(Q(kept_id=client.pk) | Q(merged_id=client.pk))
                  .select_related("actor").order_by("-created_at"))
    return LeadProfile(score=score, touches=touches, contact=contact, merges=merges)


def lead_queue(*, user: Any, desk: Any = None, unassigned: bool = False, owner: Any = None,
               q: str = "") -> QuerySet[Client]:
    """Leads (stage "lead") in `user`'s scope for the reassignment page, newest first, and every
    client nobody owns whatever its stage (a queued lead that registered meanwhile is still
    waiting for an owner), until somebody does; closed clients need none."""
    from crm.selectors import client_list

    qs = client_list(user=user, q=q, desk=desk or None, owner=owner or None)
    qs = qs.filter(Q(stage=Stage.LEAD) | Q(owner__isnull=True)).exclude(stage=Stage.CLOSED)
    if unassigned:
        qs = qs.filter(owner__isnull=True)
    return qs


def assignable_agents(*, user: Any) -> QuerySet[User]:
    """Agents `user` may give leads to: the core's one rule (crm.permissions.assignable_agents)."""
    return crm_assignable_agents(user)


def assignable_desks(*, user: Any) -> QuerySet[Desk]:
    qs = Desk.objects.filter(is_active=True).select_related("brand")
    if getattr(user, "is_administrator", False):
        return qs
    if getattr(user, "role_code", None) != RoleCode.DESK_MANAGER:
        return qs.none()
    return qs.filter(Q(manager_id=user.pk) | Q(pk=user.desk_id or 0))


def merge_candidates(*, user: Any, client: Client, limit: int = 10) -> list[Client]:
    """Clients of the same brand in `user`'s scope sharing the client's email, phone or name."""
    condition = Q(first_name__iexact=client.first_name, last_name__iexact=client.last_name)
    # Exact contact details match by their keyed hashes (crm.lib.fieldcrypt), not their text.
    if client.email:
        condition |= Q(email_hash__in=keyed_hashes(client.email, kind="email"))
    if client.phone:
        condition |= Q(phone_hash__in=keyed_hashes(client.phone, kind="phone"))
    return list(
        client_queryset_for_user(user).filter(brand_id=client.brand_id).filter(condition)
        .exclude(pk=client.pk).exclude(tags__contains=["merged"]).select_related("owner")
        .order_by("-created_at")[:limit]
    )


def routing_rules(*, brand: Any) -> list[RoutingRule]:
    return list(RoutingRule.objects.filter(brand=brand).select_related("target_agent", "target_desk")
                .order_by("is_fallback", "order", "id"))


def scoring_rules(*, brand: Any) -> list[ScoringRule]:
    return list(ScoringRule.objects.filter(brand=brand).order_by("order", "id"))


def agent_availability_list(*, user: Any) -> list[tuple[User, AgentAvailability | None, str | None]]:
    """The agents `user` may assign to, each with their availability setting and why they cannot
    take a lead right now (leads.routing.unavailable_reason: off shift, the desk closed, on leave),
    None when they can: what routing would decide now, not only what was set."""
    from leads.routing import unavailable_reason

    agents = list(assignable_agents(user=user).select_related("lead_availability", "desk"))
    now = timezone.now()
    out: list[tuple[User, AgentAvailability | None, str | None]] = []
    for agent in agents:
        try:
            availability = agent.lead_availability
        except AgentAvailability.DoesNotExist:
            availability = None
        out.append((agent, availability, unavailable_reason(agent, agent.desk, now)))
    return out


def lead_imports_for(*, user: Any) -> QuerySet[LeadImport]:
    qs = LeadImport.objects.select_related("brand", "created_by", "job").defer("content")
    if getattr(user, "is_administrator", False):
        return qs
    return qs.filter(created_by_id=getattr(user, "pk", None))


@dataclass(frozen=True)
class TelephonyProviderRow:
    """A provider as the telephony settings page lists it, with what its webhook delivered lately.
    `provider` is None for a provider configured only in CRM_TELEPHONY_SECRETS."""

    code: str
    provider: TelephonyProvider | None
    last_event_at: datetime | None
    events_24h: int

    @property
    def from_settings(self) -> bool:
        return self.provider is None


def telephony_provider_overview(*, now: datetime | None = None) -> list[TelephonyProviderRow]:
    """Every provider (rows first, then those only in CRM_TELEPHONY_SECRETS) with the time of the last
    webhook event accepted from it and the number accepted in the last 24 hours. Two queries."""
    now = now or timezone.now()
    providers = list(TelephonyProvider.objects.select_related("brand").order_by("-is_active", "code"))
    known = {p.code for p in providers}
    configured = sorted(code for code in (getattr(settings, "CRM_TELEPHONY_SECRETS", {}) or {}) if code not in known)
    codes = [p.code for p in providers] + configured
    stats: dict[str, Mapping[str, Any]] = {
        row["provider"]: row
        for row in TelephonyEvent.objects.filter(provider__in=codes).order_by().values("provider").annotate(
            last=Max("received_at"), day=Count("id", filter=Q(received_at__gte=now - timedelta(hours=24))))
    }
    rows = [(p.code, p) for p in providers] + [(code, None) for code in configured]
    return [TelephonyProviderRow(code=code, provider=provider, last_event_at=stats.get(code, {}).get("last"),
                                 events_24h=stats.get(code, {}).get("day", 0)) for code, provider in rows]


def touch_get(code: Any) -> LeadTouch | None:
    """One touch by its code, with what attribution reads (its referrer code, click id and time)."""
    return LeadTouch.objects.filter(code=code).only("code", "referrer_code", "click_id", "created_at").first()


def touches_with_partner_codes(*, client: Client, since: datetime, until: datetime,
                               exclude: Any) -> QuerySet[LeadTouch]:
    """The client's touches from `since` to `until` that carry a referrer code or a click id, but
    `exclude` (a touch's code), oldest first."""
    return (LeadTouch.objects.filter(client=client, created_at__gte=since, created_at__lte=until)
            .exclude(code=exclude).exclude(referrer_code="", click_id="").order_by("created_at"))


def campaign_costs_in(*, first_day: Any, last_day: Any, brand_ids: Any = None) -> dict[tuple[int, str, str], Any]:
    """What each campaign cost over the days [first_day, last_day], per (brand id, campaign code,
    currency): each recorded cost (leads.kpis.campaign_cost_add) prorated by the days of its period
    inside these, rounded to the currency's minor unit (crm.lib.money). Currencies are never mixed."""
    from decimal import Decimal

    from crm.lib.money import UnknownCurrency, money_round
    from leads.models import CampaignCost

    qs = CampaignCost.objects.filter(period_start__lte=last_day, period_end__gte=first_day)
    if brand_ids is not None:
        qs = qs.filter(campaign__brand_id__in=list(brand_ids))
    out: dict[tuple[int, str, str], Decimal] = {}
    for cost in qs.select_related("campaign").order_by("id"):
        days = (cost.period_end - cost.period_start).days + 1
        inside = (min(cost.period_end, last_day) - max(cost.period_start, first_day)).days + 1
        key = (cost.campaign.brand_id, cost.campaign.code, cost.currency)
        out[key] = out.get(key, Decimal(0)) + cost.amount * inside / days
    rounded = {}
    for key, amount in out.items():
        try:
            rounded[key] = money_round(amount, key[2])
        except UnknownCurrency:
            rounded[key] = amount.quantize(Decimal("0.01"))
    return rounded


@dataclass(frozen=True)
class AgentCallDay:
    calls: int
    answered: int
    talk_seconds: int


def agent_call_days(*, agent_ids: list[int], start: datetime, end: datetime) -> dict[tuple[int, Any], AgentCallDay]:
    """Calls per agent per day (UTC) started in [start, end): how many, how many answered (talk time
    above zero) and the talk time in seconds. Agent monitoring's performance page reads these."""
    from django.db.models import Sum
    from django.db.models.functions import TruncDate

    from leads.models import Call

    rows = (Call.objects.filter(agent_id__in=agent_ids, started_at__gte=start, started_at__lt=end)
            .annotate(day=TruncDate("started_at", tzinfo=UTC)).values("agent_id", "day")
            .annotate(n=Count("id"), answered=Count("id", filter=Q(talk_seconds__gt=0)), talk=Sum("talk_seconds"))
            .order_by())
    return {(r["agent_id"], r["day"]): AgentCallDay(calls=r["n"], answered=r["answered"], talk_seconds=r["talk"] or 0)
            for r in rows}
