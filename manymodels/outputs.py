"""Write a run's outputs to its location: the plots, the tables, and summary.json last; or, for a run that fell
short, only its summary, beside the published set it leaves alone."""

import contextlib

import pandas as pd

from manymodels import location, plots, storage
from manymodels.candidates import CHAMPION
from manymodels.columns import MODEL, SERIES_ID, SPLIT, TARGET, TIME, TRAIN
from manymodels.evaluation import RunOutputs
from manymodels.layout import TABLES, RunLayout
from manymodels.prepare import series_key
from manymodels.summary import RunSummary
from manymodels.timing import StepTimes

RUN_ID_KEY = b"manymodels.run_id"


def write_plots(outputs: RunOutputs, layout: RunLayout, run: str) -> dict[str, str]:
    """Render the run's plots into the run location; their names and URLs (none if no series was forecast). A plot
    that cannot be drawn is logged and left out."""
    if outputs.metrics.empty:
        return {}
    sample = plots.sample_series(outputs.metrics)
    history = recent_history(layout, sample, outputs.backtest)
    drawings = {
        "forecasts against actuals": (
            "forecasts.png",
            lambda: plots.forecasts_against_actuals(outputs.backtest, sample, history),
        ),
        "errors per model": ("errors.png", lambda: plots.error_distribution(outputs.metrics)),
    }
    urls = {}
    for name, (file, draw) in drawings.items():
        if (png := plots.drawn(name, draw)) is not None:
            storage.write_bytes(url := layout.plot(run, file), png)
            urls[name] = storage.link(url)
    return urls


def recent_history(layout: RunLayout, series: list[str], backtest: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Each series' points before its test window, three test windows' worth, from its prepared file (where the
    work area still has it)."""
    champion = backtest[backtest[MODEL] == CHAMPION]
    recent = {}
    for sid in series:
        with contextlib.suppress(FileNotFoundError):
            rows = storage.read_parquet(layout.series_file(series_key(sid)))
            window = int((champion[SERIES_ID] == sid).sum())
            recent[sid] = rows.loc[rows[SPLIT] == TRAIN, [TIME, TARGET]].tail(3 * window)
    return recent


def write_run(
    outputs: RunOutputs,
    layout: RunLayout,
    flow_run_id: str,
    steps: StepTimes,
    min_share: float = 0.0,
    keep_versions: int = location.KEEP_VERSIONS,
) -> RunSummary:
    """Publish the run if it succeeded by its own rules (location.publish says how a reader never sees a mix, and
    what is kept); a run that fell short leaves the published set as it was and writes its summary beside it."""
    records = location.claim(layout)
    summary = RunSummary(
        **dict(outputs.scores),
        flow_run_id=flow_run_id,
        step_seconds=steps.seconds,
        step_started_at=steps.started_at,
        plots={},
        published=False,
        previously_published=records.published,
    )
    if summary.shortfall(min_share):
        storage.write_json(layout.failed_summary, summary.model_dump(mode="json"))
        return summary
    versions = [flow_run_id, *(run for run in records.runs() if run != flow_run_id)][:keep_versions]
    plots = write_plots(outputs, layout, flow_run_id)
    summary = summary.model_copy(update={"plots": plots, "published": True, "versions": versions})
    for table in TABLES:
        stamped = _stamped(getattr(outputs, table), flow_run_id)
        storage.write_table(layout.version(flow_run_id, f"{table}.parquet"), stamped)
    storage.write_json(layout.version(flow_run_id, "summary.json"), summary.model_dump(mode="json"))
    location.publish(layout, flow_run_id, keep_versions)
    return summary


def _stamped(frame: pd.DataFrame, run: str):
    """frame as an Arrow table whose Parquet metadata names the run that made it."""
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False, nthreads=1)
    return table.replace_schema_metadata({**(table.schema.metadata or {}), RUN_ID_KEY: run.encode()})
