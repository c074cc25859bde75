"""Typed access to a form's fields: `form.fields` holds plain `Field`s as far as the types go."""

from __future__ import annotations

from django import forms


def form_field[F: forms.Field](form: forms.BaseForm, name: str, kind: type[F]) -> F:
    """The form's field `name`, which must be a `kind` (a ChoiceField to set its choices, a
    ModelChoiceField its queryset)."""
    field = form.fields[name]
    if not isinstance(field, kind):
        raise TypeError(f"{type(form).__name__}.{name} is a {type(field).__name__}, not a {kind.__name__}")
    return field
