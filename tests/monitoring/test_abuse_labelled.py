"""The labelled set (demo.abuse_scenarios): every injected case of every kind, at both
intensities, is found, and none of the benign confounders (families at one address, a café's IP,
scalpers, steady partners, a bonus traded honestly) is."""

from __future__ import annotations

import pytest

from demo.abuse_scenarios import KINDS, labelled_run

pytestmark = pytest.mark.django_db


def test_each_kind_finds_its_injected_cases_and_no_confounder():
    scores = {s.kind: s for s in labelled_run(size=12, seed=3)}
    assert set(scores) == set(KINDS)
    for kind, score in scores.items():
        assert len(score.injected) >= 2, kind
        assert (kind, score.recall, score.precision) == (kind, 1.0, 1.0), (score.injected, score.found)
