"""A campaign's results, per variant and for the hold-out group.

The mail side comes from the campaign's own rows (sent, skipped, failed; delivered or refused as the
emails app's events said; opened and clicked on the signed URLs) and unsubscribes from
marketing.consent's decisions naming the campaign. What followed comes from the published views the
segments read (marketing.facts), over each member's attribution window: from the moment their email
was handed to the pipeline (the hold-out group: from when sending started) for `attribution_days`:

- registrations: the member's trader's-room registration (crm_public_origins, portal.register);
- first deposits: the member's first deposit ever falls in the window; depositors: any deposit in it;
- deposits: the amounts deposited in the window, per currency;
- volume: lots of the trades opened in the window on live accounts.

Rates are per member of the group (sent for a variant, all of the hold-out group), so that a
variant's rate less the hold-out's is what the email added. A winner is named by the campaign's
metric once every variant has at least WINNER_MIN_SENT emails sent and one rate is strictly best.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Q

from crm.lib.money import Money
from marketing.campaign_models import Campaign, CampaignChannel, RecipientStatus, WinnerMetric

WINNER_MIN_SENT = 100
HOLDOUT = ""  # the group key of the hold-out group

# One row per group (the variant's label, '' for the hold-out): its members and what followed. The
# members are the campaign's rows that were sent or held out; t0 is when each one's window opens.
_FOLLOWED = """
WITH r AS (
  SELECT r.client_id, coalesce(v.label, '') AS grp, coalesce(r.sent_at, c.started_at) AS t0
  FROM marketing_campaignrecipient r
  JOIN marketing_campaign c ON c.id = r.campaign_id
  LEFT JOIN marketing_campaignvariant v ON v.id = r.variant_id
  WHERE r.campaign_id = %(campaign)s AND r.status IN ('sent', 'held_out')
), firsts AS (
  SELECT m.client_id, min(m.occurred_at) AS at FROM wallet_public_client_movements m
  WHERE m.kind = 'deposit' AND m.amount > 0 AND m.client_id IN (SELECT client_id FROM r)
  GROUP BY m.client_id
)
SELECT r.grp, count(*) AS members,
  count(*) FILTER (WHERE EXISTS (
    SELECT 1 FROM crm_public_origins o WHERE o.client_id = r.client_id AND o.action = 'portal.register'
      AND o.at >= r.t0 AND o.at < r.t0 + %(window)s)) AS registrations,
  count(*) FILTER (WHERE f.at >= r.t0 AND f.at < r.t0 + %(window)s) AS first_deposits,
  count(*) FILTER (WHERE EXISTS (
    SELECT 1 FROM wallet_public_client_movements m WHERE m.client_id = r.client_id AND m.kind = 'deposit'
      AND m.amount > 0 AND m.occurred_at >= r.t0 AND m.occurred_at < r.t0 + %(window)s)) AS depositors,
  coalesce(sum((
    SELECT sum(d.volume) FROM trading_public_deals d JOIN trading_public_accounts a ON a.id = d.account_id
    WHERE a.client_id = r.client_id AND NOT a.is_demo AND d.kind = 'trade' AND d.entry = 'in'
      AND d.deleted_at IS NULL AND d.time >= r.t0 AND d.time < r.t0 + %(window)s)), 0) AS volume
FROM r LEFT JOIN firsts f ON f.client_id = r.client_id
GROUP BY r.grp
"""

# The amounts deposited in each group's windows, per currency.
_DEPOSITS = """
SELECT coalesce(v.label, '') AS grp, m.currency, sum(m.amount)
FROM marketing_campaignrecipient r
JOIN marketing_campaign c ON c.id = r.campaign_id
LEFT JOIN marketing_campaignvariant v ON v.id = r.variant_id
JOIN wallet_public_client_movements m ON m.client_id = r.client_id AND m.kind = 'deposit' AND m.amount > 0
  AND m.occurred_at >= coalesce(r.sent_at, c.started_at)
  AND m.occurred_at < coalesce(r.sent_at, c.started_at) + %(window)s
