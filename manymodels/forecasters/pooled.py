"""The pooled-seasonal challenger: day-of-week and month-of-year factors shared by all series of a run, each
series' own linear trend.

Series of one business (store x item, say) share their weekly and yearly shape, and a model per series estimates
its own from a few noisy years; pooling estimates it from all of them. Each series contributes the ratios of its
values to their centred yearly moving average (classical multiplicative decomposition), on the history before
its first rolling-origin fold only, so neither the folds nor the test window shape the factors. A series takes part
only where its own shape before its folds agrees with the pooled one (shares_shape): unrelated series share none.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from manymodels.bounds import Forecast, Interval
from manymodels.columns import TARGET, TIME
from manymodels.forecasters.base import RunInputs, Series
from manymodels.metrics import interval_quantiles
from manymodels.search_space import days_per_step
from manymodels.settings import DataSpec, TuningSpec

POOLED = "pooled_seasonal"


def yearly_points(freq: str) -> int | None:
    """Points in a year at this frequency (daily, weekly, monthly), or None where the factors are not defined."""
    step_days = days_per_step(freq)
    if step_days == 1:
        return 365
    if step_days == 7:
        return 52
    if 28 <= step_days <= 31:
        return 12
    return None


def season_slots(dates, freq: str) -> dict[str, np.ndarray]:
    """Each date's slot in every seasonal cycle the frequency has: day of week (daily), month of year."""
    dates = np.asarray(dates, dtype="datetime64[us]")
    slots = {"month": dates.astype("datetime64[M]").view("int64") % 12}
    if yearly_points(freq) == 365:
        slots["day_of_week"] = (dates.astype("datetime64[D]").view("int64") + 3) % 7  # 1970-01-01 was a Thursday
    return slots


SLOT_COUNTS = {"month": 12, "day_of_week": 7}


def month_shares(dates) -> np.ndarray:
    """(points, 12): the share of each weekly point's seven days in each month. A week is labelled by its last day,
    as pandas' weekly resampling does; a week across two months takes both months' factors in proportion, where the
    month of its last day alone misplaces it by up to six days (by 17% sMAPE in the week of 2017-12-03 on store-item
    data)."""
    days = np.asarray(dates, dtype="datetime64[D]")[:, None] - np.arange(7)
    months = days.astype("datetime64[M]").view("int64") % 12
    shares = np.zeros((len(months), 12))
    np.add.at(shares, (np.arange(len(months))[:, None], months), 1 / 7)
    return shares


def by_shares(kind: str, freq: str) -> bool:
    """Whether a cycle's slots take a point by its shares of days (a weekly point's months, month_shares) rather
    than the one slot of its date."""
    return kind == "month" and yearly_points(freq) == 52


def slot_sums(dates, freq: str, values: np.ndarray, valid: np.ndarray) -> tuple[dict, dict]:
    """Per cycle, the sums of values and the counts of points in each slot, over the valid points: a weekly point
    counts in each month by its share of days there."""
    sums, counts = {}, {}
    for kind, slot in season_slots(dates, freq).items():
        if by_shares(kind, freq):
            shares = month_shares(dates)[valid]
            sums[kind], counts[kind] = (shares.T @ values).tolist(), shares.sum(axis=0).tolist()
        else:
            sums[kind] = np.bincount(slot[valid], weights=values, minlength=SLOT_COUNTS[kind]).tolist()
            counts[kind] = np.bincount(slot[valid], minlength=SLOT_COUNTS[kind]).tolist()
    return sums, counts


def series_ratios(y: np.ndarray, dates, freq: str) -> dict | None:
    """One series' sums and counts of value / centred yearly moving average per slot; None where it has none
    (too short for a year's average, negative values, or a frequency without factors)."""
    window = yearly_points(freq)
    y = np.asarray(y, dtype=float)
    if window is None or len(y) <= window or y.min() < 0:
        return None
    average = centred_mean(y, window)
    valid = average > 0  # NaN at the ends compares False
    if not valid.any():
        return None
    sums, counts = slot_sums(dates, freq, y[valid] / average[valid], valid)
    return {"sums": sums, "counts": counts}


