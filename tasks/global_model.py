"""Prefect task that trains the global model across all series on Ray."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from engines.ray_engine import on_largest_node
from manymodels.global_model import train_and_write, windows_needed
from manymodels.layout import RunLayout
from manymodels.settings import DataSpec, TuningSpec

if TYPE_CHECKING:  # the ingest module imports Dask
    from manymodels.ingest import Ingested


@task(name="global-model", retries=1, cache_policy=NO_CACHE)
def train_global_model(ingested: Ingested, data: DataSpec, tuning: TuningSpec, layout: RunLayout) -> str:
    """Train one LightGBM across every series on Ray, once per window and once for the future; write its forecasts."""
    urls = list(ingested.series_urls().values())
    windows = windows_needed(ingested.accepted)
    logger = get_run_logger()
    logger.info("training the global model on %d series, %d windows and the future", len(urls), windows)
    rows = on_largest_node(train_and_write, urls, data, windows, tuning.seed, layout.global_forecasts)
    logger.info("the global model forecast %d points", rows)
    return layout.global_forecasts
