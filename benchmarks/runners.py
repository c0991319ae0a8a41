"""The same tuning work three ways: the bare process-pool loop, manymodels as users run it, and Ray Tune."""

import functools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from benchmarks.machine import Machine
from benchmarks.workloads import DATA_SPEC, train_and_valid
from manymodels.columns import FUTURE, SERIES_ID, SPLIT, TARGET, TIME, YHAT
from manymodels.forecasters.global_lgbm import GLOBAL, global_forecasts
from manymodels.forecasters.pooled import POOLED, PooledSeasonal
from manymodels.layout import RunLayout
from manymodels.series import tune_series
from manymodels.settings import DataSpec, TuningSpec

BIN = Path(sys.executable).parent


def run_manymodels(
    data: Path, output: Path, trials: int, cpus: int, env: dict, machine: Machine, spec: dict = DATA_SPEC
) -> dict:
    """The forecast flow through the CLI, against the running Prefect server; figures for its tuning step."""
    command = [
        BIN / "manymodels", "run", "--data", data, "--output", output, "--id-cols", ",".join(spec["id_cols"]),
        "--time-col", spec["time_col"], "--target-col", spec["target_col"], "--freq", spec["freq"],
        "--horizon", spec["horizon"], "--trials", trials, "--workers", cpus,
    ]  # fmt: skip
    started = time.time()
    with tempfile.TemporaryFile() as log:
        driver = subprocess.Popen(list(map(str, command)), env=env, stdout=log, stderr=subprocess.STDOUT)
        peaks = [0]

        def watch() -> None:  # the kernel's high-water mark of the driver's resident memory
            while driver.poll() is None:
                peaks.append(_peak_rss(driver.pid))
                time.sleep(0.5)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        driver.wait()  # the end to the millisecond, not to the watcher's half-second
        ended = time.time()
        watcher.join()
        driver_peak = max(peaks)
        if driver.returncode:
            log.seek(0)
            raise RuntimeError(f"manymodels run failed: {log.read()[-2000:].decode(errors='replace')}")
    summary = json.loads(Path(RunLayout(str(output)).summary).read_text())
    tune_start = summary["step_started_at"]["tune"]
    tune_seconds = summary["step_seconds"]["tune"]
    return {
        "wall": tune_seconds,
        "command_wall": ended - started,
        "step_seconds": summary["step_seconds"],
        "cpu_share": machine.cpu_share(tune_start, tune_start + tune_seconds),
        "steal_share": machine.steal_share(tune_start, tune_start + tune_seconds),
        "fits": summary["prophet_fits"],
        "driver_peak_rss_gib": driver_peak / 2**30,
        "series": summary["counts"]["series_forecast"],
        "mean_best_value": _mean_best(output),
        # the machine's busy CPU-seconds over the whole command, a series: what a cluster of any size pays
        "flow_cpu_seconds_per_series": machine.cpu_share(started, ended)
        * cpus
        * (ended - started)
        / max(summary["counts"]["series_forecast"], 1),
        "cpu_per_series": summary.get("cpu_per_series"),  # the tuning tasks' own, by step and by model
        "trials": summary["trials"],
        "studies_stopped_early": summary.get("studies_stopped_early", 0),
        "champion_test_smape": summary["metrics"]["champion"]["smape"],  # on the held-out test window
    }


