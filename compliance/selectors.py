"""Compliance reads: the current entries of the watchlists, as the matcher wants them; the screening
hits as each officer may see them; the list versions and their diffs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count, QuerySet

from compliance.aml import DEFAULT_PARAMETERS as AML_DEFAULT_PARAMETERS
from compliance.aml import DRY_RUN_PERIOD, RULE_PARAMS, aml_rule_dry_run, version_in_force
from compliance.aml import RULES_VIEW_PERMISSION as AML_RULES_VIEW_PERMISSION
from compliance.aml import VIEW_PERMISSION as AML_VIEW_PERMISSION
from compliance.jurisdictions import (
    clients_restricted_by,
    is_sanctioned,
    jurisdiction_in_effect,
    jurisdictions_for_brand,
    jurisdictions_of_country,
    registration_refusal,
)
from compliance.models import (
    UNRESOLVED_HIT_STATUSES,
    AmlAlert,
    AmlAlertStatus,
    AmlRule,
    AmlRuleVersion,
    ScreeningHit,
    Watchlist,
    WatchlistEntry,
    WatchlistVersion,
)
from compliance.restrictions import (
    client_message,
    deposit_refusal,
    login_refusal,
    restriction_in_force,
    restrictions_for_client,
    restrictions_open,
)
from crm.exceptions import NotFound
from crm.permissions import client_queryset_for_user, code_or_404, user_can
from matching import DOB, ListedEntry, ListedName, Screener
from plumbing.sqlviews import Column, PublishedView


def watchlist_load_allowed(user: Any) -> bool:
    """Whether `user` may load a watchlist version: the permission, and work for every brand (a list
    is global: its load re-screens the clients of every brand). An administrator may."""
    return bool(user_can(user, "compliance.add_watchlistversion")
                and (getattr(user, "is_administrator", False) or getattr(user, "all_brands", False)))


def watchlist_current_versions(*, names: list[str] | None = None) -> list[WatchlistVersion]:
    """The latest version of each list (of the lists named, when `names` is given)."""
    lists = Watchlist.objects.all()
    if names:
        lists = lists.filter(name__in=names)
    out = []
    for watchlist in lists.order_by("name"):
        version = watchlist.versions.order_by("-number").first()
        if version is not None:
            out.append(version)
    return out


_LISTED_COLUMNS = ("pk", "ent_num", "entry_type", "names", "dobs", "countries")


def _listed_entry(version: WatchlistVersion, row: tuple[Any, ...]) -> ListedEntry:
    _pk, ent_num, entry_type, names, dobs, countries = row
    return ListedEntry(
        key=ent_num, entry_type=entry_type, list_name=version.watchlist.name,
        names=tuple(ListedName(n["text"], n.get("kind", "primary"), bool(n.get("weak"))) for n in names),
        dobs=tuple(DOB(d["year"], d.get("month"), d.get("day"), bool(d.get("circa")), d.get("year_to"))
                   for d in dobs),
        countries=frozenset(countries),
    )


def listed_entries(versions: list[WatchlistVersion], *, ent_nums: list[str] | None = None) -> Iterator[ListedEntry]:
    """The entries of `versions` as the matcher's ListedEntry (all, or those numbered `ent_nums`)."""
    for batch in listed_entry_batches(versions, ent_nums=ent_nums, size=2000):
        yield from batch


def listed_entry_batches(versions: list[WatchlistVersion], *, ent_nums: list[str] | None = None,
                         size: int) -> Iterator[list[ListedEntry]]:
    """The entries of `versions` (all, or those numbered `ent_nums`) as the matcher's ListedEntry, at
    most `size` at a time, read from the database batch by batch (keyset pagination, or `size`
    numbers per query): a caller that drops each batch before the next holds `size` entries at most,
    however long the lists."""
    for version in versions:
        rows = WatchlistEntry.objects.filter(version=version).order_by("pk")
        if ent_nums is not None:
            for start in range(0, len(ent_nums), size):
                wanted = rows.filter(ent_num__in=ent_nums[start:start + size]).values_list(*_LISTED_COLUMNS)
                batch = [_listed_entry(version, row) for row in wanted]
                if batch:
                    yield batch
            continue
        last = 0
        while True:
            page = list(rows.filter(pk__gt=last).values_list(*_LISTED_COLUMNS)[:size])
            if not page:
                break
            last = page[-1][0]
            yield [_listed_entry(version, row) for row in page]


