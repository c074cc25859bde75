"""The behaviour scoring on hand-made histories: each detector fires on its positive day, says why
in words with numbers, and stays quiet on the benign look-alike (campaign day, recorded cover,
overtime running on from the shift, a Saturday worker's Saturday)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from monitoring import scoring
from monitoring.scoring import Event

START = date(2026, 1, 5)          # a Monday
DAYS = 140
ALERT = 4.0                        # well above what the benign days of these histories score
QUIET = 3.0


def _t(day: date, hour: float) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=hour)


class Desk:
    """Twelve agents on one desk with steady, slightly noisy habits, shift 09-18, Mondays to Fridays."""

    def __init__(self, *, seed: int = 5, saturday: tuple[str, ...] = ()) -> None:
        self.rng = random.Random(seed)
        self.events: list[Event] = []
        self.agents = [f"a{i}" for i in range(12)]
        self.context: dict[str, object] = {
            "agents": [{"id": a, "role": "sales", "desk": "d1", "joined": "2024-01-01", "shift_start": 9,
                        "shift_end": 18} for a in self.agents],
            "cover": [], "leave": [], "campaign_days": [], "holidays": [],
        }
        for a in self.agents:
            for n in range(DAYS):
                day = START + timedelta(days=n)
                if day.weekday() < 5 or (a in saturday and day.weekday() == 5):
                    self.ordinary_day(a, day)

    def add(self, agent: str, day: date, hour: float, kind: str, client: str = "", *, owner: str | None = None,
            high_value: bool = False, rows: int = 0, duration: float = 0.0) -> None:
        self.events.append(Event(time=_t(day, hour), agent=agent, kind=kind, client=client,
                                 client_owner=owner if owner is not None else agent, client_high_value=high_value,
                                 rows=rows, duration_s=duration, ref=f"e{len(self.events) + 1}"))

    def ordinary_day(self, agent: str, day: date, scale: float = 1.0) -> None:
        r = self.rng
        self.add(agent, day, 9.05, "login")
        for _ in range(int(r.randint(15, 25) * scale)):
            self.add(agent, day, r.uniform(9, 18), "client_open", f"{agent}-c{r.randint(1, 40)}")
        for _ in range(r.randint(1, 3)):
            self.add(agent, day, r.uniform(9, 18), "pii_reveal", f"{agent}-c{r.randint(1, 40)}")
        for _ in range(int(r.randint(20, 30) * scale)):
            short = r.random() < 0.12
            self.add(agent, day, r.uniform(9, 18), "call", f"{agent}-c{r.randint(1, 40)}",
                     duration=r.uniform(1, 5) if short else r.uniform(30, 400))
        for _ in range(r.randint(2, 6)):
            self.add(agent, day, r.uniform(9, 18), "search")
        if r.random() < 0.2:
            self.add(agent, day, r.uniform(9, 18), "export", rows=r.randint(10, 40))

    def score(self, agent: str, day: date) -> scoring.DayScore:
        scores = scoring.score_history(self.events, scoring.context_from_dict(self.context, known_from_required=False))
        found = next(s for s in scores if s.agent == agent and s.day == day)
        found.reasons = scoring.reasons_for(found)
        return found


DAY = START + timedelta(days=120)      # a Tuesday, deep in the history
assert DAY.weekday() == 1


def test_it_alerts_on_a_burst_of_stale_records_against_the_agent_own_baseline() -> None:
    desk = Desk()
    for i in range(150):
        desk.add("a1", DAY, 14 + 3 * i / 150, "client_open", f"a1-old{i}")     # never touched before
    s = desk.score("a1", DAY)
    assert s.score >= ALERT
    text = " ".join(s.reasons)
    assert "opened 150 records between 14:00 and 17:00" in text or "opened 15" in text
    assert "untouched for 90 days" in text
    assert s.evidence()["burst"]


def test_it_stays_quiet_when_the_same_agent_works_harder_on_a_campaign_day() -> None:
    desk = Desk()
    campaign = [START + timedelta(days=n) for n in range(7, DAYS, 14) if (START + timedelta(days=n)).weekday() < 5]
    desk.context["campaign_days"] = [{"desk": "d1", "date": d.isoformat()} for d in campaign]
    for a in desk.agents:
        for d in campaign:
            desk.ordinary_day(a, d, scale=0.8)        # everyone does nearly twice the usual on campaign days
    s = desk.score("a2", campaign[-1])
    assert s.score < QUIET, s.signals


def test_it_alerts_on_a_departing_agent_exporting_before_the_last_day_at_a_lower_threshold() -> None:
    desk = Desk()
    desk.context["agents"][3].update({"notice_given": (DAY - timedelta(days=5)).isoformat(),  # type: ignore[index]
                                      "left": (DAY + timedelta(days=10)).isoformat()})
    desk.add("a3", DAY, 15, "export", rows=900)
    s = desk.score("a3", DAY)
    assert s.watched
    assert s.score >= ALERT
    assert any("exported 9" in r for r in s.reasons)
    assert any("under notice" in r for r in s.reasons)


def test_it_alerts_on_activity_in_the_night_but_not_on_overtime_running_on_from_the_shift() -> None:
    desk = Desk()
    for i in range(12):
        desk.add("a4", DAY, 23.1 + i * 0.05, "client_open", f"a4-c{i}")
    night = desk.score("a4", DAY)
    assert night.score >= ALERT
    assert any("outside own hours" in r for r in night.reasons)

    desk = Desk()
    for i in range(12):
        desk.add("a4", DAY, 18.0 + i * 0.12, "client_open", f"a4-c{i}")       # 18:00-19:30, straight on
    assert desk.score("a4", DAY).score < QUIET


def test_it_learns_that_a_saturday_worker_works_on_saturdays() -> None:
    desk = Desk(saturday=("a5",))
    saturday = START + timedelta(days=124)
    assert saturday.weekday() == 5
    assert desk.score("a5", saturday).score < QUIET


def test_it_alerts_on_high_value_clients_of_other_books_net_of_recorded_cover() -> None:
    desk = Desk()
    for i in range(15):
        desk.add("a6", DAY, 10 + i * 0.3, "client_open", f"a7-c{i % 6}", owner="a7", high_value=True)
    s = desk.score("a6", DAY)
    assert s.score >= ALERT
    assert any("other agents' books 15 times (6 clients) without recorded cover" in r for r in s.reasons)

    desk.context["cover"] = [{"agent": "a6", "covers": "a7", "from": (DAY - timedelta(days=3)).isoformat(),
                              "to": (DAY + timedelta(days=3)).isoformat()}]
    assert desk.score("a6", DAY).signals["oob_hv"].value == 0


def test_it_alerts_on_call_padding_but_not_on_a_few_unanswered_calls() -> None:
    desk = Desk()
    for i in range(40):
        desk.add("a8", DAY, 10 + i * 0.1, "call", f"a8-c{i % 40}", duration=3)
    s = desk.score("a8", DAY)
    assert s.score >= ALERT
    assert any("calls of 6 seconds or less" in r for r in s.reasons)

    desk = Desk()
    for i in range(2):
        desk.add("a8", DAY, 10 + i, "call", f"a8-c{i}", duration=2)
    assert desk.score("a8", DAY).score < QUIET


def test_a_newcomer_is_measured_against_the_peers_while_their_own_history_is_short() -> None:
    desk = Desk()
    joined = DAY - timedelta(days=6)
    desk.context["agents"].append({"id": "new", "role": "sales", "desk": "d1",  # type: ignore[attr-defined]
                                   "joined": joined.isoformat(), "shift_start": 9, "shift_end": 18})
    for n in range(7):
        d = joined + timedelta(days=n)
        if d.weekday() < 5:
            desk.ordinary_day("new", d, scale=0.5 if n < 5 else 1.0)    # ramping up to a peer's volume
    s = desk.score("new", DAY)
    assert s.newcomer
    assert s.score < QUIET


def test_the_tail_probability_matches_the_negative_binomial_sum() -> None:
    import math

    def direct(x: int, mean: float, size: float) -> float:
        p = size / (size + mean)
        pmf = math.exp(size * math.log(p))
        below = pmf
        for k in range(x - 1):
            pmf *= (k + size) / (k + 1) * (1 - p)
            below += pmf
        return -math.log10(1 - below)

    for x, mean, size in ((10, 2.0, 1.5), (30, 10.0, 3.0), (7, 1.2, 0.7)):
        assert scoring.nb_tail_score(x, mean, size) == pytest.approx(direct(x, mean, size), rel=1e-6)
    assert scoring.nb_tail_score(3, 5.0, 2.0) == 0.0
    # far in the tail it neither underflows nor stops growing
    assert scoring.nb_tail_score(500, 10.0, 3.0) > scoring.nb_tail_score(200, 10.0, 3.0) > 15


@pytest.mark.parametrize(("field", "value", "message"), [
    ("kind", "teleport", "'kind' must be one of"),
    ("time", "yesterday", "'time' is not ISO 8601"),
    ("agent", "", "'agent' is required"),
    ("rows", -3, "must not be negative"),
])
def test_bad_events_are_refused_naming_the_field(field: str, value: object, message: str) -> None:
    obj = {"time": "2026-03-01T10:00:00Z", "agent": "a1", "kind": "export", "rows": 10}
    obj[field] = value
    with pytest.raises(scoring.ScoringInputError, match=message):
        scoring.event_from_dict(obj, ref="7")


def test_bad_context_is_refused_naming_the_field() -> None:
    with pytest.raises(scoring.ScoringInputError, match=r"cover\[0\]\.to"):
        scoring.context_from_dict({"cover": [{"agent": "a", "covers": "b", "from": "2026-01-01", "to": "soon"}]})
    with pytest.raises(scoring.ScoringInputError, match=r"agents\[0\]\.shift_start"):
        scoring.context_from_dict({"agents": [{"id": "a", "shift_start": "late"}]})


def _moved_to_a_later_shift(desk: Desk, *, dated: bool) -> scoring.DayScore:
    """Agent a9 works 12:00-22:00 from the day before DAY (the manager recorded it with its date, or not)."""
    change = DAY - timedelta(days=1)
    desk.events = [e for e in desk.events if not (e.agent == "a9" and e.time.date() >= change)]
    r = random.Random(3)
    for day in (change, DAY):
        desk.add("a9", day, 12.05, "login")
        for _ in range(20):
            desk.add("a9", day, r.uniform(12, 22), "client_open", f"a9-c{r.randint(1, 40)}")
        for _ in range(25):
            desk.add("a9", day, r.uniform(12, 22), "call", f"a9-c{r.randint(1, 40)}", duration=r.uniform(30, 400))
    if dated:
        desk.context["agents"][9]["shifts"] = [  # type: ignore[index]
            {"from": "2024-01-01", "start": 9, "end": 18}, {"from": change.isoformat(), "start": 12, "end": 22}]
    return desk.score("a9", DAY)


def test_a_shift_change_recorded_with_its_day_moves_the_agents_own_hours_from_that_day() -> None:
    unrecorded = _moved_to_a_later_shift(Desk(), dated=False)
    assert unrecorded.score >= ALERT
    assert any("outside own hours (shift 09:00-18:00)" in r for r in unrecorded.reasons)
    recorded = _moved_to_a_later_shift(Desk(), dated=True)
    assert recorded.signals["offhours"].value == 0
    assert recorded.score < QUIET


def test_a_dated_shift_without_its_hours_or_day_is_refused_by_name() -> None:
    with pytest.raises(scoring.ScoringInputError, match=r"agents\[0\]\.shifts\[1\]\.from is required"):
        scoring.context_from_dict({"agents": [{"id": "a", "shifts": [{"from": "2026-01-01", "start": 9, "end": 18},
                                                                       {"start": 12, "end": 22}]}]})
    with pytest.raises(scoring.ScoringInputError, match=r"agents\[0\]\.shifts\[0\]: start and end are required"):
        scoring.context_from_dict({"agents": [{"id": "a", "shifts": [{"from": "2026-01-01", "start": 9}]}]})
    info = scoring.context_from_dict({"agents": [{"id": "a", "shift_start": 12, "shift_end": 22, "shifts": [
        {"from": "2026-03-02", "start": 12, "end": 22}, {"from": "2026-01-01", "start": 9, "end": 18}]}]}).info("a")
    assert info.shift_on(date(2025, 12, 1)) == (9, 18)
    assert info.shift_on(date(2026, 3, 1)) == (9, 18)
    assert info.shift_on(date(2026, 3, 2)) == (12, 22)


def test_out_of_book_access_near_a_large_deposit_weighs_more_and_in_book_stays_ordinary() -> None:
    desk = Desk()
    for i in range(15):
        desk.add("a6", DAY, 10 + i * 0.3, "client_open", f"a7-c{i % 6}", owner="a7", high_value=True)
    plain = desk.score("a6", DAY)
    assert plain.signals["oob_hv"].value == 15
    for e in desk.events[-15:]:
        e.money_near = True
    near = desk.score("a6", DAY)
    # each out-of-book access near the client's large movement counts twice: 15 accesses, 30
    assert near.signals["oob_hv"].value == 30 and near.features.oob_money_near == 15
    assert near.score > plain.score
    # a client who is not high-value counts out of book too when near a large movement (twice)
    desk = Desk()
    desk.add("a6", DAY, 11, "client_open", "a9-c1", owner="a9")
    desk.events[-1].money_near = True
    assert desk.score("a6", DAY).signals["oob_hv"].value == 2
    # the agent's own clients after their deposit: ordinary, never untouched, and said so
    desk = Desk()
    for i in range(15):
        desk.add("a6", DAY, 10 + i * 0.3, "client_open", f"a6-new{i}")     # never touched before
    for e in desk.events[-15:]:
        e.money_near = True
    own = desk.score("a6", DAY)
    assert own.signals["oob_hv"].value == 0 and own.signals["stale"].value == 0 and own.features.money_near == 15
    assert ("15 records of the own or covered book opened near the client's large deposit or withdrawal: ordinary, "
            "not counted as untouched") in own.notes
    event = scoring.event_from_dict({"time": "2026-03-02T10:00:00Z", "agent": "a6", "kind": "client_open",
                                     "client": "c1", "client_money_near": True})
    assert event.money_near
