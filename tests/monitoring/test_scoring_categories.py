"""What the scoring learnt from the missed and the false alert-days of the synthetic desks (issue 61,
monitoring), one category each, on hand-made histories: untouched records are not scored before the
peers have shown them on that day type; an evening running on from the shift counts in hours at the
day's pace; exported rows are a sum of exports of the agent's habitual size; short calls against the
day's real calls keep their own, narrower spread."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, timedelta

from monitoring import scoring
from monitoring.scoring import DayFeatures, Event

from .test_scoring import DAY, QUIET, Desk

START = date(2026, 1, 5)          # a Monday


def _t(day: date, hour: float) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=hour)


def test_untouched_records_are_not_scored_on_a_day_type_the_peers_have_not_shown_them_on() -> None:
    # "untouched for 90 days" becomes known on day 90 of the history: the first Monday after it has
    # no peer level yet, so the records first touched that day are no surprise
    rng = random.Random(3)
    events: list[Event] = []
    for agent in ("a", "b", "c"):
        for n in range(100):
            day = START + timedelta(days=n)
            if day.weekday() < 5:
                for _ in range(20):
                    client = f"{agent}-{rng.randint(1, 400)}"
                    events.append(Event(time=_t(day, rng.uniform(9, 17)), agent=agent, kind="client_open",
                                        client=client, client_owner=agent))
    context = scoring.context_from_dict({"agents": [{"id": a, "role": "sales", "desk": "d"} for a in "abc"]},
                                        known_from_required=False)
    features, first, last = scoring.extract_features(events, context)
    first_known = START + timedelta(days=91)            # a Monday: the first working day known
    assert first_known.weekday() == 0
    before = scoring.fit_peers(features, context, first, first_known - timedelta(days=1))
    assert {("stale", dt) for dt in range(5)} <= before.unseen
    scores = scoring.score_features(features, context, first, first_known)
    assert all("stale" not in s.signals for s in scores if s.day == first_known)
    # a week on, the peers have shown them on every weekday: scored against the peers' level
    later = first_known + timedelta(days=7)
    assert not {("stale", dt) for dt in range(5)} & scoring.fit_peers(features, context, first, later).unseen
    week = scoring.score_features(features, context, first, later)
    assert any("stale" in s.signals for s in week if s.day == later)


def test_an_evening_running_on_from_the_shift_counts_in_hours_at_the_days_pace() -> None:
    shift = (9, 18)
    profile = [3.0 if 9 <= hour < 18 else 0.05 for hour in range(24)]
    busy = DayFeatures()
    for hour in range(9, 21):
        busy.hours[hour] = 20                           # 20 actions an hour, two hours past the shift's margin
    off = scoring._off_hours(busy, profile, sum(profile), shift, day_off=False)
    assert off.count == 40 and off.hours == [19, 20]
    # two hours at the day's own pace: a quarter each, whatever the pace
    assert math.isclose(off.weighted, 2 * scoring.PARAMETERS.overtime_weight)
    night = DayFeatures()
    for hour in range(9, 18):
        night.hours[hour] = 20
    night.hours[2] = 7                                  # a return at night: every action counts
    assert scoring._off_hours(night, profile, sum(profile), shift, day_off=False).weighted == 7


def test_the_export_tail_is_the_sum_of_exports_of_the_habitual_size() -> None:
    # one export at most (a certain count of 0 or 1 is not negative binomial; a large size makes the
    # count Poisson): P(S >= x) = sum over n of Poisson(n) x P(Gamma(n k, m / k) >= x), by hand for k = 1
    rate, size_mean, x = 0.2, 2.0, 9.0
    by_hand = sum(math.exp(-rate) * rate ** n / math.factorial(n)
                  * math.exp(-x / size_mean) * sum((x / size_mean) ** i / math.factorial(i) for i in range(n))
                  for n in range(1, 40))
    score = scoring.compound_tail_score(x, count=rate, count_size=1e9, size_mean=size_mean, size_shape=1.0)
    assert math.isclose(score, -math.log10(by_hand), rel_tol=1e-4)
    # the upper incomplete gamma, against its closed form for an integer shape
    assert math.isclose(math.exp(scoring.log_gamma_sf(3.0, 17.5)),
                        math.exp(-17.5) * (1 + 17.5 + 17.5 ** 2 / 2), rel_tol=1e-9)


def test_an_export_of_the_agents_habitual_size_is_ordinary_and_ten_times_it_is_not() -> None:
    desk = Desk()                                       # exports of 10 to 40 rows on a fifth of the days
    desk.add("a3", DAY, 11, "export", rows=45)          # one export nearly twice the habit: ordinary
    assert desk.score("a3", DAY).signals["export_rows"].score < QUIET
    desk = Desk()
    desk.add("a3", DAY, 11, "export", rows=350)         # one export of ten times the habit
    s = desk.score("a3", DAY)
    assert s.signals["export_rows"].score >= 6
    assert any(r.startswith("exported ") and "own 95th percentile" in r for r in s.reasons), s.reasons


def test_short_calls_against_the_days_real_calls_keep_their_own_narrower_spread() -> None:
    # calls per day vary threefold, the share of short ones stays one in ten: their count is
    # overdispersed, their number given the real calls is not
    rng = random.Random(9)
    events: list[Event] = []
    for agent in [f"a{i}" for i in range(8)]:
        for n in range(60):
            day = START + timedelta(days=n)
            if day.weekday() >= 5:
                continue
            for _ in range(rng.choice([10, 40, 70])):
                short = rng.random() < 0.1
                events.append(Event(time=_t(day, rng.uniform(9, 17)), agent=agent, kind="call", client="c",
                                    client_owner=agent, duration_s=3.0 if short else 120.0))
    context = scoring.context_from_dict({"agents": [{"id": f"a{i}", "role": "sales", "desk": "d"}
                                                    for i in range(8)]}, known_from_required=False)
    features, first, last = scoring.extract_features(events, context)
    peers = scoring.fit_peers(features, context, first, last)
    assert peers.size["short_ratio"] > 3 * peers.size["short_calls"]
