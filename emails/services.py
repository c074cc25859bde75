"""Email templates: a restricted template language, rendering with language fallback, sending.

Templates are written by administrators, so they are rendered by a sandboxed engine: the
builtin tags that only shape text (if, for, with, firstof, cycle, now, ...) and the builtin
filters except those that mark text safe or dump objects; no {% load %}, {% include %},
{% extends %}, {% url %} or {% debug %}; no loaders. The context holds plain values only
(dicts, lists, text, numbers, dates), never model instances, so a template can read data but
never call into the application:

    client.first_name  client.last_name  client.full_name  client.email  client.country
    client.language  client.stage  client.code
    brand.name  brand.code          owner.name  owner.email  owner.first_name
    event.name  event.data.<key>    (when sent for a domain event)
    plus whatever the caller passes as `context` (plain values only)

The text version is rendered without escaping and wrapped in templates/emails/base.txt; the
HTML version is the same text escaped, with links and line breaks, wrapped in
templates/emails/base.html. Sending picks the template in the client's language, then the
brand's default language, then English.

`email_send_templated` renders in the caller's transaction and writes an OutboundEmail row;
after commit a Celery task sends it and emits "email.sent" (SMTP errors are retried with
backoff; the last failure emits "email.failed"). A client without an email address is skipped,
and the result says so.
"""

from __future__ import annotations

import functools
import logging
import re
import smtplib
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from email.utils import formataddr, parseaddr
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict

from celery import shared_task
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import connection, transaction
from django.template import Context, Engine, Library, TemplateSyntaxError, defaultfilters, defaulttags
from django.template.defaultfilters import linebreaks_filter, urlize
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from kombu.exceptions import OperationalError as BrokerError

from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import FieldErrors, NotFound, ValidationFailed
from crm.lib.bulk import rows_gathered
from crm.lib.validation import InvalidValue, language_normalise, text_clean
from crm.models import Brand, Client, Event, Stage, User
from crm.permissions import user_can
from crm.registry import TimelineKind
from crm.selectors import mask_email
from emails import permissions
from emails.mailer import mailer_send
from emails.models import EMAIL_STATES, EmailStatus, EmailTemplate, OutboundEmail, template_key_validator
from plumbing import context as actor_context
from plumbing.hooks import HookPoint

if TYPE_CHECKING:
    from django.template.base import Template

logger = logging.getLogger(__name__)

SUBJECT_MAX = 255
BODY_MAX = 20_000
FALLBACK_LANGUAGE = "en"
EMAIL_MAX_ATTEMPTS = 6
# Emails per batch task (email_deliver_batch): one transaction, one query, one SMTP session's worth.
EMAIL_BATCH = 50
# A queued message whose task was lost (broker down at commit) is queued again after this long.
EMAIL_STALE_AFTER = timedelta(minutes=10)

# --- the sandbox ---------------------------------------------------------------------------------

ALLOWED_TAGS: frozenset[str] = frozenset({
    "autoescape", "comment", "cycle", "filter", "firstof", "for", "if", "ifchanged", "now", "regroup",
    "resetcycle", "spaceless", "templatetag", "verbatim", "widthratio", "with",
})
# Filters that would let text through unescaped into the HTML version, or print object internals.
BLOCKED_FILTERS: frozenset[str] = frozenset({"safe", "safeseq", "pprint", "json_script"})
# Top-level names a template may use; others exist only when a caller passes them.
KNOWN_ROOTS: frozenset[str] = frozenset({"client", "brand", "owner", "event"})
_INVALID = "\x00INVALID:%s\x00"


def _sandbox_library() -> Library:
    library = Library()
    for name in ALLOWED_TAGS:
        library.tags[name] = defaulttags.register.tags[name]
    for name, fn in defaultfilters.register.filters.items():
        if name not in BLOCKED_FILTERS:
            library.filters[name] = fn
    return library


class _SandboxEngine(Engine):
    # Engine always adds these to `builtins`: the sandbox replaces them with its own library.
    default_builtins: ClassVar[list[str]] = []

    def __init__(self, *, string_if_invalid: str = "") -> None:
        super().__init__(dirs=[], loaders=[], libraries={}, builtins=[], autoescape=False, debug=True,
                         string_if_invalid=string_if_invalid)
        self.template_builtins = [_sandbox_library()]


_engine = _SandboxEngine()
# Renders unknown variables as a marker, so that validation can name them.
_checking_engine = _SandboxEngine(string_if_invalid=_INVALID)


@dataclass(frozen=True)
class TemplateProblem:
    message: str
    line: int | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.message
        return gettext("Line %(line)d: %(message)s") % {"line": self.line, "message": self.message}


@functools.lru_cache(maxsize=512)
def _compile(source: str, engine: Engine = _engine) -> Template:
    """`source` compiled once per process (a campaign renders one text for every recipient)."""
    return engine.from_string(source)


