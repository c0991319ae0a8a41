"""The run's summary on the terminal: the metrics table, then the sentences the UI shows too."""

from rich.console import Console
from rich.table import Table

from manymodels.metrics import METRICS
from manymodels.summary import RunSummary

console = Console(soft_wrap=True)


def show(summary: RunSummary) -> None:
    table = Table(title=summary.headline())
    table.add_column("model")
    for name in METRICS:
        table.add_column(name, justify="right")
    for model, values in summary.metrics.items():
        table.add_row(model, *("-" if values[m] is None else f"{values[m]:.3f}" for m in METRICS))
    console.print(table)
    if summary.champions:
        console.print(summary.champions_line())
    for line in summary.champion_lines():
        console.print(line)
    if summary.owa:
        console.print(summary.owa_line())
    if summary.selection:
        console.print(summary.selection.line())
    if summary.run_choice:
        console.print(summary.run_choice.line())
    if summary.intervals:
        console.print(summary.intervals_line())
    if summary.hierarchy:
        console.print(summary.hierarchy_line())
    console.print(f"Step seconds: {summary.steps_line()}")
    if summary.cpu_per_series:
        console.print(summary.cpu_per_series.line())
