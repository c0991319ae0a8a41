"""Prefect task in which a model that learns across series learns, once per run, on Ray."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from engines.ray_engine import on_largest_node
from manymodels.cpu import learned_with_cpu
from manymodels.forecasters import registry
from manymodels.layout import RunLayout
from manymodels.settings import DataSpec, TuningSpec

if TYPE_CHECKING:  # the ingest module imports Dask
    from manymodels.ingest import Ingested


@task(name="learn-across-series", task_run_name="learn-{name}", retries=1, cache_policy=NO_CACHE)
def learn_across_series(
    name: str, ingested: Ingested, data: DataSpec, tuning: TuningSpec, layout: RunLayout
) -> tuple[Any, float]:
    """Have one model learn across every series, on the cluster's largest node if it is heavy; what it learned, and
    the CPU seconds that took."""
    model, inputs = registry.named(name), ingested.run_inputs(data, tuning, layout.learned(name))
    get_run_logger().info("%s learning across %d series", name, len(inputs.series_urls))
    if model.heavy:
        return on_largest_node(learned_with_cpu, model.learn, inputs)
    return learned_with_cpu(model.learn, inputs)
