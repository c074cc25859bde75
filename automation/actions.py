"""What an automation rule can do: the action registry.

Each action type names its parameters (for the rule editor), validates them when a rule is
saved, and runs them for one client. The core registers send_email, create_task, assign,
add_tag and notify. Other apps provide further actions from their AppConfig.ready():

    from automation.actions import provide_action
    provide_action("add_to_segment", run=segment_add_for_rule, validate=..., choices={"segment": ...})

An action may be *declared* without a provider ("add_to_segment": segments belong to leads);
until an app provides it, the rule editor does not offer it, saving a rule that uses it is
refused, and a stored rule that uses it fails its run with a clear message.

Actions run inside the run's transaction, as the system, with the audit actor labelled
"automation:<rule name>" (automation.runner sets the acting context). An action returns an
ActionResult; it raises a DomainError (or any error) to fail the run, which rolls back every
action of that run. Skipping (no owner to notify, no email address) is not a failure.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from automation.models import AutomationRule
from crm.exceptions import DomainError
from crm.lib.payloads import client_url
from crm.models import Brand, Client, Event, User
from emails.models import EmailTemplate

WHO_OWNER = "owner"
WHO_DESK_MANAGER = "desk_manager"
ASSIGN_DESK_QUEUE = "desk_queue"
TASK_DUE_MAX_HOURS = 24 * 365
TAG_MAX = 50
NOTIFY_TITLE_MAX = 200
NOTIFY_BODY_MAX = 2000


class ActionFailed(DomainError):
    default_code = "action_failed"

    def default_message(self) -> str:
        return gettext("The action failed.")


@dataclass(frozen=True)
class ActionContext:
    """What an action acts on: the client of the triggering event, at `now`."""

    rule: AutomationRule
    event: Event
    client: Client
    now: datetime

    def render(self, source: str) -> str:
        """`source` (a task title, a notification) rendered with the email template variables."""
        from emails.services import render_text, template_context

        return render_text(source, template_context(client=self.client, event=self.event)).strip()


@dataclass(frozen=True)
class ActionResult:
    status: str  # "done" or "skipped"
    detail: str

    @classmethod
    def done(cls, detail: str) -> ActionResult:
        return cls("done", detail)

    @classmethod
    def skipped(cls, detail: str) -> ActionResult:
        return cls("skipped", detail)


@dataclass(frozen=True)
class ActionParam:
    """One parameter of an action, as the rule editor shows it.

    kind: "text", "textarea", "hours", "template" (an email template key of the brand), "who"
    (owner, desk manager or a user), "assignee" (a user or the desk queue), "choice" (from
    `choices`). `templated` texts may use the email template variables.
    """

    name: str
    label: Any
    kind: str = "text"
    required: bool = True
    help: Any = ""
    templated: bool = False
    default: Any = ""


ChoicesFn = Callable[[Brand], list[tuple[str, str]]]
ValidateFn = Callable[[Mapping[str, Any], Brand], dict[str, str]]
RunFn = Callable[[ActionContext, Mapping[str, Any]], ActionResult]


@dataclass(frozen=True)
class ActionType:
    name: str
    label: Any
    params: tuple[ActionParam, ...] = ()
    run: RunFn | None = None  # None: declared, waiting for an app to provide it
    validate: ValidateFn | None = None
    choices: dict[str, ChoicesFn] = field(default_factory=dict)
    describe: Callable[[Mapping[str, Any]], str] | None = None

    @property
    def available(self) -> bool:
        return self.run is not None


_actions: dict[str, ActionType] = {}


def register_action(action: ActionType) -> None:
    """Add an action type (or replace the one with the same name)."""
    _actions[action.name] = action


def declare_action(name: str, *, label: Any, params: tuple[ActionParam, ...] = ()) -> None:
    """Reserve an action name that another app will provide; keeps an existing provider."""
    if name not in _actions:
        _actions[name] = ActionType(name=name, label=label, params=params)


def provide_action(name: str, *, run: RunFn, validate: ValidateFn | None = None,
                   params: tuple[ActionParam, ...] | None = None, label: Any = None,
                   choices: dict[str, ChoicesFn] | None = None,
                   describe: Callable[[Mapping[str, Any]], str] | None = None) -> None:
    """Give a declared (or new) action its implementation."""
    base = _actions.get(name) or ActionType(name=name, label=label or name)
    _actions[name] = replace(
        base, run=run, validate=validate or base.validate, params=params if params is not None else base.params,
        label=label or base.label, choices=choices if choices is not None else base.choices,
        describe=describe or base.describe,
    )


def withdraw_action(name: str) -> None:
    """Remove an action's provider, keeping the name declared (for tests and app unloading)."""
    action = _actions.get(name)
    if action is not None:
        _actions[name] = replace(action, run=None)


