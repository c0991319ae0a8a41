"""Failures that say what they are: storage and memory errors fail the task (Prefect retries it) rather than one
series; a plot that cannot be drawn is logged and skipped, and publishing goes on."""

import logging

import aiohttp
import pandas as pd
import pytest
from botocore.exceptions import EndpointConnectionError

from manymodels import jobs as batch
from manymodels import outputs, planning, plots
from manymodels.evaluation import RunOutputs
from manymodels.jobs import tune_jobs
from manymodels.layout import RunLayout
from manymodels.planning import RunContext, SeriesJob
from manymodels.prepare import prepare_series
from manymodels.settings import TuningSpec
from manymodels.studies import StudyPlace
from manymodels.synthetic import make_retail_sales
from tests.helpers import SPEC
from tests.unit.test_summary import MODELS, metrics_of


class NoResults:
    def load(self, key):
        return None

    def save(self, key, result):
        raise AssertionError("nothing is tuned here")


def jobs(tmp_path) -> list[SeriesJob]:
    raw = make_retail_sales(1, days=60, seed=3).rename(columns={"date": "ds", "sales": "y"})
    raw["series_id"], raw["row"] = "1-1", range(len(raw))
    frame, profile = prepare_series(raw, SPEC)
    frame.to_parquet(tmp_path / "1-1.parquet")
    job = SeriesJob.model_construct(  # what tune_jobs reads of a job
        series_id="1-1",
        url=str(tmp_path / "1-1.parquet"),
        place=StudyPlace(str(tmp_path / "1-1.journal"), "1-1:0123456789abcdef"),
        cache_key="tune-ab-cd",
        data_hash=profile["data_hash"],
        code_version=planning.code_version(),
        learned=(),
    )
    return [job]


@pytest.mark.parametrize(
    "error",
    [
        OSError("disk full"),
        ConnectionResetError("connection reset by peer"),
        EndpointConnectionError(endpoint_url="http://s3.example"),
        aiohttp.ClientPayloadError("response payload is not completed"),
        MemoryError(),
    ],
    ids=["os", "connection", "botocore", "aiohttp", "memory"],
)
def test_a_storage_or_memory_error_fails_the_task_rather_than_its_series(tmp_path, monkeypatch, error):
    def failing(*args, **kwargs):
        raise error

    monkeypatch.setattr(batch, "tune_series", failing)
    with pytest.raises(type(error)):
        tune_jobs(jobs(tmp_path), RunContext(data=SPEC, tuning=TuningSpec(trials=1)), NoResults())


def test_a_model_error_stays_its_series_failure(tmp_path, monkeypatch):
    def failing(*args, **kwargs):
        raise RuntimeError("Stan optimisation failed")

    monkeypatch.setattr(batch, "tune_series", failing)
    outcome = tune_jobs(jobs(tmp_path), RunContext(data=SPEC, tuning=TuningSpec(trials=1)), NoResults())
    assert outcome.failures == {"1-1": "RuntimeError: Stan optimisation failed"} and not outcome.results


def test_a_plot_that_cannot_be_drawn_is_logged_and_skipped(tmp_path, monkeypatch, caplog):
    dates = pd.date_range("2024-01-01", periods=7)
    backtest = pd.DataFrame(
        [
            {"series_id": f"s{n}", "ds": d, "y": float(i), "model": m, "yhat": float(i) + k}
            for n in range(3)
            for i, d in enumerate(dates)
            for k, m in enumerate(MODELS)
        ]
    )
    run = RunOutputs(
        forecasts=pd.DataFrame(), backtest=backtest, metrics=metrics_of(3), best_params=pd.DataFrame(), scores=None
    )

    def broken(*args, **kwargs):
        raise ValueError("no room for the boxes")

    monkeypatch.setattr(plots, "error_distribution", broken)
    monkeypatch.setattr(outputs, "recent_history", lambda *args: {})
    with caplog.at_level(logging.WARNING):
        urls = outputs.write_plots(run, RunLayout(str(tmp_path)), "r1")
    assert list(urls) == ["forecasts against actuals"]
    assert "errors per model" in caplog.text and "no room for the boxes" in caplog.text


def test_a_batch_planned_elsewhere_is_not_retried_and_a_storage_error_is():
    from prefect.states import Failed

    from manymodels.planning import PlannedElsewhere
    from tasks.tune import worth_retrying

    assert not worth_retrying(None, None, Failed(data=PlannedElsewhere("the jobs were planned by other code")))
    assert worth_retrying(None, None, Failed(data=OSError("connection reset")))
