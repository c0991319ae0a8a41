"""Accuracy per series and model on the test window, its aggregates, and how tuning fared against baselines."""

import numpy as np
import pandas as pd

from manymodels.contract import SERIES_ID, TARGET
from manymodels.metrics import METRICS, evaluate
from manymodels.tuning import TUNED


def series_metrics(backtest: pd.DataFrame, profiles: pd.DataFrame, id_cols: list[str]) -> pd.DataFrame:
    """One row per series and model, one column per metric (MASE scaled by each series' mase_scale)."""
    if backtest.empty:  # every series was rejected
        return pd.DataFrame(columns=[*id_cols, SERIES_ID, "model", *METRICS])
    scales = profiles.set_index(SERIES_ID)["mase_scale"]
    rows = [
        {SERIES_ID: sid, "model": model, **evaluate(g[TARGET].to_numpy(), g["yhat"].to_numpy(), scales[sid])}
        for (sid, model), g in backtest.groupby([SERIES_ID, "model"], sort=True, observed=True)
    ]
    ids = backtest.drop_duplicates(SERIES_ID)[[*id_cols, SERIES_ID]]
    return ids.merge(pd.DataFrame(rows), on=SERIES_ID)


def aggregate(metrics: pd.DataFrame, by: str | None = None) -> dict:
    """Mean of each metric per model, overall or for each value of one id column."""
    keys = ["model"] if by is None else [by, "model"]
    means = metrics.groupby(keys, observed=True)[list(METRICS)].mean()
    if by is None:
        return _rounded(means.to_dict(orient="index"))
    return {str(value): _rounded(group.droplevel(0).to_dict(orient="index")) for value, group in means.groupby(level=0)}


def tuning_wins(metrics: pd.DataFrame, metric: str = "smape") -> dict:
    """For each baseline: the share of series where tuned Prophet had the lower error, and by how much."""
    table = metrics.pivot(index=SERIES_ID, columns="model", values=metric)
    out = {}
    for baseline in (m for m in table.columns if m != TUNED):
        diff = table[baseline] - table[TUNED]
        out[baseline] = {
            "metric": metric,
            "tuned_mean": round(float(table[TUNED].mean()), 4),
            "baseline_mean": round(float(table[baseline].mean()), 4),
            "share_series_better": round(float((diff > 0).mean()), 4),
            "mean_improvement": round(float(diff.mean()), 4),
            "relative_improvement": round(float(diff.mean() / table[baseline].mean()), 4),
        }
    return out


def _rounded(table: dict) -> dict:
    return {
        str(k): {m: (None if np.isnan(v) else round(float(v), 4)) for m, v in row.items()} for k, row in table.items()
    }
