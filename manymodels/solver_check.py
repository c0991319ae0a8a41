"""--solver-check: a sample of series fitted both ways, the exact solver's gains over Stan and forecast gaps."""

import zlib

import numpy as np

from manymodels import exact
from manymodels.candidates import Candidates
from manymodels.models import fit_prophet, predict


def is_checked(series_id: str, share: float) -> bool:
    """Whether the series is in the checked sample: a share of the series, the same ones in every run."""
    return zlib.crc32(series_id.encode()) % 10_000 < share * 10_000


def compare_solvers(candidates: Candidates, params: dict) -> dict[str, float]:
    """The tuned parameters fitted on the first fold by the exact solver and by Stan (its default tolerance): the
    log posterior the exact fit gains over Stan's (Stan's lp__, on the same data) and the largest gap between their
    forecasts of the fold, relative to the mean absolute actual value."""
    splits, data = candidates.splits, candidates.data
    history, window, actual = splits.fold(*splits.folds[0])
    models = {
        solver: fit_prophet(history, params, holidays=data.holidays, regressors=data.regressors, solver=solver)
        for solver in ("exact", "stan")
    }
    problem = models["stan"].stan_backend.problem
    if problem is None:  # Prophet fitted a constant series itself, without a solver
        return {"log_posterior_gain": 0.0, "forecast_gap": 0.0}
    lp = {solver: exact.log_posterior_of(problem, model.params) for solver, model in models.items()}
    yhat = {solver: predict(model, window, splits.floor) for solver, model in models.items()}
    scale = max(float(np.mean(np.abs(actual))), 1e-12)
    return {
        "log_posterior_gain": lp["exact"] - lp["stan"],
        "forecast_gap": float(np.max(np.abs(yhat["exact"] - yhat["stan"]))) / scale,
    }
