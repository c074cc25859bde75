"""What the trading-abuse and partner-abuse detectors (monitoring.traders, monitoring.partners) share:
the finding they return, the SQL of the positions and of the links between clients, and raising the
findings as alerts on agent monitoring's machinery (monitoring.services.raise_alert).

Every detector is one SQL statement over the other apps' published views (crm_public_clients,
crm_public_origins, kyc_public_addresses, wallet_public_client_movements,
wallet_public_payout_destinations, trading_public_deals, trading_public_accounts, ib_public_partners,
ib_public_attributions): set-based over all clients or partners of a brand, never one client at a
time. Python only words the rows it returns.

Links between clients (what multi-accounting, hedging and self-dealing read). A pair of clients of
one brand is linked when the weights of what they share sum to at least LINK_THRESHOLD:

* one payout instrument (a card token, an account number): 3;
* the same browser on the same IP, where at most MAX_COMBO_CLIENTS clients did so: 3;
* an IP address at most MAX_IP_CLIENTS clients used: 1 (a busier IP is an office, a café, a mobile
  carrier's NAT: it links nobody on its own);
* a browser (user agent) at most MAX_DEVICE_CLIENTS clients used: 1 (a common browser build links
  nobody);
* an address of residence: 1.

So a family at one address on its home network (address and IP: 2) is not linked, nor is a café's
crowd; the same browser on the same network, or one card, is.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from plumbing.sqlfiles import sql_text

LOOKBACK_DAYS = 90  # sign-ins read for links
MAX_IP_CLIENTS = 5
MAX_DEVICE_CLIENTS = 5
MAX_COMBO_CLIENTS = 8
LINK_THRESHOLD = 3
WEIGHTS = {"instrument": 3, "ip+device": 3, "ip": 1, "device": 1, "address": 1}

VIA_WORDS = {"instrument": "one payout instrument", "ip+device": "the same browser on the same IP",
             "ip": "an IP address", "device": "a browser", "address": "an address of residence",
             "own": "its own client record", "email": "its contact email address"}


@dataclass(frozen=True)
class Finding:
    """One detector's finding about one client or partner on `day`: a score (the detector's own scale,
    higher is stronger), the reasons in words with their numbers, and evidence as (label, url)."""

    brand_id: int
    subject_kind: str  # "client" or "partner"
    subject_id: int
    detector: str
    day: dt.date
    score: float
    reasons: list[str]
    evidence: list[tuple[str, str]] = field(default_factory=list)


def window(day: dt.date, days: int) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) in UTC: the `days` days ending with `day` (inclusive)."""
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    return end - dt.timedelta(days=days), end


JSON_COLUMNS = frozenset({"vias", "spots"})


def fetch(sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows as dicts; the JSON columns (Django's connection hands jsonb over as text) decoded."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [c.name for c in cursor.description or ()]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:
        for name in JSON_COLUMNS & row.keys():
            if isinstance(row[name], str):
                row[name] = json.loads(row[name])
    return rows


def link_params(*, since: dt.datetime, until: dt.datetime, brand_id: int | None,
                focus: int | None = None) -> dict[str, Any]:
    """The parameters of sql/abuse/_links.sql; `focus`: only the pairs of that client (a client's page)."""
    return {"since": since, "until": until, "brand": brand_id, "focus": focus, "max_ip": MAX_IP_CLIENTS,
            "max_device": MAX_DEVICE_CLIENTS, "max_combo": MAX_COMBO_CLIENTS, "threshold": LINK_THRESHOLD,
            "w_instrument": WEIGHTS["instrument"], "w_combo": WEIGHTS["ip+device"], "w_ip": WEIGHTS["ip"],
            "w_device": WEIGHTS["device"], "w_address": WEIGHTS["address"]}





def client_pages(ids: set[int]) -> dict[int, tuple[str, str]]:
    """{client id: (label, url of the client's page)} for the evidence."""
    from crm.models import Client

    return {pk: (f"Client {pk}", f"/clients/{code}/")
            for pk, code in Client.objects.filter(pk__in=ids).values_list("pk", "code")}


# Detectors of a standing state (links, rings) find the same thing every day: it is raised again only
# when what it says changed (a new linked client, a busier ring), not once a day while it lasts.
STANDING = frozenset({"multi_accounting", "self_dealing", "client_ring"})


def _said_before(findings: list[Finding]) -> set[tuple[str, int, str]]:
    """(subject kind, subject id, detector) of the standing findings whose subject's latest alert of
    that detector, on an earlier day, said the same (its reasons), in one query."""
    from django.db.models import Q

    from monitoring.models import MonitoringAlert

    standing = [f for f in findings if f.detector in STANDING]
    if not standing:
        return set()
    match = Q()
    for f in standing:
        match |= Q(detector=f.detector, day__lt=f.day, **{f"{f.subject_kind}_id": f.subject_id})
    latest: dict[tuple[str, int, str], list[str]] = {}
    rows = (MonitoringAlert.objects.filter(match).order_by("subject_kind", "client_id", "partner_id", "detector",
                                                            "-day")
            .values_list("subject_kind", "client_id", "partner_id", "detector", "reasons"))
    for kind, client_id, partner_id, detector, reasons in rows:
        latest.setdefault((kind, client_id if kind == "client" else partner_id, detector), reasons)
    return {(f.subject_kind, f.subject_id, f.detector) for f in standing
            if latest.get((f.subject_kind, f.subject_id, f.detector)) == f.reasons}


def findings_raise(findings: list[Finding]) -> int:
    """Each finding raised as an alert (monitoring.services.raise_alert: once per subject, detector and
    day; quiet while an earlier one was decided benign), except a standing one that says what its
    subject's latest alert already said. The number of findings that stand as alerts."""
    from crm.models import Client
    from monitoring.services import raise_alert

    repeated = _said_before(findings)
    clients = {c.pk: c for c in Client.objects.filter(
        pk__in=[f.subject_id for f in findings if f.subject_kind == "client"])}
    raised = 0
    for f in findings:
        if (f.subject_kind, f.subject_id, f.detector) in repeated:
            continue
        alert = raise_alert(brand=f.brand_id, subject_kind=f.subject_kind, detector=f.detector, day=f.day,
                            score=round(f.score, 3), reasons=f.reasons,
                            evidence=[{"label": label, "url": url} for label, url in f.evidence],
                            client=clients.get(f.subject_id) if f.subject_kind == "client" else None,
                            partner_id=f.subject_id if f.subject_kind == "partner" else None)
        raised += alert is not None
    return raised


def client_links(*, client_id: int, brand_id: int, day: dt.date | None = None) -> list[dict[str, Any]]:
    """The clients linked to `client_id` (weights at least LINK_THRESHOLD), strongest first:
    [{"other", "weight", "vias": [{"via", "value", "crowd"}]}]. One query; for a client's page."""
    since, until = window(day or dt.datetime.now(dt.UTC).date(), 1)
    return fetch(sql_text("monitoring", "abuse/client_links"),
                 link_params(since=since, until=until, brand_id=brand_id, focus=client_id))


def clients_links_among(*, client_ids: list[int], brand_id: int, day: dt.date | None = None) -> list[dict[str, Any]]:
    """The links between the clients `client_ids` (a partner's clients): [{"a", "b", "weight", "vias"}]."""
    since, until = window(day or dt.datetime.now(dt.UTC).date(), 1)
    return fetch(sql_text("monitoring", "abuse/links_among"),
                 link_params(since=since, until=until, brand_id=brand_id) | {"ids": client_ids})
