"""RayResource, the one place a run starts, reuses and leaves Ray: Ray starts early beside the driver's imports only
for a local Ray and an input with bytes to read, and during ingest only once the input is valid (no Ray is started
here: what would start it is replaced by a record)."""

import contextlib
import threading
from concurrent.futures import Future

import pytest

from engines import ray_engine
from engines.ray_engine import NodeClock, RayResource
from manymodels.settings import ComputeSpec

WARM = ("json", "tasks.tune")


@pytest.fixture
def started(monkeypatch) -> list:
    """The local Rays start_early would have started, as (workers, warm modules)."""
    calls = []
    monkeypatch.setattr(ray_engine.LocalRay, "start_early", lambda self, warm=(): calls.append((self.cpus, warm)))
    return calls


@pytest.fixture
def sessions(monkeypatch) -> list:
    """The sessions RayResource.session would have entered; each yields a clock of its own."""
    entered = []

    @contextlib.contextmanager
    def session(self, sample_seconds=10):
        entered.append(self.compute)
        yield NodeClock(first_seen={"node": 0.0})

    monkeypatch.setattr(RayResource, "session", session)
    return entered


def test_start_early_starts_a_local_ray_with_its_warm_up_beside_the_other_work(tmp_path, started):
    (tmp_path / "in.csv").write_text("a,b\n1,2\n")
    beside = []
    RayResource(ComputeSpec(workers=2), warm=WARM).start_early(
        str(tmp_path / "in.csv"), beside=lambda: beside.append(threading.current_thread().name)
    )
    assert started == [(2, WARM)]
    assert beside and beside != [threading.main_thread().name]  # on a thread of its own, done on return


@pytest.mark.parametrize(
    ("compute", "has_input"),
    [(ComputeSpec(), False), (ComputeSpec(ray_address="10.0.0.1:6379"), True)],
    ids=["no-input", "cluster"],
)
def test_start_early_starts_no_ray_for_missing_input_or_a_cluster(tmp_path, started, compute, has_input):
    if has_input:
        (tmp_path / "in.csv").write_text("a,b\n1,2\n")
    beside = []
    RayResource(compute, warm=WARM).start_early(str(tmp_path / "in.csv"), beside=lambda: beside.append(True))
    assert started == [] and beside == [True]


def test_a_session_starts_once_the_input_is_valid_while_the_reading_goes_on(sessions):
    ray, reading = RayResource(ComputeSpec(workers=1)), Future()
    ray.input_valid()
    ray.input_valid()  # said twice: no error
    with ray.session_once_valid(reading) as clock:
        assert sessions == [ComputeSpec(workers=1)] and clock.first_seen == {"node": 0.0}
    assert not reading.done()


def test_input_refused_before_it_was_valid_starts_no_ray(sessions):
    ray, reading = RayResource(ComputeSpec()), Future()
    threading.Timer(0.05, reading.set_exception, [ValueError("target column is not numeric")]).start()
    with ray.session_once_valid(reading) as clock:
        assert sessions == [] and clock.node_seconds(prices=None) == {}


def test_workers_warm_up_with_the_modules_named_by_the_caller(monkeypatch):
    sent = []
    monkeypatch.setattr(ray_engine, "_import_modules", type("Remote", (), {"remote": staticmethod(sent.append)}))
    ray_engine.warm_up_workers(3, WARM)
    ray_engine.warm_up_workers(3, ())  # nothing to import: no task
    assert sent == [WARM] * 3
