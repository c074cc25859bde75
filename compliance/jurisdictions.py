"""A brand's jurisdictions: countries (and regions of them) with a status (sanctioned, high risk,
allowed) in effect between two dates, set one by one or loaded from a CSV file in the layout of the
FATF's lists.

A sanctioned jurisdiction in effect restricts the brand's clients of that country (no deposits, no
withdrawals, no trading: `JURISDICTION_KINDS`): at once when it is set, at each client's next
sign-in (`client_login_check`), and by the beat job (`jurisdictions_enforce`, which also catches a
status whose start date has come). The compliance officers of the brand are sent the list of the
clients restricted. A restriction an officer lifted is not put back by the same status: only a
later change of the jurisdiction imposes it again. New people of a sanctioned jurisdiction are
refused at registration (the lead intake's check), in neutral words.

Clients carry a country, not a region: a region's row is shown to officers beside the client's
country but restricts nobody by itself.

The CSV file: a header row naming at least `country` and `status`, and optionally `region`,
`effective_from`, `effective_to` (ISO dates) and `note`. Country: an ISO 3166-1 alpha-2 code or an
English name as the lists write it. Status: sanctioned, high_risk or allowed, or the FATF's own words
("call for action", "black", "increased monitoring", "grey"). A file with any bad line is refused
whole, naming the line and the field; nothing of it is written.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy, gettext_noop

from compliance import permissions
from compliance.exceptions import JurisdictionFileRefused
from compliance.models import (
    Jurisdiction,
    JurisdictionStatus,
    Restriction,
    RestrictionKind,
    RestrictionSource,
)
from compliance.restrictions import IMPOSE_PERMISSION, impose_restriction, login_refusal
from compliance.watchlists.countries import country_code
from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import NotAllowed, ValidationFailed
from crm.lib.enqueue import task_send_on_commit
from crm.lib.payloads import user_ref
from crm.lib.validation import COUNTRY_CODES
from crm.models import Brand, Client
from crm.permissions import staff_of_brand, user_can

MANAGE_PERMISSION = permissions.JURISDICTION_MANAGE
JURISDICTION_KINDS = (RestrictionKind.DEPOSIT, RestrictionKind.WITHDRAWAL, RestrictionKind.TRADING)
REGISTRATION_REFUSED = gettext_lazy("We cannot open an account for you at the moment. Please contact support "
                                    "if you have any questions.")
MAX_FILE_BYTES = 1024 * 1024
MAX_ROWS = 2000
NOTIFY_LIST_LIMIT = 50
REGION_RE = re.compile(r"^[A-Z]{2}-[A-Z0-9]{1,3}$")
STATUS_WORDS = {
    "sanctioned": JurisdictionStatus.SANCTIONED, "call for action": JurisdictionStatus.SANCTIONED,
    "black": JurisdictionStatus.SANCTIONED, "blacklist": JurisdictionStatus.SANCTIONED,
    "high_risk": JurisdictionStatus.HIGH_RISK, "high risk": JurisdictionStatus.HIGH_RISK,
    "increased monitoring": JurisdictionStatus.HIGH_RISK, "grey": JurisdictionStatus.HIGH_RISK,
    "gray": JurisdictionStatus.HIGH_RISK, "greylist": JurisdictionStatus.HIGH_RISK,
    "allowed": JurisdictionStatus.ALLOWED,
}


def _today() -> dt.date:
    return timezone.localdate()


# --- reads ----------------------------------------------------------------------------------------------

def jurisdictions_for_brand(*, brand: Brand) -> list[Jurisdiction]:
    return list(Jurisdiction.objects.filter(brand=brand).select_related("updated_by").order_by("country", "region"))


def jurisdiction_in_effect(*, brand: Brand | int, country: str, day: dt.date | None = None) -> Jurisdiction | None:
    """The country-level jurisdiction of `country` for the brand in effect on `day` (today), if any."""
    if not country:
        return None
    row = Jurisdiction.objects.filter(brand_id=getattr(brand, "pk", brand), country=country, region="").first()
    return row if row is not None and row.in_effect(day or _today()) else None


def jurisdictions_of_country(*, brand: Brand | int, country: str) -> list[Jurisdiction]:
    """Every row of `country` for the brand (the country's and its regions'), for the client's tab."""
    if not country:
        return []
    return list(Jurisdiction.objects.filter(brand_id=getattr(brand, "pk", brand), country=country)
                .order_by("region"))


