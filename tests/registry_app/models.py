from __future__ import annotations

from django.db import models


class Gadget(models.Model):
    name = models.CharField(max_length=50)

    class Meta:
        default_permissions = ("view",)

    def __str__(self) -> str:
        return self.name
