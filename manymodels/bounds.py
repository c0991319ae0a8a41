"""A forecast's point, interval bounds and quantiles (Forecast), and every name they go by, in one place: the keys
statsforecast gives its bounds ('lo-80', 'hi-80'), and the output tables' columns (yhat, lo_80, hi_80, q_0.9).
No other module spells these names out."""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from manymodels.columns import YHAT

POINT = "mean"  # statsforecast's key of the point forecast
POINT_COLUMN = YHAT
_LOWER_COLUMN = re.compile(r"lo_(\d+)")


def lower(level: int) -> str:
    """statsforecast's key of the lower bound of the central interval at level percent: 'lo-80'."""
    return f"lo-{level}"


def upper(level: int) -> str:
    """statsforecast's key of the upper bound: 'hi-80'."""
    return f"hi-{level}"


def lower_column(level: int) -> str:
    """The output column of the lower bound at level percent: lo_80."""
    return f"lo_{level}"


def upper_column(level: int) -> str:
    """The output column of the upper bound: hi_80."""
    return f"hi_{level}"


def quantile_label(quantile: float) -> str:
    """How a quantile is written in column names and the run's summary: 0.9, 0.05."""
    return f"{quantile:g}"


def quantile_column(quantile: float) -> str:
    """The output column of a quantile: q_0.9."""
    return f"q_{quantile_label(quantile)}"


def column_level(column: str) -> int | None:
    """The level of a lower bound's output column (lo_80: 80); None for any other column."""
    found = _LOWER_COLUMN.fullmatch(column)
    return int(found.group(1)) if found else None


class Interval(NamedTuple):
    """The bounds of one central prediction interval over the horizon."""

    lo: np.ndarray
    hi: np.ndarray


def intervals_of(rows, levels) -> dict[int, Interval]:
    """Each level's interval from an output table's columns lo_80, hi_80 (as arrays), in the levels' order."""
    return {
        level: Interval(rows[lower_column(level)].to_numpy(), rows[upper_column(level)].to_numpy()) for level in levels
    }


Each = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True, eq=False)  # arrays have no truth value: forecasts are equal only to themselves
class Forecast:
    """A forecast over a horizon: its point, the central intervals by level (percent), and quantiles by
    probability. What every model returns and every step after the models passes on."""

    mean: np.ndarray
    intervals: dict[int, Interval] = field(default_factory=dict)
    quantiles: dict[float, np.ndarray] = field(default_factory=dict)

    @classmethod
    def from_keys(cls, out: Mapping[str, np.ndarray], levels=()) -> "Forecast":
        """From statsforecast's keys: 'mean', and 'lo-80', 'hi-80' for each level."""
        return cls(out[POINT], {level: Interval(out[lower(level)], out[upper(level)]) for level in levels})

    @classmethod
    def point_only(cls, mean: np.ndarray, levels=()) -> "Forecast":
        """A forecast whose bounds at every level are its point (a model with no intervals of its own)."""
        return cls(mean, {level: Interval(mean, mean) for level in levels})

    def map(self, each: Each, point: bool = True) -> "Forecast":
        """Every array passed through `each` (the point too, unless point is False)."""
        return Forecast(
            each(self.mean) if point else self.mean,
            {level: Interval(each(lo), each(hi)) for level, (lo, hi) in self.intervals.items()},
            {q: each(values) for q, values in self.quantiles.items()},
        )

    def at_least(self, floor: float | None, point: bool = True) -> "Forecast":
        """Every array clipped below at floor (the point too, unless point is False); itself where there is none."""
        return self if floor is None else self.map(lambda values: np.maximum(values, floor), point)

    @staticmethod
    def combined(forecasts: list["Forecast"], combine: Callable[[list[np.ndarray]], np.ndarray]) -> "Forecast":
        """The forecasts' point, each level's bounds and each quantile each combined on its own; the levels and
        quantiles of the first."""
        first = forecasts[0]
        return Forecast(
            combine([f.mean for f in forecasts]),
            {
                level: Interval(
                    combine([f.intervals[level].lo for f in forecasts]),
                    combine([f.intervals[level].hi for f in forecasts]),
                )
                for level in first.intervals
            },
            {q: combine([f.quantiles[q] for f in forecasts]) for q in first.quantiles},
        )

    def columns(self) -> dict[str, np.ndarray]:
        """Its point, quantiles and bounds as the output's columns, quantiles and levels each in order: yhat, q_0.1,
        q_0.9, lo_80, hi_80, lo_95, ..."""
        out = {POINT_COLUMN: self.mean}
        out |= {quantile_column(q): self.quantiles[q] for q in sorted(self.quantiles)}
        for level in sorted(self.intervals):
            lo, hi = self.intervals[level]
            out |= {lower_column(level): lo, upper_column(level): hi}
        return out
