"""Running one piece of work over many items on a thread pool: the one place that
decides how (threads, and when running serially is cheaper)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def default_jobs() -> int:
    """Threads for local disk work (hashing, copying): the disk, not the CPU, is the limit."""
    return min(8, (os.cpu_count() or 1) * 2)


def run_each(
    items: Sequence[T], work: Callable[[T], None], jobs: int, *, serial_below: int = 2
) -> list[tuple[T, Exception]]:
    """Run ``work`` on every item (fewer than ``serial_below`` items, or one job: in this
    thread) and return the items that failed with their exceptions, in item order."""
    failures: dict[int, Exception] = {}

    def one(index: int) -> None:
        try:
            work(items[index])
        except Exception as exc:
            failures[index] = exc

    workers = max(1, min(jobs, len(items)))
    if workers == 1 or len(items) < serial_below:
        for index in range(len(items)):
            one(index)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(one, range(len(items))))
    return [(items[i], failures[i]) for i in sorted(failures)]


def run_all(
    items: Sequence[T], work: Callable[[T], None], jobs: int, *, serial_below: int = 2
) -> None:
    """Run ``work`` on every item; raise the first failure (in item order) afterwards."""
    failures = run_each(items, work, jobs, serial_below=serial_below)
    if failures:
        raise failures[0][1]
