"""Forms of the screening pages: a decision on a hit, sending it back, a list version's upload."""

from __future__ import annotations

import builtins
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from compliance.models import HitAction, HitStatus, ListFormat
from compliance.watchlists.parsers import SourceFile

MAX_UPLOAD_BYTES = 50 * 1024 * 1024


class HitDecisionForm(forms.Form):
    action = forms.ChoiceField(label=_("Decision"), choices=[
        (HitAction.CONFIRM, _("Confirm: the client is the listed person")),
        (HitAction.DISMISS, _("Dismiss: a false positive")),
    ], widget=forms.RadioSelect)
    reason = forms.CharField(label=_("Reason"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3}),
                             help_text=_("Required to dismiss: why this is not the listed person."))


class SendBackForm(forms.Form):
    reason = forms.CharField(label=_("Why the decision is sent back"), max_length=2000,
                             widget=forms.Textarea(attrs={"rows": 2}))


class QueueFilterForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), required=False, choices=[
        ("unresolved", _("Waiting (for review or a second officer)")), *HitStatus.choices, ("all", _("All"))])
    list = forms.ChoiceField(label=_("List"), required=False)
    min_score = forms.DecimalField(label=_("Lowest score"), required=False, min_value=0, max_value=1, decimal_places=3)

    def __init__(self, *args: Any, lists: builtins.list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["list"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", _("Every list")), *((name, name) for name in lists)]


class _MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class _MultipleFileField(forms.FileField):
    widget = _MultipleFileInput

    def clean(self, data: Any, initial: Any = None) -> Any:
        """Each file cleaned as one FileField would (so that none at all is "required")."""
        items = [item for item in (data if isinstance(data, (list, tuple)) else [data]) if item]
        if not items:
            return [super().clean(None, initial)]
        return [super().clean(item, initial) for item in items]


_FILES_HELP = _("OFAC: sdn.csv, and alt.csv and add.csv if you have them, together.")


class WatchlistUploadForm(forms.Form):
    """The same load as `manage.py sanctions_load`: a list's name, its format and its files."""

    list_name = forms.CharField(label=_("List"), max_length=80,
                                help_text=_("An existing list gets its next version; a new name starts a list."))
    fmt = forms.ChoiceField(label=_("Format"), choices=ListFormat.choices)
    # A declared field, not the form's `files` (the metaclass moves it into `fields`).
    files = _MultipleFileField(label=_("Files"), help_text=_FILES_HELP)  # type: ignore[assignment]  # a declared field, see above

    def clean_files(self) -> list[SourceFile]:
        out = []
        for upload in self.cleaned_data["files"]:
            if upload.size > MAX_UPLOAD_BYTES:
                raise forms.ValidationError(_("%(name)s is larger than 50 MB.") % {"name": upload.name})
            out.append(SourceFile(upload.name, upload.read()))
        return out
