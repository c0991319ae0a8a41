"""The manymodels command line: demo, run, and the local Prefect server with its deployments and worker."""

import importlib
import os
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from app import prefect_server
from manymodels import storage
from manymodels.settings import Metric, RunSpec

REPOSITORY = Path(__file__).resolve().parents[1]  # where flows/ and deployments/ are
app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console(soft_wrap=True)


def fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def build(**kwargs) -> RunSpec:
    """A RunSpec from CLI values, or one line naming what is wrong."""
    try:
        return RunSpec(**kwargs)
    except ValidationError as e:
        first = e.errors()[0]
        fail(f"{'.'.join(map(str, first['loc']))}: {first['msg'].removeprefix('Value error, ')}")


def execute(spec: RunSpec) -> dict:
    """Run the forecast flow against the Prefect server and print its results."""
    try:
        api_url = prefect_server.ensure_server()
    except RuntimeError as e:
        fail(str(e))
    os.environ.update(prefect_server.run_env(api_url, local_ray=not spec.compute.ray_address))
    # The flow's imports (Prefect, Dask: about 4 s on one core) beside the start of a local Ray (on the other)
    importing = threading.Thread(target=importlib.import_module, args=["flows.forecast"], name="import-flow")
    importing.start()
    if not spec.compute.ray_address and storage.input_bytes(spec.data.url):  # no input: the flow says so at once
        from engines.ray_engine import LocalRay

        LocalRay(spec.compute.workers).start_early()
    importing.join()
    from flows.forecast import forecast  # imports Prefect, which reads PREFECT_API_URL

    state = forecast(data=spec.data, output=spec.output, tuning=spec.tuning, compute=spec.compute, return_state=True)
    run_url = prefect_server.ui_url(api_url, str(state.state_details.flow_run_id))
    if not state.is_completed():
        typer.echo(f"see {run_url}", err=True)
        fail(state.message or state.type.value)
    summary = state.result()
    show(summary)
    console.print(f"outputs: {spec.output}\nPrefect UI: {run_url}")
    return summary