def is_sanctioned(*, brand: Brand | int, country: str) -> bool:
    row = jurisdiction_in_effect(brand=brand, country=country)
    return row is not None and row.status == JurisdictionStatus.SANCTIONED


def registration_refusal(*, brand: Brand, country: str) -> str | None:
    """The lead intake's check: a neutral refusal for a person of a sanctioned jurisdiction."""
    return str(REGISTRATION_REFUSED) if is_sanctioned(brand=brand, country=country) else None


# --- setting one ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class JurisdictionRow:
    country: str
    region: str
    status: str
    effective_from: dt.date | None
    effective_to: dt.date | None
    note: str


def _check(row: JurisdictionRow) -> dict[str, str]:
    """What is wrong with `row`, by field (empty: nothing)."""
    errors: dict[str, str] = {}
    if row.country not in COUNTRY_CODES:
        errors["country"] = gettext("Give a country as its ISO code (two letters) or its English name.")
    if row.region and (not REGION_RE.match(row.region) or not row.region.startswith(row.country + "-")):
        errors["region"] = gettext("Give a region as its ISO 3166-2 code within the country (such as UA-43).")
    if row.status not in JurisdictionStatus.values:
        errors["status"] = gettext("Choose sanctioned, high risk or allowed.")
    start = row.effective_from or _today()
    if row.effective_to is not None and row.effective_to <= start:
        errors["effective_to"] = gettext("The end must come after the start.")
    if len(row.note) > 300:
        errors["note"] = gettext("Keep the note under 300 characters.")
    return errors


def _save(*, brand: Brand, row: JurisdictionRow, source: str, by: Any) -> tuple[Jurisdiction, bool]:
    """Write one checked row; (the jurisdiction, whether anything changed). Audited and evented."""
    current = Jurisdiction.objects.select_for_update().filter(brand=brand, country=row.country,
                                                              region=row.region).first()
    start = row.effective_from or (current.effective_from if current is not None and current.status == row.status
                                   else _today())
    values = {"status": row.status, "effective_from": start, "effective_to": row.effective_to,
              "note": row.note, "source": source[:200]}
    if current is not None and all(getattr(current, k) == v for k, v in values.items() if k != "source"):
        return current, False
    before = None
    if current is None:
        current = Jurisdiction(brand=brand, country=row.country, region=row.region)
    else:
        before = {"status": current.status, "effective_from": current.effective_from.isoformat(),
                  "effective_to": current.effective_to.isoformat() if current.effective_to else None}
    for key, value in values.items():
        setattr(current, key, value)
    current.updated_by = by
    current.save()
    audit_record(action="compliance.jurisdiction_set", obj=current, actor=by, brand=brand, before=before, after={
        "country": row.country, "region": row.region, "status": row.status, "effective_from": start.isoformat(),
        "effective_to": row.effective_to.isoformat() if row.effective_to else None, "source": source[:200]})
    emit("compliance.jurisdiction_changed", brand=brand, actor=by, data={
        "country": row.country, "region": row.region, "status": row.status,
        "previous": before["status"] if before else None, "effective_from": start.isoformat(),
        "effective_to": row.effective_to.isoformat() if row.effective_to else None, "by": user_ref(by)})
    return current, True


def _enforce_after_commit(brand: Brand) -> None:
    task_send_on_commit("compliance.tasks.jurisdictions_enforce", brand.pk)


def _require(by: Any) -> None:
    if by is not None and not user_can(by, MANAGE_PERMISSION):
        raise NotAllowed()


