"""The segment builder's form: a brand, a name, "all" or "any", and rows of fact, operator and value
(days and currency where the fact takes them); or a whole definition as JSON (nested groups)."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.http import QueryDict
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.models import Brand
from plumbing.segments import OPERATORS, Fact

ROWS = 8


class SegmentForm(forms.Form):
    brand = forms.ModelChoiceField(label=_("Brand"), queryset=Brand.objects.none())
    name = forms.CharField(label=_("Name"), max_length=120)
    match = forms.ChoiceField(
        label=_("Clients matching"),
        choices=(("all", _("all of the conditions")), ("any", _("any of the conditions"))),
    )
    definition_json = forms.CharField(
        label=_("Definition as JSON (nested groups; replaces the rows)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args: Any, brands: Any, facts: list[Fact], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["brand"].queryset = brands  # type: ignore[attr-defined]  # a ModelChoiceField, typed as Field
        self.facts = facts

    def rows(self) -> list[dict[str, Any]]:
        """The builder's rows as posted (or from the initial definition), for the page."""
        data: Any = self.data if self.is_bound else QueryDict(mutable=True)
        if not self.is_bound:
            for i, cond in enumerate(
                c for c in (self.initial.get("definition") or {}).get("conditions", []) if "fact" in c
            ):
                for part in ("fact", "op", "value", "days", "currency"):
                    value = cond.get(part, "")
                    data[f"{part}_{i}"] = " ".join(value) if isinstance(value, list) else str(value)
        return [
            {part: data.get(f"{part}_{i}", "") for part in ("fact", "op", "value", "days", "currency")}
            | {"i": i}
            for i in range(ROWS)
        ]

    def operators(self) -> list[tuple[str, Any]]:
        seen: dict[str, Any] = {}
        for ops in OPERATORS.values():
            for key, label in ops.items():
                seen.setdefault(key, gettext(label))
        return list(seen.items())

    def definition(self) -> Any:
        """The definition the form gives (the JSON when given, else the rows), not yet validated."""
        raw = (self.cleaned_data.get("definition_json") or "").strip()
        if raw:
            try:
                return json.loads(raw)
            except ValueError:
                return {"match": self.cleaned_data.get("match") or "all", "conditions": "not JSON"}
        conditions = []
        for row in self.rows():
            if not row["fact"]:
                continue
            cond = {"fact": row["fact"], "op": row["op"]}
            cond.update({part: row[part] for part in ("value", "days", "currency") if row[part]})
            conditions.append(cond)
        return {"match": self.cleaned_data.get("match") or "all", "conditions": conditions}
