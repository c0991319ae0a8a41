"""The exact Prophet solver against Stan: the same objective, a log posterior at least as high, Prophet's shapes."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

from benchmarks.workloads import STORE_ITEM
from manymodels import exact
from manymodels.models import fit_prophet, new_prophet, predict
from manymodels.quick_prophet import SolverBackend
from manymodels.synthetic import make_retail_sales

SETTINGS = [
    {"seasonality_mode": "additive", "changepoint_prior_scale": 0.05, "seasonality_prior_scale": 10.0,
     "holidays_prior_scale": 10.0, "yearly_order": 10, "weekly_order": 3},
    {"seasonality_mode": "additive", "changepoint_prior_scale": 0.5, "seasonality_prior_scale": 0.1,
     "holidays_prior_scale": 1.0, "yearly_order": 3, "weekly_order": 3, "monthly_order": 4, "transform": "log1p"},
    {"seasonality_mode": "additive", "changepoint_prior_scale": 0.001, "seasonality_prior_scale": 1.0,
     "holidays_prior_scale": 0.1, "weekly_order": 2},
    {"seasonality_mode": "multiplicative", "changepoint_prior_scale": 0.05, "seasonality_prior_scale": 10.0,
     "holidays_prior_scale": 10.0, "yearly_order": 10, "weekly_order": 3},
    {"seasonality_mode": "multiplicative", "changepoint_prior_scale": 0.3, "seasonality_prior_scale": 0.05,
     "holidays_prior_scale": 0.5, "yearly_order": 5, "weekly_order": 3, "transform": "log1p"},
]  # fmt: skip


def panel() -> list[pd.DataFrame]:
    """Two series of the project's own generator, and two store-item series where the data is present."""
    sales = make_retail_sales(2, days=3 * 365, seed=3)
    if STORE_ITEM.exists():
        real = pd.read_csv(STORE_ITEM, parse_dates=["date"], nrows=2 * 1826)
        sales = pd.concat([sales, real.assign(store=real["store"] + 100)])
    groups = sales.groupby(["store", "item"], sort=True)
    return [pd.DataFrame({"ds": pd.to_datetime(g["date"]), "y": g["sales"].astype(float)}) for _, g in groups]


def problem_of(history: pd.DataFrame, params: dict, **extra) -> exact.Problem:
    """Prophet's own Stan data for these settings: the design, scaling and priors its preprocess builds."""
    model = new_prophet(params, holidays=extra.get("holidays"), regressors=extra.get("regressors", ()))
    frame = history.assign(y=np.log1p(history["y"])) if params.get("transform") == "log1p" else history
    return exact.Problem.of(dataclasses.asdict(model.preprocess(frame)))


@pytest.fixture(scope="module")
def fits():
    """Each panel series under each setting, fitted by Stan (default tolerance) and by the exact solver."""
    out = []
    for history in panel():
        for params in SETTINGS:
            stan = fit_prophet(history, params, solver="stan")
            mine = fit_prophet(history, params)
            out.append((history, params, stan, mine))
    return out


@pytest.mark.stan
def test_the_objective_is_stans_log_posterior(fits):
    for history, params, stan, _ in fits:
        lp = float(stan.stan_fit.optimized_params_dict["lp__"])
        assert exact.log_posterior_of(problem_of(history, params), stan.params) == pytest.approx(lp, rel=1e-7, abs=1e-4)


@pytest.mark.stan
def test_the_exact_fit_is_at_least_as_probable_as_stans(fits):
    for history, params, stan, mine in fits:
        assert mine.stan_backend.used == "exact"
        problem = problem_of(history, params)
        assert exact.log_posterior_of(problem, mine.params) >= exact.log_posterior_of(problem, stan.params) - 1e-6


@pytest.mark.stan
def test_exact_parameters_have_prophets_shapes_and_forecast_through_its_predict(fits):
    future = pd.DataFrame({"ds": pd.date_range("2018-01-01", periods=30, freq="D")})
    for _, params, stan, mine in fits:
        assert {k: np.shape(v) for k, v in mine.params.items()} == {k: np.shape(v) for k, v in stan.params.items()}
        np.testing.assert_allclose(mine.params["trend"], stan.params["trend"], rtol=0.05, atol=0.02)
        yhat = mine.predict(future)["yhat"].to_numpy()
        expected = predict(mine, future, None)
        expected = np.log1p(expected) if params.get("transform") == "log1p" else expected
        np.testing.assert_allclose(yhat, expected, rtol=1e-9)


