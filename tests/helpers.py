"""Helpers shared by the tests (plain functions and constants; the fixtures are in the conftest.py files): tiny
generated inputs, `make` and the manymodels command as a user runs them, and the servers' plumbing."""

import ipaddress
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from app.processes import terminate_session
from app.server.api import call_api
from manymodels.settings import DataSpec
from manymodels.synthetic import make_retail_sales

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# --- Tiny generated inputs ---

GOOD_SERIES = 4
DAYS = 120
HORIZON = 7


def messy_sales() -> pd.DataFrame:
    """Four good store x item series (one with gaps), and four each broken in one way."""
    good = make_retail_sales(GOOD_SERIES, days=DAYS, seed=1)
    good = good.drop(index=good.index[(good["item"] == 1) & good["date"].dt.day.isin([3, 4])])  # gaps: filled
    dates = pd.date_range("2022-01-01", periods=DAYS, freq="D")
    short = pd.DataFrame({"store": 9, "item": 1, "date": dates[:5], "sales": np.arange(5)})
    constant = pd.DataFrame({"store": 9, "item": 2, "date": dates, "sales": 5})
    dup = pd.DataFrame({"store": 9, "item": 3, "date": dates, "sales": np.arange(DAYS)})
    dup = pd.concat([dup, dup.iloc[:2].assign(sales=-1)])
    missing = pd.DataFrame({"store": 9, "item": 4, "date": dates, "sales": np.nan})
    return pd.concat([good, short, constant, dup, missing], ignore_index=True)


EXPECTED_REJECTIONS = {
    "9-1": "too short",
    "9-2": "constant target",
    "9-3": "duplicated timestamps",
    "9-4": "all targets missing",
}

# The slice tests' daily series (400 days of make_retail_sales), forecast 14 days ahead.
SPEC = DataSpec(url="x", id_cols=["store", "item"], time_col="date", target_col="sales", horizon=14)

# --- The manymodels command, `make`, and the Prefect API, as a user runs them ---

TRIALS = 3
COLUMNS = ["--id-cols", "store,item", "--time-col", "date", "--target-col", "sales", "--freq", "D"]
TUNING = ["--horizon", str(HORIZON), "--trials", str(TRIALS), "--workers", "2"]


def manymodels(*args, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run the CLI in its own session, and stop whatever of that session is left (Ray, Dask) by its pid."""
    command = [BIN / "manymodels", *map(str, args)]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = process.communicate(timeout=600)
    finally:
        terminate_session(process.pid)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def make(target: str, settings: dict[str, object], env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run a make target of the repository with variables set on the command line."""
    command = ["make", "--no-print-directory", target, *(f"{k}={v}" for k, v in settings.items())]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)


def api(base: str, path: str, body: dict | None = None):
    """A call to the Prefect server's REST API: GET, or POST with a JSON body; with the auth string of
    PREFECT_API_AUTH_STRING (the prefect_server fixture sets it) and a CSRF token when the server wants one."""
    return call_api(f"{base}{path}", body)


# --- Optuna studies as a run leaves them ---


def studies(out, database: str | None = None) -> dict[str, list[list]]:
    """For each series, the trials of each of its studies, oldest study first: from its journal file under
    `out`, or from the database."""
    from optuna.storages import JournalStorage, RDBStorage
    from optuna.storages.journal import JournalFileBackend

    if database:
        storage = RDBStorage(database)
        found = {}
        for study in storage.get_all_studies():  # named series_id:key, in order of creation
            found.setdefault(study.study_name.split(":")[0], []).append(storage.get_all_trials(study._study_id))
        return found
    found = {}
    for path in journal_files(out):
        storage = JournalStorage(JournalFileBackend(str(path)))
        found[path.stem] = [storage.get_all_trials(s._study_id) for s in storage.get_all_studies()]
    return found


def journal_files(out) -> list[Path]:
    """The study journals of the run location out: its files, or for s3://, local copies of what the nodes wrote."""
    if not str(out).startswith("s3://"):
        return sorted((Path(out) / "_work" / "optuna").glob("*.journal"))
    from manymodels import storage as run_storage

    fs = run_storage.filesystem(str(out))
    fs.invalidate_cache()
    copies = Path(tempfile.mkdtemp(prefix="journals-"))
    for path in fs.glob(f"{str(out).removeprefix('s3://')}/_work/optuna/*.journal"):
        (copies / path.rsplit("/", 1)[1]).write_bytes(fs.cat_file(path))
    return sorted(copies.glob("*.journal"))


