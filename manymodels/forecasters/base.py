"""What a forecasting model is to the rest of the system: the protocols a challenger of Prophet follows, and what
it is given. A model forecasts one series' window with intervals; one that learns across series also learns once
per run, on every series, before any series is tuned."""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import pandas as pd

from manymodels.bounds import Forecast
from manymodels.settings import DataSpec, TuningSpec

if TYPE_CHECKING:
    from manymodels.splits import SeriesSplits


@dataclass(frozen=True)
class Series:
    """One series as a model sees it: its splits, the run's data settings, and its share of what the model learned
    across the run's series (None for a model that learns nothing across series, or learned nothing for it)."""

    splits: "SeriesSplits"
    data: DataSpec
    learned: Any = None


@runtime_checkable
class Forecaster(Protocol):
    """A challenger of Prophet: its name (a column of the outputs), which series it competes for, and its forecast
    of the rows `at` from the rows of `history`, with intervals at the levels (none: its point alone). Forecasts
    are clipped at the series' floor by the caller."""

    name: str

    def applies(self, series: Series) -> bool: ...

    def forecast(self, series: Series, history: pd.DataFrame, at: pd.DataFrame, levels: Sequence[int]) -> Forecast: ...


@dataclass(frozen=True)
class RunInputs:
    """What a model that learns across series learns from: the accepted series' profiles (with what it summarised
    of each at ingest), their files, the run's settings, and a folder of the run's own work area to write to."""

    profiles: pd.DataFrame
    series_urls: dict[str, str]
    data: DataSpec
    tuning: TuningSpec
    work: str

    def summaries(self, name: str) -> list:
        """What `name` summarised of each accepted series at ingest (AcrossSeries.summarise), where it did."""
        found = (json.loads(s).get(name) for s in self.profiles.get("summaries", []) if isinstance(s, str) and s)
        return [s for s in found if s is not None]


@runtime_checkable
class AcrossSeries(Forecaster, Protocol):
    """A model that learns across a run's series. wanted: whether the settings ask for it. summarise: what it takes
    of one series at ingest, where every series passes anyway (JSON; None: nothing); learn: once per run, a small
    JSON-able result (the place of a file it wrote, say), on the cluster's largest node with `threads` CPUs where
    `heavy`, else in the flow's own process; for_series: each series' share of it, which Series.learned carries. A
    learn that fails leaves the run without the model."""

    heavy: bool

    def wanted(self, tuning: TuningSpec) -> bool: ...

    def summarise(self, y, dates, data: DataSpec) -> Any: ...

    def learn(self, run: RunInputs, threads: int = 1) -> Any: ...

    def for_series(self, learned: Any, series_ids: list[str]) -> dict[str, Any]: ...