# Screeners built in this process, by the list versions they hold: a version never changes (a new load
# is a new version), so its index is built once and serves every screen until the next load.
_SCREENERS: dict[tuple[object, ...], Screener] = {}
_SCREENERS_KEPT = 4


def screener_for_lists(*, names: list[str] | None = None, threshold: float | None = None) -> Screener:
    """A Screener over the current versions of the lists (all, or those named), built once per set of
    versions in a process."""
    versions = watchlist_current_versions(names=names)
    key = (tuple((v.pk, v.checksum, v.loaded_at) for v in versions), threshold)
    screener = _SCREENERS.get(key)
    if screener is None:
        entries = listed_entries(versions)
        screener = Screener(entries) if threshold is None else Screener(entries, threshold=threshold)
        if len(_SCREENERS) >= _SCREENERS_KEPT:
            _SCREENERS.clear()
        _SCREENERS[key] = screener
    return screener


# --- screening hits ------------------------------------------------------------------------------------

SCREENING_PAGE_SIZE = 50


def screening_hits_for_user(user: Any) -> QuerySet[ScreeningHit]:
    """The hits `user` may see: none without "compliance.view_screeninghit"; else the hits of the
    clients within the user's scope (crm.permissions.client_queryset_for_user), in SQL."""
    if not user_can(user, "compliance.view_screeninghit"):
        return ScreeningHit.objects.none()
    return ScreeningHit.objects.filter(client__in=client_queryset_for_user(user))


def screening_hit_get_for_user(user: Any, code: Any, *, for_update: bool = False) -> ScreeningHit:
    """The hit with `code` if `user` may see it; NotFound if it is missing or out of scope."""
    qs = screening_hits_for_user(user).select_related(
        "client", "watchlist", "version", "entry", "pending_by", "decided_by", "approved_by")
    try:
        return qs.get(code=code_or_404(code))
    except ScreeningHit.DoesNotExist:
        raise NotFound() from None


def screening_queue(*, user: Any, status: str = "unresolved", list_name: str = "",
                    min_score: Decimal | None = None) -> QuerySet[ScreeningHit]:
    """The review queue as `user` sees it: by status ("unresolved": open and pending; or one status;
    "" for all), list and lowest score; best score first, then oldest."""
    qs = screening_hits_for_user(user).select_related("client", "watchlist", "entry", "pending_by")
    if status == "unresolved":
        qs = qs.filter(status__in=UNRESOLVED_HIT_STATUSES)
    elif status:
        qs = qs.filter(status=status)
    if list_name:
        qs = qs.filter(watchlist__name=list_name)
    if min_score is not None:
        qs = qs.filter(score__gte=min_score)
    return qs.order_by("-score", "created_at", "pk")


def watchlist_names() -> list[str]:
    return list(Watchlist.objects.order_by("name").values_list("name", flat=True))


def watchlist_versions() -> QuerySet[WatchlistVersion]:
    """Every version of every list, the newest first within each list."""
    return WatchlistVersion.objects.select_related("watchlist", "loaded_by").order_by("watchlist__name", "-number")


def watchlist_version_get(*, watchlist_id: int, number: int) -> WatchlistVersion:
    version = WatchlistVersion.objects.select_related("watchlist", "loaded_by").filter(
        watchlist_id=watchlist_id, number=number).first()
    if version is None:
        raise NotFound()
    return version


