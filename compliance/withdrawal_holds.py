"""What compliance holds a client's withdrawals for, given to the wallet through its hook point
(wallet.services.register_risk_flag_check, registered in ComplianceConfig.ready): the wallet calls
`withdrawal_hold_flags(client=, at=)` and neither app reads the other's tables.

A client's withdrawals are held, as known at `at`, while
- an AML alert of theirs is open (dismissing it lifts the hold; taken into a case, the case holds);
- a case of theirs is not closed;
- a screening hit of theirs is confirmed (sanctions or PEP), until a case of theirs is closed after it;
- their latest risk score is in the high band, until a case of theirs is closed after it was scored;
- a restriction of theirs is in force (of any kind: no withdrawals also refuses a new request).

Each flag carries the permission that reads the compliance object it names: a finance officer without
it sees the kind ("AML alert") and "Under compliance review", never the content (tipping off).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from compliance import permissions
from compliance.models import (
    UNCLOSED_CASE_STATUSES,
    AmlAlert,
    AmlAlertStatus,
    Case,
    CaseStatus,
    HitStatus,
    ListKind,
    Restriction,
    RiskBand,
    RiskScore,
    ScreeningHit,
)
from wallet.selectors import RiskFlag


def _client_tab(client: Any) -> str:
    return f"{reverse('client_detail', args=[client.code])}?tab=compliance"


def _day(when: dt.datetime) -> str:
    return timezone.localdate(when).isoformat()


def _alerts(client_id: int, at: dt.datetime) -> list[RiskFlag]:
    rows = (AmlAlert.objects.filter(client_id=client_id, created_at__lte=at)
            .filter(Q(status=AmlAlertStatus.OPEN) | Q(status_at__gt=at)).select_related("rule")
            .order_by("-created_at", "-pk")[:5])
    return [RiskFlag(kind="aml_alert", label=gettext("AML alert"), permission=permissions.AML_ALERT_VIEW,
                     reason=gettext("%(rule)s: %(summary)s (score %(score)d, raised %(day)s).")
                     % {"rule": a.rule.name, "summary": a.summary, "score": a.score, "day": _day(a.created_at)},
                     url=reverse("compliance_aml_alert", args=[a.code]), since=a.created_at) for a in rows]


def _cases(client_id: int, at: dt.datetime) -> list[RiskFlag]:
    rows = (Case.objects.filter(client_id=client_id, opened_at__lte=at)
            .filter(Q(status__in=UNCLOSED_CASE_STATUSES) | Q(closed_at__gt=at)).order_by("-opened_at", "-pk")[:3])
    return [RiskFlag(kind="compliance_case", label=gettext("Compliance case"), permission=permissions.CASE_VIEW,
                     reason=gettext("Case %(status)s, %(priority)s priority, opened %(day)s.")
                     % {"status": CaseStatus(c.status).label.lower(), "priority": c.get_priority_display().lower(),
                        "day": _day(c.opened_at)},
                     url=reverse("compliance_case_detail", args=[c.code]), since=c.opened_at) for c in rows]


def _closed_case_since(client_id: int, since: dt.datetime, at: dt.datetime) -> bool:
    """A case of the client closed after `since` (and by `at`): an officer has reviewed what was known."""
    return Case.objects.filter(client_id=client_id, closed_at__gt=since, closed_at__lte=at).exists()


def _hits(client_id: int, at: dt.datetime) -> list[RiskFlag]:
    rows = (ScreeningHit.objects.filter(client_id=client_id, status=HitStatus.CONFIRMED, decided_at__lte=at)
            .select_related("watchlist").order_by("-decided_at", "-pk")[:5])
    out = []
    for h in rows:
        if h.decided_at is None or _closed_case_since(client_id, h.decided_at, at):
            continue
        pep = h.watchlist.kind == ListKind.PEP
        out.append(RiskFlag(
            kind="pep_hit" if pep else "sanctions_hit",
            label=gettext("Confirmed PEP hit") if pep else gettext("Confirmed sanctions hit"),
            permission=permissions.HIT_VIEW,
            reason=gettext("%(name)s on %(list)s, confirmed %(day)s.")
            % {"name": h.matched_name, "list": h.watchlist.name, "day": _day(h.decided_at)},
            url=reverse("compliance_screening_hit", args=[h.code]), since=h.decided_at))
    return out


def _risk(client: Any, at: dt.datetime) -> list[RiskFlag]:
    latest = (RiskScore.objects.filter(client_id=client.pk, computed_at__lte=at)
              .order_by("-computed_at", "-pk").first())
    if latest is None or latest.band != RiskBand.HIGH or _closed_case_since(client.pk, latest.computed_at, at):
        return []
    return [RiskFlag(kind="risk_band", label=gettext("High risk"), permission=permissions.RISK_VIEW,
                     reason=gettext("Risk score %(score)d (high band) since %(day)s.")
                     % {"score": latest.score, "day": _day(latest.computed_at)},
                     url=_client_tab(client), since=latest.computed_at)]


def _restrictions(client: Any, at: dt.datetime) -> list[RiskFlag]:
    rows = (Restriction.objects.filter(client_id=client.pk, imposed_at__lte=at)
            .filter(Q(lifted_at__isnull=True) | Q(lifted_at__gt=at)).order_by("imposed_at", "pk"))
    return [RiskFlag(kind="restriction", label=gettext("Restriction"), permission=permissions.RESTRICTION_VIEW,
                     reason=gettext("%(kind)s since %(day)s: %(reason)s")
                     % {"kind": r.get_kind_display(), "day": _day(r.imposed_at), "reason": r.reason},
                     url=_client_tab(client), since=r.imposed_at)
            for r in rows if r.until is None or at < r.until]


def withdrawal_hold_flags(*, client: Any, at: dt.datetime | None = None) -> list[RiskFlag]:
    """The wallet's risk-flag check: every compliance reason holding `client`'s withdrawals at `at`
    (now), each a holding RiskFlag with its reason, link and the permission that may read them."""
    at = at or timezone.now()
    client_id = client.pk
    return [*_alerts(client_id, at), *_cases(client_id, at), *_hits(client_id, at), *_risk(client, at),
            *_restrictions(client, at)]
