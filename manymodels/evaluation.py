"""Accuracy per series and model on the test window, its aggregates, OWA, intervals, how the champion fared, and
the run's output tables assembled from the per-series results."""

import logging
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from manymodels import storage
from manymodels.bounds import intervals_of, quantile_column, quantile_label
from manymodels.candidates import CHAMPION, model_names
from manymodels.columns import FUTURE, MODEL, SERIES_ID, SPLIT, TARGET, TIME, YHAT
from manymodels.cost import PriceTable, estimate
from manymodels.cpu import mean_per_series
from manymodels.hierarchy import reconciled
from manymodels.ingest import Ingested
from manymodels.jobs import TuneOutcome
from manymodels.metrics import METRICS, coverage, evaluate, interval_pinball, owa, pinball
from manymodels.naive2 import NAIVE2
from manymodels.planning import manifest
from manymodels.series import SeriesSummary
from manymodels.settings import DataSpec, TuningSpec
from manymodels.summary import CpuPerSeries, RunScores

log = logging.getLogger(__name__)


def cpu_per_series(results: list[SeriesSummary], learned: dict[str, float] | None = None) -> CpuPerSeries | None:
    """The mean CPU seconds a series tuned in this run spent by step and by model, the models' learning across
    series (learned: CPU seconds by model) shared among them as the step `learn`; None if none was tuned."""
    tuned, learned = [r for r in results if r.cpu_by_step], learned or {}
    if not tuned:
        return None
    return CpuPerSeries(
        series=len(tuned),
        by_step=mean_per_series((r.cpu_by_step for r in tuned), {"learn": sum(learned.values())} if learned else {}),
        by_model=mean_per_series((r.cpu_by_model for r in tuned), learned),
    )


def solver_check(gaps: list[dict[str, float]]) -> dict[str, float] | None:
    """--solver-check's sample: its size, the smallest log-posterior gain of the exact solver over Stan and the
    largest relative forecast gap."""
    if not gaps:
        return None
    return {
        "series": len(gaps),
        "min_log_posterior_gain": min(g["log_posterior_gain"] for g in gaps),
        "max_forecast_gap": max(g["forecast_gap"] for g in gaps),
    }


def series_metrics(backtest: pd.DataFrame, profiles: pd.DataFrame, id_cols: list[str]) -> pd.DataFrame:
    """One row per series and model, one column per metric (MASE scaled by each series' mase_scale)."""
    if backtest.empty:  # every series was rejected
        return pd.DataFrame(columns=[*id_cols, SERIES_ID, MODEL, *METRICS])
    scales = profiles.set_index(SERIES_ID)["mase_scale"]
    rows = [
        {SERIES_ID: sid, MODEL: model, **evaluate(g[TARGET].to_numpy(), g[YHAT].to_numpy(), scales[sid])}
        for (sid, model), g in backtest.groupby([SERIES_ID, MODEL], sort=True, observed=True)
    ]
    ids = backtest.drop_duplicates(SERIES_ID)[[*id_cols, SERIES_ID]]
    return ids.merge(pd.DataFrame(rows), on=SERIES_ID)


def aggregate(metrics: pd.DataFrame, by: str | None = None) -> dict:
    """Mean of each metric per model, overall or for each value of one id column."""
    keys = [MODEL] if by is None else [by, MODEL]
    means = metrics.groupby(keys, observed=True)[list(METRICS)].mean()
    if by is None:
        return _rounded(means.to_dict(orient="index"))
    return {str(value): _rounded(group.droplevel(0).to_dict(orient="index")) for value, group in means.groupby(level=0)}


def champion_wins(metrics: pd.DataFrame, metric: str = "smape") -> dict:
    """For each other model: the share of series where the champion had the lower error, and by how much."""
    table = metrics.pivot(index=SERIES_ID, columns=MODEL, values=metric)
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
    """M4's OWA of each model against Naive2, from the mean sMAPE and MASE over the series the model forecast (some
    compete only for some series: the pooled and the intermittent models)."""
    if NAIVE2 not in set(metrics[MODEL]):
        return {}
    base = metrics[metrics[MODEL] == NAIVE2].set_index(SERIES_ID)[["smape", "mase"]]
    out = {}
    for model, rows in metrics[metrics[MODEL] != NAIVE2].groupby(MODEL, observed=True):
        mine, theirs = rows[["smape", "mase"]].mean(), base.loc[rows[SERIES_ID]].mean()
        out[str(model)] = round(owa(mine["smape"], mine["mase"], theirs["smape"], theirs["mase"]), 4)
    return out


