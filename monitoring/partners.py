"""Partner-abuse detectors (issue 36, item 8), each one SQL statement over the published views (see
monitoring.abuse), returning Findings about partners for `day`. A partner's clients are those
attributed to it at some time in the window (ib_public_attributions).

* self_dealing: the partner trading through its own or related accounts: a client of the partner who
  traded in SELF_DAYS and is the partner's own client record, has its contact email, or shares with
  the partner's own client record a link (monitoring.abuse: a payout instrument, the same browser on a
  small network, an IP, a browser or an address; any one counts here, the partner being paid on it), or
  whose sign-ins came from where the partner's own actions did. Both emails are encrypted: they are
  compared as their keyed hashes (of the address lower-cased), in SQL. After a new search key is made
  current, a partner and a client hashed under different keys match again once
  `encryption_rotate_columns` has hashed both anew.
* client_ring: at least RING_MIN_CLIENTS of the partner's clients signed in from one IP or with one
  browser in RING_DAYS, and they are at least RING_MIN_SHARE of everyone who did (a café's or an
  office's crowd, most of them nobody's or another partner's, is not a ring).
* commission_farming: in FARM_DAYS, two of the partner's clients trading against each other (the
  same symbol, opposite sides, opened within FARM_OPEN_SECONDS, lots within FARM_VOLUME_RATIO) at
  least FARM_MIN_PAIRS times; or at least FARM_MIN_TRADES positions of its clients held at most
  FARM_MAX_HOLD_SECONDS, being at least FARM_MIN_SHARE of its clients' positions, closed near
  break-even (median absolute profit per lot at most FARM_MAX_EDGE times the symbol's typical for such
  short trades): volume made for the commission, not for the market.
* volume_spike: lots the partner's clients opened on `day` against its own SPIKE_BASELINE_DAYS days
  before (every day counted, days without trading as 0): at least SPIKE_MIN_LOTS, at least
  SPIKE_TIMES times the mean and more than the mean plus SPIKE_SIGMAS standard deviations. A partner
  whose first client came less than SPIKE_BASELINE_DAYS ago has no baseline and is not judged.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from monitoring.abuse import (
    LINKS_CTE,
    POSITIONS_CTE,
    VIA_WORDS,
    Finding,
    client_pages,
    fetch,
    link_params,
    window,
)

SELF_DAYS = 30
RING_DAYS = 30
RING_MIN_CLIENTS = 4
RING_MIN_SHARE = 0.6
FARM_DAYS = 7
FARM_OPEN_SECONDS = 60
FARM_VOLUME_RATIO = 0.8
FARM_MIN_PAIRS = 5
FARM_MAX_HOLD_SECONDS = 120
FARM_MIN_TRADES = 50
FARM_MIN_SHARE = 0.6
FARM_MAX_EDGE = 0.35
SPIKE_BASELINE_DAYS = 28
SPIKE_MIN_LOTS = 10
SPIKE_TIMES = 3
SPIKE_SIGMAS = 4

# The CTE `referred`: (partner, its brand, client) for clients attributed to the partner at some time in
# [since, until).
REFERRED_CTE = """
referred AS (
    SELECT DISTINCT p.id AS partner_id, p.brand_id, p.code AS partner_code, a.client_id
    FROM ib_public_attributions a JOIN ib_public_partners p ON p.id = a.partner_id
    WHERE a.effective_from < %(until)s AND (a.effective_to IS NULL OR a.effective_to > %(since)s)
      AND (%(brand)s::bigint IS NULL OR p.brand_id = %(brand)s::bigint)
)
"""


def _partner_pages(ids: set[int]) -> dict[int, tuple[str, str]]:
    from ib.selectors import partner_labels

    return {pk: (name, f"/ib/partners/{code}/") for pk, (name, code) in partner_labels(ids).items()}


def _finding(row: dict[str, Any], detector: str, day: dt.date, score: float, reasons: list[str],
             clients: list[int], pages: dict[int, tuple[str, str]], partners: dict[int, tuple[str, str]]) -> Finding:
    evidence = []
    if row["partner_id"] in partners:
        name, url = partners[row["partner_id"]]
        evidence.append((f"Partner {name}", url))
    evidence += [(f"{pages[c][0]}: trading", f"{pages[c][1]}?tab=trading") for c in clients[:10] if c in pages]
    return Finding(brand_id=row["brand_id"], subject_kind="partner", subject_id=row["partner_id"], detector=detector,
                   day=day, score=score, reasons=reasons, evidence=evidence)


def _pages_for(rows: list[dict[str, Any]], key: str) -> tuple[dict[int, Any], dict[int, Any]]:
    clients: set[int] = set()
    for row in rows:
        clients.update(row[key])
    return client_pages(clients), _partner_pages({r["partner_id"] for r in rows})


# --- self-dealing -----------------------------------------------------------------------------------

SELF_SQL = f"""
WITH {LINKS_CTE}, {REFERRED_CTE},
traders AS (
    SELECT DISTINCT acc.client_id FROM trading_public_deals d
    JOIN trading_public_accounts acc ON acc.id = d.account_id AND NOT acc.is_demo
    WHERE d.kind = 'trade' AND d.deleted_at IS NULL AND d.time >= %(since)s AND d.time < %(until)s
),
own AS (
    SELECT p.id AS partner_id, p.client_id, p.contact_email_hash AS email_hash, p.code::text AS code
    FROM ib_public_partners p WHERE %(brand)s::bigint IS NULL OR p.brand_id = %(brand)s::bigint
),
partner_origins AS (
    SELECT DISTINCT own.partner_id, o.ip, nullif(o.user_agent, '') AS ua
    FROM own JOIN crm_public_origins o ON o.object_type = 'ib.partner' AND o.object_id = own.code
    WHERE o.at >= %(since)s - interval '90 days' AND o.at < %(until)s
),
matches AS (
    SELECT r.partner_id, r.client_id, 'own' AS via, '' AS value FROM referred r JOIN own ON own.partner_id = r.partner_id
    WHERE own.client_id = r.client_id
    UNION
    SELECT r.partner_id, r.client_id, 'email', '' FROM referred r JOIN own ON own.partner_id = r.partner_id
    JOIN crm_public_clients c ON c.id = r.client_id
    WHERE own.email_hash <> '' AND c.email_hash = own.email_hash
    UNION
    SELECT r.partner_id, r.client_id, s.via, s.value FROM referred r JOIN own ON own.partner_id = r.partner_id
    JOIN shared_best s ON (s.a = own.client_id AND s.b = r.client_id) OR (s.b = own.client_id AND s.a = r.client_id)
    UNION
    SELECT r.partner_id, r.client_id, CASE WHEN po.ua = co.ua THEN 'ip+device' ELSE 'ip' END, po.ip
    FROM referred r JOIN partner_origins po ON po.partner_id = r.partner_id
    JOIN origins co ON co.client_id = r.client_id AND co.ip = po.ip
    JOIN ip_pop ON ip_pop.ip = po.ip
    WHERE ip_pop.n <= %(max_ip)s OR po.ua = co.ua
)
SELECT m.partner_id, r.brand_id, array_agg(DISTINCT m.client_id) AS clients,
       jsonb_agg(DISTINCT jsonb_build_object('client', m.client_id, 'via', m.via, 'value', m.value)) AS vias
