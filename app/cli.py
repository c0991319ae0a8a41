"""The manymodels command line: demo, run, and the local Prefect server with its deployments and worker."""

import importlib
import os
import sys
from pathlib import Path
from typing import Annotated, get_origin

import typer
from pydantic import BaseModel, ValidationError
from typer.models import OptionInfo

from app.server import api, auth, deployments, lifecycle
from app.terminal import console, show
from manymodels import storage
from manymodels.errors import InputError
from manymodels.location import KEEP_VERSIONS
from manymodels.settings import ComputeSpec, DataSpec, RunSpec, TuningSpec
from manymodels.summary import RunSummary

REPOSITORY = Path(__file__).resolve().parents[1]  # where flows/ and deployments/ are
app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


def fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def build(**kwargs) -> RunSpec:
    """A RunSpec from CLI values, or one line naming what is wrong."""
    try:
        return RunSpec(**kwargs)
    except ValidationError as e:
        first = e.errors()[0]
        where, problem = ".".join(map(str, first["loc"])), first["msg"].removeprefix("Value error, ")
        fail(f"{where}: {problem}" if where else problem)  # a problem of the whole run has no field


def described(model: type[BaseModel], field: str, note: str = "") -> OptionInfo:
    """A CLI option whose help is the settings field's description, so both say the same; note adds its CLI form."""
    return typer.Option(help=" ".join(filter(None, [model.model_fields[field].description, note])))


def cli_defaults(model: type[BaseModel]) -> dict:
    """The defaults of a model's optional fields, as the CLI takes them: lists comma-separated."""
    return {
        name: ",".join(map(str, info.default)) if isinstance(info.default, list) else info.default
        for name, info in model.model_fields.items()
        if not info.is_required()
    }


def listed(values: str) -> list[str]:
    """The items of a comma-separated option."""
    return [value.strip() for value in values.split(",") if value.strip()]


DATA, TUNING, COMPUTE = (cli_defaults(model) for model in (DataSpec, TuningSpec, ComputeSpec))
COMMA_SEPARATED = "(comma-separated)"
PARTS = {"data": DataSpec, "tuning": TuningSpec, "compute": ComputeSpec}  # a RunSpec's settings models
RENAMED = {"data": "url"}  # options of `run` named otherwise than their settings field


def run_spec(options: dict) -> RunSpec:
    """A RunSpec from the options of `run`: each under the settings model that has its field (comma-separated
    lists split), the others as the run's own."""
    arguments: dict = {part: {} for part in PARTS}
    for option, value in options.items():
        field = RENAMED.get(option, option)
        part = next((part for part, model in PARTS.items() if field in model.model_fields), None)
        if part is None:
            arguments[option] = value
        elif get_origin(PARTS[part].model_fields[field].annotation) is list:
            arguments[part][field] = listed(value)
        else:
            arguments[part][field] = value
    return build(**arguments)


def execute(spec: RunSpec) -> RunSummary:
    """Run the forecast flow against the Prefect server and print its results."""
    try:
        api_url = lifecycle.ensure_server()
    except RuntimeError as e:
        fail(str(e))
    os.environ.update(auth.run_env(api_url, local_ray=not spec.compute.ray_address))
    from engines.ray_engine import RayResource  # imports Ray, which reads the environment just set
    from tasks import RAY_WORKER_MODULES

    ray = RayResource(spec.compute, warm=RAY_WORKER_MODULES)
    # The flow's imports (Prefect, Dask) on one core beside the start of a local Ray on the other (RESULTS.md)
    ray.start_early(spec.data.url, beside=lambda: importlib.import_module("flows.forecast"))
    from flows.forecast import forecast  # imports Prefect, which reads PREFECT_API_URL

    state = forecast(
        data=spec.data,
        output=spec.output,
        tuning=spec.tuning,
        compute=spec.compute,
        min_forecast_share=spec.min_forecast_share,
        keep_versions=spec.keep_versions,
        return_state=True,
    )
    from prefect.events.worker import EventsWorker

    # The run's events sent now: under load Prefect's worker otherwise logs "Still processing items" at exit, after
    # the line that says how the run ended.
    EventsWorker.drain_all(timeout=60)
    ray.stop()
    run_url = api.ui_url(api_url, str(state.state_details.flow_run_id))
    if not state.is_completed():
        typer.echo(f"see {run_url}", err=True)
        fail(state.message or state.type.value)
    summary = state.result()
    show(summary)
    console.print(f"outputs: {spec.output}\nPrefect UI: {run_url}")
    return summary


def demo_data_url(series: int = 40, seed: int = 0) -> str:
    """Where the synthetic store x item sales go: under the manymodels home, as deployments/prefect.yaml expects."""
    return str(storage.local_home() / "demo" / f"sales-{series}-{seed}.parquet")


def write_demo_data(series: int = 40, seed: int = 0) -> str:
    """Write the synthetic store x item sales under the manymodels home; return its path."""
    from manymodels.synthetic import make_retail_sales

    data_url = demo_data_url(series, seed)
    storage.write_parquet(data_url, make_retail_sales(series, seed=seed))
    return data_url


