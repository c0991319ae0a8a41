"""`make accuracy`: the champion's forecasts measured from outside on data the pipeline never saw.

daily: the store-item data up to 2017-10-02 goes in; the last 90 days of 2017 are held out. Targets: mean sMAPE of
the champion at most 12.24, and for every series at most 1.05 times seasonal naive's (period 7) sMAPE.
weekly: the same sales summed per week (weeks ending Sunday, the last partial week dropped); the last 13 weeks held
out. Target: the champion's OWA against M4's Naive2 below 1 (M4's weekly convention: period 1 for Naive2 and MASE).
panels: unrelated real and generated series, quarterly, monthly, weekly and daily (benchmarks/panel.py), M4's
horizons held out. Target:
the champions' OWA, averaged over the panels, below 0.93.
On every data set: the champion's OWA at most that of the best single challenger (naive, seasonal naive, AutoETS,
AutoTheta), each fitted from outside on the same history as the pipeline fits it.
"""

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.machine import cores
from benchmarks.panel import ID_COLS, PANELS, SEASON, panel, split_held_out
from benchmarks.workloads import STORE_ITEM, store_item
from manymodels.bounds import lower_column, upper_column
from manymodels.forecasters import registry
from manymodels.forecasters.global_lgbm import GLOBAL, global_forecasts
from manymodels.forecasters.statsforecast_models import SEASONAL_NAIVE
from manymodels.metrics import mase, owa, seasonal_mae, smape
from manymodels.naive2 import naive2
from manymodels.settings import DataSpec

BIN = Path(sys.executable).parent
LEVELS = (80, 95)  # the pipeline's default interval levels, whose coverage of the held-out points is reported
DRAWS = 2000  # bootstrap resamples of the series for the interval of the champion's OWA gap to the best single model
CUTOFF = pd.Timestamp("2017-10-02")
TARGETS = {
    "daily_mean_smape": 12.24,
    "daily_worst_ratio_to_seasonal_naive": 1.05,
    "weekly_owa": 1.0,
    "panel_owa": 0.93,
    "daily_coverage_points": 2.0,
}


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


def run_pipeline(history: pd.DataFrame, spec: dict, trials: int, folds: int | None, work: Path) -> pd.DataFrame:
    """The pipeline as users run it: `manymodels run` on the history; its forecasts.parquet."""
    history.to_parquet(work / "in.parquet", index=False)
    command = [BIN / "manymodels", "run", "--data", work / "in.parquet", "--id-cols", ",".join(spec["id_cols"])]
    command += ["--time-col", "date", "--target-col", spec["target"], "--freq", spec["freq"]]
    command += ["--horizon", str(spec["horizon"]), "--trials", str(trials), "--output", work / "out"]
    command += ["--folds", str(folds)] if folds else []
    subprocess.run(list(map(str, command)), check=True)
    return pd.read_parquet(work / "out" / "forecasts.parquet")


def single_models(past: np.ndarray, horizon: int, period: int) -> dict[str, np.ndarray]:
    """What each statsforecast challenger alone forecasts, fitted from outside as the pipeline fits it."""
    return {model.name: model.on_values(past, horizon, period).mean for model in registry.every_series()}


def global_alone(history: pd.DataFrame, spec: dict) -> dict[str, np.ndarray]:
    """The global model alone, trained from outside on every series' history as the pipeline trains it for the
    future: each series' forecast of the held-out window, by its series id."""
    ids, target = spec["id_cols"], spec["target"]
    frames = pd.DataFrame({"series_id": history[ids].astype(str).agg("-".join, axis=1), "ds": history["date"]})
    frames = frames.assign(y=history[target].to_numpy(float), split="train")
    data = DataSpec(
        url="x",
        id_cols=ids,
        time_col="date",
        target_col=target,
        freq=spec["freq"],
        horizon=spec["horizon"],
        season_length=spec["period"],
    )
    out = global_forecasts(frames, data, windows=1, threads=cores())
    future = out[out["ds"] > out["series_id"].map(frames.groupby("series_id")["ds"].max())]
    return {sid: rows.sort_values("ds")["yhat"].to_numpy() for sid, rows in future.groupby("series_id")}


