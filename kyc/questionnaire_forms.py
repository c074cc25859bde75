"""Forms of the appropriateness questionnaire.

`QuestionnaireForm` renders a published version for a client in one language (a radio list per
single-choice question, checkboxes per multiple-choice one, grouped in the version's sections) and
gives back the answers in the shape kyc.questionnaire.questionnaire_submit takes. The client area
uses it; so does the staff preview. Its texts are the version's own (in `language`), not gettext.

`DraftForm` is the staff JSON editor of a draft.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from kyc.models import QuestionnaireVersion
from kyc.questionnaire import content_questions, text_in

RTL_LANGUAGES = frozenset({"ar", "fa", "he", "ur"})


@dataclass(frozen=True)
class FormSection:
    code: str
    title: str
    fields: list[forms.BoundField]


class QuestionnaireForm(forms.Form):
    def __init__(self, data: Any = None, *, version: QuestionnaireVersion, language: str = "en",
                 **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self.version = version
        content = version.content
        self.language = language if language in content.get("languages", []) else "en"
        for section in content.get("sections", []):
            for question in section.get("questions", []):
                choices = [(o["code"], text_in(o["text"], self.language)) for o in question["options"]]
                label = text_in(question["text"], self.language)
                field: forms.Field
                if question["kind"] == "multiple":
                    field = forms.MultipleChoiceField(label=label, choices=choices, required=question["required"],
                                                      widget=forms.CheckboxSelectMultiple)
                else:
                    field = forms.ChoiceField(label=label, choices=choices, required=question["required"],
                                              widget=forms.RadioSelect)
                self.fields[question["code"]] = field

    @property
    def direction(self) -> str:
        return "rtl" if self.language in RTL_LANGUAGES else "ltr"

    def sections(self) -> list[FormSection]:
        """The fields grouped in the version's sections, with the sections' titles in the language."""
        return [FormSection(code=s["code"], title=text_in(s["title"], self.language),
                            fields=[self[q["code"]] for q in s["questions"]])
                for s in self.version.content.get("sections", [])]

    def answers(self) -> dict[str, list[str]]:
        """The cleaned answers: {question code: [option codes]} (unanswered optional ones left out)."""
        out: dict[str, list[str]] = {}
        for code in content_questions(self.version.content):
            value = self.cleaned_data.get(code)
            if value:
                out[code] = list(value) if isinstance(value, list | tuple) else [value]
        return out


class DraftForm(forms.Form):
    content = forms.CharField(label=_("Questionnaire (JSON)"), widget=forms.Textarea(attrs={
        "rows": 30, "class": "mono", "spellcheck": "false", "dir": "ltr"}))
