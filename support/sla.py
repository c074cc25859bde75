"""Business-hours arithmetic for a support desk's SLA clocks: pure Python, no models.

A desk works in its own IANA time zone, on weekly business hours (any number of intervals a day,
"09:00"-"13:00" and "14:00"-"18:00"; a day without intervals is closed) and on every date that is
not one of its holidays. ``BusinessCalendar`` answers, for instants in UTC:

- ``add_business_minutes(start, minutes)``: when `minutes` of open desk time have passed since
  `start` (the SLA's due time);
- ``business_minutes_between(a, b)``: how many minutes of open desk time lie between two instants
  (first response and resolution times for the KPIs);
- ``add_working_days(start, n)``: the end of the n-th working day after the day of `start` (a
  complaint's acknowledgement within 5 working days);
- ``add_business_minutes_paused(start, minutes, pauses)``: the due time of a clock that stops while
  the ticket waits for the client.

How time is counted (each rule is tested in tests/support/test_sla.py):

1. A business minute is a real, elapsed minute during which the desk is open. The open intervals
   are written in the desk's wall-clock time and turned into UTC day by day, so a desk open
   "00:00"-"24:00" has 23 hours on the day the clocks go forward and 25 on the day they go back,
   and 09:00-18:00 is 9 hours on either side of a change.
2. A wall-clock boundary that does not exist (it falls in the hour skipped when the clocks go
   forward) is read as the instant the clocks jump: "03:30" on Cyprus's spring-forward day opens
   at 04:00 summer time. A boundary that happens twice (the hour repeated when the clocks go back)
   is its first occurrence.
3. A start outside business hours counts from the next opening; a start exactly at closing time
   is outside them. A due time that falls exactly at closing time stays there (it is not moved to
   the next opening): 17:00 plus 60 minutes with a desk closing at 18:00 is due at 18:00.
4. Holidays are dates in the desk's zone; the whole day is closed.
5. "24:00" ends an interval at the midnight that ends its day, so "20:00"-"24:00" on Monday and
   "00:00"-"02:00" on Tuesday make one stretch of six hours across midnight.

Every instant given must be time-zone aware; every instant returned is in UTC.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.utils.translation import gettext

from crm.lib.validation import InvalidValue

UTC = dt.UTC
DAY_KEYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_A_DAY = 24 * 60
# A calendar with business hours every week is open again within a week of any instant, unless
# holidays close it; no sensible desk closes for ten years on end.
MAX_CLOSED_DAYS = 3660
_SECOND = dt.timedelta(seconds=1)


def _day_name(day: str) -> str:
    return {"mon": gettext("Monday"), "tue": gettext("Tuesday"), "wed": gettext("Wednesday"),
            "thu": gettext("Thursday"), "fri": gettext("Friday"), "sat": gettext("Saturday"),
            "sun": gettext("Sunday")}[day]


def _parse_clock(text: Any, *, day: str, field: str) -> int:
    """Minutes since midnight of "HH:MM" (00:00 to 24:00); InvalidValue naming the day otherwise."""
    value = text.strip() if isinstance(text, str) else ""
    hours, sep, minutes = value.partition(":")
    if (sep and len(hours) in (1, 2) and len(minutes) == 2 and hours.isdigit() and minutes.isdigit()
            and int(minutes) < 60):
        total = int(hours) * 60 + int(minutes)
        if total <= MINUTES_A_DAY:
            return total
    raise InvalidValue(field, gettext("%(day)s: %(value)r is not a time of day; write it as HH:MM, "
                                      "from 00:00 to 24:00.") % {"day": _day_name(day), "value": text})


def _clock_text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_business_hours(hours: Mapping[str, Any], *,
                         field: str = "business_hours") -> tuple[tuple[tuple[int, int], ...], ...]:
    """Seven tuples (Monday first) of (open, close) minutes since midnight, sorted, from the stored
    form {"mon": [["09:00", "13:00"], ["14:00", "18:00"]], ..., "sun": []}.

    Refused with an InvalidValue naming `field` and the day: an unknown day, an interval that is
    not a pair of HH:MM times, one that ends before (or when) it starts, two that overlap, and a
    week without any business hours. A missing day is closed. Touching intervals (13:00-14:00 and
    14:00-18:00) are allowed and count as one stretch.
    """
    if not isinstance(hours, Mapping):
        raise InvalidValue(field, gettext('Give the business hours per day, such as '
                                          '{"mon": [["09:00", "18:00"]]}.'))
    unknown = sorted(str(key) for key in hours if key not in DAY_KEYS)
    if unknown:
        raise InvalidValue(field, gettext("Unknown day %(day)r: the days are %(days)s.")
                           % {"day": unknown[0], "days": ", ".join(DAY_KEYS)})
    week: list[tuple[tuple[int, int], ...]] = []
    for day in DAY_KEYS:
        raw = hours.get(day) or []
        if isinstance(raw, str | bytes) or not isinstance(raw, Sequence):
            raise InvalidValue(field, gettext("%(day)s: give a list of [opening, closing] pairs.")
                               % {"day": _day_name(day)})
        intervals: list[tuple[int, int]] = []
        for pair in raw:
            if isinstance(pair, str | bytes) or not isinstance(pair, Sequence) or len(pair) != 2:
                raise InvalidValue(field, gettext("%(day)s: %(value)r is not an [opening, closing] pair.")
                                   % {"day": _day_name(day), "value": pair})
            opens = _parse_clock(pair[0], day=day, field=field)
            closes = _parse_clock(pair[1], day=day, field=field)
            if closes <= opens:
                raise InvalidValue(field, gettext("%(day)s: the interval %(opens)s-%(closes)s ends before "
                                                  "it starts. An interval past midnight is two: one to "
                                                  "24:00 and one from 00:00 the next day.")
                                   % {"day": _day_name(day), "opens": _clock_text(opens),
                                      "closes": _clock_text(closes)})
            intervals.append((opens, closes))
        intervals.sort()
        for (open_a, close_a), (open_b, close_b) in zip(intervals, intervals[1:], strict=False):
            if open_b < close_a:
                raise InvalidValue(field, gettext("%(day)s: the intervals %(first)s and %(second)s overlap.")
                                   % {"day": _day_name(day),
                                      "first": f"{_clock_text(open_a)}-{_clock_text(close_a)}",
                                      "second": f"{_clock_text(open_b)}-{_clock_text(close_b)}"})
        week.append(tuple(intervals))
    if not any(week):
        raise InvalidValue(field, gettext("The desk has no business hours at all: give at least one "
                                          "day an interval, such as 09:00-18:00."))
    return tuple(week)


def _aware(value: dt.datetime, name: str) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a time-zone aware datetime, got {value!r}")
    return value.astimezone(UTC)


class BusinessCalendar:
    """A desk's business time: its zone, weekly hours and holidays (see the module's rules).

    Built from the stored forms: ``BusinessCalendar(time_zone="Europe/Nicosia",
    business_hours={"mon": [["09:00", "18:00"]], ...}, holidays=[date(2026, 12, 25)])``. Bad input
    raises ``InvalidValue`` naming the field ("time_zone", "business_hours" or "holidays").
    """

    def __init__(self, *, time_zone: str, business_hours: Mapping[str, Any],
                 holidays: Iterable[dt.date] = ()) -> None:
        name = time_zone.strip() if isinstance(time_zone, str) else ""
        try:
            if not name:
                raise ValueError(name)
            self.zone = zoneinfo.ZoneInfo(name)
        except (ValueError, zoneinfo.ZoneInfoNotFoundError):
            raise InvalidValue("time_zone", gettext("Unknown time zone %(value)r: give an IANA name, such "
                                                    "as Europe/Nicosia.") % {"value": time_zone}) from None
        self.time_zone = name
        self.week = parse_business_hours(business_hours)
        days = set()
        for day in holidays:
            if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
                raise InvalidValue("holidays", gettext("%(value)r is not a date.") % {"value": day})
            days.add(day)
        self.holidays: frozenset[dt.date] = frozenset(days)

    def __repr__(self) -> str:
        return f"BusinessCalendar({self.time_zone!r}, {len(self.holidays)} holidays)"

    # --- the open intervals of one local day, in UTC ------------------------------------------------

    def _wall_to_utc(self, wall: dt.datetime) -> dt.datetime:
        """The UTC instant of a naive wall-clock time in the desk's zone (rules 2: a skipped time is
        the instant of the jump, a repeated one its first occurrence)."""
        first = wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC)
        if first.astimezone(self.zone).replace(tzinfo=None) == wall:
            return first
        # In the gap. fold=1 reads it with the offset after the jump: an instant before the jump;
        # fold=0 with the offset before it: an instant after. The jump lies between; find it.
        before = wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC)
        after = first
        offset_before = before.astimezone(self.zone).utcoffset()
        while after - before > _SECOND:
            middle = before + (after - before) / 2
            middle = middle.replace(microsecond=0)
            if middle <= before:
                middle = before + _SECOND
            if middle.astimezone(self.zone).utcoffset() == offset_before:
                before = middle
            else:
                after = middle
        return after

    def _day_start(self, day: dt.date) -> dt.datetime:
        return self._wall_to_utc(dt.datetime.combine(day, dt.time.min))

    def is_working_day(self, day: dt.date) -> bool:
        """Whether the desk opens at all on `day` (a date in its zone): hours that weekday, no holiday."""
        return bool(self.week[day.weekday()]) and day not in self.holidays

    def open_intervals(self, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
        """The desk's open intervals on `day` (a date in its zone) as (start, end) UTC instants,
        in order; empty on a closed day. An interval entirely inside a skipped hour is empty and
        left out."""
        if not self.is_working_day(day):
            return []
        midnight = dt.datetime.combine(day, dt.time.min)
        result = []
        for opens, closes in self.week[day.weekday()]:
            start = self._wall_to_utc(midnight + dt.timedelta(minutes=opens))
            end = self._wall_to_utc(midnight + dt.timedelta(minutes=closes))
            if end > start:
                result.append((start, end))
        return result

    def _local_date(self, instant: dt.datetime) -> dt.date:
        return instant.astimezone(self.zone).date()

    # --- the arithmetic ---------------------------------------------------------------------------

    def is_open(self, at: dt.datetime) -> bool:
        """Whether the desk is open at `at` (an opening instant is open, a closing one is not)."""
        at = _aware(at, "at")
        return any(start <= at < end for start, end in self.open_intervals(self._local_date(at)))

    def add_business_time(self, start: dt.datetime, duration: dt.timedelta) -> dt.datetime:
        """The UTC instant when `duration` of business time has passed since `start`."""
        current = _aware(start, "start")
        if duration < dt.timedelta(0):
            raise ValueError(f"duration must not be negative, got {duration!r}")
        remaining = duration
        day = self._local_date(current)
        for _ in range(MAX_CLOSED_DAYS):
            for opens, closes in self.open_intervals(day):
                if closes <= current:
                    continue
                begin = max(opens, current)
                if remaining <= closes - begin:
                    return begin + remaining
                remaining -= closes - begin
                current = closes
            day += dt.timedelta(days=1)
        raise ValueError(f"{self!r} stays closed for more than {MAX_CLOSED_DAYS} days")

    def add_business_minutes(self, start: dt.datetime, minutes: int) -> dt.datetime:
        """The UTC instant when `minutes` business minutes have passed since `start`: the due time of
        an SLA of that many minutes opened at `start`. Zero minutes is `start` itself when the desk
        is open, else its next opening."""
        if isinstance(minutes, bool) or not isinstance(minutes, int):
            raise TypeError(f"minutes must be an int, got {minutes!r}")
        if minutes < 0:
            raise ValueError(f"minutes must not be negative, got {minutes}")
        return self.add_business_time(start, dt.timedelta(minutes=minutes))

    def business_time_between(self, a: dt.datetime, b: dt.datetime) -> dt.timedelta:
        """Business time from `a` to `b`; negative when `b` comes before `a`."""
        a, b = _aware(a, "a"), _aware(b, "b")
        if b < a:
            return -self.business_time_between(b, a)
        total = dt.timedelta(0)
        day, last = self._local_date(a), self._local_date(b)
        while day <= last:
            for opens, closes in self.open_intervals(day):
                begin, end = max(opens, a), min(closes, b)
                if end > begin:
                    total += end - begin
            day += dt.timedelta(days=1)
        return total

    def business_minutes_between(self, a: dt.datetime, b: dt.datetime) -> float:
        """Business minutes from `a` to `b` (fractions kept); negative when `b` comes before `a`.
        For whole `minutes`, ``business_minutes_between(s, add_business_minutes(s, minutes))``
        is `minutes`."""
        return self.business_time_between(a, b).total_seconds() / 60

    def add_working_days(self, start: dt.datetime, days: int) -> dt.datetime:
        """The end of the `days`-th working day after the day of `start`, as a UTC instant.

        Days are dates in the desk's zone. A working day is one with business hours that is not a
        holiday. The day of `start` itself never counts, whether or not it is a working day and
        whatever the hour: a complaint registered on Friday 10:00, or on Saturday, with 5 working
        days has Monday to Friday of the next week and is due at the midnight ending that Friday,
        local time (the whole last day is allowed, not only its business hours). Zero days is the
        end of the day of `start`.
        """
        if isinstance(days, bool) or not isinstance(days, int) or days < 0:
            raise ValueError(f"days must be a whole number, 0 or more, got {days!r}")
        day = self._local_date(_aware(start, "start"))
        counted = 0
        for _ in range(MAX_CLOSED_DAYS + days * 7):
            if counted == days:
                return self._day_start(day + dt.timedelta(days=1))
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        raise ValueError(f"{self!r} has no working days for more than {MAX_CLOSED_DAYS} days")

    def add_business_minutes_paused(
        self, start: dt.datetime, minutes: int,
        pauses: Iterable[tuple[dt.datetime, dt.datetime | None]],
    ) -> dt.datetime | None:
        """The due time of a clock of `minutes` business minutes started at `start` that stood still
        during `pauses` ((from, until) instants; until None: still paused).

        Business time inside a pause does not count; pauses may overlap or lie partly before
        `start`. A pause that begins at or after the due time it would have delayed changes
        nothing (the clock had run out: the SLA was already breached). While a pause that began
        before the due time is still open, there is no due time: None.
        """
        start = _aware(start, "start")
        spans: list[tuple[dt.datetime, dt.datetime | None]] = []
        for paused_from, paused_until in sorted(
                ((_aware(f, "pause start"), None if u is None else _aware(u, "pause end")) for f, u in pauses),
                key=lambda span: span[0]):
            if paused_until is not None and paused_until < paused_from:
                raise ValueError(f"a pause ends before it starts: {paused_from} to {paused_until}")
            paused_from = max(paused_from, start)
            if paused_until is not None and paused_until <= paused_from:
                continue
            if spans and (spans[-1][1] is None or paused_from <= spans[-1][1]):  # merge overlaps
                last_from, last_until = spans[-1]
                spans[-1] = (last_from, None if paused_until is None or last_until is None
                             else max(last_until, paused_until))
            else:
                spans.append((paused_from, paused_until))
        paused = dt.timedelta(0)
        due = self.add_business_minutes(start, minutes)
        for paused_from, paused_until in spans:
            if paused_from >= due:
                break
            if paused_until is None:
                return None
            paused += self.business_time_between(paused_from, paused_until)
            due = self.add_business_time(start, dt.timedelta(minutes=minutes) + paused)
        return due
