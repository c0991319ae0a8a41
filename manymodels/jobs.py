"""A batch of series jobs: each series tuned (or its result taken from the cache, or forecast again with the run's
champion) and saved as it finishes, each failure kept to its series."""

import dataclasses
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd

from manymodels import storage
from manymodels.cpu import charged
from manymodels.ensembles import CHOSEN
from manymodels.forecasters import registry
from manymodels.planning import RunContext, SeriesJob, check_planned
from manymodels.prepare import DATA_HASH
from manymodels.series import SeriesResult, SeriesSummary, forecast_again, tune_series
from manymodels.summary import RunChoice

log = logging.getLogger(__name__)


@dataclass
class TuneOutcome:
    """The tuning step's results, the series that failed with why, and how each result was obtained."""

    results: list[SeriesSummary]
    failures: dict[str, str]
    counts: dict[str, int]  # tuned, resumed, cached
    run_choice: RunChoice | None = None  # how the champions were chosen with the whole run, once they were
    learn_cpu: dict[str, float] = field(default_factory=dict)  # by model, the CPU its learning across series took

    @classmethod
    def empty(cls) -> "TuneOutcome":
        return cls(results=[], failures={}, counts={"tuned": 0, "resumed": 0, "cached": 0})

    def add(self, key: str, result: SeriesResult, how: str | None = None) -> None:
        """Record a series' result stored under key, obtained as `how`: cached, or (when None) tuned or resumed as
        the result says."""
        how = how or ("resumed" if result.resumed else "tuned")
        summary = result.summary(key)
        cached = dataclasses.replace(summary, n_fits=0, fits_by_solver={}, cpu_by_step={}, cpu_by_model={})
        self.results.append(cached if how == "cached" else summary)
        self.counts[how] += 1

    def merge(self, other: "TuneOutcome") -> "TuneOutcome":
        return TuneOutcome(
            results=self.results + other.results,
            failures=self.failures | other.failures,
            counts={how: n + other.counts[how] for how, n in self.counts.items()},
        )

    def rechosen(self, again: "TuneOutcome", choice: RunChoice) -> "TuneOutcome":
        """These results with those forecast again with the run's champions in their series' place; a series whose
        second forecast failed keeps its first."""
        replaced = {r.series_id: r for r in again.results}
        results = [_both(r, replaced[r.series_id]) if r.series_id in replaced else r for r in self.results]
        return dataclasses.replace(self, results=results, run_choice=choice)


def _both(first: SeriesSummary, second: SeriesSummary) -> SeriesSummary:
    """The second result of a series, with the fits, seconds and CPU both calls took."""
    return dataclasses.replace(
        second,
        n_fits=first.n_fits + second.n_fits,
        fits_by_solver=dict(Counter(first.fits_by_solver) + Counter(second.fits_by_solver)),
        seconds=first.seconds + second.seconds,
        cpu_by_step=dict(Counter(first.cpu_by_step) + Counter(second.cpu_by_step)),
        cpu_by_model=dict(Counter(first.cpu_by_model) + Counter(second.cpu_by_model)),
    )


class ResultCache(Protocol):
    """Where each series' result is kept under its job's cache key."""

    def load(self, key: str) -> SeriesResult | None: ...

    def save(self, key: str, result: SeriesResult) -> None: ...

    def frames(self, results: list[SeriesSummary]) -> tuple[pd.DataFrame, ...]: ...


def stored_results(
    jobs: Iterable[SeriesJob], cache: ResultCache, this_run: bool = False
) -> tuple[TuneOutcome, list[SeriesJob]]:
    """The results stored under the jobs' cache keys, and the jobs that have none. Results stored in this run (by an
    earlier attempt of a task) count as tuned or resumed, as they were; others as cached."""
    found, todo = TuneOutcome.empty(), []
    for job in jobs:
        if (result := cache.load(job.cache_key)) is not None:
            found.add(job.cache_key, result, None if this_run else "cached")
        else:
            todo.append(job)
    return found, todo


def read_series(job: SeriesJob) -> pd.DataFrame:
    """The job's series file, if it holds the data the job was planned on (not, say, what a killed run's task still
    running wrote)."""
    frame = storage.read_parquet(job.url)
    if (found := frame.attrs.pop(DATA_HASH, None)) != job.data_hash:
        raise ValueError(f"{job.url} holds other data ({found}) than the run planned on ({job.data_hash})")
    return frame


def tune_jobs(
    jobs: list[SeriesJob],
    context: RunContext,
    cache: ResultCache,
    logger: logging.Logger | logging.LoggerAdapter = log,
) -> TuneOutcome:
    """Tune each job's series (those an earlier attempt stored come from the cache), saving each result as it
    finishes; a series that fails is reported with why, and the others go on; a storage or memory error fails the
    call."""
    check_planned(jobs, context.learned)
    outcome, todo = stored_results(jobs, cache, this_run=True)
    shares = learned_shares(context.learned, [job.series_id for job in todo]) if todo else {}
    for job in todo:
        try:
            result = tune_job(job, context, cache, {name: each.get(job.series_id) for name, each in shares.items()})
        except storage.STORAGE_ERRORS:
            raise
        except Exception as e:  # one series' failure is reported with the series, the others go on
            outcome.failures[job.series_id] = f"{type(e).__name__}: {e}"
            logger.warning("series %s failed: %s", job.series_id, outcome.failures[job.series_id])
            continue
        cache.save(job.cache_key, result)
        outcome.add(job.cache_key, result)
        logger.info("series %s: champion %s, %d trials", job.series_id, result.champion, result.n_trials)
    logger.info("%d series tuned, %d failed: %s", len(outcome.results), len(outcome.failures), outcome.counts)
    return outcome


def tune_job(job: SeriesJob, context: RunContext, cache: ResultCache, learned: dict[str, Any]) -> SeriesResult:
    """One job's result: its series tuned, its champion chosen and forecast; or, for a job with the run's champion
    whose series' first result is stored, that result forecast again with it (forecast_again), unless the champion
    is an ensemble chosen on the folds, whose intervals are calibrated on each fold's held-out choice of members."""
    io = Counter()
    with charged(io, "io"):
        frame = read_series(job)
        keeps_contest = job.first and job.champion not in CHOSEN  # a chosen ensemble's folds need its members' contest
        first = cache.load(job.first) if keeps_contest else None
    if first is not None:
        result = forecast_again(first, frame, context.data, context.tuning, learned, job.champion, job.pooled)
    else:  # a first pass, or a series whose first result is gone: its contest again
        result = tune_series(
            frame,
            context.data,
            context.tuning,
            job.place,
            job.warm_start,
            learned,
            champion=job.champion,
            pooled=job.pooled,
        )
    result.cpu_by_step["io"] = io["io"]
    return result


def learned_shares(learned: dict[str, Any], series_ids: list[str]) -> dict[str, dict[str, Any]]:
    """By model that learned across series, each series' share of what it learned (one read for a batch)."""
    return {model.name: model.for_series(learned[model.name], series_ids) for model in registry.across_series(learned)}
