"""The partner portal, under /partners/: a partner's own pages, never a staff or client page."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path, register_converter

from ib import partner_views as views
from ib.models import LINE_KEY_RE


class LineKeyConverter:
    """A commission line's key (ib.models.line_key), never another earnings page's name."""

    regex = LINE_KEY_RE.pattern

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(LineKeyConverter, "line_key")

app_name = "partners"

urlpatterns: list[URLPattern | URLResolver] = [
    path("partners/", views.dashboard, name="dashboard"),
    path("partners/login/", views.login_entry, name="login"),
    path("partners/logout/", views.logout, name="logout"),
    path("partners/network/", views.network, name="network"),
    path("partners/network/invite/", views.sub_partner_invite, name="sub_partner_invite"),
    path("partners/links/", views.links, name="links"),
    path("partners/clients/", views.clients, name="clients"),
    path("partners/earnings/", views.earnings, name="earnings"),
    # A line by its key (ib.models.line_key), which outlives the run that computed it.
    path("partners/earnings/<line_key:line_key>/", views.line_detail, name="line"),
    path("partners/earnings/<line_key:line_key>/dispute/", views.line_dispute, name="line_dispute"),
    path("partners/earnings/statement/", views.statement, name="statement"),
    path("partners/disputes/", views.dispute_list, name="disputes"),
    path("partners/postbacks/", views.postback_log, name="postbacks"),

    path("partners/payouts/", views.payouts, name="payouts"),
    path("partners/links/<str:code>/qr.<str:fmt>", views.link_qr, name="link_qr"),
    path("partners/banners/", views.banners, name="banners"),
    # Public (no login): the image a partner's site shows.
    path("partners/banners/<uuid:code>.<str:ext>", views.banner_image, name="banner_image"),
    path("partners/<slug:brand_code>/login/", views.login, name="login_brand"),
    # Public: the partner application form of a brand, and an invitation's link.
    path("partners/<slug:brand_code>/apply/", views.apply, name="apply"),
    path("partners/<slug:brand_code>/agreement/", views.agreement, name="agreement"),
    path("partners/join/<str:token>/", views.join, name="join"),
    path("partners/<slug:brand_code>/password/reset/", views.password_reset, name="password_reset"),
    path("partners/password/reset/<str:uid>/<str:token>/", views.password_reset_confirm,
         name="password_reset_confirm"),
]
