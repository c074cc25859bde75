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
    """The LINKS_CTE's parameters; `focus`: only the pairs of that client (a client's page)."""
    return {"since": since, "until": until, "brand": brand_id, "focus": focus, "max_ip": MAX_IP_CLIENTS,
            "max_device": MAX_DEVICE_CLIENTS, "max_combo": MAX_COMBO_CLIENTS, "threshold": LINK_THRESHOLD,
            "w_instrument": WEIGHTS["instrument"], "w_combo": WEIGHTS["ip+device"], "w_ip": WEIGHTS["ip"],
            "w_device": WEIGHTS["device"], "w_address": WEIGHTS["address"]}


# The CTEs `origins` (distinct client, ip, browser), `shared` (one row per pair and what they share,
# client a < b, both of one brand) and `links` (pairs whose weights reach the threshold). Parameters:
# link_params().
LINKS_CTE = """
clients AS (
    SELECT id, brand_id FROM crm_public_clients
    WHERE (%(brand)s::bigint IS NULL OR brand_id = %(brand)s::bigint) AND NOT ('merged' = ANY(tags))
),
origins AS (
    SELECT DISTINCT o.client_id, c.brand_id, o.ip, nullif(o.user_agent, '') AS ua
    FROM crm_public_origins o JOIN clients c ON c.id = o.client_id
    WHERE o.at >= %(since)s - interval '90 days' AND o.at < %(until)s
),
ip_pop AS (SELECT ip, count(DISTINCT client_id) AS n FROM origins GROUP BY ip),
ua_pop AS (SELECT ua, count(DISTINCT client_id) AS n FROM origins WHERE ua IS NOT NULL GROUP BY ua),
combo_pop AS (SELECT ip, ua, count(DISTINCT client_id) AS n FROM origins WHERE ua IS NOT NULL GROUP BY ip, ua),
shared AS (
    SELECT DISTINCT a.client_id AS a, b.client_id AS b, 'ip' AS via, a.ip AS value, p.n AS crowd
    FROM origins a JOIN origins b ON b.ip = a.ip AND b.brand_id = a.brand_id AND a.client_id < b.client_id
    JOIN ip_pop p ON p.ip = a.ip WHERE p.n <= %(max_ip)s
      AND (%(focus)s::bigint IS NULL OR %(focus)s::bigint IN (a.client_id, b.client_id))
    UNION
    SELECT DISTINCT a.client_id, b.client_id, 'device', a.ua, p.n
    FROM origins a JOIN origins b ON b.ua = a.ua AND b.brand_id = a.brand_id AND a.client_id < b.client_id
    JOIN ua_pop p ON p.ua = a.ua WHERE p.n <= %(max_device)s
      AND (%(focus)s::bigint IS NULL OR %(focus)s::bigint IN (a.client_id, b.client_id))
    UNION
    SELECT DISTINCT a.client_id, b.client_id, 'ip+device', a.ip, p.n
    FROM origins a JOIN origins b ON b.ip = a.ip AND b.ua = a.ua AND b.brand_id = a.brand_id
         AND a.client_id < b.client_id
    JOIN combo_pop p ON p.ip = a.ip AND p.ua = a.ua WHERE p.n <= %(max_combo)s
      AND (%(focus)s::bigint IS NULL OR %(focus)s::bigint IN (a.client_id, b.client_id))
    UNION
    SELECT DISTINCT a.client_id, b.client_id, 'instrument', a.destination_masked, 0
    FROM wallet_public_payout_destinations a
    JOIN wallet_public_payout_destinations b ON b.destination_key = a.destination_key AND a.client_id < b.client_id
    JOIN clients ca ON ca.id = a.client_id JOIN clients cb ON cb.id = b.client_id AND cb.brand_id = ca.brand_id
    WHERE (%(focus)s::bigint IS NULL OR %(focus)s::bigint IN (a.client_id, b.client_id))
    UNION
    SELECT DISTINCT a.client_id, b.client_id, 'address', a.postcode || ', ' || a.country, 0
    FROM kyc_public_addresses a
    JOIN kyc_public_addresses b ON b.line_key = a.line_key AND b.postcode_key = a.postcode_key
         AND b.country = a.country AND a.client_id < b.client_id
    JOIN clients ca ON ca.id = a.client_id JOIN clients cb ON cb.id = b.client_id AND cb.brand_id = ca.brand_id
    WHERE (%(focus)s::bigint IS NULL OR %(focus)s::bigint IN (a.client_id, b.client_id))
),
shared_best AS (
    SELECT DISTINCT ON (a, b, via) a, b, via, value, crowd FROM shared ORDER BY a, b, via, value
),
links AS (
    SELECT s.a, s.b, c.brand_id,
           sum(CASE s.via WHEN 'instrument' THEN %(w_instrument)s WHEN 'ip+device' THEN %(w_combo)s
                          WHEN 'ip' THEN %(w_ip)s WHEN 'device' THEN %(w_device)s ELSE %(w_address)s END) AS weight,
           jsonb_agg(jsonb_build_object('via', s.via, 'value', s.value, 'crowd', s.crowd) ORDER BY s.via) AS vias
    FROM shared_best s JOIN clients c ON c.id = s.a
    GROUP BY s.a, s.b, c.brand_id
    HAVING sum(CASE s.via WHEN 'instrument' THEN %(w_instrument)s WHEN 'ip+device' THEN %(w_combo)s
                          WHEN 'ip' THEN %(w_ip)s WHEN 'device' THEN %(w_device)s ELSE %(w_address)s END)
           >= %(threshold)s
)
"""