@pytest.mark.stan
def test_the_model_mean_is_prophets_prediction_on_its_history(fits):
    history, params, _, mine = fits[3]  # multiplicative: trend x (1 + seasonal) in Prophet's own predict
    problem = problem_of(history, params)
    p = {name: np.asarray(value).reshape(-1) for name, value in mine.params.items()}
    mean = exact.mean_of(problem, p["k"][0], p["m"][0], p["delta"], p["beta"])
    np.testing.assert_allclose(mean * mine.y_scale, mine.predict(history[["ds"]])["yhat"], rtol=1e-9)


@pytest.mark.stan
def test_holidays_regressors_missing_dates_and_no_changepoints_are_solved_exactly():
    history = panel()[0].iloc[:700]
    history = history.drop(history.index[100:130]).assign(promo=lambda f: (f["ds"].dt.day < 8).astype(float))
    params = SETTINGS[0] | {"yearly_order": 4}
    for extra in ({"holidays": "US"}, {"regressors": ("promo",)}):
        stan = fit_prophet(history, params, solver="stan", **extra)
        mine = fit_prophet(history, params, **extra)
        problem = problem_of(history, params, **extra)
        assert mine.stan_backend.used == "exact"
        assert exact.log_posterior_of(problem, mine.params) >= exact.log_posterior_of(problem, stan.params) - 1e-6
    model = new_prophet(params)
    model.n_changepoints = 0
    model.fit(history)
    assert model.stan_backend.used == "exact" and np.all(model.params["delta"] == 0)  # folded into k, as Prophet


@pytest.mark.stan
def test_short_series_and_constant_series_behave_as_prophets():
    short = panel()[1].iloc[:60]  # under 100 points: Prophet optimises with Newton
    stan, mine = fit_prophet(short, SETTINGS[2], solver="stan"), fit_prophet(short, SETTINGS[2])
    problem = problem_of(short, SETTINGS[2])
    assert exact.log_posterior_of(problem, mine.params) >= exact.log_posterior_of(problem, stan.params) - 1e-6
    flat = short.assign(y=4.0)
    constant, stan_constant = fit_prophet(flat, SETTINGS[0]), fit_prophet(flat, SETTINGS[0], solver="stan")
    assert constant.stan_backend.used is None  # Prophet's own shortcut, before any solver
    np.testing.assert_array_equal(predict(constant, flat, None), predict(stan_constant, flat, None))


@pytest.mark.stan
def test_logistic_growth_goes_to_stan_and_a_failed_check_falls_back(monkeypatch):
    history = panel()[0].iloc[:400].assign(cap=1000.0)
    model = new_prophet(SETTINGS[0])
    model.growth = "logistic"
    model.fit(history)
    assert model.stan_backend.used == "stan"
    monkeypatch.setattr(exact, "is_optimal", lambda problem, fit: False)
    fallen = fit_prophet(history.drop(columns="cap"), SETTINGS[0])
    assert fallen.stan_backend.used == "fallback" and fallen.stan_fit is not None


def test_an_unknown_solver_is_refused():
    with pytest.raises(ValueError, match="unknown solver 'lbfgs'"):
        SolverBackend("lbfgs")


@pytest.mark.parametrize("seed", range(5))
def test_the_lasso_is_exact(seed):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(40, 8))
    H, c, lam = A.T @ A, A.T @ rng.normal(size=40), 3.0
    x = exact.lasso(H, c, lam)
    g = H @ x - c
    on = x != 0
    np.testing.assert_allclose(g[on], -lam * np.sign(x[on]), atol=1e-9)
    assert (np.abs(g[~on]) <= lam + 1e-9).all() and (~on).any()

    def split(v):  # the same problem as a smooth one over x = p - n, p, n >= 0
        z = v[:8] - v[8:]
        return 0.5 * z @ H @ z - c @ z + lam * v.sum(), np.concatenate([H @ z - c + lam, -(H @ z - c) + lam])

    reference = minimize(split, np.zeros(16), jac=True, bounds=[(0, None)] * 16, method="L-BFGS-B", tol=1e-14)
    assert 0.5 * x @ H @ x - c @ x + lam * np.abs(x).sum() <= reference.fun + 1e-9


