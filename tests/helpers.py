"""Tiny generated inputs shared by the tests, and `make` as a user runs it."""

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

from manymodels.synthetic import make_retail_sales

GOOD_SERIES = 4
DAYS = 120
HORIZON = 7


def messy_sales() -> pd.DataFrame:
    """Four good store x item series (one with gaps), and four each broken in one way."""
    good = make_retail_sales(GOOD_SERIES, days=DAYS, seed=1)
    good = good.drop(index=good.index[(good["item"] == 1) & good["date"].dt.day.isin([3, 4])])  # gaps: filled
    dates = pd.date_range("2022-01-01", periods=DAYS, freq="D")
    short = pd.DataFrame({"store": 9, "item": 1, "date": dates[:20], "sales": np.arange(20)})
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


REPO = Path(__file__).resolve().parents[1]


def make(target: str, settings: dict[str, object], env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run a make target of the repository with variables set on the command line."""
    command = ["make", "--no-print-directory", target, *(f"{k}={v}" for k, v in settings.items())]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
