"""Champion rules replayed on finished runs: each rule picks every series' champion from the mean fold errors in
best_params.parquet and is scored on the run's own test window (backtest.parquet), which no choice saw, as M4's OWA
against Naive2. Approximate for the tuned Prophet, whose real rule compares on the selection folds only.

    python -m benchmarks.selection RUN_OUTPUT HISTORY.parquet --id-cols store,item --target sales --m4-period 1
"""

import argparse
import dataclasses
import itertools

import numpy as np
import pandas as pd

from manymodels.champion import DEFAULT_RULE, ChampionRule, choose_champion
from manymodels.ensembles import BEST3, GREEDY, MEDIAN

NAIVE2 = "naive2"


def test_window_errors(output: str, history: pd.DataFrame, id_cols: list[str], target: str, m4_period: int):
    """sMAPE and MASE of every model on every series' test window (series x model frames)."""
    backtest = pd.read_parquet(f"{output}/backtest.parquet")
    history = history.assign(series_id=history[id_cols].astype(str).agg("-".join, axis=1))
    starts = backtest.groupby("series_id")["ds"].min()
    scale = {}
    for sid, rows in history[history["series_id"].isin(starts.index)].groupby("series_id"):
        rows = rows.sort_values("date")
        y = rows.loc[rows["date"] < starts[sid], target].to_numpy(float)
        scale[sid] = np.mean(np.abs(y[m4_period:] - y[:-m4_period])) if len(y) > m4_period else np.nan
    a, f = backtest["y"].to_numpy(float), backtest["yhat"].to_numpy(float)
    backtest = backtest.assign(
        smape=200 * np.abs(a - f) / np.maximum(np.abs(a) + np.abs(f), 1e-9),
        mase=np.abs(a - f) / backtest["series_id"].map(scale).to_numpy(float),
    )
    means = backtest.groupby(["series_id", "model"])[["smape", "mase"]].mean()
    return means["smape"].unstack(), means["mase"].unstack()


# A candidate rule: the greedy ensemble in the median's place (so the median is one more ensemble to beat it)
GREEDY_BASED = dataclasses.replace(DEFAULT_RULE, baseline=GREEDY, chosen=(BEST3, MEDIAN))


def rule(
    folds: pd.DataFrame, single: float, ensemble: float, tuned: float, base: ChampionRule = DEFAULT_RULE
) -> pd.Series:
    """choose_champion itself with the base rule at these margins, each candidate's mean fold error as its only fold
    (so the tuned Prophet is compared with the choice's mean over every fold, not over the selection folds)."""
    variant = dataclasses.replace(base, single_margin=single, ensemble_margin=ensemble, tuned_margin=tuned)
    return pd.Series(
        {sid: choose_champion({m: [e] for m, e in errors.items()}, variant) for sid, errors in folds.iterrows()}
    )


def greedy_based(folds: pd.DataFrame, single: float, ensemble: float, tuned: float) -> pd.Series:
    """GREEDY_BASED at these margins: a single model must beat the greedy ensemble by `single`, the other ensembles
    by `ensemble`, the tuned Prophet the choice by `tuned`."""
    return rule(folds, single, ensemble, tuned, GREEDY_BASED)


def owa(smape: pd.DataFrame, mase: pd.DataFrame, chosen: pd.Series) -> float:
    pick = lambda frame: np.nanmean([frame.at[sid, model] for sid, model in chosen.items()])  # noqa: E731
    return 0.5 * (pick(smape) / np.nanmean(smape[NAIVE2]) + pick(mase) / np.nanmean(mase[NAIVE2]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output")
    parser.add_argument("history")
    parser.add_argument("--id-cols", default="store,item")
    parser.add_argument("--target", default="sales")
    parser.add_argument("--m4-period", type=int, default=1)
    args = parser.parse_args()
    smape, mase = test_window_errors(
        args.output, pd.read_parquet(args.history), args.id_cols.split(","), args.target, args.m4_period
    )
    params = pd.read_parquet(f"{args.output}/best_params.parquet").set_index("series_id").loc[smape.index]
    folds = params[[c for c in params if c.startswith("folds_")]].rename(columns=lambda c: c.removeprefix("folds_"))
    folds = folds[[m for m in folds if m in smape.columns]]
    print(f"{len(smape)} series; the run's champion: OWA {owa(smape, mase, params['champion']):.4f}")
    for model in smape.columns.drop("champion", errors="ignore"):
        print(f"always {model}: {owa(smape, mase, pd.Series(model, index=smape.index)):.4f}")
    chosen_folds = np.nanmean([folds.at[sid, model] for sid, model in params["champion"].items() if model in folds])
    run_wide = folds.mean().sort_values()
    print(f"mean fold error of the champions (chosen on those folds): {chosen_folds:.4f}")
    print("mean fold error of always ...: " + ", ".join(f"{m} {e:.4f}" for m, e in run_wide.items()))
    for single, ensemble, tuned in itertools.product((0.0, 0.1, 0.2), (0.0, 0.1), (0.1, 0.3)):
        score = owa(smape, mase, rule(folds, single, ensemble, tuned))
        print(f"margins single {single} ensemble {ensemble} tuned {tuned}: {score:.4f}")
    for single, ensemble, tuned in itertools.product((0.2, 1.0), (0.1, 1.0), (0.1, 0.3, 1.0)):
        score = owa(smape, mase, greedy_based(folds, single, ensemble, tuned))
        print(f"greedy-based, margins single {single} ensemble {ensemble} tuned {tuned}: {score:.4f}")


if __name__ == "__main__":
    main()
