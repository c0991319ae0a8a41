"""What one tuning trial costs: Prophet's defaults, cold starts, and manymodels' warm-started trials."""

import contextlib
import resource
from collections.abc import Callable, Iterator

import cmdstanpy.utils.filesystem
import numpy as np
import optuna
import pandas as pd

from benchmarks.workloads import train_and_valid
from manymodels import models
from manymodels.designs import FoldDesign, largest_params
from manymodels.metrics import smape
from manymodels.models import fit_prophet, new_prophet, predict
from manymodels.search_space import Seasonalities, prophet_space
from manymodels.tuning import WarmStarts


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (Stan runs as a child process)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@contextlib.contextmanager
def stock_stan_writer() -> Iterator[None]:
    """cmdstanpy's own JSON writer, as a plain Prophet install has it."""
    models.prepare_stan()  # before the swap: it installs our writer once per process
    cmdstanpy.utils.filesystem.write_stan_json = models._stanio_write
    try:
        yield
    finally:
        cmdstanpy.utils.filesystem.write_stan_json = models.write_stan_json


def _prophet_defaults(train: pd.DataFrame, valid: pd.DataFrame, params: dict, warm: WarmStarts) -> np.ndarray:
    from prophet import Prophet

    return Prophet().fit(train[["ds", "y"]]).predict(valid[["ds"]])["yhat"].to_numpy()  # 1,000 samples


def _prophet_cold(train: pd.DataFrame, valid: pd.DataFrame, params: dict, warm: WarmStarts) -> np.ndarray:
    from prophet import Prophet

    return new_prophet(params, Prophet).fit(train[["ds", "y"]]).predict(valid[["ds"]])["yhat"].to_numpy()


def _cold(train: pd.DataFrame, valid: pd.DataFrame, params: dict, warm: WarmStarts) -> np.ndarray:
    return predict(fit_prophet(train, params, solver="stan"), valid["ds"], 0.0)


def _stan_warm(train: pd.DataFrame, valid: pd.DataFrame, params: dict, warm: WarmStarts) -> np.ndarray:
    model = fit_prophet(train, params, warm.init_for(params), rough=True, solver="stan")
    warm.remember(params, model)
    return predict(model, valid["ds"], 0.0)


def _exact(train: pd.DataFrame, valid: pd.DataFrame, params: dict, warm: WarmStarts) -> np.ndarray:
    """As a study's trial runs: the fold's design built once per series (its cost counted in the trials'), each
    trial solved exactly on it, or by Stan where the exact fit fails its check."""
    designs = warm.__dict__.setdefault("designs", {})
    log = params.get("transform") == "log1p"
    if False not in designs:
        seasonalities = Seasonalities.for_series("D", train["ds"].iloc[-1] - train["ds"].iloc[0])
        designs[False] = FoldDesign.build(train, valid, largest_params(seasonalities), None)
    if log not in designs:
        designs[log] = designs[False].logged()
    scaled = designs[log].fit_and_forecast(params)
    if scaled is None:  # the fit failed its check: Stan, as a study's trial falls back
        return predict(fit_prophet(train, params, rough=True, solver="stan"), valid["ds"], 0.0)
    return np.expm1(scaled) if log else scaled


VARIANTS: dict[str, tuple[Callable, bool]] = {  # trial, with cmdstanpy's own JSON writer
    "prophet_defaults": (_prophet_defaults, True),
    "prophet_no_samples": (_prophet_cold, True),
    "cold_no_samples": (_cold, False),
    "stan_warm_rough": (_stan_warm, False),
    "manymodels": (_exact, False),
}


def trial_params(train: pd.DataFrame, valid: pd.DataFrame, trials: int, seed: int) -> list[dict]:
    """The parameters TPE proposes for this series, as a study on its validation window runs them."""
    seasonalities = Seasonalities.for_series("D", train["ds"].iloc[-1] - train["ds"].iloc[0])
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    proposed = []
    for _ in range(trials):
        trial = study.ask()
        proposed.append(prophet_space(trial, seasonalities))
        study.tell(trial, smape(valid["y"].to_numpy(), _cold(train, valid, proposed[-1], WarmStarts())))
    return proposed


def compare_trial_costs(frames: list[pd.DataFrame], trials: int) -> dict[str, dict]:
    """Run every variant over the same series and the same proposed parameters, one after another on one core."""
    plans = []
    for number, frame in enumerate(frames):
        train, valid = train_and_valid(frame)
        plans.append((train, valid, trial_params(train, valid, trials, number)))
    out = {}
    for name, (trial, stock) in VARIANTS.items():
        errors, best, spent = [], [], 0.0
        with stock_stan_writer() if stock else contextlib.nullcontext():
            for train, valid, proposed in plans:
                warm, values = WarmStarts(), []
                for params in proposed:
                    before = cpu_seconds()
                    yhat = np.maximum(trial(train, valid, params, warm), 0.0)
                    spent += cpu_seconds() - before
                    values.append(smape(valid["y"].to_numpy(), yhat))
                errors += values
                best.append(min(values))
        out[name] = {
            "cpu_per_trial": spent / len(errors),
            "mean_valid_smape": float(np.mean(errors)),
            "mean_best_valid_smape": float(np.mean(best)),
        }
    return out
