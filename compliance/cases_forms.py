"""Forms of the case pages: the queue's filters, and each operation on a case."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from compliance.models import CaseDecision, CasePriority, CaseStatus, RestrictionKind


class CaseQueueFilterForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), required=False, choices=[
        ("unclosed", _("Not closed")), *CaseStatus.choices, ("all", _("All"))])
    assignee = forms.ChoiceField(label=_("Assigned"), required=False, choices=[
        ("", _("Anyone")), ("me", _("To me")), ("none", _("Nobody"))])
    priority = forms.ChoiceField(label=_("Priority"), required=False, choices=[("", _("Any")), *CasePriority.choices])
    overdue = forms.BooleanField(label=_("Overdue only"), required=False)


class AssignForm(forms.Form):
    assignee = forms.ChoiceField(label=_("Officer"), required=False)

    def __init__(self, *args: Any, officers: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["assignee"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", _("Nobody (back to the queue)")),
                         *[(str(u.code), u.full_name or u.email) for u in officers]]


class NarrativeForm(forms.Form):
    narrative = forms.CharField(label=_("Narrative"), required=False, max_length=10_000,
                                widget=forms.Textarea(attrs={"rows": 6}),
                                help_text=_("The facts as you would tell them to the regulator."))


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(label=_("Decision"), choices=CaseDecision.choices, widget=forms.RadioSelect)
    restrict = forms.MultipleChoiceField(
        label=_("Restrict from"), required=False, choices=RestrictionKind.choices,
        initial=[RestrictionKind.DEPOSIT, RestrictionKind.WITHDRAWAL, RestrictionKind.TRADING],
        widget=forms.CheckboxSelectMultiple, help_text=_("For \"close and restrict\" only."))
    reason = forms.CharField(label=_("Reason"), max_length=10_000, widget=forms.Textarea(attrs={"rows": 3}))


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=10_000, widget=forms.Textarea(attrs={"rows": 2}))


class NoteForm(forms.Form):
    body = forms.CharField(label=_("Note"), max_length=10_000, widget=forms.Textarea(attrs={"rows": 2}))


class AttachmentForm(forms.Form):
    file = forms.FileField(label=_("File (PDF, PNG or JPEG)"))


class FilingForm(forms.Form):
    filed_on = forms.DateField(label=_("Filed on"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    reference = forms.CharField(label=_("The regulator's reference"), max_length=100)


class BalanceReturnForm(forms.Form):
    """What is left in an offboarded client's wallet, back through the withdrawal queue: a currency with a
    balance and a withdrawal method of it ("USD|<method code>"), the destination, the reason."""

    method = forms.ChoiceField(label=_("Currency and method"))
    destination = forms.CharField(label=_("Card number, e-wallet or IBAN"), max_length=100)
    reason = forms.CharField(label=_("Reason"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, options: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["method"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = options