def test_a_trial_on_a_folds_design_forecasts_as_a_prophet_fit_of_the_fold():
    from manymodels.designs import FoldDesign, largest_params
    from manymodels.search_space import Seasonalities

    history = panel()[0]
    fold, window = history.iloc[:-90], history.iloc[-90:]
    largest = largest_params(Seasonalities.for_series("D", fold["ds"].iloc[-1] - fold["ds"].iloc[0]))
    design = FoldDesign.build(fold, window, largest, None)
    for params in SETTINGS:
        logged = params.get("transform") == "log1p"
        scaled = (design.logged() if logged else design).fit_and_forecast(params)
        expected = predict(fit_prophet(fold, params), window, None)
        np.testing.assert_allclose(np.expm1(scaled) if logged else scaled, expected, rtol=1e-6)
    assert not design.covers(SETTINGS[0] | {"weekly_order": 6})  # more than daily data can tell apart


def test_series_with_the_same_dates_share_one_design_shape_and_each_forecasts_as_its_own_prophet_fit():
    from manymodels.designs import FoldDesign, largest_params
    from manymodels.search_space import Seasonalities

    first, second = panel()[:2]  # the generator's series share their dates
    largest = largest_params(Seasonalities.for_series("D", first["ds"].iloc[-91] - first["ds"].iloc[0]))
    designs = [FoldDesign.build(h.iloc[:-90], h.iloc[-90:], largest, None) for h in (first, second)]
    assert designs[1].X is designs[0].X and designs[1].gram is designs[0].gram and not designs[0].X.flags.writeable
    assert not np.array_equal(designs[0].y, designs[1].y) and designs[0].y_scale != designs[1].y_scale
    shifted = second.assign(ds=second["ds"] + pd.Timedelta(days=1))
    assert FoldDesign.build(shifted.iloc[:-90], shifted.iloc[-90:], largest, None).X is not designs[0].X
    for history, design in zip((first, second), designs, strict=True):
        for params in SETTINGS[:4:3]:  # additive and multiplicative
            expected = predict(fit_prophet(history.iloc[:-90], params), history.iloc[-90:], None)
            np.testing.assert_allclose(design.fit_and_forecast(params), expected, rtol=1e-6)


def test_a_folds_design_is_prophets_preprocess_at_the_largest_orders():
    from manymodels.designs import FoldDesign

    history = panel()[0].iloc[:700]
    history = history.drop(history.index[100:130]).assign(promo=lambda f: (f["ds"].dt.day < 8).astype(float))
    window = pd.DataFrame({"ds": pd.date_range(history["ds"].iloc[-1], periods=29, freq="D")[1:], "promo": 1.0})
    largest = SETTINGS[0] | {"yearly_order": 6, "monthly_order": 3}
    for extra in ({}, {"holidays": "US", "regressors": ("promo",)}):
        design = FoldDesign.build(history, window, largest, extra.get("holidays"), extra.get("regressors", ()))
        problem = problem_of(history, largest, **extra)
        np.testing.assert_array_equal(design.X, problem.X)
        np.testing.assert_array_equal(design.y, problem.y)
        np.testing.assert_array_equal(design.t_change, problem.t_change)
        np.testing.assert_array_equal(design.trend[:, -2], problem.t)
        model = fit_prophet(history, largest, **extra)
        components = model.predict(window)
        mean = design.future_trend @ np.concatenate([model.params[p].reshape(-1) for p in ("delta", "k", "m")])
        np.testing.assert_allclose(mean * design.y_scale, components["trend"], rtol=1e-9)
        beta = model.params["beta"].reshape(-1)
        np.testing.assert_allclose(design.future_X @ beta * design.y_scale, components["additive_terms"], atol=1e-9)