def selection_report(metrics: pd.DataFrame, owas: dict[str, float], metric: str) -> dict:
    """How the contest did on the test window: the share of series whose champion had the lowest error of the
    candidates there, and the champion's OWA beside that of the best model used for every series."""
    table = metrics.pivot(index=SERIES_ID, columns=MODEL, values=metric)
    candidates = [m for m in table.columns if m in model_names()]
    best_share = float((table[CHAMPION] <= table[candidates].min(axis=1) + 1e-9).mean())
    everywhere = [m for m in candidates if table[m].notna().all()]  # "always model X" must forecast every series
    singles = {m: v for m, v in owas.items() if m in everywhere}
    best = min(singles, key=singles.get) if singles else None
    return {
        "metric": metric,
        "champion_best_share": round(best_share, 4),
        "champion_owa": owas.get(CHAMPION),
        "best_single_model": best,
        "best_single_owa": singles.get(best),
    }


def interval_scores(backtest: pd.DataFrame, levels: list[int], quantiles: list[float] = ()) -> dict | None:
    """Coverage of each interval level and the mean pinball loss of the champion's bounds on the test window; for
    each quantile, the share of actuals at or below it and its mean pinball loss over the series."""
    champion = backtest[backtest[MODEL] == CHAMPION]
    if champion.empty or not levels:
        return None
    y, every = champion[TARGET].to_numpy(), intervals_of(champion, levels)
    by_series = [rows for _, rows in champion.groupby(SERIES_ID, observed=True)]
    per_series = [interval_pinball(g[TARGET].to_numpy(), intervals_of(g, levels)) for g in by_series]
    return {
        "coverage": {str(lv): round(coverage(y, *every[lv]), 4) for lv in levels},
        "pinball": round(float(np.mean(per_series)), 4),
        "quantiles": {
            quantile_label(q): (
                round(float(np.mean(y <= champion[quantile_column(q)].to_numpy())), 4),
                round(float(np.mean([pinball(g[TARGET], g[quantile_column(q)], q) for g in by_series])), 4),
            )
            for q in quantiles
        },
    }


def _rounded(table: dict) -> dict:
    return {
        str(k): {m: (None if np.isnan(v) else round(float(v), 4)) for m, v in row.items()} for k, row in table.items()
    }


def best_and_worst(metrics: pd.DataFrame, id_cols: list[str], n: int = 5, metric: str = "smape") -> list[dict]:
    """The n series with the lowest and the n with the highest error of the champion, with every model's error."""
    table = metrics.pivot(index=SERIES_ID, columns=MODEL, values=metric).sort_values(CHAMPION)
    ids = metrics.drop_duplicates(SERIES_ID).set_index(SERIES_ID)[id_cols]
    picked = [("best", sid) for sid in table.index[:n]]
    picked += [("worst", sid) for sid in table.index[max(n, len(table) - n) :][::-1]]
    return [
        {"rank": rank, SERIES_ID: sid, **ids.loc[sid].to_dict()}
        | {f"{model} {metric}": round(float(table.at[sid, model]), 3) for model in table.columns}
        for rank, sid in picked
    ]


@dataclass
class RunOutputs:
    """The output tables, and the scores summary.json is built from."""

    forecasts: pd.DataFrame = field(repr=False)
    backtest: pd.DataFrame = field(repr=False)
    metrics: pd.DataFrame = field(repr=False)
    best_params: pd.DataFrame = field(repr=False)
    scores: RunScores
    hierarchy: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)  # reconciled levels (--hierarchy)


def profile_counts(profiles: pd.DataFrame) -> dict[str, int]:
    """What the ingest step found and how the series are handled, from their profiles."""
    return {
        "rows_duplicated": int(profiles["n_duplicates"].sum()),
        "periods_filled": int(profiles["n_filled"].sum()),
        "series_short_history": int(profiles["short_history"].fillna(False).sum()),
        "series_one_fold": int((profiles["folds"] == 1).sum()),
        "series_no_fold": int((profiles["folds"] == 0).sum()),
        "series_unscored": int(profiles["scored"].eq(False).sum()),  # NA for a rejected series
        "series_intermittent": int(profiles["intermittent"].fillna(False).sum()),
    }


