"""The cost a trial pays for its study's durable storage: a journal file on the node's disk, against the journal in
the run location on S3 that nodes sharing no disk use (written back after each finished trial)."""

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import optuna

from app.processes import terminate_session
from manymodels import storage
from manymodels.search_space import LOG_UNIFORM, MODES, TRANSFORMS
from manymodels.studies import StudyPlace, open_study, run_to

BUCKET = "manymodels-bench"


@contextlib.contextmanager
def moto_s3() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 with a bucket; its s3:// base URL, with this process's environment set for it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    moto = subprocess.Popen(
        [Path(sys.executable).with_name("moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        os.environ |= {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        deadline = time.monotonic() + 30
        while True:
            try:
                storage.filesystem(f"s3://{BUCKET}").mkdir(BUCKET)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield f"s3://{BUCKET}"
    finally:
        terminate_session(moto.pid)


def prophet_like(trial: optuna.Trial) -> float:
    """A trial that asks what a Prophet trial asks, and fits nothing: the storage's cost alone."""
    trial.suggest_categorical("seasonality_mode", MODES)
    trial.suggest_categorical("transform", TRANSFORMS)
    for name, (low, high) in LOG_UNIFORM.items():
        trial.suggest_float(name, low, high, log=True)
    trial.suggest_int("weekly_order", 1, 6)
    trial.suggest_int("yearly_order", 1, 20)
    return trial.suggest_float("score", 0, 1)


def per_trial(url: str, trials: int) -> dict:
    """Wall and CPU seconds of this process per trial of one study stored at url."""
    wall, cpu = time.perf_counter(), time.process_time()
    study, _ = open_study(StudyPlace(url, "bench"))
    run_to(study, prophet_like, trials, seed=0)
    return {"wall_s": (time.perf_counter() - wall) / trials, "cpu_s": (time.process_time() - cpu) / trials}


def measure(trials: int, studies: int) -> dict:
    """Per-trial cost of local and S3 journals (mean over `studies` studies of `trials` trials each)."""
    with tempfile.TemporaryDirectory() as tmp, moto_s3() as base:
        per_trial(f"{base}/warm-up.journal", 2)  # s3fs's first session
        where = {"local": lambda n: f"{tmp}/{n}.journal", "s3": lambda n: f"{base}/{uuid.uuid4().hex}/{n}.journal"}
        found, urls = {}, {name: [place(n) for n in range(studies)] for name, place in where.items()}
        for name, places in urls.items():
            runs = [per_trial(url, trials) for url in places]
            found[name] = {key: sum(r[key] for r in runs) / studies for key in ("wall_s", "cpu_s")}
        journal_bytes = storage.filesystem(base).size(urls["s3"][-1])
    extra = {key: found["s3"][key] - found["local"][key] for key in ("wall_s", "cpu_s")}
    return {"trials": trials, "studies": studies, **found, "s3_extra": extra, "journal_bytes": journal_bytes}
