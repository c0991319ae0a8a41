"""Wall time of a run's named steps."""

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class StepTimes:
    """Each step's wall time in seconds, and when it started (Unix time, to line up with machine metrics)."""

    seconds: dict[str, float] = field(default_factory=dict)
    started_at: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        self.started_at[name] = time.time()
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = time.perf_counter() - started
