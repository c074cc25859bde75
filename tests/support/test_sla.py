"""Business-hours arithmetic of support.sla, each case computed by hand in Cyprus time.

Cyprus (Europe/Nicosia) is UTC+2 in winter and UTC+3 in summer; in 2026 the clocks go forward on
Sunday 29 March (03:00 becomes 04:00) and back on Sunday 25 October (04:00 becomes 03:00).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm.lib.validation import InvalidValue
from support.sla import BusinessCalendar

CY = ZoneInfo("Europe/Nicosia")
UTC = dt.UTC
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
NINE_TO_SIX = {day: [["09:00", "18:00"]] for day in WEEKDAYS}
SPLIT = {day: [["09:00", "13:00"], ["14:00", "18:00"]] for day in WEEKDAYS}


def cy(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=CY)


def desk(hours: dict[str, list[list[str]]] | None = None, holidays: tuple[dt.date, ...] = (),
         zone: str = "Europe/Nicosia") -> BusinessCalendar:
    return BusinessCalendar(time_zone=zone, business_hours=NINE_TO_SIX if hours is None else hours,
                            holidays=holidays)


# --- the example and ordinary days ---------------------------------------------------------

def test_a_ticket_opened_friday_1755_with_a_one_hour_sla_is_due_monday_0955():
    due = desk().add_business_minutes(cy(2026, 11, 27, 17, 55), 60)  # a Friday
    assert due == cy(2026, 11, 30, 9, 55)
    assert due.tzinfo == UTC


def test_the_weekend_is_skipped_across_the_spring_change_of_offset():
    # Friday 27 March is UTC+2, Monday 30 March UTC+3: the wall-clock answer is the same.
    due = desk().add_business_minutes(cy(2026, 3, 27, 17, 55), 60)
    assert due == cy(2026, 3, 30, 9, 55)
    assert due == dt.datetime(2026, 3, 30, 6, 55, tzinfo=UTC)


def test_a_due_time_inside_the_same_day_is_plain_addition():
    assert desk().add_business_minutes(cy(2026, 11, 24, 10, 15), 90) == cy(2026, 11, 24, 11, 45)


def test_a_start_before_opening_counts_from_the_opening():
    assert desk().add_business_minutes(cy(2026, 11, 24, 6, 30), 60) == cy(2026, 11, 24, 10, 0)


def test_a_start_after_closing_counts_from_the_next_morning():
    assert desk().add_business_minutes(cy(2026, 11, 24, 21, 0), 60) == cy(2026, 11, 25, 10, 0)


def test_a_start_exactly_at_closing_counts_from_the_next_opening():
    assert desk().add_business_minutes(cy(2026, 11, 24, 18, 0), 1) == cy(2026, 11, 25, 9, 1)
    assert not desk().is_open(cy(2026, 11, 24, 18, 0))
    assert desk().is_open(cy(2026, 11, 24, 9, 0))


def test_a_due_time_landing_on_closing_stays_at_closing():
    assert desk().add_business_minutes(cy(2026, 11, 24, 17, 0), 60) == cy(2026, 11, 24, 18, 0)


def test_zero_minutes_outside_hours_is_the_next_opening():
    assert desk().add_business_minutes(cy(2026, 11, 28, 12, 0), 0) == cy(2026, 11, 30, 9, 0)
    assert desk().add_business_minutes(cy(2026, 11, 24, 12, 0), 0) == cy(2026, 11, 24, 12, 0)


def test_a_lunch_break_is_not_counted():
    calendar = desk(SPLIT)
    assert calendar.add_business_minutes(cy(2026, 11, 24, 12, 30), 60) == cy(2026, 11, 24, 14, 30)
    assert calendar.add_business_minutes(cy(2026, 11, 24, 13, 20), 10) == cy(2026, 11, 24, 14, 10)
    assert calendar.business_minutes_between(cy(2026, 11, 24, 9, 0), cy(2026, 11, 24, 18, 0)) == 480


def test_several_days_of_minutes_run_over_nights_and_a_weekend():
    # Thursday 16:00: 2 h Thursday, 9 h Friday, then 1 h on Monday = 12 h.
    assert desk().add_business_minutes(cy(2026, 11, 26, 16, 0), 12 * 60) == cy(2026, 11, 30, 10, 0)


def test_business_time_runs_across_midnight_when_the_desk_is_open_then():
    late = {"mon": [["20:00", "24:00"]], "tue": [["00:00", "02:00"], ["20:00", "24:00"]]}
    calendar = desk(late)
    assert calendar.add_business_minutes(cy(2026, 11, 23, 23, 30), 60) == cy(2026, 11, 24, 0, 30)
    assert calendar.business_minutes_between(cy(2026, 11, 23, 20, 0), cy(2026, 11, 24, 2, 0)) == 360
    # Tuesday 02:00 is closing time: the next minute is Tuesday 20:00's.
    assert calendar.add_business_minutes(cy(2026, 11, 24, 2, 0), 1) == cy(2026, 11, 24, 20, 1)


def test_holidays_close_the_whole_day():
    christmas = desk(holidays=(dt.date(2026, 12, 24), dt.date(2026, 12, 25)))
    # Wednesday 23 December 17:30: 30 minutes that day, then Thursday and Friday are holidays.
    assert christmas.add_business_minutes(cy(2026, 12, 23, 17, 30), 60) == cy(2026, 12, 28, 9, 30)
    assert christmas.business_minutes_between(cy(2026, 12, 23, 0, 0), cy(2026, 12, 29, 0, 0)) == 2 * 540
    assert not christmas.is_working_day(dt.date(2026, 12, 25))


def test_a_holiday_is_a_date_in_the_desks_zone_not_in_utc():
    # 23:30 UTC on Thursday 24 December is already Friday 01:30 in Cyprus, the holiday.
    tokyo = desk(zone="Asia/Tokyo", holidays=(dt.date(2026, 12, 25),))
    start = dt.datetime(2026, 12, 24, 23, 30, tzinfo=UTC)
    assert tokyo.add_business_minutes(start, 60) == dt.datetime(2026, 12, 28, 10, 0, tzinfo=ZoneInfo("Asia/Tokyo"))


def test_the_same_instant_has_other_dues_in_other_zones():
    start = dt.datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # 17:00 in Cyprus, 10:00 in New York
    assert desk().add_business_minutes(start, 120) == cy(2026, 11, 25, 10, 0)
    new_york = desk(zone="America/New_York")
    assert new_york.add_business_minutes(start, 120) == dt.datetime(2026, 11, 24, 17, 0, tzinfo=UTC)


# --- changes of the clocks ------------------------------------------------------------------------

def test_a_desk_open_all_sunday_has_23_hours_when_the_clocks_go_forward():
    calendar = desk({"sun": [["00:00", "24:00"]]})
    assert calendar.business_minutes_between(cy(2026, 3, 29, 0, 0), cy(2026, 3, 30, 0, 0)) == 23 * 60
    # 02:30 plus one hour of business time: 03:00 never happens, so the wall clock shows 04:30.
    assert calendar.add_business_minutes(cy(2026, 3, 29, 2, 30), 60) == cy(2026, 3, 29, 4, 30)


def test_a_desk_open_all_sunday_has_25_hours_when_the_clocks_go_back():
    calendar = desk({"sun": [["00:00", "24:00"]]})
    assert calendar.business_minutes_between(cy(2026, 10, 25, 0, 0), cy(2026, 10, 26, 0, 0)) == 25 * 60
    # 03:30 summer time plus one hour is 03:30 again, winter time.
    start = cy(2026, 10, 25, 3, 30)  # fold=0: the first 03:30
    assert calendar.add_business_minutes(start, 60) == dt.datetime(2026, 10, 25, 1, 30, tzinfo=UTC)


def test_an_opening_in_the_skipped_hour_opens_when_the_clocks_jump():
    calendar = desk({"sun": [["03:30", "05:00"]]})
    # 03:30 does not exist on 29 March: the desk opens at 04:00 summer time (01:00 UTC).
    assert calendar.open_intervals(dt.date(2026, 3, 29)) == [
        (dt.datetime(2026, 3, 29, 1, 0, tzinfo=UTC), dt.datetime(2026, 3, 29, 2, 0, tzinfo=UTC))]
    assert calendar.add_business_minutes(cy(2026, 3, 29, 0, 0), 15) == cy(2026, 3, 29, 4, 15)


def test_an_opening_in_the_repeated_hour_is_its_first_occurrence():
    calendar = desk({"sun": [["03:30", "05:00"]]})
    # The first 03:30 is summer time (00:30 UTC); 05:00 is winter time (03:00 UTC): 150 minutes.
    assert calendar.open_intervals(dt.date(2026, 10, 25)) == [
        (dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC), dt.datetime(2026, 10, 25, 3, 0, tzinfo=UTC))]
    assert calendar.business_minutes_between(cy(2026, 10, 25, 0, 0), cy(2026, 10, 26, 0, 0)) == 150


def test_an_interval_entirely_inside_the_skipped_hour_is_closed_that_day():
    calendar = desk({"sun": [["03:10", "03:50"]], "mon": [["09:00", "10:00"]]})
    assert calendar.open_intervals(dt.date(2026, 3, 29)) == []
    assert calendar.add_business_minutes(cy(2026, 3, 29, 0, 0), 10) == cy(2026, 3, 30, 9, 10)


def test_office_hours_are_nine_hours_on_either_side_of_a_change():
    calendar = desk({day: [["09:00", "18:00"]] for day in ("fri", "mon")})
    assert calendar.business_minutes_between(cy(2026, 10, 23, 0, 0), cy(2026, 10, 27, 0, 0)) == 18 * 60


# --- working days (a complaint's acknowledgement) --------------------------------------------------

def test_five_working_days_end_at_midnight_after_the_fifth():
    # Registered Friday 27 November at 10:00: Monday 30 to Friday 4 December; due as 5 December begins.
    assert desk().add_working_days(cy(2026, 11, 27, 10, 0), 5) == cy(2026, 12, 5, 0, 0)


def test_the_day_of_registration_never_counts_even_on_a_weekend():
    assert desk().add_working_days(cy(2026, 11, 28, 23, 0), 1) == cy(2026, 12, 1, 0, 0)  # Saturday
    assert desk().add_working_days(cy(2026, 11, 30, 0, 5), 1) == cy(2026, 12, 2, 0, 0)  # Monday


def test_working_days_skip_holidays_and_zero_is_the_end_of_the_day():
    christmas = desk(holidays=(dt.date(2026, 12, 24), dt.date(2026, 12, 25)))
    # Tuesday 22 December: Wed 23, (24, 25 holidays, weekend), Mon 28, Tue 29, Wed 30, Thu 31.
    assert christmas.add_working_days(cy(2026, 12, 22, 15, 0), 5) == cy(2027, 1, 1, 0, 0)
    assert christmas.add_working_days(cy(2026, 12, 22, 15, 0), 0) == cy(2026, 12, 23, 0, 0)


def test_the_day_of_registration_is_the_desks_date():
    # 23:00 UTC on Friday is already Saturday in Cyprus: Monday is the first working day.
    friday_night = dt.datetime(2026, 11, 27, 23, 0, tzinfo=UTC)
    assert desk().add_working_days(friday_night, 1) == cy(2026, 12, 1, 0, 0)


# --- pauses (the resolution clock stops while the ticket waits for the client) --------------------

def test_a_pause_delays_the_due_time_by_the_business_time_it_covered():
    calendar = desk()
    start = cy(2026, 11, 24, 9, 0)  # Tuesday, 8 business hours to resolve
    pauses = [(cy(2026, 11, 24, 11, 0), cy(2026, 11, 24, 13, 30))]
    assert calendar.add_business_minutes(start, 480) == cy(2026, 11, 24, 17, 0)
    assert calendar.add_business_minutes_paused(start, 480, pauses) == cy(2026, 11, 25, 10, 30)


def test_a_pause_over_a_night_counts_only_its_business_hours():
    pauses = [(cy(2026, 11, 24, 16, 0), cy(2026, 11, 25, 10, 0))]  # 2 h Tuesday + 1 h Wednesday
    # Due Tuesday 17:00 unpaused; 3 h later in business time: 18:00 Tuesday, then 2 h Wednesday.
    assert desk().add_business_minutes_paused(cy(2026, 11, 24, 9, 0), 480, pauses) == cy(2026, 11, 25, 11, 0)


def test_overlapping_pauses_count_once_and_an_open_one_stops_the_clock():
    calendar = desk()
    start = cy(2026, 11, 24, 9, 0)
    pauses = [(cy(2026, 11, 24, 10, 0), cy(2026, 11, 24, 11, 0)),
              (cy(2026, 11, 24, 10, 30), cy(2026, 11, 24, 12, 0))]
    # Paused 10:00 to 12:00, two hours: due 19:00, past closing, so 10:00 on Wednesday.
    assert calendar.add_business_minutes_paused(start, 480, pauses) == cy(2026, 11, 25, 10, 0)
    assert calendar.add_business_minutes_paused(start, 480, [(cy(2026, 11, 24, 10, 0), None)]) is None


def test_a_pause_after_the_clock_ran_out_changes_nothing():
    start = cy(2026, 11, 24, 9, 0)
    late = [(cy(2026, 11, 24, 17, 0), None), (cy(2026, 11, 25, 9, 0), cy(2026, 11, 25, 12, 0))]
    assert desk().add_business_minutes_paused(start, 480, late) == cy(2026, 11, 24, 17, 0)


def test_a_pause_that_pushes_the_due_time_into_a_second_pause_counts_both():
    # 60 minutes from 09:00; paused 09:30-10:30 makes it 10:30+30 = 11:00; a pause from 10:45 to
    # 11:15 now falls before that due time and adds its 30 minutes: 11:30.
    pauses = [(cy(2026, 11, 24, 9, 30), cy(2026, 11, 24, 10, 30)),
              (cy(2026, 11, 24, 10, 45), cy(2026, 11, 24, 11, 15))]
    assert desk().add_business_minutes_paused(cy(2026, 11, 24, 9, 0), 60, pauses) == cy(2026, 11, 24, 11, 30)


# --- validation -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("hours", "field", "words"), [
    ({"mon": [["13:00", "09:00"]]}, "business_hours", "Monday: the interval 13:00-09:00 ends before it starts"),
    ({"tue": [["09:00", "09:00"]]}, "business_hours", "Tuesday: the interval 09:00-09:00 ends before"),
    ({"wed": [["09:00", "13:00"], ["12:00", "18:00"]]}, "business_hours",
     "Wednesday: the intervals 09:00-13:00 and 12:00-18:00 overlap"),
    ({"thu": [["9am", "18:00"]]}, "business_hours", "Thursday: '9am' is not a time of day"),
    ({"fri": [["09:00", "24:30"]]}, "business_hours", "Friday: '24:30' is not a time of day"),
    ({"sat": [["09:00"]]}, "business_hours", "Saturday: ['09:00'] is not an [opening, closing] pair"),
    ({"monday": [["09:00", "18:00"]]}, "business_hours", "Unknown day 'monday'"),
    ({"mon": [], "sun": []}, "business_hours", "no business hours at all"),
    ({}, "business_hours", "no business hours at all"),
])
def test_a_bad_week_is_refused_naming_the_problem(hours, field, words):
    with pytest.raises(InvalidValue) as caught:
        desk(hours)
    assert caught.value.field == field
    assert words in caught.value.message


def test_an_unknown_time_zone_is_refused_by_name():
    with pytest.raises(InvalidValue) as caught:
        desk(zone="Europe/Atlantis")
    assert caught.value.field == "time_zone"
    assert "Unknown time zone 'Europe/Atlantis'" in caught.value.message
    with pytest.raises(InvalidValue):
        desk(zone="")


def test_touching_intervals_are_one_stretch():
    calendar = desk({"mon": [["13:00", "18:00"], ["09:00", "13:00"]]})
    assert calendar.add_business_minutes(cy(2026, 11, 23, 12, 30), 60) == cy(2026, 11, 23, 13, 30)


def test_naive_datetimes_and_negative_minutes_are_programming_errors():
    with pytest.raises(ValueError, match="aware"):
        desk().add_business_minutes(dt.datetime(2026, 11, 24, 9, 0), 60)
    with pytest.raises(ValueError, match="negative"):
        desk().add_business_minutes(cy(2026, 11, 24, 9, 0), -1)


def test_a_calendar_closed_by_holidays_for_years_says_so_instead_of_looping():
    years = tuple(dt.date(2026, 1, 1) + dt.timedelta(days=n) for n in range(3700))
    with pytest.raises(ValueError, match="closed for more than"):
        desk({"mon": [["09:00", "10:00"]]}, holidays=years).add_business_minutes(cy(2026, 1, 1, 0, 0), 1)


# --- invariants -----------------------------------------------------------------------------------

CALENDARS = {
    "split week in Cyprus with holidays": desk(SPLIT, holidays=(dt.date(2026, 3, 30), dt.date(2026, 10, 26))),
    "around the clock on Sundays in Cyprus": desk({"sun": [["00:00", "24:00"]], "wed": [["03:30", "05:00"]]}),
    "a late shift in Chile (midnight changes)": desk(
        {"sat": [["20:00", "24:00"]], "sun": [["00:00", "02:00"]]}, zone="America/Santiago"),
}
instants = st.datetimes(min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2027, 12, 31),
                        timezones=st.just(UTC))


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(sorted(CALENDARS)), start=instants, minutes=st.integers(0, 40 * 60))
def test_adding_minutes_then_measuring_gives_them_back(name, start, minutes):
    calendar = CALENDARS[name]
    due = calendar.add_business_minutes(start, minutes)
    assert due >= start
    assert calendar.business_minutes_between(start, due) == minutes
    if minutes:
        # The due time is the first such instant: one second earlier is short of the minutes.
        assert calendar.business_minutes_between(start, due - dt.timedelta(seconds=1)) < minutes


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(sorted(CALENDARS)), start=instants, first=st.integers(0, 3000),
       second=st.integers(0, 3000))
def test_minutes_add_up_in_steps(name, start, first, second):
    calendar = CALENDARS[name]
    in_one = calendar.add_business_minutes(start, first + second)
    assert calendar.add_business_minutes(calendar.add_business_minutes(start, first), second) == in_one


def test_a_midnight_that_never_happens_joins_the_late_shift_to_the_early_one():
    # Chile's clocks jump from Saturday 24:00 to Sunday 01:00 on 6 September 2026 (UTC-4 to UTC-3):
    # Saturday 20:00-24:00 is four hours and Sunday's 00:00-02:00 only one.
    santiago = ZoneInfo("America/Santiago")
    calendar = desk({"sat": [["20:00", "24:00"]], "sun": [["00:00", "02:00"]]}, zone="America/Santiago")
    saturday = dt.datetime(2026, 9, 5, 20, 0, tzinfo=santiago)
    assert calendar.business_minutes_between(saturday, saturday + dt.timedelta(days=1)) == 300
    assert calendar.add_business_minutes(saturday, 270) == dt.datetime(2026, 9, 6, 1, 30, tzinfo=santiago)
    assert calendar.add_working_days(saturday, 0) == dt.datetime(2026, 9, 6, 4, 0, tzinfo=UTC)


pause_spans = st.lists(st.tuples(st.integers(0, 10 * 24 * 60), st.integers(1, 3 * 24 * 60)), max_size=4)


@settings(max_examples=200, deadline=None)
@given(start=instants, minutes=st.integers(1, 5000), spans=pause_spans)
def test_a_paused_clock_counts_exactly_its_minutes_outside_the_pauses(start, minutes, spans):
    calendar = CALENDARS["split week in Cyprus with holidays"]
    pauses = [(start + dt.timedelta(minutes=offset), start + dt.timedelta(minutes=offset + length))
              for offset, length in spans]
    due = calendar.add_business_minutes_paused(start, minutes, pauses)
    assert due is not None

    def counted(until: dt.datetime) -> dt.timedelta:
        # Business time from start to `until` outside the (merged) pauses, second by second of overlap.
        total = calendar.business_time_between(start, until)
        covered: list[tuple[dt.datetime, dt.datetime]] = []
        for begin, end in sorted((max(b, start), min(e, until)) for b, e in pauses):
            if end <= begin:
                continue
            if covered and begin <= covered[-1][1]:
                covered[-1] = (covered[-1][0], max(covered[-1][1], end))
            else:
                covered.append((begin, end))
        return total - sum((calendar.business_time_between(b, e) for b, e in covered), dt.timedelta(0))

    assert counted(due) == dt.timedelta(minutes=minutes)
    assert counted(due - dt.timedelta(seconds=1)) < dt.timedelta(minutes=minutes)
