import numpy as np
import pandas as pd
import pytest

from manymodels.evaluation import (
    aggregate,
    champion_wins,
    interval_scores,
    owa_by_model,
    selection_report,
    series_metrics,
)
from manymodels.summary import Selection


def metrics_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "store": ["1", "1", "1", "2", "2", "2"],
            "series_id": ["a", "a", "a", "b", "b", "b"],
            "model": ["champion", "seasonal_naive", "naive2"] * 2,
            "smape": [10.0, 12.0, 20.0, 20.0, 18.0, 20.0],
            "mase": [1.0, 1.0, 2.0, 1.0, 2.0, 2.0],
            "wape": [1.0] * 6,
            "rmse": [1.0] * 6,
            "bias": [0.0] * 6,
        }
    )


def test_champion_wins_counts_series_and_average_gain():
    wins = champion_wins(metrics_frame())["seasonal_naive"]
    assert wins["share_series_better"] == 0.5
    assert wins["mean_improvement"] == 0.0 and wins["champion_mean"] == 15.0 and wins["model_mean"] == 15.0


def test_owa_is_the_mean_of_smape_and_mase_relative_to_naive2():
    owa = owa_by_model(metrics_frame())
    assert owa["champion"] == pytest.approx(0.5 * (15 / 20 + 1 / 2))
    assert owa["seasonal_naive"] == pytest.approx(0.5 * (15 / 20 + 1.5 / 2)) and "naive2" not in owa
    assert owa_by_model(metrics_frame().query("model != 'naive2'")) == {}


def test_a_model_of_some_series_is_scored_against_naive2_on_those_and_is_never_the_model_for_every_series():
    croston = pd.DataFrame({"store": ["2"], "series_id": ["b"], "model": ["croston"], "smape": [5.0], "mase": [0.5]})
    metrics = pd.concat([metrics_frame(), croston], ignore_index=True)
    owa = owa_by_model(metrics)
    assert owa["croston"] == pytest.approx(0.5 * (5 / 20 + 0.5 / 2))  # against Naive2 on series b alone
    assert selection_report(metrics, owa, "smape")["best_single_model"] == "seasonal_naive"


def test_the_selection_report_says_how_often_the_champion_was_best_and_whether_the_contest_helped():
    metrics = metrics_frame()
    report = selection_report(metrics, owa_by_model(metrics), "smape")
    assert report["champion_best_share"] == 0.5  # a: 10 against 12; b: 20 against 18
    assert report["best_single_model"] == "seasonal_naive" and report["best_single_owa"] == pytest.approx(0.75)
    assert report["champion_owa"] == pytest.approx(0.625)
    assert "the contest helped" in Selection(**report).line()
    worse = metrics.assign(smape=np.where(metrics["model"] == "champion", 30.0, metrics["smape"]))
    assert "did not help" in Selection(**selection_report(worse, owa_by_model(worse), "smape")).line()


def test_aggregate_overall_and_by_id_column():
    assert aggregate(metrics_frame())["champion"]["smape"] == 15.0
    assert aggregate(metrics_frame(), by="store")["2"]["seasonal_naive"]["smape"] == 18.0


def test_interval_scores_give_coverage_per_level_and_mean_pinball():
    backtest = pd.DataFrame(
        {
            "series_id": ["a", "a", "b", "b"],
            "model": "champion",
            "y": [10.0, 20.0, 5.0, 5.0],
            "lo_80": [8.0, 21.0, 4.0, 6.0],
            "hi_80": [12.0, 25.0, 6.0, 7.0],
        }
    )
    scores = interval_scores(backtest, [80])
    assert scores["coverage"] == {"80": 0.5}  # 10 in [8, 12], 20 below 21, 5 in [4, 6], 5 below 6
    # pinball at tau 0.1 (lo) and 0.9 (hi): a: lo 0.1*2, 0.9*1; hi 0.1*2, 0.1*5 -> mean 0.45;
    # b: lo 0.1*1, 0.9*1; hi 0.1*1, 0.1*2 -> mean 0.325
    assert scores["pinball"] == pytest.approx(np.mean([0.45, 0.325]))


def test_series_metrics_scores_each_series_and_model():
    backtest = pd.DataFrame(
        {
            "store": "1",
            "series_id": "a",
            "ds": pd.date_range("2024-01-01", periods=2).repeat(2),
            "y": [1.0, 1.0, 3.0, 3.0],
            "model": ["m1", "m2"] * 2,
            "yhat": [1.0, 2.0, 3.0, 1.0],
        }
    )
    profiles = pd.DataFrame({"series_id": ["a"], "mase_scale": [2.0]})
    out = series_metrics(backtest, profiles, ["store"]).set_index("model")
    assert out.loc["m1", "smape"] == 0.0
    assert out.loc["m2", "mase"] == pytest.approx((1 + 2) / 2 / 2.0)
    assert out.loc["m2", "store"] == "1"
