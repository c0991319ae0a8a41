"""The tuning's progress counts stored results on S3 (moto's server) without hiding from the driver the ones its
workers write after."""

import uuid
from pathlib import Path

import fsspec

from manymodels import storage
from manymodels.results import ResultFiles
from tests.unit.test_results import result


def test_counting_the_stored_results_leaves_no_listing_that_hides_a_later_one(s3_env, tmp_path):
    folder = f"s3://{s3_env.bucket}/progress/{uuid.uuid4().hex}"
    files = ResultFiles(f"{folder}/results", f"{folder}/aside")
    files.save("k1", result())
    assert files.saved(["k1", "k2"]) == {"k1"}
    worker = fsspec.filesystem("s3", skip_instance_cache=True, **storage.options(folder))  # another process's
    written = ResultFiles(str(tmp_path), str(tmp_path / "aside"))
    written.save("k2", result())
    worker.pipe(files.path("k2").removeprefix("s3://"), Path(written.path("k2")).read_bytes())
    path = files.path("k2")
    assert storage.filesystem(folder).cat([path])[path.removeprefix("s3://")]  # as the driver reads the results
    assert files.saved(["k1", "k2"]) == {"k1", "k2"} and files.load("k2") is not None
