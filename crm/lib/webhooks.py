"""The webhook inbox: how a notification from an outside system (a payment provider, a verification
vendor) is received, one way for every app that takes them (wallet.webhooks, kyc.webhooks).

Every delivery becomes a row of the app's inbox model (crm.models.ReceivedWebhook), kept raw (the
sender's own headers, the body with what no text column holds shown as U+FFFD) with what we made of
it: ``outcome``, ``detail``, ``signature_ok``. ``WebhookInbox.receive`` goes through the steps in
this order; each refusal is logged, stored and answered:

1. the sender named in the URL: none known by that code -> the app's "unknown sender" outcome;
2. the body: larger than ``MAX_BODY`` or holding a NUL byte -> malformed (400, the reason in
   ``detail``);
3. the adapter's ``verify_webhook``: a bad signature or a stale timestamp -> 401, anything it
   cannot read -> malformed (the app's refusal error names the ``reason``: bad_signature, stale or
   malformed);
4. text no column can hold in what the notification says (a JSON "\\u0000") -> malformed;
5. in one transaction: the app finds what the notification is about (``locate``; not found: the
   app's "unknown reference" outcome, 404, so that the sender retries), the row is stored as
   accepted, and the app applies it (``apply``); the accepted row and what the app changed commit
   together or not at all. The model's partial unique constraint (``accepted_once``) lets one
   accepted row exist per sender and event id, so simultaneous copies of a notification end as one
   "accepted" and the rest "duplicate": a repeated notification changes nothing. When ``apply``
   does not know the notification, its finding replaces "accepted" on the row, which releases the
   claim: a later copy is looked at afresh.
6. instead of 5, when the app says so (``later``: the sender is answered before the notification
   is applied), the row alone is claimed as accepted with the app's columns marking it, committed
   on its own (the same ``accepted_once`` claim: a copy is a duplicate), and the app told
   (``stored``); the app applies such rows later, each exactly once (wallet.webhook_batches).
   With ``later_if`` (what the notification is about, as a query), the row is claimed only if the
   query finds a row, in the same statement as the claim; when it finds none, step 5 follows.

An app subclasses ``WebhookInbox`` with its model, its outcome choices (named as ``STATUS`` says,
which gives each its HTTP answer) and the hooks that know its senders; its view answers with
``webhook_answer``.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from django.db import connections, models, router, transaction
from django.db.models import Q
from django.db.models.constants import OnConflict
from django.http import HttpRequest, JsonResponse

from crm.lib.middleware import client_ip
from crm.lib.validation import json_problem, storable, unstorable_problem

ACCEPTED = "accepted"  # the outcome every inbox spells the same: its unique constraint is on it
MAX_BODY = 256 * 1024
KEPT_HEADERS = ("content-type", "user-agent")
KEPT_PREFIXES = ("x-signature", "x-webhook-", "x-event-")  # and the sender's own ("x-psp-")
SENDER_LENGTH = 40  # the sender's code as in the URL, also when nobody has it
# The answer to each outcome an inbox's choices name this way; any other outcome (an unknown sender,
# payment or reference) is a 404, after which the sender retries.
STATUS = {"ACCEPTED": 200, "DUPLICATE": 200, "REFUSED_BAD_SIGNATURE": 401, "REFUSED_STALE": 401,
          "REFUSED_MALFORMED": 400}


def accepted_once(sender_field: str, *, name: str) -> models.UniqueConstraint:
    """The partial unique index of an inbox model: one accepted row per sender and event id.
    Twenty simultaneous copies of one notification store one accepted row; the others fail this
    index and are stored as duplicates."""
    return models.UniqueConstraint(fields=[sender_field, "event_id"], condition=Q(outcome=ACCEPTED), name=name)


class InboxRow(Protocol):
    """What the inbox reads and changes on a row of an app's inbox model."""

    outcome: str
    detail: str

    def save(self, *, update_fields: list[str]) -> None: ...


@dataclass(frozen=True)
class Finding:
    """What the inbox records when a step does not go through: the row's outcome and detail, and
    the warning logged (with ``extra``). From ``apply`` with the outcome still "accepted", it is a
    note on an accepted row (a result the app could not take)."""

    outcome: str
    detail: str
    log: str
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Receipt[R, N]:
    outcome: str
    status_code: int
    row: R
    message: N | None = None  # the verified notification, once the signature held


