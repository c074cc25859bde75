"""The backtest replays a history as the hourly pass would have run it: each day scored and alerted
with only what was known by its end (peers, spreads, thresholds, context facts); a notice re-reviews
the days before it when it becomes known, raised that day; out-of-book access near a large deposit
weighs more; a covering agent's work in the covered book is expected. The synthetic desk is the same
in every process."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from monitoring import scenarios, scoring
from monitoring.scoring import Event

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def desk() -> scenarios.Scenario:
    return scenarios.generate(agents=16, days=84, seed=5, injections_per_kind=1)


def _replay(events: list[Event], context: dict[str, Any]) -> dict[tuple[str, date], scoring.DayScore]:
    scores, _ = scoring.backtest(events, scoring.context_from_dict(context), budget=0.5)
    return {(s.agent, s.day): s for s in scores}


def _known_by(value: str | None, cut: date) -> bool:
    return value is None or date.fromisoformat(value[:10]) <= cut


def _context_as_of(context: dict[str, Any], cut: date) -> dict[str, Any]:
    """The context as it stood at the end of `cut`: the facts recorded later left out."""
    out = copy.deepcopy(context)
    for agent in out["agents"]:
        if not _known_by(agent.get("notice_known_from"), cut):
            agent.update(notice_given=None, left=None, notice_known_from=None)
        if not _known_by(agent.get("left_known_from"), cut):
            agent.update(left=None, left_known_from=None)
    for key in ("cover", "leave", "campaign_days"):
        out[key] = [fact for fact in out[key] if _known_by(fact["known_from"], cut)]
    return out


def test_a_day_is_scored_and_alerted_the_same_whatever_came_after_it(desk: scenarios.Scenario) -> None:
    first = desk.start
    cut = first + timedelta(days=50)
    full = _replay(desk.events, desk.context)
    # a notice and a cover recorded after the cut are in the full context only
    assert any(not _known_by(a.get("notice_known_from") or a.get("left_known_from"), cut) for a in desk.context["agents"])
    truncated = _replay([e for e in desk.events if e.time.date() <= cut], _context_as_of(desk.context, cut))
    compared = 0
    for key, mine in truncated.items():
        later = full[key]
        assert later.score == mine.score, key
        assert later.threshold == mine.threshold, key
        # alerted in time the same; a later notice may raise a re-review, but only on its own day
        assert (later.alerted and later.raised_on is not None and later.raised_on <= cut) == mine.alerted, key
        compared += 1
    assert compared > 16 * 40


def test_the_model_does_not_learn_a_day_before_scoring_it(desk: scenarios.Scenario) -> None:
    day = desk.start + timedelta(days=42)          # a Monday after the warm-up, when the peers are fitted again
    assert day.weekday() == 0 and day in scoring.peer_fit_days(desk.start, desk.start + timedelta(days=83))
    base = _replay(desk.events, desk.context)
    bulk = [Event(time=datetime(day.year, day.month, day.day, 11, tzinfo=UTC) + timedelta(seconds=10 * i),
                  agent="agent-003", kind="client_open", client=f"c-003-{i % 150:04d}", client_owner="agent-003",
                  ref=f"x{i}") for i in range(400)]
    moved = _replay(desk.events + bulk, desk.context)
    assert moved[("agent-003", day)].score > base[("agent-003", day)].score + 5
    for key, before in base.items():
        if key[1] < day or (key[1] == day and key[0] != "agent-003"):
            # the other agents' same day: the peers, spreads and thresholds did not see the burst yet
            assert moved[key].score == before.score, key
            assert moved[key].threshold == before.threshold, key


def _day_score(agent: str, day: date, score: float, *, watched: bool = False,
               review_on: date | None = None) -> scoring.DayScore:
    return scoring.DayScore(agent=agent, day=day, score=score, signals={}, watched=watched, newcomer=False,
                            notes=[], features=scoring.DayFeatures(), offhours_refs=[],
                            info=scoring.AgentInfo(id=agent), review_on=review_on)


def test_the_replay_alerts_in_time_and_re_reviews_under_a_notice_on_the_day_it_is_known() -> None:
    first = date(2026, 1, 5)
    day = first + timedelta(days=30)
    known = first + timedelta(days=35)
    scores = [
        _day_score("warm", first + timedelta(days=27), 9.0),           # the warm-up's last day: learning only
        _day_score("early", first + timedelta(days=28), 3.0),          # the first day alerted, at exactly 3.0
        _day_score("plain", day, 2.5),                                 # below 3.0, no notice
        _day_score("leaving", day, 2.5, review_on=known),              # under a notice recorded later
        _day_score("leaving", known, 2.0, watched=True),               # under the notice, known that day
        _day_score("later", day, 2.5, review_on=first + timedelta(days=41)),   # known after the period
    ]
    # fewer than 50 benign agent-days: the default thresholds, 3.0 and 2.0 under notice
    thresholds = scoring.replay_thresholds(scores, budget=0.5, first=first, last=first + timedelta(days=40))
    assert (thresholds.normal, thresholds.watched) == (3.0, 2.0)
    warm, early, plain, leaving, watched, later = scores
    assert warm.learning and not warm.alerted
    assert early.alerted and early.raised_on == early.day and early.threshold == 3.0
    assert not plain.alerted and plain.raised_on is None
    assert leaving.alerted and leaving.raised_on == known and leaving.threshold == 2.0
    assert watched.alerted and watched.raised_on == known
    assert not later.alerted


def test_the_thresholds_are_calibrated_to_the_budget_as_computed_by_hand() -> None:
    # benign scores 0.00, 0.01, ..., 9.99: the tail through the 95th and 99th percentiles (9.50, 9.90)
    # extrapolated to 0.5 per 100 is 9.90 + 0.4 / log10(5) * log10(2) = 10.072, above the 99.95th
    # percentile (9.99), which bounds it: 9.99, and one lower under notice
    thresholds = scoring.calibrate_values([i / 100 for i in range(1000)], 0.5)
    assert (thresholds.normal, thresholds.watched) == (9.99, 8.99)
    thresholds = scoring.calibrate_values([i / 100 for i in range(1000)], 2.0)
    # 2 per 100: 9.90 + 0.4 / log10(5) * (log10(0.01) - log10(0.02)) = 9.728, within [q96 9.60, q99.8 9.98]
    assert (thresholds.normal, thresholds.watched) == (9.728, 8.728)


def test_a_fact_holds_from_the_end_of_the_day_it_became_known() -> None:
    context = scoring.context_from_dict({
        "agents": [{"id": "a", "notice_given": "2026-03-10", "left": "2026-03-31",
                    "notice_known_from": "2026-03-12T23:59:00Z"}],
        "cover": [{"agent": "a", "covers": "b", "from": "2026-03-01", "to": "2026-03-20",
                   "known_from": "2026-03-03T00:00:00Z"}],
        "leave": [{"agent": "b", "from": "2026-03-01", "to": "2026-03-20", "known_from": "2026-02-20"}],
        "campaign_days": [{"desk": "d", "date": "2026-03-05", "known_from": "2026-03-06T08:00:00+00:00"}],
    })
    assert not context.covers("a", "b", date(2026, 3, 2)) and context.covers("a", "b", date(2026, 3, 3))
    assert context.on_leave("b", date(2026, 3, 1))
    assert not context.campaign_on("d", date(2026, 3, 5))          # recorded the day after: never for that day
    watch = context.agents["a"].watch()
    assert watch == scoring.Watch(since=date(2026, 2, 8), known_on=date(2026, 3, 12))
    assert context.agents["a"].left_known(date(2026, 3, 11)) is None
    assert context.agents["a"].left_known(date(2026, 3, 12)) == date(2026, 3, 31)
    everything = context.all_known()
    assert everything.covers("a", "b", date(2026, 3, 1)) and everything.campaign_on("d", date(2026, 3, 5))


@pytest.mark.parametrize(("fact", "field"), [
    ({"cover": [{"agent": "a", "covers": "b", "from": "2026-03-01", "to": "2026-03-02"}]}, r"cover\[0\]\.known_from"),
    ({"leave": [{"agent": "a", "from": "2026-03-01", "to": "2026-03-02"}]}, r"leave\[0\]\.known_from"),
    ({"campaign_days": [{"desk": "d", "date": "2026-03-01"}]}, r"campaign_days\[0\]\.known_from"),
    ({"agents": [{"id": "a", "notice_given": "2026-03-01", "left": "2026-03-20"}]}, r"agents\[0\]\.notice_known_from"),
    ({"agents": [{"id": "a", "left": "2026-03-20"}]}, r"agents\[0\]\.left_known_from"),
])
def test_the_backtest_refuses_a_fact_without_the_time_it_became_known(fact: dict[str, Any], field: str,
                                                                       desk: scenarios.Scenario,
                                                                       tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(line) + "\n" for line in scenarios.events_as_dicts(desk.events[:2000])))
    context = tmp_path / "context.json"
    context.write_text(json.dumps(fact))
    out = tmp_path / "alerts.csv"
    with pytest.raises(CommandError, match=field + " is required"):
        call_command("monitoring_backtest", str(events), "--context", str(context), "--out", str(out))
    assert not out.exists()
    # read as known at the end of the period, where the README says so: the whole period rescored then
    call_command("monitoring_backtest", str(events), "--context", str(context), "--out", str(out),
                 "--context-known-at-end")
    rows = out.read_text().splitlines()
    assert rows[0] == "agent,day,score,alerted,reasons,raised_on" and len(rows) > 1


def test_a_covering_agent_works_the_covered_book_as_expected_but_not_other_books() -> None:
    day = date(2026, 4, 14)
    context = scoring.context_from_dict({"cover": [{"agent": "a", "covers": "b", "from": "2026-04-13",
                                                    "to": "2026-04-17", "known_from": "2026-04-10"}]})
    start = datetime(2026, 1, 2, 9, tzinfo=UTC)
    # the stream starts 90 days and more before: records untouched since are known to be untouched
    events = [Event(time=start, agent="b", kind="client_open", client="b-old", client_owner="b")]
    at = datetime(2026, 4, 14, 10, tzinfo=UTC)
    events += [Event(time=at + timedelta(minutes=i), agent="a", kind="client_open", client=f"b-c{i}",
                     client_owner="b", client_high_value=True) for i in range(5)]
    events += [Event(time=at + timedelta(minutes=10 + i), agent="a", kind="client_open", client=f"c-c{i}",
                     client_owner="c", client_high_value=True) for i in range(3)]
    features, _first, _last = scoring.extract_features(events, context)
    day_features = features["a"][day]
    # the covered colleague's records, untouched for 90 days, are neither untouched nor out of book
    assert day_features.counts["opens"] == 8
    assert day_features.counts["stale"] == 3          # only the third book's
    assert day_features.counts["oob_hv"] == 3 and day_features.oob_clients == {"c-c0", "c-c1", "c-c2"}
    # the same cover recorded only the day after: that day is not excused
    late = scoring.context_from_dict({"cover": [{"agent": "a", "covers": "b", "from": "2026-04-13",
                                                 "to": "2026-04-17", "known_from": "2026-04-15T08:00:00Z"}]})
    late_features, _first, _last = scoring.extract_features(events, late)
    assert late_features["a"][day].counts["oob_hv"] == 8


_DIGEST = """
import hashlib, json
from monitoring import scenarios
desk = scenarios.generate(agents=16, days=84, seed=5, injections_per_kind=1)
lines = list(scenarios.events_as_dicts(desk.events))
print(hashlib.sha256(json.dumps([lines, desk.context, sorted((a, d.isoformat(), *k) for (a, d), k in
                                  desk.labels.items())], sort_keys=True).encode()).hexdigest())
"""


def test_the_synthetic_desk_is_the_same_under_any_string_hash_seed(desk: scenarios.Scenario) -> None:
    digests = set()
    for hash_seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(REPO)}
        done = subprocess.run([sys.executable, "-c", _DIGEST], cwd=REPO, env=env, capture_output=True, text=True,
                              check=True, timeout=300)
        digests.add(done.stdout.strip())
    lines = list(scenarios.events_as_dicts(desk.events))
    here = hashlib.sha256(json.dumps([lines, desk.context, sorted((a, d.isoformat(), *k) for (a, d), k in
                                                                   desk.labels.items())], sort_keys=True).encode())
    assert digests == {here.hexdigest()}