def template_syntax_problem(source: str) -> TemplateProblem | None:
    """The first syntax error in `source` with its line, or None."""
    try:
        _compile(source)
    except TemplateSyntaxError as exc:
        info = getattr(exc, "template_debug", None) or {}
        message = str(exc.args[0]) if exc.args else str(exc)
        return TemplateProblem(message=_syntax_message(message), line=info.get("line"))
    return None


# Django's own wording suggests {% load %}, which the sandbox does not have.
_LOAD_HINT = " Did you forget to register or load this tag?"
_BAD_TAG_RE = re.compile(r"^Invalid block tag on line \d+: '(?P<name>[^']+)'")
_BAD_FILTER_RE = re.compile(r"^Invalid filter: '(?P<name>[^']+)'")
_CLOSING_TAGS = frozenset({"else", "elif", "empty"})


def _syntax_message(message: str) -> str:
    message = message.replace(_LOAD_HINT, "")
    if (tag := _BAD_TAG_RE.match(message)) is not None:
        name = tag["name"]
        if name.startswith("end") or name in _CLOSING_TAGS:
            return message  # a misplaced closing tag: Django says what was expected instead
        return gettext("The tag “%(tag)s” is not available in email templates.") % {"tag": name}
    if (bad_filter := _BAD_FILTER_RE.match(message)) is not None:
        return gettext("The filter “%(filter)s” is not available in email templates.") % {"filter": bad_filter["name"]}
    return message


def template_unknown_variables(source: str, context: Mapping[str, Any]) -> list[str]:
    """Variables of `source` that do not resolve against `context` and that a template could
    never have (misspelt client, brand or owner fields, unknown top-level names)."""
    try:
        rendered = _compile(source, _checking_engine).render(Context(dict(context), autoescape=False))
    except TemplateSyntaxError:
        return []
    except (ValueError, TypeError, ArithmeticError, AttributeError, KeyError, IndexError):
        return []  # reported by template_render_problem
    names: list[str] = []
    for chunk in rendered.split("\x00")[1::2]:
        name = chunk.removeprefix("INVALID:")
        root = name.split(".", 1)[0].split("|", 1)[0]
        flag = root in {"client", "brand", "owner"} or root not in KNOWN_ROOTS | set(context)
        if flag and name not in names:
            names.append(name)
    return names


def template_render_problem(source: str, context: Mapping[str, Any]) -> str | None:
    """An error that rendering `source` with `context` raises (a filter given the wrong kind of value)."""
    try:
        _compile(source).render(Context(dict(context), autoescape=False))
    except TemplateSyntaxError:
        return None  # reported by template_syntax_problem
    except (ValueError, TypeError, ArithmeticError, AttributeError, KeyError, IndexError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def template_problems(source: str, *, context: Mapping[str, Any] | None = None) -> list[str]:
    """Everything wrong with `source` as human messages: syntax (with its line), unknown
    variables, and errors rendering it with the sample context."""
    syntax = template_syntax_problem(source)
    if syntax is not None:
        return [str(syntax)]
    sample = context if context is not None else sample_context()
    problems = [gettext("Unknown variable “%(name)s”.") % {"name": name}
                for name in template_unknown_variables(source, sample)]
    render_error = template_render_problem(source, sample)
    if render_error:
        problems.append(gettext("It cannot be rendered: %(error)s") % {"error": render_error})
    return problems


def render_text(source: str, context: Mapping[str, Any]) -> str:
    """`source` rendered by the sandbox, without HTML escaping (for text and subjects)."""
    return _compile(source).render(Context(dict(context), autoescape=False))


# --- the context ---------------------------------------------------------------------------------

def _plain(value: Any, depth: int = 0) -> Any:
    """`value` as plain data a template may read: no model instances, no callables."""
    if depth > 8:
        return ""
    if value is None or isinstance(value, str | bool | int | float | Decimal | datetime | date):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v, depth + 1) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v, depth + 1) for v in value]
    return str(value)


def _stage_label(stage: str) -> str:
    try:
        return str(Stage(stage).label)
    except ValueError:
        return stage


def _user_values(user: User | None) -> dict[str, str]:
    if user is None:
        return {"name": "", "first_name": "", "email": ""}
    name = user.full_name or user.email
    return {"name": name, "first_name": name.split(" ", 1)[0], "email": user.email}


