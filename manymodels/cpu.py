"""CPU seconds charged to named parts of a series' work (steps, models), so a run can say what each costs."""

import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def charged(ledger: Counter, part: str) -> Iterator[None]:
    """Add the process's CPU seconds spent in the block to ledger[part]."""
    started = time.process_time()
    try:
        yield
    finally:
        ledger[part] += time.process_time() - started


def learned_with_cpu(learn, inputs, threads: int = 1) -> tuple[Any, float]:
    """What learn(inputs, threads=threads) learned, and the CPU seconds its process spent on it, every thread's."""
    ledger = Counter()
    with charged(ledger, "learn"):
        learned = learn(inputs, threads=threads)
    return learned, ledger["learn"]


def spent(ledger: Counter) -> dict[str, float]:
    """The parts that spent any CPU."""
    return {part: seconds for part, seconds in ledger.items() if seconds}


def mean_per_series(ledgers: Iterable[dict[str, float]], shared: dict[str, float] | None = None) -> dict[str, float]:
    """Each part's CPU seconds a series, over the ledgers that are not empty (a result read from the cache spent
    none in this run), with the parts spent once for all those series (shared) divided among them; most costly
    first."""
    ledgers = [ledger for ledger in ledgers if ledger]
    total = sum((Counter(ledger) for ledger in ledgers), Counter(shared or {}))
    return {part: round(seconds / len(ledgers), 4) for part, seconds in total.most_common()}
