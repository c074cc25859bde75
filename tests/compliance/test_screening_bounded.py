"""Screening that cannot hold the worker (issue 57, item 7): a re-screen, and one client's screen
against lists longer than a batch, hold one batch of the list's index in memory, not the whole
list's, and still find the listed client; a client whose name has no letter ("-1 -1", "123", "!!!")
is screened at once, however long the lists, without building any index.

Memory is measured with tracemalloc in this process: the raw limit is the index of the whole list,
built in the same run (what a re-screen held before), and a re-screen must stay well under it."""

from __future__ import annotations

import random
import time
import tracemalloc
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from compliance import screening
from compliance.models import ScreeningHit
from compliance.selectors import listed_entries
from compliance.services import client_screen, clients_rescreen_all, clients_rescreen_version, watchlist_load
from compliance.watchlists.parsers import SourceFile
from crm.models import RoleCode
from matching import Screener
from tests.factories import make_brand, make_client, make_desk, make_user

pytestmark = pytest.mark.django_db

ENTRIES = 240
BATCH = 30
SYLLABLES = ["ba", "de", "fi", "go", "ku", "la", "me", "ni", "po", "ru", "sa", "te", "vi", "zo", "kha", "sho", "mar"]


def _word(rng: random.Random, parts: int) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(parts)).capitalize()


def _sdn(rng: random.Random, count: int) -> tuple[bytes, tuple[str, str]]:
    """An OFAC-layout list of `count` people; the first one's (given name, surname)."""
    lines, first = [], ("", "")
    for n in range(count):
        given, surname = _word(rng, 2), _word(rng, 3)
        if n == 0:
            first = (given, surname)
        lines.append(f'{10_000 + n},"{surname.upper()}, {given}",individual,"SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,'
                     f'-0- ,"DOB 0{1 + n % 9} Jan 19{50 + n % 40}."')
    return ("\r\n".join(lines) + "\r\n").encode(), first


@pytest.fixture
def big(db, django_capture_on_commit_callbacks):
    data, (given, surname) = _sdn(random.Random(57), ENTRIES)
    with django_capture_on_commit_callbacks(execute=False):  # re-screened below, by the test
        version = watchlist_load(name="Big list", fmt="ofac-csv", files=[SourceFile("sdn.csv", data)])
    agent = make_user(role_code=RoleCode.SALES_AGENT, desk=make_desk(brand=make_brand()))
    listed = make_client(actor=agent, first_name=given, last_name=surname, email="listed@example.com")
    for n in range(3):
        make_client(actor=agent, first_name=f"Anna{'bcd'[n]}", last_name="Quietly", email=f"q{n}@example.com")
    screening._screener_cache.clear()
    return SimpleNamespace(version=version, agent=agent, listed=listed)


def _peak(work: Callable[[], Any]) -> tuple[int, Any]:
    tracemalloc.start()
    try:
        result = work()
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


def test_a_rescreen_holds_one_batch_of_the_lists_index_not_the_whole_list(big, settings):
    settings.COMPLIANCE_SCREENING_ENTRY_BATCH = BATCH
    whole, screener = _peak(lambda: Screener(listed_entries([big.version])))
    assert len(screener.entries) == ENTRIES
    del screener
    after_load, report = _peak(lambda: clients_rescreen_version(version_id=big.version.pk))
    assert (report.clients, report.raised) == (4, 1)
    assert ScreeningHit.objects.get().client == big.listed
    daily, _ = _peak(clients_rescreen_all)
    # The raw limit is the whole list's index; one batch is under a seventh of it.
    assert after_load < whole / 3, (after_load, whole)
    assert daily < whole / 3, (daily, whole)


def test_one_clients_screen_streams_lists_longer_than_a_batch_and_keeps_an_index_only_of_one(big, settings):
    settings.COMPLIANCE_SCREENING_ENTRY_BATCH = BATCH
    whole, _ = _peak(lambda: Screener(listed_entries([big.version])))
    peak, hits = _peak(lambda: client_screen(client_id=big.listed.pk, trigger="details_changed"))
    assert [hit.client for hit in hits] == [big.listed]
    assert peak < whole / 3, (peak, whole)
    assert not screening._screener_cache  # nothing of the list kept after the screen
    settings.COMPLIANCE_SCREENING_ENTRY_BATCH = ENTRIES  # the lists fit one batch: their index is kept
    other = make_client(actor=big.agent, first_name=big.listed.first_name, last_name=big.listed.last_name,
                        email="again@example.com")
    assert [hit.client for hit in client_screen(client_id=other.pk, trigger="details_changed")] == [other]
    assert screening._screener_cache


def test_a_name_without_letters_is_screened_at_once_without_building_an_index(big, django_assert_num_queries):
    for first, last in (("-1", "-1"), ("123", ""), ("!!!", "")):
        client = make_client(actor=big.agent, first_name=first, last_name=last, email=f"{first.strip('!-')}x@example.com")
        screening._screener_cache.clear()
        began = time.perf_counter()
        with django_assert_num_queries(1):  # the client's row; not the lists
            assert client_screen(client_id=client.pk, trigger="details_changed") == []
        assert time.perf_counter() - began < 0.5  # a query and no index: milliseconds
        assert not screening._screener_cache