def template_context(*, client: Client, event: Event | None = None,
                     extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The variables a template sees for `client` (and the event that caused the email)."""
    values: dict[str, Any] = {
        "client": {
            "first_name": client.first_name, "last_name": client.last_name, "full_name": client.full_name,
            "email": client.email, "country": client.country, "language": client.language,
            "stage": _stage_label(client.stage), "code": str(client.code),
        },
        "brand": {"name": client.brand.name, "code": client.brand.code},
        "owner": _user_values(client.owner),
    }
    if event is not None:
        values["event"] = {"name": event.name, "data": _plain(event.data), "occurred_at": event.occurred_at}
    for key, value in (extra or {}).items():
        if key not in values and key.isidentifier() and not key.startswith("_"):
            values[key] = _plain(value)
    return values


def sample_context(*, brand: Brand | None = None) -> dict[str, Any]:
    """Made-up values with every variable, for validation and for previews without a client."""
    return {
        "client": {
            "first_name": "Layla", "last_name": "Haddad", "full_name": "Layla Haddad", "email": "layla@example.com",
            "country": "AE", "language": "ar", "stage": str(Stage.REGISTERED.label),
            "code": "00000000-0000-0000-0000-000000000000",
        },
        "brand": {"name": brand.name if brand else "Example Markets", "code": brand.code if brand else "example"},
        "owner": {"name": "Omar Farouk", "first_name": "Omar", "email": "omar@example.com"},
        "event": {"name": "client.stage_changed", "data": {"from": "lead", "to": "registered"},
                  "occurred_at": timezone.now()},
    }


# --- rendering -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class RenderedEmail:
    template: EmailTemplate
    language: str
    subject: str
    text: str
    html: str


def language_chain(*, client_language: str, brand: Brand) -> list[str]:
    """Languages to try, best first: the client's (then its base language), the brand's default, English."""
    chain: list[str] = []
    for code in (client_language, brand.default_language, FALLBACK_LANGUAGE):
        code = (code or "").strip().lower()
        for candidate in (code, code.split("-", 1)[0]):
            if candidate and candidate not in chain:
                chain.append(candidate)
    return chain


def client_mail_language(client: Client) -> str:
    """The language of a mail the code writes to `client` from templates: the client's if the CRM
    speaks it, else the brand's default, else the site's."""
    known = {code for code, _name in settings.LANGUAGES}
    chain = language_chain(client_language=client.language, brand=client.brand)
    return next((code for code in chain if code in known), settings.LANGUAGE_CODE)


def brand_sender(brand: Brand) -> str:
    """The site's sending address under the brand's name: "Atlas Markets <crm@example.com>"."""
    _name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    return formataddr((brand.name, address or settings.DEFAULT_FROM_EMAIL))


def email_template_pick(*, brand: Brand, key: str, language: str) -> EmailTemplate | None:
    """The active template `key` of `brand` in the best language of the fallback chain."""
    chain = language_chain(client_language=language, brand=brand)
    found = {t.language: t for t in EmailTemplate.objects.filter(brand=brand, key=key, is_active=True,
                                                                 language__in=chain)}
    return next((found[code] for code in chain if code in found), None)


def _is_rtl(language: str) -> bool:
    try:
        return bool(translation.get_language_info(language)["bidi"])
    except KeyError:
        return language.split("-", 1)[0] in {"ar", "fa", "he", "ur", "ps", "yi"}


def email_render(*, template: EmailTemplate, context: Mapping[str, Any]) -> RenderedEmail:
    """Subject, text and HTML of `template` with `context` (see template_context).

    Raises ValidationFailed when the stored template no longer renders (it was valid when saved).
    """
    try:
        subject = " ".join(render_text(template.subject, context).split())[:SUBJECT_MAX]
        body = render_text(template.body, context).strip()
    except (TemplateSyntaxError, ValueError, TypeError, ArithmeticError, AttributeError, KeyError,
            IndexError) as exc:
        raise ValidationFailed(
            gettext("The email template “%(key)s” (%(language)s) cannot be rendered: %(error)s")
            % {"key": template.key, "language": template.language, "error": exc},
            fields={"template": [str(exc)]},
        ) from None
    brand = context.get("brand") or {}
    layout = {
        "subject": subject, "brand_name": brand.get("name", ""), "language": template.language,
        "rtl": _is_rtl(template.language),
    }
    with translation.override(template.language):
        text = render_to_string("emails/base.txt", {**layout, "body": body})
        # Everything in the body is escaped once (variables and the template's own text alike),
        # then links and paragraphs are added: the HTML says exactly what the text says.
        body_html = linebreaks_filter(urlize(body, autoescape=True), autoescape=True)
        html = render_to_string("emails/base.html", {**layout, "body_html": mark_safe(body_html)})  # noqa: S308
    return RenderedEmail(template=template, language=template.language, subject=subject, text=text.strip() + "\n",
                         html=html)


# --- templates: services -------------------------------------------------------------------------

def _require_admin(actor: User | None, perm: str) -> None:
    from crm.exceptions import NotAllowed

    if actor is not None and not user_can(actor, perm):
        raise NotAllowed()


def _template_snapshot(t: EmailTemplate) -> dict[str, Any]:
    return {"brand": t.brand.code, "key": t.key, "language": t.language, "subject": t.subject, "body": t.body,
            "description": t.description, "is_active": t.is_active}


def email_template_validate(*, brand: Any, key: Any, language: Any, subject: Any, body: Any,
                            description: Any = "", instance: EmailTemplate | None = None) -> dict[str, Any]:
    """Cleaned values, or ValidationFailed naming each problem (template errors with their line)."""
    errors = FieldErrors()
    cleaned: dict[str, Any] = {}
    if not isinstance(brand, Brand):
        errors.add("brand", gettext("Choose a brand."))
    key = (key or "").strip().lower() if isinstance(key, str) else ""
    if not key:
        errors.add("key", gettext("This field is required."))
    else:
        try:
            template_key_validator(key)
        except ValidationError as exc:
            errors.add("key", " ".join(exc.messages))
    try:
        cleaned["language"] = language_normalise(language if isinstance(language, str) else "", field="language")
        if not cleaned["language"]:
            errors.add("language", gettext("This field is required."))
    except InvalidValue as exc:
        errors.add(exc.field, exc.message)
    for name, value, limit in (("subject", subject, SUBJECT_MAX), ("body", body, BODY_MAX),
                               ("description", description, 200)):
        try:
            cleaned[name] = text_clean(value if isinstance(value, str) else None, field=name, max_length=limit,
                                       required=name != "description")
        except InvalidValue as exc:
            errors.add(exc.field, exc.message)
    sample = sample_context(brand=brand if isinstance(brand, Brand) else None)
    for name in ("subject", "body"):
        if name in cleaned:
            for problem in template_problems(cleaned[name], context=sample):
                errors.add(name, problem)
    if isinstance(brand, Brand) and key and "language" in cleaned and "language" not in errors:
        clash = EmailTemplate.objects.filter(brand=brand, key=key, language=cleaned["language"])
        if instance is not None:
            clash = clash.exclude(pk=instance.pk)
        if clash.exists():
            errors.add("language", gettext("This brand already has “%(key)s” in this language.") % {"key": key})
    errors.raise_if_any()
    return {"brand": brand, "key": key, **cleaned}


@transaction.atomic
class TemplateText(TypedDict):
    """A template's words as seed data holds them: ``email_template_save(..., **text)``."""

    subject: str
    body: str
    description: str


def email_template_save(
    *,
    actor: User | None,
    template: EmailTemplate | None = None,
    brand: Brand,
    key: str,
    language: str,
    subject: str,
    body: str,
    description: str = "",
    is_active: bool = True,
) -> EmailTemplate:
    """Create (`template` None) or change an email template. Validation names each problem,
    syntax errors with their line; nothing is written unless everything is valid."""
    _require_admin(actor, permissions.TEMPLATE_CHANGE if template else permissions.TEMPLATE_ADD)
    values = email_template_validate(brand=brand, key=key, language=language, subject=subject, body=body,
                                     description=description, instance=template)
    values["is_active"] = bool(is_active)
    before = None
    if template is None:
        template = EmailTemplate(**values)
    else:
        template.refresh_from_db(from_queryset=EmailTemplate.objects.select_for_update())
        before = _template_snapshot(template)
        for name, value in values.items():
            setattr(template, name, value)
    template.save()
    after = _template_snapshot(template)
    if before != after:
        audit_record(action="email_template.create" if before is None else "email_template.update", obj=template,
                     before=before, after=after, actor=actor)
    return template


# --- sending -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EmailSendResult:
    """What email_send_templated did: queued `email`, or skipped for `skipped_reason`."""

    email: OutboundEmail | None
    skipped_reason: str = ""

    @property
    def queued(self) -> bool:
        return self.email is not None


def _sender_label(actor: User | None) -> str:
    if actor is not None:
        return actor.email
    ctx = actor_context.current()
    return ctx.label or f"system:{ctx.source}"


@transaction.atomic
def email_send_templated(
    *,
    template_key: str,
    client: Client,
    context: Mapping[str, Any] | None = None,
    actor: User | None,
    event: Event | None = None,
) -> EmailSendResult:
    """Render template `template_key` for `client` in the best language and queue it.

    The message is sent by a Celery task after commit, which emits "email.sent" (the timeline
    entry, with the subject). A client without an email address is skipped: the result says why
    and nothing is written. Raises NotFound when the brand has no active template by that key in
    any language of the fallback chain, ValidationFailed when it cannot be rendered.
    """
    if not client.email:
        return EmailSendResult(email=None, skipped_reason=gettext("The client has no email address."))
    brand = client.brand
    template = email_template_pick(brand=brand, key=template_key, language=client.language)
    if template is None:
        raise NotFound(gettext("The brand %(brand)s has no active email template “%(key)s” in %(languages)s.") % {
            "brand": brand.name, "key": template_key,
            "languages": ", ".join(language_chain(client_language=client.language, brand=brand)),
        })
    rendered = email_render(template=template, context=template_context(client=client, event=event, extra=context))
    return EmailSendResult(email=email_queue(client=client, rendered=rendered, template=template, actor=actor))


def email_queue(*, client: Client | None, rendered: RenderedEmail, template: EmailTemplate | None,
                actor: User | None, author: User | None = None, audit_action: str = "email.queue",
                audit_extra: Mapping[str, Any] | None = None, brand: Brand | None = None, to_email: str = "",
                headers: Mapping[str, str] | None = None) -> OutboundEmail:
    """Write the OutboundEmail of `rendered` for `client` (who has an address) and hand it to the
    Celery task after commit. `author` is the member of staff who wrote it, if one did: the
    "email.sent" or "email.failed" event is theirs on the timeline. Audited as `audit_action`.

    Without a client (`client` None: a partner, an email sender who is nobody's client) `brand` and
    `to_email` say whose and to whom. `headers` are sent with it as given (a Message-ID among them
    replaces the one Django would make)."""
    brand = brand if brand is not None else (client.brand if client is not None else None)
    to_email = to_email or (client.email if client is not None else "")
    if brand is None or not to_email:
        raise ValidationFailed(gettext("An email needs a brand and an address to send to."),
                               fields={"to_email": [gettext("Give the address to send to.")]})
    extra = _headers_checked(headers)
    email = OutboundEmail.objects.create(
        brand=brand, client=client, template=template if template is not None and template.pk else None,
        template_key=template.key if template is not None else "", language=rendered.language,
        to_email=to_email, subject=rendered.subject, body_text=rendered.text, body_html=rendered.html,
        status=EmailStatus.QUEUED, next_attempt_at=timezone.now(), sent_by=_sender_label(actor)[:200],
        author=author, request_id=actor_context.current().request_id[:64], headers=extra,
    )
    audit_record(action=audit_action, obj=email, after={
        "client": str(client.code) if client is not None else "", "template": email.template_key,
        "language": rendered.language, "to": mask_email(to_email), "subject": rendered.subject,
        **(audit_extra or {}),
    }, actor=actor)
    _enqueue_after_commit(email.pk)
    return email


@dataclass(frozen=True)
class EmailToQueue:
    """One email of email_queue_many: `rendered` for `client` (who has an address), with its headers
    and what its audit row adds."""

    client: Client
    rendered: RenderedEmail
    headers: Mapping[str, str]
    audit_extra: Mapping[str, Any]


@dataclass(frozen=True)
class QueuedEmail:
    pk: int
    code: uuid.UUID


def email_queue_many(*, emails: Sequence[EmailToQueue], actor: User | None,
                     audit_action: str = "email.queue") -> list[QueuedEmail]:
    """email_queue for many clients at once, in the caller's transaction: the same rows, audit rows
    (one per email, as email_queue writes) and hand-over to Celery after commit (in batch tasks), but
    the emails in one INSERT and their audit rows in another, whatever their number. Validated as
    email_queue validates, all before anything is written: ValidationFailed names the first email's
    problem. Returns each email's id and code, in the order given."""
    from crm.audit import AuditEntry, audit_record_many
    from crm.lib.bulk import next_ids, write

    if not emails:
        return []
    now = timezone.now()
    sent_by = _sender_label(actor)[:200]
    request_id = actor_context.current().request_id[:64]
    rows: list[dict[str, Any]] = []
    entries: list[AuditEntry] = []
    ids = next_ids((OutboundEmail, len(emails)))[0]
    out: list[QueuedEmail] = []
    for pk, item in zip(ids, emails, strict=True):
        client, rendered = item.client, item.rendered
        if not client.email:
            raise ValidationFailed(gettext("An email needs a brand and an address to send to."),
                                   fields={"to_email": [gettext("Give the address to send to.")]})
        extra = _headers_checked(item.headers)
        template = rendered.template
        code = uuid.uuid4()
        rows.append({
            "id": pk, "code": code, "brand_id": client.brand_id, "client_id": client.pk,
            "template_id": template.pk if template is not None and template.pk else None,
            "template_key": template.key if template is not None else "", "language": rendered.language,
            "to_email": client.email, "subject": rendered.subject, "body_text": rendered.text,
            "body_html": rendered.html, "status": EmailStatus.QUEUED.value, "attempts": 0, "last_error": "",
            "next_attempt_at": now, "sent_by": sent_by, "author_id": None, "request_id": request_id,
            "headers": extra, "created_at": now, "sent_at": None,
        })
        entries.append(AuditEntry(
            action=audit_action, object_type=OutboundEmail._meta.label_lower, object_id=str(code),
            brand=client.brand_id, actor=actor,
            after={"client": str(client.code), "template": rows[-1]["template_key"], "language": rendered.language,
                   "to": mask_email(client.email), "subject": rendered.subject, **item.audit_extra}))
        out.append(QueuedEmail(pk=pk, code=code))
    write([(OutboundEmail, rows, True)])
    audit_record_many(entries)
    for queued in out:
        _enqueue_after_commit(queued.pk)
    return out


def _headers_checked(headers: Mapping[str, str] | None) -> dict[str, str]:
    extra = {str(name): str(value) for name, value in (headers or {}).items()}
    for name, value in extra.items():
        if not name or any(c in name for c in ":\r\n ") or "\n" in value or "\r" in value:
            raise ValidationFailed(gettext("The email header “%(name)s” cannot be sent.") % {"name": name[:60]},
                                   fields={"headers": [name[:60]]})
    return extra


class _Pending:
    """The emails queued in one transaction, handed to Celery together when it commits."""

    def __init__(self, email_id: int) -> None:
        self.ids = [email_id]

        def flush() -> None:
            if getattr(_pending, "group", None) is self:
                _pending.group = None
            _enqueue_many(self.ids)

        self.flush = flush


_pending = threading.local()


def _enqueue_after_commit(email_id: int) -> None:
    """Hand `email_id` to Celery when the transaction commits, with the others queued in it: one
    email as it always went (email_deliver_task, at once), many in batch tasks (email_deliver_batch).

    The group's commit hook is looked for in the transaction's pending hooks (as
    crm.events.kick_after_commit does): Django drops it when a savepoint open at its registration
    rolls back, and any such savepoint still open encloses this email too; a dropped group is left
    behind and a new one begun. An email of a rolled-back savepoint left in a group is "missing" to
    its task and skipped."""
    conn = transaction.get_connection()
    group: _Pending | None = getattr(_pending, "group", None)
    if (group is not None and conn.in_atomic_block
            and any(entry[1] is group.flush for entry in conn.run_on_commit)):
        group.ids.append(email_id)
        return
    group = _Pending(email_id)
    _pending.group = group
    transaction.on_commit(group.flush, robust=True)


def _enqueue_many(email_ids: list[int]) -> None:
    if len(email_ids) == 1:
        _enqueue(email_ids[0])
        return
    for start in range(0, len(email_ids), EMAIL_BATCH):
        chunk = email_ids[start:start + EMAIL_BATCH]
        try:
            email_deliver_batch_task.apply_async(args=(chunk,))
        except BrokerError:
            logger.warning("could not queue a batch of emails; the sweep will", exc_info=True,
                           extra={"emails": len(chunk)})


def _enqueue(email_id: int, countdown: float | None = None) -> None:
    try:
        if countdown is None:
            email_deliver_task.apply_async(args=(email_id,))
        else:
            email_deliver_task.apply_async(args=(email_id,), countdown=countdown)
    except BrokerError:
        # The message stays queued; the minute sweep (email_requeue_stale) sends it later.
        logger.warning("could not queue an email; the sweep will", exc_info=True, extra={"email_id": email_id})


class EmailTemporaryFailure(Exception):  # noqa: N818 - a signal to the task to retry, not an error to show
    """SMTP failed in a way that may pass; the task retries with backoff."""


# Refusals that will not change by trying again.
_PERMANENT_SMTP = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, ValueError)


