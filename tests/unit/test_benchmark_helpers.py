import numpy as np
import pandas as pd
import pytest

from benchmarks.accuracy import checks, gap_interval
from benchmarks.floor import oracle_fits, oracle_smape, poisson_noise
from benchmarks.workloads import seasonal_naive, train_and_valid
from manymodels.metrics import smape


def test_seasonal_naive_repeats_the_last_season():
    assert seasonal_naive(np.arange(1.0, 11.0), 5, 3).tolist() == [8, 9, 10, 8, 9]
    assert seasonal_naive(np.array([4.0]), 2, 7).tolist() == [4, 4]


def test_the_validation_window_is_the_horizon_before_the_test():
    frame = pd.DataFrame({"y": range(10), "split": ["train"] * 8 + ["test"] * 2})
    train, valid = train_and_valid(frame, horizon=3)
    assert train["y"].tolist() == [0, 1, 2, 3, 4] and valid["y"].tolist() == [5, 6, 7]


def _scores(champion: np.ndarray, model: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "smape_champion_model": champion,
            "mase_champion_model": champion / 10,
            "smape_auto_ets": model,
            "mase_auto_ets": model / 10,
            "smape_naive2": np.full(len(champion), 20.0),
            "mase_naive2": np.full(len(champion), 2.0),
        }
    )


def test_the_gap_interval_straddles_zero_when_neither_model_is_better_on_most_series():
    errors = np.random.default_rng(1).uniform(5, 15, size=(2, 400))
    low, high = gap_interval(_scores(errors[0], errors[1]), "auto_ets")
    assert low < 0 < high


def test_the_gap_interval_lies_below_zero_when_the_champion_is_better_on_every_series():
    model = np.random.default_rng(2).uniform(5, 15, size=50)
    low, high = gap_interval(_scores(0.8 * model, model), "auto_ets")
    assert low < -0.2 * model.mean() / 20 < high < 0  # the measured gap inside, every resample's below zero


def test_the_oracle_floor_is_the_noise_of_series_with_one_shape():
    rng = np.random.default_rng(3)
    dates = pd.date_range("2017-10-03", periods=90, freq="D")
    shape = np.asarray([0.8, 0.9, 0.9, 1.0, 1.0, 1.1, 1.3])[dates.day_of_week] * np.where(dates.month == 12, 1.2, 1)
    means = [level * shape for level in rng.uniform(20, 80, size=60)]
    frames = [pd.DataFrame({"store": s, "date": dates, "sales": rng.poisson(m)}) for s, m in enumerate(means)]
    floor = oracle_smape(pd.concat(frames), ["store"], "sales", "date")
    truth = np.mean([smape(f["sales"].to_numpy(float), m) for f, m in zip(frames, means, strict=True)])
    assert floor == pytest.approx(truth, rel=0.03)  # the true means score about what the oracle does: the noise
    assert oracle_smape(pd.concat(frames), ["store"], "sales", "date", trend=True) <= floor
    dispersion, noise = poisson_noise(oracle_fits(pd.concat(frames), ["store"], "sales", "date"))
    assert dispersion == pytest.approx(1, abs=0.1) and noise == pytest.approx(truth, rel=0.03)


def test_poisson_noise_is_the_smape_of_the_true_mean_and_over_dispersion_shows():
    y, mean = np.full(200, 100.0), np.full(200, 100.0)
    _, noise = poisson_noise([(y, mean)], draws=50)
    assert noise == pytest.approx(100 * np.sqrt(2 / (np.pi * 100)), rel=0.05)  # E|y - m| / m for Poisson(m), m large
    spread = np.random.default_rng(1).normal(100, 30, size=400)
    assert poisson_noise([(spread, np.full(400, 100.0))])[0] > 5  # variance 900 about a mean of 100


def test_make_accuracy_checks_every_target_of_each_data_set_it_ran():
    """What `make accuracy` prints (met or NOT MET) for each target: those of the data sets that ran, by these
    names (tests/e2e/test_accuracy.py runs the smallest one end to end)."""

    def scored(owa: float, best_single: float) -> dict:
        singles = {"auto_ets": best_single, "naive": 2.0}
        coverage = {"80": 0.79, "95": 0.96}
        return {"mean_smape": 12.0, "series_over_1_05": 0, "coverage": coverage, "owa": owa,
                "owa_single_models": singles, "best_single_model": "auto_ets"}  # fmt: skip

    results = {"daily": scored(0.7, 0.8), "weekly": scored(1.0, 0.9), "panel_quarterly": scored(0.9, 0.9)}
    assert checks(results) == {
        "daily mean sMAPE <= 12.24": True,
        "daily: every series <= 1.05 x seasonal naive": True,
        "daily: 80% and 95% intervals cover within 2 points of nominal": True,
        "weekly OWA < 1": False,
        "daily: champion OWA <= best single model's": True,
        "weekly: champion OWA <= best single model's": False,
        "panel_quarterly: champion OWA <= best single model's": True,
        "panel: mean champion OWA < 0.93": True,
    }
    assert results["panel_mean_owa"] == 0.9
    assert set(checks({"panel_quarterly": scored(0.9, 0.9)})) == {
        "panel_quarterly: champion OWA <= best single model's",
        "panel: mean champion OWA < 0.93",
    }


def test_the_competitions_are_scored_by_their_own_metrics_on_the_official_test_window():
    from types import SimpleNamespace

    from benchmarks.competitions import history_frame, score, summarise
    from manymodels.bounds import lower_column, upper_column

    x, xx = np.array([10.0, 12, 11, 13, 12, 14, 13, 15]), np.array([14.0, 16])
    series = [SimpleNamespace(sn="T1", x=x, xx=xx, period=2, h=2), SimpleNamespace(sn="T2", x=x, xx=xx, period=2, h=2)]
    frame = history_frame(series, "QS")
    assert frame["date"].iloc[-2:].tolist() == [pd.Timestamp("2018-10-01"), pd.Timestamp("2019-01-01")]
    forecasts = pd.DataFrame(
        {"series_id": "T1", "ds": [1, 2], "model": "auto_ets", "yhat": [15.0, 16.0]}
        | {column(lv): [v, v] for lv in (80, 95) for column, v in ((lower_column, 13.0), (upper_column, 15.5))}
    )
    scores = score(series, forecasts, "mase")  # T2 has no forecast
    one = scores.set_index("series").loc["T1"]
    assert one["champion_model"] == pytest.approx(0.5 / 1.0)  # mean |error| 0.5 over seasonal naive's in-sample 1
    assert one["seasonal_naive"] == pytest.approx(((14 - 13) + (16 - 15)) / 2 / 1.0)
    assert one["inside_80"] == 1  # 14 inside [13, 15.5], 16 not
    summary = summarise("tourism_quarterly", scores)
    assert summary["series_missing"] == 1 and not summary["met"] and summary["metric"] == "mase"
    assert one["auto_ets"] == pytest.approx(summary["singles"]["auto_ets"])  # the single models over T1 alone
    best = summary["best_single"]
    assert summary["singles"][best] == min(summary["singles"].values())
    assert summary["gap_to_best_single"] == pytest.approx(one["champion_model"] - one[best], abs=1e-4)
    assert summary["gap_interval"] == [summary["gap_to_best_single"]] * 2  # one series: every resample the same
