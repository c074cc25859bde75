"""URLs of support's pages: the complaints register's staff pages and the partner portal's support
pages (support/complaint_urls.py); the desk's pages join them here."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

urlpatterns: list[URLPattern | URLResolver] = [
    path("", include("support.complaint_urls")),
    path("", include("support.mail_urls")),  # the inbound-mail webhook (public, signed)
    path("", include("support.desk_urls")),
]
