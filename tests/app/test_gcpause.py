"""The collector pause: re-entrant, shared by threads, and leaves the collector as it found it."""

from __future__ import annotations

import gc
import threading

from bot.app import gcpause


def test_the_collector_is_off_inside_and_back_on_after() -> None:
    assert gc.isenabled()
    with gcpause.paused():
        assert not gc.isenabled()
        with gcpause.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_threads_share_one_pause_until_the_last_leaves() -> None:
    entered, leave_first, first_left = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        with gcpause.paused():
            entered.set()
            leave_first.wait(10)
        first_left.set()

    thread = threading.Thread(target=first)
    thread.start()
    entered.wait(10)
    with gcpause.paused():
        leave_first.set()
        first_left.wait(10)
        assert not gc.isenabled()  # the other thread left; this one is still inside
    thread.join(10)
    assert gc.isenabled()


def test_a_collector_turned_off_before_stays_off() -> None:
    gc.disable()
    try:
        with gcpause.paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_an_error_inside_still_ends_the_pause() -> None:
    try:
        with gcpause.paused():
            raise ValueError("boom")
    except ValueError:
        pass
    assert gc.isenabled()
