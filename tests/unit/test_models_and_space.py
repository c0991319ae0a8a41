import json

import numpy as np
import optuna
import pandas as pd
import pytest
import stanio

from manymodels.models import ROUGH_TOLERANCE, fit_prophet, fitted_init, predict, write_stan_json
from manymodels.search_space import Seasonalities, prophet_space
from manymodels.tuning import study_seed

YEARS = pd.Timedelta(days=3 * 365)


@pytest.mark.parametrize(
    ("freq", "history", "expected"),
    [
        ("D", YEARS, Seasonalities(yearly=20, weekly=3, monthly=10)),
        ("D", pd.Timedelta(days=300), Seasonalities(yearly=0, weekly=3, monthly=10)),
        ("W", YEARS, Seasonalities(yearly=20, weekly=0, monthly=0)),
        ("MS", YEARS, Seasonalities(yearly=5, weekly=0, monthly=0)),
        ("D", pd.Timedelta(days=40), Seasonalities(yearly=0, weekly=3, monthly=0)),  # one month: no monthly shape
        ("h", pd.Timedelta(days=40), Seasonalities(yearly=0, weekly=6, monthly=0, daily=10)),  # Prophet's daily too
        ("6h", pd.Timedelta(days=70), Seasonalities(yearly=0, weekly=6, monthly=10, daily=2)),
        ("h", pd.Timedelta(days=1), Seasonalities(yearly=0, weekly=0, monthly=0, daily=0)),
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


def prophet_like_input() -> dict:
    rng = np.random.default_rng(0)
    return {
        "T": 5,
        "K": 2,
        "tau": 0.05,
        "y": rng.random(5).tolist(),
        "X": rng.random((5, 2)).tolist(),
        "s_a": [1.0, 0.0],
        "delta": np.zeros(3),
        "k": np.float64(0.2),
    }


def test_stan_json_matches_what_stanio_writes(tmp_path):
    data = prophet_like_input()
    write_stan_json(tmp_path / "ours.json", data)
    stanio.write_stan_json(tmp_path / "stanio.json", data)
    assert json.loads((tmp_path / "ours.json").read_text()) == json.loads((tmp_path / "stanio.json").read_text())


def test_stan_json_spells_out_values_json_has_no_literal_for(tmp_path):
    data = {**prophet_like_input(), "y": [1.0, float("nan"), float("inf")]}
    write_stan_json(tmp_path / "ours.json", data)
    assert '"y": [1.0, NaN, Infinity]' in (tmp_path / "ours.json").read_text()


@pytest.mark.stan
def test_prophet_takes_the_warm_start_rather_than_its_default_guess():
    days = pd.date_range("2020-01-01", periods=400, freq="D")
    rng = np.random.default_rng(1)
    history = pd.DataFrame({"ds": days, "y": 10 + np.sin(np.arange(400) * 2 * np.pi / 7) + rng.normal(0, 0.1, 400)})
    from prophet.models import CmdStanPyBackend

    cold = fit_prophet(history, solver="stan")  # warm starts are Stan's: the exact solver needs none
    init = fitted_init(cold)
    guess = {
        "k": 0.0,
        "m": 0.0,
        "sigma_obs": 1.0,
        "delta": np.zeros_like(init["delta"]),
        "beta": np.zeros_like(init["beta"]),
    }
    taken = CmdStanPyBackend.sanitize_custom_inits(guess, init)  # Prophet silently drops what it cannot use
    assert {name: np.asarray(v).tolist() for name, v in taken.items()} == {
        name: np.asarray(v).tolist() for name, v in init.items()
    }
    warm = fit_prophet(history, init=init, solver="stan")
    np.testing.assert_allclose(warm.params["sigma_obs"], cold.params["sigma_obs"], rtol=1e-2)


def weekly_history(n: int = 400) -> pd.DataFrame:
    days = pd.date_range("2020-01-01", periods=n, freq="D")
    rng = np.random.default_rng(2)
    return pd.DataFrame(
        {"ds": days, "y": 20 + 0.01 * np.arange(n) + 3 * np.sin(np.arange(n) * 2 * np.pi / 7) + rng.normal(0, 1, n)}
    )


@pytest.mark.stan
@pytest.mark.parametrize("mode", ["additive", "multiplicative"])
def test_quick_prophet_fits_and_forecasts_as_prophet_does(mode):
    from prophet import Prophet

    from manymodels.quick_prophet import QuickProphet, SolverBackend, point_forecast

    params = {
        "seasonality_mode": mode,
        "changepoint_prior_scale": 0.1,
        "seasonality_prior_scale": 5.0,
        "yearly_seasonality": 4,
        "weekly_seasonality": 3,
    }
    history, future = weekly_history(), pd.date_range("2021-02-04", periods=30, freq="D")
    stock, quick = (cls(uncertainty_samples=0, daily_seasonality=False, **params) for cls in (Prophet, QuickProphet))
    quick.stan_backend = SolverBackend("stan")  # the same optimiser, so the same parameters
    for model in (stock, quick):
        model.add_seasonality("monthly", period=30.5, fourier_order=2)
        model.fit(history)
    for name, value in stock.params.items():
        np.testing.assert_array_equal(quick.params[name], value)
    expected = stock.predict(pd.DataFrame({"ds": future}))["yhat"].to_numpy()
    np.testing.assert_allclose(point_forecast(quick, future), expected, rtol=1e-12)
    np.testing.assert_allclose(point_forecast(quick, pd.Series(future)), expected, rtol=1e-12)


def test_quick_prophet_keeps_each_fit_its_own_component_layout():
    from manymodels.quick_prophet import QuickProphet

    history = weekly_history()
    first = QuickProphet(uncertainty_samples=0, yearly_seasonality=False, weekly_seasonality=3).fit(history)
    second = QuickProphet(uncertainty_samples=0, yearly_seasonality=False, weekly_seasonality=3).fit(history)
    other = QuickProphet(uncertainty_samples=0, yearly_seasonality=2, weekly_seasonality=False).fit(history)
    assert first.train_component_cols.equals(second.train_component_cols)
    assert first.train_component_cols is not second.train_component_cols
    assert first.component_modes == second.component_modes and first.component_modes is not second.component_modes
    assert list(other.train_component_cols.index) == [0, 1, 2, 3]
    assert "yearly" in other.train_component_cols and "weekly" not in other.train_component_cols


def test_quick_forecast_falls_back_to_prophet_for_what_it_does_not_compute():
    from manymodels.quick_prophet import QuickProphet, point_forecast

    history = weekly_history().assign(promo=lambda f: (f.index % 10 == 0).astype(float))
    model = QuickProphet(uncertainty_samples=0, yearly_seasonality=False)
    model.add_regressor("promo")
    model.fit(history)
    future = pd.DataFrame({"ds": pd.date_range("2021-02-04", periods=10, freq="D"), "promo": 1.0})
    with pytest.raises(ValueError, match="promo"):  # Prophet's own predict, which needs the regressor's values
        point_forecast(model, future["ds"])


def test_a_holiday_calendar_gives_prophet_the_countrys_holidays_as_effects():
    dates = pd.date_range("2021-01-01", periods=3 * 365, freq="D")
    christmas = (dates.month == 12) & (dates.day == 25)
    history = pd.DataFrame({"ds": dates, "y": 50 + 10 * np.sin(np.arange(len(dates)) / 3) - 40 * christmas})
    plain, with_holidays = fit_prophet(history), fit_prophet(history, holidays="US")
    assert plain.train_holiday_names is None and "Christmas Day" in set(with_holidays.train_holiday_names)
    from manymodels.models import predict

    day = pd.Series(pd.to_datetime(["2024-12-24", "2024-12-25"]))
    before, on = predict(with_holidays, day, None)
    assert on < before - 20  # the holiday's dip is forecast, where the plain model has none
    assert abs(np.diff(predict(plain, day, None))[0]) < 20


def test_the_log_transform_is_searched_only_where_the_data_allow_it():
    fixed = {
        "seasonality_mode": "additive",
        "transform": "log1p",
        "changepoint_prior_scale": 0.01,
        "seasonality_prior_scale": 1.0,
        "holidays_prior_scale": 0.1,
    }
    none = Seasonalities(0, 0, 0)
    assert prophet_space(optuna.trial.FixedTrial(fixed), none, log_allowed=True) == fixed
    assert "transform" not in prophet_space(optuna.trial.FixedTrial(fixed), none, log_allowed=False)


def test_a_log_model_fits_log1p_of_y_and_forecasts_on_the_original_scale():
    from manymodels.models import new_prophet, predict
    from manymodels.quick_prophet import point_forecast

    dates = pd.date_range("2022-01-01", periods=300, freq="D")
    history = pd.DataFrame({"ds": dates, "y": np.exp(2 + np.arange(300) / 150) * (1 + 0.2 * (dates.dayofweek == 5))})
    params = {"seasonality_mode": "additive", "changepoint_prior_scale": 0.05, "seasonality_prior_scale": 10.0,
              "holidays_prior_scale": 10.0, "weekly_order": 3}  # fmt: skip
    future = pd.Series(pd.date_range(dates[-1], periods=8, freq="D")[1:])
    logged = fit_prophet(history, params | {"transform": "log1p"})
    by_hand = new_prophet(params).fit(history.assign(y=np.log1p(history["y"])))
    np.testing.assert_allclose(predict(logged, future, 0.0), np.expm1(point_forecast(by_hand, future)), rtol=1e-9)
    np.testing.assert_allclose(predict(logged, future, 0.0), np.exp(2 + np.arange(300, 307) / 150), rtol=0.25)


@pytest.mark.stan
def test_a_rough_fit_loosens_only_the_stopping_rule_and_ends_near_a_full_fit():
    history, future = weekly_history(1000), pd.date_range("2022-09-27", periods=28, freq="D")
    params = {"seasonality_mode": "additive", "changepoint_prior_scale": 0.05, "seasonality_prior_scale": 1.0,
              "holidays_prior_scale": 1.0, "yearly_order": 10, "weekly_order": 3}  # fmt: skip
    full, rough = fit_prophet(history, params, solver="stan"), fit_prophet(history, params, rough=True, solver="stan")
    assert full.stan_fit.metadata.cmdstan_config["tol_rel_obj"] == 1e4
    assert rough.stan_fit.metadata.cmdstan_config["tol_rel_obj"] == ROUGH_TOLERANCE["tol_rel_obj"]
    np.testing.assert_allclose(predict(rough, future, None), predict(full, future, None), rtol=1e-3)


@pytest.mark.stan
def test_a_rough_fit_of_a_short_series_is_prophets_newton_fit():
    history = weekly_history(60)
    rough, full = fit_prophet(history, rough=True, solver="stan"), fit_prophet(history, solver="stan")
    assert rough.stan_fit.metadata.cmdstan_config["algorithm"] == "newton"
    np.testing.assert_array_equal(rough.params["beta"], full.params["beta"])
