"""URLs of the complaints register's staff pages and of the partner portal's support pages
(support.urls includes them)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from support import complaint_views, partner_views

urlpatterns: list[URLPattern | URLResolver] = [
    path("support/complaints/", complaint_views.complaint_list, name="support_complaints"),
    path("support/complaints/register/<slug:brand_code>/<str:month>.<str:fmt>", complaint_views.register_download,
         name="support_complaint_register"),
    path("support/complaints/<str:reference>/", complaint_views.complaint_detail, name="support_complaint"),
    path("support/complaints/<str:reference>/acknowledge/", complaint_views.complaint_acknowledge,
         name="support_complaint_acknowledge"),
    path("support/complaints/<str:reference>/respond/", complaint_views.complaint_respond,
         name="support_complaint_respond"),
    path("support/complaints/<str:reference>/close/", complaint_views.complaint_close,
         name="support_complaint_close"),
    path("support/tickets/<str:reference>/complaint/", complaint_views.ticket_mark_complaint,
         name="support_ticket_mark_complaint"),
    # The partner portal's support pages (the partner's session: ib.permissions.partner_login_required).
    path("partners/support/", partner_views.ticket_list, name="support_partner_tickets"),
    path("partners/support/new/", partner_views.ticket_new, name="support_partner_ticket_new"),
    path("partners/support/complaint/", partner_views.complaint_new, name="support_partner_complaint_new"),
    path("partners/support/<str:reference>/", partner_views.ticket_detail, name="support_partner_ticket"),
    path("partners/support/<str:reference>/files/<uuid:code>/", partner_views.attachment,
         name="support_partner_attachment"),
]
