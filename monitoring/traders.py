"""Trading-abuse detectors over clients (issue 36, item 8), each one SQL statement over the published
views (see monitoring.abuse), returning Findings for `day`:

* multi_accounting: a client linked (monitoring.abuse: a shared payout instrument, the same browser on
  the same small network, or enough weaker shares) to other clients of the brand.
* hedging: linked clients holding opposite positions at once: the same symbol, opposite sides, opened
  within HEDGE_OPEN_SECONDS of each other, lots within HEDGE_VOLUME_RATIO, both open together; at
  least HEDGE_MIN_PAIRS such pairs in HEDGE_DAYS.
* latency_arbitrage, on the deal rows: over ARB_DAYS, the client's positions held at most
  ARB_MAX_HOLD_SECONDS ("short"); at least ARB_MIN_TRADES of them, at least ARB_MIN_WIN_SHARE of them
  won, and the client's median profit per lot on them is at least ARB_EDGE times the symbol's typical
  one (the median absolute profit per lot of every client's short positions on the symbol in the
  account's currency). A profit per lot is the price move the position caught: an arbitrageur's short
  trades catch moves far larger than the market's usual few seconds' move, nearly always in their
  favour; a scalper's win about half the time and catch the usual move.
* bonus_abuse: deposit, bonus, withdrawal cycles: a bonus or credit the platform gave (a bonus or
  credit deal) within BONUS_DEPOSIT_DAYS after a deposit to the wallet, and a withdrawal of at least
  BONUS_WITHDRAWN_SHARE of that deposit within BONUS_WITHDRAW_DAYS after the bonus with fewer than
  BONUS_MAX_LOTS lots opened in between; at least BONUS_MIN_CYCLES cycles in BONUS_LOOKBACK_DAYS. The
  wallet itself keeps no bonuses: they are the platform's bonus and credit deals.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
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

HEDGE_DAYS = 7
HEDGE_OPEN_SECONDS = 120
HEDGE_VOLUME_RATIO = 0.8
HEDGE_MIN_PAIRS = 3

ARB_DAYS = 7
ARB_MAX_HOLD_SECONDS = 120
ARB_MIN_TRADES = 20
ARB_MIN_WIN_SHARE = 0.75
ARB_EDGE = 2.0

BONUS_LOOKBACK_DAYS = 90
BONUS_DEPOSIT_DAYS = 2
BONUS_WITHDRAW_DAYS = 7
BONUS_WITHDRAWN_SHARE = Decimal("0.8")
BONUS_MAX_LOTS = Decimal("1")
BONUS_MIN_CYCLES = 2


def _via_words(vias: list[dict[str, Any]]) -> str:
    parts = []
    for v in vias:
        words = VIA_WORDS.get(v["via"], v["via"])
        if v["via"] in ("ip", "ip+device") and v["value"]:
            words += f" ({v['value']}, used by {v['crowd']} clients)"
        elif v["via"] == "device":
            words += f" (used by {v['crowd']} clients)"
        elif v["value"]:
            words += f" ({v['value']})"
        parts.append(words)
    return ", ".join(parts)


# --- multi-accounting -------------------------------------------------------------------------------

def detect_multi_accounting(*, day: dt.date, brand_id: int | None = None) -> list[Finding]:
    since, until = window(day, 1)
    rows = fetch(sql_text("monitoring", "abuse/multi_accounting"),
                 link_params(since=since, until=until, brand_id=brand_id))
    by_client: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_client.setdefault(row["client_id"], []).append(row)
    pages = client_pages({r["client_id"] for r in rows} | {r["other"] for r in rows})
    findings = []
    for client_id, links in by_client.items():
        weight = sum(link["weight"] for link in links)
        reasons = [f"linked to {len(links)} other client{'s' if len(links) != 1 else ''} of the brand "
                   f"(link weight {weight}; {LINK_WORDS})"]
        reasons += [f"shares with client {link['other']}: {_via_words(link['vias'])}" for link in links[:10]]
        findings.append(Finding(
            brand_id=links[0]["brand_id"], subject_kind="client", subject_id=client_id, detector="multi_accounting",
            day=day, score=min(weight / 10, 1.0) * 10, reasons=reasons,
            evidence=[pages[link["other"]] for link in links[:10] if link["other"] in pages]))
    return findings


LINK_WORDS = "an instrument or the same browser on one small network weighs 3, an IP, a browser or an address 1"


# --- hedging across linked accounts -----------------------------------------------------------------



def detect_hedging(*, day: dt.date, brand_id: int | None = None) -> list[Finding]:
    since, until = window(day, HEDGE_DAYS)
    params = link_params(since=since, until=until, brand_id=brand_id) | {
        "open_seconds": HEDGE_OPEN_SECONDS, "ratio": HEDGE_VOLUME_RATIO, "min_pairs": HEDGE_MIN_PAIRS}
    rows = fetch(sql_text("monitoring", "abuse/hedging"), params)
    pages = client_pages({r["a"] for r in rows} | {r["b"] for r in rows})
    findings = []
    for row in rows:
        for me, other in ((row["a"], row["b"]), (row["b"], row["a"])):
            reasons = [f"{row['pairs']} times in {HEDGE_DAYS} days a position opposite to one of linked client "
                       f"{other} on the same symbol ({', '.join(row['symbols'])}), opened within "
                       f"{HEDGE_OPEN_SECONDS} s of it and held at the same time; {row['lots']:.2f} lots hedged"]
            evidence = [(f"{pages[c][0]}: trading", f"{pages[c][1]}?tab=trading") for c in (me, other) if c in pages]
            findings.append(Finding(brand_id=row["brand_id"], subject_kind="client", subject_id=me,
                                    detector="hedging", day=day, score=min(row["pairs"] / HEDGE_MIN_PAIRS, 5.0) * 2,
                                    reasons=reasons, evidence=evidence))
    return findings


# --- latency arbitrage ------------------------------------------------------------------------------



def detect_latency_arbitrage(*, day: dt.date, brand_id: int | None = None) -> list[Finding]:
    since, until = window(day, ARB_DAYS)
    rows = fetch(sql_text("monitoring", "abuse/latency_arbitrage"), {"since": since, "until": until, "brand": brand_id, "max_hold": ARB_MAX_HOLD_SECONDS,
                                 "min_trades": ARB_MIN_TRADES, "win_share": ARB_MIN_WIN_SHARE, "edge": ARB_EDGE})
    pages = client_pages({r["client_id"] for r in rows})
    findings = []
    for row in rows:
        share = row["wins"] / row["trades"]
        reasons = [f"{row['trades']} positions held at most {ARB_MAX_HOLD_SECONDS} s in {ARB_DAYS} days "
                   f"(median {row['median_hold']:.0f} s), {row['wins']} of them won ({share:.0%})",
                   f"median profit per lot {row['edge']:.1f} times the symbol's typical for such short trades "
                   f"(threshold {ARB_EDGE:.1f}); {row['profit']:.2f} {'/'.join(row['currencies'])} made on them"]
        label, url = pages.get(row["client_id"], ("", ""))
        findings.append(Finding(brand_id=row["brand_id"], subject_kind="client", subject_id=row["client_id"],
                                detector="latency_arbitrage", day=day,
                                score=round(float(row["edge"]) * share * 2, 3), reasons=reasons,
                                evidence=[(f"{label}: trading", f"{url}?tab=trading")] if url else []))
    return findings


# --- bonus abuse ------------------------------------------------------------------------------------

BONUS_SQL = """
WITH bonuses AS (
    SELECT acc.client_id, d.id AS deal_id, d.time, d.profit AS amount, acc.currency
    FROM trading_public_deals d
    JOIN trading_public_accounts acc ON acc.id = d.account_id AND NOT acc.is_demo
    JOIN trading_public_servers srv ON srv.id = d.server_id
    WHERE d.kind IN ('bonus', 'credit') AND d.profit > 0 AND d.deleted_at IS NULL
      AND d.time >= %(since)s AND d.time < %(until)s
      AND (%(brand)s::bigint IS NULL OR srv.brand_id = %(brand)s::bigint)
),
cycles AS (
    SELECT b.client_id, b.deal_id, b.time, b.amount AS bonus, b.currency,
           dep.amount AS deposited, dep.ref_code AS deposit_code, -w.amount AS withdrawn, w.occurred_at AS withdrawn_at,
           (SELECT coalesce(sum(t.volume), 0) FROM trading_public_deals t
            JOIN trading_public_accounts a2 ON a2.id = t.account_id
            WHERE a2.client_id = b.client_id AND t.kind = 'trade' AND t.entry = 'in' AND t.deleted_at IS NULL
              AND t.time >= b.time AND t.time < w.occurred_at) AS lots
    FROM bonuses b
    JOIN LATERAL (
        SELECT m.amount, m.ref_code FROM wallet_public_client_movements m
        WHERE m.client_id = b.client_id AND m.kind = 'deposit' AND m.amount > 0
          AND m.occurred_at <= b.time AND m.occurred_at >= b.time - make_interval(days => %(deposit_days)s)
        ORDER BY m.occurred_at DESC LIMIT 1) dep ON true
    JOIN LATERAL (
        SELECT m.amount, m.occurred_at FROM wallet_public_client_movements m
        WHERE m.client_id = b.client_id AND m.kind = 'withdrawal' AND m.amount < 0
          AND m.occurred_at > b.time AND m.occurred_at <= b.time + make_interval(days => %(withdraw_days)s)
        ORDER BY m.occurred_at LIMIT 1) w ON true
)
SELECT cy.client_id, c.brand_id, count(*) AS cycles, sum(cy.bonus) AS bonus, sum(cy.deposited) AS deposited,
       sum(cy.withdrawn) AS withdrawn, max(cy.lots) AS max_lots, array_agg(cy.deposit_code ORDER BY cy.time) AS deposits,
       array_agg(DISTINCT cy.currency) AS currencies