WHERE r.campaign_id = %(campaign)s AND r.status IN ('sent', 'held_out')
GROUP BY 1, 2 ORDER BY 1, 2
"""


@dataclass
class GroupResult:
    key: str  # the variant's label; "" for the hold-out group
    members: int = 0  # sent (a variant) or held out
    queued: int = 0
    skipped: int = 0
    failed: int = 0
    cancelled: int = 0
    delivered: int = 0
    bounced: int = 0
    opened: int = 0
    clicked: int = 0
    unsubscribed: int = 0
    registrations: int = 0
    first_deposits: int = 0
    depositors: int = 0
    volume: Decimal = Decimal(0)
    deposits: list[Money] = field(default_factory=list)

    @property
    def is_holdout(self) -> bool:
        return self.key == HOLDOUT

    def rate(self, count: int) -> float | None:
        return count / self.members if self.members else None

    @property
    def open_rate(self) -> float | None:
        return self.rate(self.opened)

    @property
    def click_rate(self) -> float | None:
        return self.rate(self.clicked)

    @property
    def first_deposit_rate(self) -> float | None:
        return self.rate(self.first_deposits)

    @property
    def depositor_rate(self) -> float | None:
        return self.rate(self.depositors)


@dataclass
class CampaignResults:
    groups: list[GroupResult]
    winner: str | None
    winner_note: str

    @property
    def variants(self) -> list[GroupResult]:
        return [g for g in self.groups if not g.is_holdout]

    @property
    def holdout(self) -> GroupResult | None:
        return next((g for g in self.groups if g.is_holdout), None)

    def group(self, key: str) -> GroupResult:
        return next(g for g in self.groups if g.key == key)

    def lift(self, group: GroupResult, metric: str = "first_deposit_rate") -> float | None:
        """`group`'s rate less the hold-out group's (None without both)."""
        base = self.holdout
        mine, theirs = getattr(group, metric), getattr(base, metric) if base is not None else None
        return None if mine is None or theirs is None else mine - theirs


def _unsubscribes(campaign: Campaign) -> dict[int, int]:
    """variant id -> members who unsubscribed from this campaign's email (marketing.consent), or
    texted STOP in answer to its SMS."""
    from marketing.models import ConsentDecision

    if campaign.channel == CampaignChannel.SMS:
        # A STOP answering the campaign's text (marketing.campaign_handlers).
        rows = campaign.recipients.filter(opted_out_at__isnull=False, variant__isnull=False).values(
            "variant_id"
        )
        return {row["variant_id"]: row["n"] for row in rows.annotate(n=Count("id"))}
    # The one-click unsubscribe and the preference page reached from the email record the campaign
    # its link came from (marketing.consent_views).
    unsubscribed = ConsentDecision.objects.filter(
        channel="email",
        given=False,
        source__in=("unsubscribe", "preference_page"),
        campaign_code=str(campaign.code),
    ).values("client_id")
    rows = campaign.recipients.filter(client_id__in=unsubscribed, variant__isnull=False).values("variant_id")
    return {row["variant_id"]: row["n"] for row in rows.annotate(n=Count("id"))}


def campaign_results(*, campaign: Campaign, min_sent: int | None = None) -> CampaignResults:
    """The campaign's results per variant and for the hold-out group (see the module docstring)."""
    variants = {v.pk: v.label for v in campaign.variants.all()}
    groups = {label: GroupResult(key=label) for label in sorted(variants.values())}
    groups[HOLDOUT] = GroupResult(key=HOLDOUT)
    counts = (
        campaign.recipients.values("variant_id")
        .annotate(
            sent=Count("id", filter=Q(status=RecipientStatus.SENT)),
            held=Count("id", filter=Q(status=RecipientStatus.HELD_OUT)),
            queued=Count("id", filter=Q(status=RecipientStatus.QUEUED)),
            skipped=Count("id", filter=Q(status=RecipientStatus.SKIPPED_NO_CONSENT)),
            failed=Count("id", filter=Q(status=RecipientStatus.FAILED)),
            cancelled=Count("id", filter=Q(status=RecipientStatus.CANCELLED)),
            delivered=Count("id", filter=Q(delivered_at__isnull=False)),
            bounced=Count("id", filter=Q(delivery_failed_at__isnull=False)),
            opened=Count("id", filter=Q(opened_at__isnull=False)),
            clicked=Count("id", filter=Q(clicked_at__isnull=False)),
        )
        .order_by()
    )
    for row in counts:
        group = groups[variants[row["variant_id"]]] if row["variant_id"] is not None else groups[HOLDOUT]
        group.members = row["held"] if group.is_holdout else row["sent"]
        for name in ("queued", "skipped", "failed", "cancelled", "delivered", "bounced", "opened", "clicked"):
            setattr(group, name, row[name])
    for variant_id, n in _unsubscribes(campaign).items():
        groups[variants[variant_id]].unsubscribed = n
    if campaign.started_at is not None:
        params: dict[str, Any] = {
            "campaign": campaign.pk,
            "window": dt.timedelta(days=campaign.attribution_days),
        }
        with connection.cursor() as cursor:
            cursor.execute(_FOLLOWED, params)
            for grp, _members, registrations, firsts, depositors, volume in cursor.fetchall():
                if grp in groups:
                    group = groups[grp]
                    group.registrations, group.first_deposits, group.depositors = (
                        registrations,
                        firsts,
                        depositors,
                    )
                    group.volume = Decimal(volume)
            cursor.execute(_DEPOSITS, params)
            for grp, currency, amount in cursor.fetchall():
                if grp in groups:
                    groups[grp].deposits.append(Money(amount, currency))
    ordered = [groups[k] for k in sorted(groups) if k != HOLDOUT] + [groups[HOLDOUT]]
    winner, note = _winner(campaign, [g for g in ordered if not g.is_holdout], min_sent)
    return CampaignResults(groups=ordered, winner=winner, winner_note=note)


_METRIC = {
    WinnerMetric.OPEN: "open_rate",
    WinnerMetric.CLICK: "click_rate",
    WinnerMetric.DEPOSIT: "first_deposit_rate",
}


def _winner(campaign: Campaign, variants: list[GroupResult], min_sent: int | None) -> tuple[str | None, str]:
    from django.utils.translation import gettext

    if len(variants) < 2:
        return None, gettext("One variant: nothing to choose between.")
    needed = (
        min_sent
        if min_sent is not None
        else int(getattr(settings, "MARKETING_WINNER_MIN_SENT", WINNER_MIN_SENT))
    )
    if any(v.members < needed for v in variants):
        return None, gettext("Not enough data yet: each variant needs %(n)d emails sent.") % {"n": needed}
    rates = sorted(
        ((getattr(v, _METRIC[WinnerMetric(campaign.winner_metric)]) or 0.0, v.key) for v in variants),
        reverse=True,
    )
    if rates[0][0] == rates[1][0]:
        return None, gettext("No winner: the variants are level.")
    return rates[0][1], gettext("Variant %(label)s leads by %(metric)s.") % {
        "label": rates[0][1],
        "metric": str(WinnerMetric(campaign.winner_metric).label).lower(),
    }
