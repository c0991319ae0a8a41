"""Every path under a run location: the outputs a user reads, and the work area the steps share."""

from dataclasses import dataclass

from manymodels import storage

TABLES = ("forecasts", "backtest", "metrics", "best_params", "hierarchy")
OUTPUT_FILES = (*(f"{table}.parquet" for table in TABLES), "summary.json")


@dataclass(frozen=True)
class RunLayout:
    """The names under output (a local path or an s3:// URL); nothing from the data names a path."""

    output: str

    def table(self, name: str) -> str:
        """One of the output TABLES, as Parquet."""
        return storage.join(self.output, f"{name}.parquet")

    @property
    def summary(self) -> str:
        """Written last: its presence marks a complete run."""
        return storage.join(self.output, "summary.json")

    def plot(self, run: str, file: str) -> str:
        """A plot of one run: each run's plots have a folder of their own, so a summary never links another's."""
        return storage.join(self.plots, run, file)

    @property
    def plots(self) -> str:
        return storage.join(self.output, "plots")

    def staged_table(self, name: str) -> str:
        """Where a table is written before it is moved into place with the others."""
        return storage.join(self.work, "publish", f"{name}.parquet")

    @property
    def work(self) -> str:
        return storage.join(self.output, "_work")

    @property
    def contract(self) -> str:
        """The input mapped onto the contract, spilled by the validation pass until the series are written."""
        return storage.join(self.work, "contract")

    @property
    def global_forecasts(self) -> str:
        """The global model's forecasts of every series' windows and future (manymodels.global_model)."""
        return storage.join(self.work, "global_forecasts.parquet")

    def series_file(self, key: str) -> str:
        """A prepared series, named by its key (a hash of its id)."""
        return storage.join(self.work, "series", f"{key}.parquet")

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
        return storage.join(self.work, "todo.json")

    @property
    def studies(self) -> str:
        """The Optuna journal files, one per series."""
        return storage.join(self.work, "optuna")

    def study_journal(self, key: str) -> str:
        return storage.join(self.studies, f"{key}.journal")