# The CTE `positions`: one row per position of a live account opened in [since, until): its client,
# symbol, side, lots, opening and closing times (closed NULL while open), profit (of its closing
# deals) and the account's currency.
POSITIONS_CTE = """
positions AS (
    SELECT acc.client_id, d.account_id, d.position_id, d.symbol, acc.currency,
           min(d.time) FILTER (WHERE d.entry = 'in') AS opened,
           max(d.time) FILTER (WHERE d.entry IN ('out', 'out_by')) AS closed,
           (array_agg(d.side ORDER BY d.time) FILTER (WHERE d.entry = 'in'))[1] AS side,
           sum(d.volume) FILTER (WHERE d.entry = 'in') AS volume,
           coalesce(sum(d.profit) FILTER (WHERE d.entry <> 'in'), 0) AS profit
    FROM trading_public_deals d
    JOIN trading_public_accounts acc ON acc.id = d.account_id AND NOT acc.is_demo
    JOIN trading_public_servers srv ON srv.id = d.server_id
    WHERE d.kind = 'trade' AND d.deleted_at IS NULL AND d.position_id <> 0
      AND d.time >= %(since)s AND d.time < %(until)s + interval '1 day'
      AND (%(brand)s::bigint IS NULL OR srv.brand_id = %(brand)s::bigint)
    GROUP BY acc.client_id, d.account_id, d.position_id, d.symbol, acc.currency
    HAVING min(d.time) FILTER (WHERE d.entry = 'in') >= %(since)s
       AND min(d.time) FILTER (WHERE d.entry = 'in') < %(until)s
)
"""


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
    return fetch(f"WITH {LINKS_CTE} "  # noqa: S608 - constant SQL
                 "SELECT CASE WHEN a = %(focus)s THEN b ELSE a END AS other, weight, vias FROM links "
                 "WHERE %(focus)s IN (a, b) ORDER BY weight DESC, 1",
                 link_params(since=since, until=until, brand_id=brand_id, focus=client_id))


def clients_links_among(*, client_ids: list[int], brand_id: int, day: dt.date | None = None) -> list[dict[str, Any]]:
    """The links between the clients `client_ids` (a partner's clients): [{"a", "b", "weight", "vias"}]."""
    since, until = window(day or dt.datetime.now(dt.UTC).date(), 1)
    return fetch(f"WITH {LINKS_CTE} "  # noqa: S608 - constant SQL
                 "SELECT a, b, weight, vias FROM links WHERE a = ANY(%(ids)s) AND b = ANY(%(ids)s) "
                 "ORDER BY weight DESC, a, b",
                 link_params(since=since, until=until, brand_id=brand_id) | {"ids": client_ids})