def email_backoff(attempt: int) -> int:
    """Seconds before retry number `attempt` (1-based): 1, 2, 4, 8, 16 minutes, at most an hour."""
    return int(min(60 * 2 ** max(attempt - 1, 0), 3600))


def _event_data(email: OutboundEmail, **more: Any) -> dict[str, Any]:
    return {"email": str(email.code), "template": email.template_key, "language": email.language,
            "subject": email.subject, "to": mask_email(email.to_email), "sent_by": email.sent_by, **more}


def _message(email: OutboundEmail) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(email.subject, email.body_text, settings.DEFAULT_FROM_EMAIL, [email.to_email])
    message.attach_alternative(email.body_html, "text/html")
    message.extra_headers.update(email.headers or {})
    message.extra_headers["X-CRM-Email"] = str(email.code)
    return message


def _send(email: OutboundEmail) -> Exception | None:
    """Send `email` over the process's SMTP connection (emails.mailer); the error, or None when sent."""
    email.attempts += 1
    try:
        mailer_send(_message(email))
    except (smtplib.SMTPException, OSError, ValueError) as exc:  # ValueError: an address Django refuses
        return exc
    return None


class DeliveryRefused(Exception):  # noqa: N818 - an outcome recorded on the email, not an error to show
    """A delivery check (delivery_checks) refused the email: it is failed with this reason, unsent."""


