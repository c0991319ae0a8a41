"""Write a run's outputs to its location: the plots, the tables, and summary.json last."""

import contextlib

import pandas as pd

from manymodels import plots, storage
from manymodels.candidates import CHAMPION
from manymodels.contract import SERIES_ID, TARGET, TIME
from manymodels.evaluation import RunOutputs
from manymodels.layout import TABLES, RunLayout
from manymodels.prepare import series_key
from manymodels.summary import RunSummary
from manymodels.timing import StepTimes


def write_plots(outputs: RunOutputs, layout: RunLayout, run: str) -> dict[str, str]:
    """Render the run's plots into the run location; their names and URLs (none if no series was forecast)."""
    if outputs.metrics.empty:
        return {}
    sample = plots.sample_series(outputs.metrics)
    pngs = {
        "forecasts against actuals": (
            "forecasts.png",
            plots.forecasts_against_actuals(outputs.backtest, sample, recent_history(layout, sample, outputs.backtest)),
        ),
        "errors per model": ("errors.png", plots.error_distribution(outputs.metrics)),
    }
    urls = {}
    for name, (file, png) in pngs.items():
        storage.write_bytes(url := layout.plot(run, file), png)
        urls[name] = storage.link(url)
    return urls


def recent_history(layout: RunLayout, series: list[str], backtest: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Each series' points before its test window, three test windows' worth, from its prepared file (where the
    work area still has it)."""
    champion = backtest[backtest["model"] == CHAMPION]
    recent = {}
    for sid in series:
        with contextlib.suppress(FileNotFoundError):
            rows = storage.read_parquet(layout.series_file(series_key(sid)))
            window = int((champion[SERIES_ID] == sid).sum())
            recent[sid] = rows.loc[rows["split"] == "train", [TIME, TARGET]].tail(3 * window)
    return recent


def write_run(outputs: RunOutputs, layout: RunLayout, flow_run_id: str, steps: StepTimes) -> RunSummary:
    """Publish the run: its summary, built here once, is written last, and a reader who goes by summary.json sees
    either the previous complete set or this one, never a mix. The tables are staged in the work area, the old
    summary removed, the tables moved into place, then the summary written; the earlier runs' plots go last."""
    summary = RunSummary(
        **dict(outputs.scores),
        flow_run_id=flow_run_id,
        step_seconds=steps.seconds,
        step_started_at=steps.started_at,
        plots=write_plots(outputs, layout, flow_run_id),
    )
    for table in TABLES:
        storage.write_parquet(layout.staged_table(table), getattr(outputs, table))
    storage.remove(layout.summary)
    for table in TABLES:
        storage.move(layout.staged_table(table), layout.table(table))
    storage.write_json(layout.summary, summary.model_dump(mode="json"))
    _remove_other_plots(layout, flow_run_id)
    return summary


def _remove_other_plots(layout: RunLayout, run: str) -> None:
    fs, path = storage.url_to_fs(layout.plots)
    with contextlib.suppress(FileNotFoundError):
        for folder in fs.ls(path, detail=False):
            if folder.rstrip("/").rsplit("/", 1)[-1] != run:
                fs.rm(folder, recursive=True)
