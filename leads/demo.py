"""Demo data of the sales desk (`manage.py seed_sales_demo`), on top of crm's seed_demo.

Deterministic (one fixed random seed over clients in id order) and idempotent: statuses and
campaigns are created only when missing, costs only for periods not entered yet, routing rules
only when the brand has none of its own, new leads only for contact details not known yet, and
calls and pipeline moves only for demo clients that have none. The week of calls and moves is
backdated; like crm's seed, its events are marked dispatched instead of being handed to
subscribers (they describe the past: nobody should be notified of last week's calls now).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from crm.lib.fieldcrypt import keyed_hashes
from crm.models import Brand, Client, Desk, Event, RoleCode
from leads.calls import call_log
from leads.intake import IntakeMeta
from leads.kpis import campaign_cost_add
from leads.models import (
    ANSWERED_OUTCOMES,
    Call,
    CallOutcome,
    Campaign,
    CampaignCost,
    Channel,
    ClientPipeline,
    ContactKey,
    ContactKind,
    RoutingRule,
    RoutingTarget,
)
from leads.pipeline import pipeline_defaults_ensure, pipeline_move
from leads.services import campaign_save, lead_intake, routing_rule_save
from plumbing import context

SEED = 20_251_122
CLIENTS_PER_BRAND = 40
NEW_LEADS_PER_CAMPAIGN = 4
AGENT_ROLES = (RoleCode.SALES_AGENT, RoleCode.RETENTION_AGENT)

# (code, name, source, weekly cost in USD)
CAMPAIGNS: tuple[tuple[str, str, str, Decimal], ...] = (
    ("uk-gold-spring", "UK gold spring", "google", Decimal("1800.00")),
    ("global-cfd-brand", "Global CFD brand", "facebook", Decimal("2400.00")),
    ("mena-gold-webinar", "MENA gold webinar", "webinar", Decimal("900.00")),
    ("eu-cfd-education", "EU CFD education", "google", Decimal("1500.00")),
)
OUTCOMES = ((CallOutcome.NO_ANSWER, 30), (CallOutcome.BUSY, 6), (CallOutcome.VOICEMAIL, 10),
            (CallOutcome.CALLBACK, 14), (CallOutcome.INTERESTED, 14), (CallOutcome.NOT_INTERESTED, 10),
            (CallOutcome.CONNECTED, 10), (CallOutcome.WRONG_NUMBER, 2), (CallOutcome.REGISTERED, 4))
STATUS_FOR = {
    CallOutcome.NO_ANSWER: "no_answer", CallOutcome.BUSY: "no_answer", CallOutcome.VOICEMAIL: "no_answer",
    CallOutcome.CALLBACK: "call_back", CallOutcome.INTERESTED: "interested", CallOutcome.CONNECTED: "contacted",
    CallOutcome.NOT_INTERESTED: "not_interested", CallOutcome.WRONG_NUMBER: "not_interested",
    CallOutcome.REGISTERED: "registered",
}


@dataclass
class SalesSeedResult:
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n


def _week_start(today: date) -> date:
    return today - timedelta(days=today.weekday())


def seed_sales(*, today: date | None = None) -> SalesSeedResult:
    """Add the sales desk's demo data to every brand. Safe to run again: it adds only what is missing."""
    result = SalesSeedResult()
    today = today or timezone.localdate()
    rng = random.Random(SEED)
    first_event = (Event.objects.aggregate(m=Max("id"))["m"] or 0)
    with context.acting_as(None, source="task"):
        for brand in Brand.objects.order_by("code"):
            with transaction.atomic():
                result.add("pipeline statuses", pipeline_defaults_ensure(brand=brand))
                _campaigns(brand, today, result)
                _routing(brand, result)
            _new_leads(brand, today, result)
            _calls_and_moves(brand, rng, result)
    # The week of leads, calls and moves is history: do not hand it to subscribers (automation, webhooks).
    Event.objects.filter(pk__gt=first_event, dispatched_at__isnull=True).update(dispatched_at=timezone.now())
    return result


def _campaigns(brand: Brand, today: date, result: SalesSeedResult) -> None:
    for code, name, source, weekly in CAMPAIGNS:
        campaign = Campaign.objects.filter(brand=brand, code=code).first()
        if campaign is None:
            campaign = campaign_save(actor=None, brand=brand, code=code, name=name, source=source)
            result.add("campaigns")
        for weeks_back in range(4):
            start = _week_start(today) - timedelta(weeks=weeks_back)
            if CampaignCost.objects.filter(campaign=campaign, period_start=start).exists():
                continue
            campaign_cost_add(actor=None, campaign=campaign, period_start=start, period_end=start + timedelta(days=6),
                              amount=weekly, currency="USD")
            result.add("campaign costs")