# Checks a higher app plugs in (in its AppConfig.ready) to refuse emails as they are about to be sent:
# each is given the locked queued emails of a delivery (with their clients) and returns the ids it
# refuses with the reason. Marketing refuses its emails to clients whose consent was withdrawn (or
# whose address was suppressed) since they were queued. One call per batch: a check should ask the
# database once for all of them.
delivery_checks: HookPoint[Callable[[Sequence[OutboundEmail]], Mapping[int, str]]] = HookPoint(
    "emails.delivery")


def _refusals(emails: Sequence[OutboundEmail]) -> dict[int, str]:
    refused: dict[int, str] = {}
    for check in delivery_checks:
        pending = [e for e in emails if e.pk not in refused]
        if pending:
            refused.update(check(pending))
    return refused


_RETRY = "retry"


def _record(email: OutboundEmail, error: Exception | None, *, now: datetime, last_attempt: bool,
            save: bool = True) -> str:
    """Write what sending `email` (locked, its attempt counted) came to and emit its event: its
    status, or _RETRY when it stays queued for another attempt after email_backoff. With `save`
    False a sent email is changed but not saved (the caller saves the batch's sent ones at once)."""
    with actor_context.acting_as(None, source="task", request_id=email.request_id or None,
                                 label=email.sent_by if email.sent_by.startswith("automation:") else ""):
        if error is None:
            EMAIL_STATES.move(email, EmailStatus.SENT, save=("attempts",) if save else None, savepoint=save,
                              also={"sent_at": now, "last_error": "", "next_attempt_at": None})
            emit("email.sent", client=email.client, brand=email.brand_id, actor=email.author,
                 data=_event_data(email))
            return str(email.status)
        refused = isinstance(error, DeliveryRefused)
        email.last_error = str(error)[:2000] if refused else f"{type(error).__name__}: {error}"[:2000]
        permanent = refused or isinstance(error, _PERMANENT_SMTP)
        if last_attempt or permanent or email.attempts >= EMAIL_MAX_ATTEMPTS:
            EMAIL_STATES.move(email, EmailStatus.FAILED, save=("last_error", "attempts"),
                              also={"next_attempt_at": None})
            emit("email.failed", client=email.client, brand=email.brand_id, actor=email.author,
                 data=_event_data(email, error=email.last_error[:300], attempts=email.attempts))
            return str(email.status)
        email.next_attempt_at = now + timedelta(seconds=email_backoff(email.attempts))
        email.save(update_fields=["last_error", "next_attempt_at", "attempts"])
        return _RETRY