@app.command()
def demo(
    series: Annotated[int, typer.Option(help="Synthetic store x item series.")] = 40,
    trials: Annotated[int, described(TuningSpec, "trials")] = TUNING["trials"],
    output: Annotated[
        str | None, described(RunSpec, "output", "Default: demo/run in the manymodels home (MANYMODELS_HOME).")
    ] = None,
    horizon: Annotated[int, described(DataSpec, "horizon")] = DATA["horizon"],
    seed: Annotated[int, described(TuningSpec, "seed", "Also seeds the synthetic data.")] = TUNING["seed"],
) -> None:
    """Forecast the built-in synthetic retail data set end to end."""
    data = {
        "url": write_demo_data(series, seed),
        "id_cols": ["store", "item"],
        "time_col": "date",
        "target_col": "sales",
        "horizon": horizon,
    }
    output = output or str(storage.local_home() / "demo" / "run")  # the home's, whatever folder the demo runs in
    execute(build(data=data, tuning={"trials": trials, "seed": seed}, output=output))


@app.command()
def run(
    data: Annotated[str, described(DataSpec, "url")],
    id_cols: Annotated[str, described(DataSpec, "id_cols", COMMA_SEPARATED)],
    time_col: Annotated[str, described(DataSpec, "time_col")],
    target_col: Annotated[str, described(DataSpec, "target_col")],
    output: Annotated[str, described(RunSpec, "output")],
    freq: Annotated[str, described(DataSpec, "freq")] = DATA["freq"],
    horizon: Annotated[int, described(DataSpec, "horizon")] = DATA["horizon"],
    folds: Annotated[int | None, described(DataSpec, "folds")] = DATA["folds"],
    levels: Annotated[str, described(DataSpec, "levels", COMMA_SEPARATED)] = DATA["levels"],
    quantiles: Annotated[str, described(DataSpec, "quantiles", COMMA_SEPARATED)] = DATA["quantiles"],
    holidays: Annotated[str | None, described(DataSpec, "holidays")] = DATA["holidays"],
    season_length: Annotated[int | None, described(DataSpec, "season_length")] = DATA["season_length"],
    fill: Annotated[str, described(DataSpec, "fill")] = DATA["fill"],
    regressors: Annotated[str, described(DataSpec, "regressors", COMMA_SEPARATED)] = DATA["regressors"],
    duplicates: Annotated[str, described(DataSpec, "duplicates")] = DATA["duplicates"],
    hierarchy: Annotated[str, described(DataSpec, "hierarchy", COMMA_SEPARATED)] = DATA["hierarchy"],
    non_negative: Annotated[bool, described(DataSpec, "non_negative")] = DATA["non_negative"],
    encoding: Annotated[str, described(DataSpec, "encoding")] = DATA["encoding"],
    trials: Annotated[int, described(TuningSpec, "trials")] = TUNING["trials"],
    metric: Annotated[str, described(TuningSpec, "metric")] = TUNING["metric"],
    seed: Annotated[int, described(TuningSpec, "seed")] = TUNING["seed"],
    early_stopping_rounds: Annotated[int | None, described(TuningSpec, "early_stopping_rounds")] = TUNING[
        "early_stopping_rounds"
    ],
    solver: Annotated[str, described(TuningSpec, "solver")] = TUNING["solver"],
    solver_check: Annotated[float, described(TuningSpec, "solver_check")] = TUNING["solver_check"],
    global_model: Annotated[bool, described(TuningSpec, "global_model")] = TUNING["global_model"],
    ray_address: Annotated[str | None, described(ComputeSpec, "ray_address")] = COMPUTE["ray_address"],
    dask_address: Annotated[str | None, described(ComputeSpec, "dask_address")] = COMPUTE["dask_address"],
    workers: Annotated[int | None, described(ComputeSpec, "workers")] = COMPUTE["workers"],
    series_per_task: Annotated[int | None, described(ComputeSpec, "series_per_task")] = COMPUTE["series_per_task"],
    optuna_storage: Annotated[str | None, described(ComputeSpec, "optuna_storage")] = COMPUTE["optuna_storage"],
    forward_credentials: Annotated[bool, described(ComputeSpec, "forward_credentials")] = COMPUTE[
        "forward_credentials"
    ],
    min_forecast_share: Annotated[float, described(RunSpec, "min_forecast_share")] = 0.0,
    keep_versions: Annotated[int, described(RunSpec, "keep_versions")] = KEEP_VERSIONS,
) -> None:
    """Forecast your own data."""
    execute(run_spec(locals()))  # first: locals() holds the options alone


@app.command()
def versions(
    output: Annotated[str, typer.Argument(help="Run location (local path or s3:// URL).")],
) -> None:
    """List the published sets a run location keeps, newest first; * marks the one published now."""
    from manymodels.layout import RunLayout
    from manymodels.location import read_records

    try:
        records = read_records(RunLayout(output))
    except InputError as e:
        fail(str(e))
    if records is None:
        fail(f"{output} is not a manymodels run location")
    for version in records.versions:
        mark = "*" if version.run == records.published else " "
        typer.echo(f"{mark} {version.run}  published {version.published_at:%Y-%m-%d %H:%M:%S %Z}")


