"""The benchmark inputs: the built-in synthetic set or the real store-item data, as one Parquet file."""

import os
from pathlib import Path

import numpy as np
import pandas as pd

from manymodels.columns import SERIES_ID
from manymodels.contract import to_contract
from manymodels.prepare import prepare_series
from manymodels.settings import DataSpec
from manymodels.synthetic import make_hourly_sales, make_retail_sales

REPO = Path(__file__).resolve().parents[1]
STORE_ITEM = Path(
    os.environ.get("MANYMODELS_STORE_ITEM", REPO.parent / "shared" / "data" / "store-item-demand" / "train.csv.gz")
)
WORKLOADS = ("synthetic", "store-item", "hourly")
DATA_SPEC = {"id_cols": ["store", "item"], "time_col": "date", "target_col": "sales", "freq": "D", "horizon": 28}
SPECS = {"hourly": DATA_SPEC | {"freq": "h", "horizon": 48}}  # two days ahead


def spec_of(kind: str) -> dict:
    """The data settings a workload is run with (the daily workloads': DATA_SPEC)."""
    return SPECS.get(kind, DATA_SPEC)


def available(kind: str) -> bool:
    return kind != "store-item" or STORE_ITEM.exists()


def store_item(n_series: int) -> pd.DataFrame:
    """The first n store x item series, taken item by item so that every store is in."""
    sales = pd.read_csv(STORE_ITEM, parse_dates=["date"])
    pairs = sales[["item", "store"]].drop_duplicates().sort_values(["item", "store"]).head(n_series)
    return sales.merge(pairs, on=["store", "item"])[["store", "item", "date", "sales"]]


def write_workload(kind: str, n_series: int, folder: Path, days: int = 3 * 365) -> Path:
    """Write the workload's input and return its path (an hourly workload's series are 1,000 hours long)."""
    path = folder / f"{kind}-{n_series}.parquet"
    makers = {
        "synthetic": lambda: make_retail_sales(n_series, days=days, seed=0),
        "hourly": lambda: make_hourly_sales(n_series),
    }
    frame = makers.get(kind, lambda: store_item(n_series))()
    if frame[["store", "item"]].drop_duplicates().shape[0] != n_series:
        raise ValueError(f"{kind} has fewer than {n_series} series")
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path


def train_and_valid(frame: pd.DataFrame, horizon: int = DATA_SPEC["horizon"]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A prepared series' rows before its test window, as training rows and the horizon before the test: the one
    validation window the bare-loop comparisons tune on."""
    known = frame[frame["split"] == "train"]
    return known.iloc[:-horizon], known.iloc[-horizon:]


def seasonal_naive(history: np.ndarray, horizon: int, period: int) -> np.ndarray:
    """Repeat the last full season of history over the horizon."""
    season = history[-period:] if len(history) >= period else history[-1:]
    return np.resize(season, horizon).astype(float)


def prepared_in_process(data: Path) -> list[pd.DataFrame]:
    """The workload's series as the ingest step prepares them (contract, regular grid, split), without Dask."""
    spec = DataSpec(url=str(data), **DATA_SPEC)
    contract = to_contract(pd.read_parquet(data).astype(str), spec, {"number": 0})
    frames = [prepare_series(rows, spec)[0] for _, rows in contract.groupby(SERIES_ID, sort=True)]
    return [frame for frame in frames if frame is not None]