FROM cycles cy JOIN crm_public_clients c ON c.id = cy.client_id
WHERE cy.lots < %(max_lots)s AND cy.withdrawn >= %(share)s * cy.deposited
GROUP BY cy.client_id, c.brand_id HAVING count(*) >= %(min_cycles)s
"""


def detect_bonus_abuse(*, day: dt.date, brand_id: int | None = None) -> list[Finding]:
    since, until = window(day, BONUS_LOOKBACK_DAYS)
    rows = fetch(BONUS_SQL, {"since": since, "until": until, "brand": brand_id, "deposit_days": BONUS_DEPOSIT_DAYS,
                             "withdraw_days": BONUS_WITHDRAW_DAYS, "max_lots": BONUS_MAX_LOTS,
                             "share": BONUS_WITHDRAWN_SHARE, "min_cycles": BONUS_MIN_CYCLES})
    pages = client_pages({r["client_id"] for r in rows})
    findings = []
    for row in rows:
        currency = "/".join(row["currencies"])
        reasons = [f"{row['cycles']} deposit-bonus-withdrawal cycles in {BONUS_LOOKBACK_DAYS} days: "
                   f"{row['deposited']:.2f} deposited, {row['bonus']:.2f} {currency} in bonuses, "
                   f"{row['withdrawn']:.2f} withdrawn within {BONUS_WITHDRAW_DAYS} days of each bonus",
                   f"at most {row['max_lots']:.2f} lots traded in a cycle (threshold {BONUS_MAX_LOTS})"]
        label, url = pages.get(row["client_id"], ("", ""))
        evidence = [(f"Deposit {code[:8]}", f"/wallet/deposits/{code}/") for code in row["deposits"] if code][:10]
        if url:
            evidence.insert(0, (f"{label}: wallet", f"{url}?tab=wallet"))
        findings.append(Finding(brand_id=row["brand_id"], subject_kind="client", subject_id=row["client_id"],
                                detector="bonus_abuse", day=day, score=float(row["cycles"]), reasons=reasons,
                                evidence=evidence))
    return findings


CLIENT_DETECTORS = {
    "multi_accounting": detect_multi_accounting,
    "hedging": detect_hedging,
    "latency_arbitrage": detect_latency_arbitrage,
    "bonus_abuse": detect_bonus_abuse,
}
