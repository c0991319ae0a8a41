"""Coherent totals (--hierarchy): the champions' forecasts of the series, and AutoETS's of every sum of them (each
store, the total), reconciled with hierarchicalforecast so that items add up to stores and stores to the total:
bottom-up, and MinT with shrinkage, whose covariance comes from the fold residuals (the champions' on their folds,
AutoETS's on the same windows for the sums). The test window is never used to reconcile."""

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from manymodels.columns import SERIES_ID, SPLIT, TARGET, TEST, TIME, YHAT
from manymodels.forecasters.statsforecast_models import AUTO_ETS
from manymodels.metrics import mase, seasonal_mae, smape
from manymodels.settings import DataSpec

TOTAL = "total"
METHODS = {"BottomUp": "bottom_up", "MinTrace_method-mint_shrink": "mint_shrink"}
BASE = "base"
LevelScores = dict[str, dict[str, dict[str, float]]]  # level -> forecast (base, bottom_up, ...) -> metric -> mean


@dataclass
class Hierarchy:
    """The series' hierarchy: every node (total, each store, each store/item) with its summed history."""

    levels: dict[str, list[str]]  # level name ("total", "store", "store/item") -> its nodes
    summing: pd.DataFrame  # hierarchicalforecast's S: a row per node, a column per bottom node
    history: pd.DataFrame  # unique_id, ds, y: every node's sums over its series, before the future
    bottom: dict[str, str]  # series_id -> its bottom node

    @classmethod
    def of(cls, history: pd.DataFrame, ids: pd.DataFrame, hierarchy: list[str]) -> "Hierarchy":
        """history: series_id, ds, y of every series; ids: series_id and the id columns."""
        from hierarchicalforecast.utils import aggregate

        rows = history.merge(ids, on=SERIES_ID, validate="many_to_one").assign(**{TOTAL: TOTAL})
        rows[hierarchy] = rows[hierarchy].astype(str)
        spec = [[TOTAL, *hierarchy[:k]] for k in range(len(hierarchy) + 1)]
        summed, summing, tags = aggregate(rows.rename(columns={TIME: "ds", TARGET: "y"})[[*spec[-1], "ds", "y"]], spec)
        names = {"/".join(level): "/".join(level[1:]) or TOTAL for level in spec}
        nodes = ids.assign(**{c: ids[c].astype(str) for c in hierarchy})
        bottom = dict(
            zip(nodes[SERIES_ID], nodes[hierarchy].apply(lambda r: "/".join([TOTAL, *r]), axis=1), strict=True)
        )
        return cls({names[k]: list(v) for k, v in tags.items()}, summing, summed, bottom)

    @property
    def tags(self) -> dict[str, np.ndarray]:
        return {name: np.array(nodes) for name, nodes in self.levels.items()}

    @property
    def sums(self) -> list[str]:
        """The nodes above the series."""
        return [node for nodes in list(self.levels.values())[:-1] for node in nodes]

    def of_series(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A frame keyed by series_id, keyed by bottom node (unique_id) instead."""
        return frame.assign(unique_id=frame[SERIES_ID].map(self.bottom)).drop(columns=SERIES_ID)


def sum_forecasts(tree: Hierarchy, cuts: list[pd.Timestamp], data: DataSpec) -> pd.DataFrame:
    """unique_id, ds, yhat: AutoETS on each sum's points before each cut, for the horizon points from it."""
    out = []
    sums = tree.history[tree.history["unique_id"].isin(tree.sums)]
    for node, rows in sums.groupby("unique_id"):
        for cut in cuts:
            dates = pd.date_range(cut, periods=data.horizon, freq=data.freq)
            y = rows.loc[rows["ds"] < cut, "y"].to_numpy()
            yhat = AUTO_ETS.on_values(y, data.horizon, data.period).mean
            out.append(pd.DataFrame({"unique_id": node, "ds": dates, "yhat": yhat}))
    return pd.concat(out, ignore_index=True)


def window_starts(dates: pd.Series, horizon: int) -> list[pd.Timestamp]:
    """The first date of each window of horizon consecutive dates among dates."""
    return list(pd.Series(sorted(dates.unique())).iloc[::horizon])


def reconcile(
    hierarchy: Hierarchy,
    base: pd.DataFrame,
    residuals: pd.DataFrame | None,
) -> pd.DataFrame:
    """Every node's base forecast (unique_id, ds, yhat) reconciled: columns base, bottom_up and, with fold
    residuals (unique_id, ds, y, yhat on the same dates for every node), mint_shrink."""
    from hierarchicalforecast.core import HierarchicalReconciliation
    from hierarchicalforecast.methods import BottomUp, MinTrace

    methods = [BottomUp()] + ([MinTrace(method="mint_shrink")] if residuals is not None else [])
    fitted = residuals.rename(columns={"yhat": BASE}) if residuals is not None else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = HierarchicalReconciliation(methods).reconcile(
            Y_hat_df=base.rename(columns={"yhat": BASE}),
            Y_df=fitted,
            S_df=hierarchy.summing,
            tags=hierarchy.tags,
        )
    return out.rename(columns={f"{BASE}/{k}": v for k, v in METHODS.items()})


def common_folds(folds: pd.DataFrame, n: int) -> pd.DataFrame:
    """The champions' fold rows on the dates each of the n series has one (the folds all champions were scored on;
    none where a series had no fold)."""
    counts = folds.groupby(TIME)[SERIES_ID].transform("nunique")
    return folds[counts == n]


def reconciled(
    history: pd.DataFrame,
    ids: pd.DataFrame,
    champion_test: pd.DataFrame,
    champion_future: pd.DataFrame,
    folds: pd.DataFrame,
    data: DataSpec,
) -> tuple[pd.DataFrame, LevelScores]:
    """Every level's forecasts of the test window and the future: level, unique_id, window (test or future), ds,
    y (the test window's actuals), base, bottom_up, mint_shrink; and their scores on the test window per level.
    history: series_id, ds, y, split of every series up to its test window's end; champion_test/future and folds:
    series_id, ds, yhat (folds with y too)."""
    if history.groupby(SERIES_ID)[TIME].max().nunique() != 1:
        raise ValueError("the series do not end on the same date: their sums are not comparable")
    tree = Hierarchy.of(history[[SERIES_ID, TIME, TARGET]], ids, data.hierarchy)
    residuals = None
    if len(on_folds := common_folds(folds, champion_test[SERIES_ID].nunique())):
        sums = sum_forecasts(tree, window_starts(on_folds[TIME], data.horizon), data)
        bottom = tree.of_series(on_folds.rename(columns={TIME: "ds", TARGET: "y"}))
        residuals = pd.concat([sums.merge(tree.history, on=["unique_id", "ds"]), bottom], ignore_index=True)
    test_start = history.loc[history[SPLIT] == TEST, TIME].min()
    future_start = history[TIME].max() + pd.tseries.frequencies.to_offset(data.freq)
    parts = []
    for window, champion, cut in (("test", champion_test, test_start), ("future", champion_future, future_start)):
        series = tree.of_series(champion[[SERIES_ID, TIME, YHAT]].rename(columns={TIME: "ds"}))
        base = pd.concat([sum_forecasts(tree, [cut], data), series], ignore_index=True)
        parts.append(reconcile(tree, base, residuals).assign(window=window))
    out = pd.concat(parts, ignore_index=True).merge(tree.history, on=["unique_id", "ds"], how="left")
    level = {node: name for name, nodes in tree.levels.items() for node in nodes}
    table = out.assign(level=out["unique_id"].map(level)).rename(columns={"y": TARGET, "ds": TIME})
    columns = ["level", "unique_id", "window", TIME, TARGET, BASE, *(m for m in METHODS.values() if m in table)]
    return table[columns], level_scores(table[columns], tree.history, data.period)


def level_scores(table: pd.DataFrame, history: pd.DataFrame, period: int) -> LevelScores:
    """On the test window, each level's mean sMAPE and MASE over its nodes, for the base forecasts and each
    reconciliation."""
    test = table[table["window"] == "test"]
    methods = [c for c in (BASE, *METHODS.values()) if c in test]
    scores: LevelScores = {}
    history_of = dict(list(history.groupby("unique_id")))  # once: a scan of every node's rows per node is quadratic
    for level, rows in test.groupby("level", sort=False):
        per_node = []
        for node, window in rows.groupby("unique_id"):
            past = history_of[node]
            scale = seasonal_mae(past.loc[past["ds"] < window[TIME].min(), "y"].to_numpy(), period)
            y = window[TARGET].to_numpy()
            per_node.append(
                {m: (smape(y, window[m].to_numpy()), mase(y, window[m].to_numpy(), scale)) for m in methods}
            )
        scores[level] = {
            m: {
                "smape": float(np.mean([n[m][0] for n in per_node])),
                "mase": float(np.nanmean([n[m][1] for n in per_node])),
            }
            for m in methods
        }
    return scores
