"""Reads and writes of the agent's workspace: the "My leads" list with its filters, and saved views."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext

from crm.exceptions import Conflict, ValidationFailed
from crm.models import Client, RoleCode, User
from crm.permissions import client_queryset_for_user
from leads.models import Call, ClientPipeline, PipelineStatus, SavedView

SLA_SOON = timedelta(minutes=30)
FILTER_KEYS = ("status", "stage", "country", "outcome", "uncontacted", "sla_due")
AGENT_ROLES = {RoleCode.SALES_AGENT, RoleCode.RETENTION_AGENT}


def workspace_clients(*, user: User, status: str = "", stage: str = "", country: str = "", outcome: str = "",
                      uncontacted: bool = False, sla_due: bool = False, now: Any = None) -> QuerySet[Client]:
    """The user's book (agents: the clients they own; managers and others: their scope), with the
    pipeline status, last call outcome and first-contact state annotated, newest first."""
    now = now or timezone.now()
    qs = client_queryset_for_user(user)
    if getattr(user, "role_code", None) in AGENT_ROLES:
        qs = qs.filter(owner_id=user.pk)
    last_call = Call.objects.filter(client_id=OuterRef("pk")).order_by("-started_at", "-id")
    qs = qs.annotate(
        last_outcome=Subquery(last_call.values("outcome")[:1]),
        last_call_at=Subquery(last_call.values("started_at")[:1]),
        pipeline_key=Subquery(ClientPipeline.objects.filter(client_id=OuterRef("pk")).values("status__key")[:1]),
        pipeline_label=Subquery(ClientPipeline.objects.filter(client_id=OuterRef("pk")).values("status__label")[:1]),
    ).select_related("owner", "lead_contact")
    if status:
        first = Subquery(PipelineStatus.objects.filter(brand_id=OuterRef("brand_id"), is_active=True)
                         .order_by("order", "id").values("key")[:1])
        # Clients never moved sit at their brand's first status.
        qs = qs.annotate(first_status=first).filter(
            Q(pipeline__status__key=status) | Q(pipeline__isnull=True, first_status=status))
    if stage:
        qs = qs.filter(stage=stage)
    if country:
        qs = qs.filter(country=country)
    if outcome == "none":
        qs = qs.filter(last_outcome__isnull=True)
    elif outcome:
        qs = qs.filter(last_outcome=outcome)
    if uncontacted:
        qs = qs.filter(lead_contact__isnull=False, lead_contact__contacted_at__isnull=True)
    if sla_due:
        qs = qs.filter(lead_contact__contacted_at__isnull=True, lead_contact__due_at__isnull=False,
                       lead_contact__due_at__lte=now + SLA_SOON)
    return qs.order_by("-created_at", "-id")


def saved_view_query(query: str) -> str:
    """Only the workspace's filter keys survive, in a stable order."""
    pairs = [(k, v) for k, v in parse_qsl(query or "", keep_blank_values=False) if k in FILTER_KEYS and v]
    return urlencode(sorted(pairs))


@transaction.atomic
def saved_view_save(*, user: User, name: str, query: str) -> SavedView:
    """Save the current filters under `name` (replacing a view of the same name)."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(fields={"name": [gettext("Name the view.")]})
    if len(name) > 80:
        raise ValidationFailed(fields={"name": [gettext("Keep the name under 80 characters.")]})
    try:
        view, _created = SavedView.objects.update_or_create(user=user, name=name,
                                                            defaults={"query": saved_view_query(query)})
    except IntegrityError:
        raise Conflict(gettext("A view with this name was saved at the same moment.")) from None
    return view


@transaction.atomic
def saved_view_delete(*, user: User, view_id: int) -> bool:
    deleted, _rows = SavedView.objects.filter(user=user, pk=view_id).delete()
    return bool(deleted)


def saved_views(*, user: User) -> list[SavedView]:
    return list(SavedView.objects.filter(user=user).order_by("name"))