def show(summary: dict) -> None:
    counts = summary["counts"]
    table = Table(title=f"{counts['series_forecast']} series forecast, {counts['series_rejected']} rejected")
    table.add_column("model")
    metric_names = ["smape", "mase", "wape", "rmse", "bias"]
    for name in metric_names:
        table.add_column(name, justify="right")
    for model, values in summary["metrics"].items():
        table.add_row(model, *(f"{values[m]:.3f}" if values[m] is not None else "-" for m in metric_names))
    console.print(table)
    if champions := summary["champions"]:
        console.print("champions: " + ", ".join(f"{model} {n}" for model, n in champions.items()))
    for other, win in summary["champion_vs_models"].items():
        console.print(
            f"the champion beat {other} on {win['share_series_better']:.0%} of series "
            f"(mean {win['metric']} {win['champion_mean']:.2f} against {win['model_mean']:.2f})"
        )
    if owa := summary["owa"]:
        console.print("OWA against Naive2: " + ", ".join(f"{model} {value:.3f}" for model, value in owa.items()))
    if intervals := summary["intervals"]:
        coverage = ", ".join(f"{level}% {share:.0%}" for level, share in intervals["coverage"].items())
        console.print(f"interval coverage: {coverage}; pinball loss {intervals['pinball']:.3f}")
    seconds = summary["step_seconds"]
    console.print("step seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()))


def write_demo_data(series: int = 40, seed: int = 0) -> str:
    """Write the synthetic store x item sales under the manymodels home; return its path."""
    from manymodels.synthetic import make_retail_sales

    data_url = str(storage.local_home() / "demo" / f"sales-{series}-{seed}.parquet")
    storage.write_parquet(data_url, make_retail_sales(series, seed=seed))
    return data_url


@app.command()
def demo(
    series: Annotated[int, typer.Option(help="Synthetic store x item series.")] = 40,
    trials: Annotated[int, typer.Option(help="Optuna trials per series.")] = 10,
    output: Annotated[str, typer.Option(help="Run location, local path or s3:// URL.")] = ".manymodels/demo/run",
    horizon: Annotated[int, typer.Option(help="Days to forecast.")] = 28,
    seed: int = 0,
) -> None:
    """Forecast the built-in synthetic retail data set end to end."""
    data = {
        "url": write_demo_data(series, seed),
        "id_cols": ["store", "item"],
        "time_col": "date",
        "target_col": "sales",
        "horizon": horizon,
    }
    execute(build(data=data, tuning={"trials": trials, "seed": seed}, output=output))


@app.command()
def run(
    data: Annotated[str, typer.Option(help="Input CSV/Parquet: path, glob or s3:// URL.")],
    id_cols: Annotated[str, typer.Option(help="Comma-separated id columns, e.g. store,item.")],
    time_col: Annotated[str, typer.Option(help="Timestamp column.")],
    target_col: Annotated[str, typer.Option(help="Column to forecast.")],
    output: Annotated[str, typer.Option(help="Run location, local path or s3:// URL.")],
    freq: str = "D",
    horizon: int = 28,
    folds: Annotated[int, typer.Option(help="Rolling-origin folds for tuning and the champion.")] = 2,
    levels: Annotated[str, typer.Option(help="Comma-separated prediction interval levels, in percent.")] = "80,95",
    holidays: Annotated[str | None, typer.Option(help="Country code of the holidays Prophet models, e.g. US.")] = None,
    regressors: Annotated[
        str, typer.Option(help="Comma-separated numeric columns Prophet uses as regressors; future rows give them.")
    ] = "",
    duplicates: Annotated[str, typer.Option(help="Repeated timestamps in a series: fail, sum or last.")] = "fail",
    non_negative: Annotated[bool, typer.Option(help="Reject series with a negative target.")] = False,
    encoding: Annotated[str, typer.Option(help="Text encoding of CSV input.")] = "utf-8",
    trials: int = 10,
    metric: Annotated[str, typer.Option(help=f"Objective: {', '.join(Metric.__args__)}.")] = "smape",
    seed: int = 0,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster address; default: local Ray.")] = None,
    dask_address: Annotated[str | None, typer.Option(help="Dask scheduler address; default: LocalCluster.")] = None,
    workers: Annotated[int | None, typer.Option(help="Local Dask workers and Ray CPUs.")] = None,
    series_per_task: Annotated[int | None, typer.Option(help="Series per Ray task; default: 4 tasks per CPU.")] = None,
    optuna_storage: Annotated[str | None, typer.Option(help="RDB URL for the studies; default: journal files.")] = None,
) -> None:
    """Forecast your own data."""
    spec = build(
        data={
            "url": data,
            "id_cols": [c.strip() for c in id_cols.split(",") if c.strip()],
            "time_col": time_col,
            "target_col": target_col,
            "freq": freq,
            "horizon": horizon,
            "folds": folds,
            "holidays": holidays,
            "regressors": [c.strip() for c in regressors.split(",") if c.strip()],
            "levels": [level.strip() for level in levels.split(",") if level.strip()],
            "duplicates": duplicates,
            "non_negative": non_negative,
            "encoding": encoding,
        },
        tuning={"trials": trials, "metric": metric, "seed": seed},
        compute={
            "ray_address": ray_address,
            "dask_address": dask_address,
            "workers": workers,
            "series_per_task": series_per_task,
            "optuna_storage": optuna_storage,
        },
        output=output,
    )
    execute(spec)


@app.command()
def server() -> None:
    """Start the local Prefect server (or reuse the one that answers) and print its API URL."""
    try:
        typer.echo(prefect_server.ensure_server())
    except RuntimeError as e:
        fail(str(e))


@app.command()
def serve(
    limit: Annotated[int, typer.Option(help="Flow runs the worker runs at once (each uses every core).")] = 1,
) -> None:
    """Start the local Prefect server, deploy deployments/prefect.yaml to a process work pool and start its worker."""
    write_demo_data()  # what the deployments' default parameters read
    try:
        api_url = prefect_server.serve(REPOSITORY, limit=limit)
    except RuntimeError as e:
        fail(str(e))
    typer.echo(
        f"serving the deployments of deployments/prefect.yaml; worker log: {storage.local_home() / 'worker.log'}"
    )
    typer.echo(f"run one: prefect deployment run forecast/adhoc --watch   (with PREFECT_API_URL={api_url})")
    typer.echo(f"Prefect UI: {prefect_server.ui_base(api_url)}")


@app.command()
def screenshot(
    flow_run_id: Annotated[str, typer.Argument(help="The flow run to picture (its id is in summary.json).")],
    to: Annotated[Path, typer.Option(help="Folder for flow-run.png and summary.png.")] = Path("screenshots"),
) -> None:
    """Take headless Chromium screenshots of a flow run's page and summary in the Prefect UI."""
    from app.screenshot import flow_run_pictures

    try:
        pictures = flow_run_pictures(prefect_server.ensure_server(), flow_run_id, to)
    except RuntimeError as e:
        fail(str(e))
    typer.echo("\n".join(str(to / name) for name in pictures))


@app.command()
def stop() -> None:
    """Stop the worker and the local Prefect server that manymodels started."""
    typer.echo("stopped the Prefect server" if prefect_server.stop_server() else "no Prefect server was started here")


if __name__ == "__main__":
    sys.exit(app())