@transaction.atomic
def jurisdiction_set(*, brand: Brand, country: str, status: str, by: Any, region: str = "",
                     effective_from: dt.date | None = None, effective_to: dt.date | None = None,
                     note: str = "", source: str = "") -> Jurisdiction:
    """Set the status of a country (or a region of it, ISO 3166-2) for `brand`, in effect from
    `effective_from` (today; unchanged when the status is) until `effective_to` (None: until changed).
    ValidationFailed names each bad field; NotAllowed without compliance.change_jurisdiction. Audited,
    event "compliance.jurisdiction_changed"; a sanctioned one restricts its clients after commit."""
    _require(by)
    row = JurisdictionRow(country=country_code(country or ""), region=(region or "").strip().upper(),
                          status=str(status or ""), effective_from=effective_from, effective_to=effective_to,
                          note=(note or "").strip())
    errors = _check(row)
    if errors:
        raise ValidationFailed(fields={k: [v] for k, v in errors.items()})
    jurisdiction, changed = _save(brand=brand, row=row, source=source or gettext("set by hand"), by=by)
    if changed and row.status == JurisdictionStatus.SANCTIONED:
        _enforce_after_commit(brand)
    return jurisdiction


# --- loading a file --------------------------------------------------------------------------------------

def _date(text: str, *, line: int, field: str) -> dt.date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise JurisdictionFileRefused(gettext("Line %(line)d, %(field)s: “%(value)s” is not a date (YYYY-MM-DD).")
                                      % {"line": line, "field": field, "value": text[:40]},
                                      line=line, field=field) from None


