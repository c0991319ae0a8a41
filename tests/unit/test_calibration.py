"""Conformal calibration of the champion's intervals: scores, the finite-sample quantile, moved and nested bounds."""

import numpy as np
import pytest

from manymodels.bounds import Forecast, Interval
from manymodels.calibration import (
    KEPT_SCORES,
    Corrections,
    calibrated,
    conformity,
    correction,
    enough,
    kept,
    one_sided,
    pooled_corrections,
)


def test_conformity_is_the_distance_outside_the_bounds_and_negative_inside():
    lo, hi = np.array([0.0, 0.0, 0.0]), np.array([10.0, 10.0, 10.0])
    assert conformity(np.array([-2.0, 4.0, 13.0]), lo, hi).tolist() == [2.0, -4.0, 3.0]


def test_the_correction_is_the_split_conformal_quantile_of_the_scores():
    scores = np.arange(1.0, 20.0)[::-1]  # 19 scores, in any order
    assert correction(scores, 80) == 16.0  # rank ceil(20 * 0.8) = 16
    assert correction(scores, 95) == 19.0  # rank 19 of 19
    assert correction(np.array([1.0, 2.0, 3.0, 4.0]), 95) == 4.0  # too few for the level: the largest
    assert correction(np.array([]), 80) == 0.0


def test_bounds_move_by_their_level_correction_stay_above_the_floor_and_nested():
    forecast = Forecast(
        np.array([5.0, 5.0]),
        {
            80: Interval(np.array([3.0, 2.0]), np.array([7.0, 8.0])),
            95: Interval(np.array([2.0, 1.0]), np.array([8.0, 9.0])),
        },
    )
    out = calibrated(forecast, Corrections(levels={80: 2.5, 95: -0.5}), floor=0.0)
    assert out.mean.tolist() == [5.0, 5.0]
    lo, hi = out.intervals[80]
    assert lo.tolist() == [0.5, 0.0] and hi.tolist() == [9.5, 10.5]  # 2 - 2.5 clipped at 0
    lo, hi = out.intervals[95]
    assert lo.tolist() == [0.5, 0.0] and hi.tolist() == [9.5, 10.5]  # never inside the 80%'s
    assert forecast.intervals[80].lo.tolist() == [3.0, 2.0]  # the input is left as it was
    kept = calibrated(forecast, Corrections(), None)
    assert kept.mean is forecast.mean and not kept.intervals and not kept.quantiles
    narrowed = calibrated(forecast, Corrections(levels={80: -4.0}), None)  # moved in: never past the point
    assert narrowed.intervals[80].lo.tolist() == [5.0, 5.0] and narrowed.intervals[80].hi.tolist() == [5.0, 5.0]


def test_quantiles_start_from_their_side_s_bound_move_by_their_one_sided_correction_and_stay_in_order():
    assert one_sided(np.arange(1.0, 20.0), 0.9) == 18.0  # rank ceil(20 * 0.9) = 18 of 19
    forecast = Forecast(
        np.array([5.0]),
        {80: Interval(np.array([3.0]), np.array([7.0])), 90: Interval(np.array([2.0]), np.array([8.0]))},
    )
    out = calibrated(forecast, Corrections(quantiles={0.1: 0.5, 0.5: 1.0, 0.9: -0.5, 0.95: -2.0}), None)
    assert out.mean.tolist() == [5.0] and not out.intervals
    assert {q: v.tolist() for q, v in out.quantiles.items()} == {
        0.1: [3.5], 0.5: [6.0], 0.9: [6.5], 0.95: [6.5],  # 8 - 2 = 6 < 6.5: in order
    }  # fmt: skip


@pytest.mark.parametrize("scale", [0.3, 3.0])
def test_intervals_too_narrow_or_too_wide_on_the_folds_cover_as_nominal_after_calibration(scale):
    rng = np.random.default_rng(0)
    true_80 = 1.2816  # a standard normal's 80% central interval is +-1.2816
    y_folds, y_new = rng.normal(size=400), rng.normal(size=20_000)
    half = np.full(400, scale * true_80)
    q = correction(conformity(y_folds, -half, half), 80)
    new_half = scale * true_80 + q
    assert np.mean(np.abs(y_new) <= new_half) == pytest.approx(0.80, abs=0.03)


def test_a_level_needs_enough_scores_for_its_quantile():
    assert enough(4, 80) and not enough(3, 80)  # rank ceil(5 * 0.8) = 4 of 4
    assert enough(19, 95) and not enough(18, 95) and not enough(0, 80)


def test_a_series_keeps_few_of_its_scaled_scores_spread_over_their_order():
    scores = np.arange(100.0)[::-1]
    kept_scores = kept(scores, 2.0)
    assert len(kept_scores) == KEPT_SCORES and kept_scores[0] == 0.0 and kept_scores[-1] == 99.0 / 2
    assert kept_scores == sorted(kept_scores)
    assert kept(np.array([3.0, 1.0]), 0.5) == [2.0, 6.0]
    assert kept(np.array([3.0]), 0.0) == kept(np.array([3.0]), np.nan) == kept(np.array([]), 1.0) == []


def test_the_pooled_correction_is_the_quantile_of_every_series_scaled_scores():
    series = [{"80": [0.0, 1.0], "95": [5.0] * 10}, {"80": [2.0, 3.0], "95": [6.0] * 9}, {}]
    pooled = pooled_corrections(series, [80, 95, 50])
    assert pooled == {"80": correction(np.array([0.0, 1.0, 2.0, 3.0]), 80), "95": 6.0}  # none for 50: no scores
    assert pooled_corrections(series[1:], [80, 95]) == {}  # too few for either level
