"""The platform-neutral pieces of the adapter layer: server-time conversion, reference matching,
deal content hashes and what the errors say about a write's outcome."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest

from trading.adapters.base import (
    AuthFailed,
    Deal,
    DealEntry,
    DealKind,
    PlatformProtocolError,
    PlatformRejected,
    PlatformTimeout,
    PlatformUnavailable,
    ServerClock,
    Side,
    comment_has_reference,
)

UTC = dt.UTC


def test_fixed_offset_server_time_converts_both_ways():
    clock = ServerClock(offset_minutes=120)
    utc = dt.datetime(2026, 3, 2, 8, 0, 5, tzinfo=UTC)
    server_seconds = clock.from_utc(utc)
    assert server_seconds == int(utc.timestamp()) + 7200
    assert clock.to_utc(server_seconds) == utc
    assert clock.to_utc_msc(server_seconds * 1000 + 250) == utc + dt.timedelta(milliseconds=250)


def test_named_zone_follows_daylight_saving():
    clock = ServerClock(tz_name="Europe/Athens")  # UTC+2 in winter, UTC+3 in summer
    winter = dt.datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    summer = dt.datetime(2026, 7, 15, 12, 0, tzinfo=UTC)
    assert clock.from_utc(winter) - int(winter.timestamp()) == 2 * 3600
    assert clock.from_utc(summer) - int(summer.timestamp()) == 3 * 3600
    assert clock.to_utc(clock.from_utc(summer)) == summer
    assert clock.to_utc(clock.from_utc(winter)) == winter


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        ServerClock().from_utc(dt.datetime(2026, 1, 1))  # noqa: DTZ001


@pytest.mark.parametrize(
    ("comment", "found"),
    [
        ("dep K9ZX4", True),
        ("K9ZX4", True),
        ("wd:K9ZX4/2", True),
        ("dep K9ZX45", False),
        ("depK9ZX4", False),
        ("", False),
    ],
)
def test_reference_must_be_a_whole_token_in_the_comment(comment, found):
    assert comment_has_reference(comment, "K9ZX4") is found


def _deal(**changes) -> Deal:
    deal = Deal(
        deal_id=7,
        login=100_001,
        time=dt.datetime(2026, 3, 2, tzinfo=UTC),
        platform_time_msc=1_772_416_800_000,
        kind=DealKind.TRADE,
        action=0,
        entry=DealEntry.IN,
        side=Side.BUY,
        position_id=5,
        order_id=5,
        symbol="EURUSD",
        volume=Decimal("1.00"),
        price=Decimal("1.08500"),
        profit=Decimal("0.00"),
        commission=Decimal("-3.50"),
        swap=Decimal("0"),
        fee=Decimal("0"),
        comment="",
        reason=0,
        market_bid=None,
        market_ask=None,
        raw={"Deal": "7"},
    )
    return dataclasses.replace(deal, **changes)


def test_content_hash_ignores_number_formatting_but_not_values():
    base = _deal()
    assert (
        _deal(volume=Decimal("1"), price=Decimal("1.085"), profit=Decimal("0")).content_hash
        == base.content_hash
    )
    assert _deal(raw={"Deal": "7", "Extra": "x"}).content_hash == base.content_hash
    assert _deal(profit=Decimal("-1.00")).content_hash != base.content_hash
    assert _deal(comment="fixed").content_hash != base.content_hash
    assert base.money_effect == Decimal("-3.50")


def test_errors_say_whether_a_write_may_have_been_applied():
    assert PlatformTimeout("no answer").outcome_unknown
    assert not PlatformTimeout("connect timed out", request_sent=False).outcome_unknown
    assert PlatformUnavailable("dropped", request_sent=True).outcome_unknown
    assert not PlatformUnavailable("refused").outcome_unknown
    assert PlatformProtocolError("garbage").outcome_unknown
    assert not PlatformRejected(10019, "not enough money").outcome_unknown
    assert not AuthFailed("bad password").outcome_unknown
    assert PlatformRejected(13, "x").not_found and str(PlatformRejected(3, "bad")) == "[rejected] bad"
