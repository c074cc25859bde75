"""The compliance dashboard page (compliance officers and administrators): thin, the figures come
from compliance.dashboard."""

from __future__ import annotations

from django.http import HttpResponse
from django.views.decorators.http import require_GET

from compliance.dashboard import DASHBOARD_PERMISSION, compliance_dashboard
from crm.permissions import AuthedRequest, page_permission_required
from crm.views.ui import render_page


@page_permission_required(DASHBOARD_PERMISSION)
@require_GET
def dashboard(request: AuthedRequest) -> HttpResponse:
    board = compliance_dashboard(user=request.user)
    return render_page(request, "compliance/dashboard.html", {"board": board, "chart_json": board.chart})