FROM matches m JOIN (SELECT DISTINCT partner_id, brand_id FROM referred) r ON r.partner_id = m.partner_id
WHERE m.client_id IN (SELECT client_id FROM traders)
GROUP BY m.partner_id, r.brand_id
"""  # noqa: S608 - constant SQL


def detect_self_dealing(*, day: dt.date, brand_id: int | None = None) -> list[Finding]:
    since, until = window(day, SELF_DAYS)
    rows = fetch(SELF_SQL, link_params(since=since, until=until, brand_id=brand_id))
    pages, partners = _pages_for(rows, "clients")
    findings = []
    for row in rows:
        by_client: dict[int, list[str]] = {}
        for v in row["vias"]:
            words = VIA_WORDS.get(v["via"], v["via"]) + (f" ({v['value']})" if v["value"] else "")
            by_client.setdefault(v["client"], []).append(words)
        clients = sorted(by_client)
        reasons = [f"{len(clients)} of the partner's clients who traded in the last {SELF_DAYS} days are the "
                   f"partner's own or related accounts"]
        reasons += [f"client {c} shares with the partner: {', '.join(sorted(by_client[c]))}" for c in clients[:10]]
        findings.append(_finding(row, "self_dealing", day, 3.0 + len(clients), reasons, clients, pages, partners))
    return findings


# --- client rings -----------------------------------------------------------------------------------

RING_SQL = f"""
WITH {REFERRED_CTE},
origins AS (
    SELECT DISTINCT o.client_id, o.ip, nullif(o.user_agent, '') AS ua
    FROM crm_public_origins o
    WHERE o.client_id IS NOT NULL AND o.at >= %(since)s AND o.at < %(until)s
),
spots AS (
    SELECT 'ip' AS via, ip AS value, client_id FROM origins
    UNION SELECT 'device', ua, client_id FROM origins WHERE ua IS NOT NULL
),
crowd AS (SELECT via, value, count(DISTINCT client_id) AS everyone FROM spots GROUP BY via, value),
rings AS (
    SELECT r.partner_id, r.brand_id, s.via, s.value, count(DISTINCT s.client_id) AS theirs, c.everyone,
           array_agg(DISTINCT s.client_id) AS clients
    FROM referred r JOIN spots s ON s.client_id = r.client_id
    JOIN crowd c ON c.via = s.via AND c.value = s.value
    GROUP BY r.partner_id, r.brand_id, s.via, s.value, c.everyone
    HAVING count(DISTINCT s.client_id) >= %(min_clients)s AND count(DISTINCT s.client_id) >= %(share)s * c.everyone
)
SELECT partner_id, brand_id, max(theirs) AS biggest,
       jsonb_agg(jsonb_build_object('via', via, 'value', value, 'theirs', theirs, 'everyone', everyone)
                 ORDER BY theirs DESC) AS spots,
       (SELECT array_agg(DISTINCT x) FROM rings r2, unnest(r2.clients) x WHERE r2.partner_id = rings.partner_id)
           AS clients
