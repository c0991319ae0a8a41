"""Run parameters as frozen pydantic models: the CLI, the flow and deployments share them."""

from typing import Annotated, Literal, get_args
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from manymodels.batching import MAX_SERIES_PER_TASK, TASKS_PER_CPU
from manymodels.columns import OUTPUTS, PROFILE, SERIES_FILE
from manymodels.location import KEEP_VERSIONS, pattern_in

Metric = Literal["smape", "mase", "wape", "rmse"]

_SEASON_LENGTHS = {"h": 24, "D": 7, "B": 5, "W": 52, "MS": 12, "ME": 12, "M": 12, "QS": 4, "QE": 4, "YS": 1, "YE": 1}


AUTO_FOLDS = 4  # the most rolling-origin folds a series gets by default: 2 to tune on, 2 to choose on
# A study stops once this many trials in a row find nothing better than its best: long studies spend their later
# trials where they can matter; a study of at most one trial more runs whole (benchmarks/RESULTS.md measures it)
EARLY_STOPPING_ROUNDS = 20
DATABASES = ("postgresql", "mysql", "sqlite")  # what --optuna-storage may name (SQLAlchemy's schemes, any driver)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DataSpec(Frozen):
    """Where the input is and how its columns map onto the long contract (series_id, ds, y)."""

    url: str = Field(description="Input CSV (optionally compressed) or Parquet: a path, a glob or an s3:// URL.")
    id_cols: list[str] = Field(
        min_length=1, description="Columns that together identify a series; their values joined with - are its id."
    )
    time_col: str = Field(description="Timestamp column.")
    target_col: str = Field(description="Numeric column to forecast.")
    freq: str = Field(
        "D",
        description="Pandas frequency alias of the series (D, W, MS, h, ...); it sets the seasonal period "
        "(7, 52, 12, 24, ...) unless a season length is given.",
    )
    horizon: int = Field(
        28,
        ge=1,
        le=10_000,
        description="Points to forecast (1 to 10000); also the length of the test window and of each fold.",
    )
    folds: int | None = Field(
        None,
        ge=2,
        le=10,
        description="The most rolling-origin folds (2 to 10) of length horizon before the test window: Prophet is "
        "tuned on the earlier ones and the champion chosen on the later ones, which the tuning never saw. Each series "
        f"gets as many as its history allows (default: up to {AUTO_FOLDS}), and at least two; a series too short "
        "for two gets one, on which its untuned candidates compete and Prophet keeps its defaults, and one too short "
        "for any gets the median of seasonal naive, AutoETS and AutoTheta.",
    )
    levels: list[int] = Field(
        [80, 95],
        max_length=5,
        description="Prediction interval levels of the champion's forecast, in percent: at most five, each "
        "between 0 and 100.",
    )
    quantiles: list[float] = Field(
        [],
        max_length=9,
        description="Quantiles of the champion's forecast, as columns q_<quantile> beside the intervals (e.g. "
        "0.1,0.5,0.9,0.95): at most nine, each between 0 and 1, each calibrated on the folds on its own side.",
    )
    holidays: str | None = Field(
        None,
        description="Country code whose public holidays every Prophet fit models as effects, e.g. US, GB, DE "
        "(the holidays package's calendars; their prior scale is tuned); empty: none.",
    )
    season_length: int | None = Field(
        None,
        ge=1,
        description="Seasonal period, in points, of seasonal naive, AutoETS, AutoTheta, Naive2 and the MASE "
        "scale; empty: from freq.",
    )
    fill: Literal["interpolate", "zero"] = Field(
        "interpolate",
        description="How missing periods and missing targets are filled: interpolate (linearly between their "
        "neighbours) or zero; either way they are recorded as filled. Missing regressor values likewise.",
    )
    duplicates: Literal["fail", "sum", "last"] = Field(
        "fail",
        description="Rows repeating a series' timestamp: fail rejects the series if their values differ (identical "
        "copies are merged), sum adds them, last keeps the last row read. All are counted in the profiles.",
    )
    regressors: list[str] = Field(
        [],
        description="Numeric columns Prophet fits as extra regressors (price, promotion, ...). Each series needs "
        "their values for the horizon periods after its last target, as rows with an empty target (a series "
        "without them is rejected); the other models ignore them. Not the id, time or target columns.",
    )
    hierarchy: list[str] = Field(
        [],
        description="The id columns from the top level down (e.g. store,item): the champions' forecasts and "
        "AutoETS's of every sum of them are reconciled so that items add up to stores and stores to the total "
        "(bottom-up, and MinT with shrinkage from the fold residuals); empty: no reconciliation.",
    )
    non_negative: bool = Field(False, description="Reject series with a negative target (sales, counts).")
    encoding: str = Field("utf-8", description="Text encoding of CSV input, e.g. latin-1.")

    @field_validator("freq")
    @classmethod
    def _known_freq(cls, freq: str) -> str:
        try:
            pd.tseries.frequencies.to_offset(freq)
        except ValueError:
            raise ValueError(f"unknown frequency {freq!r} (use a pandas alias such as D, W, MS)") from None
        return freq

    @field_validator("holidays")
    @classmethod
    def _known_country(cls, country: str | None) -> str | None:
        if country:
            import holidays

            if country not in holidays.list_supported_countries():
                raise ValueError(f"no holiday calendar for {country!r} (use a country code such as US, GB, DE)")
        return country or None

    @model_validator(mode="after")
    def _regressors_are_other_columns(self) -> "DataSpec":
        roles = [*self.id_cols, self.time_col, self.target_col]
        if twice := sorted({col for col in roles if roles.count(col) > 1}):
            raise ValueError(f"a column cannot be an id, the time and the target at once: {twice}")
        if clash := [col for col in self.id_cols if col in (*SERIES_FILE, *PROFILE, *OUTPUTS)]:
            raise ValueError(f"id columns cannot be named {clash}: the series files and outputs use those names")
        taken = {*self.id_cols, self.time_col, self.target_col, *SERIES_FILE}
        if clash := [col for col in self.regressors if col in taken]:
            raise ValueError(f"regressor columns must be other columns than the ids, time and target: {clash}")
        if len(set(self.regressors)) < len(self.regressors):
            raise ValueError(f"regressor columns repeat: {self.regressors}")
        if self.hierarchy and sorted(self.hierarchy) != sorted(self.id_cols):
            raise ValueError(
                f"the hierarchy must list the id columns {self.id_cols} from the top level down, each once"
            )
        return self

    @field_validator("levels")
    @classmethod
    def _percent(cls, levels: list[int]) -> list[int]:
        if any(not 0 < level < 100 for level in levels):
            raise ValueError("interval levels are percentages between 0 and 100, e.g. [80, 95]")
        return sorted(set(levels))

    @field_validator("quantiles")
    @classmethod
    def _probability(cls, quantiles: list[float]) -> list[float]:
        if any(not 0 < q < 1 for q in quantiles):
            raise ValueError("quantiles are probabilities between 0 and 1, e.g. [0.1, 0.5, 0.9]")
        return sorted(set(quantiles))

    @property
    def bound_levels(self) -> list[int]:
        """The interval levels the models forecast: the output's, and those whose bounds the quantiles start from."""
        return sorted(set(self.levels) | {base_level(q) for q in self.quantiles if q != 0.5})

    @property
    def period(self) -> int:
        """Seasonal period used by seasonal naive and MASE."""
        if self.season_length:
            return self.season_length
        base = pd.tseries.frequencies.to_offset(self.freq).rule_code.split("-")[0]
        return _SEASON_LENGTHS.get(base, 1)

    @property
    def min_train(self) -> int:
        """Points before the first fold: two seasons, at least two horizons."""
        return max(2 * self.period, 2 * self.horizon)

    @property
    def min_length(self) -> int:
        """Shortest series forecast: a horizon of history and a point more (under two horizons, with no test window
        of its own: forecast, not scored)."""
        return self.horizon + 1

    @property
    def scored_length(self) -> int:
        """Shortest series with a test window of its own: the window and a horizon of history before it."""
        return 2 * self.horizon

    def test_length(self, length: int) -> int:
        """The points of a series' own test window: a horizon, where the series is at least scored_length; else
        none."""
        return self.horizon if length >= self.scored_length else 0

    def folds_for(self, n_known: int) -> int:
        """A series' folds given its points before the test window: as many as leave min_train points before
        them, up to the configured number or AUTO_FOLDS; at least as many as leave a horizon of history before
        them, up to two (on a short history, fewer points)."""
        fewest = int(np.clip(n_known // self.horizon - 1, 0, 2))
        return int(np.clip((n_known - self.min_train) // self.horizon, fewest, self.folds or AUTO_FOLDS))

    def is_short(self, n_known: int) -> bool:
        """Whether a series' history leaves fewer than min_train points before its folds."""
        return n_known - self.folds_for(n_known) * self.horizon < self.min_train


def base_level(quantile: float) -> int:
    """The central interval whose bound a quantile starts from: 0.9 and 0.1 from the 80% interval's."""
    return int(np.clip(round(abs(2 * quantile - 1) * 100), 1, 99))


Solver = Literal["exact", "stan"]


class TuningSpec(Frozen):
    """The per-series Optuna study."""

    trials: int = Field(10, ge=1, le=10_000, description="Optuna trials per series (1 to 10000).")
    metric: Metric = Field("smape", description=f"Validation error the study minimises: {', '.join(get_args(Metric))}.")
    seed: int = Field(0, description="Seed of every series' TPE sampler (combined with the series id).")
    early_stopping_rounds: int | None = Field(
        EARLY_STOPPING_ROUNDS,
        ge=1,
        le=10_000,
        description="Stop a series' study once its best value has not improved for this many trials (1 to 10000): "
        f"a study of up to {EARLY_STOPPING_ROUNDS + 1} trials runs whole by default; at least --trials: every trial.",
    )
    solver: Solver = Field(
        "exact",
        description="How Prophet's MAP fits are solved: exact (block minimisation of its log posterior, with Stan "
        "for logistic growth and any fit that fails the exact solver's check) or stan (Prophet's own).",
    )
    global_model: bool = Field(
        True,
        description="Train one LightGBM across all series (mlforecast) on every window, to compete for champion "
        "per series beside the per-series models.",
    )
    solver_check: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Share of the series (0 to 1) whose tuned parameters are also fitted by Stan, the gaps in the "
        "summary: the exact fit's log posterior over Stan's, and the largest forecast difference.",
    )


class ComputeSpec(Frozen):
    """Where the work runs."""

    ray_address: str | None = Field(
        None,
        description="Ray cluster address; empty: the run starts its own local Ray. A cluster started by "
        "infra/ray-cluster-aws.yaml takes token authentication and mutual TLS: set RAY_AUTH_MODE=token, "
        "RAY_AUTH_TOKEN, RAY_USE_TLS=1 and RAY_TLS_CA_CERT, RAY_TLS_SERVER_CERT, RAY_TLS_SERVER_KEY.",
    )
    dask_address: str | None = Field(
        None,
        description="Dask scheduler address; empty: a local Dask cluster. The cluster's tls:// scheduler takes its "
        "certificate only: set DASK_DISTRIBUTED__COMM__TLS__CA_FILE, ..._CLIENT__CERT and ..._CLIENT__KEY.",
    )
    workers: int | None = Field(
        None, ge=1, description="Workers of the local Dask cluster and CPUs of the local Ray; empty: all cores."
    )
    series_per_task: int | None = Field(
        None,
        ge=1,
        le=10_000,
        description=f"Series tuned by each Ray task (1 to 10000); empty: a share of the series left, "
        f"1/({TASKS_PER_CPU} x the Ray CPUs) of them, at most {MAX_SERIES_PER_TASK}, so batches shrink towards "
        "the end of the run.",
    )
    optuna_storage: str | None = Field(
        None,
        description="RDB URL for the Optuna studies, e.g. postgresql://user@host/db (the password goes in "
        "PGPASSWORD or ~/.pgpass); empty: a journal file per series in the run location (on S3 for an s3:// one).",
    )
    forward_credentials: bool = Field(
        False,
        description="Hand the driver's credentials (AWS keys, PREFECT_API_KEY, PGPASSWORD) to the workers of the "
        "Ray cluster at ray_address (through Ray's internal store) and its AWS keys to the Dask cluster at "
        "dask_address (in a worker plugin of the run's own, never in the workers' environment), for the length of "
        "the run; prefer short-lived session credentials. Off: the nodes use "
        "their own credentials, e.g. an EC2 instance profile (a local Ray's workers have the run's environment "
        "either way).",
    )

    @field_validator("optuna_storage")
    @classmethod
    def _a_database_without_password(cls, url: str | None) -> str | None:
        from urllib.parse import parse_qsl

        if not url:
            return url
        parts = urlsplit(url)
        if parts.scheme.split("+")[0] not in DATABASES:
            raise ValueError(
                f"unknown scheme {parts.scheme or url!r}: give a database URL (postgresql://, mysql:// or sqlite:///)"
            )
        # the drivers also take one in the query (?password=, any case; MySQL's passwd=)
        query = {key.strip().lower() for key, _ in parse_qsl(parts.query, keep_blank_values=True)}
        if parts.password or query & {"password", "passwd"}:
            raise ValueError("put the database password in PGPASSWORD or ~/.pgpass, not in the URL (runs show it)")
        return url


MinForecastShare = Annotated[
    float,
    Field(
        ge=0,
        le=1,
        description="The run ends Failed (and the command exits 1) when it forecasts a smaller share of its series "
        "than this; whatever the share, a run that forecasts no series fails.",
    ),
]


KeepVersions = Annotated[
    int,
    Field(
        ge=1,
        le=1000,
        description="Published sets of outputs kept at the run location as versions, this run's included, to list "
        "(manymodels versions) and restore (manymodels restore).",
    ),
]


class RunSpec(Frozen):
    """Everything one forecast run needs."""

    data: DataSpec
    tuning: TuningSpec = TuningSpec()
    compute: ComputeSpec = ComputeSpec()
    output: str = Field(description="Run location (local path or s3:// URL) that receives the outputs.")
    min_forecast_share: MinForecastShare = 0.0
    keep_versions: KeepVersions = KEEP_VERSIONS

    @field_validator("output")
    @classmethod
    def _literal(cls, output: str) -> str:
        if problem := pattern_in(output):
            raise ValueError(problem)
        return output

    @model_validator(mode="after")
    def _reachable(self) -> "RunSpec":
        if problem := unreachable(self.output, self.compute):
            raise ValueError(problem)
        return self


def unreachable(output: str, compute: ComputeSpec) -> str | None:
    """Why the workers of an existing cluster could not reach the run location or the studies, if they could not:
    they run on other machines, which do not see this one's disk."""
    remote = [name for name in ("ray_address", "dask_address") if getattr(compute, name)]
    if not remote:
        return None
    flags = " and ".join(f"--{name.replace('_', '-')}" for name in remote)
    if urlsplit(output).scheme in ("", "file"):
        return f"a local --output cannot be used with {flags}: the cluster's workers cannot reach this disk; use s3://"
    if compute.optuna_storage and urlsplit(compute.optuna_storage).scheme.startswith("sqlite"):
        return f"a sqlite --optuna-storage cannot be used with {flags}: give a database every node reaches, or none"
    return None
