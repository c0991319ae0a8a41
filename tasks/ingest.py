"""Prefect task around the Dask ingest step."""

from collections.abc import Callable

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed

from engines.dask_engine import dask_client
from manymodels.errors import InputError
from manymodels.ingest import Ingested, ingest
from manymodels.layout import RunLayout
from manymodels.settings import ComputeSpec, DataSpec


@task(name="ingest", cache_policy=NO_CACHE)
def ingest_data(
    data: DataSpec, compute: ComputeSpec, layout: RunLayout, on_valid: Callable[[], None] = lambda: None
) -> Ingested:
    """Read, validate, regularise and split the input on Dask; write one file per series. on_valid is called as
    soon as the input passes validation (the flow starts Ray then)."""
    try:
        with dask_client(compute, data.url):
            return ingest(data, layout, on_valid=on_valid)
    except InputError as e:  # bad input: one clear line, no traceback
        return Failed(message=str(e))
