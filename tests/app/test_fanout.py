"""`fan_out`: results in input order whatever finishes first, items sharing a key one after
the other, at most `parallel` at once, the first error in input order raised after every
started group ended."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.app.fanout import fan_out


class Probe:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active: dict[str, int] = {}
        self.running = 0
        self.peak = 0
        self.overlap_of_a_key = False
        self.order: list[tuple[str, int]] = []

    def __call__(self, item: tuple[str, int]) -> int:
        key, n = item
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.active[key] = self.active.get(key, 0) + 1
            self.overlap_of_a_key |= self.active[key] > 1
            self.order.append(item)
        time.sleep(0.001 * (n % 3))
        with self.lock:
            self.running -= 1
            self.active[key] -= 1
        return n * 10


items_st = st.lists(st.tuples(st.sampled_from("abcde"), st.integers(0, 50)), max_size=25)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(items=items_st, parallel=st.integers(1, 6))
def test_results_in_input_order_keys_serial_and_bounded(items: list[tuple[str, int]], parallel: int) -> None:
    probe = Probe()
    assert fan_out(items, probe, parallel=parallel, key=lambda item: item[0]) == [n * 10 for _, n in items]
    assert not probe.overlap_of_a_key and probe.peak <= parallel
    for key in "abcde":  # within one key, the input order
        assert [i for i in probe.order if i[0] == key] == [i for i in items if i[0] == key]


def test_stacks_of_different_keys_run_at_the_same_time() -> None:
    started = threading.Barrier(3, timeout=5)  # deadlocks unless all three run at once

    def work(item: str) -> str:
        started.wait()
        return item.upper()

    assert fan_out(["x", "y", "z"], work, parallel=3, key=lambda item: item) == ["X", "Y", "Z"]


def test_the_first_error_in_input_order_is_raised_after_the_others_finished() -> None:
    finished: list[str] = []

    def work(item: str) -> str:
        if item in ("b", "d"):
            time.sleep(0.02 if item == "b" else 0.0)
            raise ValueError(item)
        time.sleep(0.03)
        finished.append(item)
        return item

    with pytest.raises(ValueError, match="^b$"):
        fan_out(["a", "b", "c", "d"], work, parallel=4, key=lambda item: item)
    assert sorted(finished) == ["a", "c"]
