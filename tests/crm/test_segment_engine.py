"""The segment engine alone (plumbing.segments, no Django): a fact an app registers is validated by its
own hooks and compiled to constant SQL with the values as parameters; errors name the part; a fact
not allowed reads as unknown. The apps' segments are tested against the database in tests/leads and
tests/marketing."""

from __future__ import annotations

import datetime as dt

import pytest

from plumbing.segments import FACTS, BadValue, DefinitionInvalid, Fact, definition_clean, definition_compile


def _colour(text: str, path: str) -> str:
    if text.lower() not in ("red", "blue"):
        raise BadValue(f"no colour “{text}”")
    return text.lower()


FACT = Fact("colour", "Colour", "choice", "Test", 1, column="c.colour", normalise=_colour,
            known=lambda scope, values: [v for v in values if v in scope])
DESK = Fact("test_desk", "Desk", "choice", "Test", 2, column="c.desk_id", ids=True)


@pytest.fixture(autouse=True)
def facts():
    with FACTS.temporarily(FACT, DESK):
        yield


def test_a_registered_fact_is_cleaned_by_its_hooks_and_compiled_with_values_as_parameters():
    clean = definition_clean({"match": "any", "conditions": [
        {"fact": "colour", "op": "in", "value": "Red, blue red"},
        {"fact": "test_desk", "op": "not_in", "value": ["7"]}]}, scope={"red", "blue"})
    assert clean["conditions"][0] == {"fact": "colour", "op": "in", "value": ["red", "blue"]}
    compiled = definition_compile(clean, brand_id=3, now=dt.datetime.now(dt.UTC), tz=dt.UTC)
    assert compiled.params == [3, ["red", "blue"], [7]]  # ids compared as integers
    assert compiled.text().endswith("AND ((c.colour = ANY(%s)) OR (NOT coalesce(c.desk_id = ANY(%s), false)))")


def test_bad_values_unknown_ones_and_facts_not_allowed_are_named_by_their_part():
    with pytest.raises(DefinitionInvalid) as caught:
        definition_clean({"conditions": [
            {"fact": "colour", "op": "in", "value": "green"},
            {"fact": "colour", "op": "in", "value": "blue"},
            {"fact": "test_desk", "op": "in", "value": "x1"},
            {"fact": "test_desk", "op": "in", "value": "1"}]}, scope={"red"}, allowed={"colour"})
    assert caught.value.fields == {
        "conditions.0.value": ["Colour: no colour “green”"],
        "conditions.1.value": ["Colour: unknown blue."],
        "conditions.2.fact": ["Unknown fact “test_desk”."],
        "conditions.3.fact": ["Unknown fact “test_desk”."],
    }