FROM rings GROUP BY partner_id, brand_id
"""  # noqa: S608 - constant SQL


def detect_client_rings(*, day: dt.date, brand_id: int | None = None) -> list[Finding]:
    since, until = window(day, RING_DAYS)
    rows = fetch(RING_SQL, {"since": since, "until": until, "brand": brand_id, "min_clients": RING_MIN_CLIENTS,
                            "share": RING_MIN_SHARE})
    pages, partners = _pages_for(rows, "clients")
    findings = []
    for row in rows:
        reasons = [f"{s['theirs']} of the partner's clients signed in from one "
                   f"{'IP address (' + s['value'] + ')' if s['via'] == 'ip' else 'browser'} in {RING_DAYS} days, "
                   f"{s['theirs']} of the {s['everyone']} clients who did" for s in row["spots"][:5]]
        findings.append(_finding(row, "client_ring", day, float(row["biggest"]), reasons, sorted(row["clients"]),
                                 pages, partners))
    return findings


# --- commission farming -----------------------------------------------------------------------------

FARM_SQL = f"""
WITH {REFERRED_CTE}, {POSITIONS_CTE},
mine AS (
    SELECT r.partner_id, r.brand_id, p.* FROM positions p JOIN referred r ON r.client_id = p.client_id
),
mirrors AS (
    SELECT x.partner_id, x.brand_id, count(*) AS pairs, array_agg(DISTINCT x.client_id) || array_agg(DISTINCT y.client_id)
           AS clients
    FROM mine x JOIN mine y ON y.partner_id = x.partner_id AND y.client_id > x.client_id AND y.symbol = x.symbol
         AND y.side <> x.side AND abs(extract(epoch FROM y.opened - x.opened)) <= %(open_seconds)s
         AND least(x.volume, y.volume) >= %(ratio)s * greatest(x.volume, y.volume)
    GROUP BY x.partner_id, x.brand_id
),
short AS (
    SELECT m.*, m.profit / nullif(m.volume, 0) AS per_lot FROM mine m
    WHERE m.closed IS NOT NULL AND m.closed - m.opened <= make_interval(secs => %(max_hold)s)
),
typical AS (
    SELECT p.symbol, p.currency, percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(p.profit / nullif(p.volume, 0)))
           AS typical
    FROM positions p WHERE p.closed IS NOT NULL AND p.closed - p.opened <= make_interval(secs => %(max_hold)s)
    GROUP BY p.symbol, p.currency
),
churn AS (
    SELECT s.partner_id, s.brand_id, count(*) AS short_trades,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(s.per_lot) / nullif(t.typical, 0)) AS edge,
           array_agg(DISTINCT s.client_id) AS clients
    FROM short s JOIN typical t ON t.symbol = s.symbol AND t.currency = s.currency
    GROUP BY s.partner_id, s.brand_id
),
totals AS (SELECT partner_id, count(*) AS trades FROM mine GROUP BY partner_id)
SELECT coalesce(m.partner_id, c.partner_id) AS partner_id, coalesce(m.brand_id, c.brand_id) AS brand_id,
       coalesce(m.pairs, 0) AS pairs, coalesce(c.short_trades, 0) AS short_trades, t.trades, c.edge,
       coalesce(m.clients, '{{}}') || coalesce(c.clients, '{{}}') AS clients
