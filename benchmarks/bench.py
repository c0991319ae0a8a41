"""Benchmarks of manymodels against the bare loop and the Ray Tune recipe; each writes results/<name>.json."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

# One BLAS thread per process, as Ray gives each one-CPU task: the loops compared here run one process per core.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import typer  # noqa: E402

from benchmarks.machine import Machine, cores  # noqa: E402
from benchmarks.workloads import DATA_SPEC, available, spec_of, write_workload  # noqa: E402

RESULTS = Path(__file__).parent / "results"
BIN = Path(sys.executable).parent
app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
Out = Annotated[Path, typer.Option(help="Folder for the JSON results.")]


def save(out: Path, name: str, result: dict) -> dict:
    result = {
        "command": " ".join(["python -m benchmarks.bench", *sys.argv[1:]]),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": cores(),
        **result,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    typer.echo(json.dumps(result, indent=2))
    return result


@contextlib.contextmanager
def prefect_server(home: Path) -> Iterator[dict[str, str]]:
    """A Prefect server of its own, started by manymodels as users start it (or PREFECT_API_URL's); its env."""
    if os.environ.get("PREFECT_API_URL"):
        yield dict(os.environ)
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AWS_"))}
    env |= {"MANYMODELS_HOME": str(home), "MANYMODELS_PREFECT_PORT": str(port), "PREFECT_HOME": str(home / "client")}
    started = subprocess.run([BIN / "manymodels", "start"], env=env, capture_output=True, text=True)
    if started.returncode:
        raise RuntimeError(started.stderr)
    try:
        yield env
    finally:
        subprocess.run([BIN / "manymodels", "stop"], env=env, capture_output=True)


def per_core_second(run: dict, cpus: int) -> float:
    return run["fits"] / (run["wall"] * cpus)


@app.command()
def throughput(
    workload: Annotated[str, typer.Option(help="synthetic or store-item.")] = "synthetic",
    series: int = 200,
    trials: int = 5,
    raytune_series: Annotated[int, typer.Option(help="Series for the (slow) Ray Tune recipe; 0 skips it.")] = 10,
    bare_series: Annotated[int, typer.Option(help="Series for the bare loop (the first ones); 0: all.")] = 0,
    bracket: Annotated[
        bool, typer.Option(help="Run manymodels again after the bare loop; the ratio pools both runs.")
    ] = True,
    out: Out = RESULTS,
) -> None:
    """Tune the same series with the same trials, space, split and seed three ways; compare throughput.

    The machine's speed drifts by more than the gap being measured (the same bare loop took 47.7 and 57.9 s in
    consecutive runs), so by default manymodels runs before and after the bare loop and the ratio pools the two.
    """
    from benchmarks.runners import prepared_series, run_bare_loop, run_manymodels, run_ray_tune

    if not available(workload):
        typer.echo(f"skipped: no {workload} data here (set MANYMODELS_STORE_ITEM)")
        return
    cpus = cores()
    with tempfile.TemporaryDirectory() as tmp, prefect_server(Path(tmp) / "home") as env, Machine() as machine:
        work = Path(tmp)
        data = write_workload(workload, series, work)
        runs = {"manymodels": run_manymodels(data, work / "run", trials, cpus, env, machine)}
        frames, factors = prepared_series(data, work / "prepared")
        runs["bare_loop"] = run_bare_loop(frames[: bare_series or None], trials, cpus, machine, factors)
        if bracket:
            runs["manymodels_after"] = run_manymodels(data, work / "run-after", trials, cpus, env, machine)
        if raytune_series:
            runs["ray_tune"] = run_ray_tune(frames[:raytune_series], trials, cpus, machine)
    for run in runs.values():
        run["fits_per_core_second"] = per_core_second(run, cpus)
    ours = [run for way, run in runs.items() if way.startswith("manymodels")]
    pooled = sum(run["fits"] for run in ours) / (sum(run["wall"] for run in ours) * cpus)
    ratios = {"manymodels_vs_bare_loop": pooled / runs["bare_loop"]["fits_per_core_second"]}
    if "ray_tune" in runs:
        ratios["manymodels_vs_ray_tune"] = pooled / runs["ray_tune"]["fits_per_core_second"]
    save(
        out,
        f"throughput-{workload}-{series}",
        {"workload": workload, "series": series, "trials": trials, "runs": runs, "ratios": ratios},
    )


@app.command()
def cost(
    workload: Annotated[str, typer.Option(help="synthetic, store-item or hourly.")] = "hourly",
    series: int = 200,
    trials: int = 10,
    out: Out = RESULTS,
) -> None:
    """CPU-seconds a series through the whole flow, by step and model, and the driver's peak memory."""
    from benchmarks.runners import run_manymodels

    if not available(workload):
        typer.echo(f"skipped: no {workload} data here (set MANYMODELS_STORE_ITEM)")
        return
    spec = spec_of(workload)
    with tempfile.TemporaryDirectory() as tmp, prefect_server(Path(tmp) / "home") as env, Machine() as machine:
        data = write_workload(workload, series, Path(tmp))
        run = run_manymodels(data, Path(tmp) / "run", trials, cores(), env, machine, spec)
    save(
        out,
        f"cost-{workload}-{series}-{trials}",
        {"workload": workload, "series": series, "trials": trials, "spec": spec, "manymodels": run},
    )


@app.command()
def startup(runs: int = 5, out: Out = RESULTS) -> None:
    """The fixed cost of a run: one series, one trial, through the whole flow, less the fits it makes; the median of
    `runs` runs one after another (one run varies by a second or more on this machine)."""
    from benchmarks.runners import prepared_series, run_bare_loop, run_manymodels

    measured = []
    with tempfile.TemporaryDirectory() as tmp, prefect_server(Path(tmp) / "home") as env, Machine() as machine:
        work = Path(tmp)
        data = write_workload("synthetic", 1, work)
        frames, factors = prepared_series(data, work / "prepared")
        for number in range(runs):
            run = run_manymodels(data, work / f"run-{number}", 1, cores(), env, machine)
            bare = run_bare_loop(frames, 1, 1, machine, factors)
            measured.append(
                {
                    "command_wall": run["command_wall"],
                    "step_seconds": run["step_seconds"],
                    "fits_seconds": bare["wall"],
                    "fixed_cost": run["command_wall"] - bare["wall"],
                }
            )
    median = sorted(measured, key=lambda run: run["fixed_cost"])[len(measured) // 2]
    save(out, "startup", median | {"runs": [run["fixed_cost"] for run in measured]})


@app.command()
def trial_cost(series: int = 10, trials: int = 10, workload: str = "store-item", out: Out = RESULTS) -> None:
    """CPU-seconds and validation error per trial: Prophet's defaults, cold starts, and manymodels' trials."""
    from benchmarks.trials import compare_trial_costs
    from benchmarks.workloads import prepared_in_process

    workload = workload if available(workload) else "synthetic"
    with tempfile.TemporaryDirectory() as tmp:
        frames = prepared_in_process(write_workload(workload, series, Path(tmp)))
    variants = compare_trial_costs(frames, trials)
    base = variants["manymodels"]["cpu_per_trial"]
    ratios = {
        f"{name}_vs_manymodels": v["cpu_per_trial"] / base for name, v in variants.items() if name != "manymodels"
    }
    save(
        out,
        "trial-cost",
        {"workload": workload, "series": series, "trials": trials, "variants": variants, "ratios": ratios},
    )


@app.command()
def study_storage(trials: int = 20, studies: int = 5, out: Out = RESULTS) -> None:
    """What durable studies cost per trial: a journal on the node's disk, or in the run location on S3 (moto)."""
    from benchmarks.study_storage import measure

    save(out, "study-storage", measure(trials, studies))


@app.command()
def scale(series: int = 30_000, days: int = 240, trials: int = 1, sample: int = 500, out: Out = RESULTS) -> None:
    """Many short synthetic series through the whole flow with one trial; per-series overhead over the bare loop."""
    from benchmarks.runners import prepared_series, run_bare_loop, run_manymodels

    cpus = cores()
    with tempfile.TemporaryDirectory() as tmp, prefect_server(Path(tmp) / "home") as env, Machine() as machine:
        work = Path(tmp)
        data = write_workload("synthetic", series, work, days=days)
        started = time.time()
        run = run_manymodels(data, work / "run", trials, cpus, env, machine)
        peak = machine.peak_memory_above(started, time.time())
        frames, factors = prepared_series(data, work / "prepared")
        bare = run_bare_loop(frames[:sample], trials, cpus, machine, factors)
    bare_per_series = bare["wall"] / bare["series"]
    save(
        out,
        f"scale-{series}",
        {
            "series": series,
            "days": days,
            "trials": trials,
            "manymodels": run,
            "peak_memory_gib": peak / 2**30,
            "bare_loop_sample": bare,
            "overhead_per_series_seconds": (run["wall"] - bare_per_series * run["series"]) / run["series"],
            "tune_vs_bare_loop_throughput": bare_per_series * run["series"] / run["wall"],
        },
    )


@app.command()
def ingest(rows: int = 50_000_000, days: int = 1_667, series_per_file: int = 1_000, out: Out = RESULTS) -> None:
    """A generated input of `rows` rows through the Dask step alone: rows per second and peak memory."""
    from manymodels.synthetic import make_retail_sales

    n_series = max(1, rows // days)
    with tempfile.TemporaryDirectory() as tmp, Machine() as machine:
        folder = Path(tmp) / "input"
        folder.mkdir()
        for number, first in enumerate(range(0, n_series, series_per_file)):
            chunk = make_retail_sales(min(series_per_file, n_series - first), days=days, seed=number)
            chunk["store"] += 1_000 * number  # series of different files never share an id
            chunk.to_parquet(folder / f"part-{number:05d}.parquet", index=False)
        del chunk
        started = time.time()
        step = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench", "ingest-step", str(folder), str(Path(tmp) / "work")],
            capture_output=True,
            text=True,
        )
        ended = time.time()
        if step.returncode:
            raise RuntimeError(step.stderr[-3000:])
        result = json.loads(step.stdout.strip().splitlines()[-1])
        peak = machine.peak_memory_above(started, ended)
        cpu = machine.cpu_share(started, ended)
    save(
        out,
        f"ingest-{rows}",
        result
        | {"peak_memory_gib": peak / 2**30, "cpu_share": cpu, "rows_per_second": result["rows"] / result["seconds"]},
    )


@app.command(hidden=True)
def ingest_step(data: Path, work: Path) -> None:
    """Run the ingest step on a local Dask cluster and print its counts and time as JSON."""
    from engines.dask_engine import dask_client
    from manymodels.ingest import ingest as run_ingest
    from manymodels.layout import RunLayout
    from manymodels.settings import ComputeSpec, DataSpec

    started = time.perf_counter()
    with dask_client(ComputeSpec()):
        ingested = run_ingest(DataSpec(url=str(data), **DATA_SPEC), RunLayout(str(work), run="ingest"))
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "rows": ingested.n_rows,
                "series": len(ingested.profiles),
                "accepted": len(ingested.accepted),
                "seconds": seconds,
            }
        )
    )