def assemble_outputs(
    ingested: Ingested,
    outcome: TuneOutcome,
    frames: tuple[pd.DataFrame, ...],
    data: DataSpec,
    tuning: TuningSpec,
    node_seconds: dict[str, float],
) -> RunOutputs:
    """The output tables and the run's scores; every input series is either forecast or listed as rejected. frames
    are the results' backtest and forecast rows (ResultCache.frames); the cost estimate prices node_seconds, the
    time the run held nodes of each instance type. With a hierarchy, the series files are read for the sums."""
    ids = ingested.profiles[[*data.id_cols, SERIES_ID]]
    results = sorted(outcome.results, key=lambda r: r.series_id)
    backtest = _with_ids(ids, frames[0])
    metrics = series_metrics(backtest, ingested.profiles, data.id_cols)
    scored = len(metrics) > 0
    rejected = _rejections(ingested, outcome)
    counts = {"series_in": len(ingested.profiles), "series_forecast": len(results), "series_rejected": len(rejected)}
    if counts["series_in"] != counts["series_forecast"] + counts["series_rejected"]:
        raise RuntimeError(f"series lost between steps: {counts}")
    owas = owa_by_model(metrics) if scored else {}
    reconciling = data.hierarchy and scored
    levels, level_scores, not_reconciled = (
        _reconciled(ingested, results, backtest, frames, data) if reconciling else (None, None, None)
    )
    scores = RunScores(
        counts=counts | profile_counts(ingested.profiles) | {"rows_in": ingested.n_rows},
        rejected=rejected,
        empty_files=ingested.empty_files,
        tuning=outcome.counts,
        trials=int(sum(r.n_trials for r in results)),
        studies_stopped_early=int(sum(r.stopped_early for r in results)),
        prophet_fits=int(sum(r.n_fits for r in results)),
        fits_by_solver=dict(sum((Counter(r.fits_by_solver) for r in results), Counter())),
        solver_check=solver_check([r.solver_gap for r in results if r.solver_gap is not None]),
        metrics=aggregate(metrics) if scored else {},
        metrics_by={col: aggregate(metrics, by=col) for col in data.id_cols} if scored else {},
        champions=dict(Counter(r.champion for r in results).most_common()),
        models_dropped=dict(Counter(m for r in results for m in r.dropped).most_common()),
        cpu_per_series=cpu_per_series(results, outcome.learn_cpu),
        champion_vs_models=champion_wins(metrics, tuning.metric) if scored else {},
        owa=owas,
        selection=selection_report(metrics, owas, tuning.metric) if scored else None,
        run_choice=outcome.run_choice,
        intervals=interval_scores(backtest, data.levels, data.quantiles) if scored else None,
        hierarchy=level_scores,
        hierarchy_error=not_reconciled,
        cost=estimate(node_seconds, counts["series_forecast"], PriceTable.load()),
        manifest=manifest(ingested.profiles, data, tuning),
    )
    return RunOutputs(
        forecasts=_with_ids(ids, frames[1]),
        backtest=backtest,
        metrics=metrics,
        best_params=_with_ids(ids, pd.DataFrame([_best_params_row(r) for r in results])),
        scores=scores,
        hierarchy=pd.DataFrame() if levels is None else levels,
    )


def _reconciled(ingested: Ingested, results: list, backtest: pd.DataFrame, frames: tuple, data: DataSpec):
    """The forecast series' hierarchy reconciled (manymodels.hierarchy), its scores per level, and why not if it
    could not be (the run's other outputs stand without it)."""
    urls = ingested.series_urls()
    history = storage.read_parquets([urls[r.series_id] for r in results])
    history = history.loc[history[SPLIT] != FUTURE, [SERIES_ID, TIME, TARGET, SPLIT]]
    ids = ingested.profiles[[*data.id_cols, SERIES_ID]]
    ids = ids[ids[SERIES_ID].isin(history[SERIES_ID].unique())]
    champion = backtest.loc[backtest[MODEL] == CHAMPION, [SERIES_ID, TIME, YHAT]]
    try:
        return *reconciled(history, ids, champion, frames[1][[SERIES_ID, TIME, YHAT]], frames[2], data), None
    except Exception as e:
        why = " ".join((str(e) if isinstance(e, ValueError) else f"{type(e).__name__}: {e}").splitlines())
        log.warning("no reconciliation: %s", why, exc_info=not isinstance(e, ValueError))
        return None, None, why


def _with_ids(ids: pd.DataFrame, long: pd.DataFrame) -> pd.DataFrame:
    """Rows of many series (with a series_id column), each with its series' id columns, in series order."""
    if SERIES_ID not in long:
        long = pd.DataFrame({SERIES_ID: pd.Series(dtype="string")})
    long = long.astype({SERIES_ID: ids[SERIES_ID].dtype}).sort_values(SERIES_ID, kind="stable")
    return ids.merge(long, on=SERIES_ID, validate="one_to_many")


def _best_params_row(result: SeriesSummary) -> dict:
    row = result.best_params | {
        "best_value": result.best_value,
        "n_trials": result.n_trials,
        "champion": result.champion,
        "champion_members": members(result.ensembles.get(result.champion, {})),
        SERIES_ID: result.series_id,
    }
    return row | {f"folds_{model}": value for model, value in result.fold_errors.items()}


def members(weights: dict[str, float]) -> str:
    """An ensemble's members with their weights, heaviest first: 'auto_ets 0.6, naive 0.4'; empty for one model."""
    return ", ".join(f"{m} {w:.2g}" for m, w in sorted(weights.items(), key=lambda mw: -mw[1]))


def _rejections(ingested: Ingested, outcome: TuneOutcome) -> list[dict[str, str]]:
    """The series rejected by ingest, then those whose tuning failed, each with why."""
    rejected = ingested.rejected
    return [
        {SERIES_ID: sid, "reason": why} for sid, why in zip(rejected[SERIES_ID], rejected["reason"], strict=True)
    ] + [{SERIES_ID: sid, "reason": f"tuning failed: {why}"} for sid, why in sorted(outcome.failures.items())]