@app.command()
def restore(
    output: Annotated[str, typer.Argument(help="Run location (local path or s3:// URL).")],
    run_id: Annotated[str, typer.Argument(help="The run whose kept version to publish again (manymodels versions).")],
) -> None:
    """Publish a kept version of a run location's outputs again, while no run holds the location."""
    import uuid

    from manymodels.layout import RunLayout
    from manymodels.lease import RunLease, held
    from manymodels.location import restore as restore_version

    layout = RunLayout(output)
    try:
        with held(RunLease(layout, f"restore-{uuid.uuid4()}")):
            restore_version(layout, run_id)
    except InputError as e:
        fail(str(e))
    typer.echo(f"{output}: published the outputs of run {run_id} again")


@app.command()
def start() -> None:
    """Start the local Prefect server (or reuse the one manymodels started) and print its API URL."""
    try:
        typer.echo(lifecycle.ensure_server())
    except RuntimeError as e:
        fail(str(e))
    if not os.environ.get("PREFECT_API_URL"):
        typer.echo(f"its auth string (PREFECT_API_AUTH_STRING, the UI's login): {auth.auth_file()}", err=True)


@app.command()
def deploy(
    limit: Annotated[int, typer.Option(help="Flow runs the worker runs at once (each uses every core).")] = 1,
    cluster: Annotated[
        bool,
        typer.Option(
            help="On a Ray cluster's head: deploy adhoc-cluster and nightly-cluster to the team's Prefect server "
            "(PREFECT_API_URL) with the S3 locations of MANYMODELS_DATA_URL and MANYMODELS_RUNS_URL, and start "
            "their worker here."
        ),
    ] = False,
    alert_webhook: Annotated[
        str | None,
        typer.Option(
            envvar="MANYMODELS_ALERT_WEBHOOK",
            show_default=False,
            help="With --cluster: a webhook URL to post to when a cluster run ends Failed (read from "
            "MANYMODELS_ALERT_WEBHOOK, so that it stays out of process lists).",
        ),
    ] = None,
) -> None:
    """Deploy deployments/prefect.yaml to a process work pool and start its worker: locally (with the local Prefect
    server), or on a Ray cluster's head (--cluster)."""
    if cluster:
        deploy_on_cluster(limit, alert_webhook)
        return
    write_demo_data()  # what the deployments' default parameters read
    try:
        api_url = deployments.deploy(REPOSITORY, limit=limit)
    except RuntimeError as e:
        fail(str(e))
    typer.echo(
        f"serving the deployments of deployments/prefect.yaml; worker log: {storage.local_home() / 'worker.log'}"
    )
    if os.environ.get("PREFECT_API_URL"):
        typer.echo(f"run one: prefect deployment run forecast/adhoc --watch   (with PREFECT_API_URL={api_url})")
        typer.echo(f"Prefect UI: {api.ui_base(api_url)}")
        return
    auth_file = auth.auth_file()
    typer.echo(
        "run one: prefect deployment run forecast/adhoc --watch   "
        f"(with PREFECT_API_URL={api_url} PREFECT_API_AUTH_STRING=$(cat {auth_file}))"
    )
    typer.echo(f"Prefect UI: {api.ui_base(api_url)}   (log in with the contents of {auth_file})")


def deploy_on_cluster(limit: int, alert_webhook: str | None) -> None:
    try:
        api_url = deployments.deploy(REPOSITORY, limit=limit, cluster=True)
    except RuntimeError as e:
        fail(str(e))
    typer.echo(f"serving {', '.join(deployments.CLUSTER_DEPLOYMENTS)} on the work pool {deployments.CLUSTER_POOL}")
    if alert_webhook:
        from app.alerts import alert_on_failure

        names = [f"forecast/{name}" for name in deployments.CLUSTER_DEPLOYMENTS]
        alert_on_failure(alert_webhook, names)
        typer.echo("a run of these deployments that ends Failed posts to the alert webhook")
    typer.echo(f"Prefect UI: {api.ui_base(api_url)}")


@app.command()
def screenshot(
    flow_run_id: Annotated[str, typer.Argument(help="The flow run to picture (its id is in summary.json).")],
    to: Annotated[Path, typer.Option(help="Folder for flow-run.png and summary.png.")] = Path("screenshots"),
) -> None:
    """Take headless Chromium screenshots of a flow run's page and summary in the Prefect UI."""
    from app.screenshot import flow_run_pictures

    try:
        pictures = flow_run_pictures(lifecycle.ensure_server(), flow_run_id, to)
    except RuntimeError as e:
        fail(str(e))
    typer.echo("\n".join(str(to / name) for name in pictures))


@app.command()
def stop() -> None:
    """Stop the worker and the local Prefect server that manymodels started."""
    typer.echo("stopped the Prefect server" if lifecycle.stop_server() else "no Prefect server was started here")


if __name__ == "__main__":
    sys.exit(app())
