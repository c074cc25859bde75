"""Test data built through the real services, so tests cannot pass on states the product never makes.

Brands and desks have no core services of their own yet (administration creates them), so they
are plain rows; users and clients go through crm.services.
"""

from __future__ import annotations

import itertools
from typing import Any

from crm.models import Brand, Client, Desk, RoleCode, Stage, User
from crm.models.stages import CREATABLE_STAGES, Proof
from crm.services import (
    client_create,
    client_stage_change,
    client_stage_prove,
    client_verification_set,
    user_create,
)
from kyc.event_types import KYC_APPROVAL
from trading.event_types import FIRST_TRADE
from wallet.event_types import FIRST_DEPOSIT

_seq = itertools.count(1)


def _n() -> int:
    return next(_seq)


def make_brand(*, code: str | None = None, name: str | None = None, **fields: Any) -> Brand:
    n = _n()
    return Brand.objects.create(code=code or f"brand-{n}", name=name or f"Brand {n}", **fields)


def make_desk(*, brand: Brand | None = None, name: str | None = None, manager: User | None = None,
              **fields: Any) -> Desk:
    return Desk.objects.create(brand=brand or make_brand(), name=name or f"Desk {_n()}", manager=manager, **fields)


def make_user(
    *,
    role_code: str = RoleCode.SALES_AGENT,
    brand: Brand | None = None,
    desk: Desk | None = None,
    email: str | None = None,
    full_name: str | None = None,
    brands: list[Brand] | None = None,
    all_brands: bool | None = None,
    password: str | None = None,
    **extra: Any,
) -> User:
    """A member of staff with `role_code`. Brand-limited to `brand` (or the desk's brand, or a new
    brand) unless `all_brands`; administrators default to all brands."""
    n = _n()
    if all_brands is None:
        all_brands = role_code == RoleCode.ADMIN
    if brands is None:
        brand = brand or (desk.brand if desk is not None else None)
        if brand is None and not all_brands:
            brand = make_brand()
        brands = [brand] if brand is not None else []
    return user_create(
        actor=None,
        email=email or f"user{n}@staff.example.com",
        full_name=full_name or f"{role_code.replace('_', ' ').title()} {n}",
        role_code=role_code,
        password=password,
        desk=desk,
        brands=brands,
        all_brands=all_brands,
        **extra,
    )


def make_client(*, actor: User | None = None, brand: Brand | None = None, **fields: Any) -> Client:
    """A client created through client_create, by `actor` (None: the system).

    Without `brand`, the actor's first brand is used, or a new brand. A `stage` a client cannot be
    created at is reached the way the product reaches it (client_reach_stage).
    """
    if brand is None:
        if actor is not None and not actor.all_brands:
            brand = actor.brands.order_by("pk").first()
        brand = brand or make_brand()
    n = _n()
    fields.setdefault("first_name", f"Client{n}")
    fields.setdefault("last_name", f"Person{n}")
    stage = fields.pop("stage", Stage.LEAD)
    if stage in CREATABLE_STAGES:
        return client_create(actor=actor, brand=brand, stage=stage, **fields)
    return client_reach_stage(client_create(actor=actor, brand=brand, **fields), stage)


# The proofs (and the ordinary moves after them) that take a new lead to each stage.
_PATHS: dict[str, tuple[Proof | str, ...]] = {
    Stage.LEAD: (),
    Stage.REGISTERED: (Stage.REGISTERED,),
    Stage.VERIFIED: (KYC_APPROVAL,),
    Stage.FUNDED: (KYC_APPROVAL, FIRST_DEPOSIT),
    Stage.ACTIVE: (KYC_APPROVAL, FIRST_DEPOSIT, FIRST_TRADE),
    Stage.DORMANT: (KYC_APPROVAL, FIRST_DEPOSIT, FIRST_TRADE, Stage.DORMANT),
    Stage.CLOSED: (Stage.CLOSED,),
}


def client_reach_stage(client: Client, stage: str) -> Client:
    """Take a lead to `stage` through the services: the proofs KYC, the wallet and trading would
    give (client_stage_prove), then ordinary moves (by the system)."""
    for step in _PATHS[stage]:
        if step == KYC_APPROVAL:  # as the KYC app's approval does: verified, and the stage proven
            client = client_verification_set(client=client, verified=True, reason="approved")
        elif isinstance(step, Proof):
            client = client_stage_prove(client=client, proof=step)
        else:
            client = client_stage_change(actor=None, client=client, stage=step)
    return client
