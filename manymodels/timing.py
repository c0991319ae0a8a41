"""Wall time of named steps."""

import contextlib
import time
from collections.abc import Iterator


@contextlib.contextmanager
def timed(seconds: dict[str, float], step: str, started_at: dict[str, float] | None = None) -> Iterator[None]:
    """Record the wall time of the block under seconds[step], and its start (Unix time) under started_at[step]."""
    if started_at is not None:
        started_at[step] = time.time()
    started = time.perf_counter()
    try:
        yield
    finally:
        seconds[step] = time.perf_counter() - started
