"""Every challenger of Prophet, in order of preference on a tie. A new model is a module of its own in this
package and one line here (docs/adding-a-model.md); the candidates, ensembles, outputs, summary and UI take it from
here."""

from manymodels.forecasters.base import AcrossSeries, Forecaster
from manymodels.forecasters.global_lgbm import GlobalLGBM
from manymodels.forecasters.intermittent import ADIDA, CROSTON, IMAPA, TSB, Intermittent
from manymodels.forecasters.pooled import PooledSeasonal
from manymodels.forecasters.statsforecast_models import AUTO_ETS, AUTO_THETA, NAIVE, SEASONAL_NAIVE, Statsforecast

CHALLENGERS: tuple[Forecaster, ...] = (
    NAIVE,
    SEASONAL_NAIVE,
    AUTO_ETS,
    AUTO_THETA,
    CROSTON,
    TSB,
    ADIDA,
    IMAPA,
    PooledSeasonal(),
    GlobalLGBM(),
)


def challengers() -> tuple[Forecaster, ...]:
    """The registered challengers (read at call time, so a test may register one of its own)."""
    return CHALLENGERS


def named(name: str) -> Forecaster:
    return next(model for model in challengers() if model.name == name)


def across_series(names=None) -> list[AcrossSeries]:
    """The registered models that learn across series (those of names only, if given)."""
    return [m for m in challengers() if isinstance(m, AcrossSeries) and (names is None or m.name in names)]


def every_series() -> list[Statsforecast]:
    """The registered challengers that compete for every series whatever its data: the statsforecast models but
    those of intermittent demand."""
    return [m for m in challengers() if isinstance(m, Statsforecast) and not isinstance(m, Intermittent)]