FROM mirrors m FULL JOIN churn c ON c.partner_id = m.partner_id
JOIN totals t ON t.partner_id = coalesce(m.partner_id, c.partner_id)
WHERE coalesce(m.pairs, 0) >= %(min_pairs)s
   OR (c.short_trades >= %(min_trades)s AND c.short_trades >= %(share)s * t.trades AND c.edge <= %(max_edge)s)
"""  # noqa: S608 - constant SQL


def detect_commission_farming(*, day: dt.date, brand_id: int | None = None) -> list[Finding]:
    since, until = window(day, FARM_DAYS)
    rows = fetch(FARM_SQL, {"since": since, "until": until, "brand": brand_id, "open_seconds": FARM_OPEN_SECONDS,
                            "ratio": FARM_VOLUME_RATIO, "max_hold": FARM_MAX_HOLD_SECONDS, "min_pairs": FARM_MIN_PAIRS,
                            "min_trades": FARM_MIN_TRADES, "share": FARM_MIN_SHARE, "max_edge": FARM_MAX_EDGE})
    pages, partners = _pages_for(rows, "clients")
    findings = []
    for row in rows:
        reasons = []
        if row["pairs"] >= FARM_MIN_PAIRS:
            reasons.append(f"{row['pairs']} times in {FARM_DAYS} days two of the partner's clients opened opposite "
                           f"positions of matching size on one symbol within {FARM_OPEN_SECONDS} s of each other")
        if row["short_trades"] >= FARM_MIN_TRADES and row["edge"] is not None and row["edge"] <= FARM_MAX_EDGE \
                and row["short_trades"] >= FARM_MIN_SHARE * row["trades"]:
            reasons.append(f"{row['short_trades']} of its clients' {row['trades']} positions in {FARM_DAYS} days were "
                           f"held at most {FARM_MAX_HOLD_SECONDS} s and closed near break-even (median profit per lot "
                           f"{row['edge']:.2f} of the symbol's typical)")
        score = row["pairs"] / FARM_MIN_PAIRS + row["short_trades"] / FARM_MIN_TRADES
        findings.append(_finding(row, "commission_farming", day, round(score, 3), reasons,
                                 sorted(set(row["clients"])), pages, partners))
    return findings


# --- volume spikes ----------------------------------------------------------------------------------

SPIKE_SQL = f"""
WITH {REFERRED_CTE},
first_client AS (
    SELECT a.partner_id, min(a.effective_from) AS first_at FROM ib_public_attributions a GROUP BY a.partner_id
),
daily AS (
    SELECT r.partner_id, r.brand_id, (d.time AT TIME ZONE 'UTC')::date AS day, sum(d.volume) AS lots,
           count(DISTINCT acc.client_id) AS clients
    FROM referred r
    JOIN trading_public_accounts acc ON acc.client_id = r.client_id AND NOT acc.is_demo
    JOIN trading_public_deals d ON d.account_id = acc.id
    WHERE d.kind = 'trade' AND d.entry = 'in' AND d.deleted_at IS NULL AND d.time >= %(since)s AND d.time < %(until)s
    GROUP BY r.partner_id, r.brand_id, (d.time AT TIME ZONE 'UTC')::date
),
baseline AS (
    SELECT r.partner_id, avg(coalesce(dl.lots, 0)) AS mean, stddev_pop(coalesce(dl.lots, 0)) AS sd
    FROM (SELECT DISTINCT partner_id FROM referred) r
    CROSS JOIN generate_series(%(day)s::date - %(baseline)s, %(day)s::date - 1, interval '1 day') g(day)
    LEFT JOIN daily dl ON dl.partner_id = r.partner_id AND dl.day = g.day::date
    GROUP BY r.partner_id
)
SELECT t.partner_id, t.brand_id, t.lots, t.clients, b.mean, b.sd
FROM daily t JOIN baseline b ON b.partner_id = t.partner_id
JOIN first_client f ON f.partner_id = t.partner_id
WHERE t.day = %(day)s AND f.first_at <= %(since)s AND t.lots >= %(min_lots)s AND t.lots >= %(times)s * b.mean
  AND t.lots > b.mean + %(sigmas)s * b.sd
