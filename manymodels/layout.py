"""Every path under a run location: the outputs a user reads, and the work area the steps share."""

import re
from dataclasses import dataclass

from manymodels import storage

TABLES = ("forecasts", "backtest", "metrics", "best_params", "hierarchy")
OUTPUT_FILES = (*(f"{table}.parquet" for table in TABLES), "summary.json")
PLOT_FILES = ("forecasts.png", "errors.png")
MARKER = "manymodels-location.json"
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
SHARED_WORK = ("lease.json", "profiles.parquet", "results", "results-aside", "optuna")  # no run's own folder


@dataclass(frozen=True)
class RunLayout:
    """The names under output (a local path or an s3:// URL); nothing from the data names a path."""

    output: str
    run: str | None = None  # the run whose own names (run_work) this layout gives

    def __post_init__(self) -> None:
        if self.run is not None and (not RUN_ID.match(self.run) or self.run in SHARED_WORK):
            raise ValueError(f"not a run id to name a work folder by: {self.run!r}")

    def table(self, name: str) -> str:
        """One of the output TABLES, as Parquet."""
        return storage.join(self.output, f"{name}.parquet")

    @property
    def summary(self) -> str:
        """Written last: its presence marks a complete run."""
        return storage.join(self.output, "summary.json")

    @property
    def marker(self) -> str:
        """Marks the folder as a run location and records what it holds (manymodels.location)."""
        return storage.join(self.output, MARKER)

    def version(self, run: str, file: str) -> str:
        """One file of a published set, kept under versions/<run> to list and restore."""
        return storage.join(self.output, "versions", run, file)

    @property
    def failed_summary(self) -> str:
        """The summary of the last run that ended Failed: what it rejected, beside the published set it left alone."""
        return storage.join(self.output, "failed-run.json")

    def plot(self, run: str, file: str) -> str:
        """A plot of one run, kept with its version: a summary never links another run's."""
        return self.version(run, file)

    @property
    def work(self) -> str:
        return storage.join(self.output, "_work")

    @property
    def run_work(self) -> str:
        """The run's own work folder, _work/<run>: what it spills, splits and stages, which no other run reads or
        writes (nor do the tasks of a killed run, still running on a cluster, write another run's names). The run
        removes it at its end; the results cache and the studies beside it are every run's."""
        if self.run is None:
            raise ValueError(f"a run's own work files are named by its run id: RunLayout({self.output!r}, run=...)")
        return storage.join(self.work, self.run)

    @property
    def contract(self) -> str:
        """The input mapped onto the contract, spilled by the validation pass until the series are written."""
        return storage.join(self.run_work, "contract")

    def learned(self, model: str) -> str:
        """The folder a model that learns across series writes what it learned to (manymodels.forecasters)."""
        return storage.join(self.run_work, "learned", model)

    def series_file(self, key: str) -> str:
        """A prepared series, named by its key (a hash of its id)."""
        return storage.join(self.run_work, "series", f"{key}.parquet")

    @property
    def profiles(self) -> str:
        return storage.join(self.work, "profiles.parquet")

    @property
    def results(self) -> str:
        """The tuning results, one per cache key."""
        return storage.join(self.work, "results")

    @property
    def results_aside(self) -> str:
        """Result files that could not be read or failed their check, kept to look at."""
        return storage.join(self.work, "results-aside")

    @property
    def todo(self) -> str:
        """The jobs handed to the tuning flow."""
        return storage.join(self.run_work, "todo.json")

    @property
    def studies(self) -> str:
        """The Optuna journal files, one per series."""
        return storage.join(self.work, "optuna")

    def study_journal(self, key: str) -> str:
        return storage.join(self.studies, f"{key}.journal")
