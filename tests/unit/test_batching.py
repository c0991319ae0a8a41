import pytest

from manymodels.batching import MAX_SERIES_PER_TASK, in_flight, series_per_task


@pytest.mark.parametrize(
    ("remaining", "cpus", "requested", "expected"),
    [
        (3, 2, None, 1),  # few series: one per task
        (200, 2, None, 50),  # a quarter of what is left on 2 CPUs
        (200, 52, None, 2),
        (30_000, 2, None, MAX_SERIES_PER_TASK),  # capped: a lost node loses at most this much work
        (200, 2, 7, 7),  # the user's choice wins
        (10, 0, None, 5),
    ],
)
def test_series_per_task(remaining, cpus, requested, expected):
    assert series_per_task(remaining, cpus, requested) == expected


def test_batches_shrink_towards_the_end_and_cover_every_series_once():
    remaining, sizes = 200, []
    while remaining:
        sizes.append(series_per_task(remaining, 2))
        remaining -= sizes[-1]
    assert sum(sizes) == 200 and sizes == sorted(sizes, reverse=True) and sizes[-1] == 1


def test_tasks_in_flight_grow_with_the_cluster():
    assert in_flight(2) < in_flight(52) and in_flight(0) >= 1
