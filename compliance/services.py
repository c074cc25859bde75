"""Compliance writes: loading a watchlist version; screening clients and deciding the hits."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from django.db import transaction

from compliance.aml import (  # AML monitoring's writes are compliance's too
    aml_alert_dismiss,
    aml_alert_mark_in_case,
    aml_client_enqueue,
    aml_evaluate,
    aml_evaluate_client,
    aml_periodic_pass,
    aml_rule_active_set,
    aml_rule_create,
    aml_rule_version_add,
)
from compliance.cases import (  # the case services
    case_approve,
    case_assign,
    case_attachment_add,
    case_decide,
    case_item_attach,
    case_narrative_set,
    case_note_add,
    case_reopen,
    case_review_start,
    case_sar_filing_record,
    case_sar_pdf,
    case_send_back,
)
from compliance.exceptions import WatchlistGlobal, WatchlistRefused
from compliance.jurisdictions import (
    client_login_check,
    jurisdiction_set,
    jurisdictions_enforce,
    jurisdictions_load,
)
from compliance.models import ListKind, Watchlist, WatchlistEntry, WatchlistVersion
from compliance.offboarding import case_balance_return, offboarding_accounts_close  # offboarding a client
from compliance.restrictions import (
    impose_restriction,
    lift_restriction,
    restriction_trading_sync,
    restrictions_expire,
)
from compliance.screening import (  # the screening services are compliance's writes too
    ScreenReport,
    client_screen,
    client_screen_enqueue,
    clients_rescreen_all,
    clients_rescreen_version,
    rescreen_after_load,
    screening_hit_approve,
    screening_hit_decide,
    screening_hit_send_back,
)
from compliance.selectors import watchlist_load_allowed
from compliance.watchlists.parsers import FORMATS, ListFormatError, ParsedEntry, SourceFile, parse
from crm.audit import audit_record


def _entry_hash(entry: ParsedEntry) -> str:
    return hashlib.sha256(json.dumps(entry.fingerprint(), sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _dob_dict(dob: Any) -> dict[str, Any]:
    return {"year": dob.year, "month": dob.month, "day": dob.day, "circa": dob.circa, "year_to": dob.year_to}


@transaction.atomic
def watchlist_load(*, name: str, fmt: str, files: list[SourceFile], actor: Any = None,
                   kind: str = "", published_on: dt.date | None = None) -> WatchlistVersion:
    """Load `files` (in layout `fmt`) as the next version of list `name`, created on first load.

    The whole input is parsed before anything is written, and everything is written in one
    transaction: a malformed file raises WatchlistRefused naming the file, line and field, and
    nothing of it is stored. The version keeps its diff against the previous one (entry numbers
    added, removed, and changed in the details screening compares). Lists are global: a staff
    `actor` limited to some brands is refused (WatchlistGlobal, 403); None is the system (the
    `sanctions_load` command)."""
    if actor is not None and not watchlist_load_allowed(actor):
        raise WatchlistGlobal()
    if fmt not in FORMATS:
        raise WatchlistRefused(f"Unknown format {fmt!r}; one of {', '.join(FORMATS)}.", field="format")
    try:
        parsed = parse(fmt, files)
    except ListFormatError as exc:
        raise WatchlistRefused(str(exc), source=exc.source, line=exc.line, field=exc.field_name) from exc
    if not parsed:
        raise WatchlistRefused(f"{files[0].name}: no entries found.", source=files[0].name)
    watchlist, created = Watchlist.objects.select_for_update().get_or_create(
        name=name, defaults={"source_format": fmt, "kind": kind or (ListKind.PEP if fmt == "pep-csv" else ListKind.SANCTIONS)})
    if not created:
        watchlist = Watchlist.objects.select_for_update().get(pk=watchlist.pk)
    previous = watchlist.versions.order_by("-number").first()
    old: dict[str, str] = dict(previous.entries.values_list("ent_num", "fingerprint")) if previous else {}
    hashes = {e.ent_num: _entry_hash(e) for e in parsed}
    added = sorted(set(hashes) - set(old))
    removed = sorted(set(old) - set(hashes))
    changed = sorted(k for k in set(hashes) & set(old) if hashes[k] != old[k])
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.data)
    version = WatchlistVersion.objects.create(
        watchlist=watchlist, number=(previous.number + 1) if previous else 1,
        source=", ".join(f.name for f in files)[:500], published_on=published_on, checksum=digest.hexdigest(),
        entry_count=len(parsed), name_count=sum(len(e.names) for e in parsed),
        added=added, removed=removed, changed=changed, loaded_by=actor if getattr(actor, "pk", None) else None,
    )
    WatchlistEntry.objects.bulk_create([
        WatchlistEntry(
            version=version, ent_num=e.ent_num, entry_type=e.entry_type, primary_name=e.names[0].text[:500],
            names=[{"text": n.text, "kind": n.kind, "weak": n.weak} for n in e.names],
            dobs=[_dob_dict(d) for d in e.dobs], places_of_birth=e.places_of_birth, countries=sorted(e.countries),
            programs=e.programs[:500], remarks=e.remarks, fingerprint=hashes[e.ent_num],
        ) for e in parsed
    ], batch_size=2000)
    audit_record(action="compliance.watchlist_loaded", obj=version, actor=actor if getattr(actor, "pk", None) else None,
                 after={"list": name, "version": version.number, "checksum": version.checksum,
                        "entries": version.entry_count, "added": len(added), "removed": len(removed),
                        "changed": len(changed)})
    rescreen_after_load(version)
    return version


__all__ = [
    "case_approve", "case_assign", "case_attachment_add", "case_decide", "case_item_attach", "case_narrative_set",
    "case_balance_return", "offboarding_accounts_close",
    "case_note_add", "case_reopen", "case_review_start", "case_sar_filing_record", "case_sar_pdf", "case_send_back",
    "aml_alert_dismiss", "aml_alert_mark_in_case", "aml_client_enqueue", "aml_evaluate", "aml_evaluate_client",
    "aml_periodic_pass", "aml_rule_active_set", "aml_rule_create", "aml_rule_version_add",
    "ScreenReport", "SourceFile", "client_login_check", "client_screen", "client_screen_enqueue",
    "clients_rescreen_all", "clients_rescreen_version", "impose_restriction", "jurisdiction_set",
    "jurisdictions_enforce", "jurisdictions_load", "lift_restriction", "rescreen_after_load",
    "restriction_trading_sync", "restrictions_expire", "screening_hit_approve", "screening_hit_decide",
    "screening_hit_send_back", "watchlist_load",
]

# Data-subject requests (issue 64): the client's request, the export, refusal, an erasure's approval, and
# the registry through which apps above compliance add their part of a client's copy of their data.
from compliance.data_requests import (  # noqa: E402
    SubjectDataSection,
    WithheldKind,
    data_request_erasure_approve,
    data_request_export_start,
    data_request_refuse,
    data_request_submit,
    subject_data_section_register,
    subject_data_withheld_register,
)

__all__ += ["SubjectDataSection", "WithheldKind", "data_request_erasure_approve", "data_request_export_start",
            "data_request_refuse", "data_request_submit", "subject_data_section_register",
            "subject_data_withheld_register"]

# Erasure and retention (issue 64): how apps above compliance add their part of an erasure (support's
# tickets) and their kinds to the retention schedule (support's closed tickets).
from compliance.erasure import ERASED_TEXT, ErasureStep, erasure_step_register  # noqa: E402
from compliance.retention import RetentionSource, retention_source_register  # noqa: E402

__all__ += ["ERASED_TEXT", "ErasureStep", "RetentionSource", "erasure_step_register", "retention_source_register"]