def _routing(brand: Brand, result: SalesSeedResult) -> None:
    if RoutingRule.objects.filter(brand=brand).exists():
        return
    desks = list(Desk.objects.filter(brand=brand, is_active=True).order_by("name"))
    if not desks:
        return
    for i, desk in enumerate(desks):
        countries = list(desk.countries or [])
        if countries:
            routing_rule_save(actor=None, brand=brand, name=f"{desk.name}: its countries", target_kind=RoutingTarget.DESK,
                              target_desk=desk, countries=countries,
                              strategy="least_loaded" if i % 2 else "round_robin")
            result.add("routing rules")
    routing_rule_save(actor=None, brand=brand, name="Everyone else", target_kind=RoutingTarget.DESK,
                      target_desk=desks[0], is_fallback=True)
    result.add("routing rules")


def _new_leads(brand: Brand, today: date, result: SalesSeedResult) -> None:
    """A few leads per campaign arriving over the past week through intake (scored, routed)."""
    now = timezone.now()
    n = 0
    for code, _name, source, _cost in CAMPAIGNS:
        for i in range(NEW_LEADS_PER_CAMPAIGN):
            n += 1
            email = f"demo.lead.{brand.code}.{n}@example.com"
            if ContactKey.objects.filter(brand=brand, kind=ContactKind.EMAIL,
                                         value__in=keyed_hashes(email, kind="email")).exists():
                continue
            received = now - timedelta(days=(n * 3) % 7, hours=n % 9)
            lead_intake(brand=brand, channel=Channel.API, meta=IntakeMeta(received_at=received), data={
                "first_name": ("Lena", "Omar", "Priya", "Tomás", "Aisha", "Jonas")[n % 6],
                "last_name": f"Demo{n}", "email": email, "phone": f"+44207{(SEED + n) % 10_000_000:07d}",
                "country": ("GB", "AE", "DE", "ZA")[i % 4], "source": source, "campaign": code,
            })
            result.add("new leads")


def _calls_and_moves(brand: Brand, rng: random.Random, result: SalesSeedResult) -> None:
    """For the newest demo clients of each agent: one to three calls over the past week and the
    pipeline moves their outcomes suggest."""
    now = timezone.now()
    clients = list(Client.objects.filter(brand=brand, owner__role__code__in=AGENT_ROLES, owner__is_active=True)
                   .exclude(tags__contains=["merged"]).select_related("owner").order_by("-created_at", "-id")
                   [:CLIENTS_PER_BRAND])
    done = set(Call.objects.filter(client__in=clients).values_list("client_id", flat=True))
    done |= set(ClientPipeline.objects.filter(client__in=clients).values_list("client_id", flat=True))
    outcomes, weights = zip(*OUTCOMES, strict=True)
    for client in sorted(clients, key=lambda c: c.pk):
        # Draw for every client, done or not, so that a rerun sees the same sequence.
        plan = [(rng.choices(outcomes, weights)[0], rng.randint(0, 6), rng.randint(9, 18), rng.randint(0, 59),
                 rng.randint(15, 600))
                for _ in range(rng.randint(1, 3))]
        agent = client.owner  # never None: chosen by their owners' role
        if client.pk in done or agent is None:
            continue
        with transaction.atomic(), context.acting_as(agent, source="task"):
            last = None
            earliest = client.created_at
            for outcome, days_ago, hour, minute, seconds in sorted(plan, key=lambda p: -p[1]):
                ended = (now - timedelta(days=days_ago)).replace(hour=hour, minute=minute, second=0,
                                                                 microsecond=0)
                duration = seconds if outcome in ANSWERED_OUTCOMES else min(seconds, 40)
                # Never before the lead arrived nor before the previous call; none in the future.
                ended = max(ended, earliest + timedelta(minutes=4 + minute % 50, seconds=duration))
                if ended > now:
                    break
                earliest = ended
                call_log(actor=agent, client=client, outcome=outcome, ended_at=ended, duration_seconds=duration)
                result.add("calls")
                last = outcome
            if last is not None:
                pipeline_move(actor=agent, client=client, status=STATUS_FOR[last], reason="")
                result.add("pipeline moves")
