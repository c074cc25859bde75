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
    VIA_WORDS,
    Finding,
    client_pages,
    fetch,
    link_params,
    window,
)
from plumbing.sqlfiles import sql_text

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



def detect_self_dealing(*, day: dt.date, brand_id: int | None = None) -> list[Finding]:
    since, until = window(day, SELF_DAYS)
    rows = fetch(sql_text("monitoring", "abuse/self_dealing"), link_params(since=since, until=until, brand_id=brand_id))
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



def detect_client_rings(*, day: dt.date, brand_id: int | None = None) -> list[Finding]:
    since, until = window(day, RING_DAYS)
    rows = fetch(sql_text("monitoring", "abuse/client_ring"), {"since": since, "until": until, "brand": brand_id, "min_clients": RING_MIN_CLIENTS,
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



def detect_commission_farming(*, day: dt.date, brand_id: int | None = None) -> list[Finding]:
    since, until = window(day, FARM_DAYS)
    rows = fetch(sql_text("monitoring", "abuse/commission_farming"), {"since": since, "until": until, "brand": brand_id, "open_seconds": FARM_OPEN_SECONDS,
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



def detect_volume_spikes(*, day: dt.date, brand_id: int | None = None) -> list[Finding]:
    since, until = window(day, SPIKE_BASELINE_DAYS + 1)
    rows = fetch(sql_text("monitoring", "abuse/referral_spike"), {"since": since, "until": until, "brand": brand_id, "day": day,
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