def _peak_rss(pid: int) -> int:
    """VmHWM of a live process, in bytes (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _mean_best(output: Path) -> float:
    return float(pd.read_parquet(RunLayout(str(output)).table("best_params"))["best_value"].mean())


def prepared_series(data: Path, work: Path) -> tuple[list[pd.DataFrame], dict | None]:
    """The per-series frames the manymodels run prepared from data (the same split for every runner: its ingest,
    run again here, since a run removes its own series files at its end), in memory, and the pooled seasonal factors
    its ingest found (so the bare loop scores the same challengers)."""
    from engines.dask_engine import dask_client
    from manymodels.ingest import ingest
    from manymodels.settings import ComputeSpec

    layout = RunLayout(str(work), run="prepared")
    with dask_client(ComputeSpec()):
        ingested = ingest(DataSpec(url=str(data), **DATA_SPEC), layout)
    profiles = ingested.profiles
    keys = profiles.loc[profiles["status"] == "ok", "key"]
    frames = [pd.read_parquet(layout.series_file(key)) for key in sorted(keys)]
    data = DataSpec(url=str(data), **DATA_SPEC)
    factors = PooledSeasonal().learn(ingested.run_inputs(data, TuningSpec(), str(work)))
    return frames, factors


def _tune(
    frame: pd.DataFrame, trials: int, factors: dict | None, global_forecast: pd.DataFrame | None
) -> tuple[int, float]:
    data, tuning = DataSpec(url="-", **DATA_SPEC), TuningSpec(trials=trials)
    result = tune_series(frame, data, tuning, learned={POOLED: factors, GLOBAL: global_forecast})
    return result.n_fits, result.best_value


def global_model(frames: list[pd.DataFrame], cpus: int) -> dict[str, pd.DataFrame]:
    """The global model's forecasts of every series, trained as a run trains it (every core, each series' folds and
    test window, then the future), by series."""
    data = DataSpec(url="-", **DATA_SPEC)
    known = [int((frame[SPLIT] != FUTURE).sum()) - data.horizon for frame in frames]
    windows = max(data.folds_for(n) for n in known) + 1
    rows = pd.concat([frame[[SERIES_ID, TIME, TARGET, SPLIT]] for frame in frames], ignore_index=True)
    forecasts = global_forecasts(rows, data, windows, TuningSpec().seed, threads=cpus)
    return {str(sid): group[[TIME, YHAT]].reset_index(drop=True) for sid, group in forecasts.groupby(SERIES_ID)}


def run_bare_loop(
    frames: list[pd.DataFrame], trials: int, cpus: int, machine: Machine, factors: dict | None = None
) -> dict:
    """The limit: the global model trained in this process, then a ProcessPoolExecutor over the series, one
    in-memory Optuna study each, nothing else: a run's work without its engines, storage and hand-offs."""
    started = time.time()
    forecasts = global_model(frames, cpus)
    ids = [str(frame[SERIES_ID].iloc[0]) for frame in frames]
    with ProcessPoolExecutor(cpus) as pool:
        n = len(frames)
        results = list(pool.map(_tune, frames, [trials] * n, [factors] * n, [forecasts.get(sid) for sid in ids]))
    ended = time.time()
    return {
        "wall": ended - started,
        "cpu_share": machine.cpu_share(started, ended),
        "steal_share": machine.steal_share(started, ended),
        "fits": sum(n for n, _ in results),
        "series": len(results),
        "mean_best_value": sum(v for _, v in results) / len(results),
    }


def _suggest(trial, seasonalities) -> None:
    """OptunaSearch's define-by-run space: our search space, suggested on Optuna's own trial."""
    from manymodels.search_space import prophet_space

    prophet_space(trial, seasonalities)


def run_ray_tune(frames: list[pd.DataFrame], trials: int, cpus: int, machine: Machine) -> dict:
    """The seed recipe: a Ray Tune Tuner with OptunaSearch per series, over the same space, split and metric."""
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    import ray
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    from manymodels.metrics import METRICS, seasonal_mae
    from manymodels.models import fit_prophet, predict
    from manymodels.search_space import Seasonalities

    period = DataSpec(url="-", **DATA_SPEC).period

    def trainable(config: dict, train: pd.DataFrame, valid: pd.DataFrame) -> None:
        yhat = predict(fit_prophet(train, config), valid["ds"], 0.0)
        scale = seasonal_mae(train["y"].to_numpy(), period)
        tune.report({"loss": METRICS["smape"](valid["y"].to_numpy(), yhat, scale)})

    ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    best = []
    started = time.time()
    try:
        with tempfile.TemporaryDirectory() as storage:
            for frame in frames:
                train, valid = train_and_valid(frame)
                seasonalities = Seasonalities.for_series("D", train["ds"].iloc[-1] - train["ds"].iloc[0])
                tuner = tune.Tuner(
                    tune.with_parameters(trainable, train=train, valid=valid),
                    tune_config=tune.TuneConfig(
                        search_alg=OptunaSearch(
                            space=functools.partial(_suggest, seasonalities=seasonalities),
                            metric="loss",
                            mode="min",
                            seed=0,
                        ),
                        num_samples=trials,
                    ),
                    run_config=tune.RunConfig(storage_path=storage, verbose=0),
                )
                best.append(tuner.fit().get_best_result(metric="loss", mode="min").metrics["loss"])
    finally:
        ended = time.time()
        ray.shutdown()
    return {
        "wall": ended - started,
        "cpu_share": machine.cpu_share(started, ended),
        "fits": trials * len(frames),
        "series": len(frames),
        "mean_best_value": sum(best) / len(best),
    }
