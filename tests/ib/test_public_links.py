"""A partner's tracking link, its QR codes and its banner snippets carry CRM_PUBLIC_URL, never the
Host of the page that showed them: a partner prints them on flyers and puts them on other sites."""

from __future__ import annotations

import html
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as HttpClient
from django.urls import reverse
from PIL import Image

from crm.models import RoleCode
from ib.models import PartnerBanner
from ib.views import link_qr_image
from tests.factories import make_user
from tests.ib.engine_world import make_world

PASSWORD = "Quiet-Harbour-9174"  # noqa: S105 - test password
PUBLIC = "https://partners.broker.example:8622"


@pytest.fixture
def world(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CRM_PUBLIC_URL = PUBLIC
    w = make_world()
    w.services.partner_program_set(actor=None, brand=w.brand, landing_domains=["example.com"])
    w.services.partner_login_set_password(partner=w.master, password=PASSWORD)
    w.link = w.services.tracking_link_create(partner=w.master, landing_url="https://example.com/open")
    w.manager = make_user(role_code=RoleCode.IB_MANAGER, brand=w.brand, email="ibm@staff.example")
    return w


def _partner(w) -> HttpClient:
    http = HttpClient()
    assert http.post(f"/partners/{w.brand.code}/login/", {"email": "m@ib.example", "password": PASSWORD}).status_code == 302
    return http


def test_the_partner_dashboard_shows_the_tracking_link_on_the_public_url(world):
    page = _partner(world).get(reverse("partners:dashboard")).content.decode()

    assert f"{PUBLIC}/r/{world.link.code}/" in page
    assert "testserver" not in page


@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_the_qr_codes_for_partner_and_staff_encode_the_public_url(world, fmt):
    expected, _ = link_qr_image(world.link, url=f"{PUBLIC}/r/{world.link.code}/", fmt=fmt)
    staff = HttpClient()
    staff.force_login(world.manager)

    from_partner = _partner(world).get(reverse("partners:link_qr", args=[world.link.code, fmt]))
    from_staff = staff.get(reverse("ib_link_qr", args=[world.link.code, fmt]))

    assert from_partner.status_code == 200 and from_partner.content == expected
    assert from_staff.status_code == 200 and from_staff.content == expected


def test_a_banner_snippet_points_at_the_public_url(world):
    image = io.BytesIO()
    Image.new("RGB", (300, 250), (20, 80, 160)).save(image, format="PNG")
    staff = HttpClient()
    staff.force_login(world.manager)
    staff.post("/ib/banners/", {"brand": world.brand.code, "name": "Box", "language": "",
                                "image": SimpleUploadedFile("box.png", image.getvalue())})
    banner = PartnerBanner.objects.get()

    page = html.unescape(_partner(world).get(reverse("partners:banners")).content.decode())

    assert f'href="{PUBLIC}/r/{world.link.code}/"' in page
    assert f'src="{PUBLIC}/partners/banners/{banner.code}.png"' in page
