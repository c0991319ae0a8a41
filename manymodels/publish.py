"""Assemble the run's five outputs from the per-series results and write them to the run location."""

from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from manymodels import plots, storage
from manymodels.caching import manifest
from manymodels.contract import SERIES_ID
from manymodels.cost import PriceTable, estimate
from manymodels.evaluation import aggregate, champion_wins, interval_scores, owa_by_model, series_metrics
from manymodels.ingest import Ingested
from manymodels.settings import DataSpec, TuningSpec
from manymodels.tuning import TuneOutcome

OUTPUT_FILES = ("forecasts.parquet", "backtest.parquet", "metrics.parquet", "best_params.parquet", "summary.json")


@dataclass
class RunOutputs:
    forecasts: pd.DataFrame = field(repr=False)
    backtest: pd.DataFrame = field(repr=False)
    metrics: pd.DataFrame = field(repr=False)
    best_params: pd.DataFrame = field(repr=False)
    summary: dict


def assemble_outputs(
    ingested: Ingested, outcome: TuneOutcome, data: DataSpec, tuning: TuningSpec, node_seconds: dict[str, float]
) -> RunOutputs:
    """Outputs and summary body; every input series is either forecast or listed as rejected. The cost estimate
    prices node_seconds, the time the run held nodes of each instance type."""
    id_cols, results, failures = data.id_cols, outcome.results, outcome.failures
    ids = ingested.profiles[[*id_cols, SERIES_ID]]

    def with_ids(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
        parts = [f.assign(**{SERIES_ID: sid}) for sid, f in frames.items()]
        long = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({SERIES_ID: pd.Series(dtype="string")})
        return ids.merge(long, on=SERIES_ID, validate="one_to_many")

    results = sorted(results, key=lambda r: r.series_id)
    backtest = with_ids({r.series_id: r.backtest for r in results})
    metrics = series_metrics(backtest, ingested.profiles, id_cols)
    best_params = with_ids(
        {
            r.series_id: pd.DataFrame(
                [
                    r.best_params
                    | {"best_value": r.best_value, "n_trials": r.n_trials, "champion": r.champion}
                    | {f"folds_{model}": value for model, value in r.fold_errors.items()}
                ]
            )
            for r in results
        }
    )
    rejected = [{SERIES_ID: row[SERIES_ID], "reason": row["reason"]} for _, row in ingested.rejected.iterrows()] + [
        {SERIES_ID: sid, "reason": f"tuning failed: {why}"} for sid, why in sorted(failures.items())
    ]
    counts = {"series_in": len(ingested.profiles), "series_forecast": len(results), "series_rejected": len(rejected)}
    if counts["series_in"] != counts["series_forecast"] + counts["series_rejected"]:
        raise RuntimeError(f"series lost between steps: {counts}")
    summary = {
        "counts": counts
        | {
            "rows_in": ingested.n_rows,
            "rows_duplicated": int(ingested.profiles["n_duplicates"].sum()),
            "periods_filled": int(ingested.profiles["n_filled"].sum()),
        },
        "rejected": rejected,
        "empty_files": ingested.empty_files,
        "tuning": outcome.counts,
        "trials": int(sum(r.n_trials for r in results)),
        "prophet_fits": int(sum(r.n_fits for r in results)),
        "metrics": aggregate(metrics) if len(metrics) else {},
        "metrics_by": {col: aggregate(metrics, by=col) for col in id_cols} if len(metrics) else {},
        "champions": dict(Counter(r.champion for r in results).most_common()),
        "champion_vs_models": champion_wins(metrics, tuning.metric) if len(metrics) else {},
        "owa": owa_by_model(metrics) if len(metrics) else {},
        "intervals": interval_scores(backtest, data.levels) if len(metrics) else {},
        "cost": estimate(node_seconds, counts["series_forecast"], PriceTable.load()),
        "manifest": manifest(ingested.profiles, data, tuning),
    }
    return RunOutputs(
        forecasts=with_ids({r.series_id: r.forecast for r in results}),
        backtest=backtest,
        metrics=metrics,
        best_params=best_params,
        summary=summary,
    )


def write_plots(outputs: RunOutputs, output: str) -> dict[str, str]:
    """Render the run's plots to output/plots/; their names and URLs (none if no series was forecast)."""
    if outputs.metrics.empty:
        return {}
    pngs = {
        "forecasts against actuals": (
            "forecasts.png",
            plots.forecasts_against_actuals(outputs.backtest, plots.sample_series(outputs.metrics)),
        ),
        "errors per model": ("errors.png", plots.error_distribution(outputs.metrics)),
    }
    urls = {}
    for name, (file, png) in pngs.items():
        storage.write_bytes(url := storage.join(output, "plots", file), png)
        urls[name] = storage.link(url)
    return urls


def write_outputs(outputs: RunOutputs, summary: dict, output: str) -> None:
    """Write the four tables, then summary.json last: its presence marks a complete run."""
    for name in OUTPUT_FILES[:-1]:
        storage.write_parquet(storage.join(output, name), getattr(outputs, name.removesuffix(".parquet")))
    storage.write_json(storage.join(output, "summary.json"), summary)