@dataclass(frozen=True)
class VersionDiff:
    added: list[WatchlistEntry]
    removed: list[WatchlistEntry]  # as the previous version listed them
    changed: list[tuple[WatchlistEntry, WatchlistEntry | None]]  # (now, before)


def watchlist_version_diff(version: WatchlistVersion) -> VersionDiff:
    """The entries `version` added, removed and changed, each changed one beside its previous form."""
    previous = version.watchlist.versions.filter(number__lt=version.number).order_by("-number").first()
    now = {e.ent_num: e for e in version.entries.filter(ent_num__in=[*version.added, *version.changed])}
    before = ({e.ent_num: e for e in previous.entries.filter(ent_num__in=[*version.removed, *version.changed])}
              if previous is not None else {})
    return VersionDiff(
        added=[now[n] for n in version.added if n in now],
        removed=[before[n] for n in version.removed if n in before],
        changed=[(now[n], before.get(n)) for n in version.changed if n in now],
    )


__all__ = [
    "AML_DEFAULT_PARAMETERS", "DRY_RUN_PERIOD", "RULE_PARAMS", "aml_rule_dry_run", "version_in_force",
    "client_message", "clients_restricted_by", "deposit_refusal", "is_sanctioned", "jurisdiction_in_effect",
    "jurisdictions_for_brand", "jurisdictions_of_country", "listed_entries", "login_refusal", "registration_refusal",
    "restriction_in_force", "restrictions_for_client", "restrictions_open", "screener_for_lists",
    "watchlist_current_versions",
]


# The case selectors (compliance.case_selectors), and a client's screening hits, which they read too.
from compliance.case_selectors import (  # noqa: E402
    Link,
    LoginRow,
    case_get_for_user,
    case_queue,
    cases_exist,
    cases_for_client,
    cases_for_user,
    client_history,
    register_login_source,
    register_related_source,
    screening_hits_for_client,
)

__all__ += ["Link", "LoginRow", "case_get_for_user", "case_queue", "cases_exist", "cases_for_client", "cases_for_user",
            "client_history", "register_login_source", "register_related_source", "screening_hits_for_client"]


# --- AML monitoring: alerts, rules and versions ----------------------------------------------------------

AML_PAGE_SIZE = 50


def aml_alert_count_for_client(*, client_id: int, since: dt.datetime | None = None) -> int:
    """How many AML alerts a client has had (since `since`), whatever became of them: dismissed ones
    count too (the client risk score reads the history, not the outcome)."""
    qs = AmlAlert.objects.filter(client_id=client_id)
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    return qs.count()


def aml_alerts_for_user(user: Any) -> QuerySet[AmlAlert]:
    """The alerts `user` may see: none without "compliance.view_amlalert"; else the alerts of the clients
    within the user's scope, in SQL."""
    if not user_can(user, AML_VIEW_PERMISSION):
        return AmlAlert.objects.none()
    return AmlAlert.objects.filter(client__in=client_queryset_for_user(user))


# The queue's default: what is still to be decided. Every alert is taken into its client's case as it is
# raised, so "open" alone is empty most of the time while the cases work on them.
ALERTS_CURRENT = "current"


def aml_alert_queue(*, user: Any, status: str = ALERTS_CURRENT, rule_kind: str = "", brand_id: int | None = None
                    ) -> QuerySet[AmlAlert]:
    """The alert queue as `user` sees it, by status ("" for all; "current" for open or in a case), rule
    kind and brand; best score first."""
    qs = aml_alerts_for_user(user).select_related("client", "brand", "rule", "rule_version")
    if status == ALERTS_CURRENT:
        qs = qs.filter(status__in=[AmlAlertStatus.OPEN, AmlAlertStatus.IN_CASE])
    elif status:
        qs = qs.filter(status=status)
    if rule_kind:
        qs = qs.filter(rule__kind=rule_kind)
    if brand_id is not None:
        qs = qs.filter(brand_id=brand_id)
    return qs.order_by("-score", "-created_at", "-pk")