def score(history: pd.DataFrame, held_out: pd.DataFrame, forecasts: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """Per series: the champion's, seasonal naive's and Naive2's sMAPE and MASE on the held-out window, and each
    single model's (fitted from outside on the same history: the challengers, and the global model)."""
    ids, target, m4 = spec["id_cols"], spec["target"], spec["m4_period"]
    global_of = global_alone(history, spec)
    mine_by = {key: g for key, g in forecasts.assign(**{c: forecasts[c].astype(str) for c in ids}).groupby(ids)}
    actual_by = dict(list(held_out.groupby(ids)))
    rows = []
    for key, past in history.groupby(ids):
        series = "-".join(map(str, key))
        actual = actual_by[key].sort_values("date")
        mine = mine_by.get(tuple(map(str, key)))
        if mine is None:
            rows.append({"series": series, "champion": "missing"})
            continue
        mine = mine.sort_values("ds")
        if mine["ds"].tolist() != actual["date"].tolist():
            raise RuntimeError(f"series {series}: forecast dates differ from the held-out dates")
        y, h, hist = actual[target].to_numpy(float), len(actual), past.sort_values("date")[target].to_numpy(float)
        scale = seasonal_mae(hist, m4)
        forecasts_of = {"champion_model": mine["yhat"].to_numpy(), "naive2": naive2(hist, h, m4)}
        alone = global_of[series][:h]
        forecasts_of |= single_models(hist, h, spec["period"]) | {
            GLOBAL: np.maximum(alone, 0) if hist.min() >= 0 else alone
        }
        row = {"series": series, "champion": mine["model"].iloc[0], "points": h}
        for level in LEVELS:
            inside = (y >= mine[lower_column(level)].to_numpy()) & (y <= mine[upper_column(level)].to_numpy())
            row[f"inside_{level}"] = int(inside.sum())
        for name, yhat in forecasts_of.items():
            row |= {f"smape_{name}": smape(y, yhat), f"mase_{name}": mase(y, yhat, scale)}
        rows.append(row)
    return pd.DataFrame(rows)


def owa_of(means: pd.Series | pd.DataFrame, name: str):
    """A model's OWA against Naive2 from the mean sMAPE and MASE columns (one row of means, or one per resample)."""
    return owa(means[f"smape_{name}"], means[f"mase_{name}"], means["smape_naive2"], means["mase_naive2"])


def gap_interval(scores: pd.DataFrame, model: str, draws: int = DRAWS, seed: int = 0) -> list[float]:
    """The 5th and 95th percentiles of the champion's OWA minus model's over resamples of the series: how far apart
    the two could be on other series of the same kind, beside the one gap measured."""
    errors = scores.filter(regex="^(smape|mase)_")
    picks = np.random.default_rng(seed).integers(0, len(errors), size=(draws, len(errors)))
    means = pd.DataFrame(errors.to_numpy(float)[picks].mean(axis=1), columns=errors.columns)
    gaps = owa_of(means, "champion_model") - owa_of(means, model)
    return [round(float(q), 4) for q in np.percentile(gaps, [5, 95])]


def summarise(scores: pd.DataFrame) -> dict:
    """OWA of the champion and of each single model against Naive2, and the series' figures."""
    missing = int((scores["champion"] == "missing").sum())
    scores = scores[scores["champion"] != "missing"]
    means = scores.filter(regex="^(smape|mase)_").mean()
    singles = {
        name: round(float(owa_of(means, name)), 4) for name in (*(m.name for m in registry.every_series()), GLOBAL)
    }
    best = min(singles, key=singles.get)
    ratio = scores["smape_champion_model"] / scores[f"smape_{SEASONAL_NAIVE.name}"]
    return {
        "series_scored": len(scores),
        "series_missing": missing,
        "mean_smape": round(float(means["smape_champion_model"]), 3),
        "mean_smape_seasonal_naive": round(float(means[f"smape_{SEASONAL_NAIVE.name}"]), 3),
        "worst_ratio_to_seasonal_naive": round(float(ratio.max()), 3),
        "series_over_1_05": int((ratio > 1.05).sum()),
        "owa": round(float(owa_of(means, "champion_model")), 4),
        "owa_single_models": singles,
        "best_single_model": best,
        "gap_to_best_single_interval_90": gap_interval(scores, best),
        "champions": scores["champion"].value_counts().to_dict(),
        "coverage": {str(lv): round(float(scores[f"inside_{lv}"].sum() / scores["points"].sum()), 4) for lv in LEVELS},
    }


def datasets(args) -> dict[str, tuple[pd.DataFrame, pd.DataFrame, dict]]:
    """Each data set's history, held-out window and how to run and score it."""
    out = {}
    store_item_spec = {"id_cols": ["store", "item"], "target": "sales"}
    if STORE_ITEM.exists() and args.only in (None, "daily"):
        history, held, spec = daily(args.series)
        out["daily"] = (history, held, store_item_spec | spec | {"period": 7, "m4_period": 7})
    if STORE_ITEM.exists() and args.only in (None, "weekly"):
        history, held, spec = weekly(args.series)
        out["weekly"] = (history, held, store_item_spec | spec | {"period": 52, "m4_period": 1})
    for kind in args.panels if args.only in (None, "panel") else ():
        freq, horizon, m4_period = PANELS[kind]
        frame = panel(kind)
        keep = frame[ID_COLS].drop_duplicates().head(args.series)
        history, held = split_held_out(frame.merge(keep, on=ID_COLS), horizon)
        spec = {"id_cols": ID_COLS, "target": "value", "freq": freq, "horizon": horizon}
        out[f"panel_{kind}"] = (history, held, spec | {"period": SEASON[kind], "m4_period": m4_period})
    return out


def checks(results: dict) -> dict[str, bool]:
    """Each target, met or not; results' panel_mean_owa where panels ran."""
    met = {}
    if "daily" in results:
        met["daily mean sMAPE <= 12.24"] = bool(results["daily"]["mean_smape"] <= TARGETS["daily_mean_smape"])
        met["daily: every series <= 1.05 x seasonal naive"] = results["daily"]["series_over_1_05"] == 0
        off = [abs(100 * share - int(level)) for level, share in results["daily"]["coverage"].items()]
        met["daily: 80% and 95% intervals cover within 2 points of nominal"] = (
            max(off) <= TARGETS["daily_coverage_points"]
        )
    if "weekly" in results:
        met["weekly OWA < 1"] = bool(results["weekly"]["owa"] < TARGETS["weekly_owa"])
    for name, r in results.items():
        if isinstance(r, dict) and "owa_single_models" in r:
            best = r["owa_single_models"][r["best_single_model"]]
            met[f"{name}: champion OWA <= best single model's"] = bool(r["owa"] <= best)
    panels = [r for name, r in results.items() if name.startswith("panel_") and isinstance(r, dict)]
    if panels:
        pooled = float(np.mean([r["owa"] for r in panels]))
        results["panel_mean_owa"] = round(pooled, 4)
        met["panel: mean champion OWA < 0.93"] = pooled < TARGETS["panel_owa"]
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=500, help="Store-item series, and the most series per panel.")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--folds", type=int, default=None, help="Rolling-origin folds (default: the pipeline's).")
    parser.add_argument("--only", choices=["daily", "weekly", "panel"])
    parser.add_argument(
        "--panels", default=",".join(PANELS), help="Which panels of unrelated series (comma-separated)."
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="Keep each run's outputs and per-series scores in KEEP/<data set> (benchmarks.selection).",
    )
    args = parser.parse_args()
    args.panels = [p for p in args.panels.split(",") if p]
    if not STORE_ITEM.exists():
        print(f"the store-item data is not at {STORE_ITEM} (set MANYMODELS_STORE_ITEM): the panels only")
    results = {
        "command": " ".join(["python -m benchmarks.accuracy", *sys.argv[1:]]),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": cores(),
        "series": args.series,
        "trials": args.trials,
        "folds": args.folds,
        "targets": TARGETS,
    }
    for name, (history, held_out, spec) in datasets(args).items():
        with contextlib.ExitStack() as stack:
            work = args.keep / name if args.keep else Path(stack.enter_context(tempfile.TemporaryDirectory()))
            work.mkdir(parents=True, exist_ok=True)
            forecasts = run_pipeline(history, spec, args.trials, args.folds, work)
            scores = score(history, held_out, forecasts, spec)
            if args.keep:
                scores.to_parquet(work / "scores.parquet", index=False)
        results[name] = summarise(scores)
    results["met"] = checks(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"accuracy-{args.series}.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    for check, met in results["met"].items():
        print(f"{'met    ' if met else 'NOT MET'}  {check}")
    if missing_any := sum(
        r["series_missing"] for r in results.values() if isinstance(r, dict) and "series_missing" in r
    ):
        print(f"{missing_any} series had no forecast")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
