"""Leases (trading.lease) against the real Redis: short, renewed while held, taken over safely once
their holder stops renewing, and a stale holder can neither renew, release nor keep writing."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.waiting import scaled, wait_until
from trading.lease import Lease, LeaseLost, lease_hold, lease_info


@pytest.fixture
def key() -> str:
    return f"crm:test:lease:{uuid.uuid4().hex}"


def test_a_held_lease_keeps_others_out_and_is_free_again_when_released(key):
    with lease_hold(key, ttl=5, owner="worker-a") as held:
        assert held is not None
        with lease_hold(key, ttl=5, owner="worker-b") as other:
            assert other is None
        info = lease_info(key)
        assert info is not None and info.owner == "worker-a" and 0 < info.expires_in <= 5
    assert lease_info(key) is None
    with lease_hold(key, ttl=5, owner="worker-b") as other:
        assert other is not None


def test_it_is_released_when_the_work_fails(key):
    with pytest.raises(ZeroDivisionError), lease_hold(key, ttl=5):
        1 / 0  # noqa: B018 - the work fails
    assert lease_info(key) is None


def test_the_heartbeat_keeps_a_running_holders_lease_beyond_its_ttl(key):
    ttl = scaled(0.6)  # short, but long enough for the heartbeat thread to get its turn on a busy machine
    with lease_hold(key, ttl=ttl, owner="worker-a") as held:
        first = lease_info(key)
        time.sleep(2.5 * ttl)
        held.check()  # still ours
        assert not Lease(key, ttl=ttl).acquire()
        info = lease_info(key)
        assert info.owner == "worker-a" and info.acquired_at == first.acquired_at
        assert info.renewed_at > first.renewed_at


def test_a_dead_holders_lease_is_taken_over_and_the_stale_holder_cannot_touch_it(key):
    stale = Lease(key, ttl=scaled(0.5), owner="killed-worker")
    assert stale.acquire()
    stale._stop.set()  # the holder freezes: nothing renews the lease any more
    with lease_hold(key, ttl=5, owner="worker-b") as fresh:
        assert fresh is None  # not before the TTL is over
    wait_until(lambda: lease_info(key) is None, timeout=5, what="the stale lease to expire")
    with lease_hold(key, ttl=5, owner="worker-b") as fresh:
        assert fresh is not None
        assert fresh.fence > stale.fence
        # The stale holder wakes up: it may neither extend nor free the new holder's lease,
        # and its work stops before writing.
        assert not stale.renew()
        assert not stale.release()
        with pytest.raises(LeaseLost):
            stale.check()
        assert lease_info(key).owner == "worker-b"
        fresh.check()