"""  # noqa: S608 - constant SQL


def detect_volume_spikes(*, day: dt.date, brand_id: int | None = None) -> list[Finding]:
    since, until = window(day, SPIKE_BASELINE_DAYS + 1)
    rows = fetch(SPIKE_SQL, {"since": since, "until": until, "brand": brand_id, "day": day,
                             "baseline": SPIKE_BASELINE_DAYS, "min_lots": SPIKE_MIN_LOTS, "times": SPIKE_TIMES,
                             "sigmas": SPIKE_SIGMAS})
    partners = _partner_pages({r["partner_id"] for r in rows})
    findings = []
    for row in rows:
        mean = float(row["mean"])
        times = float(row["lots"]) / mean if mean else None
        reasons = [f"the partner's clients opened {row['lots']:.2f} lots on {day.isoformat()} ({row['clients']} "
                   f"clients); own {SPIKE_BASELINE_DAYS}-day mean {mean:.2f} lots a day, standard deviation "
                   f"{float(row['sd']):.2f}" + (f"; {times:.1f} times the mean" if times else "; no volume before")]
        score = min((float(row["lots"]) - mean) / max(float(row["sd"]), 1.0), 50.0)
        findings.append(_finding(row, "volume_spike", day, round(score, 3), reasons, [], {}, partners))
    return findings


PARTNER_DETECTORS = {
    "self_dealing": detect_self_dealing,
    "client_ring": detect_client_rings,
    "commission_farming": detect_commission_farming,
    "volume_spike": detect_volume_spikes,
}
