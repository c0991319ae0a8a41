import numpy as np
import optuna
import pandas as pd
import pytest

from manymodels.models import seasonal_naive
from manymodels.search_space import Seasonalities, prophet_space
from manymodels.tuning import study_seed

YEARS = pd.Timedelta(days=3 * 365)


def test_seasonal_naive_repeats_the_last_season():
    assert seasonal_naive(np.arange(1.0, 11.0), 5, 3).tolist() == [8, 9, 10, 8, 9]
    assert seasonal_naive(np.array([4.0]), 2, 7).tolist() == [4, 4]


@pytest.mark.parametrize(
    ("freq", "history", "expected"),
    [
        ("D", YEARS, Seasonalities(yearly=20, weekly=3, monthly=10)),
        ("D", pd.Timedelta(days=300), Seasonalities(yearly=0, weekly=3, monthly=10)),
        ("W", YEARS, Seasonalities(yearly=20, weekly=0, monthly=0)),
        ("MS", YEARS, Seasonalities(yearly=5, weekly=0, monthly=0)),
    ],
)
def test_allowed_seasonalities_follow_frequency_and_history(freq, history, expected):
    assert Seasonalities.for_series(freq, history) == expected


def test_search_space_covers_the_prophet_hyperparameters():
    fixed = {
        "seasonality_mode": "multiplicative",
        "changepoint_prior_scale": 0.01,
        "seasonality_prior_scale": 1.0,
        "holidays_prior_scale": 0.1,
        "yearly_order": 10,
        "weekly_order": 3,
        "monthly_order": 0,
    }
    assert prophet_space(optuna.trial.FixedTrial(fixed), Seasonalities(20, 3, 10)) == fixed


def test_search_space_skips_seasonalities_the_data_cannot_carry():
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    params = prophet_space(study.ask(), Seasonalities(yearly=0, weekly=0, monthly=0))
    assert set(params) == {
        "seasonality_mode",
        "changepoint_prior_scale",
        "seasonality_prior_scale",
        "holidays_prior_scale",
    }
    assert 0.001 <= params["changepoint_prior_scale"] <= 0.5


def test_study_seed_depends_on_seed_and_series_only():
    assert study_seed(0, "1-1") == study_seed(0, "1-1") != study_seed(1, "1-1") != study_seed(0, "1-2")
