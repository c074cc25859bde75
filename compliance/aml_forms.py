"""Forms of the AML pages: the alert queue's filters, dismissing an alert, a rule's new version (one field
per parameter of its kind, amounts written "USD 10000, EUR 9000")."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from compliance.aml import RULE_PARAMS, Param, amounts_parse, amounts_text
from compliance.models import AmlAlertStatus, AmlRuleKind


class AlertFilterForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), required=False,
                               choices=[("current", _("Open or in a case")), *AmlAlertStatus.choices, ("all", _("All"))])
    rule = forms.ChoiceField(label=_("Rule"), required=False, choices=[("", _("All rules")), *AmlRuleKind.choices])
    brand = forms.ChoiceField(label=_("Brand"), required=False)

    def __init__(self, *args: Any, brands: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["brand"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", _("All brands")), *[(str(pk), name) for pk, name in brands]]


class DismissForm(forms.Form):
    reason = forms.CharField(label=_("Why the alert is dismissed"), max_length=2000,
                             widget=forms.Textarea(attrs={"rows": 3}))


def _field(p: Param) -> forms.Field:
    if p.kind == "int":
        return forms.CharField(label=p.label, help_text=p.help, max_length=10)
    if p.kind == "choice":
        return forms.ChoiceField(label=p.label, help_text=p.help, choices=[(c, c) for c in p.choices])
    if p.kind == "choices":
        return forms.MultipleChoiceField(label=p.label, help_text=p.help, choices=[(c, c) for c in p.choices],
                                         widget=forms.CheckboxSelectMultiple)
    if p.kind == "amounts":
        return forms.CharField(label=p.label, max_length=500,
                               help_text=_("Currency and amount, separated by commas: USD 10000, EUR 9000."))
    if p.kind == "ceilings":
        return forms.CharField(label=p.label, max_length=2000, help_text=p.help)
    if p.kind == "codes":
        return forms.CharField(label=p.label, max_length=500, help_text=p.help)
    return forms.CharField(label=p.label, help_text=p.help, max_length=40)


class RuleVersionForm(forms.Form):
    """A field per parameter of the rule's kind; `parameters()` gives them as the service checks them, and
    the service's ValidationFailed ("parameters.<name>") lands on the field it names."""

    effective_from = forms.DateTimeField(label=_("In force from"), required=False,
                                         help_text=_("Empty: now. Times in UTC."))
    note = forms.CharField(label=_("Why"), required=False, max_length=300)

    def __init__(self, *args: Any, kind: str, current: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.params = RULE_PARAMS[kind]
        for p in self.params:
            self.fields[p.name] = _field(p)
            if current and p.name in current:
                value = current[p.name]
                self.fields[p.name].initial = (amounts_text(value) if p.kind in ("amounts", "ceilings")
                                               else ", ".join(value) if p.kind == "codes" else value)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for p in self.params:
            if p.kind in ("amounts", "ceilings") and isinstance(data.get(p.name), str):
                try:
                    data[p.name] = amounts_parse(data[p.name], keys_upper=p.kind == "amounts")
                except ValueError as error:
                    self.add_error(p.name, str(error))
        return data

    def parameters(self) -> dict[str, Any]:
        return {p.name: self.cleaned_data.get(p.name) for p in self.params}

    def aliases(self) -> dict[str, str]:
        """The service's names of the parameters ("parameters.days") to this form's fields."""
        return {f"parameters.{p.name}": p.name for p in self.params}
