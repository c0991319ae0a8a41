"""What the whole machine did while a benchmark ran: CPU busy share and memory in use, sampled from /proc."""

import bisect
import os
import threading
import time
from dataclasses import dataclass, field


def _cpu_jiffies() -> tuple[int, int, int]:
    """Busy, total and stolen (by the hypervisor, counted in busy) jiffies of all cores."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values), values[7]


def _memory_used() -> int:
    info = {}
    with open("/proc/meminfo") as f:
        for line in f:
            name, value = line.split(":")
            info[name] = int(value.split()[0]) * 1024
    return info["MemTotal"] - info["MemAvailable"]


@dataclass
class Machine:
    """Samples /proc every `every` seconds in a thread; ask it about any window of Unix times inside its life."""

    every: float = 0.25
    samples: list[tuple[float, int, int, int, int]] = field(default_factory=list)  # time, busy, total, memory, steal
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> "Machine":
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _sample(self) -> None:
        busy, total, steal = _cpu_jiffies()
        self.samples.append((time.time(), busy, total, _memory_used(), steal))

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def _window(self, start: float, end: float) -> list[tuple[float, int, int, int, int]]:
        times = [s[0] for s in self.samples]
        first = max(0, bisect.bisect_right(times, start) - 1)
        last = min(len(times) - 1, bisect.bisect_left(times, end))
        return self.samples[first : last + 1]

    def _share_of_cores(self, start: float, end: float, column: int) -> float:
        window = self._window(start, end)
        part, total = window[-1][column] - window[0][column], window[-1][2] - window[0][2]
        return part / total if total else 0.0

    def cpu_share(self, start: float, end: float) -> float:
        """Share of all cores busy (0 to 1) between two Unix times."""
        return self._share_of_cores(start, end, 1)

    def steal_share(self, start: float, end: float) -> float:
        """Share of all cores' time the hypervisor gave to other machines between two Unix times."""
        return self._share_of_cores(start, end, 4)

    def peak_memory_above(self, start: float, end: float) -> int:
        """Most memory in use during the window, above what was in use when it began (bytes)."""
        window = self._window(start, end)
        return max(s[3] for s in window) - window[0][3]


def cores() -> int:
    return len(os.sched_getaffinity(0))
