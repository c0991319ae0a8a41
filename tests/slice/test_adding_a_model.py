"""docs/adding-a-model.md followed in this module: a statsforecast challenger, and a model that learns across series,
each defined here and added to the registry (the one line a new model's module needs), compete for every series'
champion, join the ensembles' members, and reach the outputs and the run's summary with no other change."""

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from manymodels import storage
from manymodels.bounds import Forecast
from manymodels.candidates import Candidates, model_names
from manymodels.columns import MODEL, SERIES_ID, YHAT
from manymodels.evaluation import assemble_outputs
from manymodels.forecasters import registry
from manymodels.forecasters.statsforecast_models import Statsforecast, statsforecast_models
from manymodels.ingest import Ingested
from manymodels.jobs import tune_jobs
from manymodels.layout import RunLayout
from manymodels.planning import RunContext, plan_jobs
from manymodels.prepare import prepare_series, profile_frame
from manymodels.results import ResultFiles
from manymodels.series import tune_series
from manymodels.settings import TuningSpec
from manymodels.splits import SeriesSplits
from manymodels.synthetic import make_retail_sales
from tests.helpers import SPEC

DRIFT = Statsforecast("drift", lambda period: statsforecast_models().RandomWalkWithDrift())


@dataclass(frozen=True)
class RunLevel:
    """Every series forecast at the mean level of the run's series before their folds: a model that learns across
    series, from what it summarised of each at ingest."""

    name: str = "run_level"
    heavy: bool = False  # learns in the flow's process: from the summaries alone

    def wanted(self, tuning: TuningSpec) -> bool:
        return True

    def summarise(self, y, dates, data) -> float:
        return float(np.mean(y))

    def learn(self, run, threads: int = 1) -> float:
        return float(np.mean(run.summaries(self.name)))

    def for_series(self, learned: float, series_ids: list[str]) -> dict[str, float]:
        return dict.fromkeys(series_ids, learned)

    def applies(self, series) -> bool:
        return series.learned is not None

    def forecast(self, series, history: pd.DataFrame, at: pd.DataFrame, levels) -> Forecast:
        return Forecast.point_only(np.full(len(at), series.learned), levels)


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setattr(registry, "CHALLENGERS", (*registry.CHALLENGERS, DRIFT, RunLevel()))


@pytest.fixture
def ingested(registered, tmp_path) -> Ingested:
    """Three series prepared and written as the ingest step does."""
    layout, profiles = RunLayout(str(tmp_path), run="run-1"), []
    raw = make_retail_sales(3, days=150, seed=4).rename(columns={"date": "ds", "sales": "y"})
    raw["series_id"] = raw["store"].astype(str) + "-" + raw["item"].astype(str)
    for _, rows in raw.groupby("series_id"):
        frame, profile = prepare_series(rows.assign(row=range(len(rows))), SPEC)
        storage.write_parquet(layout.series_file(profile["key"]), frame)
        profiles.append(profile)
    return Ingested(profile_frame(profiles, SPEC), layout, len(raw))


def test_added_models_compete_join_the_ensembles_and_reach_the_outputs(ingested):
    tuning, layout = TuningSpec(trials=1, global_model=False), ingested.layout
    assert {"drift", "run_level"} <= set(model_names())
    wanted = [model for model in registry.across_series() if model.wanted(tuning)]
    learned = {m.name: m.learn(ingested.run_inputs(SPEC, tuning, layout.learned(m.name))) for m in wanted}
    level = float(np.mean([json.loads(s)["run_level"] for s in ingested.accepted["summaries"]]))
    assert learned["run_level"] == pytest.approx(level)

    jobs = plan_jobs(ingested, SPEC, tuning, layout.studies, {}, learned)
    files = ResultFiles(layout.results, layout.results_aside)
    outcome = tune_jobs(jobs, RunContext(data=SPEC, tuning=tuning, learned=learned), files)
    assert not outcome.failures and len(outcome.results) == 3
    for result in outcome.results:
        assert {"drift", "run_level"} <= set(result.fold_errors)

    frames = files.frames(outcome.results)
    outputs = assemble_outputs(ingested, outcome, frames, SPEC, tuning, {})
    assert {"drift", "run_level"} <= set(outputs.scores.metrics) & set(outputs.scores.owa)
    backtest = outputs.backtest
    for sid, url in ingested.series_urls().items():
        splits = SeriesSplits.of(storage.read_parquet(url), SPEC)
        alone = statsforecast_models().RandomWalkWithDrift().forecast(y=splits.y, h=SPEC.horizon)["mean"]
        drift = backtest[(backtest[SERIES_ID] == sid) & (backtest[MODEL] == "drift")][YHAT].to_numpy()
        np.testing.assert_allclose(drift, np.maximum(alone, 0))
        run_level = backtest[(backtest[SERIES_ID] == sid) & (backtest[MODEL] == "run_level")][YHAT].to_numpy()
        np.testing.assert_allclose(run_level, level)
        candidates = Candidates(splits, SPEC, learned)
        assert {"drift", "run_level"} <= set(candidates.members)  # what the chosen ensembles pick from


@dataclass(frozen=True)
class Fragile:
    """A challenger that raises on a history shorter than `needs` points: it competes where it can."""

    needs: int
    name: str = "fragile"

    def applies(self, series) -> bool:
        return True

    def forecast(self, series, history: pd.DataFrame, at: pd.DataFrame, levels) -> Forecast:
        if len(history) < self.needs:
            raise ValueError(f"needs {self.needs} points, has {len(history)}")
        return Forecast.point_only(np.full(len(at), history["y"].iloc[-1]), levels)


def test_a_challenger_that_raises_on_a_fold_leaves_that_series_contest_and_the_series_is_forecast(
    monkeypatch, tmp_path
):
    monkeypatch.setattr(registry, "CHALLENGERS", (*registry.CHALLENGERS, Fragile(needs=100)))
    raw = make_retail_sales(1, days=150, seed=4).rename(columns={"date": "ds", "sales": "y"})
    frame, _ = prepare_series(raw.assign(series_id="1-1", row=range(len(raw))), SPEC)
    result = tune_series(frame, SPEC, TuningSpec(trials=1, global_model=False))
    assert result.dropped == {
        "fragile": f"ValueError: needs 100 points, has {SeriesSplits.of(frame, SPEC).folds[0][0]}"
    }
    assert "fragile" not in result.fold_errors and "fragile" not in set(result.backtest[MODEL])
    assert "fragile" not in {m for weights in result.ensembles.values() for m in weights}
    assert result.fold_errors and not result.forecast.empty