def kept_headers(headers: Mapping[str, str], prefix: str) -> dict[str, str]:
    """The headers worth keeping with the row: the content type, the user agent, the signature and
    event headers, and the sender's own (``prefix``)."""
    return {storable(k.lower()): storable(v[:500]) for k, v in headers.items()
            if k.lower() in KEPT_HEADERS or k.lower().startswith((prefix, *KEPT_PREFIXES))}


def body_problem(body: bytes) -> str | None:
    """Why a body is refused before anybody reads it, or None."""
    if len(body) > MAX_BODY:
        return "body too large"
    if b"\x00" in body:
        return "the body contains a NUL byte"
    return None


def unstorable(texts: Mapping[str, object], raw: object) -> str | None:
    """Why a verified notification holds text no column can hold (named), or None."""
    for name, value in texts.items():
        problem = unstorable_problem(str(value or ""))
        if problem:
            return f"{name}: {problem}"
    found = json_problem(raw) if raw else None
    return f"{found[0]}: {found[1]}" if found else None


class WebhookInbox[R: models.Model, S, N](abc.ABC):
    """One app's inbox. ``R``: its inbox model; ``S``: a sender as the app knows it (a provider's
    row, a vendor's adapter); ``N``: the notification its adapters' ``verify_webhook`` gives."""

    def __init__(self, model: type[R], outcomes: type[models.TextChoices], refused: type[Exception], *,
                 sender_field: str, log_key: str, label: str, header_prefix: str, logger: logging.Logger) -> None:
        """``outcomes``: the model's outcome choices, ACCEPTED ("accepted"), DUPLICATE, REFUSED_BAD_SIGNATURE,
        REFUSED_STALE, REFUSED_MALFORMED and the app's own refusals (answered 404, see STATUS). ``refused``:
        the adapters' refusal, a crm.exceptions.WebhookNotBelieved with its ``reason``. ``sender_field``: the
        column naming the sender as in the URL ("provider_code"); ``log_key``: the key naming it in the log
        lines' extra ("provider"); ``label``: how the log lines start ("webhook"); ``header_prefix``: the
        sender's own headers ("x-psp-")."""
        self.model, self.outcomes, self.refused = model, outcomes, refused
        self.sender_field, self.log_key, self.label = sender_field, log_key, label
        self.header_prefix, self.logger = header_prefix, logger

    # -- what the app knows ---------------------------------------------------------------------------
    @abc.abstractmethod
    def sender(self, code: str) -> S | Finding:
        """The sender named in the URL, or why there is none."""

    def sender_fields(self, sender: S) -> dict[str, Any]:
        """Columns naming the sender on the row, once it is known."""
        return {}

    @abc.abstractmethod
    def verify(self, sender: S, headers: Mapping[str, str], body: bytes, now: Any) -> N | Finding:
        """The adapter's ``verify_webhook``: the notification, a Finding, or ``refused`` raised."""

    @abc.abstractmethod
    def texts(self, note: N) -> Mapping[str, object]:
        """What the notification says that the row keeps or the app looks up, by name."""

    @abc.abstractmethod
    def facts(self, note: N) -> dict[str, Any]:
        """The row's columns read from the notification, cut to their lengths."""

    def locate(self, sender: S, note: N) -> dict[str, Any] | Finding:
        """Columns linking the row to what the notification is about, or why nothing is (under the
        transaction, before the row is claimed)."""
        return {}

    @abc.abstractmethod
    def apply(self, sender: S, note: N, row: R) -> Finding | None:
        """Act on an accepted notification (in its transaction); a Finding when it cannot."""

    def later(self, sender: S, note: N) -> dict[str, Any] | None:
        """Columns marking the row of a notification the app applies later, in a batch (None: now,
        in step 5). Asked after the signature held; the row is then claimed on its own."""
        return None

    def later_if(self, sender: S, note: N) -> models.QuerySet[Any] | None:
        """For a notification ``later`` marked: the rows it must be about (a query), or None. The row
        is claimed only if the query finds one, checked in the claim's own statement (one round trip
        where a look-up and then the claim would make two); if it finds none, step 5 runs instead."""
        return None

    def stored(self, row: R) -> None:
        """A row ``later`` marked is stored (committed unless the caller holds a transaction)."""
        return None

    # -- the steps ------------------------------------------------------------------------------------
    def receive(self, *, sender: str, headers: Mapping[str, str], body: bytes, remote_addr: str | None = None,
                now: Any = None) -> Receipt[R, N]:
        """Store and act on one notification; see the module's docstring for the outcomes."""
        fields: dict[str, Any] = {
            self.sender_field: sender[:SENDER_LENGTH], "headers": kept_headers(headers, self.header_prefix),
            "body": storable(body[:MAX_BODY].decode("utf-8", "replace")), "remote_addr": remote_addr}
        known = self.sender(sender)
        if isinstance(known, Finding):
            return self._refuse(known, sender, fields)
        fields.update(self.sender_fields(known))
        malformed = self.outcomes["REFUSED_MALFORMED"]
        problem = body_problem(body)
        if problem:
            return self._refuse(Finding(malformed, problem, f"{self.label} refused: {problem}"), sender, fields)
        try:
            note = self.verify(known, headers, body, now)
        except self.refused as exc:
            reason = str(getattr(exc, "reason", "malformed"))
            outcome = {"bad_signature": self.outcomes["REFUSED_BAD_SIGNATURE"],
                       "stale": self.outcomes["REFUSED_STALE"]}.get(reason, malformed)
            finding = Finding(outcome, str(getattr(exc, "message", exc))[:300], f"{self.label} refused",
                              {"reason": reason})
            return self._refuse(finding, sender, fields, signature_ok=reason != "bad_signature")
        if isinstance(note, Finding):
            return self._refuse(note, sender, fields)
        problem = unstorable(self.texts(note), getattr(note, "raw", None))
        if problem:
            finding = Finding(malformed, problem[:300], f"{self.label} refused: unstorable text")
            return self._refuse(finding, sender, fields, signature_ok=True)
        fields.update(self.facts(note), signature_ok=True)
        later = self.later(known, note)
        condition = self.later_if(known, note) if later is not None else None
        if later is not None and condition is None:  # step 6: stored now, applied in a batch (``later``)
            claimed = self._claim({**fields, **later})
            if claimed is None:
                return self._store(self.outcomes["DUPLICATE"], note=note, **fields)
            self.stored(claimed)
            return self._receipt(claimed, note)
        if later is not None and condition is not None:  # step 6 if the condition holds, else step 5
            found, claimed = self._claim_if({**fields, **later}, condition)
            if found and claimed is None:
                return self._store(self.outcomes["DUPLICATE"], note=note, **fields)
            if claimed is not None:
                self.stored(claimed)
                return self._receipt(claimed, note)
        with transaction.atomic():
            located = self.locate(known, note)
            if isinstance(located, Finding):
                return self._refuse(located, sender, fields, signature_ok=True)
            fields.update(located)
            claimed = self._claim(fields)
            if claimed is None:
                return self._store(self.outcomes["DUPLICATE"], note=note, **fields)
            row = claimed
            applied = self.apply(known, note, row)
            if applied is not None:
                self._log(applied, sender)
                kept = self._row(row)
                kept.outcome, kept.detail = applied.outcome, applied.detail[:300]
                kept.save(update_fields=["outcome", "detail"])
        return self._receipt(row, note)

    def _claim(self, fields: dict[str, Any]) -> R | None:
        """The row stored as accepted, or None when an accepted copy of the notification is there
        (``accepted_once``): one INSERT ... ON CONFLICT DO NOTHING, in the caller's transaction
        without a savepoint around it (two round trips fewer per notification than catching the
        IntegrityError). What the model's save would do besides (its fields' pre_save: the time
        received) the insert compiler does; an inbox model has no signals of its own."""
        row = self.model(outcome=ACCEPTED, **fields)
        meta = self.model._meta
        columns = [f for f in meta.local_concrete_fields if f is not meta.auto_field and not f.generated]
        returning = meta.db_returning_fields
        db = router.db_for_write(self.model)
        # QuerySet._insert: what Model.save and bulk_create call, here with the conflict ignored and
        # the id still returned (bulk_create returns none with ignore_conflicts).
        stored = self.model._default_manager._insert(  # type: ignore[attr-defined]  # Django's, not in the stubs
            [row], fields=columns, returning_fields=returning, using=db, on_conflict=OnConflict.IGNORE)
        if not stored:
            return None
        for value, column in zip(stored[0], returning, strict=True):
            setattr(row, column.attname, value)
        row._state.adding, row._state.db = False, db
        return row

    def _claim_if(self, fields: dict[str, Any], condition: models.QuerySet[Any]) -> tuple[bool, R | None]:
        """``_claim`` when ``condition`` finds a row, in one statement (both seen in one snapshot):
        (whether it found one, the row claimed or None: not found, or an accepted copy is there)."""
        row = self.model(outcome=ACCEPTED, **fields)
        meta = self.model._meta
        db = router.db_for_write(self.model)
        conn = connections[db]
        columns = [f for f in meta.local_concrete_fields if f is not meta.auto_field and not f.generated]
        returning = list(meta.db_returning_fields)
        values = [f.get_db_prep_save(f.pre_save(row, add=True), connection=conn) for f in columns]
        subquery, condition_params = condition.values("pk").query.sql_with_params()
        quote = conn.ops.quote_name
        # Identifiers from the model's meta and a query Django compiled; every value is a parameter.
        statement = _CLAIM_IF.format(
            condition=subquery, table=quote(meta.db_table), columns=", ".join(quote(str(f.column)) for f in columns),
            values=", ".join(["%s"] * len(columns)), returning=", ".join(quote(str(f.column)) for f in returning))
        with conn.cursor() as cursor:
            cursor.execute(statement, [*condition_params, *values])
            found, *stored = cursor.fetchone()
        if not found or stored[0] is None:
            return bool(found), None
        for value, column in zip(stored, returning, strict=True):
            setattr(row, column.attname, value)
        row._state.adding, row._state.db = False, db
        return True, row

    def _refuse(self, finding: Finding, sender: str, fields: dict[str, Any], *,
                signature_ok: bool = False) -> Receipt[R, N]:
        self._log(finding, sender)
        return self._store(finding.outcome, detail=finding.detail[:300], **{**fields, "signature_ok": signature_ok})

    def _log(self, finding: Finding, sender: str) -> None:
        self.logger.warning(finding.log, extra={self.log_key: sender[:SENDER_LENGTH], **finding.extra})

    def _store(self, outcome: str, *, note: N | None = None, detail: str = "", **fields: Any) -> Receipt[R, N]:
        return self._receipt(self.model._default_manager.create(outcome=outcome, detail=detail, **fields), note)

    def _receipt(self, row: R, note: N | None) -> Receipt[R, N]:
        outcome = self._row(row).outcome
        return Receipt(outcome, STATUS.get(self.outcomes(outcome).name, 404), row, note)

    @staticmethod
    def _row(row: R) -> InboxRow:
        return cast(InboxRow, row)  # every inbox model has them (crm.models.ReceivedWebhook and its outcome)


# ``WebhookInbox._claim_if``: the row inserted (accepted; nothing on an accepted copy) only if the
# condition finds a row; one row back: whether it did, and the columns returned of the row inserted.
_CLAIM_IF = (
    "WITH found AS (SELECT EXISTS ({condition}) AS found), "
    "claimed AS (INSERT INTO {table} ({columns}) SELECT {values} FROM found WHERE found.found "
    "ON CONFLICT DO NOTHING RETURNING {returning}) "
    "SELECT found.found, claimed.* FROM found LEFT JOIN claimed ON true")


def webhook_request(request: HttpRequest) -> dict[str, Any]:
    """What ``WebhookInbox.receive`` takes from the request: headers, raw body, the sender's address."""
    return {"headers": dict(request.headers), "body": request.body, "remote_addr": client_ip(request)}


def webhook_answer(receipt: Receipt[Any, Any]) -> JsonResponse:
    """The answer to the sender: the outcome, and for a malformed notification what was wrong (for
    the sender's support team), with the outcome's status."""
    answer = {"outcome": receipt.outcome}
    detail = getattr(receipt.row, "detail", "")
    if receipt.status_code == 400 and detail:
        answer["detail"] = detail
    return JsonResponse(answer, status=receipt.status_code)