@app.command()
def report(out: Out = RESULTS, to: Path = Path(__file__).parent / "RESULTS.md") -> None:
    """Render every result in `out` as RESULTS.md."""
    from benchmarks.report import render

    to.write_text(render({p.stem: json.loads(p.read_text()) for p in sorted(out.glob("*.json"))}))
    typer.echo(f"wrote {to}")


# The names save() gives the commands' results (benchmarks.accuracy's accuracy-<series>.json is not theirs: make
# bench does not rerun it).
RESULT_NAMES = (
    "startup.json",
    "trial-cost.json",
    "study-storage.json",
    "throughput-*-*.json",
    "cost-*-*-*.json",
    "scale-*.json",
    "ingest-*.json",
)


@app.command()
def clean(out: Out = RESULTS) -> None:
    """Remove earlier results: the files these commands wrote to `out` (by their names, and the command that wrote
    them inside), and nothing else."""
    for path in sorted({path for pattern in RESULT_NAMES for path in out.glob(pattern)}):
        if path.is_symlink() or not path.is_file():
            continue
        try:
            written_by = json.loads(path.read_text()).get("command", "")
        except (ValueError, AttributeError, OSError):
            continue
        if isinstance(written_by, str) and written_by.startswith("python -m benchmarks.bench "):
            path.unlink()


if __name__ == "__main__":
    app()
