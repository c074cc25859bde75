"""The event catalogue, for administrators: every domain event, its payload, and who listens.

Everyone else gets 404, as for a page that does not exist.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.views.decorators.http import require_GET

from crm.events import catalogue_overview
from crm.permissions import AuthedRequest
from crm.views.staff import administrator_required
from crm.views.ui import render_page


@administrator_required
@require_GET
def event_catalogue(request: AuthedRequest) -> HttpResponse:
    return render_page(request, "crm/events/catalogue.html", {"catalogue": catalogue_overview()})
