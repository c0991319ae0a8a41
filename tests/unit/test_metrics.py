import numpy as np
import pytest

from manymodels.bounds import Interval
from manymodels.metrics import (
    METRICS,
    bias,
    coverage,
    evaluate,
    interval_pinball,
    mase,
    owa,
    pinball,
    rmse,
    seasonal_mae,
    smape,
    wape,
)

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
    assert seasonal_mae(history, 4) == pytest.approx(np.mean(np.abs(np.diff(history))))  # a season or less: naive


def test_evaluate_runs_every_metric():
    assert set(evaluate(Y, YHAT, 1.0)) == set(METRICS)


def test_coverage_counts_actuals_inside_their_bounds_inclusive():
    assert (
        coverage(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 3.0, 0.0, 0.0]), np.array([2.0, 4.0, 3.0, 3.0])) == 0.5
    )


def test_pinball_weighs_under_and_over_forecasts_by_tau():
    y = np.array([10.0, 10.0])
    assert pinball(y, np.array([8.0, 13.0]), 0.9) == pytest.approx((0.9 * 2 + 0.1 * 3) / 2)
    assert pinball(y, np.array([8.0, 13.0]), 0.5) == pytest.approx(0.5 * (2 + 3) / 2)


def test_interval_pinball_averages_the_bounds_of_every_level():
    y = np.array([10.0])
    bounds = {80: Interval(np.array([9.0]), np.array([12.0])), 50: Interval(np.array([11.0]), np.array([10.0]))}
    # 80's lower (tau .1): .1*1; upper (tau .9): .1*2; 50's lower (tau .25): .75*1; upper (tau .75): 0
    assert interval_pinball(y, bounds) == pytest.approx((0.1 + 0.2 + 0.75 + 0.0) / 4)


def test_owa_of_naive2_itself_is_one_and_halves_with_both_errors():
    assert owa(12.0, 1.5, 12.0, 1.5) == 1.0
    assert owa(6.0, 0.75, 12.0, 1.5) == 0.5