def study_states(out, database: str | None = None) -> dict[str, list[list[str]]]:
    return {key: [[t.state.name for t in trials] for trials in study] for key, study in studies(out, database).items()}


# --- Servers: environments, ports, sessions, databases ---


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AWS_"))}
    return env | {"PREFECT_HOME": str(home / "client"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


# Ray rewrites 127.0.0.1 in an address to the machine's interface address unless its cluster mode is off, so
# off it is: head and driver stay on loopback. `ray start` turns token auth on, which the driver does not expect.
LOCAL_RAY_CLUSTER = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled"}
# as infra/ray-cluster-aws.yaml starts its head: Ray Client's proxy otherwise loses a forked server now and then
RAY_CLIENT_FORK_SAFE = {"GRPC_ENABLE_FORK_SUPPORT": "0"}


def start_session(command: list, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start a long-running server in its own session (stopped with terminate_session(pid))."""
    return subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def wait_for_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline, f"nothing listens on port {port}"
            time.sleep(0.2)


def listening_sockets() -> set[tuple[str, int]]:
    """(address, port) of every TCP socket listening on this machine, IPv4 and IPv6, from /proc/net."""
    found = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state == "0A":  # LISTEN
                address, port = local.split(":")
                words = bytes.fromhex(address)  # 32-bit words in host (little-endian) order
                packed = b"".join(words[i : i + 4][::-1] for i in range(0, len(words), 4))
                found.add((socket.inet_ntop(family, packed), int(port, 16)))
    return found


def is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return (getattr(ip, "ipv4_mapped", None) or ip).is_loopback


def fresh_database(url: str) -> str:
    """A new, empty database on the server at url; returns its URL."""
    import sqlalchemy

    name = f"db_{uuid.uuid4().hex}"
    engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    finally:
        engine.dispose()
    return sqlalchemy.make_url(url).set(database=name).render_as_string(hide_password=False)


# A run summary as summary.json holds it, for the tests of its rendering and of publishing.
SUMMARY = {
    "counts": {"series_in": 5, "series_forecast": 3, "series_rejected": 2, "rows_in": 1234, "rows_duplicated": 1,
               "periods_filled": 7},
    "tuning": {"tuned": 2, "resumed": 0, "cached": 1},
    "trials": 20,
    "prophet_fits": 26,
    "metrics": {"champion": {"smape": 9.5, "mase": None}, "seasonal_naive": {"smape": 15.25, "mase": 1.0}},
    "champions": {"prophet_tuned": 2, "auto_ets": 1},
    "champion_vs_models": {"seasonal_naive": {"metric": "smape", "champion_mean": 9.5, "model_mean": 15.25,
                                              "share_series_better": 2 / 3, "mean_improvement": 5.75,
                                              "relative_improvement": 0.377}},
    "owa": {"champion": 0.8123, "seasonal_naive": 1.1},
    "intervals": {"coverage": {"80": 0.75, "95": 0.9}, "pinball": 1.2345},
    "cost": {"prices_read_on": "2026-11-22", "region": "us-east-1", "node_seconds": {"c7i.large": 60.0},
             "on_demand_usd": 0.0015, "on_demand_usd_per_series": 0.0005, "spot_usd": 0.0006,
             "spot_usd_per_series": 0.0002},
    "step_seconds": {"ingest": 1.25, "tune": 30.0, "evaluate": 0.5},
    "cpu_per_series": {"series": 2, "by_step": {"study": 1.5, "contest": 0.25},
                       "by_model": {"prophet_tuned": 1.25, "auto_ets": 0.125}},
    "rejected": [{"series_id": "9-1", "reason": "too short"}, {"series_id": "9-2", "reason": "constant target"}],
    "empty_files": [],
    "metrics_by": {},
    "manifest": {},
    "flow_run_id": "f00d",
    "step_started_at": {"ingest": 0.0, "tune": 1.25, "evaluate": 31.25},
    "plots": {"errors per model": "s3://bucket/run/plots/errors.png"},
}  # fmt: skip
