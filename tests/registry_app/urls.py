from __future__ import annotations

from django.urls import path

from tests.registry_app import views

urlpatterns = [path("gadgets/", views.gadgets, name="registry_app_gadgets")]