def action_type(name: str) -> ActionType | None:
    return _actions.get(name)


def available_actions() -> list[ActionType]:
    """The actions the rule editor offers: those with a provider."""
    return [a for a in _actions.values() if a.available]


def action_summary(spec: Mapping[str, Any]) -> str:
    """One line describing a stored action, for rule lists."""
    action = _actions.get(str(spec.get("type", "")))
    if action is None:
        return str(spec.get("type", ""))
    if action.describe is not None:
        try:
            return action.describe(spec)
        except (KeyError, TypeError, ValueError):
            pass
    return str(action.label)


# --- shared helpers ------------------------------------------------------------------------------

def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return False
    return True


def brand_users(brand: Brand) -> Any:
    """Active staff who work for `brand` (for pickers and validation)."""
    return (User.objects.filter(is_active=True)
            .filter(Q(all_brands=True) | Q(brands=brand) | Q(is_superuser=True) | Q(role__code="admin"))
            .distinct().order_by("full_name"))


def _user_choices(brand: Brand) -> list[tuple[str, str]]:
    return [(str(u.code), u.full_name or u.email) for u in brand_users(brand)]


def _who_choices(brand: Brand) -> list[tuple[str, str]]:
    return [(WHO_OWNER, gettext("The client's owner")), (WHO_DESK_MANAGER, gettext("The desk manager")),
            *_user_choices(brand)]


def _assign_choices(brand: Brand) -> list[tuple[str, str]]:
    return [(ASSIGN_DESK_QUEUE, gettext("The desk queue (the desk manager picks)")), *_user_choices(brand)]


def _template_choices(brand: Brand) -> list[tuple[str, str]]:
    keys = sorted(set(EmailTemplate.objects.filter(brand=brand, is_active=True).values_list("key", flat=True)))
    return [(k, k) for k in keys]


def _check_user(value: str, brand: Brand, param: str) -> dict[str, str]:
    if not _is_uuid(value) or not brand_users(brand).filter(code=value).exists():
        return {param: gettext("Choose an active member of staff of this brand.")}
    return {}


def _check_who(value: Any, brand: Brand, param: str) -> dict[str, str]:
    value = str(value or "")
    if value in {WHO_OWNER, WHO_DESK_MANAGER}:
        return {}
    if not value:
        return {param: gettext("This field is required.")}
    return _check_user(value, brand, param)


def _check_templated(spec: Mapping[str, Any], name: str, limit: int, required: bool) -> dict[str, str]:
    from emails.services import template_problems

    value = spec.get(name)
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        return {name: gettext("This field is required.")} if required else {}
    if len(text) > limit:
        return {name: gettext("Use at most %(max)d characters.") % {"max": limit}}
    problems = template_problems(text)
    return {name: " ".join(problems)} if problems else {}


def _resolve_who(who: str, client: Client) -> tuple[User | None, str]:
    """The user `who` names for `client`, or None with the reason to skip."""
    if who == WHO_OWNER:
        if client.owner is None:
            return None, gettext("The client has no owner.")
        return client.owner, ""
    if who == WHO_DESK_MANAGER:
        desk = client.desk
        if desk is None or desk.manager is None:
            return None, gettext("The client's desk has no manager.")
        return desk.manager, ""
    user = User.objects.filter(code=who).first() if _is_uuid(who) else None
    if user is None:
        raise ActionFailed(gettext("The member of staff chosen in the rule no longer exists."))
    return user, ""


def _hours(value: Any, default: int) -> int:
    if value in (None, ""):
        return default
    return int(value)


# --- send_email ----------------------------------------------------------------------------------

def _send_email_validate(spec: Mapping[str, Any], brand: Brand) -> dict[str, str]:
    key = str(spec.get("template") or "").strip()
    if not key:
        return {"template": gettext("Choose an email template.")}
    if not EmailTemplate.objects.filter(brand=brand, key=key, is_active=True).exists():
        return {"template": gettext("The brand has no active email template “%(key)s”.") % {"key": key}}
    return {}


