from __future__ import annotations

from django.contrib import admin

from portal.models import ConsentDocument


@admin.register(ConsentDocument)
class ConsentDocumentAdmin(admin.ModelAdmin[ConsentDocument]):
    list_display = ("brand", "kind", "version", "language", "title", "published_at")
    list_filter = ("brand", "kind", "language")
