"""The built-in synthetic retail data set: daily unit sales per store x item."""

import numpy as np
import pandas as pd


def make_retail_sales(
    n_series: int = 40, days: int = 3 * 365, seed: int = 0, start: str = "2022-01-01"
) -> pd.DataFrame:
    """Poisson sales with a per-series level, trend, weekly and yearly pattern; columns store, item, date, sales."""
    rng = np.random.default_rng(seed)
    n_stores = max(1, int(np.sqrt(n_series / 5)))
    pairs = [(s, i) for i in range(1, n_series + 1) for s in range(1, n_stores + 1)][:n_series]
    dates = pd.date_range(start, periods=days, freq="D")
    t = np.arange(days)
    frames = []
    for store, item in pairs:
        level = rng.uniform(5, 80)
        trend = 1 + rng.uniform(-0.1, 0.3) * t / 365
        weekly = 1 + rng.uniform(0.05, 0.4) * np.sin(2 * np.pi * (dates.day_of_week.to_numpy() + rng.integers(7)) / 7)
        yearly = 1 + rng.uniform(0.05, 0.3) * np.sin(2 * np.pi * (dates.day_of_year.to_numpy() / 365.25 + rng.random()))
        sales = rng.poisson(np.clip(level * trend * weekly * yearly, 0, None))
        frames.append(pd.DataFrame({"store": store, "item": item, "date": dates, "sales": sales}))
    return pd.concat(frames, ignore_index=True)


def make_hourly_sales(n_series: int = 40, hours: int = 1_000, seed: int = 0, start: str = "2024-01-01") -> pd.DataFrame:
    """Poisson sales by the hour with a per-series level, a daily and a weekly pattern; columns store, item, date,
    sales."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=hours, freq="h")
    hour, weekday = dates.hour.to_numpy(), dates.day_of_week.to_numpy()
    frames = []
    for item in range(1, n_series + 1):
        daily = 1 + rng.uniform(0.3, 0.9) * np.sin(2 * np.pi * (hour + rng.integers(24)) / 24)
        weekly = 1 + rng.uniform(0.05, 0.3) * np.sin(2 * np.pi * (weekday + rng.integers(7)) / 7)
        sales = rng.poisson(np.clip(rng.uniform(2, 40) * daily * weekly, 0, None))
        frames.append(pd.DataFrame({"store": 1, "item": item, "date": dates, "sales": sales}))
    return pd.concat(frames, ignore_index=True)


def make_intermittent(
    n_series: int = 4, days: int = 730, seed: int = 0, rate: float = 0.2, size: float = 4.0
) -> pd.DataFrame:
    """Intermittent daily demand of known structure: on each day an order arrives with probability `rate`, of
    1 + Poisson(size) units, so the mean demand per day is rate * (1 + size); columns store, item, date, sales."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2022-01-01", periods=days, freq="D")
    frames = [
        pd.DataFrame(
            {
                "store": 1,
                "item": item,
                "date": dates,
                "sales": (rng.random(days) < rate) * (1 + rng.poisson(size, days)),
            }
        )
        for item in range(1, n_series + 1)
    ]
    return pd.concat(frames, ignore_index=True)


KNOWN_STRUCTURES = ("random_walk", "damped_trend", "pure_seasonal", "level_shift")


def make_known_structure(
    freq: str, periods: int, period: int, per_kind: int = 1, seed: int = 0, start: str = "2000-01-01"
) -> pd.DataFrame:
    """Series whose best model is known: a random walk (naive), a damped trend (ETS with a damped trend), a fixed
    seasonal pattern with little noise (seasonal naive) and a level shift (naive after the shift); columns source
    ('generated'), name (<structure>_<n>), date, value."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=periods, freq=freq)
    t = np.arange(periods)
    frames = []
    for n in range(per_kind):
        for kind in KNOWN_STRUCTURES:
            noise = rng.normal(0, 1, periods)
            if kind == "random_walk":
                value = 100 + np.cumsum(noise)
            elif kind == "damped_trend":
                slope = rng.uniform(0.5, 2) * 0.97**t
                value = 100 + np.cumsum(slope) + 0.5 * noise
            elif kind == "pure_seasonal":
                pattern = rng.uniform(50, 150, period)
                value = pattern[t % period] + 0.5 * noise
            else:
                shift = rng.integers(periods // 2, periods - periods // 4)
                value = 100 + rng.uniform(20, 40) * (t >= shift) + noise
            frames.append(pd.DataFrame({"source": "generated", "name": f"{kind}_{n}", "date": dates, "value": value}))
    return pd.concat(frames, ignore_index=True)
