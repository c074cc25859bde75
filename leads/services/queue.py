"""The desks' queues: leads that nobody could take when they were routed (every agent off shift,
on leave or absent) are routed again as soon as somebody can take them."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from crm import services as crm_services
from crm.events import emit
from crm.models import Brand, Client, Stage
from leads.models import LeadContactState
from leads.routing import Router
from leads.scoring import LeadFacts
from leads.services.first_contact import _latest_score, _latest_touch, _state_reset
from plumbing import context

QUEUE_BATCH = 50


def lead_queue_route(*, now: datetime | None = None) -> dict[str, int]:
    """Route the clients waiting unowned in a desk's queue (any stage but closed), oldest arrival
    first, through the brand's routing rules as they stand at `now`: the first agent to come on
    shift (or back from leave or absence) gets them. The first-contact SLA starts when a lead gets
    its owner. A brand whose agents are all unavailable costs one look at its agents, not at its
    leads. Safe to run concurrently and repeatedly: each run takes only the clients no other run
    holds (SKIP LOCKED), and a client that has an owner is not in a queue. Returns the counts of
    leads routed and of leads still waiting."""
    now = now or timezone.now()
    counts = {"routed": 0, "waiting": 0}
    for brand in Brand.objects.filter(is_active=True).order_by("pk"):
        if not _queued(brand).exists():
            continue
        if not Router(brand, now=now).anyone_available():
            counts["waiting"] += _queued(brand).count()
            continue
        after: tuple[datetime, int] | None = None
        while True:
            taken, after = _route_batch(brand, now, after, counts)
            if taken < QUEUE_BATCH or after is None:
                break
    return counts


def _queued(brand: Brand) -> QuerySet[Client]:
    # client_owner_recent_idx serves "owner IS NULL ORDER BY created_at".
    return (Client.objects.filter(brand_id=brand.pk, owner__isnull=True, desk__isnull=False)
            .exclude(stage=Stage.CLOSED))


@transaction.atomic
def _route_batch(brand: Brand, now: datetime, after: tuple[datetime, int] | None,
                 counts: dict[str, int]) -> tuple[int, tuple[datetime, int] | None]:
    """One batch, in one transaction. Locks in the order intake takes them: the weighted rules'
    rotation rows, then the clients, then their first-contact rows; every lock here is taken up
    front and without waiting (another run, or a person assigning the client, keeps theirs)."""
    router = Router(brand, now=now, expected=QUEUE_BATCH)
    router.lock_pointers()
    qs = _queued(brand)
    if after is not None:
        qs = qs.filter(Q(created_at__gt=after[0]) | Q(created_at=after[0], pk__gt=after[1]))
    clients = list(qs.select_for_update(skip_locked=True, of=("self",))
                   .select_related("brand", "desk", "owner").order_by("created_at", "pk")[:QUEUE_BATCH])
    if not clients:
        return 0, None
    last = (clients[-1].created_at, clients[-1].pk)
    ids = [c.pk for c in clients]
    # When each started waiting (the first-contact row of a queued lead is written as it is queued).
    since = dict(LeadContactState.objects.select_for_update(skip_locked=True).filter(client_id__in=ids)
                 .values_list("client_id", "assigned_at"))
    held = set(LeadContactState.objects.filter(client_id__in=ids).values_list("client_id", flat=True)) - set(since)
    for client in clients:
        if client.pk in held:
            continue  # its first-contact row is being changed right now: the next run routes it
        facts = LeadFacts.of_client(client, _latest_touch(client)).with_score(_latest_score(client))
        decision = router.route(facts)
        if decision.owner is None:
            counts["waiting"] += 1
            continue
        waited = max(0, int((now - since.get(client.pk, client.created_at)).total_seconds() // 60))
        with context.acting_as(None, source="task"):
            crm_services.client_assign(actor=None, client=client, owner=decision.owner, desk=decision.desk,
                                       reason=gettext("routed from the desk's queue"))
        _state_reset(client, owner=decision.owner, desk=decision.desk, now=now)
        data = decision.as_event_data()
        data["why"] = [gettext("waited in the queue for %(minutes)d min") % {"minutes": waited}, *data["why"]]
        data["from_queue"] = True
        emit("lead.routed", client=client, actor=None, occurred_at=now, data=data)
        counts["routed"] += 1
    router.save()
    return len(clients), last
