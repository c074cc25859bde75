"""Partner banners: the IB manager uploads them (only real PNG, JPEG, GIF or WebP images), partners
copy each with their own tracking link behind it, the image is served to any site while the banner
is offered and stops when it is withdrawn."""

from __future__ import annotations

import io

import pytest
from django.test import Client as HttpClient
from PIL import Image

from crm.models import AuditLog, RoleCode
from ib.models import LinkKind, PartnerBanner
from tests.factories import make_brand, make_user
from tests.ib.engine_world import make_world

PASSWORD = "Quiet-Harbour-9174"  # noqa: S105 - test passwords
STAFF_PASSWORD = "Staff-Lantern-4410"  # noqa: S105


def png(width: int = 728, height: int = 90, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (20, 80, 160)).save(out, format=fmt)
    return out.getvalue()


@pytest.fixture
def world(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    w = make_world()
    w.services.partner_program_set(actor=None, brand=w.brand, landing_domains=["example.com"])
    w.services.partner_login_set_password(partner=w.master, password=PASSWORD)
    w.services.partner_login_set_password(partner=w.sub, password=PASSWORD)
    w.link = w.services.tracking_link_create(partner=w.master, landing_url="https://example.com/open", campaign="Spring")
    w.code = w.services.tracking_link_create(partner=w.master, kind=LinkKind.CODE)
    w.sub_link = w.services.tracking_link_create(partner=w.sub, landing_url="https://example.com/open")
    w.manager = make_user(role_code=RoleCode.IB_MANAGER, brand=w.brand, email="ibm@staff.example",
                          password=STAFF_PASSWORD)
    return w


def staff(w) -> HttpClient:
    http = HttpClient()
    http.force_login(w.manager)
    return http


def partner(w, email: str) -> HttpClient:
    http = HttpClient()
    assert http.post(f"/partners/{w.brand.code}/login/", {"email": email, "password": PASSWORD}).status_code == 302
    return http


def upload(http: HttpClient, w, data: bytes, name: str = "Leaderboard", filename: str = "banner.png"):
    return http.post("/ib/banners/", {"brand": w.brand.code, "name": name, "language": "",
                                      "image": _file(data, filename)})


def _file(data: bytes, filename: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(filename, data)


def test_the_manager_uploads_a_banner_and_each_partner_copies_it_with_its_own_link(world):
    done = upload(staff(world), world, png())
    assert done.status_code == 302
    banner = PartnerBanner.objects.get()
    assert (banner.width, banner.height, banner.extension, banner.is_active) == (728, 90, "png", True)
    assert AuditLog.objects.filter(action="ib.banner_uploaded", actor=world.manager).count() == 1

    page = partner(world, "m@ib.example").get("/partners/banners/").content.decode()
    assert "Leaderboard" in page and 'width="728" height="90"' in page
    assert f"/r/{world.link.code}/" in page  # the master's own tracking link behind the banner
    assert f"/r/{world.sub_link.code}/" not in page and f"/r/{world.code.code}/" not in page  # not a code, not the sub's
    sub_page = partner(world, "s@ib.example").get("/partners/banners/").content.decode()
    assert f"/r/{world.sub_link.code}/" in sub_page and f"/r/{world.link.code}/" not in sub_page

    image = HttpClient().get(f"/partners/banners/{banner.code}.png")  # any site, no login
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert image.content == png() and image["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert HttpClient().get(f"/partners/banners/{banner.code}.jpg").status_code == 404  # not what it is


@pytest.mark.parametrize(("data", "filename", "problem"), [
    (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "b.svg", "not an image we can read"),
    (b"%PDF-1.4 not a banner", "b.png", "not an image we can read"),
    (png(fmt="BMP"), "b.bmp", "Upload a PNG, JPEG, GIF or WebP image (this one is BMP)"),
    (png(4100, 50), "b.png", "larger than 4000 pixels a side"),
    (b"", "b.png", "empty"),
], ids=["svg", "pdf", "bmp", "too-wide", "empty"])
def test_a_file_that_is_not_an_accepted_image_is_refused_with_the_reason(world, data, filename, problem):
    refused = upload(staff(world), world, data, filename=filename)
    assert refused.status_code == 400 and problem in refused.content.decode()
    assert not PartnerBanner.objects.exists()


def test_a_file_over_two_megabytes_is_refused(world, settings):
    big = io.BytesIO()
    Image.effect_noise((1200, 1200), 100).convert("RGB").save(big, format="PNG")
    assert big.tell() > 2 * 1024 * 1024 or pytest.skip("noise compressed under 2 MB")
    refused = upload(staff(world), world, big.getvalue())
    assert refused.status_code == 400 and "larger than 2 MB" in refused.content.decode()


def test_a_withdrawn_banner_is_no_longer_offered_nor_served(world):
    http = staff(world)
    upload(http, world, png())
    banner = PartnerBanner.objects.get()
    assert http.post(f"/ib/banners/{banner.code}/active/", {"active": "0"}).status_code == 302
    assert HttpClient().get(f"/partners/banners/{banner.code}.png").status_code == 404
    assert "Leaderboard" not in partner(world, "m@ib.example").get("/partners/banners/").content.decode()
    http.post(f"/ib/banners/{banner.code}/active/", {"active": "1"})
    assert HttpClient().get(f"/partners/banners/{banner.code}.png").status_code == 200


def test_only_the_brands_ib_managers_upload_and_an_agent_sees_no_banner_page(world):
    other = make_user(role_code=RoleCode.IB_MANAGER, brand=make_brand(), email="other@staff.example")
    http = HttpClient()
    http.force_login(other)
    refused = upload(http, world, png())  # a brand not theirs: not even in the choices
    assert refused.status_code == 400 and not PartnerBanner.objects.exists()
    agent = make_user(role_code=RoleCode.SALES_AGENT, brand=world.brand, email="agent@staff.example")
    http = HttpClient()
    http.force_login(agent)
    assert http.get("/ib/banners/").status_code in (302, 403, 404)
    assert upload(http, world, png()).status_code in (302, 403, 404) and not PartnerBanner.objects.exists()


def test_a_phone_cameras_jpeg_is_taken_as_the_jpeg_it_is(world):
    out = io.BytesIO()
    frames = [Image.new("RGB", (300, 250), (20, 80, 160)), Image.new("RGB", (300, 250), (160, 80, 20))]
    frames[0].save(out, format="MPO", save_all=True, append_images=frames[1:])
    assert Image.open(io.BytesIO(out.getvalue())).format == "MPO"
    assert upload(staff(world), world, out.getvalue(), filename="IMG_0042.JPG").status_code == 302
    banner = PartnerBanner.objects.get()
    assert (banner.extension, banner.width, banner.height) == ("jpg", 300, 250)
    image = HttpClient().get(f"/partners/banners/{banner.code}.jpg")
    assert image.status_code == 200 and image["Content-Type"] == "image/jpeg"