def _send_email_run(ctx: ActionContext, spec: Mapping[str, Any]) -> ActionResult:
    from emails.services import email_send_templated

    result = email_send_templated(template_key=str(spec["template"]), client=ctx.client, actor=None, event=ctx.event)
    if result.email is None:
        return ActionResult.skipped(result.skipped_reason)
    from crm.selectors import mask_email

    return ActionResult.done(gettext("Email “%(subject)s” (%(language)s) queued to %(to)s.") % {
        "subject": result.email.subject, "language": result.email.language, "to": mask_email(result.email.to_email),
    })


# --- create_task ---------------------------------------------------------------------------------

def _check_hours(spec: Mapping[str, Any], name: str, limit: int) -> dict[str, str]:
    value = spec.get(name)
    if value in (None, ""):
        return {}
    try:
        hours = int(value)
    except (TypeError, ValueError):
        return {name: gettext("Enter a whole number of hours.")}
    if hours < 0 or hours > limit:
        return {name: gettext("Enter a number of hours from 0 to %(max)d.") % {"max": limit}}
    return {}


def _create_task_validate(spec: Mapping[str, Any], brand: Brand) -> dict[str, str]:
    return {
        **_check_templated(spec, "title", 200, True),
        **_check_templated(spec, "description", 2000, False),
        **_check_hours(spec, "due_in_hours", TASK_DUE_MAX_HOURS),
        **_check_who(spec.get("assignee"), brand, "assignee"),
    }


def _create_task_run(ctx: ActionContext, spec: Mapping[str, Any]) -> ActionResult:
    from crm.services import task_create

    assignee, why_not = _resolve_who(str(spec.get("assignee") or ""), ctx.client)
    if assignee is None:
        return ActionResult.skipped(why_not)
    due = ctx.now + timedelta(hours=_hours(spec.get("due_in_hours"), 24))
    title = ctx.render(str(spec.get("title") or ""))
    task = task_create(actor=None, title=title, assignee=assignee, client=ctx.client,
                       description=ctx.render(str(spec.get("description") or "")), due_at=due)
    return ActionResult.done(gettext("Task “%(title)s” for %(user)s, due %(due)s.") % {
        "title": task.title, "user": assignee.full_name or assignee.email, "due": due.strftime("%Y-%m-%d %H:%M UTC"),
    })


# --- assign --------------------------------------------------------------------------------------

def _assign_validate(spec: Mapping[str, Any], brand: Brand) -> dict[str, str]:
    to = str(spec.get("to") or "")
    if to == ASSIGN_DESK_QUEUE:
        return {}
    if not to:
        return {"to": gettext("This field is required.")}
    return _check_user(to, brand, "to")


def _assign_run(ctx: ActionContext, spec: Mapping[str, Any]) -> ActionResult:
    from crm.services import client_assign, notification_send

    to = str(spec.get("to") or "")
    reason = gettext("automation: %(rule)s") % {"rule": ctx.rule.name}
    if to == ASSIGN_DESK_QUEUE:
        if ctx.client.desk is None:
            return ActionResult.skipped(gettext("The client has no desk."))
        client_assign(actor=None, client=ctx.client, owner=None, desk=ctx.client.desk, reason=reason)
        manager = ctx.client.desk.manager
        if manager is not None and manager.is_active:
            notification_send(user=manager, kind="automation", title=gettext("Pick an owner for %(name)s") % {
                "name": ctx.client.full_name}, body=ctx.rule.name, url=client_url(ctx.client))
        return ActionResult.done(gettext("Back to the %(desk)s queue.") % {"desk": ctx.client.desk.name})
    user = User.objects.filter(code=to).first() if _is_uuid(to) else None
    if user is None:
        raise ActionFailed(gettext("The member of staff chosen in the rule no longer exists."))
    client_assign(actor=None, client=ctx.client, owner=user, reason=reason)
    return ActionResult.done(gettext("Assigned to %(user)s.") % {"user": user.full_name or user.email})


# --- add_tag -------------------------------------------------------------------------------------

def _add_tag_validate(spec: Mapping[str, Any], brand: Brand) -> dict[str, str]:
    tag = " ".join(str(spec.get("tag") or "").split()).lower()
    if not tag:
        return {"tag": gettext("This field is required.")}
    if len(tag) > TAG_MAX:
        return {"tag": gettext("A tag has at most %(max)d characters.") % {"max": TAG_MAX}}
    return {}


