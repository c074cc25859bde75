"""plumbing.process_cache: a value read once per process until anyone changes what it was read from;
then every process reads it again (here two caches on one version key stand for two processes)."""

from __future__ import annotations

import uuid

import redis

from crm.lib.redis import get_redis
from plumbing.process_cache import SharedVersionCache


def _pair(**options):
    key = f"crm:test-cache:{uuid.uuid4().hex}"
    made = [SharedVersionCache(key, client=get_redis, ttl=60, check_seconds=0, **options) for _ in range(2)]
    return key, made


def test_a_change_in_one_process_is_read_again_in_every_process():
    key, (web, worker) = _pair()
    reads = []

    def load():
        reads.append(1)
        return f"setup {len(reads)}"

    try:
        assert web.cached("desk", load) == "setup 1"
        assert web.cached("desk", load) == "setup 1" and worker.cached("desk", load) == "setup 2"
        assert len(reads) == 2  # once per process, then kept
        worker.invalidate()  # the worker saved a change
        assert web.cached("desk", load) == "setup 3" and worker.cached("desk", load) == "setup 4"
    finally:
        get_redis().delete(key)


def test_invalidate_bumps_again_once_the_transaction_commits():
    committed = []
    key, (cache, _other) = _pair(after_commit=committed.append)
    try:
        cache.invalidate()
        assert get_redis().get(key) == b"1" and committed == [cache.bump]
        committed[0]()  # the commit
        assert get_redis().get(key) == b"2"
    finally:
        get_redis().delete(key)


def test_an_entry_older_than_its_ttl_is_read_again():
    key, (cache, _other) = _pair()
    cache.ttl = 0
    values = iter(["first", "second"])
    try:
        assert cache.cached("k", lambda: next(values)) == "first"
        assert cache.cached("k", lambda: next(values)) == "second"
    finally:
        get_redis().delete(key)


def test_without_redis_nothing_is_cached_and_nothing_fails():
    down = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2)
    cache = SharedVersionCache("crm:test-cache:down", client=lambda: down, ttl=60)
    reads = []
    assert cache.cached("k", lambda: reads.append(1) or len(reads)) == 1
    assert cache.cached("k", lambda: reads.append(1) or len(reads)) == 2
    cache.invalidate()  # logged, not raised
