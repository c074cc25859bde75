"""Campaigns (administrators)."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext

from crm.audit import audit_record
from crm.exceptions import FieldErrors
from crm.models import Brand, User
from leads.config import config_changed
from leads.models import Campaign
from leads.services.common import _require_admin, _snapshot, text_field


@transaction.atomic
def campaign_save(*, actor: User | None, brand: Brand, code: str, name: str, source: str = "",
                  is_active: bool = True, campaign: Campaign | None = None) -> Campaign:
    """Create a campaign of `brand` or change `campaign`. Codes are lower-case slugs, unique per brand."""
    _require_admin(actor)
    from django.utils.text import slugify

    errors = FieldErrors()
    name = text_field(name, "name", 120, required=True, errors=errors)
    source = text_field(source, "source", 100, errors=errors)
    raw_code = text_field(code, "code", 64, required=True, errors=errors)
    code = slugify(raw_code).lower()
    if raw_code and not code:
        errors.add("code", gettext("Use letters, digits and hyphens."))
    clash = Campaign.objects.filter(brand_id=brand.pk, code=code)
    if campaign is not None:
        clash = clash.exclude(pk=campaign.pk)
    if code and clash.exists():
        errors.add("code", gettext("Another campaign of this brand has this code."))
    errors.raise_if_any()
    fields = ("code", "name", "source", "is_active")
    before = _snapshot(campaign, fields) if campaign is not None else None
    campaign = campaign or Campaign(brand=brand)
    campaign.code, campaign.name, campaign.source, campaign.is_active = code, name, source, bool(is_active)
    campaign.save()
    audit_record(action="campaign.save", obj=campaign, before=before, after=_snapshot(campaign, fields), actor=actor)
    config_changed(brand.pk)
    return campaign
