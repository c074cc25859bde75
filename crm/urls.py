from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path

from crm.api import api
from crm.api import not_found as api_not_found

urlpatterns = [
    # The API first: its callers (lead vendors above all) are the busiest, and Django tries the
    # patterns in order; no page lives under /api/.
    path("api/v1/", api.urls),
    re_path(r"^api/", api_not_found),  # other /api/ paths: a JSON 404, not the HTML page
    path("", include("crm.views.urls_ui")),  # staff pages: dashboard, clients, tasks, notifications, settings
    path("", include("crm.views.urls_auth")),  # login, logout, two-factor, staff and role administration
    path("", include("crm.views.urls_admin")),  # event deliveries, audit log, API keys
    path("", include("crm.views.urls_automation")),  # automation rules, run log, email templates
    path("", include("crm.views.urls_ops")),  # /healthz
    path("", include("leads.urls")),  # public lead form, imports, reassignment, lead settings
    path("", include("trading.urls")),  # trading accounts, platform servers, dealing
    path("admin/", admin.site.urls),
    path("django-rq/", include("django_rq.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
]

# Error pages in the CRM's look (a JSON error under /api/): crm/views/errors.py.
handler400 = "crm.views.errors.bad_request"
handler403 = "crm.views.errors.permission_denied"
handler404 = "crm.views.errors.page_not_found"
handler500 = "crm.views.errors.server_error"
