import numpy as np
import pytest

from manymodels.metrics import METRICS, bias, evaluate, mase, rmse, seasonal_mae, smape, wape

Y = np.array([1.0, 2.0, 3.0])
YHAT = np.array([2.0, 2.0, 1.0])


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (smape, 100 * (2 / 3 + 0 + 1) / 3),  # 2|e|/(|y|+|yhat|) = 2/3, 0, 4/4
        (wape, 100 * 3 / 6),
        (rmse, np.sqrt(5 / 3)),
        (bias, -1 / 3),
    ],
)
def test_metric_matches_hand_computed_value(fn, expected):
    assert fn(Y, YHAT) == pytest.approx(expected)


def test_mase_divides_mae_by_the_scale():
    assert mase(Y, YHAT, 2.0) == pytest.approx(0.5)
    assert np.isnan(mase(Y, YHAT, 0.0))


def test_smape_counts_zero_over_zero_as_perfect():
    assert smape(np.zeros(3), np.zeros(3)) == 0.0
    assert smape(np.zeros(2), np.array([0.0, 5.0])) == pytest.approx(100.0)


def test_wape_of_all_zero_actuals_is_undefined():
    assert np.isnan(wape(np.zeros(2), np.ones(2)))


def test_seasonal_mae_is_the_in_sample_seasonal_naive_error():
    history = np.array([1.0, 2.0, 4.0, 3.0])
    assert seasonal_mae(history, 2) == pytest.approx((3 + 1) / 2)
    assert np.isnan(seasonal_mae(history, 4))


def test_evaluate_runs_every_metric():
    assert set(evaluate(Y, YHAT, 1.0)) == set(METRICS)