def email_deliver(*, email_id: int, last_attempt: bool = False) -> str:
    """Send queued email `email_id` once; returns its status afterwards.

    The row is locked while sending, so two workers given the same message send it once. An SMTP
    failure records the attempt; unless it is `last_attempt` (or a permanent refusal) it raises
    EmailTemporaryFailure after committing, for the task to retry. Events are emitted with the
    request id the sender had, so automation sees them as part of the same chain. The message goes
    over the process's SMTP connection, kept open from one email to the next (emails.mailer).
    """
    with transaction.atomic():
        email = (OutboundEmail.objects.select_for_update(of=("self",))
                 .select_related("client", "brand", "author").filter(pk=email_id).first())
        if email is None or email.status != EmailStatus.QUEUED:
            return email.status if email is not None else "missing"
        now = timezone.now()
        reason = _refusals([email]).get(email.pk)
        error = DeliveryRefused(reason) if reason is not None else _send(email)
        status = _record(email, error, now=now, last_attempt=last_attempt)
        if status != _RETRY:
            return status
        attempts = email.attempts
    logger.warning("email send failed; will retry", extra={"email_id": email_id, "attempts": attempts})
    raise EmailTemporaryFailure(str(error))


@shared_task(name="crm.email_templates.email_deliver", bind=True, ignore_result=True,
             max_retries=EMAIL_MAX_ATTEMPTS - 1)
