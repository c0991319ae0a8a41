"""The forecast flow: ingest on Dask, tune on Ray, evaluate and publish."""

import contextlib
import dataclasses

from prefect import flow, runtime
from prefect.states import Failed

from engines.ray_engine import RayResource
from flows.task_runner import ray_task_runner
from flows.tune import tune_on_ray
from manymodels import location
from manymodels.cost import PriceTable
from manymodels.forecasters import registry
from manymodels.ingest import Ingested, remove_run_work
from manymodels.jobs import TuneOutcome
from manymodels.layout import RunLayout
from manymodels.lease import LeaseLost, LocationBusy, RunLease, held
from manymodels.location import KEEP_VERSIONS, NotALocation
from manymodels.planning import RunContext, SeriesJob
from manymodels.settings import ComputeSpec, DataSpec, KeepVersions, MinForecastShare, TuningSpec, unreachable
from manymodels.summary import RunSummary
from manymodels.timing import StepTimes
from tasks import RAY_WORKER_MODULES
from tasks.evaluate import evaluate_run, publish
from tasks.ingest import ingest_data
from tasks.learn import learn_across_series
from tasks.select import choose_champions
from tasks.tune import plan_tuning, reuse_cached


@flow(name="forecast", flow_run_name="forecast-h{data.horizon}-t{tuning.trials}")
def forecast(
    data: DataSpec,
    output: str,
    tuning: TuningSpec = TuningSpec(),
    compute: ComputeSpec = ComputeSpec(),
    min_forecast_share: MinForecastShare = 0.0,
    keep_versions: KeepVersions = KEEP_VERSIONS,
) -> RunSummary:
    """Tune and forecast one Prophet model per series, against baselines; write the outputs to `output`."""
    if problem := unreachable(output, compute):  # the CLI refuses it too; a deployment run is checked here
        return Failed(message=problem)
    layout, steps = RunLayout(output, run=str(runtime.flow_run.id)), StepTimes()  # the run's own work names
    try:  # a folder of the user's own is never written over
        location.claim(layout)
    except NotALocation as refused:
        return Failed(message=str(refused))
    ray = RayResource(compute, warm=RAY_WORKER_MODULES)
    with contextlib.ExitStack() as run:
        try:  # one run at a time on a run location
            lease = run.enter_context(held(RunLease(layout, layout.run)))
        except LocationBusy as busy:
            return Failed(message=str(busy))
        run.callback(remove_run_work, layout)  # at the end, while the lease is still held
        with contextlib.ExitStack() as ray_runs:
            with steps.step("ingest"):
                ingesting = ingest_data.submit(data, compute, layout, ray.input_valid)
                # Ray starts, and its workers warm up, while the valid input is split; bad input never starts it
                nodes = ray_runs.enter_context(ray.session_once_valid(ingesting.wrapped_future))  # for the cost
                ingesting.wait()
                if ingesting.state.is_failed():  # bad input: end the run with the task's one-line message
                    return Failed(message=ingesting.state.message)
                ingested = ingesting.result()
            if lease.lost:  # a renewal found another holder: the run stops here
                return Failed(message=lease.lost)
            with steps.step("tune"):
                outcome = tune_step(ingested, data, tuning, compute, layout)
        if lease.lost:
            return Failed(message=lease.lost)
        with steps.step("evaluate"):
            outputs = evaluate_run(ingested, outcome, data, tuning, nodes.node_seconds(PriceTable.load()))
        try:  # publish confirms the lease first
            summary = publish(outputs, layout, steps, data.id_cols, min_forecast_share, keep_versions)
        except LeaseLost as lost:
            return Failed(message=str(lost))
    if shortfall := summary.shortfall(min_forecast_share):
        return Failed(message=f"{shortfall}. {summary.publishing_line()}", data=summary)
    return summary


RECHOSEN = "forecast-with-what-the-run-learned"  # the subflow run that forecasts series again (with_run_champions)


