"""Administrators' pages for automation rules, their run log, and email templates.

Everyone but administrators gets 404. The rule editor's condition and action rows are added,
changed (an action's type) and removed with htmx; each row is a partial of the editor's
template, and row inputs are named "<cond|act>-<token>-<part>", the tokens keeping the order
in which the rows stand on the page.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from automation import actions as automation_actions
from automation import services as automation
from automation.filters import RunFilter
from automation.models import AutomationRule
from automation.tables import RunTable
from crm.exceptions import ValidationFailed
from crm.lib.forms import form_field
from crm.models import Brand, Client
from crm.permissions import AuthedRequest
from crm.views.staff import administrator_required
from crm.views.ui import render_page
from crm.views.ui.forms import apply_domain_errors
from emails.models import EmailTemplate
from emails.preview import preview_frame_policy, preview_html, preview_keep
from emails.services import (
    email_render,
    email_template_save,
    email_templates_for_brand,
    sample_context,
    template_context,
    template_problems,
)

RULE_FORM = "automation/rule_form.html"
RUN_PAGE_SIZE = 50
TOKEN_RE = re.compile(r"^[a-z0-9]{1,16}$")


def _brands() -> list[Brand]:
    return list(Brand.objects.filter(is_active=True).order_by("name"))


def _brand_from(value: str | None, brands: list[Brand]) -> Brand | None:
    if value:
        return next((b for b in brands if b.code == value), None) or Brand.objects.filter(code=value).first()
    return brands[0] if brands else None


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value).strip())
    except (ValueError, AttributeError):
        return None


def _rule_or_404(code: Any) -> AutomationRule:
    code = _uuid(code)
    rule = AutomationRule.objects.select_related("brand").filter(code=code).first() if code else None
    if rule is None:
        raise Http404
    return rule


def _new_token() -> str:
    return secrets.token_hex(4)


# --- the rule list ---------------------------------------------------------------------------------

@dataclass
class RuleRow:
    rule: AutomationRule
    conditions: list[str]
    actions: list[str]


def _rule_row(rule: AutomationRule) -> RuleRow:
    return RuleRow(rule=rule, conditions=[automation.condition_text(c) for c in rule.conditions],
                   actions=[automation_actions.action_summary(a) for a in rule.actions])


@administrator_required
@require_GET
def automation_rule_list(request: AuthedRequest) -> HttpResponse:
    brands = _brands()
    brand = _brand_from(request.GET.get("brand"), brands)
    rules = [_rule_row(r) for r in automation.automation_rules(brand=brand)] if brand else []
    return render(request, "automation/rule_list.html", {"brands": brands, "brand": brand, "rules": rules})


@administrator_required
@require_POST
def automation_rule_toggle(request: AuthedRequest, code: str) -> HttpResponse:
    rule = _rule_or_404(code)
    rule = automation.automation_rule_set_active(actor=request.user, rule=rule,
                                                 active=request.POST.get("active") == "1")
    if request.htmx:
        return render(request, "automation/rule_list.html#rule-row", {"row": _rule_row(rule), "brand": rule.brand})
    return redirect(f"{reverse('automation_rule_list')}?brand={rule.brand.code}")


@administrator_required
@require_POST
def automation_rule_move(request: AuthedRequest, code: str) -> HttpResponse:
    rule = _rule_or_404(code)
    direction = request.POST.get("direction")
    if direction in {"up", "down"}:
        automation.automation_rule_move(actor=request.user, rule=rule, direction=direction)
    return redirect(f"{reverse('automation_rule_list')}?brand={rule.brand.code}")


@administrator_required
@require_POST
def automation_rule_delete(request: AuthedRequest, code: str) -> HttpResponse:
    rule = _rule_or_404(code)
    brand_code = rule.brand.code
    automation.automation_rule_delete(actor=request.user, rule=rule)
    messages.success(request, _("The rule “%(name)s” was deleted.") % {"name": rule.name})
    target = f"{reverse('automation_rule_list')}?brand={brand_code}"
    if request.htmx:
        return HttpResponse(headers={"HX-Redirect": target})
    return redirect(target)


@administrator_required
@require_POST
def automation_playbook_seed(request: AuthedRequest) -> HttpResponse:
    brand = Brand.objects.filter(code=request.POST.get("brand", "")).first()
    if brand is None:
        raise Http404
    report = automation.automation_seed_playbook(brand=brand, actor=request.user)
    if report.rules_created or report.templates_created:
        messages.success(request, _("Added %(rules)d rule(s) and %(templates)d email template(s).") % {
            "rules": len(report.rules_created), "templates": len(report.templates_created)})
    else:
        messages.info(request, _("This brand already has the whole playbook."))
    return redirect(f"{reverse('automation_rule_list')}?brand={brand.code}")


# --- the rule editor -------------------------------------------------------------------------------

TRIGGER_OTHER = "__other__"


class RuleForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=120)
    description = forms.CharField(label=gettext_lazy("Description"), required=False,
                                  widget=forms.Textarea(attrs={"rows": 2}))
    trigger_choice = forms.ChoiceField(label=gettext_lazy("When this event happens"), required=False)
    trigger_other = forms.CharField(label=gettext_lazy("Or another event name"), required=False, max_length=80,
                                    help_text=gettext_lazy("For events not in the list, e.g. kyc.submitted."))
    delay_hours = forms.IntegerField(label=gettext_lazy("Wait (hours)"), min_value=0, required=False,
                                     help_text=gettext_lazy("0: act at once."))
    cancel_on = forms.CharField(label=gettext_lazy("Unless one of these happens first"), required=False,
                                help_text=gettext_lazy("Event names, separated by commas. Only for a delayed rule."))
    stop_processing = forms.BooleanField(label=gettext_lazy("Stop here: later rules ignore this event"),
                                         required=False)
    is_active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)

    def __init__(self, *args: Any, event_names: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        form_field(self, "trigger_choice", forms.ChoiceField).choices = [("", "—"), *((n, n) for n in event_names),
                                                 (TRIGGER_OTHER, _("Another event…"))]
        for name, f in self.fields.items():
            if not isinstance(f.widget, forms.CheckboxInput):
                f.widget.attrs.setdefault("class", "input")
            if name == "trigger_other":
                f.widget.attrs["list"] = "event-names"

    def trigger(self) -> str:
        other = (self.cleaned_data.get("trigger_other") or "").strip()
        choice = self.cleaned_data.get("trigger_choice") or ""
        return other if other or choice == TRIGGER_OTHER else choice


@dataclass
class ConditionRow:
    token: str
    field: str = ""
    operator: str = "eq"
    value: str = ""
    errors: list[str] = dataclasses.field(default_factory=list)


@dataclass
class ParamWidget:
    name: str
    label: Any
    kind: str
    value: Any
    required: bool
    help: Any
    templated: bool
    choices: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)


@dataclass
class ActionRow:
    token: str
    type: str = ""
    params: list[ParamWidget] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)
    unavailable: bool = False


def _value_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _action_row(token: str, kind: str, values: dict[str, Any], brand: Brand | None) -> ActionRow:
    action = automation_actions.action_type(kind) if kind else None
    row = ActionRow(token=token, type=kind)
    if action is None:
        return row
    row.unavailable = not action.available
    for param in action.params:
        choices_fn = action.choices.get(param.name)
        choices = choices_fn(brand) if choices_fn is not None and brand is not None else []
        value = values.get(param.name, param.default)
        if value not in ("", None) and choices and str(value) not in {c[0] for c in choices}:
            choices = [*choices, (str(value), _("%(value)s (no longer available)") % {"value": value})]
        row.params.append(ParamWidget(name=param.name, label=param.label, kind=param.kind,
                                      value="" if value is None else value, required=param.required,
                                      help=param.help, templated=param.templated, choices=choices))
    return row


def _tokens(data: QueryDict, prefix: str) -> list[str]:
    """Row tokens in the order their inputs stand in the form."""
    seen: list[str] = []
    for key in data:
        parts = key.split("-", 2)
        if len(parts) == 3 and parts[0] == prefix and TOKEN_RE.match(parts[1]) and parts[1] not in seen:
            seen.append(parts[1])
    return seen


def _parse_builder(data: QueryDict, brand: Brand | None) -> tuple[list[dict[str, Any]], list[ConditionRow],
                                                                   list[dict[str, Any]], list[ActionRow]]:
    conditions: list[dict[str, Any]] = []
    condition_rows: list[ConditionRow] = []
    for token in _tokens(data, "cond"):
        row = ConditionRow(token=token, field=data.get(f"cond-{token}-field", "").strip(),
                           operator=data.get(f"cond-{token}-operator", ""),
                           value=data.get(f"cond-{token}-value", ""))
        condition_rows.append(row)
        conditions.append({"field": row.field, "operator": row.operator, "value": row.value})
    actions: list[dict[str, Any]] = []
    action_rows: list[ActionRow] = []
    for token in _tokens(data, "act"):
        kind = data.get(f"act-{token}-type", "")
        action = automation_actions.action_type(kind)
        values: dict[str, Any] = {"type": kind}
        if action is not None:
            for param in action.params:
                values[param.name] = data.get(f"act-{token}-{param.name}", "")
        action_rows.append(_action_row(token, kind, values, brand))
        actions.append(values)
    return conditions, condition_rows, actions, action_rows


def _rows_from_rule(rule: AutomationRule) -> tuple[list[ConditionRow], list[ActionRow]]:
    conditions = [ConditionRow(token=_new_token(), field=c.get("field", ""), operator=c.get("operator", ""),
                               value=_value_text(c.get("value"))) for c in rule.conditions]
    actions = [_action_row(_new_token(), str(a.get("type", "")), a, rule.brand) for a in rule.actions]
    return conditions, actions


def _place_builder_errors(error: ValidationFailed, condition_rows: list[ConditionRow],
                          action_rows: list[ActionRow]) -> list[str]:
    """Put "conditions.<i>.<part>" and "actions.<i>.<param>" messages on their rows; return the rest."""
    rest: list[str] = []
    for key, msgs in error.fields.items():
        parts = key.split(".")
        if parts[0] == "conditions" and len(parts) >= 2 and parts[1].isdigit() and int(parts[1]) < len(condition_rows):
            condition_rows[int(parts[1])].errors.extend(msgs)
        elif parts[0] == "actions" and len(parts) >= 2 and parts[1].isdigit() and int(parts[1]) < len(action_rows):
            row = action_rows[int(parts[1])]
            param = next((p for p in row.params if len(parts) == 3 and p.name == parts[2]), None)
            (param.errors if param is not None else row.errors).extend(msgs)
        elif parts[0] in {"conditions", "actions"}:
            rest.extend(msgs)
    return rest


def _editor_context(*, brand: Brand, rule: AutomationRule | None, form: RuleForm, condition_rows: list[ConditionRow],
                    action_rows: list[ActionRow], builder_errors: list[str] | None = None) -> dict[str, Any]:
    return {
        "brand": brand, "rule": rule, "form": form, "condition_rows": condition_rows, "action_rows": action_rows,
        "builder_errors": builder_errors or [], "operators": list(automation.OPERATORS.items()),
        "field_suggestions": _field_suggestions(), "event_names": automation.known_event_names(),
        "action_types": automation_actions.available_actions(), "variables": _variables_help(),
    }


def _field_suggestions() -> list[str]:
    return [*(f"client.{name}" for name in automation.CLIENT_FIELDS),
            "data.to", "data.from", "data.amount", "data.currency", "data.days", "data.score"]


def _variables_help() -> str:
    return "{{ client.first_name }}, {{ client.full_name }}, {{ brand.name }}, {{ owner.name }}, {{ event.data.… }}"


def _save_rule(request: AuthedRequest, *, brand: Brand, rule: AutomationRule | None) -> HttpResponse:
    event_names = automation.known_event_names()
    form = RuleForm(request.POST, event_names=event_names)
    conditions, condition_rows, actions, action_rows = _parse_builder(request.POST, brand)
    builder_errors: list[str] = []
    if form.is_valid():
        try:
            saved = automation.automation_rule_save(
                actor=request.user, rule=rule, brand=brand, name=form.cleaned_data["name"],
                description=form.cleaned_data["description"], trigger=form.trigger(),
                delay_hours=form.cleaned_data["delay_hours"] or 0, cancel_on=form.cleaned_data["cancel_on"],
                stop_processing=form.cleaned_data["stop_processing"], is_active=form.cleaned_data["is_active"],
                conditions=conditions, actions=actions,
            )
        except ValidationFailed as exc:
            builder_errors = _place_builder_errors(exc, condition_rows, action_rows)
            other = {k: v for k, v in exc.fields.items() if k.split(".")[0] not in {"conditions", "actions"}}
            if other:
                apply_domain_errors(form, ValidationFailed(fields=other), aliases={"trigger": "trigger_choice"})
        else:
            messages.success(request, _("The rule “%(name)s” was saved.") % {"name": saved.name})
            return redirect(f"{reverse('automation_rule_list')}?brand={brand.code}")
    context = _editor_context(brand=brand, rule=rule, form=form, condition_rows=condition_rows,
                              action_rows=action_rows, builder_errors=builder_errors)
    context["invalid"] = True
    return render(request, RULE_FORM, context, status=400)


@administrator_required
@require_http_methods(["GET", "POST"])
def automation_rule_create(request: AuthedRequest) -> HttpResponse:
    brand = Brand.objects.filter(code=request.GET.get("brand") or request.POST.get("brand", "")).first()
    if brand is None:
        raise Http404
    if request.method == "POST":
        return _save_rule(request, brand=brand, rule=None)
    form = RuleForm(event_names=automation.known_event_names(), initial={"is_active": True, "delay_hours": 0})
    return render(request, RULE_FORM, _editor_context(
        brand=brand, rule=None, form=form, condition_rows=[],
        action_rows=[_action_row(_new_token(), "notify", {}, brand)]))


@administrator_required
@require_http_methods(["GET", "POST"])
def automation_rule_edit(request: AuthedRequest, code: str) -> HttpResponse:
    rule = _rule_or_404(code)
    if request.method == "POST":
        return _save_rule(request, brand=rule.brand, rule=rule)
    event_names = automation.known_event_names()
    known = rule.trigger in event_names
    form = RuleForm(event_names=event_names, initial={
        "name": rule.name, "description": rule.description, "delay_hours": rule.delay_hours,
        "trigger_choice": rule.trigger if known else TRIGGER_OTHER, "trigger_other": "" if known else rule.trigger,
        "cancel_on": ", ".join(rule.cancel_on), "stop_processing": rule.stop_processing, "is_active": rule.is_active,
    })
    condition_rows, action_rows = _rows_from_rule(rule)
    return render(request, RULE_FORM, _editor_context(brand=rule.brand, rule=rule, form=form,
                                                      condition_rows=condition_rows, action_rows=action_rows))


@administrator_required
@require_GET
def automation_condition_row(request: AuthedRequest) -> HttpResponse:
    """A blank condition row for the editor (htmx appends it)."""
    return render(request, f"{RULE_FORM}#condition-row", {
        "row": ConditionRow(token=_new_token()), "operators": list(automation.OPERATORS.items()),
    })


@administrator_required
@require_GET
def automation_action_row(request: AuthedRequest) -> HttpResponse:
    """An action row of the chosen type (htmx adds it, or replaces a row whose type changed)."""
    brand = Brand.objects.filter(code=request.GET.get("brand", "")).first()
    if brand is None:
        raise Http404
    token = request.GET.get("token", "")
    token = token if TOKEN_RE.match(token) else _new_token()
    kind = request.GET.get(f"act-{token}-type") or request.GET.get("type") or "notify"
    action = automation_actions.action_type(kind)
    if action is None or not action.available:
        kind = "notify"
    return render(request, f"{RULE_FORM}#action-row", {
        "row": _action_row(token, kind, {}, brand), "brand": brand,
        "action_types": automation_actions.available_actions(),
    })


# --- the run log -----------------------------------------------------------------------------------

@administrator_required
@require_GET
def automation_run_list(request: AuthedRequest) -> HttpResponse:
    filters = RunFilter(request.GET, queryset=automation.automation_run_list(), request=request)
    table = RunTable(filters.qs)
    table.paginate_pages(request, per_page=RUN_PAGE_SIZE)
    context = {"filters": filters, "table": table, "filtered": bool(filters.values or filters.problems)}
    return render_page(request, "automation/run_list.html", context, partial="run-table")


# --- email templates -------------------------------------------------------------------------------

class EmailTemplateForm(forms.Form):
    key = forms.CharField(label=gettext_lazy("Key"), max_length=60,
                          help_text=gettext_lazy("How rules refer to it, e.g. kyc_reminder."))
    language = forms.CharField(label=gettext_lazy("Language"), max_length=8,
                               help_text=gettext_lazy("e.g. en, ar, pt-BR"))
    description = forms.CharField(label=gettext_lazy("What it is for"), required=False, max_length=200)
    subject = forms.CharField(label=gettext_lazy("Subject"), max_length=255)
    body = forms.CharField(label=gettext_lazy("Text"), widget=forms.Textarea(attrs={"rows": 14}))
    is_active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for f in self.fields.values():
            if not isinstance(f.widget, forms.CheckboxInput):
                f.widget.attrs["class"] = "input"
        self.fields["body"].widget.attrs["class"] = "input mono"
        self.fields["body"].widget.attrs["dir"] = "auto"
        self.fields["subject"].widget.attrs["dir"] = "auto"


def _template_or_404(code: Any) -> EmailTemplate:
    code = _uuid(code)
    template = EmailTemplate.objects.select_related("brand").filter(code=code).first() if code else None
    if template is None:
        raise Http404
    return template


@administrator_required
@require_GET
def email_template_list(request: AuthedRequest) -> HttpResponse:
    brands = _brands()
    brand = _brand_from(request.GET.get("brand"), brands)
    templates = list(email_templates_for_brand(brand=brand)) if brand else []
    return render(request, "automation/email_templates/list.html", {"brands": brands, "brand": brand,
                                                              "templates": templates})


def _template_page(request: HttpRequest, *, brand: Brand, template: EmailTemplate | None, form: EmailTemplateForm,
                   status: int = 200) -> HttpResponse:
    return render(request, "automation/email_templates/form.html", {
        "brand": brand, "template": template, "form": form, "variables": sorted(_variable_names()),
        "sample_client": request.GET.get("client", ""),
    }, status=status)


def _variable_names() -> list[str]:
    sample = sample_context()
    names = [f"{root}.{key}" for root in ("client", "brand", "owner") for key in sample[root]]
    return [*names, "event.name", "event.data.…"]


def _save_template(request: AuthedRequest, *, brand: Brand, template: EmailTemplate | None) -> HttpResponse:
    form = EmailTemplateForm(request.POST)
    if form.is_valid():
        try:
            saved = email_template_save(actor=request.user, template=template, brand=brand, **form.cleaned_data)
        except ValidationFailed as exc:
            apply_domain_errors(form, exc)
        else:
            messages.success(request, _("The email template “%(key)s” (%(language)s) was saved.") % {
                "key": saved.key, "language": saved.language})
            return redirect(f"{reverse('email_template_list')}?brand={brand.code}")
    return _template_page(request, brand=brand, template=template, form=form, status=400)


@administrator_required
@require_http_methods(["GET", "POST"])
def email_template_create(request: AuthedRequest) -> HttpResponse:
    brand = Brand.objects.filter(code=request.GET.get("brand") or request.POST.get("brand", "")).first()
    if brand is None:
        raise Http404
    if request.method == "POST":
        return _save_template(request, brand=brand, template=None)
    initial = {"language": request.GET.get("language") or brand.default_language, "key": request.GET.get("key", ""),
               "is_active": True}
    return _template_page(request, brand=brand, template=None, form=EmailTemplateForm(initial=initial))


@administrator_required
@require_http_methods(["GET", "POST"])
def email_template_edit(request: AuthedRequest, code: str) -> HttpResponse:
    template = _template_or_404(code)
    if request.method == "POST":
        return _save_template(request, brand=template.brand, template=template)
    form = EmailTemplateForm(initial={
        "key": template.key, "language": template.language, "description": template.description,
        "subject": template.subject, "body": template.body, "is_active": template.is_active,
    })
    return _template_page(request, brand=template.brand, template=template, form=form)


@administrator_required
@require_http_methods(["GET", "POST"])
def email_template_preview(request: AuthedRequest) -> HttpResponse:
    """The template as the form holds it now, rendered for a sample client (htmx panel).

    With a client code, that client's real details are used (administrators see every client);
    without one, made-up values.
    """
    data = request.POST if request.method == "POST" else request.GET
    brand = Brand.objects.filter(code=data.get("brand", "")).first()
    if brand is None:
        raise Http404
    draft = EmailTemplate(brand=brand, key=data.get("key", "") or "preview",
                          language=(data.get("language") or brand.default_language).strip().lower(),
                          subject=data.get("subject", ""), body=data.get("body", ""))
    client_code = (data.get("client") or "").strip()
    client = None
    problems: list[str] = []
    if client_code:
        code = _uuid(client_code)
        client = (Client.objects.select_related("brand", "owner").filter(code=code, brand=brand).first()
                  if code else None)
        if client is None:
            problems.append(_("No client of this brand has this code; showing made-up values."))
    context = template_context(client=client) if client is not None else sample_context(brand=brand)
    for name in ("subject", "body"):
        problems.extend(f"{name}: {p}" for p in template_problems(getattr(draft, name), context=context))
    rendered, frame_url = None, ""
    if not any(p.startswith(("subject:", "body:")) for p in problems):
        try:
            rendered = email_render(template=draft, context=context)
        except ValidationFailed as exc:
            problems.append(exc.message)
        else:
            # The HTML version is a document of its own, shown in a sandboxed frame: kept a few
            # minutes for this administrator, under its own policy (see email_template_preview_frame).
            token = preview_keep(request, rendered.html)
            frame_url = reverse("email_template_preview_frame", args=[token])
    return render(request, "automation/email_templates/form.html#preview", {
        "rendered": rendered, "problems": problems, "preview_client": client, "frame_url": frame_url,
    })


@preview_frame_policy
@xframe_options_sameorigin
@administrator_required
@require_GET
def email_template_preview_frame(request: AuthedRequest, token: str) -> HttpResponse:
    """The HTML of a preview made moments ago by this administrator; gone after ten minutes."""
    html = preview_html(request, token)
    if html is None:
        raise Http404
    return HttpResponse(html, content_type="text/html; charset=utf-8")

