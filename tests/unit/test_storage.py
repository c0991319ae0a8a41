from manymodels import storage


def test_s3_filesystems_retry_with_backoff_and_local_ones_need_no_options():
    retries = {"mode": "standard", "total_max_attempts": 10}
    assert storage.options("s3://bucket/run") == {"config_kwargs": {"retries": retries}}
    assert storage.filesystem("s3://bucket/run/summary.json").config_kwargs["retries"] == retries
    assert storage.options("/tmp/run") == storage.options("file:///tmp/run") == {}


def test_local_writes_are_atomic_and_leave_no_temporary_files(tmp_path):
    url = str(tmp_path / "a" / "summary.json")
    storage.write_json(url, {"n": 1})
    storage.write_json(url, {"n": 2})
    assert storage.read_json(url) == {"n": 2}
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["summary.json"]
