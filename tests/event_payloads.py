"""Payloads that fit the event catalogue, for tests that stand in for an app emitting its events
(the KYC app and the wallet do not exist yet; trading's sync is not run by these tests)."""

from __future__ import annotations

import uuid
from typing import Any


def ref(user: Any) -> dict[str, str] | None:
    return None if user is None else {"code": str(user.code), "name": user.full_name or user.email}


def kyc_submitted(*, documents: int = 2) -> dict[str, Any]:
    return {"documents": documents}


def kyc_approved(*, level: str = "full", reviewer: Any = None) -> dict[str, Any]:
    return {"level": level, "reviewer": ref(reviewer)}


def first_deposit(*, amount: str, currency: str, method: str = "card") -> dict[str, Any]:
    return {"deposit": str(uuid.uuid4()), "amount": amount, "currency": currency, "method": method}


def account_inactive(*, days: int, login: int = 100001) -> dict[str, Any]:
    return {"account": str(uuid.uuid4()), "login": login, "server": 1, "days": days, "last_trade_at": None}


def lead_routed(*, owner: Any, desk: Any = None) -> dict[str, Any]:
    return {"rule": None, "strategy": "", "owner": ref(owner), "desk": ref(desk) if desk is not None else None,
            "queued": False, "why": [], "skipped": []}


def portal_registered(*, brand: str = "atlas", language: str = "en", matched_lead: bool = False,
                      referrer_code: str = "") -> dict[str, Any]:
    """What the trader's room emits when a client registers (portal.registered)."""
    return {"login": str(uuid.uuid4()), "brand": brand, "language": language, "matched_lead": matched_lead,
            "attribution": {"referrer_code": referrer_code} if referrer_code else {}, "marketing": False}
