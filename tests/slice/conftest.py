"""A real Dask cluster for the ingest tests; one prepared daily series (400 days, horizon 14) for the tuning tests."""

import pandas as pd
import pytest

from engines.dask_engine import dask_client
from manymodels.prepare import prepare_series
from manymodels.settings import ComputeSpec
from manymodels.synthetic import make_retail_sales
from tests.helpers import SPEC


@pytest.fixture(scope="module")
def series() -> pd.DataFrame:
    raw = make_retail_sales(1, days=400, seed=3).rename(columns={"date": "ds", "sales": "y"})
    raw["series_id"], raw["row"] = "1-1", range(len(raw))
    frame, profile = prepare_series(raw, SPEC)
    assert profile["status"] == "ok"
    return frame


@pytest.fixture(scope="session")
def dask():
    with dask_client(ComputeSpec(workers=2)) as client:
        yield client
