"""Wall time of named steps."""

import contextlib
import time
from collections.abc import Iterator


@contextlib.contextmanager
def timed(seconds: dict[str, float], step: str) -> Iterator[None]:
    """Record the wall time of the block under seconds[step]."""
    started = time.perf_counter()
    try:
        yield
    finally:
        seconds[step] = time.perf_counter() - started
