"""The profile's Email tab (emails.composer): write or pick a template, preview, send.

The tab itself is registered in crm.views.ui.tabs; picking a template reloads it with `?template=<key>`.
Out of scope is 404; without crm.email_client the tab is not there and the posts are 403.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_POST

from crm.exceptions import Conflict, NotFound, ValidationFailed
from crm.lib.forms import form_field
from crm.models import Client
from crm.permissions import AuthedRequest
from crm.selectors import mask_email
from crm.templatetags.crm_ui import language_name
from crm.views.clients import tab_response
from crm.views.ui import client_or_404, form_submit, wants_partial
from emails import composer
from emails.models import EmailTemplate
from emails.permissions import may_compose
from emails.preview import preview_frame_policy, preview_html, preview_keep
from emails.services import BODY_MAX, SUBJECT_MAX

TAB = "emails/client_tab.html"


class EmailComposeForm(forms.Form):
    template = forms.ChoiceField(label=gettext_lazy("Template"), required=False)
    language = forms.ChoiceField(label=gettext_lazy("Language"))
    subject = forms.CharField(label=gettext_lazy("Subject"), max_length=SUBJECT_MAX)
    body = forms.CharField(label=gettext_lazy("Text"), widget=forms.Textarea(attrs={"rows": 12}),
                           max_length=BODY_MAX)

    def __init__(self, *args: Any, client: Client, templates: list[EmailTemplate], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        form_field(self, "template", forms.ChoiceField).choices = [("", _("None: written here")), *(
            (t.key, f"{t.key} · {language_name(t.language)}") for t in templates)]
        form_field(self, "language", forms.ChoiceField).choices = [(code, f"{language_name(code)} ({code})")
                                           for code in composer.composer_languages(client=client)]
        for name, field in self.fields.items():
            field.widget.attrs["class"] = "input mono" if name == "body" else "input"
        self.fields["subject"].widget.attrs["dir"] = "auto"
        self.fields["body"].widget.attrs["dir"] = "auto"


def _initial(client: Client, key: str) -> tuple[dict[str, str], str]:
    """The form's starting values: the template `key` in the client's language, if there is one."""
    if key:
        try:
            template = composer.composer_template(client=client, key=key)
        except NotFound as exc:
            return {}, exc.message
        return {"template": template.key, "language": template.language, "subject": template.subject,
                "body": template.body}, ""
    return {"language": composer.composer_languages(client=client)[0]}, ""


def email_tab_context(request: HttpRequest, client: Client) -> dict[str, Any]:
    """The Email tab: the composer (or why this client cannot be written to) and the emails sent."""
    context: dict[str, Any] = {"client_emails": composer.client_emails(client=client)}
    refusal = composer.composer_refusal(client=client)
    if refusal:
        return {**context, "email_refusal": refusal}
    templates = composer.composer_templates(client=client)
    initial, problem = _initial(client, request.GET.get("template", "").strip())
    form = EmailComposeForm(initial=initial, client=client, templates=templates)
    if problem:
        form.add_error("template", problem)
    return {**context, "email_form": form, "email_templates": templates}


def _authorised(request: HttpRequest, code: Any) -> Client:
    client = client_or_404(request, code)
    if not may_compose(request.user):
        raise PermissionDenied
    return client


def _form(request: HttpRequest, client: Client) -> EmailComposeForm:
    return EmailComposeForm(request.POST, client=client, templates=composer.composer_templates(client=client))


def _values(form: EmailComposeForm) -> dict[str, str]:
    data = form.cleaned_data
    return {"subject": data["subject"], "body": data["body"], "language": data["language"],
            "template_key": data["template"]}


@login_required
@require_POST
def client_email_send(request: AuthedRequest, code: Any) -> HttpResponse:
    client = _authorised(request, code)
    form = _form(request, client)
    if form.is_valid():
        ok, _email = form_submit(form, lambda: composer.client_email_send(actor=request.user, client=client,
                                                                          **_values(form)))
        if ok:
            message = _("Your email to %(name)s is on its way; the timeline shows it once it is sent.") % {
                "name": client.full_name}
            if not wants_partial(request):
                messages.success(request, message)
                return redirect(f"{reverse('client_detail', args=[client.code])}?tab=email")
            return tab_response(request, client, "email", email_sent=message)
    return tab_response(request, client, "email", email_form=form, email_templates=composer.composer_templates(client=client))


@login_required
@require_POST
def client_email_preview(request: AuthedRequest, code: Any) -> HttpResponse:
    """The message as the client would get it (htmx panel); nothing is written."""
    client = _authorised(request, code)
    form = _form(request, client)
    rendered, frame_url, problems = None, "", []
    if form.is_valid():
        try:
            rendered = composer.client_email_preview(actor=request.user, client=client, **_values(form))
        except Conflict as exc:
            problems.append(exc.message)
        except ValidationFailed as exc:
            problems += [f"{form.fields[name].label if name in form.fields else name}: {message}"
                         for name, messages_ in exc.fields.items() for message in messages_]
        else:
            token = preview_keep(request, rendered.html, scope=str(client.code))
            frame_url = reverse("client_email_preview_frame", args=[client.code, token])
    else:
        problems += [f"{form.fields[name].label if name in form.fields else name}: {message}"
                     for name, errors in form.errors.items() for message in errors]
    return render(request, f"{TAB}#email-preview", {
        "client": client, "rendered": rendered, "frame_url": frame_url, "problems": problems,
        "to": mask_email(client.email),
    })


@preview_frame_policy
@xframe_options_sameorigin
@login_required
@require_GET
def client_email_preview_frame(request: AuthedRequest, code: Any, token: str) -> HttpResponse:
    """The HTML of a preview this user made moments ago for this client; gone after ten minutes."""
    client = _authorised(request, code)
    html = preview_html(request, token, scope=str(client.code))
    if html is None:
        raise Http404
    return HttpResponse(html, content_type="text/html; charset=utf-8")
