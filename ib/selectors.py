"""Reads of the partner programme that views and other apps (the commission engine) use.

The hierarchy reads are one query each, whatever the depth (the materialised path, ib.models):
a subtree is `path @> ARRAY[id]` (GIN index), an ancestor chain `id = ANY(path)` of the partner's
row. "Whose client was C at T" is one indexed lookup; for many (client, time) pairs at once,
`partners_of_clients_at` answers with one statement."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection
from django.db.models import F, Q, QuerySet
from django.db.models.expressions import RawSQL

from crm.models import Client
from ib.models import AttributionConflict, ClientAttribution, ConflictStatus, Partner, PartnerParentChange


def partner_subtree(partner: Partner, *, include_self: bool = True) -> QuerySet[Partner]:
    """The partner and every partner below it, at any depth, ordered so that a parent comes before
    its children (by path)."""
    qs = Partner.objects.filter(path__contains=[partner.pk]).order_by("path")
    return qs if include_self else qs.exclude(pk=partner.pk)


def partner_ancestors(partner: Partner) -> QuerySet[Partner]:
    """The partners above `partner`, from the top down, read from its stored path (one query, not
    the in-memory one, so a move made meanwhile is seen)."""
    table = Partner._meta.db_table
    return (Partner.objects
            .filter(id__in=RawSQL(f"SELECT unnest(path) FROM {table} WHERE id = %s",  # noqa: S608, S611 - fixed table
                                  [partner.pk]))
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
    table = ClientAttribution._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT q.client_id, q.at, a.partner_id FROM unnest(%s::bigint[], %s::timestamptz[]) AS q(client_id, at) "  # noqa: S608
            f"JOIN {table} a ON a.client_id = q.client_id AND a.effective_from <= q.at "
            "AND (a.effective_to IS NULL OR a.effective_to > q.at)",
            [[c for c, _t in pairs], [t for _c, t in pairs]])
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
