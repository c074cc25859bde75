"""Reads for the withdrawal policy's page: which currencies a brand's policy is set in, and the
policy's recent changes from the audit trail (the writes are `withdrawal_policy_save`)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from crm.models import AuditLog, Brand
from wallet.models import PaymentMethodCurrency, WithdrawalPolicy
from wallet.models.providers import Direction

POLICY_PERMISSION = "wallet.view_withdrawalpolicy"  # see each brand's policy
CHANGE_POLICY_PERMISSION = "wallet.change_withdrawalpolicy"  # set it (administrators)
SAVED_ACTION = "wallet.withdrawal_policy_saved"


def withdrawal_policy_currencies(*, brand: Brand, policy: WithdrawalPolicy | None) -> list[str]:
    """The brand's default currency, every currency its withdrawal methods pay out in, and any the
    policy already has an amount for, in that order without repeats."""
    paid_out = (PaymentMethodCurrency.objects.filter(method__brand=brand, method__direction=Direction.WITHDRAWAL)
                .order_by("currency").values_list("currency", flat=True).distinct())
    kept: list[str] = []
    if policy is not None:
        for table in (policy.auto_approve_below, policy.four_eyes_above, policy.daily_limit,
                      policy.refund_four_eyes_above):
            kept.extend(sorted((table or {}).keys()))
    out: list[str] = []
    for currency in (brand.default_currency, *paid_out, *kept):
        if currency and currency not in out:
            out.append(currency)
    return out


def withdrawal_policies_of(*, brands: QuerySet[Brand]) -> list[tuple[Brand, WithdrawalPolicy | None]]:
    """Each brand with its policy (None: never set, so no automatic approval, no four eyes, no limit)."""
    policies = {p.brand_id: p for p in WithdrawalPolicy.objects.filter(brand__in=brands)}
    return [(brand, policies.get(brand.pk)) for brand in brands.order_by("name")]


def withdrawal_policy_changes(*, policy: WithdrawalPolicy | None, limit: int = 10) -> list[Any]:
    """The policy's latest saves as the audit trail has them (who, when, before and after)."""
    if policy is None:
        return []
    return list(AuditLog.objects.filter(action=SAVED_ACTION, object_type=policy._meta.label_lower,
                                        object_id=str(policy.pk)).order_by("-id")[:limit])
