"""Typed access to models' _meta: what Django guarantees at run time, checked where the types cannot."""

from __future__ import annotations

from typing import Any

from django.db import models


def model_field(model: type[models.Model] | models.Model, name: str) -> models.Field[Any, Any]:
    """The model's field `name` (`_meta.get_field`), refusing the reverse side of a relation."""
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field):
        raise TypeError(f"{model._meta.label}.{name} is the reverse side of a relation, not a field")
    return field


def column(field: models.Field[Any, Any]) -> str:
    """A concrete field's column (Django leaves it None only on fields without one, like a ManyToMany)."""
    if field.column is None:
        raise ValueError(f"{field} has no column of its own")
    return field.column
