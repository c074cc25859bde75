"""URLs of the compliance staff pages."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from compliance import views_restrictions as restrictions

urlpatterns: list[URLPattern | URLResolver] = [
    path("compliance/jurisdictions/", restrictions.jurisdictions, name="compliance_jurisdictions"),
    path("compliance/jurisdictions/<slug:brand_code>/set/", restrictions.jurisdiction_save,
         name="compliance_jurisdiction_save"),
    path("compliance/jurisdictions/<slug:brand_code>/upload/", restrictions.jurisdictions_upload,
         name="compliance_jurisdictions_upload"),
    path("compliance/jurisdictions/<slug:brand_code>/<str:country>/clients/", restrictions.jurisdiction_clients,
         name="compliance_jurisdiction_clients"),
    path("compliance/clients/<uuid:code>/restrictions/", restrictions.restriction_impose,
         name="compliance_restriction_impose"),
    path("compliance/restrictions/<uuid:code>/lift/", restrictions.restriction_lift,
         name="compliance_restriction_lift"),
]
