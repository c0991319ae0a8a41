"""How many series each Ray task tunes, and how many tasks are in flight at once."""

import math
from collections.abc import Iterator, Sequence

TASKS_PER_CPU = 4  # enough tasks that the last ones to finish leave few cores idle
MAX_SERIES_PER_TASK = 100  # bounds the work a lost node takes down with it
IN_FLIGHT_PER_CPU = 2  # one running, one queued behind it


def series_per_task(n_series: int, cpus: int, requested: int | None = None) -> int:
    """The requested batch size, or one that gives every CPU TASKS_PER_CPU tasks, capped at MAX_SERIES_PER_TASK."""
    if requested:
        return requested
    return max(1, min(MAX_SERIES_PER_TASK, math.ceil(n_series / (TASKS_PER_CPU * max(cpus, 1)))))


def in_flight(cpus: int) -> int:
    """Tasks submitted but not finished at any time: Ray's queue stays short and the driver's memory bounded."""
    return IN_FLIGHT_PER_CPU * max(cpus, 1)


def batches(items: Sequence, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
