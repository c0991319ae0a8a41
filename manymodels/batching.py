"""How many series each Ray task tunes, and how many tasks are in flight at once."""

import math

TASKS_PER_CPU = 2  # of the series left: batches shrink as the run nears its end, so the last ones end together
MAX_SERIES_PER_TASK = 100  # bounds the work a lost node takes down with it


def series_per_task(remaining: int, cpus: int, requested: int | None = None) -> int:
    """The requested batch size, or a share of the series left (guided self-scheduling), capped."""
    if requested:
        return requested
    return max(1, min(MAX_SERIES_PER_TASK, math.ceil(remaining / (TASKS_PER_CPU * max(cpus, 1)))))


def in_flight(cpus: int) -> int:
    """Tasks submitted but not finished at any time: one per CPU. Ray does not start queued tasks in the order they
    were submitted, and a large early batch started last would leave the other cores idle at the end."""
    return max(cpus, 1)
