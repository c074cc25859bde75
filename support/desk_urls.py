"""URLs of the support desk's staff pages (support.urls includes them)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from support import desk_views

urlpatterns: list[URLPattern | URLResolver] = [
    path("support/", desk_views.queue, name="support_queue"),
    path("support/tickets/<str:reference>/", desk_views.ticket_detail, name="support_ticket"),
    path("support/tickets/<str:reference>/canned/", desk_views.canned_fill, name="support_ticket_canned"),
    path("support/tickets/<str:reference>/files/<uuid:code>/", desk_views.attachment, name="support_ticket_attachment"),
    path("support/tickets/<str:reference>/<slug:action>/", desk_views.ticket_action, name="support_ticket_action"),
    path("support/desks/", desk_views.desks, name="support_desks"),
    path("support/desks/<int:pk>/", desk_views.desk_detail, name="support_desk"),
    path("support/canned-answers/", desk_views.canned_answers, name="support_canned"),
]