def email_deliver_task(self: Any, email_id: int) -> str:
    """Thin: send one queued email; retry SMTP failures with backoff."""
    try:
        return email_deliver(email_id=email_id, last_attempt=self.request.retries >= self.max_retries)
    except EmailTemporaryFailure as exc:
        raise self.retry(exc=exc, countdown=email_backoff(self.request.retries + 1)) from exc


# The batch's sent emails in one statement (each keeps its own attempts and time).
_MARK_SENT = (
    "UPDATE emails_outboundemail AS e SET status = 'sent', attempts = u.attempts, sent_at = u.sent_at,"
    " last_error = '', next_attempt_at = NULL"
    " FROM unnest(%s::bigint[], %s::int[], %s::timestamptz[]) AS u(id, attempts, sent_at) WHERE e.id = u.id"
)


def email_deliver_batch(*, email_ids: Sequence[int]) -> dict[int, str]:
    """Send the queued emails among `email_ids` (up to EMAIL_BATCH of them) in one transaction; returns
    each one's outcome by id: "sent", "failed", "retry" (it stays queued), or "skipped" (already sent
    or failed, locked by another worker, or gone).

    The batch is loaded by one query with its clients, brands and authors, locking the rows it takes
    and skipping those another worker holds (SKIP LOCKED): two workers never send the same email (one
    skipped here is being sent by the other, or waits for the sweep, email_requeue_stale). Each email's
    outcome is its own, as email_deliver's: one failing address fails (or is retried) alone, the others
    are sent. One that may pass later is queued again by itself (email_deliver_task) after commit, with
    the backoff of its attempt; its attempts are counted on the row, so it still ends after
    EMAIL_MAX_ATTEMPTS. The events are written in one INSERT and the sent emails in one UPDATE as the
    batch ends. A worker that dies mid-batch commits none of it: those emails stay queued and the sweep
    sends them again (as a single email whose worker dies between sending and committing). Emails a
    delivery check refuses (delivery_checks: one call for the batch) are failed unsent, with its reason.
    """
    outcomes: dict[int, str] = dict.fromkeys(email_ids, "skipped")
    retries: list[tuple[int, int]] = []
    with transaction.atomic(), rows_gathered():
        emails = list(OutboundEmail.objects.select_for_update(skip_locked=True, of=("self",))
                      .select_related("client", "brand", "author")
                      .filter(pk__in=list(email_ids), status=EmailStatus.QUEUED).order_by("pk"))
        sent: list[OutboundEmail] = []
        refused = _refusals(emails)
        for email in emails:
            now = timezone.now()
            reason = refused.get(email.pk)
            error = DeliveryRefused(reason) if reason is not None else _send(email)
            status = _record(email, error, now=now, last_attempt=False, save=False)
            outcomes[email.pk] = status
            if status == EmailStatus.SENT:
                sent.append(email)
            elif status == _RETRY:
                retries.append((email.pk, email.attempts))
        if sent:
            with connection.cursor() as cursor:
                cursor.execute(_MARK_SENT, [[e.pk for e in sent], [e.attempts for e in sent],
                                            [e.sent_at for e in sent]])
    if retries:
        logger.warning("emails of a batch failed; each will retry", extra={"emails": len(retries)})

        def requeue() -> None:
            for email_id, attempts in retries:
                _enqueue(email_id, countdown=email_backoff(attempts))

        transaction.on_commit(requeue, robust=True)
    return outcomes


