"""The tuning's progress advances as series finish, not as batches do (flows.tune)."""

import logging
from types import SimpleNamespace

import flows.tune as tune
from manymodels.jobs import TuneOutcome


class Results:
    def __init__(self) -> None:
        self.stored: set[str] = set()

    def saved(self, keys):
        return {key for key in keys if key in self.stored}


def jobs(*keys: str) -> list:
    return [SimpleNamespace(cache_key=key, series_id=key) for key in keys]


def test_the_progress_counts_the_series_stored_by_batches_still_running(monkeypatch, caplog):
    shown = []
    monkeypatch.setattr(tune, "create_progress_artifact", lambda *a, **k: "artifact")
    monkeypatch.setattr(tune, "update_progress_artifact", lambda _, share, description: shown.append(description))
    results = Results()
    progress = tune.Progress(40, results, logging.getLogger("tune-progress"))
    running = {"batch": jobs(*(f"k{i}" for i in range(20)))}
    with caplog.at_level(logging.INFO, "tune-progress"):
        progress.show(TuneOutcome.empty(), running)
        results.stored |= {"k0", "k1", "k2"}
        progress.show(TuneOutcome.empty(), running)
        progress.show(TuneOutcome.empty(), running)
    assert shown == ["0 of 40 series done, 0 failed"] + ["3 of 40 series done, 0 failed"] * 2
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == ["tuned 3/40 series"]  # once a 5% step


def test_waiting_for_a_batch_shows_the_progress_until_one_finishes(monkeypatch):
    waits = iter([TimeoutError, TimeoutError, None])

    def as_completed(futures, timeout):
        assert timeout == tune.PROGRESS_SECONDS
        if (wait := next(waits)) is not None:
            raise wait
        return iter(futures)

    shown = []
    monkeypatch.setattr(tune, "as_completed", as_completed)
    progress = SimpleNamespace(show=lambda outcome, running: shown.append(len(running)))
    assert tune.next_finished({"f": jobs("k")}, progress, TuneOutcome.empty()) == "f"
    assert shown == [1, 1]
