"""Accuracy per series and model on the test window, its aggregates, OWA, intervals, and how the champion fared."""

import numpy as np
import pandas as pd

from manymodels.challengers import NAIVE2
from manymodels.contract import SERIES_ID, TARGET
from manymodels.metrics import METRICS, coverage, evaluate, interval_pinball, owa
from manymodels.tuning import CHAMPION


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


def champion_wins(metrics: pd.DataFrame, metric: str = "smape") -> dict:
    """For each other model: the share of series where the champion had the lower error, and by how much."""
    table = metrics.pivot(index=SERIES_ID, columns="model", values=metric)
    out = {}
    for other in (m for m in table.columns if m != CHAMPION):
        diff = table[other] - table[CHAMPION]
        out[other] = {
            "metric": metric,
            "champion_mean": round(float(table[CHAMPION].mean()), 4),
            "model_mean": round(float(table[other].mean()), 4),
            "share_series_better": round(float((diff > 0).mean()), 4),
            "mean_improvement": round(float(diff.mean()), 4),
            "relative_improvement": round(float(diff.mean() / table[other].mean()), 4),
        }
    return out


def owa_by_model(metrics: pd.DataFrame) -> dict[str, float]:
    """M4's OWA of each model against Naive2, from the mean sMAPE and MASE over the series."""
    means = metrics.groupby("model", observed=True)[["smape", "mase"]].mean()
    if NAIVE2 not in means.index:
        return {}
    base = means.loc[NAIVE2]
    return {
        str(model): round(owa(row["smape"], row["mase"], base["smape"], base["mase"]), 4)
        for model, row in means.iterrows()
        if model != NAIVE2
    }


def interval_scores(backtest: pd.DataFrame, levels: list[int]) -> dict:
    """Coverage of each interval level and the mean pinball loss of the champion's bounds on the test window."""
    champion = backtest[backtest["model"] == CHAMPION]
    if champion.empty or not levels:
        return {}

    def bounds(rows: pd.DataFrame) -> dict[str, np.ndarray]:
        return {f"{side}-{level}": rows[f"{side}_{level}"].to_numpy() for level in levels for side in ("lo", "hi")}

    y, every = champion[TARGET].to_numpy(), bounds(champion)
    per_series = [
        interval_pinball(g[TARGET].to_numpy(), bounds(g), levels) for _, g in champion.groupby(SERIES_ID, observed=True)
    ]
    return {
        "coverage": {str(lv): round(coverage(y, every[f"lo-{lv}"], every[f"hi-{lv}"]), 4) for lv in levels},
        "pinball": round(float(np.mean(per_series)), 4),
    }


def _rounded(table: dict) -> dict:
    return {
        str(k): {m: (None if np.isnan(v) else round(float(v), 4)) for m, v in row.items()} for k, row in table.items()
    }