def _add_tag_run(ctx: ActionContext, spec: Mapping[str, Any]) -> ActionResult:
    from crm.services import client_update

    tag = " ".join(str(spec.get("tag") or "").split()).lower()
    # Read the tags under the row lock, so that a concurrent change is not overwritten.
    current = Client.objects.select_for_update(of=("self",)).values_list("tags", flat=True).get(pk=ctx.client.pk)
    if tag in current:
        return ActionResult.skipped(gettext("The client already has the tag “%(tag)s”.") % {"tag": tag})
    client_update(actor=None, client=ctx.client, tags=[*current, tag],
                  reason=gettext("automation: %(rule)s") % {"rule": ctx.rule.name})
    return ActionResult.done(gettext("Tag “%(tag)s” added.") % {"tag": tag})


# --- notify --------------------------------------------------------------------------------------

def _notify_validate(spec: Mapping[str, Any], brand: Brand) -> dict[str, str]:
    return {
        **_check_who(spec.get("who"), brand, "who"),
        **_check_templated(spec, "title", NOTIFY_TITLE_MAX, True),
        **_check_templated(spec, "body", NOTIFY_BODY_MAX, False),
    }


def _notify_run(ctx: ActionContext, spec: Mapping[str, Any]) -> ActionResult:
    from crm.services import notification_send

    user, why_not = _resolve_who(str(spec.get("who") or ""), ctx.client)
    if user is None:
        return ActionResult.skipped(why_not)
    if not user.is_active:
        return ActionResult.skipped(gettext("%(user)s is no longer active.") % {"user": user.full_name})
    title = ctx.render(str(spec.get("title") or "")) or ctx.rule.name
    notification_send(user=user, kind="automation", title=title[:NOTIFY_TITLE_MAX],
                      body=ctx.render(str(spec.get("body") or ""))[:NOTIFY_BODY_MAX], url=client_url(ctx.client))
    return ActionResult.done(gettext("Notified %(user)s: “%(title)s”.") % {
        "user": user.full_name or user.email, "title": title})


# --- the core's actions --------------------------------------------------------------------------

def _who_label(value: Any) -> str:
    if value == WHO_OWNER:
        return gettext("the owner")
    if value == WHO_DESK_MANAGER:
        return gettext("the desk manager")
    user = User.objects.filter(code=value).only("full_name", "email").first() if _is_uuid(str(value)) else None
    return (user.full_name or user.email) if user is not None else gettext("a removed user")


register_action(ActionType(
    name="send_email", label=_("Send an email"),
    params=(ActionParam("template", _("Email template"), kind="template"),),
    run=_send_email_run, validate=_send_email_validate, choices={"template": _template_choices},
    describe=lambda s: gettext("Email “%(key)s”") % {"key": s.get("template", "")},
))
register_action(ActionType(
    name="create_task", label=_("Create a task"),
    params=(
        ActionParam("title", _("Title"), templated=True),
        ActionParam("assignee", _("For"), kind="who", default=WHO_OWNER),
        ActionParam("due_in_hours", _("Due in (hours)"), kind="hours", required=False, default=24),
        ActionParam("description", _("Description"), kind="textarea", required=False, templated=True),
    ),
    run=_create_task_run, validate=_create_task_validate, choices={"assignee": _who_choices},
    describe=lambda s: gettext("Task “%(title)s” for %(who)s") % {"title": s.get("title", ""),
                                                                   "who": _who_label(s.get("assignee"))},
))
register_action(ActionType(
    name="assign", label=_("Assign the client"),
    params=(ActionParam("to", _("To"), kind="assignee"),),
    run=_assign_run, validate=_assign_validate, choices={"to": _assign_choices},
    describe=lambda s: gettext("Assign to %(who)s") % {
        "who": gettext("the desk queue") if s.get("to") == ASSIGN_DESK_QUEUE else _who_label(s.get("to"))},
))
register_action(ActionType(
    name="add_tag", label=_("Add a tag"),
    params=(ActionParam("tag", _("Tag")),),
    run=_add_tag_run, validate=_add_tag_validate,
    describe=lambda s: gettext("Tag “%(tag)s”") % {"tag": s.get("tag", "")},
))
register_action(ActionType(
    name="notify", label=_("Notify a member of staff"),
    params=(
        ActionParam("who", _("Who"), kind="who", default=WHO_OWNER),
        ActionParam("title", _("Title"), templated=True),
        ActionParam("body", _("Text"), kind="textarea", required=False, templated=True),
    ),
    run=_notify_run, validate=_notify_validate, choices={"who": _who_choices},
    describe=lambda s: gettext("Notify %(who)s") % {"who": _who_label(s.get("who"))},
))
# Segments belong to leads: it provides this action when it has them.
declare_action("add_to_segment", label=_("Add to a segment"), params=(ActionParam("segment", _("Segment"),
                                                                                 kind="choice"),))
