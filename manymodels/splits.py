"""One series cut for tuning and evaluation: rolling-origin folds, the test window, the future."""

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from manymodels.columns import FUTURE, SERIES_ID, SPLIT, TARGET, TEST, TIME
from manymodels.forecasters.intermittent import is_intermittent
from manymodels.metrics import seasonal_mae
from manymodels.search_space import Seasonalities
from manymodels.settings import DataSpec


def rolling_folds(n_known: int, horizon: int, folds: int) -> list[tuple[int, int]]:
    """(training end, window end) of each rolling-origin fold: the last `folds` windows of `horizon` points."""
    return [(n_known - (folds - k) * horizon, n_known - (folds - k - 1) * horizon) for k in range(folds)]


def selection_folds(folds: int) -> int:
    """How many of the last folds choose the champion (the earlier ones tune Prophet): half, at least one."""
    return max(1, folds // 2)


@dataclass(frozen=True)
class SeriesSplits:
    """A prepared series' parts: `known` (everything before the test window) holds the folds, `test` the last
    horizon, `future` the dates to forecast (with the regressors' values there). Prophet is tuned on the earlier
    folds (`tuning`) and the champion chosen on the later ones (`selection`), which no trial saw: the best of many
    trials on the folds it was chosen on is an optimistic score, and a contest on them rewards the optimism."""

    series_id: str
    history: pd.DataFrame  # every row with a target: known, then test
    known: pd.DataFrame
    test: pd.DataFrame
    future: pd.DataFrame
    folds: list[tuple[int, int]]
    scale: float  # seasonal naive MAE before the first fold: MASE's denominator in the folds
    floor: float | None  # 0 for non-negative series: forecasts are clipped there
    seasonalities: Seasonalities

    @classmethod
    def of(cls, frame: pd.DataFrame, data: DataSpec) -> "SeriesSplits":
        future, history = frame[frame[SPLIT] == FUTURE], frame[frame[SPLIT] != FUTURE]
        known, test = history[history[SPLIT] != TEST], history[history[SPLIT] == TEST]
        folds = rolling_folds(len(known), data.horizon, data.folds_for(len(known)))
        if future.empty:
            dates = pd.date_range(history[TIME].iloc[-1], periods=data.horizon + 1, freq=data.freq)[1:]
            future = pd.DataFrame({TIME: dates})
        first_cut = folds[0][0] if folds else len(known)
        return cls(
            series_id=str(frame[SERIES_ID].iloc[0]),
            history=history,
            known=known,
            test=test,
            future=future,
            folds=folds,
            scale=seasonal_mae(known[TARGET].to_numpy()[:first_cut], data.period),
            floor=0.0 if history[TARGET].min() >= 0 else None,
            seasonalities=Seasonalities.for_series(data.freq, known[TIME].iloc[first_cut - 1] - known[TIME].iloc[0]),
        )

    @property
    def tuning(self) -> list[int]:
        """Indices into folds of the folds Prophet is tuned on."""
        return list(range(len(self.folds) - selection_folds(len(self.folds))))

    @property
    def selection(self) -> list[int]:
        """Indices into folds of the folds the champion is chosen on."""
        return list(range(len(self.tuning), len(self.folds)))

    @property
    def before_folds(self) -> int:
        """How many known points come before the first fold (all of them where there is none)."""
        return self.folds[0][0] if self.folds else len(self.known)

    @functools.cached_property
    def intermittent(self) -> bool:
        """Whether the series' demand before its folds is intermittent: then Croston, TSB, ADIDA and IMAPA compete."""
        return is_intermittent(self.y[: self.before_folds])

    @property
    def y(self) -> np.ndarray:
        """The known targets."""
        return self.known[TARGET].to_numpy()

    def fold(self, cut: int, end: int) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
        """A fold's training rows, its window's rows and the window's actual values."""
        return self.known.iloc[:cut], self.known.iloc[cut:end], self.y[cut:end]
