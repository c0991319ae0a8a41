import pandas as pd
import pytest

from manymodels.evaluation import aggregate, series_metrics, tuning_wins


def metrics_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "store": ["1", "1", "2", "2"],
            "series_id": ["a", "a", "b", "b"],
            "model": ["prophet_tuned", "seasonal_naive"] * 2,
            "smape": [10.0, 12.0, 20.0, 18.0],
            "mase": [1.0, 1.0, 1.0, 1.0],
            "wape": [1.0] * 4,
            "rmse": [1.0] * 4,
            "bias": [0.0] * 4,
        }
    )


def test_tuning_wins_counts_series_and_average_gain():
    wins = tuning_wins(metrics_frame())["seasonal_naive"]
    assert wins["share_series_better"] == 0.5
    assert wins["mean_improvement"] == 0.0


def test_aggregate_overall_and_by_id_column():
    assert aggregate(metrics_frame())["prophet_tuned"]["smape"] == 15.0
    assert aggregate(metrics_frame(), by="store")["2"]["seasonal_naive"]["smape"] == 18.0


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
