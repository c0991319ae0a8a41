"""`make accuracy`: the champion's forecasts measured from outside on data the pipeline never saw.

daily: the store-item data up to 2017-10-02 goes in; the last 90 days of 2017 are held out. Targets: mean sMAPE of
the champion at most 12.5, and for every series at most 1.05 times seasonal naive's (period 7) sMAPE.
weekly: the same sales summed per week (weeks ending Sunday, the last partial week dropped); the last 13 weeks held
out. Target: the champion's OWA against M4's Naive2 below 1 (M4's weekly convention: period 1 for Naive2 and MASE).
"""

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.machine import cores
from benchmarks.workloads import STORE_ITEM, seasonal_naive, store_item
from manymodels.challengers import naive2
from manymodels.metrics import mase, seasonal_mae, smape

BIN = Path(sys.executable).parent
CUTOFF = pd.Timestamp("2017-10-02")
TARGETS = {"daily_mean_smape": 12.5, "daily_worst_ratio_to_seasonal_naive": 1.05, "weekly_owa": 1.0}


def daily(n_series: int) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    sales = store_item(n_series)
    return sales[sales["date"] <= CUTOFF], sales[sales["date"] > CUTOFF], {"freq": "D", "horizon": 90}


def weekly(n_series: int, horizon: int = 13) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    sales = store_item(n_series)
    weeks = (
        sales.set_index("date")
        .groupby(["store", "item"])["sales"]
        .resample("W-SUN")
        .agg(["sum", "count"])
        .reset_index()
    )
    weeks = weeks[weeks["count"] == 7].rename(columns={"sum": "sales"})[["store", "item", "date", "sales"]]
    last = weeks["date"].drop_duplicates().sort_values().iloc[-horizon]
    return weeks[weeks["date"] < last], weeks[weeks["date"] >= last], {"freq": "W-SUN", "horizon": horizon}


def run_pipeline(history: pd.DataFrame, spec: dict, trials: int, folds: int, work: Path) -> pd.DataFrame:
    """The pipeline as users run it: `manymodels run` on the history; its forecasts.parquet."""
    history.to_parquet(work / "in.parquet", index=False)
    command = [BIN / "manymodels", "run", "--data", work / "in.parquet", "--id-cols", "store,item"]
    command += [
        "--time-col",
        "date",
        "--target-col",
        "sales",
        "--freq",
        spec["freq"],
        "--horizon",
        str(spec["horizon"]),
    ]
    command += ["--trials", str(trials), "--folds", str(folds), "--output", work / "out"]
    subprocess.run(list(map(str, command)), check=True)
    return pd.read_parquet(work / "out" / "forecasts.parquet")


def score(history: pd.DataFrame, held_out: pd.DataFrame, forecasts: pd.DataFrame, period: int) -> pd.DataFrame:
    """Per series: the champion's, seasonal naive's and Naive2's sMAPE and MASE on the held-out window."""
    rows = []
    for (store, item), past in history.groupby(["store", "item"]):
        actual = held_out[(held_out["store"] == store) & (held_out["item"] == item)].sort_values("date")
        mine = forecasts[(forecasts["store"] == str(store)) & (forecasts["item"] == str(item))].sort_values("ds")
        if not len(mine):
            rows.append({"series": f"{store}-{item}", "champion": "missing"})
            continue
        if mine["ds"].tolist() != actual["date"].tolist():
            raise RuntimeError(f"series {store}-{item}: forecast dates differ from the held-out dates")
        y, h, hist = actual["sales"].to_numpy(float), len(actual), past.sort_values("date")["sales"].to_numpy(float)
        snaive, n2 = seasonal_naive(hist, h, period), naive2(hist, h, 1 if period == 52 else period)
        scale = seasonal_mae(hist, 1 if period == 52 else period)
        rows.append(
            {
                "series": f"{store}-{item}",
                "champion": mine["model"].iloc[0],
                "smape": smape(y, mine["yhat"].to_numpy()),
                "mase": mase(y, mine["yhat"].to_numpy(), scale),
                "smape_seasonal_naive": smape(y, snaive),
                "smape_naive2": smape(y, n2),
                "mase_naive2": mase(y, n2, scale),
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=500)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--folds", type=int, default=4, help="Rolling-origin folds (the pipeline's default is 2).")
    parser.add_argument("--only", choices=["daily", "weekly"])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    if not STORE_ITEM.exists():
        sys.exit(f"error: the store-item data is not at {STORE_ITEM} (set MANYMODELS_STORE_ITEM)")
    results = {
        "command": " ".join(["python -m benchmarks.accuracy", *sys.argv[1:]]),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": cores(),
        "series": args.series,
        "trials": args.trials,
        "folds": args.folds,
        "targets": TARGETS,
    }
    for kind, make, period in (("daily", daily, 7), ("weekly", weekly, 52)):
        if args.only and args.only != kind:
            continue
        history, held_out, spec = make(args.series)
        with tempfile.TemporaryDirectory(prefix=f"accuracy-{kind}-") as work:
            forecasts = run_pipeline(history, spec, args.trials, args.folds, Path(work))
        scores = score(history, held_out, forecasts, period)
        missing = int((scores["champion"] == "missing").sum())
        scores = scores[scores["champion"] != "missing"]
        ratio = scores["smape"] / scores["smape_seasonal_naive"]
        results[kind] = {
            "series_scored": len(scores),
            "series_missing": missing,
            "mean_smape": round(float(scores["smape"].mean()), 3),
            "mean_smape_seasonal_naive": round(float(scores["smape_seasonal_naive"].mean()), 3),
            "worst_ratio_to_seasonal_naive": round(float(ratio.max()), 3),
            "series_over_1_05": int((ratio > 1.05).sum()),
            "owa": round(
                0.5 * (scores["smape"].mean() / scores["smape_naive2"].mean())
                + 0.5 * (scores["mase"].mean() / scores["mase_naive2"].mean()),
                4,
            ),
            "champions": scores["champion"].value_counts().to_dict(),
        }
    checks = {}
    if "daily" in results:
        checks["daily mean sMAPE <= 12.5"] = bool(results["daily"]["mean_smape"] <= TARGETS["daily_mean_smape"])
        checks["daily: every series <= 1.05 x seasonal naive"] = results["daily"]["series_over_1_05"] == 0
    if "weekly" in results:
        checks["weekly OWA < 1"] = bool(results["weekly"]["owa"] < TARGETS["weekly_owa"])
    results["met"] = checks
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"accuracy-{args.series}.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    for check, met in checks.items():
        print(f"{'met    ' if met else 'NOT MET'}  {check}")
    if missing_any := sum(results[k]["series_missing"] for k in ("daily", "weekly") if k in results):
        print(f"{missing_any} series had no forecast")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