def aml_alert_get_for_user(user: Any, code: Any) -> AmlAlert:
    """The alert with `code` if `user` may see it; NotFound if missing or out of scope."""
    try:
        return aml_alerts_for_user(user).select_related(
            "client", "brand", "rule", "rule_version", "status_by").get(code=code_or_404(code))
    except AmlAlert.DoesNotExist:
        raise NotFound() from None


def aml_alert_transactions(alert: AmlAlert) -> list[dict[str, Any]]:
    """The client's wallet postings of the alert's ledger transactions (the wallet's published view)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT transaction_id, kind, amount, currency, occurred_at, recorded_at, method, provider, "
                       "ref_kind, ref_code FROM wallet_public_client_movements "
                       "WHERE client_id = %s AND transaction_id = ANY(%s) ORDER BY occurred_at, transaction_id",
                       [alert.client_id, list(alert.transaction_ids)])
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def aml_rules_for_user(user: Any) -> QuerySet[AmlRule]:
    """The rules of the brands `user` works in (all brands for a user of all brands)."""
    if not user_can(user, AML_RULES_VIEW_PERMISSION):
        return AmlRule.objects.none()
    from crm.permissions import visible_brands

    return (AmlRule.objects.select_related("brand").filter(brand__in=visible_brands(user))
            .order_by("brand__name", "kind", "risk_class"))


def aml_brand_has_rules(*, brand_id: int) -> bool:
    return AmlRule.objects.filter(brand_id=brand_id).exists()


def aml_rule_get_for_user(user: Any, code: Any) -> AmlRule:
    try:
        return aml_rules_for_user(user).get(code=code_or_404(code))
    except AmlRule.DoesNotExist:
        raise NotFound() from None


def aml_rule_versions(rule: AmlRule) -> list[AmlRuleVersion]:
    """The rule's versions, newest first, each with how many alerts it raised."""
    return list(rule.versions.select_related("created_by").annotate(alert_count=Count("alerts"))
                .order_by("-number"))


# --- published views --------------------------------------------------------------------------------
# What other apps' SQL may read of compliance (plumbing.sqlviews): created by compliance's migration 0013,
# checked by tests/compliance/test_published_views.py. Nobody else names compliance's tables.

RISK_SCORES_VIEW = PublishedView(
    name="compliance_public_risk_scores",
    purpose="Every risk score computed for a client (a client rescored has several): a client's band now is "
            "that of its latest score (the greatest computed_at, then id). Marketing's segments offer it to "
            "those who may segment on it (compliance officers). One row per score.",
    columns=(
        Column("id", "bigint", "the score's row id (the later of two scores at one moment has the greater)"),
        Column("client_id", "bigint", "the client (crm_public_clients.id)"),
        Column("brand_id", "bigint", "the client's brand"),
        Column("band", "character varying(8)", "the risk band", values=("low", "medium", "high")),
        Column("score", "integer", "the points the factors added"),
        Column("computed_at", "timestamp with time zone", "when it was computed"),
    ),
)

PUBLISHED_VIEWS = (RISK_SCORES_VIEW,)

# Data-subject requests (issue 64): the client's own, and the officers' list.
from compliance.data_request_models import DataRequestKind, DataRequestStatus  # noqa: E402
from compliance.data_requests import (  # noqa: E402
    DETAILS_MAX,
    data_request_archive,
    data_request_archive_name,
    data_request_for_client,
    data_request_get_for_user,
    data_request_queue,
    data_requests_for_client,
)

__all__ += ["DETAILS_MAX", "DataRequestKind", "DataRequestStatus", "data_request_archive", "data_request_archive_name",
            "data_request_for_client", "data_request_get_for_user", "data_request_queue", "data_requests_for_client"]

# The retention schedule (issue 64): whose relationship ended when (apps above compliance keep their
# records of a client so many days after it: marketing's consent decisions).
from compliance.retention import relationships_ended_before  # noqa: E402

__all__ += ["relationships_ended_before"]
