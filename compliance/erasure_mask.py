"""An erased client's names kept off the pages that show immutable records (issue 64, section 2).

The audit log's rows are hashed into the chain (crm.audit) and never rewritten, so an erasure cannot take the
old name out of them: the rows keep what they recorded, and the chain still verifies. Instead they are masked
where they are shown, through crm.audit's AUDIT_ROW_MASKS (the audit log's page, a withdrawal's trail): the
erased client's names, email and phone read "[erased 2026-11-29]", the day of the erasure.

How the strings are recognised without being kept: `erasure_apply` writes the client's fingerprints into the
erasure's own audit row ("compliance.client_erased", after["fingerprints"]), read before the client is
anonymised: keyed hashes (crm.lib.fieldcrypt, under every search key) of each word of the names, of the email
and of the phone. The audit log holds those strings in clear in its earlier rows anyway: the hashes add nothing
to what it holds, and nothing outside it holds them. A shown text is cut into email addresses, phone numbers
and words, each hashed the same way, and
- in a row about the erased client (its object is the client, or its before, after or reason names the
  client's code: a task about them) every word of their names is masked, and in the client's own rows the
  values under a name or contact key whatever they hold (an erasure written before fingerprints were);
- in any other row only what names them alone: their email, their phone, or two or more words of their
  names together ("Compliance trail: Zenobia Quartermaine"); another client called Zenobia keeps her name.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.utils import timezone
from django.utils.translation import gettext

from compliance.retention_models import ClientErasure
from crm.lib.fieldcrypt import keyed_hashes
from crm.models import AuditLog
from plumbing.redact import MIN_LENGTH

if TYPE_CHECKING:
    from crm.models import Client

ERASED_ACTION = "compliance.client_erased"
FINGERPRINTS = "fingerprints"
CLIENT_TYPE = "crm.client"
# Keys under which a client's own audit rows record their names and contacts.
PERSONAL_KEYS = frozenset({"first_name", "last_name", "full_name", "name", "email", "phone", "mobile",
                           "date_of_birth"})
_WORD = re.compile(r"\w+")
_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"\+?\d[\d ().-]{5,}\d")
_CODE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_BETWEEN_NAMES = re.compile(r"[\s,'-]+")  # what may stand between two words of one name ("Quartermaine, Zenobia")


def erasure_fingerprints(client: Client) -> dict[str, list[str]]:
    """Keyed hashes of what an erasure removes from `client` and masks where immutable records show it: each
    word of the names (of two letters or more), the email, the phone. Taken before the client is anonymised."""
    words = {word for name in (client.first_name, client.last_name) for word in _WORD.findall(name or "")
             if len(word) >= MIN_LENGTH}
    return {"names": sorted({h for word in words for h in keyed_hashes(word, kind="name_word")}),
            "emails": keyed_hashes(client.email, kind="email"), "phones": keyed_hashes(client.phone, kind="phone")}


@dataclass(frozen=True)
class ErasedSubject:
    code: str
    marker: str  # what is shown in place of their names: "[erased 2026-11-29]"
    names: frozenset[str]
    contacts: frozenset[str]


def erased_subjects() -> list[ErasedSubject]:
    """Every erased client with their fingerprints (none for an erasure written before they were), first
    erasure first."""
    erased: dict[str, Any] = {}
    for client_code, at in ClientErasure.objects.order_by("erased_at", "id").values_list("client__code",
                                                                                          "erased_at"):
        erased.setdefault(str(client_code), at)
    if not erased:
        return []
    prints: dict[str, dict[str, list[str]]] = {}
    for object_id, after in AuditLog.objects.filter(object_type=CLIENT_TYPE, object_id__in=list(erased),
                                                    action=ERASED_ACTION).values_list("object_id", "after"):
        for kind, hashes in ((after or {}).get(FINGERPRINTS) or {}).items():
            prints.setdefault(object_id, {}).setdefault(kind, []).extend(hashes)
    subjects = []
    for code, at in erased.items():
        found = prints.get(code, {})
        subjects.append(ErasedSubject(
            code=code, marker=gettext("[erased %(day)s]") % {"day": timezone.localdate(at).isoformat()},
            names=frozenset(found.get("names", ())),
            contacts=frozenset([*found.get("emails", ()), *found.get("phones", ())])))
    return subjects


class ErasureMask:
    """Masks shown audit rows for `subjects` (see the module's docstring); each text's hashes computed once."""

    def __init__(self, subjects: Sequence[ErasedSubject]) -> None:
        self.by_code = {s.code: s for s in subjects}
        self._by_name: dict[str, list[ErasedSubject]] = {}
        self._by_contact: dict[str, ErasedSubject] = {}
        for subject in subjects:
            for h in subject.names:
                self._by_name.setdefault(h, []).append(subject)
            for h in subject.contacts:
                self._by_contact.setdefault(h, subject)
        self._named: dict[str, tuple[ErasedSubject, ...]] = {}

    def _named_by(self, word: str) -> tuple[ErasedSubject, ...]:
        """The subjects one of whose names is `word`."""
        if word not in self._named:
            found = {s.code: s for h in keyed_hashes(word, kind="name_word") for s in self._by_name.get(h, ())}
            self._named[word] = tuple(found[c] for c in sorted(found))
        return self._named[word]

    def _contact_of(self, text: str, kind: str) -> ErasedSubject | None:
        return next((s for h in keyed_hashes(text, kind=kind) if (s := self._by_contact.get(h))), None)

    def text(self, text: str, linked: Sequence[ErasedSubject] = ()) -> str:
        """`text` with the subjects' contacts and names masked: any word of the names of a `linked` subject,
        two or more words of one subject's names together of anyone's."""
        if not text or not self.by_code:
            return text
        spans: list[tuple[int, int, str]] = []
        for pattern, kind in ((_EMAIL, "email"), (_PHONE, "phone")):
            for match in pattern.finditer(text):
                taken = any(start < match.end() and match.start() < end for start, end, _ in spans)
                if not taken and (subject := self._contact_of(match.group(), kind)) is not None:
                    spans.append((match.start(), match.end(), subject.marker))
        words = [m for m in _WORD.finditer(text) if len(m.group()) >= MIN_LENGTH
                 and not any(start <= m.start() < end for start, end, _ in spans)]
        linked_codes = {s.code for s in linked}
        i = 0
        while i < len(words):
            common = {s.code: s for s in self._named_by(words[i].group())}
            j = i
            while j + 1 < len(words) and _BETWEEN_NAMES.fullmatch(text[words[j].end():words[j + 1].start()]):
                both = {c: s for c, s in common.items() if c in {n.code for n in self._named_by(words[j + 1].group())}}
                if not both:
                    break
                common, j = both, j + 1
            mine = [s for c, s in common.items() if j > i or c in linked_codes]
            if mine:
                spans.append((words[i].start(), words[j].end(), mine[0].marker))
            i = j + 1
        for start, end, marker in sorted(spans, reverse=True):
            text = text[:start] + marker + text[end:]
        return text

    def value(self, value: Any, linked: Sequence[ErasedSubject], own: ErasedSubject | None, key: str = "") -> Any:
        """A recorded before/after (JSON) with its texts masked; in the subject's `own` rows the values under
        a name or contact key masked whole."""
        if isinstance(value, dict):
            return {k: self.value(v, linked, own, str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v, linked, own, key) for v in value]
        if not isinstance(value, str) or not value:
            return value
        if own is not None and key.lower() in PERSONAL_KEYS:
            return own.marker
        return self.text(value, linked)

    def row(self, row: Any) -> Any:
        """The row as shown: itself when nothing in it is masked, else a masked copy (never saved)."""
        own = self.by_code.get(row.object_id) if row.object_type == CLIENT_TYPE else None
        named = set(_CODE.findall(json.dumps([row.before, row.after, row.reason], default=str)))
        linked = [self.by_code[c] for c in sorted(named | {row.object_id}) if c in self.by_code]
        after = row.after
        if row.action == ERASED_ACTION and isinstance(after, dict) and FINGERPRINTS in after:
            count = sum(len(v) for v in (after[FINGERPRINTS] or {}).values())
            after = {**after, FINGERPRINTS: gettext("[%(n)d keyed hashes]") % {"n": count}}
        shown = {"before": self.value(row.before, linked, own), "after": self.value(after, linked, own),
                 "reason": self.text(row.reason, linked), "actor_label": self.text(row.actor_label, linked)}
        if all(shown[name] == getattr(row, name) for name in shown):
            return row
        masked = copy.copy(row)
        for name, value in shown.items():
            setattr(masked, name, value)
        return masked


def audit_rows_mask(rows: list[Any]) -> list[Any]:
    """The hook for crm.audit.AUDIT_ROW_MASKS: `rows` with the erased clients' names masked."""
    subjects = erased_subjects() if rows else []
    if not subjects:
        return rows
    mask = ErasureMask(subjects)
    return [mask.row(row) for row in rows]
