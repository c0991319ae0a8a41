"""Models the competitions favour, each alone on every series of the M3 and Tourism subsets: its mean error on the
official test windows by the competition's metric and the CPU seconds its fit and forecast take a series, fitted as
the pipeline fits a statsforecast challenger (recent points only, the series' naive forecast below its fewest
points). Says which candidates would pay for their cost (issue 39's last item; issue 40's cost per series) before
one is registered, which moves every data set of `make accuracy`. "ets_arima_theta" is the mean of AutoETS,
AutoARIMA and Theta, the combination the competitions' papers publish."""

import argparse
import concurrent.futures
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from benchmarks.competitions import METRIC, SUBSETS, competition_series
from benchmarks.machine import cores
from manymodels.forecasters.statsforecast_models import AUTO_ETS, AUTO_THETA, Statsforecast, statsforecast_models
from manymodels.metrics import mase, seasonal_mae, smape


def _model(name: str, fewest: int = 5) -> Statsforecast:
    return Statsforecast(name, lambda period: getattr(statsforecast_models(), name)(season_length=period), fewest, True)


MODELS = {
    "auto_ets": AUTO_ETS,
    "auto_theta": AUTO_THETA,
    "theta": _model("Theta", 3),
    "auto_arima": _model("AutoARIMA"),
    "auto_ces": _model("AutoCES"),
    "dynamic_optimized_theta": _model("DynamicOptimizedTheta"),
}
COMBINATIONS = {"ets_arima_theta": ("auto_ets", "auto_arima", "theta")}


def warm_up() -> None:
    """Each model fitted once in the worker, so numba's compilation is not counted as a series' cost."""
    y = np.sin(np.arange(48.0)) + np.arange(48.0) + 10
    for period in (1, 4, 12):
        for model in MODELS.values():
            model.on_values(y, 6, period)


def one_series(each: tuple[np.ndarray, np.ndarray, int, str]) -> dict[str, tuple[float, float]]:
    """By model, its error on the series' test window and the CPU seconds it took."""
    x, y, period, metric = each
    scale, error = seasonal_mae(x, period), smape if metric == "smape" else mase
    out, means = {}, {}
    for name, model in MODELS.items():
        started = time.process_time()
        means[name] = model.on_values(x, len(y), period).mean[: len(y)]
        out[name] = (error(y, means[name], scale), time.process_time() - started)
    for name, members in COMBINATIONS.items():
        combined = np.mean([means[m] for m in members], axis=0)
        out[name] = (error(y, combined, scale), sum(out[m][1] for m in members))
    return out


def run_subset(name: str, n: int | None) -> dict:
    series = competition_series(name, n)
    metric = METRIC[SUBSETS[name][0]]
    values = [(np.asarray(s.x, dtype=float), np.asarray(s.xx, dtype=float), s.period, metric) for s in series]
    with concurrent.futures.ProcessPoolExecutor(cores(), initializer=warm_up) as pool:
        rows = list(pool.map(one_series, values, chunksize=8))
    models = [*MODELS, *COMBINATIONS]
    return {
        "metric": metric,
        "series": len(rows),
        "mean": {m: round(float(np.mean([r[m][0] for r in rows])), 4) for m in models},
        "cpu_ms_per_series": {m: round(1000 * float(np.mean([r[m][1] for r in rows])), 1) for m in models},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subsets", default=",".join(SUBSETS), help="Which subsets (comma-separated).")
    parser.add_argument("--series", type=int, default=None, help="The first N series of each subset (default: all).")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    results = {
        "command": " ".join(["python -m benchmarks.models_alone", *sys.argv[1:]]),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": cores(),
    }
    for name in [s for s in args.subsets.split(",") if s]:
        results[name] = run_subset(name, args.series)
        print(name, json.dumps(results[name]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"models-alone-{args.series or 'all'}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