def centred_mean(y: np.ndarray, window: int) -> np.ndarray:
    """The moving average of window points centred on each point (NaN where the window does not fit), as pandas'
    rolling(window, center=True).mean() gives it, in one pass."""
    sums = np.cumsum(np.r_[0.0, y])
    average = np.full(len(y), np.nan)
    average[window // 2 : window // 2 + len(y) - window + 1] = (sums[window:] - sums[:-window]) / window
    return average


def pool(contributions) -> dict[str, list[float]] | None:
    """The run's factors from every series' series_ratios: mean ratio per slot, scaled to average 1; None if no
    series contributed, and a cycle is left out if one of its slots was never seen."""
    contributions = [c for c in contributions if c]
    if not contributions:
        return None
    factors = {}
    for kind in contributions[0]["sums"]:
        sums = np.sum([c["sums"][kind] for c in contributions], axis=0)
        counts = np.sum([c["counts"][kind] for c in contributions], axis=0)
        if (counts > 0).all():
            mean = sums / counts
            factors[kind] = (mean / mean.mean()).tolist()
    return factors or None


AGREEMENT = 0.5  # least correlation of a series' own factors with the pooled ones, in every cycle both have


def own_factors(y: np.ndarray, dates, freq: str) -> dict[str, np.ndarray]:
    """A series' own seasonal factors: day of week from the ratios to a centred weekly average (a few weeks suffice),
    month of year from series_ratios (a year and more)."""
    y = np.asarray(y, dtype=float)
    factors = {}
    if yearly_points(freq) == 365 and len(y) >= 28:
        average = centred_mean(y, 7)
        valid = average > 0
        slot = season_slots(dates, freq)["day_of_week"][valid]
        counts = np.bincount(slot, minlength=7)
        if (counts > 0).all():
            factors["day_of_week"] = np.bincount(slot, weights=y[valid] / average[valid], minlength=7) / counts
    monthly = pool([series_ratios(y, dates, freq)])
    if monthly and "month" in monthly:
        factors["month"] = np.asarray(monthly["month"])
    return factors


def shares_shape(y: np.ndarray, dates, freq: str, factors: dict[str, list[float]]) -> bool:
    """Whether a series' own seasonal shape agrees with the pooled one: correlated at least AGREEMENT in every cycle
    where both vary; False where the series' history shows no cycle to compare, so unrelated series are not forced
    onto one shape."""
    own = own_factors(y, dates, freq)
    common = [k for k in factors if k in own and np.std(factors[k]) > 0 and np.std(own[k]) > 0]
    return bool(common) and all(np.corrcoef(own[k], factors[k])[0, 1] >= AGREEMENT for k in common)


def seasonal_index(dates, freq: str, factors: dict[str, list[float]]) -> np.ndarray:
    """The product of the factors at each date."""
    index = np.ones(len(dates))
    for kind, slot in season_slots(dates, freq).items():
        if kind in factors:
            factor = np.asarray(factors[kind])
            index *= month_shares(dates) @ factor if by_shares(kind, freq) else factor[slot]
    return index


def pooled_forecast(y: np.ndarray, dates, at, freq: str, factors: dict[str, list[float]], levels=()) -> Forecast:
    """The series deseasonalised by the factors, a straight line fitted to its last two years, extended over the
    dates `at` that follow the history and reseasonalised; the bounds at the levels from the quantiles of the line's
    deseasonalised residuals."""
    y = np.asarray(y, dtype=float)
    season = seasonal_index(dates, freq, factors)
    span = min(len(y), 2 * (yearly_points(freq) or len(y)))
    t = np.arange(len(y) - span, len(y))
    z = y[-span:] / season[-span:]
    slope, intercept = np.polyfit(t, z, 1) if span > 1 else (0.0, z[-1])
    ahead = np.arange(len(y), len(y) + len(at))
    at_season = seasonal_index(at, freq, factors)
    trend = intercept + slope * ahead
    residuals, intervals = z - (intercept + slope * t), {}
    for level in levels:
        lo, hi = np.quantile(residuals, interval_quantiles(level))
        intervals[level] = Interval((trend + lo) * at_season, (trend + hi) * at_season)
    return Forecast(trend * at_season, intervals)


@dataclass(frozen=True)
class PooledSeasonal:
    """The pooled-seasonal challenger as a model that learns across series: each series' ratios taken at ingest,
    pooled once per run into factors every series shares."""

    name: str = POOLED
    heavy: bool = False  # pooling the ingest's summaries takes no cluster

    def wanted(self, tuning: TuningSpec) -> bool:
        return True

    def summarise(self, y, dates, data: DataSpec) -> dict | None:
        return series_ratios(y, dates, data.freq)

    def learn(self, run: RunInputs, threads: int = 1) -> dict[str, list[float]] | None:
        return pool(run.summaries(self.name))

    def for_series(self, learned: Any, series_ids: list[str]) -> dict[str, Any]:
        return dict.fromkeys(series_ids, learned)

    def applies(self, series: Series) -> bool:
        """Where the run has factors and the series' own shape before its folds agrees with them."""
        if not series.learned:
            return False
        splits, first_cut = series.splits, series.splits.before_folds
        return shares_shape(splits.y[:first_cut], splits.known[TIME].iloc[:first_cut], series.data.freq, series.learned)

    def forecast(self, series: Series, history: pd.DataFrame, at: pd.DataFrame, levels: Sequence[int]) -> Forecast:
        y, data = history[TARGET].to_numpy(), series.data
        return pooled_forecast(y, history[TIME], at[TIME], data.freq, series.learned, levels)
