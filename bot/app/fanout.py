"""Running the stacks of one event at the same time: `fan_out`.

The stacks of a pull request, a `/apply` or a merge are independent except where two of them
share a project+workspace (one lock, one release history): those run one after the other, in
the order given; all others run concurrently, at most `parallel` at once. Results come back in
the order of the input whatever order the work finished in, so the comment built from them is
the same as a sequential run's. Each task runs in a copy of the caller's `contextvars` context,
so what a job records there (the statuses it set, see `bot.app.outcomes`) is seen by it.

If tasks raise, every started group still finishes (a half-run group would leave its stack
between releases), then the first exception in input order is raised.

Written here rather than with `concurrent.futures.Executor.map`, which neither serialises by
key nor keeps going after a failure; a thread pool does the running.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def fan_out(items: Sequence[T], work: Callable[[T], R], *, parallel: int, key: Callable[[T], Hashable]) -> list[R]:
    """`[work(item) for item in items]`, items of different keys concurrently (at most
    `parallel`), items of one key in order; the first exception (input order) is raised."""
    if parallel <= 1 or len(items) <= 1:
        return [work(item) for item in items]
    groups: dict[Hashable, list[int]] = {}
    for index, item in enumerate(items):
        groups.setdefault(key(item), []).append(index)
    results: dict[int, R] = {}
    errors: dict[int, BaseException] = {}

    def run_group(indexes: list[int]) -> None:
        for index in indexes:
            try:
                results[index] = work(items[index])
            except BaseException as exc:  # kept, raised by the caller's thread below
                errors[index] = exc
                return  # later stacks of the same key wait for the retry

    with ThreadPoolExecutor(max_workers=min(parallel, len(groups)), thread_name_prefix="stacks") as pool:
        futures = [pool.submit(contextvars.copy_context().run, run_group, indexes) for indexes in groups.values()]
        for future in futures:
            future.result()
    if errors:
        raise errors[min(errors)]
    return [results[index] for index in range(len(items))]
