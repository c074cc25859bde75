from __future__ import annotations

import sys
from importlib.util import find_spec
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path, re_path

from integrations.assembly import api
from integrations.assembly import not_found as api_not_found


def project_url_modules() -> list[str]:
    """The project's apps (beside crm) that have a urls module: adding an app never edits this file."""
    root, installed = Path(settings.BASE_DIR).resolve(), Path(sys.prefix).resolve()  # a virtualenv may sit in root
    return [config.name for config in apps.get_app_configs()
            if config.name != "crm" and Path(config.path).resolve().is_relative_to(root)
            and not Path(config.path).resolve().is_relative_to(installed)
            and find_spec(f"{config.name}.urls") is not None]


urlpatterns: list[URLPattern | URLResolver] = [
    # The API first: its callers (lead vendors above all) are the busiest, and Django tries the
    # patterns in order; no page lives under /api/.
    path("api/v1/", api.urls),
    re_path(r"^api/", api_not_found),  # other /api/ paths: a JSON 404, not the HTML page
    path("", include("crm.views.urls_ui")),  # staff pages: dashboard, clients, tasks, notifications, settings
    path("", include("crm.views.urls_auth")),  # login, logout, two-factor, staff and role administration
    path("", include("crm.views.urls_admin")),  # event deliveries, audit log, API keys
    path("", include("crm.views.urls_ops")),  # /healthz
    # Each of the project's other apps brings its pages in <app>/urls.py (leads: the public lead form,
    # imports, the desk's pages; trading: accounts, platform servers, dealing), in INSTALLED_APPS order.
    *(path("", include(f"{name}.urls")) for name in project_url_modules()),
    path("admin/", admin.site.urls),
    path("django-rq/", include("django_rq.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
]

# Error pages in the CRM's look (a JSON error under /api/): crm/views/errors.py.
handler400 = "crm.views.errors.bad_request"
handler403 = "crm.views.errors.permission_denied"
handler404 = "crm.views.errors.page_not_found"
handler500 = "crm.views.errors.server_error"