@pytest.mark.stan
def test_the_solver_check_samples_the_same_series_and_reports_both_fits():
    from manymodels.candidates import Candidates
    from manymodels.settings import DataSpec
    from manymodels.solver_check import compare_solvers, is_checked
    from manymodels.splits import SeriesSplits

    ids = [f"{n}-1" for n in range(2000)]
    sampled = [i for i in ids if is_checked(i, 0.1)]
    assert 150 < len(sampled) < 250 and sampled == [i for i in ids if is_checked(i, 0.1)]
    assert not any(is_checked(i, 0.0) for i in ids) and all(is_checked(i, 1.0) for i in ids)
    spec = DataSpec(url="-", id_cols=["store", "item"], time_col="date", target_col="sales", horizon=28)
    frame = panel()[0].reset_index(drop=True).assign(series_id="1-1", split="train")
    frame.loc[frame.index[-28:], "split"] = "test"
    gap = compare_solvers(Candidates(SeriesSplits.of(frame, spec), spec), SETTINGS[0])
    assert gap["log_posterior_gain"] >= -1e-6 and 0 <= gap["forecast_gap"] < 0.05


@pytest.mark.stan
def test_a_perfect_fit_has_no_map_and_goes_to_stan_as_prophet_would():
    days = pd.date_range("2021-01-01", periods=200, freq="D")
    line = pd.DataFrame({"ds": days, "y": 3.0 + 0.1 * np.arange(200)})  # sigma would go to 0: no finite optimum
    params = {k: v for k, v in SETTINGS[2].items() if k != "weekly_order"}
    fallen, stan = fit_prophet(line, params), fit_prophet(line, params, solver="stan")
    assert exact.solve(exact.Problem.of(dataclasses.asdict(new_prophet(params).preprocess(line)))) is None
    assert fallen.stan_backend.used == "fallback"
    np.testing.assert_allclose(predict(fallen, line, None), predict(stan, line, None), rtol=1e-9)


def test_a_multiplicative_trial_starts_from_the_last_one_and_ends_where_a_cold_fit_does():
    from manymodels.designs import FoldDesign, largest_params
    from manymodels.search_space import Seasonalities

    history = panel()[1]
    fold, window = history.iloc[:-90], history.iloc[-90:]
    largest = largest_params(Seasonalities.for_series("D", fold["ds"].iloc[-1] - fold["ds"].iloc[0]))
    warm, cold = (FoldDesign.build(fold, window, largest, None) for _ in range(2))
    first, second = SETTINGS[3], SETTINGS[3] | {"yearly_order": 8, "changepoint_prior_scale": 0.08}
    warm.fit_and_forecast(first)
    assert warm.last_fit and warm._start(warm.columns(second)) is not None
    np.testing.assert_allclose(warm.fit_and_forecast(second), cold.fit_and_forecast(second), rtol=1e-6)
    # Only the seasonal prior changes: the last fit's trend is already optimal given its betas, which are not.
    third = second | {"seasonality_prior_scale": 0.02}
    np.testing.assert_allclose(warm.fit_and_forecast(third), cold.fit_and_forecast(third), rtol=1e-6)


def test_an_hourly_folds_design_has_prophets_daily_seasonality_and_forecasts_as_its_fit():
    from manymodels.designs import FoldDesign, largest_params
    from manymodels.search_space import Seasonalities

    rng = np.random.default_rng(1)
    ds = pd.date_range("2024-01-01", periods=24 * 30, freq="h")
    hours = ds.hour.to_numpy()
    y = 50 + 20 * np.sin(2 * np.pi * hours / 24) + 5 * (ds.dayofweek.to_numpy() >= 5) + rng.normal(size=len(ds))
    history = pd.DataFrame({"ds": ds, "y": y})
    fold, window = history.iloc[:-48], history.iloc[-48:]
    seasonalities = Seasonalities.for_series("h", fold["ds"].iloc[-1] - fold["ds"].iloc[0])
    assert seasonalities.daily == 10 and seasonalities.monthly == 0
    design = FoldDesign.build(fold, window, largest_params(seasonalities), None)
    params = SETTINGS[2] | {"weekly_order": 3, "daily_order": 4}
    assert design.covers(params) and not design.covers(params | {"daily_order": 11})
    expected = predict(fit_prophet(fold, params), window, None)
    np.testing.assert_allclose(design.fit_and_forecast(params), expected, rtol=1e-6)
    without = predict(fit_prophet(fold, params | {"daily_order": 0}), window, None)
    assert np.mean(np.abs(expected - y[-48:])) < 0.25 * np.mean(np.abs(without - y[-48:]))  # the daily cycle
