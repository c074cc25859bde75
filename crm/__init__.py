# Django's generic classes (fields, Paginator, ModelAdmin...) accept type arguments at run time as
# django-stubs declares them, e.g. `class CappedPaginator(Paginator[Any])`; first, before any module
# of the CRM defines such a class.
import django_stubs_ext

django_stubs_ext.monkeypatch()

from crm.celery import app as celery_app  # noqa: E402

__all__ = ["celery_app"]