class Learning:
    """What the models that learn across series learned in this run: learned on first need, once."""

    def __init__(self, ingested: Ingested, data: DataSpec, tuning: TuningSpec, layout: RunLayout) -> None:
        self.ingested, self.data, self.tuning, self.layout = ingested, data, tuning, layout
        self.wanted = [model.name for model in registry.across_series() if model.wanted(tuning)]
        self._learned: dict | None = None
        self.cpu: dict[str, float] = {}  # by model, the CPU seconds its learning took

    def learned(self) -> dict:
        """By model that learned, what it learned (a model whose learning failed is left out)."""
        if self._learned is None:
            args = (self.ingested, self.data, self.tuning, self.layout)
            learning = {name: learn_across_series.submit(name, *args) for name in self.wanted}
            for future in learning.values():
                future.wait()
            done = {name: f.result() for name, f in learning.items() if f.state.is_completed()}
            self._learned = {name: what for name, (what, _) in done.items()}
            self.cpu = {name: cpu for name, (_, cpu) in done.items()}
        return self._learned

    def charged(self, outcome: TuneOutcome) -> TuneOutcome:
        """The outcome with the CPU this run's learning took."""
        return dataclasses.replace(outcome, learn_cpu=self.cpu)

    def context(self) -> RunContext:
        return RunContext(data=self.data, tuning=self.tuning, learned=self.learned())


def tune_step(
    ingested: Ingested, data: DataSpec, tuning: TuningSpec, compute: ComputeSpec, layout: RunLayout
) -> TuneOutcome:
    """The series' results: from cache under their keys, else tuned on Ray once the models that learn across series
    have learned (without one whose learning failed: then the series are tuned under other keys); then with the
    champions chosen with the whole run."""
    learning = Learning(ingested, data, tuning, layout)
    jobs = plan_tuning(ingested, data, tuning, compute, layout, learning.wanted)
    outcome, todo_url = reuse_cached(jobs, layout)
    if not todo_url:
        return learning.charged(with_run_champions(outcome, jobs, learning, compute, layout))
    if len(learned := learning.learned()) < len(learning.wanted):
        left = {job.series_id for job in jobs} - {result.series_id for result in outcome.results}
        jobs = plan_tuning(ingested, data, tuning, compute, layout, list(learned))
        cached, todo_url = reuse_cached([job for job in jobs if job.series_id in left], layout)
        outcome = outcome.merge(cached)
    if todo_url:
        outcome = outcome.merge(tune_todo(learning, compute, layout))
    return learning.charged(with_run_champions(outcome, jobs, learning, compute, layout))


def tune_todo(learning: Learning, compute: ComputeSpec, layout: RunLayout, name: str | None = None) -> TuneOutcome:
    """The jobs of the run's job file tuned on Ray, in a subflow run called `name` (by default, by its trials)."""
    tune = tune_on_ray.with_options(task_runner=ray_task_runner(compute))
    if name:
        tune = tune.with_options(flow_run_name=name)
    return tune(learning.context(), compute, layout.output, layout.run)


def with_run_champions(
    outcome: TuneOutcome, jobs: list[SeriesJob], learning: Learning, compute: ComputeSpec, layout: RunLayout
) -> TuneOutcome:
    """The results with what the whole run's folds say: a series whose champion the run's evidence changes, or whose
    folds hold too few scores to calibrate its intervals, is forecast again (its study is complete: no trial runs),
    under a key of its own; a series whose second forecast fails keeps its first."""
    again, choice = choose_champions(outcome.results, learning.data.levels)
    if not again:
        return outcome.rechosen(TuneOutcome.empty(), choice)
    pooled = choice.pooled_corrections
    todo = [job.with_the_run(again[job.series_id], pooled) for job in jobs if job.series_id in again]
    second, todo_url = reuse_cached(todo, layout)
    if todo_url:
        if set(learning.learned()) != set(todo[0].learned):  # planned with a model whose learning failed since
            kept = {"changed": 0, "moves": {}, "series_pooled": 0, "forecast_again": {}}  # the first results stand
            return outcome.rechosen(TuneOutcome.empty(), choice.model_copy(update=kept))
        second = second.merge(tune_todo(learning, compute, layout, RECHOSEN))
    return outcome.rechosen(second, choice)
