"""Reads of the core that views, the API and other apps use. Every client read is scoped first.

Search avoids pg_trgm: it matches prefixes through the indexes declared on Client (lower-cased
email and names with text_pattern_ops, the reversed phone for suffixes, the code's unique index
for code prefixes), so each branch is an index range scan.

``PUBLISHED_VIEWS`` (at the end): the views the core publishes for other apps' set-based SQL.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Collate, Lower
from django.utils import timezone

from crm.lib.fieldcrypt import keyed_hashes
from crm.lib.phone import phone_normalise
from crm.lib.validation import InvalidValue
from crm.models import (
    AccessEvent,
    AccessKind,
    AuditLog,
    Brand,
    Client,
    Desk,
    Event,
    Note,
    Notification,
    Task,
    User,
)
from crm.permissions import client_queryset_for_user
from plumbing.sqlviews import Column, PublishedView

CLIENT_ORDERS: tuple[str, ...] = (
    "created_at", "-created_at", "last_name", "-last_name", "stage", "country", "-updated_at",
)
TASK_STATUSES: tuple[str, ...] = ("open", "done", "overdue", "all")
SEARCH_MAX_LIMIT = 50
TIMELINE_MAX_LIMIT = 200

_HEX_PREFIX_RE = re.compile(r"^[0-9a-f]{8,32}$")
_PHONE_CHARS_RE = re.compile(r"^\+?[0-9 ().\-/]+$")
# The order of search results: the expressions of client_name_search_idx (lower case, compared
# byte by byte), so that a last-name prefix is read from that index already in order.
SEARCH_NAME_ORDER = (Collate(Lower("last_name"), "C"), Collate(Lower("first_name"), "C"), "id")


# --- masking ------------------------------------------------------------------------------------

def mask_email(value: str | None) -> str:
    """"john.smith@example.com" -> "j***@example.com"; "" stays "". Shows enough to tell addresses apart."""
    value = value or ""
    if not value:
        return ""
    local, at, domain = value.rpartition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


def mask_phone(value: str | None) -> str:
    """"+442071838750" -> "+44*******750": the country code and the last three digits remain."""
    value = value or ""
    if not value:
        return ""
    if len(value) <= 6:
        return "*" * len(value)
    return f"{value[:3]}{'*' * (len(value) - 6)}{value[-3:]}"


_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def mask_personal(value: Any, key: str = "") -> Any:
    """A recorded value (an audit row's before or after) with the contact data in it masked as
    everywhere else: values under an email or phone key (email, phone, to, owner_email, ...), and any
    text that is an email address, at any depth. Masking a masked value changes nothing."""
    name = key.lower()
    if isinstance(value, dict):
        return {k: mask_personal(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_personal(v, key) for v in value]
    if not isinstance(value, str) or not value:
        return value
    if name in ("phone", "mobile") or name.endswith(("_phone", "_mobile")):
        return mask_phone(value)
    if name in ("email", "to") or name.endswith("_email") or _EMAIL_RE.fullmatch(value.strip()):
        return mask_email(value)
    return value


# --- clients -------------------------------------------------------------------------------------

def _ref_filter(field: str, value: Any, model: type[Any]) -> Q:
    """Filter on a foreign key given as an instance, a primary key, or (for models with one) a code."""
    if isinstance(value, model):
        return Q(**{f"{field}_id": value.pk})
    if isinstance(value, int):
        return Q(**{f"{field}_id": value})
    text = str(value).strip()
    if text.isdigit():
        return Q(**{f"{field}_id": int(text)})
    if model is Brand:
        return Q(**{f"{field}__code": text})
    try:
        return Q(**{f"{field}__code": uuid.UUID(text)})
    except ValueError:
        return Q(pk__in=[])  # an unknown reference matches nothing


def _code_prefix_q(term: str) -> Q | None:
    """A full UUID, or its first 8+ hex digits, as a range on the unique index of `code`."""
    compact = term.lower().replace("-", "")
    if not _HEX_PREFIX_RE.match(compact):
        return None
    if len(compact) == 32:
        return Q(code=uuid.UUID(compact))
    low = uuid.UUID(compact.ljust(32, "0"))
    high = uuid.UUID(compact.ljust(32, "f"))
    return Q(code__gte=low, code__lte=high)


def _whole_phones(q: str) -> list[str]:
    """The E.164 numbers `q` may be, written whole with its country code: "+44 20 7183 8750",
    "0044 (20) 7183-8750", or the digits alone ("44 20 7183 8750"); [] when it is none."""
    text = q.strip()
    candidates = [text] if text.startswith(("+", "00")) else []
    digits = "".join(ch for ch in text if ch.isdigit())
    if digits[:1] not in ("", "0"):
        candidates.append("+" + digits)
    found: list[str] = []
    for candidate in candidates:
        try:
            number = phone_normalise(candidate)
        except InvalidValue:
            # A number the rules do not know (a new range, one migrated from another CRM) is still
            # looked up as written: a hash that matches nothing costs one index probe.
            whole = digits[2:] if text.startswith("00") else digits
            number = f"+{whole}" if 7 <= len(whole) <= 15 and whole[:1] != "0" else ""
        if number and number not in found:
            found.append(number)
    return found


def _search_q(q: str) -> Q | None:
    """The OR of every way `q` can match a client, or None if it cannot match anything."""
    conditions = _search_conditions(q)
    result = Q()
    for condition in conditions:
        result |= condition
    return result if conditions else None


def _search_conditions(q: str) -> list[Q]:
    """Each way `q` can match a client, as its own condition (each served by one index)."""
    q = " ".join(q.split())
    if not q:
        return []
    term = q.lower()
    conditions: list[Q] = []

    code_q = _code_prefix_q(term) if " " not in term else None
    if code_q is not None:
        conditions.append(code_q)

    if _PHONE_CHARS_RE.match(q):
        # Digits and punctuation: a phone number, never a name. Phones are encrypted in their column:
        # a whole number is found by its keyed hash, in any format that carries the country code.
        hashes = [h for whole in _whole_phones(q) for h in keyed_hashes(whole, kind="phone")]
        if hashes:
            conditions.append(Q(phone_hash__in=hashes))
    elif "@" in term:
        if " " not in term:
            # Emails are encrypted in their column: a whole address is found by its keyed hash (of the
            # address lower-cased), never by its start.
            conditions.append(Q(email_hash__in=keyed_hashes(term, kind="email")))
    else:
        words = term.split(" ")
        if len(words) == 1:
            conditions.append(Q(last_name_lower__startswith=term))
            conditions.append(Q(first_name_lower__startswith=term))
        else:
            # "John Smi": first name then last name; "Smith Jo": last name then first name;
            # names with several words ("Maria de la Cru") split at every point.
            # A whole last (or first) name of several words: "de la Cruz".
            conditions.append(Q(last_name_lower__startswith=term))
            conditions.append(Q(first_name_lower__startswith=term))
            for i in range(1, len(words)):
                head, tail = " ".join(words[:i]), " ".join(words[i:])
                conditions.append(Q(first_name_lower__startswith=head, last_name_lower__startswith=tail))
                conditions.append(Q(last_name_lower__startswith=head, first_name_lower__startswith=tail))
    return conditions


def _with_search_aliases(qs: QuerySet[Client]) -> QuerySet[Client]:
    # The same expressions as the indexes on Client, so PostgreSQL can use them.
    return qs.alias(first_name_lower=Lower("first_name"), last_name_lower=Lower("last_name"))


def client_list(
    *,
    user: Any,
    q: str = "",
    stage: str = "",
    country: str = "",
    brand: Any = None,
    owner: Any = None,
    desk: Any = None,
    language: str = "",
    tag: str = "",
    order: str = "-created_at",
    shares_read: bool = False,
) -> QuerySet[Client]:
    """The clients `user` may see, filtered and ordered; blank filters are ignored.

    `brand`, `owner` and `desk` take an instance, a primary key or a code. `order` outside
    CLIENT_ORDERS falls back to "-created_at". Rows are ordered stably (id breaks ties) so that
    cursor and page pagination do not skip or repeat rows. `shares_read`: see
    crm.permissions.client_queryset_for_user.
    """
    qs = client_filter(client_queryset_for_user(user, shares_read=shares_read), q=q, stage=stage, country=country,
                       brand=brand, owner=owner, desk=desk, language=language, tag=tag)
    if order not in CLIENT_ORDERS:
        order = "-created_at"
    tiebreak = "-id" if order.startswith("-") else "id"
    return qs.select_related("brand", "owner", "desk").order_by(order, tiebreak)


def client_filter(
    qs: QuerySet[Client],
    *,
    q: str = "",
    stage: str = "",
    country: str = "",
    brand: Any = None,
    owner: Any = None,
    desk: Any = None,
    language: str = "",
    tag: str = "",
) -> QuerySet[Client]:
    """`qs` (already scoped to what the caller may see) narrowed by the client list's filters,
    with the same meaning everywhere (pages, API keys, segments); blank filters are ignored."""
    if q.strip():
        search = _search_q(q)
        if search is None:
            return qs.none()
        qs = _with_search_aliases(qs).filter(search)
    if stage:
        qs = qs.filter(stage=stage)
    if country:
        qs = qs.filter(country=country.strip().upper())
    if language:
        qs = qs.filter(language=language.strip().lower())
    if tag:
        qs = qs.filter(tags__contains=[tag.strip().lower()])
    if brand not in (None, ""):
        qs = qs.filter(_ref_filter("brand", brand, Brand))
    if owner not in (None, ""):
        qs = qs.filter(_ref_filter("owner", owner, User))
    if desk not in (None, ""):
        qs = qs.filter(_ref_filter("desk", desk, Desk))
    return qs


def client_search(*, user: Any, q: str, limit: int = 10) -> list[Client]:
    """Global search by code (full or first 8+ hex digits), a whole email (any case), a whole phone
    number (with its country code, in any format) or name (starts of first and last names, "John Smi").
    Emails and phones are encrypted in their columns: they are matched by their keyed hashes, whole.

    Scoped through client_queryset_for_user; at most `limit` (capped at 50) clients, by name
    (last name, first name, case-insensitively; SEARCH_NAME_ORDER).

    Each way of matching is its own query, ordered by name and cut at `limit` (SQL's UNION of
    them): one OR over all of them would have PostgreSQL walk the name index and filter it, which
    reads most of the table for a common last name late in the alphabet. A last-name prefix is a
    range of client_name_search_idx read in order; the other ways are short ranges of their own
    indexes. The page is then the first `limit` of those candidates.
    """
    conditions = _search_conditions(q or "")
    if not conditions:
        return []
    limit = max(1, min(int(limit), SEARCH_MAX_LIMIT))
    scoped = _with_search_aliases(client_queryset_for_user(user))
    branches = [_search_branch(scoped, condition).values_list("pk", flat=True)[:limit] for condition in conditions]
    candidates = branches[0].union(*branches[1:]).order_by() if len(branches) > 1 else branches[0]
    ids = list(candidates)
    if not ids:
        return []
    # At most a few times `limit` rows, read by primary key and put in order here: asked to sort them,
    # PostgreSQL may walk the name index from its start to find a handful of ids.
    found = list(Client.objects.filter(pk__in=ids).select_related("brand", "owner"))
    found.sort(key=lambda c: ((c.last_name or "").lower(), (c.first_name or "").lower(), c.pk))
    return found[:limit]


_NAME_PREFIXES = frozenset({"last_name_lower__startswith", "first_name_lower__startswith"})


def _search_branch(scoped: QuerySet[Client], condition: Q) -> QuerySet[Client]:
    """One way of matching: a name prefix in name order (a range of client_name_search_idx or its
    first-name twin, read in order); any other way (email, phone, code) in its own index's order, with
    no order asked for: ordered by name, the planner may walk the name index and filter every row."""
    keys = {child[0] for child in condition.children if isinstance(child, tuple)}
    if keys and keys <= _NAME_PREFIXES:
        return scoped.filter(condition).order_by(*SEARCH_NAME_ORDER)
    return scoped.filter(condition).order_by()


def client_timeline(*, client: Client, before_id: int | None = None, limit: int = 50) -> list[Event]:
    """The client's events, newest first; `before_id` (an event id from the previous page) pages back."""
    limit = max(1, min(int(limit), TIMELINE_MAX_LIMIT))
    qs = Event.objects.filter(client_id=client.pk).select_related("actor").order_by("-occurred_at", "-id")
    if before_id is not None:
        cursor = Event.objects.filter(client_id=client.pk, pk=before_id).values_list("occurred_at", flat=True).first()
        if cursor is None:
            return []
        qs = qs.filter(Q(occurred_at__lt=cursor) | Q(occurred_at=cursor, id__lt=before_id))
    return list(qs[:limit])


def client_verified(*, client: Client) -> bool:
    """Whether the client's identity verification stands (Client.verified_at): set by the KYC app
    when it approves, cleared when the approval expires, is withdrawn for review or is rejected
    (crm.services.client_verification_set). The one answer every app reads: the brand's policy for
    live accounts, the trader's room, withdrawals. The stage says how far along the funnel the
    client came, not this: a client funded without a verification is not verified. Read from the
    database (one primary-key read), so that an instance loaded earlier cannot answer for it."""
    return Client.objects.filter(pk=client.pk, verified_at__isnull=False).exists()


# A plain statement, no queryset to build: lead routing asks for every lead a least-loaded rule
# takes. Served by client_owner_recent_idx.
_OWNER_COUNTS_SQL = "SELECT owner_id, count(*) FROM crm_client WHERE owner_id = ANY(%s) AND stage = %s GROUP BY owner_id"


def client_counts_by_owner(*, owner_ids: list[int], stage: str) -> dict[int, int]:
    """How many clients at `stage` each of `owner_ids` owns; an owner with none is left out. Not
    scoped (the system's reads: lead routing's least-loaded agent). One query."""
    with connection.cursor() as cursor:
        cursor.execute(_OWNER_COUNTS_SQL, [owner_ids, stage])
        return {owner_id: count for owner_id, count in cursor.fetchall()}


def note_list(*, client: Client) -> QuerySet[Note]:
    """The client's notes, pinned first, then newest first."""
    return Note.objects.filter(client_id=client.pk).select_related("author").order_by("-is_pinned", "-created_at", "-id")


# --- tasks ---------------------------------------------------------------------------------------

def _task_status_filter(qs: QuerySet[Task], status: str, now: datetime) -> QuerySet[Task]:
    due_first = F("due_at").asc(nulls_last=True)
    if status == "open":
        return qs.filter(done_at__isnull=True).order_by(due_first, "id")
    if status == "done":
        return qs.filter(done_at__isnull=False).order_by("-done_at", "-id")
    if status == "overdue":
        return qs.filter(done_at__isnull=True, due_at__lt=now).order_by(due_first, "id")
    # "all": open tasks first (by due date), then done ones, latest first.
    return qs.order_by(F("done_at").desc(nulls_first=True), due_first, "id")


def task_list_for_user(*, user: Any, status: str = "open") -> QuerySet[Task]:
    """Tasks assigned to `user`. `status`: open (by due date, undated last), done (latest first),
    overdue (open and past due) or all (open, then done); anything else means open."""
    if status not in TASK_STATUSES:
        status = "open"
    qs = Task.objects.filter(assignee_id=getattr(user, "pk", None)).select_related("client", "created_by")
    return _task_status_filter(qs, status, timezone.now())


def task_list_for_client(*, client: Client, status: str = "all") -> QuerySet[Task]:
    """The client's tasks (same `status` values as task_list_for_user; default all)."""
    if status not in TASK_STATUSES:
        status = "all"
    qs = Task.objects.filter(client_id=client.pk).select_related("assignee", "created_by")
    return _task_status_filter(qs, status, timezone.now())


def next_open_tasks(*, client_ids: list[int]) -> dict[int, Task]:
    """Each client's next open task (earliest due; undated ones after dated ones), by client id, for
    the clients listed (already scoped by the caller). One query whatever the number of clients."""
    if not client_ids:
        return {}
    qs = (Task.objects.filter(client_id__in=client_ids, done_at__isnull=True).select_related("assignee")
          .order_by("client_id", F("due_at").asc(nulls_last=True), "id").distinct("client_id"))
    return {task.client_id: task for task in qs if task.client_id is not None}  # never None here


# --- notifications -----------------------------------------------------------------------------

def notification_unread_count(*, user: User) -> int:
    """Unread notifications of `user` (served by a partial index)."""
    return Notification.objects.filter(user_id=user.pk, read_at__isnull=True).count()


def notification_list(*, user: User, limit: int = 50, unread_only: bool = False) -> list[Notification]:
    """The newest notifications of `user`."""
    qs = Notification.objects.filter(user_id=user.pk)
    if unread_only:
        qs = qs.filter(read_at__isnull=True)
    return list(qs.order_by("-created_at", "-id")[: max(1, min(int(limit), 200))])


# --- the compliance trail (compliance's export reads the core's records through these) ---------------

def trail_events(*, brand_id: int, client_id: int | None, names: list[str], start: datetime,
                 end: datetime) -> QuerySet[Event]:
    """The domain events named `names` of the brand (or of one of its clients) that occurred from
    `start` (inclusive) to `end` (exclusive), oldest first: served by the event name index."""
    qs = Event.objects.filter(name__in=names, brand_id=brand_id, occurred_at__gte=start, occurred_at__lt=end)
    if client_id is not None:
        qs = qs.filter(client_id=client_id)
    return qs.order_by("occurred_at", "id")


def trail_audit_rows(*, brand_id: int, actions: list[str], start: datetime, end: datetime,
                     object_type: str = "", object_id: str = "") -> QuerySet[AuditLog]:
    """The audit rows of `actions` about the brand's objects (or one object) written from `start` to
    `end`, oldest first, with their place in the hash chain (seq, hash; empty until sealed)."""
    qs = AuditLog.objects.filter(action__in=actions, brand_id=brand_id, at__gte=start, at__lt=end)
    if object_type:
        qs = qs.filter(object_type=object_type)
    if object_id:
        qs = qs.filter(object_id=object_id)
    return qs.order_by("at", "id")


REVEAL_KINDS = (AccessKind.REVEAL_EMAIL, AccessKind.REVEAL_PHONE)


def trail_reveals(*, brand_id: int, client_id: int | None, start: datetime, end: datetime) -> QuerySet[AccessEvent]:
    """Who revealed the personal data (email, phone) of the brand's clients (or one client), when and
    from where, oldest first."""
    qs = AccessEvent.objects.filter(kind__in=REVEAL_KINDS, client__brand_id=brand_id, at__gte=start, at__lt=end)
    if client_id is not None:
        qs = qs.filter(client_id=client_id)
    return qs.order_by("at", "id")


# --- published views --------------------------------------------------------------------------------
# What other apps' SQL may read of the core (plumbing.sqlviews): created by crm's migrations 0017 and 0021,
# checked by tests/crm/test_published_views.py. Nobody else names the core's tables.

CLIENTS_VIEW = PublishedView(
    name="crm_public_clients",
    purpose="Every client of every brand, merged ones included (leads.services.merge tags them), with "
            "what other apps join on (id, brand) or match by (country, contact details). One row per "
            "client. The email and phone themselves are encrypted in the client table and not published: "
            "they are matched by their keyed hashes (crm.lib.fieldcrypt.keyed_hashes of the wanted "
            "value, under every search key), served by the client table's (hash, brand) indexes.",
    columns=(
        Column("id", "bigint", "the client's row id (what other apps' client_id columns hold)"),
        Column("brand_id", "bigint", "the client's brand"),
        Column("country", "character varying(2)", "ISO 3166-1 alpha-2, upper case; empty when unknown"),
        Column("email_hash", "character varying(64)", "keyed hash of the email lower-cased (hex); empty when "
                                                      "unknown"),
        Column("phone_hash", "character varying(64)", "keyed hash of the phone in E.164 (hex); empty when unknown"),
        Column("tags", "character varying(50)[]", "the client's tags ('merged': merged into another client)"),
        Column("created_at", "timestamp with time zone", "when the client was created (registered); for a "
                                                         "client migrated from another CRM, its registration there"),
        Column("desk_id", "bigint", "the client's desk; NULL when none (a move emits \"client.assigned\"): for "
                                    "read models a desk manager's pages filter by desk"),
        Column("stage", "character varying(16)", "the client's lifecycle stage (crm.models.Stage)"),
        Column("language", "character varying(8)", "the client's language (ISO 639-1, lower case); '' when unknown"),
        Column("owner_id", "bigint", "the member of staff whose book the client is in; NULL when none"),
        Column("source", "character varying(100)", "where the client came from (a lead source); empty when unknown"),
        Column("campaign", "character varying(100)", "the marketing campaign the client came from; empty when none"),
    ),
)

ORIGINS_VIEW = PublishedView(
    name="crm_public_origins",
    purpose="Where clients and partners acted from: the audit log's rows written without a staff actor "
            "(a client's trader's-room registration and sign-ins, a partner's own actions) that carry an "
            "IP, with the browser's user agent. One row per such audit row (crm's migration 0022); rows of "
            "staff and of the system without an IP are not in it.",
    columns=(
        Column("id", "bigint", "the audit row's id"),
        Column("at", "timestamp with time zone", "when it happened"),
        Column("action", "character varying(100)", "what was done, e.g. portal.register, portal.login"),
        Column("object_type", "character varying(100)", "the object acted on: crm.client, ib.partner ..."),
        Column("object_id", "character varying(64)", "that object's code (a client's or partner's UUID, as text)"),
        Column("client_id", "bigint", "the client (crm_public_clients.id) when object_type is crm.client; "
                                      "else NULL"),
        Column("brand_id", "bigint", "the object's brand; NULL for system-wide rows"),
        Column("ip", "text", "the IP address the request came from (v4 or v6, no prefix length)"),
        Column("user_agent", "text", "the browser's user agent as sent; empty when none"),
    ),
)

PUBLISHED_VIEWS = (CLIENTS_VIEW, ORIGINS_VIEW)
