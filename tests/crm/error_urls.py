"""The CRM's URL conf plus views that fail, for the error page tests."""

from django.urls import path

from crm.urls import handler400, handler403, handler404, handler500, urlpatterns  # noqa: F401


def boom(request):
    raise RuntimeError("secret internals")


urlpatterns = [path("__boom__/", boom), path("api/__boom__/", boom), *urlpatterns]
