"""Partner banners: the brand's creatives (uploaded by the IB manager) that partners place on their
own sites, each linking through the partner's tracking link.

An upload is checked for what it is, not for what its name says: Pillow reads it, and only PNG,
JPEG, GIF and WebP images up to BANNER_MAX_BYTES and BANNER_MAX_SIDE pixels a side are kept (an SVG
could carry script to the sites that show it). The stored name ends with the real format's
extension, and the public address names the banner by its code."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.utils.html import format_html
from django.utils.translation import gettext
from PIL import Image, UnidentifiedImageError

from crm.audit import audit_record
from crm.exceptions import ValidationFailed
from crm.models import Brand, User
from ib.models import Partner, PartnerBanner

BANNER_MAX_BYTES = 2 * 1024 * 1024
BANNER_MAX_SIDE = 4000
FORMATS = {"PNG": ("png", "image/png"), "JPEG": ("jpg", "image/jpeg"), "GIF": ("gif", "image/gif"),
           "WEBP": ("webp", "image/webp"),
           "MPO": ("jpg", "image/jpeg")}  # a phone camera's JPEG (Pillow names it by its extra pictures)
CONTENT_TYPES = dict(FORMATS.values())


def _image_facts(data: bytes) -> tuple[str, int, int]:
    """(extension, width, height) of an image we accept; ValidationFailed naming the problem."""
    if not data:
        raise ValidationFailed(fields={"image": gettext("The file is empty.")})
    if len(data) > BANNER_MAX_BYTES:
        raise ValidationFailed(fields={"image": gettext("The image is larger than 2 MB.")})
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
        with Image.open(io.BytesIO(data)) as image:
            fmt, (width, height) = image.format or "", image.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise ValidationFailed(fields={"image": gettext("The file is not an image we can read.")}) from None
    if fmt not in FORMATS:
        raise ValidationFailed(fields={"image": gettext("Upload a PNG, JPEG, GIF or WebP image (this one is %(format)s).")
                                       % {"format": fmt or "?"}})
    if max(width, height) > BANNER_MAX_SIDE:
        raise ValidationFailed(fields={"image": gettext("The image is larger than %(side)d pixels a side.")
                                       % {"side": BANNER_MAX_SIDE}})
    return FORMATS[fmt][0], width, height


@transaction.atomic
def banner_upload(*, actor: User | None, brand: Brand, name: str, data: bytes, language: str = "") -> PartnerBanner:
    """Store a banner of `brand` (the IB manager's permission and brand); audited."""
    from ib.services import _require

    _require(actor, brand.pk)
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(fields={"name": gettext("Give the banner a name partners will recognise.")})
    extension, width, height = _image_facts(data)
    banner = PartnerBanner(brand=brand, name=name[:120], extension=extension, width=width, height=height,
                           size_bytes=len(data), language=(language or "").strip()[:10], created_by=actor)
    banner.image.save(f"{banner.code}.{extension}", ContentFile(data), save=False)
    banner.save()
    audit_record(action="ib.banner_uploaded", obj=banner, actor=actor, after={
        "brand": brand.code, "name": banner.name, "size": f"{width}x{height}", "language": banner.language})
    return banner


@transaction.atomic
def banner_set_active(*, actor: User | None, banner: PartnerBanner, active: bool) -> PartnerBanner:
    """Offer the banner to partners again, or withdraw it (its image stops being served: sites that
    still show it show nothing)."""
    from ib.services import _require

    _require(actor, banner.brand_id)
    locked = PartnerBanner.objects.select_for_update().get(pk=banner.pk)
    if locked.is_active != active:
        locked.is_active = active
        locked.save(update_fields=["is_active"])
        audit_record(action="ib.banner_activated" if active else "ib.banner_withdrawn", obj=locked, actor=actor,
                     before={"active": not active}, after={"active": active})
    return locked


def banners_for_partner(partner: Partner, language: str = "") -> QuerySet[PartnerBanner]:
    """The brand's active banners, those in `language` first, then those for any language, then the rest."""
    order = Case(When(language=language, then=Value(0)), When(language="", then=Value(1)), default=Value(2),
                 output_field=IntegerField()) if language else Value(0)
    return (PartnerBanner.objects.filter(brand_id=partner.brand_id, is_active=True)
            .annotate(rank=order).order_by("rank", "-created_at", "-id"))


@dataclass(frozen=True)
class Placement:
    """One banner with one of the partner's links: the HTML a partner pastes into its site."""

    link_label: str
    snippet: str


def banner_snippet(*, banner: PartnerBanner, image_url: str, link_url: str) -> str:
    return str(format_html('<a href="{}" rel="sponsored noopener"><img src="{}" width="{}" height="{}" alt="{}"></a>',
                           link_url, image_url, banner.width, banner.height, banner.name))


def banner_image(code: Any, extension: str) -> tuple[bytes, str] | None:
    """The bytes and content type of an active banner named by its code and extension; None otherwise."""
    banner = PartnerBanner.objects.filter(code=code, extension=extension, is_active=True).first()
    if banner is None:
        return None
    with banner.image.open("rb") as stream:
        return stream.read(), CONTENT_TYPES[banner.extension]
