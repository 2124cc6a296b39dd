"""The language's equality and order of values (rasp/values.py), shared by every package."""

from __future__ import annotations

import random

from hypothesis import given, strategies as st

from rasp.values import value_key, value_order

atoms = st.one_of(st.booleans(), st.integers(-50, 50), st.floats(-50, 50), st.text(max_size=3))
values = st.one_of(atoms, st.tuples(atoms, atoms))


def test_value_key_tells_booleans_from_numbers_but_not_ints_from_floats() -> None:
    assert value_key(True) != value_key(1) and value_key(False) != value_key(0)
    assert value_key(1) == value_key(1.0)
    assert value_key("1") != value_key(1)


def test_value_order_puts_booleans_then_numbers_then_strings_then_tuples() -> None:
    mixed = ["b", 2.5, ("a", 1), True, "a", -1, False, 10, 2, ("a", 0)]
    assert sorted(mixed, key=value_order) == [
        False, True, -1, 2, 2.5, 10, "a", "b", ("a", 0), ("a", 1)]


@given(st.lists(values, max_size=12), st.randoms(use_true_random=False))
def test_sorting_does_not_depend_on_the_order_given(items: list, shuffler: random.Random) -> None:
    shuffled = list(items)
    shuffler.shuffle(shuffled)
    keys = [value_order(v) for v in sorted(items, key=value_order)]
    assert keys == [value_order(v) for v in sorted(shuffled, key=value_order)]
