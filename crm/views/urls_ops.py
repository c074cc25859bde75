from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from crm.metrics import metrics_view
from crm.views import ops

urlpatterns: list[URLPattern | URLResolver] = [
    path("healthz", ops.healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("favicon.ico", ops.favicon, name="favicon"),
]