@shared_task(name="crm.email_templates.email_deliver_batch", ignore_result=True)
def email_deliver_batch_task(email_ids: list[int]) -> dict[int, str]:
    """Thin: send a batch of queued emails, each retried by itself when it fails."""
    return email_deliver_batch(email_ids=email_ids)


def email_requeue_stale(*, now: datetime | None = None, limit: int = 500) -> int:
    """Queue again messages whose task was lost (their next attempt is long overdue)."""
    now = now or timezone.now()
    ids = list(OutboundEmail.objects.filter(status=EmailStatus.QUEUED, next_attempt_at__lt=now - EMAIL_STALE_AFTER)
               .order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
    if ids:
        # Pushed forward first, so that the next sweep does not queue them yet again.
        OutboundEmail.objects.filter(pk__in=ids).update(next_attempt_at=now)
        _enqueue_many(ids)
    return len(ids)


def email_templates_for_brand(*, brand: Brand | None = None) -> Iterable[EmailTemplate]:
    qs = EmailTemplate.objects.select_related("brand").order_by("brand__name", "key", "language")
    return qs.filter(brand=brand) if brand is not None else qs


def email_template_keys(*, brand: Brand) -> list[str]:
    """The distinct template keys a brand has (any language)."""
    return sorted(set(EmailTemplate.objects.filter(brand=brand).values_list("key", flat=True)))


# --- timeline ------------------------------------------------------------------------------------

def _email_summary(event: Any) -> str:
    data = event.data if isinstance(event.data, Mapping) else {}
    return str(data.get("subject") or "")


def _email_failed_summary(event: Any) -> str:
    data = event.data if isinstance(event.data, Mapping) else {}
    subject = str(data.get("subject") or "")
    error = str(data.get("error") or "")
    return f"{subject} · {error}" if subject and error else subject or error


# Registered by EmailsConfig.ready() (crm.registry.contribute).
EMAIL_TIMELINE = [
    TimelineKind("email.sent", _("Email sent"), "mail", _email_summary),
    TimelineKind("email.failed", _("Email not delivered"), "alert", _email_failed_summary),
]


@transaction.atomic
def outbound_emails_anonymise(*, client: Client, actor: User | None, placeholder: str) -> int:
    """Erasure (compliance.erasure decides and authorises): the client's emails keep their template, times
    and status, but their address is emptied and subject and bodies become `placeholder`; one still queued
    is failed rather than sent to nobody. Returns the emails anonymised; audited without personal data."""
    emails = OutboundEmail.objects.filter(client=client)
    emails.filter(status=EmailStatus.QUEUED).update(status=EmailStatus.FAILED, last_error=placeholder)
    count = 0
    for email in emails:
        email.to_email, email.subject, email.body_text, email.body_html = "", placeholder, placeholder, ""
        email.save(update_fields=["to_email", "subject", "body_text", "body_html"])
        count += 1
    audit_record(action="email.anonymise", obj=client, after={"emails": count}, actor=actor)
    return count


# SMS (emails.sms) through this face too: erasure, the minute sweep, and marketing's campaign SMS.
from emails.exceptions import SmsNotConfigured  # noqa: E402
from emails.sms import SmsLength, sms_length, sms_messages_anonymise, sms_requeue_stale, sms_send  # noqa: E402
from emails.sms_models import SmsPurpose  # noqa: E402

__all__ = [
    "EmailSendResult", "EmailToQueue", "QueuedEmail", "RenderedEmail", "delivery_checks", "email_deliver",
    "email_deliver_batch", "email_queue", "email_queue_many", "email_render", "email_requeue_stale",
    "email_send_templated", "email_template_pick", "email_template_save", "email_template_validate",
    "language_chain", "render_text", "sample_context", "template_context", "template_problems",
    "outbound_emails_anonymise", "sms_messages_anonymise", "sms_requeue_stale",
    "SmsLength", "SmsNotConfigured", "SmsPurpose", "sms_length", "sms_send",
]
