import pytest

from manymodels.batching import MAX_SERIES_PER_TASK, batches, in_flight, series_per_task


@pytest.mark.parametrize(
    ("n_series", "cpus", "requested", "expected"),
    [
        (3, 2, None, 1),  # few series: one per task, as many tasks as series
        (200, 2, None, 25),  # four tasks per CPU
        (200, 52, None, 1),
        (30_000, 2, None, MAX_SERIES_PER_TASK),  # capped: a lost node loses at most this much work
        (200, 2, 7, 7),  # the user's choice wins
        (10, 0, None, 3),
    ],
)
def test_series_per_task(n_series, cpus, requested, expected):
    assert series_per_task(n_series, cpus, requested) == expected


def test_batches_keep_every_item_once_and_in_order():
    items = list(range(10))
    chunks = list(batches(items, 4))
    assert chunks == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert list(batches([], 4)) == []


def test_tasks_in_flight_grow_with_the_cluster():
    assert in_flight(2) < in_flight(52) and in_flight(0) >= 1