def jurisdictions_parse(data: bytes) -> list[JurisdictionRow]:
    """The rows of a jurisdictions CSV file (see the module's docstring); JurisdictionFileRefused names
    the first bad line and field."""
    if len(data) > MAX_FILE_BYTES:
        raise JurisdictionFileRefused(gettext("The file is larger than 1 MB."), field="file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise JurisdictionFileRefused(gettext("The file is not UTF-8 text."), field="file") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in next(reader, [])]
    missing = [name for name in ("country", "status") if name not in header]
    if missing:
        raise JurisdictionFileRefused(gettext("Line 1: the header names no %(fields)s column.")
                                      % {"fields": ", ".join(missing)}, line=1, field=missing[0])
    unknown = [h for h in header if h not in {"country", "region", "status", "effective_from", "effective_to", "note"}]
    if unknown:
        raise JurisdictionFileRefused(gettext("Line 1: unknown column “%(name)s”.") % {"name": unknown[0][:40]},
                                      line=1, field=unknown[0][:40])
    rows: list[JurisdictionRow] = []
    seen: dict[tuple[str, str], int] = {}
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            raise JurisdictionFileRefused(gettext("Line %(line)d has %(got)d fields; the header has %(want)d.")
                                          % {"line": line, "got": len(values), "want": len(header)}, line=line)
        cell = dict(zip(header, values, strict=True))
        raw_country = cell["country"].strip()
        status_word = " ".join(cell["status"].strip().lower().replace("-", " ").split())
        row = JurisdictionRow(
            country=country_code(raw_country) if raw_country else "", region=cell.get("region", "").strip().upper(),
            status=STATUS_WORDS.get(status_word, STATUS_WORDS.get(status_word.replace(" ", "_"), status_word)),
            effective_from=_date(cell.get("effective_from", ""), line=line, field="effective_from"),
            effective_to=_date(cell.get("effective_to", ""), line=line, field="effective_to"),
            note=cell.get("note", "").strip())
        problems = _check(row)
        if problems:
            field, message = next(iter(problems.items()))
            shown = {"country": raw_country, "status": cell["status"].strip()}.get(field, "")
            raise JurisdictionFileRefused(
                gettext("Line %(line)d, %(field)s%(value)s: %(message)s")
                % {"line": line, "field": field, "value": f" “{shown[:40]}”" if shown else "", "message": message},
                line=line, field=field)
        key = (row.country, row.region)
        if key in seen:
            raise JurisdictionFileRefused(gettext("Line %(line)d, country: %(place)s is listed again (first on line "
                                                  "%(first)d).") % {"line": line, "place": "-".join(filter(None, key)),
                                                                    "first": seen[key]}, line=line, field="country")
        seen[key] = line
        rows.append(row)
        if len(rows) > MAX_ROWS:
            raise JurisdictionFileRefused(gettext("The file has more than %(max)d rows.") % {"max": MAX_ROWS},
                                          line=line)
    if not rows:
        raise JurisdictionFileRefused(gettext("The file lists no jurisdiction."), field="file")
    return rows


@dataclass(frozen=True)
class LoadReport:
    created: int
    changed: int
    unchanged: int

    def __str__(self) -> str:
        return gettext("%(created)d added, %(changed)d changed, %(unchanged)d unchanged") % {
            "created": self.created, "changed": self.changed, "unchanged": self.unchanged}


@transaction.atomic
def jurisdictions_load(*, brand: Brand, data: bytes, name: str, by: Any) -> LoadReport:
    """Load a jurisdictions CSV file into `brand`'s list: each row sets its place's status (rows the
    file does not name stay as they are). The whole file is checked before anything is written; a
    bad one raises JurisdictionFileRefused naming line and field, and nothing is written. Audited
    once for the file and per change; a sanctioned one restricts its clients after commit."""
    _require(by)
    rows = jurisdictions_parse(data)
    source = (name or "upload")[:200]
    existing = {(j.country, j.region) for j in Jurisdiction.objects.filter(brand=brand)}
    created = changed = 0
    sanctioned = False
    for row in rows:
        _jurisdiction, did = _save(brand=brand, row=row, source=source, by=by)
        if did:
            if (row.country, row.region) in existing:
                changed += 1
            else:
                created += 1
            sanctioned = sanctioned or row.status == JurisdictionStatus.SANCTIONED
    report = LoadReport(created=created, changed=changed, unchanged=len(rows) - created - changed)
    audit_record(action="compliance.jurisdictions_loaded", object_type="crm.brand", object_id=str(brand.code),
                 actor=by, brand=brand, after={"file": source, "rows": len(rows), "created": created,
                                               "changed": changed})
    if sanctioned:
        _enforce_after_commit(brand)
    return report


# --- restricting the clients of a sanctioned jurisdiction ------------------------------------------------

def _reason(jurisdiction: Jurisdiction) -> str:
    return gettext("Country of residence %(country)s is a sanctioned jurisdiction (since %(date)s).") % {
        "country": jurisdiction.country, "date": jurisdiction.effective_from.isoformat()}


def _needs_restriction(client_ids: list[int], jurisdiction: Jurisdiction) -> list[int]:
    """Of `client_ids`, those still to restrict: without every jurisdiction kind open, and not let go
    by an officer since the jurisdiction last changed."""
    open_kinds = Restriction.objects.filter(client_id__in=client_ids, lifted_at__isnull=True,
                                            kind__in=JURISDICTION_KINDS)
    have: dict[int, set[str]] = {}
    for client_id, kind in open_kinds.values_list("client_id", "kind"):
        have.setdefault(client_id, set()).add(kind)
    released = set(Restriction.objects.filter(
        client_id__in=client_ids, source=RestrictionSource.JURISDICTION, lifted_by__isnull=False,
        lifted_at__gte=jurisdiction.updated_at).values_list("client_id", flat=True))
    return [cid for cid in client_ids if cid not in released and not set(JURISDICTION_KINDS) <= have.get(cid, set())]


def _restrict(client: Client, jurisdiction: Jurisdiction) -> bool:
    before = {r.pk for r in Restriction.objects.filter(client=client, lifted_at__isnull=True)}
    rows = impose_restriction(client=client, kinds=list(JURISDICTION_KINDS), reason=_reason(jurisdiction), by=None,
                              source=RestrictionSource.JURISDICTION)
    return any(r.pk not in before for r in rows)


def _notify_officers(brand_id: int, jurisdiction: Jurisdiction, clients: list[Client], *, at_login: bool) -> int:
    """Tell the brand's officers (who may impose restrictions) which clients were restricted."""
    from crm.services import notify_users

    if not clients:
        return 0
    officers = staff_of_brand(brand_id, permission=IMPOSE_PERMISSION)
    shown = clients[:NOTIFY_LIST_LIMIT]
    lines = [f"{c.full_name or c.email or c.code} ({c.code})" for c in shown]
    if len(clients) > len(shown):
        lines.append(gettext("… and %(count)d more") % {"count": len(clients) - len(shown)})
    title = (gettext_noop("Restricted at sign-in: a client of sanctioned %(country)s") if at_login else
             gettext_noop("%(count)d clients of sanctioned %(country)s restricted"))
    brand = Brand.objects.get(pk=brand_id)
    url = reverse("compliance_jurisdiction_clients", args=[brand.code, jurisdiction.country])
    return notify_users(officers, kind="compliance.jurisdiction_restricted", title=title,
                        params={"count": len(clients), "country": jurisdiction.country},
                        body="\n".join(lines), url=url)


def jurisdictions_enforce(*, brand_id: int | None = None, day: dt.date | None = None) -> dict[str, int]:
    """Restrict the clients of every sanctioned jurisdiction in effect (of one brand, or all), each
    client in its own transaction, and send the brand's officers the list of those restricted now.
    Idempotent: a second run restricts nobody new. Returns counts."""
    day = day or _today()
    rows = Jurisdiction.objects.filter(status=JurisdictionStatus.SANCTIONED, region="", effective_from__lte=day)
    rows = rows.filter(Q(effective_to__isnull=True) | Q(effective_to__gt=day))
    if brand_id is not None:
        rows = rows.filter(brand_id=brand_id)
    counts = {"jurisdictions": 0, "restricted": 0, "notified": 0}
    for jurisdiction in rows.order_by("brand_id", "country"):
        counts["jurisdictions"] += 1
        ids = list(Client.objects.filter(brand_id=jurisdiction.brand_id, country=jurisdiction.country)
                   .order_by("pk").values_list("pk", flat=True))
        restricted: list[Client] = []
        for client_id in _needs_restriction(ids, jurisdiction):
            with transaction.atomic():
                client = Client.objects.select_related("brand").get(pk=client_id)
                if _restrict(client, jurisdiction):
                    restricted.append(client)
        counts["restricted"] += len(restricted)
        counts["notified"] += _notify_officers(jurisdiction.brand_id, jurisdiction, restricted, at_login=False)
    return counts


def client_login_check(*, client: Client) -> str | None:
    """At a trader's-room sign-in: restrict the client now if their country became a sanctioned
    jurisdiction (the officers are told), then the neutral refusal if they may not sign in, else None.
    Runs in the caller's transaction."""
    jurisdiction = jurisdiction_in_effect(brand=client.brand_id, country=client.country)
    if jurisdiction is not None and jurisdiction.status == JurisdictionStatus.SANCTIONED \
            and _needs_restriction([client.pk], jurisdiction) and _restrict(client, jurisdiction):
        _notify_officers(client.brand_id, jurisdiction, [client], at_login=True)
    return login_refusal(client=client)


def clients_restricted_by(*, brand: Brand, country: str) -> list[Restriction]:
    """The open restrictions a jurisdiction put on clients of `country` (one per client: the first)."""
    rows = (Restriction.objects.filter(client__brand=brand, client__country=country, lifted_at__isnull=True,
                                       source=RestrictionSource.JURISDICTION)
            .select_related("client").order_by("client_id", "imposed_at"))
    out: dict[int, Restriction] = {}
    for row in rows:
        out.setdefault(row.client_id, row)
    return list(out.values())
