"""Write a run's outputs to its location: the plots, the tables, and summary.json last."""

from manymodels import plots, storage
from manymodels.evaluation import RunOutputs
from manymodels.layout import TABLES, RunLayout
from manymodels.summary import RunSummary
from manymodels.timing import StepTimes


def write_plots(outputs: RunOutputs, layout: RunLayout) -> dict[str, str]:
    """Render the run's plots into the run location; their names and URLs (none if no series was forecast)."""
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
        storage.write_bytes(url := layout.plot(file), png)
        urls[name] = storage.link(url)
    return urls


def write_run(outputs: RunOutputs, layout: RunLayout, flow_run_id: str, steps: StepTimes) -> RunSummary:
    """Write the plots and the tables, then the run's summary, built here once, last: its presence marks a complete
    run."""
    plot_urls = write_plots(outputs, layout)
    summary = RunSummary(
        **dict(outputs.scores),
        flow_run_id=flow_run_id,
        step_seconds=steps.seconds,
        step_started_at=steps.started_at,
        plots=plot_urls,
    )
    for table in TABLES:
        storage.write_parquet(layout.table(table), getattr(outputs, table))
    storage.write_json(layout.summary, summary.model_dump(mode="json"))
    return summary
