"""Tuning results are stored as data and checked when read: nothing found in the run location runs as code."""

import json
import pathlib
import pickle

import numpy as np
import pandas as pd
import pytest

from manymodels import storage
from manymodels.results import PARTS, ResultFiles
from manymodels.series import SeriesResult


def result(series_id: str = "1-1") -> SeriesResult:
    dates = pd.date_range("2024-01-01", periods=3)
    backtest = pd.concat(
        [
            pd.DataFrame({"ds": dates, "y": [1.0, 2.0, 3.0], "model": "naive", "yhat": [1.0, 1.0, 1.0]}),
            pd.DataFrame(
                {"ds": dates, "y": [1.0, 2.0, 3.0], "model": "champion", "yhat": [1.5, 2, 2.5]}
                | {"lo_80": [1.0, 1.5, 2], "hi_80": [2.0, 2.5, 3]}
            ),
        ],
        ignore_index=True,
    )
    future = pd.DataFrame(
        {"ds": dates + pd.Timedelta(days=3), "model": "naive", "yhat": np.pi, "lo_80": 1.0, "hi_80": 5.0}
    )
    return SeriesResult(
        series_id=series_id,
        best_params={"seasonality_mode": "additive", "changepoint_prior_scale": 0.0123456789, "weekly_order": 3},
        best_value=12.5,
        n_trials=5,
        n_fits=17,
        fits_by_solver={"exact": 15, "fallback": 2},
        resumed=False,
        stopped_early=True,
        seconds=1.25,
        champion="naive",
        fold_errors={"prophet_tuned": 12.5, "naive": 11.0, "auto_ces": np.nan},  # a model that failed a fold
        errors_by_fold={"prophet_tuned": [12.5], "naive": [10.0, 12.0], "auto_ces": [np.nan, 3.0]},
        models=["prophet_tuned", "naive", "auto_ces"],
        scaled_scores={"80": [-0.5, 0.25], "95": [-1.0, 0.0]},
        dropped={"auto_ces": "ValueError: too short"},
        ensembles={"greedy_ensemble": {"naive": 0.7, "auto_ets": 0.3}},
        solver_gap={"log_posterior_gain": 0.25, "forecast_gap": 0.001},
        cpu_by_step={"study": 0.75, "contest": 0.25},
        cpu_by_model={"prophet_tuned": 0.7, "naive": 0.05},
        backtest=backtest,
        forecast=future,
        folds=pd.DataFrame({"ds": dates - pd.Timedelta(days=7), "y": 2.0, "yhat": 2.5}),
    )


class Bomb:
    """Unpickling this touches a file: what code in a pickled cache file could do."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


@pytest.fixture
def files(tmp_path) -> ResultFiles:
    return ResultFiles(str(tmp_path / "results"), str(tmp_path / "aside"))


def test_a_result_comes_back_exactly(files):
    files.save("tune-k1-abc", stored := result())
    loaded = files.load("tune-k1-abc")
    for frame in PARTS:
        pd.testing.assert_frame_equal(getattr(loaded, frame), getattr(stored, frame))
    numbers = lambda r: json.dumps(vars(r) | dict.fromkeys(PARTS), sort_keys=True)  # noqa: E731 (NaN equal to NaN)
    assert numbers(loaded) == numbers(stored) and np.isnan(loaded.errors_by_fold["auto_ces"][0])
    assert isinstance(loaded.best_params["weekly_order"], int)
    assert files.load("tune-k2-abc") is None


def test_a_pickled_file_is_never_run_but_set_aside(files, tmp_path):
    marker = tmp_path / "pwned"
    storage.write_bytes(files.path("tune-k1-abc"), pickle.dumps(Bomb(marker)))
    assert files.load("tune-k1-abc") is None
    assert not marker.exists()
    assert not (tmp_path / "results" / "tune-k1-abc.parquet").exists()
    assert [p.name.split(".")[0] for p in (tmp_path / "aside").iterdir()] == ["tune-k1-abc"]


@pytest.mark.parametrize("damage", ["torn", "other-key", "bad-record"])
def test_a_damaged_or_misplaced_result_is_recomputed(files, tmp_path, damage):
    files.save("tune-k1-abc", result())
    path = tmp_path / "results" / "tune-k1-abc.parquet"
    if damage == "torn":
        path.write_bytes(path.read_bytes()[:-100])
    elif damage == "other-key":  # a valid result copied to another series' key
        files.save("tune-k2-abc", result("1-2"))
        path.write_bytes((tmp_path / "results" / "tune-k2-abc.parquet").read_bytes())
    else:
        frame = pd.DataFrame({"part": ["backtest"], "x": [1]})
        frame.to_parquet(path)
    assert files.load("tune-k1-abc") is None and not path.exists()


def test_keys_cannot_name_paths(files):
    with pytest.raises(ValueError):
        files.path("../../etc/passwd")


def test_the_results_frames_come_back_stacked_with_their_series_ids(tmp_path):
    files = ResultFiles(str(tmp_path / "results"), str(tmp_path / "aside"))
    first, second = result("1-1"), result("2-1")
    # statsforecast's intervals come as float32: every file gets float64, and stacking promotes older ones
    for frame in (second.backtest, second.forecast):
        frame["lo_80"] = frame["lo_80"].astype("float32")
    files.save("tune-a", first)
    files.save("tune-b", second)
    backtest, forecast, folds = files.frames([first.summary("tune-a"), second.summary("tune-b")])
    expected = pd.concat([first.backtest.assign(series_id="1-1"), second.backtest.assign(series_id="2-1")])
    pd.testing.assert_frame_equal(backtest, expected.reset_index(drop=True), check_dtype=False)
    assert list(forecast.columns) == [*first.forecast.columns, "series_id"] and len(forecast) == 2 * len(first.forecast)
    assert list(folds.columns) == ["ds", "y", "yhat", "series_id"] and folds["series_id"].tolist() == ["1-1"] * len(
        first.folds
    ) + ["2-1"] * len(second.folds)


def test_a_result_swapped_for_another_series_during_the_run_is_refused(tmp_path):
    files = ResultFiles(str(tmp_path / "results"), str(tmp_path / "aside"))
    files.save("tune-a", result("2-1"))  # written over by someone with another series' result under this key
    with pytest.raises(ValueError, match="changed during the run"):
        files.frames([result("1-1").summary("tune-a")])


def test_saved_tells_which_keys_have_a_result_by_one_fresh_listing(tmp_path):
    files = ResultFiles(str(tmp_path / "results"), str(tmp_path / "aside"))
    assert files.saved(["k1", "k2"]) == set()  # no folder before the first result
    files.save("k1", result())
    files.save("k3", result())
    assert files.saved(["k1", "k2"]) == {"k1"}
    files.save("k2", result())
    assert files.saved(["k1", "k2"]) == {"k1", "k2"}  # not a cached listing
