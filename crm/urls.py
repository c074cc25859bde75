from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from crm.api import api

urlpatterns = [
    path("", include("crm.views.urls_ui")),  # staff pages: dashboard, clients, tasks, notifications, settings
    path("", include("crm.views.urls_auth")),  # login, logout, two-factor, staff and role administration
    path("", include("crm.views.urls_admin")),  # event deliveries, audit log, API keys
    path("", include("crm.views.urls_ops")),  # /healthz
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
    path("django-rq/", include("django_rq.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
]
