"""Form values fit their fields' constraints, or no value is offered."""

from __future__ import annotations

import re

import pytest

from matf.agents.values import Field, example_for_pattern, value_for


@pytest.mark.parametrize(
    "pattern",
    [
        r"[0-9]{3}-[0-9]{4}",
        r"[A-Z]{2}\d{3}",
        r"(foo|bar)+",
        r"\w+@\w+\.com",
        r"[^x]{2,}",
        r"\d{5}(-\d{4})?",
        r"[a-z]+",
        r"[^abc]+",
        r"(?:ab|cd){2}",
    ],
)
def test_generated_values_match_their_pattern(pattern: str) -> None:
    value = example_for_pattern(pattern)
    assert value is not None and re.fullmatch(pattern, value)


def test_numbers_stay_within_min_and_max() -> None:
    for low, high in (("1", "10"), ("5", "5"), ("-3", "0"), (None, "0"), ("100", None)):
        value = float(value_for(Field(tag="input", type="number", min=low, max=high)) or "nan")
        assert (low is None or value >= float(low)) and (high is None or value <= float(high))


def test_lengths_are_respected() -> None:
    long_enough = value_for(Field(tag="textarea", minlength=120))
    assert long_enough is not None and len(long_enough) >= 120
    short = value_for(Field(tag="input", type="text", name="name", maxlength=4))
    assert short is not None and len(short) <= 4


def test_typed_fields_get_values_of_their_type() -> None:
    assert value_for(Field(tag="input", type="email")) == "matf.test@example.com"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", value_for(Field(tag="input", type="date")) or "")
    assert value_for(Field(tag="select", options=["", "b"][1:])) == "b"
    assert value_for(Field(tag="select", options=[])) is None


def test_a_pattern_nothing_can_satisfy_gives_no_value() -> None:
    assert value_for(Field(tag="input", type="text", pattern=r"a\bb")) is None
